/* finetune.h — finetuning data: classification datasets (TSV), instruction datasets (Alpaca JSON / JSONL),
 * seeded train/val/test splits, prompt templates, padded batches, a naive-Bayes baseline, and the scoring and
 * writing of evaluation responses. The model side (heads, loss) lives elsewhere; this module only makes ids.
 *
 * Letters: B rows in a batch (n below when a batch may be partial), T positions of a batch.
 * IGNORE (-100) marks a target position the loss must skip (the book's ignore_index).
 *
 * Ownership: every *_load / *_split / nb_fit fills a caller-provided struct that owns its memory until the
 * matching *_free; strings returned as char * are malloc'd and the caller frees them. On failure a struct is left
 * empty (safe to *_free). Errors are LW_* codes with a one-line message "file:line: what is wrong". */
#ifndef LLMWB_FINETUNE_H
#define LLMWB_FINETUNE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

typedef struct Tokenizer Tokenizer; /* bpe.h */

#define FT_IGNORE (-100)

/* ---- splits (shared by both modes) ----
 * Indices into a dataset's examples. Each list is in a seeded random order. */
typedef struct FtSplit {
    int *train, *val, *test; /* owned; NULL when the count is 0 */
    int n_train, n_val, n_test;
} FtSplit;
void ft_split_free(FtSplit *s);

/* ---- batch order for training ----
 * Serves example indices from a borrowed list, B at a time, epoch after epoch. The permutation of epoch k is a
 * pure function of (seed, k), so (epoch, cursor) is enough to resume. A batch that cannot be filled from what is
 * left of an epoch is dropped (the book's drop_last=True) and a new epoch starts; with fewer rows than B a batch
 * takes rows from the next epoch too. shuffle=0 serves the list in order every epoch. */
typedef struct FtCursor {
    const int *rows;  /* (n) borrowed: must outlive the cursor */
    int n;
    int *order;       /* (n) positions into rows for the current epoch (owned) */
    int shuffle;
    uint64_t seed;
    long epoch;
    int cursor;       /* next position in order */
} FtCursor;
/* Fails (LW_ERR_INVALID) when n < 1. */
int ft_cursor_init(FtCursor *c, const int *rows, int n, uint64_t seed, int shuffle, LwError *e);
/* Writes the next B example indices (taken from rows) into out (B). */
void ft_cursor_next(FtCursor *c, int B, int *out);
/* Resumes at (epoch, cursor) as read from an earlier cursor over the same rows; fails if cursor > n. */
int ft_cursor_restore(FtCursor *c, long epoch, int cursor, LwError *e);
/* Full batches per epoch: n / B, at least 1. */
int ft_cursor_n_batches(const FtCursor *c, int B);
void ft_cursor_free(FtCursor *c);

/* ================= classification (mode: classify) ================= */

typedef struct ClsExample {
    char *text;   /* the text column as in the file (owned), for the baseline and for display */
    int *ids;     /* (n) token ids of text, truncated to max_len (owned) */
    int n;        /* 1..max_len */
    int label;    /* index into ClsData.labels */
    int line;     /* 1-based line of the row in the file */
} ClsExample;

typedef struct ClsData {
    ClsExample *ex;
    int n;
    char **labels;     /* (n_labels) label names (owned); label i of the head is labels[i] */
    int n_labels;
    int n_truncated;   /* rows cut to max_len (truncate: true) */
    char path[CFG_PATH_MAX];
} ClsData;

/* Reads a classification TSV: UTF-8, tab-separated, a header line naming the columns; the column named "label"
 * and the column named "text" are used (any order, names compared case-insensitively), other columns ignored.
 * CRLF line ends and blank lines are accepted; quotes are ordinary characters (no CSV quoting); a final line
 * without a newline is read.
 * Labels: with ft->n_labels > 0 the label set is ft->labels in that order (a row whose label is not in it is an
 * error); otherwise the sorted (byte order) unique labels of the data, at most CFG_MAX_LABELS.
 * Text is tokenized with tok (special-token text is ordinary text). A text longer than max_len tokens keeps its
 * FIRST max_len tokens (the book's truncation); with ft->truncate it is cut and one warning per file is logged
 * (count and first line), else it is an error.
 * Errors (LW_ERR_PARSE unless said): unreadable file (LW_ERR_IO); no header / no "label" or "text" column;
 * "file:7: expected 3 tab-separated columns, found 1 (missing tab?)"; "file:7: empty text"; "file:7: empty label";
 * "file:7:12: invalid UTF-8"; "file:7: unknown label 'spam' (labels: neg, pos)" (LW_ERR_INVALID);
 * over-long text with truncate off (LW_ERR_INVALID); no rows; fewer than 2 labels (LW_ERR_INVALID). */
