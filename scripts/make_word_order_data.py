#!/usr/bin/env python3
"""make_word_order_data.py — writes corpora/classify/word_order_sentences.tsv.

A classification set a bag of words cannot solve: every row is a sentence from a public-domain novel, either as
written ("original") or with its words in a random order ("shuffled"). Each sentence is used once, lowercased and
without its final punctuation, so the two classes have the same word statistics and the naive-Bayes baseline
stays near 50%, while a model that has learned English word order can tell them apart.

Sources: corpora/dickens_great_expectations.txt and corpora/wells_war_of_the_worlds.txt (public domain), novels
the default model (pretrained on Pride and Prejudice) has not seen. Deterministic: the same output every run.
Usage: python3 scripts/make_word_order_data.py [--rows N]
"""
import argparse
import os
import random
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["dickens_great_expectations.txt", "wells_war_of_the_worlds.txt"]


def sentences(text):
    text = re.sub(r"\s+", " ", text.replace("\r", " "))
    for s in re.split(r"(?<=[.!?])\s+", text):
        s = s.strip().strip('"').strip("'").strip()
        s = re.sub(r"[.!?]+$", "", s).strip()
        if not s or any(c in s for c in '"_[]()\t'):
            continue
        words = s.split(" ")
        if 6 <= len(words) <= 18 and all(re.search(r"[A-Za-z]", w) for w in words):
            yield s.lower()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4000)
    args = ap.parse_args()
    rng = random.Random(20261125)
    pool = []
    for name in SOURCES:
        with open(os.path.join(ROOT, "corpora", name), encoding="utf-8") as f:
            pool.extend(sentences(f.read()))
    pool = sorted(set(pool))
    rng.shuffle(pool)
    rows = []
    for i, s in enumerate(pool[: args.rows]):
        if i % 2 == 0:
            rows.append(("original", s))
            continue
        words = s.split(" ")
        for _ in range(20):
            rng.shuffle(words)
            if " ".join(words) != s:
                break
        rows.append(("shuffled", " ".join(words)))
    rng.shuffle(rows)
    out = os.path.join(ROOT, "corpora", "classify", "word_order_sentences.tsv")
    with open(out, "w", encoding="utf-8") as f:
        f.write("label\ttext\n")
        for label, text in rows:
            f.write(f"{label}\t{text}\n")
    print(f"{out}: {len(rows)} rows from {len(pool)} candidate sentences")


if __name__ == "__main__":
    main()
