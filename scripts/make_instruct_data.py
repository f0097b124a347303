#!/usr/bin/env python3
"""make_instruct_data.py - generate llmwb's instruction-tuning task set (corpora/instruct/).

Writes Alpaca-style JSONL ({"instruction", "input", "output", "task"}) with short, checkable answers, in task
families that a small GPT can learn on a CPU: plurals, past tenses, antonyms, hypernyms, capitals, arithmetic and
string transformations.  Every example hangs on one key (a word, a country, a pair of numbers); keys are assigned to
the train or the held-out test file, never both, so exact match on the test file measures whether a model learned a
task, not whether it memorised an answer.

Sources: WordNet 3.0 data files from Debian's wordnet-base (/usr/share/wordnet; WordNet licence, kept in
corpora/instruct/LICENSE.wordnet) and scripts/data/capitals.tsv (CIA World Factbook, public domain).
Stdlib only; the output depends only on the inputs and the seed.

Usage:
  python3 scripts/make_instruct_data.py                # writes corpora/instruct/tasks_{train,test}.jsonl
  python3 scripts/make_instruct_data.py --extract-capitals SAMPLE.jsonl   # rebuilds scripts/data/capitals.tsv
"""
import argparse
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WN = "/usr/share/wordnet"
SEED = 20261105
TEST_SHARE = 0.12  # of the keys of each family

# Examples per family in the train file (the test file gets what its held-out keys give, capped).
TRAIN_COUNTS = {
    "plural": 3200,
    "past_tense": 2800,
    "antonym": 1600,
    "hypernym": 1200,
    "capital": 400,
    "add": 1600,
    "subtract": 1400,
    "reverse": 1800,
    "uppercase": 1500,
    "first_letter": 1200,
    "last_letter": 1000,
    "count_letters": 1500,
}
TEST_CAP = 100  # examples per family in the test file

# Phrasings: (instruction, input) templates; {w} is the key word.  Several per family so a model learns the task,
# not one sentence.  The test file uses the same phrasings with different words.
PHRASES = {
    "plural": [("What is the plural of \"{w}\"?", ""), ("Give the plural form of the noun.", "{w}"),
               ("Write the plural of the word {w}.", "")],
    "past_tense": [("What is the past tense of \"{w}\"?", ""), ("Give the past tense of the verb.", "{w}"),
                   ("Write the simple past of {w}.", "")],
    "antonym": [("What is the opposite of \"{w}\"?", ""), ("Give an antonym of the adjective.", "{w}")],
    "hypernym": [("What is {a} {w} a kind of?", ""), ("Name the general category of the word.", "{w}")],
    "capital": [("What is the capital of {w}?", ""), ("Name the capital city of the country.", "{w}")],
    "add": [("What is {a} + {b}?", ""), ("Add the two numbers.", "{a} and {b}"), ("What is {a} plus {b}?", "")],
    "subtract": [("What is {a} - {b}?", ""), ("Subtract the second number from the first.", "{a} and {b}"),
                 ("What is {a} minus {b}?", "")],
    "reverse": [("Reverse the word \"{w}\".", ""), ("Write the word backwards.", "{w}")],
    "uppercase": [("Write \"{w}\" in capital letters.", ""), ("Convert the word to uppercase.", "{w}")],
    "first_letter": [("What is the first letter of \"{w}\"?", ""), ("Give the first letter of the word.", "{w}")],
    "last_letter": [("What is the last letter of \"{w}\"?", ""), ("Give the last letter of the word.", "{w}")],
    "count_letters": [("How many letters are in \"{w}\"?", ""), ("Count the letters in the word.", "{w}")],
}

WORD_RE = re.compile(r"^[a-z]+$")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def read_index(pos):
    """Lemmas of index.<pos> that are plain lowercase words, with their tagged-sense count (a frequency hint)."""
    out = {}
    for line in read_lines(os.path.join(WN, "index." + pos)):
        if line.startswith(" "):
            continue
        f = line.split()
        lemma, p_cnt = f[0], int(f[3])
        tagsense = int(f[4 + p_cnt + 1])
        if WORD_RE.match(lemma):
            out[lemma] = tagsense
    return out


def read_exc(pos):
    """base -> sorted list of inflected forms, from <pos>.exc (inflected base [base...])."""
    forms = {}
    for line in read_lines(os.path.join(WN, pos + ".exc")):
        f = line.split()
        if len(f) < 2 or not WORD_RE.match(f[0]):
            continue
        for base in f[1:]:
            if WORD_RE.match(base):
                forms.setdefault(base, set()).add(f[0])
    return {b: sorted(s) for b, s in forms.items()}