int cls_load(ClsData *d, const char *path, const FinetuneCfg *ft, const Tokenizer *tok, int max_len, LwError *e);
void cls_free(ClsData *d);
/* Index of label name, or -1. */
int cls_label_index(const ClsData *d, const char *name);

/* Splits d's examples. With balance, every class is first undersampled (seeded) to the size of the smallest
 * class (the book undersamples "ham" to the number of "spam"). The kept examples are shuffled (seeded) and cut in
 * order into train, val, test: n_train = floor(N * (1 - val - test)), n_val = floor(N * val), n_test = the rest
 * (the book's 70/10/20 arithmetic; fractions are rounded with a 1e-6 tolerance so 0.7 * 1000 is 700).
 * Same (d, balance, fractions, seed) → same split. Errors (LW_ERR_INVALID): fractions out of [0, 1) or summing
 * to >= 1; an empty train split; an empty val (test) split while val_fraction (test_fraction) > 0 — the message
 * names the split, its fraction and N. */
int cls_split(FtSplit *s, const ClsData *d, int balance, float val_fraction, float test_fraction, uint64_t seed,
              LwError *e);
/* Longest example (in tokens) among rows (n): the book pads every batch to the longest TRAINING example. */
int cls_max_len(const ClsData *d, const int *rows, int n);
/* Fills n rows of a batch of width T (T >= 1):
 *   inputs (n, T): the example's ids, cut to T, then padded with pad_id (end-of-text) to T;
 *   last (n):      position of the last real token = min(len, T) - 1 (classify from there, not from padding);
 *   labels (n):    the class index.
 * last or labels may be NULL. Rows longer than T (val/test rows can be) are cut to T as the book does. */
void cls_batch(const ClsData *d, const int *rows, int n, int T, int pad_id, int *inputs, int *last, int *labels);

/* ---- naive-Bayes baseline ----
 * Multinomial naive Bayes on bags of words: a word is a maximal run of ASCII letters/digits or non-ASCII bytes,
 * lowercased (ASCII); everything else separates words. Add-one (Laplace) smoothing over the training vocabulary;
 * words never seen in training are ignored when predicting. Ties go to the lower class index. */
typedef struct NbModel {
    int n_classes;
    int n_words;          /* training vocabulary */
    double *log_prior;    /* (n_classes) */
    double *log_lik;      /* (n_classes, n_words) log P(word | class) */
    char **words;         /* (n_words) owned */
    int *table;           /* open-addressing hash: word index or -1 (owned) */
    size_t table_cap;     /* power of two */
} NbModel;
/* Fits on texts (n) with labels in [0, n_classes). n >= 1. */
void nb_fit(NbModel *m, const char *const *texts, const int *labels, int n, int n_classes);
/* The most likely class of text. */
int nb_predict(const NbModel *m, const char *text);
/* Fraction of rows (n) of d predicted right; 0 when n == 0. */
double nb_accuracy(const NbModel *m, const ClsData *d, const int *rows, int n);
void nb_free(NbModel *m);
/* Fits on s->train of d and reports accuracy on val and test (a split of size 0 gives 0). */
void cls_baseline(const ClsData *d, const FtSplit *s, double *val_acc, double *test_acc);

/* ================= instruction tuning (mode: instruct) ================= */

typedef enum { INS_TEMPLATE_ALPACA, INS_TEMPLATE_PHI3 } InsTemplate;

typedef struct InsEntry {
    char *instruction, *input, *output; /* owned, UTF-8; input is "" when absent */
    int line;                           /* 1-based line where the entry starts in the file */
    /* filled by ins_tokenize: */
    int *ids;       /* (n) prompt tokens then response tokens (no end-of-text) (owned) */
    int n;          /* full length before any truncation */
    int n_prompt;   /* tokens of the prompt part (template text up to and including the response header) */
} InsEntry;

typedef struct InsData {
    InsEntry *ex;
    int n;
    int n_truncated;   /* set by ins_tokenize: entries longer than the context */
    char path[CFG_PATH_MAX];
} InsData;

/* Reads a JSON array of objects or JSONL (one object per non-blank line); the first non-space byte decides
 * ('[' = array). Each entry needs string "instruction" and "output"; "input" is optional (string or null);
 * other keys are ignored. Errors (LW_ERR_PARSE): unreadable file (LW_ERR_IO); "file:12:5: invalid JSON" (cJSON's
 * error position as line:col); "file:12: entry is not an object"; "file:12: missing string \"output\"";
 * "file:12: \"input\" is not a string"; no entries. For an array, the line is where the bad entry starts. */
int ins_load(InsData *d, const char *path, LwError *e);
void ins_free(InsData *d);

