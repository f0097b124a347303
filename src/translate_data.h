/* translate_data.h — the translate task's data: parallel sentence pairs from TSV or JSONL, seeded train/val/test
 * splits that honour a split the data marks, teacher-forcing batches for an encoder–decoder (ArchBatch's src,
 * src_lengths, inputs and targets, arch.h), evaluation of hypotheses (BLEU, chrF, exact match: bleu.h), and two
 * baselines to print beside a model: copy-the-source and a word-by-word dictionary learned from the train pairs.
 * The model side lives elsewhere; this module only makes ids and scores strings.
 *
 * Letters: B rows in a batch (n when a batch may be partial), S source positions, T target positions.
 * TR_IGNORE (-100) marks a target position the loss must skip (PyTorch's ignore_index, ARCH_IGNORE_INDEX).
 *
 * Ownership as in finetune.h: tr_load / tr_split / tr_lexicon_fit fill caller structs that own their memory until
 * the matching *_free; on failure a struct is left empty (safe to free). Errors are LW_* codes with a one-line
 * message "file:line: what is wrong" (LW_ERR_PARSE, LW_ERR_INVALID: the CLI's exit status 2). */
#ifndef LLMWB_TRANSLATE_DATA_H
#define LLMWB_TRANSLATE_DATA_H

#include <stdint.h>

#include "config.h"
#include "finetune.h" /* FtSplit, FtCursor */
#include "util.h"

typedef struct Tokenizer Tokenizer; /* bpe.h */

#define TR_IGNORE (-100)

/* Where a row must go, as the data marks it ("split" column or key). */
typedef enum { TR_MARK_NONE, TR_MARK_TRAIN, TR_MARK_VAL, TR_MARK_TEST } TrMark;

typedef struct TrPair {
    char *source, *target; /* owned, UTF-8, as in the file (TSV fields are not trimmed) */
    TrMark mark;
    int line;              /* 1-based line of the row */
    /* filled by tr_tokenize: */
    int *src_ids, n_src;   /* (n_src) source ids, cut to max_src when truncating (owned) */
    int *tgt_ids, n_tgt;   /* (n_tgt) target ids, without begin/end markers, cut to max_tgt - 1 (owned) */
} TrPair;

typedef struct TrData {
    TrPair *ex;
    int n;
    int has_marks;    /* the file has a split column/key: every row carries a mark */
    int n_truncated;  /* set by tr_tokenize */
    char path[CFG_PATH_MAX];
} TrData;

/* Reads parallel data. The first non-blank byte decides the format: '{' = JSONL, anything else = TSV.
 *   TSV: UTF-8, tab-separated, a header line naming the columns "source" and "target" (any order, case-
 *     insensitive) and optionally "split"; other columns are ignored. CRLF and blank lines are accepted, quotes are
 *     ordinary characters, a final line without a newline is read.
 *   JSONL: one object per non-blank line with strings "source" and "target" and optionally "split" (a string or
 *     null); other keys ignored. A file that starts with '[' (a JSON array) is refused with a hint.
 * "split" values are "train", "val" (or "validation") and "test"; in TSV every row must have one when the header
 * has the column; in JSONL a row without the key is unmarked (TR_MARK_NONE).
 * Errors (LW_ERR_PARSE unless said): unreadable file (LW_ERR_IO); "file: empty file"; "file:1: the header must
 * name a \"source\" and a \"target\" column (found: ...)"; "file:7: expected 3 tab-separated columns, found 1
 * (missing tab?)"; "file:7: empty source" / "empty target"; "file:7:12: invalid UTF-8";
 * "file:7: split must be train, val or test (found 'dev')" (LW_ERR_INVALID); "file:7:5: invalid JSON";
 * "file:7: missing string \"target\""; "file:7: \"source\" is not a string"; "file: no pairs". */
int tr_load(TrData *d, const char *path, LwError *e);
void tr_free(TrData *d);

/* Seeded split into train, val and test (indices into d->ex, each list in a seeded order):
 *   - rows marked test go to test and rows marked val to val, whatever the fractions;
 *   - the other rows (marked train, meaning "not held out", or unmarked) form a pool of N rows that ins_split cuts
 *     with seed (finetune.h: floor(N * test_fraction) to test, the rest after train's floor(N * (1 - val - test))
 *     to val), except that test_fraction counts as 0 when some row is marked test (the data chose its test set) and
 *     val_fraction counts as 0 when some row is marked val.
 * Same (d, fractions, seed) → same split; the test rows of a file that marks them do not depend on the seed (their
 * order does). Errors (LW_ERR_INVALID) as ins_split: fractions out of [0, 1) or summing to >= 1; an empty train
 * split; an empty val (test) split while its fraction > 0 and no row is marked for it. */
int tr_split(FtSplit *s, const TrData *d, float val_fraction, float test_fraction, uint64_t seed, LwError *e);

/* ---- tokenization ----
 * A tokenizer callback appends the ids of text to out (so source and target may use different vocabularies, a
 * model's BPE or bytes). tr_encode_tok adapts a Tokenizer (tok_encode without special tokens). */
typedef void (*TrEncodeFn)(void *ud, const char *text, IntVec *out);
void tr_encode_tok(void *tokenizer, const char *text, IntVec *out);