def read_data(pos):
    """Synsets of data.<pos>: offset -> (words, pointers); pointers are (symbol, offset, pos, src, dst)."""
    syn = {}
    for line in read_lines(os.path.join(WN, "data." + pos)):
        if line.startswith(" "):
            continue
        head = line.split(" | ")[0].split()
        off, w_cnt = head[0], int(head[3], 16)
        words = [head[4 + 2 * i].lower() for i in range(w_cnt)]
        i = 4 + 2 * w_cnt
        p_cnt = int(head[i])
        ptrs = []
        for k in range(p_cnt):
            sym, poff, ppos, st = head[i + 1 + 4 * k: i + 5 + 4 * k]
            ptrs.append((sym, poff, ppos, int(st[:2], 16), int(st[2:], 16)))
        syn[off] = (words, ptrs)
    return syn


def common(index, lo=3, hi=9, min_tag=1):
    return sorted(w for w, t in index.items() if lo <= len(w) <= hi and t >= min_tag)


# ---- task families: each returns {key: (answer, phrase-fields)} ----

def regular_plural(w):
    if re.search(r"(s|x|z|ch|sh)$", w):
        return w + "es"
    if re.search(r"[^aeiou]y$", w):
        return w[:-1] + "ies"
    return w + "s"


def fam_plural():
    exc = read_exc("noun")
    out = {}
    for w in common(read_index("noun")):
        if w in exc:
            if len(exc[w]) != 1:
                continue  # more than one plural (e.g. two spellings): not a checkable answer
            out[w] = exc[w][0]
        elif w.endswith(("f", "fe", "is", "us", "um", "on", "ss")) or w.endswith("o"):
            continue  # irregular classes WordNet may not list: leave them out rather than guess
        else:
            out[w] = regular_plural(w)
    return {w: (p, {"w": w}) for w, p in out.items()}


def regular_past(w):
    if w.endswith("e"):
        return w + "d"
    if re.search(r"[^aeiou]y$", w):
        return w[:-1] + "ied"
    return w + "ed"


def fam_past():
    exc = read_exc("verb")
    out = {}
    for w in common(read_index("verb")):
        if w in exc:
            past = [f for f in exc[w] if not f.endswith("ing")]
            if len(past) != 1:
                continue  # e.g. go: went/gone (past and participle differ) or no past form listed
            out[w] = past[0]
        elif re.search(r"[^aeiou][aeiou][bdgklmnprtv]$", w):
            continue  # a doubling candidate (stop/stopped vs. visit/visited) not listed: do not guess
        else:
            out[w] = regular_past(w)
    return {w: (p, {"w": w}) for w, p in out.items()}


def fam_antonym():
    syn = read_data("adj")
    freq = read_index("adj")
    out = {}
    for off in sorted(syn):
        words, ptrs = syn[off]
        for sym, poff, _, src, dst in ptrs:
            if sym != "!" or src == 0 or poff not in syn:
                continue
            a, b = words[src - 1], syn[poff][0][dst - 1]
            a, b = re.sub(r"\(.*\)$", "", a), re.sub(r"\(.*\)$", "", b)  # adjective markers like (a), (p)
            if WORD_RE.match(a) and WORD_RE.match(b) and freq.get(a, 0) >= 1 and a not in out:
                out[a] = b
    return {a: (b, {"w": a}) for a, b in out.items()}


def first_senses(pos):
    """lemma -> offset of its most frequent sense (index files list a lemma's synsets by frequency)."""
    out = {}
    for line in read_lines(os.path.join(WN, "index." + pos)):
        if line.startswith(" "):
            continue
        f = line.split()
        lemma, syn_cnt, p_cnt = f[0], int(f[2]), int(f[3])
        out[lemma] = f[4 + p_cnt + 2: 4 + p_cnt + 2 + syn_cnt][0]
    return out


def fam_hypernym():
    syn = read_data("noun")
    freq = read_index("noun")
    first = first_senses("noun")
    out = {}
    for w in sorted(freq):
        if freq[w] < 3 or not 3 <= len(w) <= 12:
            continue
        words, ptrs = syn[first[w]]
        hyp = [p for p in ptrs if p[0] == "@"]
        if not hyp:
            continue
        parent = next((x for x in syn[hyp[0][1]][0] if WORD_RE.match(x) and x != w), None)
        if parent:
            out[w] = parent
    return {w: (p, {"w": w, "a": "an" if w[0] in "aeiou" else "a"}) for w, p in out.items()}


def fam_capital():
    out = {}
    for line in read_lines(os.path.join(HERE, "data", "capitals.tsv"))[1:]:
        country, capital = line.split("\t")
        out[country] = (capital, {"w": country})
    return out