/* "alpaca" or "phi3" (config finetune.template) → *out; else LW_ERR_INVALID naming the valid names. */
int ins_template_parse(const char *name, InsTemplate *out, LwError *e);
/* The prompt: everything a model sees before its response, ending with the response header.
 *   alpaca (the book's text, byte for byte):
 *     "Below is an instruction that describes a task. Write a response that appropriately completes the
 *     request.\n\n### Instruction:\n" + instruction + ["\n\n### Input:\n" + input, when input is not ""]
 *     + "\n\n### Response:\n"
 *   phi3 (the book's exercise 7.1 format, with Phi-3's end marker):
 *     "<|user|>\n" + instruction + ["\n" + input, when input is not ""] + "<|end|>\n<|assistant|>\n"
 * input may be NULL (= ""). Returns a malloc'd string. The full training text is prompt + output. */
char *ins_format_prompt(InsTemplate t, const char *instruction, const char *input);
char *ins_format_full(InsTemplate t, const char *instruction, const char *input, const char *output);

/* Tokenizes every entry: ids = encode(prompt) followed by encode(output), so the prompt is an exact prefix
 * (with both templates ending in "\n" this equals encoding the full text at once). Special-token text in the data
 * is ordinary text. An entry with n > context (its end-of-text would not fit in the targets) is truncated in
 * batches (ins_batch keeps its first context tokens) with one warning naming the count and first line when
 * truncate != 0; else LW_ERR_INVALID "file:12: entry has 1300 tokens, more than context_length 1024 (set
 * finetune.truncate: true to cut it)". Re-tokenizing replaces earlier ids. */
int ins_tokenize(InsData *d, InsTemplate t, const Tokenizer *tok, int context, int truncate, LwError *e);

/* Splits n entries, shuffled with seed, into n_train = floor(n * (1 - val - test)), n_test = floor(n * test),
 * n_val = the rest (the book's chapter-7 arithmetic: 85% train, 10% test, 5% validation with data.val_fraction
 * 0.05 and data.test_fraction 0.1). Errors as cls_split. */
int ins_split(FtSplit *s, int n, float val_fraction, float test_fraction, uint64_t seed, LwError *e);

/* Batch width for rows (n): the longest entry's n, capped at context (the book pads to the longest + 1 and drops
 * the last input position, so inputs are as long as the longest entry). */
int ins_batch_len(const InsData *d, const int *rows, int n, int context);
/* Fills n rows of (inputs, targets), each (n, T), as the book's collate: seq = ids + [eot] + [eot]*..., length
 * T + 1; inputs = seq[0:T], targets = seq[1:T+1]; in targets every eot after the first one is FT_IGNORE; with
 * mask_prompt also targets[0 : n_prompt - 1] = FT_IGNORE (the positions whose next token is still prompt, the
 * book's exercise 7.2). Entries longer than T are cut. Needs ins_tokenize first. A row can end up with every
 * target ignored (mask_prompt with a prompt of T tokens or more): the loss must then skip it. */
void ins_batch(const InsData *d, const int *rows, int n, int T, int eot, int mask_prompt, int *inputs, int *targets);

/* ---- evaluation ---- */
/* The response inside a generated text: what follows the LAST response header of template t ("### Response:"
 * or "<|assistant|>"), up to "<|endoftext|>" or the template's end marker ("<|end|>", "<|user|>", "### "
 * starting a new section), trimmed of whitespace. Without a header, the whole text up to those markers.
 * Returns a malloc'd string. */
char *ins_extract_response(InsTemplate t, const char *generated);
/* Normal form for scoring: ASCII-lowercased, whitespace runs → one space, trimmed, one final '.' removed
 * (and trimmed again). Returns a malloc'd string. */
char *ins_normalize(const char *s);
/* 1 when normalize(response) == normalize(expected). */
int ins_exact_match(const char *response, const char *expected);
/* 1 when normalize(expected) is non-empty and occurs in normalize(response) at word boundaries (the characters
 * around the match, if any, are not ASCII letters or digits): "the answer is 12" contains "12", "112" does not. */
int ins_contains_answer(const char *response, const char *expected);

typedef struct InsScore {
    int n, n_exact, n_contains;
} InsScore;
/* Scores responses[i] against d->ex[rows[i]].output for i < n and writes one JSON object per line to path,
 * atomically (lw_write_file_atomic): {"instruction","input","expected","response","exact","contains"}
 * (exact and contains as true/false). *score (if not NULL) gets the counts. A NULL response counts as "". */
int ins_write_responses(const char *path, const InsData *d, const int *rows, const char *const *responses, int n,
                        InsScore *score, LwError *e);

#endif
