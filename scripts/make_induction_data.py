#!/usr/bin/env python3
"""make_induction_data.py: writes corpora/induction/repeats.txt, the data of configs/induction.yaml, on which a small
GPT forms an induction head within minutes (issue 15: "find the induction head").

Each line is a run of random made-up words, then the same run again:
    "mab tesk olu ... | mab tesk olu ...\n"
The first copy cannot be predicted (every word is as likely as any other); the second copy can, but only by looking
back for the previous occurrence of the current word and copying the word that followed it, which is what an
induction head does (a previous-token head in one layer feeding a head in the next). The loss of the second half
drops suddenly when that circuit forms: the "phase change" seen in the literature.

Deterministic (seed 2026); standard library only. Run from the repository root:
    python3 scripts/make_induction_data.py
"""

import os
import random

SEED = 2026
N_WORDS = 100          # distinct made-up words (each one token with tokenizer.kind: words)
N_LINES = 12000
RUN_MIN, RUN_MAX = 6, 12

ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "pl", "gr", "sk"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
CODAS = ["", "", "n", "k", "l", "m", "s", "t", "r", "sk", "nd"]


def words(rng):
    seen = set()
    out = []
    while len(out) < N_WORDS:
        w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.choice((1, 2)))) + rng.choice(CODAS)
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def main():
    rng = random.Random(SEED)
    vocab = words(rng)
    lines = []
    for _ in range(N_LINES):
        run = [rng.choice(vocab) for _ in range(rng.randint(RUN_MIN, RUN_MAX))]
        lines.append(" ".join(run) + " | " + " ".join(run))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "corpora", "induction", "repeats.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    print("wrote", path, os.path.getsize(path), "bytes,", N_LINES, "lines")


if __name__ == "__main__":
    main()