def fam_arith(op):
    out = {}
    for a in range(0, 51):
        for b in range(0, 51):
            if op == "add" and a + b <= 60:
                out["%d+%d" % (a, b)] = (str(a + b), {"a": a, "b": b})
            if op == "subtract" and a >= b:
                out["%d-%d" % (a, b)] = (str(a - b), {"a": a, "b": b})
    return out


def fam_string(words, kind):
    f = {"reverse": lambda w: w[::-1], "uppercase": str.upper, "first_letter": lambda w: w[0],
         "last_letter": lambda w: w[-1], "count_letters": lambda w: str(len(w))}[kind]
    return {w: (f(w), {"w": w}) for w in words}


def string_words():
    words = set()
    for pos in ("noun", "verb", "adj"):
        words.update(common(read_index(pos), 3, 8, 2))
    return sorted(words)


# ---- assembly ----

def split_keys(keys, rng):
    keys = sorted(keys)
    rng.shuffle(keys)
    n_test = max(1, int(len(keys) * TEST_SHARE))
    return keys[n_test:], keys[:n_test]


def examples(task, fam, keys, count, rng):
    """count examples over keys (cycling phrasings; a key is reused only if there are fewer keys than count)."""
    keys = list(keys)
    rng.shuffle(keys)
    if not keys:
        return []
    out = []
    for i in range(count):
        key = keys[i % len(keys)]
        answer, fields = fam[key]
        instr, inp = rng.choice(PHRASES[task])
        out.append({"instruction": instr.format(**fields), "input": inp.format(**fields), "output": answer,
                    "task": task})
    return out


def extract_capitals(sample_path):
    rows = {}
    with open(sample_path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            if o.get("source") != "factbook":
                continue
            m = re.match(r"What is the capital of (.+)\?$", o["instruction"])
            if not m:
                continue
            country = m.group(1)
            prefix = "The capital of %s is " % country
            if not o["output"].startswith(prefix):
                continue
            capital = o["output"][len(prefix):].rstrip(".")
            country = re.sub(r"\s*\(.*?\)", "", country).strip()
            capital = re.sub(r"\s*\(.*", "", capital)
            capital = re.split(r";| in |, note", capital)[0].strip()
            if not capital or not re.match(r"^[A-Z][\w' .,-]*$", capital) or not re.match(r"^[A-Z][\w' .,-]*$",
                                                                                        country):
                continue
            rows[country] = capital
    path = os.path.join(HERE, "data", "capitals.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("country\tcapital\n")
        for c in sorted(rows):
            f.write("%s\t%s\n" % (c, rows[c]))
    print("wrote %s (%d countries)" % (path, len(rows)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "corpora", "instruct"))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--extract-capitals", metavar="SAMPLE_JSONL")
    args = ap.parse_args()
    if args.extract_capitals:
        extract_capitals(args.extract_capitals)
        return
    if not os.path.isdir(WN):
        sys.exit("make_instruct_data.py: %s not found: apt-get install -y wordnet-base" % WN)
    rng = random.Random(args.seed)
    words = string_words()
    families = {
        "plural": fam_plural(), "past_tense": fam_past(), "antonym": fam_antonym(), "hypernym": fam_hypernym(),
        "capital": fam_capital(), "add": fam_arith("add"), "subtract": fam_arith("subtract"),
    }
    # the string tasks share one word list, held out once, so a test word is new to every string task
    str_train, str_test = split_keys(words, rng)
    train, test = [], []
    for task in TRAIN_COUNTS:
        if task in ("reverse", "uppercase", "first_letter", "last_letter", "count_letters"):
            fam = fam_string(words, task)
            ktrain, ktest = str_train, str_test
        else:
            fam = families[task]
            ktrain, ktest = split_keys(fam.keys(), rng)
        # capitals are few: each train country appears about twice, in different phrasings
        n_train = TRAIN_COUNTS[task] if task == "capital" else min(TRAIN_COUNTS[task], len(ktrain))
        train += examples(task, fam, ktrain, n_train, rng)
        test += examples(task, fam, ktest, min(TEST_CAP, len(ktest)), rng)
        print("%-14s keys %5d train / %4d test -> %5d train examples, %3d test" %
              (task, len(ktrain), len(ktest), n_train, min(TEST_CAP, len(ktest))))
    rng.shuffle(train)
    rng.shuffle(test)
    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("tasks_train.jsonl", train), ("tasks_test.jsonl", test)):
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        print("wrote %s: %d examples, %d bytes" % (path, len(rows), os.path.getsize(path)))


if __name__ == "__main__":
    main()
