/* data.h — pretraining data: the config's text files tokenized once (cached in the run dir as tokens.bin),
 * split into train and validation by tokens, and cut into sliding windows served in batches by a Loader.
 *
 * Letters: B batch rows, T window length (context_length), N tokens of a split.
 *
 * Split: the validation split is the LAST val_fraction of the token ids (the book splits the characters at 90%;
 * splitting the ids instead never cuts a token in half, and differs from the book by at most one token).
 * Windows: inputs ids[i : i+T], targets ids[i+1 : i+T+1] for i = 0, stride, 2*stride, ... while i + T < N
 * (the book's GPTDatasetV1), stride 0 meaning T. A split needs N >= T + 1 tokens for one window. */
#ifndef LLMWB_DATA_H
#define LLMWB_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "util.h"

typedef struct Tokenizer Tokenizer; /* bpe.h */

/* The tokenized corpus. train and val point into ids (owned by the TokenData). */
typedef struct TokenData {
    int *ids;           /* (N) all tokens: file 1, <|endoftext|>, file 2, ... */
    size_t n;
    const int *train;   /* ids[0 .. n_train) */
    size_t n_train;
    const int *val;     /* ids[n_train .. n) */
    size_t n_val;
    uint64_t hash;      /* cache key: text bytes + tokenizer identity */
    size_t text_bytes;  /* bytes of text tokenized (after max_chars) */
    int from_cache;     /* 1 if the ids came from <cache_dir>/tokens.bin */
} TokenData;

/* Reads c->data.paths[0..n_paths) and concatenates them with "<|endoftext|>" between files. With
 * c->data.max_chars > 0 keeps only the first max_chars bytes (backed off to a UTF-8 character boundary).
 * *text is malloc'd and NUL-terminated (caller frees). Fails (LW_ERR_IO) naming the file that cannot be read. */
int data_load_text(const Config *c, char **text, size_t *len, LwError *e);

/* Tokenizes the config's text with tok (files encoded separately, joined by tok_eot(tok); special-token text inside
 * a file is ordinary text) and splits it by c->data.val_fraction. When cache_dir is not NULL, reuses
 * <cache_dir>/tokens.bin if its header's hash matches (text bytes + tokenizer kind/vocab) and rewrites it otherwise
 * (atomically). Checks that both splits hold at least c->model.context_length + 1 tokens, else LW_ERR_INVALID:
 * "the validation split has 40 tokens, fewer than context_length+1 = 65: raise val_fraction or lower
 * context_length". val_fraction 0 means no validation split (n_val may then be 0: do not build a loader on it).
 * On success d owns its ids (data_free); on failure d is left empty. */
int data_build(TokenData *d, const Config *c, const Tokenizer *tok, const char *cache_dir, LwError *e);
/* Same from ids already in memory (copied): splits and checks as above with val_fraction and T. */
int data_from_ids(TokenData *d, const int *ids, size_t n, float val_fraction, int T, LwError *e);
void data_free(TokenData *d);

/* tokens.bin: magic "LWTOKEN1" (8 bytes), u32 version (1), u32 0, u64 hash, u64 count, then count int32 ids,
 * all little-endian. Returns LW_OK; LW_ERR_IO/LW_ERR_PARSE for a missing or malformed file (message names it). */
int data_cache_write(const char *path, uint64_t hash, const int *ids, size_t n, LwError *e);
/* Reads ids when the header's hash equals want_hash; *ids malloc'd (caller frees). A stale hash returns
 * LW_ERR_INVALID ("stale"), so callers rebuild. */
int data_cache_read(const char *path, uint64_t want_hash, int **ids, size_t *n, LwError *e);

/* ---- batches of windows ---- */

/* Where a loader is in its stream: enough to resume exactly (the permutation of epoch k is a pure function of
 * seed and k, so it is not stored). */
typedef struct LoaderState {
    uint64_t seed;
    long epoch;         /* 0-based, increments each time every window has been served */
    size_t cursor;      /* next position in the epoch's permutation */
} LoaderState;

typedef struct Loader {
    const int *ids;     /* (N) borrowed: must outlive the loader */
    size_t n;
    int B, T, stride;
    size_t n_windows;   /* windows per epoch */
    int *order;         /* (n_windows) window indices of the current epoch (identity when !shuffle) */
    int shuffle;
    LoaderState st;
    long last_start;    /* token offset of row 0 of the last batch served (for the Train screen) */
} Loader;

/* Sets up a loader over ids (borrowed) serving (B, T) windows every stride tokens (0 = T). shuffle=1 permutes the
 * windows each epoch with an Rng seeded from (seed, epoch); shuffle=0 serves them in order (validation).
 * Fails (LW_ERR_INVALID) when n < T + 1 ("a split of 40 tokens is shorter than context_length+1 = 65") or B, T < 1. */
int loader_init(Loader *l, const int *ids, size_t n, int B, int T, int stride, uint64_t seed, int shuffle,
                LwError *e);
void loader_free(Loader *l);
/* Full batches per epoch: n_windows / B, at least 1 (batches that do not fill up are dropped as the book's
 * drop_last=True; with fewer windows than B a batch wraps around into the next epoch). */
size_t loader_n_batches(const Loader *l);
/* Fills inputs (B, T) and targets (B, T) with the next batch; starts a new epoch (reshuffled) when the current
 * one cannot fill a whole batch. */
void loader_next(Loader *l, int *inputs, int *targets);
/* Back to epoch 0, cursor 0 (the deterministic validation pass calls this before each evaluation). */
void loader_reset(Loader *l);
void loader_state(const Loader *l, LoaderState *out);
/* Resumes at st (as saved by loader_state on a loader over the same ids, B, T, stride). Fails (LW_ERR_INVALID)
 * if st->cursor is past the end of an epoch. */
int loader_restore(Loader *l, const LoaderState *st, LwError *e);

#endif