/* Tokenizes every pair: src_ids = encode_src(source), tgt_ids = encode_tgt(target). max_src is the longest
 * source the encoder takes; max_tgt the decoder's positions, so a target keeps at most max_tgt - 1 ids (the
 * begin marker takes one input position and the end marker one target position). An over-long side with truncate
 * is cut (one warning per file: count and first line), else LW_ERR_INVALID "file:12: source has 300 tokens, more
 * than 256 (set finetune.truncate: true to cut it)". An empty side after encoding is LW_ERR_PARSE. Re-tokenizing
 * replaces earlier ids. */
int tr_tokenize(TrData *d, TrEncodeFn encode_src, void *src_ud, TrEncodeFn encode_tgt, void *tgt_ud, int max_src,
                int max_tgt, int truncate, LwError *e);

/* Batch widths for rows (n): *S = the longest source (+1 with an end-of-source marker, src_eos >= 0 in tr_batch),
 * *T = the longest target + 1; at least 1 each. */
void tr_batch_dims(const TrData *d, const int *rows, int n, int src_eos, int *S, int *T);
/* Fills n rows of a teacher-forcing batch (needs tr_tokenize first):
 *   src (n, S):         source ids [+ src_eos when src_eos >= 0], cut to S, padded with pad;
 *   src_lengths (n):    real source positions (the encoder and cross-attention mask the rest);
 *   inputs (n, T):      bos, y_0, ..., y_{m-1}, then pad (the decoder's input: the target shifted right);
 *   targets (n, T):     y_0, ..., y_{m-1}, eos, then TR_IGNORE (what each position must predict).
 * A target with m >= T ids keeps y_0..y_{T-2} in inputs after bos and y_0..y_{T-1} in targets (no eos).
 * src_lengths may be NULL. Example (S = 4, T = 4, src_eos = 9, bos = 1, eos = 2, pad = 0), source [5 6], target
 * [7]: src [5 6 9 0], src_lengths 3, inputs [1 7 0 0], targets [7 2 -100 -100]. */
void tr_batch(const TrData *d, const int *rows, int n, int S, int T, int src_eos, int bos, int eos, int pad, int *src,
              int *src_lengths, int *inputs, int *targets);

/* ---- evaluation ---- */
typedef struct TrScore {
    int n, n_exact;  /* pairs scored, exact matches (13a-tokenized equality) */
    double bleu;     /* corpus BLEU, sacreBLEU default (bleu.h), 0..100 */
    double chrf;     /* corpus chrF2, 0..100 */
} TrScore;
/* Scores hyps[i] against d->ex[rows[i]].target for i < n (a NULL hypothesis counts as ""). */
void tr_score(const TrData *d, const int *rows, const char *const *hyps, int n, TrScore *out);
/* Scores as tr_score (into *out when not NULL) and writes one JSON object per pair to path, atomically
 * (lw_write_file_atomic): {"line", "source", "target", "hypothesis", "exact"} (line: the pair's line in the data
 * file; exact: true/false), then a last object {"n", "exact", "bleu", "chrf"} with the corpus scores. */
int tr_write_hypotheses(const char *path, const TrData *d, const int *rows, const char *const *hyps, int n,
                        TrScore *out, LwError *e);

/* ---- baselines ----
 * Copy: the hypothesis is the source itself (what a model scores before it learns anything beyond copying).
 * Word by word: each source word (13a token) is replaced by the target word it is most associated with in the train
 * pairs, by the Dice coefficient 2 c(s,t) / (c(s) + c(t)) over sentence co-occurrence (each word counted once per
 * pair; ties go to the target word seen first); a word never seen in training is copied. No reordering, no
 * agreement: what a dictionary without grammar gives. */
typedef struct TrLexicon {
    int n_src;
    char **src_words;   /* (n_src) owned */
    char **translation; /* (n_src) the chosen target word (owned) */
    int *table;         /* open-addressing hash of src_words: index or -1 (owned) */
    size_t table_cap;   /* power of two */
} TrLexicon;
/* Fits on the pairs d->ex[rows[i]], i < n (n >= 1). Cost: the sum over pairs of |source words| x |target words|. */
void tr_lexicon_fit(TrLexicon *lx, const TrData *d, const int *rows, int n);
/* The word-by-word translation of source (13a tokens joined by spaces). Returns a malloc'd string. */
char *tr_lexicon_translate(const TrLexicon *lx, const char *source);
void tr_lexicon_free(TrLexicon *lx);

typedef struct TrBaseline {
    TrScore copy, word;  /* on the rows asked for */
} TrBaseline;
/* Fits the lexicon on s->train and scores both baselines on rows (n), e.g. s->test, s->n_test. */
void tr_baseline(const TrData *d, const FtSplit *s, const int *rows, int n, TrBaseline *out);
/* One line for the Train screen and the log, e.g.
 * "baseline on 400 test pairs: copy BLEU 1.2 chrF 20.3 exact 0.0%; word-by-word BLEU 21.4 chrF 60.2 exact 3.5%". */
void tr_baseline_format(const TrBaseline *b, const char *what, char *out, size_t n);

#endif
