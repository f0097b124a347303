#!/usr/bin/env python3
"""make_translate_data.py - generate llmwb's English-to-French translation task (corpora/translate/).

A small grammar over a hand-written bilingual word list (WORDS below, written for this project) makes sentence
pairs whose alignment is visible and not a diagonal:
  - most adjectives follow the noun in French ("the black cat" -> "le chat noir"), a few precede it as in English
    ("the small dog" -> "le petit chien");
  - articles, possessives, demonstratives and adjectives agree with the noun's gender and number, so "the" and
    "black" must look at the noun to be translated ("the black cat" -> "le chat noir", "the black cars" ->
    "les voitures noires");
  - negation wraps the verb ("does not see" -> "ne voit pas"): two English words map to two French words on
    either side of the verb;
  - verbs agree with the subject ("sees"/"see" -> "voit"/"voient"), prepositional phrases end some sentences.
French nouns and verbs were chosen to start with a consonant, so no elision ("l'", "n'") is needed.

The test rows hold out whole words and word pairs, so exact match on them measures generalisation, not memory:
  - held-out names appear only in test rows; names are copied unchanged into French, so a model with a subword or
    byte tokenizer can translate a name it never saw by attending to it and copying it. To learn copying rather
    than a list of names, training sees many: 24 real names plus N_MADE_NAMES made of random syllables ("Kelori");
    the test rows use 8 other real names (HELD_OUT_NAMES) and N_MADE_HELD_OUT other made-up ones;
  - held-out adjective-noun pairs (every adjective and noun is seen in training, but never this pair together):
    the model must apply the reordering and the agreement to a combination it never saw.
Every test row contains at least one held-out name or held-out pair; no train row contains either; no source
sentence occurs twice in the file.

Output: corpora/translate/en_fr.tsv, a TSV with the header "source<TAB>target<TAB>split" where split is "train"
or "test" (llmwb cuts its validation rows from the "train" rows).
Stdlib only; the output depends only on this file and the seed (rerunning it gives the same bytes).

Usage:
  python3 scripts/make_translate_data.py            # writes corpora/translate/en_fr.tsv
  python3 scripts/make_translate_data.py --check    # regenerates in memory and fails if the file differs
"""
import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "corpora", "translate", "en_fr.tsv")
SEED = 20261202
N_TRAIN = 4000
N_TEST = 400

# ---- the word list (hand-written for this project; MIT like the rest of llmwb) ----
# nouns: english singular, english plural, french singular, french plural, gender, animate (can be a subject)
NOUNS = [
    ("cat", "cats", "chat", "chats", "m", 1),
    ("dog", "dogs", "chien", "chiens", "m", 1),
    ("horse", "horses", "cheval", "chevaux", "m", 1),
    ("mouse", "mice", "souris", "souris", "f", 1),
    ("cow", "cows", "vache", "vaches", "f", 1),
    ("sheep", "sheep", "mouton", "moutons", "m", 1),
    ("rabbit", "rabbits", "lapin", "lapins", "m", 1),
    ("fox", "foxes", "renard", "renards", "m", 1),
    ("wolf", "wolves", "loup", "loups", "m", 1),
    ("frog", "frogs", "grenouille", "grenouilles", "f", 1),
    ("duck", "ducks", "canard", "canards", "m", 1),
    ("goat", "goats", "chèvre", "chèvres", "f", 1),
    ("pig", "pigs", "cochon", "cochons", "m", 1),
    ("hen", "hens", "poule", "poules", "f", 1),
    ("boy", "boys", "garçon", "garçons", "m", 1),
    ("girl", "girls", "fille", "filles", "f", 1),
    ("woman", "women", "femme", "femmes", "f", 1),
    ("king", "kings", "roi", "rois", "m", 1),
    ("queen", "queens", "reine", "reines", "f", 1),
    ("doctor", "doctors", "médecin", "médecins", "m", 1),
    ("farmer", "farmers", "fermier", "fermiers", "m", 1),
    ("baker", "bakers", "boulanger", "boulangers", "m", 1),
    ("house", "houses", "maison", "maisons", "f", 0),
    ("car", "cars", "voiture", "voitures", "f", 0),
    ("book", "books", "livre", "livres", "m", 0),
    ("table", "tables", "table", "tables", "f", 0),
    ("chair", "chairs", "chaise", "chaises", "f", 0),
    ("door", "doors", "porte", "portes", "f", 0),
    ("window", "windows", "fenêtre", "fenêtres", "f", 0),
    ("flower", "flowers", "fleur", "fleurs", "f", 0),
    ("cake", "cakes", "gâteau", "gâteaux", "m", 0),
    ("apple", "apples", "pomme", "pommes", "f", 0),
    ("ball", "balls", "balle", "balles", "f", 0),
    ("boat", "boats", "bateau", "bateaux", "m", 0),
    ("hat", "hats", "chapeau", "chapeaux", "m", 0),
    ("letter", "letters", "lettre", "lettres", "f", 0),
    ("key", "keys", "clé", "clés", "f", 0),
    ("box", "boxes", "boîte", "boîtes", "f", 0),
    ("glass", "glasses", "verre", "verres", "m", 0),
    ("cup", "cups", "tasse", "tasses", "f", 0),
    ("bed", "beds", "lit", "lits", "m", 0),
    ("coat", "coats", "manteau", "manteaux", "m", 0),
]

