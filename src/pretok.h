/* pretok.h — GPT-2 pre-tokenization: splits text into the pieces that BPE encodes one at a time.
 *
 * The pattern is GPT-2's (as used by tiktoken's r50k_base):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with \s meaning the Unicode White_Space property (as in Rust's regex crate and Python's regex module), which
 * PCRE2 spells [\t-\r \x{85}\p{Z}].
 * Input is arbitrary bytes: it is cut into maximal runs of valid UTF-8, each run is split by the pattern on its own,
 * and every byte that does not start a valid UTF-8 sequence becomes a one-byte piece.
 * Pieces tile the input exactly (no byte lost or repeated), so encoding stays lossless on any input.
 *
 * Two implementations yield identical pieces: PCRE2 with JIT (the reference) and a hand-written scanner that is
 * faster on ASCII and hands every non-ASCII stretch to PCRE2. tests/test_bpe.c checks them against each other. */
#ifndef LLMWB_PRETOK_H
#define LLMWB_PRETOK_H

#include <stddef.h>

/* An iterator over the pieces of s[0..n). The text must outlive it. Not shared between threads (each thread
 * makes its own; the compiled pattern behind it is shared and immutable). */
typedef struct PretokIter {
    const unsigned char *s;
    size_t n, pos;
    size_t run_start, run_end; /* the valid UTF-8 run being split: s[run_start..run_end) */
    int use_pcre;              /* 1: always PCRE2; 0: fast scanner with PCRE2 fallback for non-ASCII */
    void *md;                  /* pcre2_match_data_8 *, created on first use */
} PretokIter;

/* Starts iterating; use_pcre selects the reference PCRE2 path for every piece. */
void pretok_iter_init(PretokIter *it, const char *s, size_t n, int use_pcre);
/* Next piece as [*start, *start + *len); returns 1, or 0 at the end of the text. */
int pretok_next(PretokIter *it, size_t *start, size_t *len);
void pretok_iter_free(PretokIter *it);

#endif