# adjectives: english, french m.sg, f.sg, m.pl, f.pl, position ("post" after the noun, "pre" before it)
ADJS = [
    ("black", "noir", "noire", "noirs", "noires", "post"),
    ("white", "blanc", "blanche", "blancs", "blanches", "post"),
    ("red", "rouge", "rouge", "rouges", "rouges", "post"),
    ("green", "vert", "verte", "verts", "vertes", "post"),
    ("blue", "bleu", "bleue", "bleus", "bleues", "post"),
    ("grey", "gris", "grise", "gris", "grises", "post"),
    ("tired", "fatigué", "fatiguée", "fatigués", "fatiguées", "post"),
    ("heavy", "lourd", "lourde", "lourds", "lourdes", "post"),
    ("round", "rond", "ronde", "ronds", "rondes", "post"),
    ("sad", "triste", "triste", "tristes", "tristes", "post"),
    ("big", "grand", "grande", "grands", "grandes", "pre"),
    ("small", "petit", "petite", "petits", "petites", "pre"),
    ("young", "jeune", "jeune", "jeunes", "jeunes", "pre"),
    ("pretty", "joli", "jolie", "jolis", "jolies", "pre"),
    ("good", "bon", "bonne", "bons", "bonnes", "pre"),
    ("bad", "mauvais", "mauvaise", "mauvais", "mauvaises", "pre"),
]

# transitive verbs: english 3sg, english base (plural and after "not"), french 3sg, french 3pl
VERBS = [
    ("sees", "see", "voit", "voient"),
    ("eats", "eat", "mange", "mangent"),
    ("watches", "watch", "regarde", "regardent"),
    ("follows", "follow", "suit", "suivent"),
    ("finds", "find", "trouve", "trouvent"),
    ("takes", "take", "prend", "prennent"),
    ("wants", "want", "veut", "veulent"),
    ("carries", "carry", "porte", "portent"),
    ("pushes", "push", "pousse", "poussent"),
    ("draws", "draw", "dessine", "dessinent"),
    ("washes", "wash", "lave", "lavent"),
    ("hides", "hide", "cache", "cachent"),
    ("knows", "know", "connaît", "connaissent"),
    ("chooses", "choose", "choisit", "choisissent"),
    ("sells", "sell", "vend", "vendent"),
    ("touches", "touch", "touche", "touchent"),
]

# determiners: english singular, english plural (None: singular only), french m.sg, f.sg, pl
DETS = [
    ("the", "the", "le", "la", "les"),
    ("a", None, "un", "une", None),
    ("this", "these", "ce", "cette", "ces"),
    ("my", "my", "mon", "ma", "mes"),
    ("his", "his", "son", "sa", "ses"),
]
# counted plurals: english, french (no article: "two cats" -> "deux chats")
NUMBERS = [("two", "deux"), ("three", "trois"), ("four", "quatre"), ("five", "cinq"), ("six", "six")]

PREPS = [("in", "dans"), ("with", "avec"), ("under", "sous"), ("on", "sur"), ("behind", "derrière")]
# places for the prepositional phrase (english nouns of NOUNS)
PLACES = ["house", "car", "box", "bed", "table", "boat", "chair"]

# names are copied unchanged; the held-out ones occur only in test rows
NAMES = ["Anna", "Paul", "Hugo", "Emma", "Léa", "Victor", "Chloé", "Louis", "Marc", "Julie", "Sophie", "Lucas",
         "Nina", "Oscar", "Clara", "Jules", "Alice", "Thomas", "Zoé", "Martin", "Inès", "Adam", "Camille", "Simon"]
HELD_OUT_NAMES = ["Hélène", "Bruno", "Margot", "Félix", "Yasmine", "Gaspard", "Rosa", "Timothée"]
HELD_OUT_PAIR_SHARE = 0.08  # of all adjective-noun combinations
N_MADE_NAMES = 400          # made-up names in training
N_MADE_HELD_OUT = 40        # made-up names only in test rows
ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "br", "tr"]
VOWELS = ["a", "e", "i", "o", "u", "é", "ou"]


def made_names(rng, n, taken):
    """n distinct names of 2 or 3 consonant-vowel syllables, none in taken (which grows)."""
    out = []
    while len(out) < n:
        name = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.choice((2, 2, 3))))
        name = name[0].upper() + name[1:]
        if name.lower() in taken:
            continue
        taken.add(name.lower())
        out.append(name)
    return out


def noun_phrase(rng, nouns, held_pairs, want_held_pair, animate_only):
    """Returns (english words, french words, plural, used a held-out pair, adjective-noun pair or None)."""
    pool = [n for n in nouns if n[5] or not animate_only]
    noun = rng.choice(pool)
    en_sg, en_pl, fr_sg, fr_pl, gender, _ = noun
    use_adj = want_held_pair or rng.random() < 0.55
    adj = None
    if use_adj:
        cands = [a for a in ADJS if ((a[0], en_sg) in held_pairs) == want_held_pair]
        if not cands:
            return None
        adj = rng.choice(cands)
    kind = rng.random()
    if kind < 0.18:
        num_en, num_fr = rng.choice(NUMBERS)
        plural, en, fr = True, [num_en], [num_fr]
    else:
        det = rng.choice(DETS)
        plural = det[1] is not None and rng.random() < 0.4
        en = [det[1] if plural else det[0]]
        fr = [det[4] if plural else (det[2] if gender == "m" else det[3])]
    en_noun, fr_noun = (en_pl, fr_pl) if plural else (en_sg, fr_sg)
    if adj is None:
        en += [en_noun]
        fr += [fr_noun]
    else:
        form = adj[1 + (2 if plural else 0) + (1 if gender == "f" else 0)]
        en += [adj[0], en_noun]
        fr += [form, fr_noun] if adj[5] == "pre" else [fr_noun, form]
    pair = (adj[0], en_sg) if adj else None
    return en, fr, plural, pair is not None and pair in held_pairs, pair


def sentence(rng, names, held_pairs, held_names, test):
    """One (english, french, held-out words it uses) triple; a test sentence uses at least one held-out item."""
    need_name = test and rng.random() < 0.5
    need_pair = test and not need_name
    # subject
    held = set()
    if need_name or rng.random() < 0.2:
        name = rng.choice(held_names if need_name else names)
        subj_en, subj_fr, subj_pl = [name], [name], False
        if need_name:
            held.add(name)
        name_used = True
    else:
        name_used = False
        subj = noun_phrase(rng, NOUNS, held_pairs, need_pair and rng.random() < 0.5, True)
        if subj is None:
            return None
        subj_en, subj_fr, subj_pl, hp, pair = subj
        if hp:
            held.add(pair)
    # object: a name only when the subject is not one
    if not name_used and rng.random() < 0.15:
        name = rng.choice(names)  # a held-out name is always the subject (need_name above)
        obj_en, obj_fr = [name], [name]
    else:
        obj = noun_phrase(rng, NOUNS, held_pairs, need_pair and not held, False)
        if obj is None:
            return None
        obj_en, obj_fr, _, hp, pair = obj
        if hp:
            held.add(pair)
    if test and not held:
        return None
    verb = rng.choice(VERBS)
    negate = rng.random() < 0.25
    if negate:
        v_en = (["do", "not"] if subj_pl else ["does", "not"]) + [verb[1]]
        v_fr = ["ne", verb[3] if subj_pl else verb[2], "pas"]
    else:
        v_en = [verb[1] if subj_pl else verb[0]]
        v_fr = [verb[3] if subj_pl else verb[2]]
    en = subj_en + v_en + obj_en
    fr = subj_fr + v_fr + obj_fr
    if rng.random() < 0.25:
        prep = rng.choice(PREPS)
        place_name = rng.choice(PLACES)
        place = next(n for n in NOUNS if n[0] == place_name)
        en += [prep[0], "the", place[0]]
        fr += [prep[1], "le" if place[4] == "m" else "la", place[2]]
    return " ".join(en), " ".join(fr), held


def generate(seed):
    rng = random.Random(seed)
    combos = [(a[0], n[0]) for a in ADJS for n in NOUNS]
    held_pairs = set(rng.sample(combos, int(len(combos) * HELD_OUT_PAIR_SHARE)))
    taken = {w.lower() for w in NAMES + HELD_OUT_NAMES}
    taken |= {w for n in NOUNS for w in n[:4]} | {w for a in ADJS for w in a[:5]} | {w for v in VERBS for w in v}
    train_names = NAMES + made_names(rng, N_MADE_NAMES, taken)
    test_names = HELD_OUT_NAMES + made_names(rng, N_MADE_HELD_OUT, taken)
    seen = set()
    rows = []
    for split, count in (("train", N_TRAIN), ("test", N_TEST)):
        made = 0
        while made < count:
            s = sentence(rng, train_names, held_pairs, test_names, split == "test")
            if s is None or s[0] in seen:
                continue
            seen.add(s[0])
            rows.append((s[0], s[1], split))
            made += 1
    # interleave so the file does not end in a block of test rows; the order is part of the seeded output
    rng.shuffle(rows)
    return rows, held_pairs, test_names


def check(rows, held_pairs, test_names):
    """The held-out property, checked on the words of the output (so a grammar change cannot silently break it)."""
    held_names = set(test_names)
    for src, _, split in rows:
        words = src.split()
        names = held_names.intersection(words)
        pairs = {(a, b) for a, b in zip(words, words[1:])} & held_pairs
        # plural nouns: map back to the singular so "black cats" counts as the pair (black, cat)
        plural_of = {n[1]: n[0] for n in NOUNS}
        pairs |= {(a, plural_of[b]) for a, b in zip(words, words[1:]) if b in plural_of} & held_pairs
        if split == "train" and (names or pairs):
            sys.exit(f"internal error: train row uses held-out {names or pairs}: {src}")
        if split == "test" and not (names or pairs):
            sys.exit(f"internal error: test row uses nothing held out: {src}")


def render(rows):
    out = ["source\ttarget\tsplit"]
    out += [f"{s}\t{t}\t{sp}" for s, t, sp in rows]
    return ("\n".join(out) + "\n").encode("utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if the committed file differs from the output")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    rows, held_pairs, test_names = generate(SEED)
    check(rows, held_pairs, test_names)
    data = render(rows)
    if args.check:
        with open(args.out, "rb") as f:
            if f.read() != data:
                sys.exit(f"{args.out} differs from the generator's output: rerun scripts/make_translate_data.py")
        return
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    n_test = sum(1 for r in rows if r[2] == "test")
    print(f"{args.out}: {len(rows)} pairs ({len(rows) - n_test} train, {n_test} test), "
          f"{len(held_pairs)} held-out adjective-noun pairs, {len(test_names)} held-out names")


if __name__ == "__main__":
    main()
