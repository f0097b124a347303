/* bpe.h — tokenizers: byte-level BPE with exact GPT-2/tiktoken parity, a raw-bytes tokenizer, the book's word
 * tokenizer (chapter 2), and a step-wise BPE trainer for the Tokenizer screen.
 *
 * BPE encoding follows tiktoken: text is split into pieces by the GPT-2 pattern (pretok.h); a piece that is itself
 * a token becomes that token; otherwise it starts as single bytes and the adjacent pair whose concatenated bytes
 * form the token of lowest merge rank is merged, leftmost first, until no adjacent pair forms a token.
 * With GPT-2's files the merge rank of a token equals its id minus 256, exactly tiktoken's rank. */
#ifndef LLMWB_BPE_H
#define LLMWB_BPE_H

#include <stddef.h>

#include "snapshot.h"
#include "util.h"

typedef struct Tokenizer Tokenizer; /* opaque; immutable after load/build, so safe to share across threads */
typedef enum { TOKENIZER_BPE, TOKENIZER_BYTES, TOKENIZER_WORDS } TokenizerKind;

#define TOK_EOT_TEXT "<|endoftext|>"
#define TOK_UNK_TEXT "<|unk|>"

/* Loads GPT-2's encoder.json (token string -> id, strings in GPT-2's byte-to-unicode alphabet) and vocab.bpe
 * ("#version" line, then one merge "left right" per line, in rank order). Also reads HF vocab.json/merges.txt,
 * which have the same content. Every byte must be a token. Errors name the file (and line for merges). */
int tok_load_gpt2(Tokenizer **out, const char *encoder_json, const char *vocab_bpe, LwError *e);
/* Loads a tiktoken rank file ("<base64 bytes> <rank>" per line, ranks 0..n-1); <|endoftext|> gets id n.
 * The merge behind each multi-byte token is recovered by encoding it with lower ranks only. */
int tok_load_tiktoken(Tokenizer **out, const char *path, LwError *e);
/* A directory holding vocab.json+merges.txt (HF names) or encoder.json+vocab.bpe (OpenAI names), or a saved
 * word tokenizer (vocab.json + llmwb_tokenizer.json marker). */
int tok_load_dir(Tokenizer **out, const char *dir, LwError *e);
/* Writes vocab.json + merges.txt (HF GPT-2 format, same content as encoder.json/vocab.bpe) atomically
 * (lw_write_file_atomic), creating dir if needed. For a words tokenizer writes vocab.json only plus the marker
 * llmwb_tokenizer.json so tok_load_dir restores it. */
int tok_save_dir(const Tokenizer *t, const char *dir, LwError *e);
Tokenizer *tok_new_bytes(void);                       /* ids 0..255 = bytes, <|endoftext|> = 256 */
/* The book's word tokenizer: text split on ([,.:;?_!"()']|--|\s), whitespace-only pieces dropped; vocabulary =
 * sorted unique pieces (byte order), then <|endoftext|>, then <|unk|>. */
int tok_new_words(Tokenizer **out, const char *text, size_t len, LwError *e);
void tok_free(Tokenizer *t);
TokenizerKind tok_kind(const Tokenizer *t);
int tok_vocab_size(const Tokenizer *t);               /* including special tokens */
int tok_eot(const Tokenizer *t);                      /* id of <|endoftext|> (50256 for GPT-2), or -1 */
int tok_unk(const Tokenizer *t);                      /* id of <|unk|> (words tokenizer), or -1 */
/* BERT's special tokens (the mlm task, arch bert): [CLS] starts an input, [SEP] ends it, [MASK] hides a token,
 * [PAD] fills a short row. tok_add_bert_specials appends those missing after the last id (so an existing model's
 * ids keep their meaning) and returns how many it added; saved in vocab.json like <|endoftext|> and recognised on
 * load; tok_encode with allow_special turns their text into their ids. The only change to a tokenizer after it is
 * built: call it before the tokenizer is shared. */
enum { TOK_CLS, TOK_SEP, TOK_MASK, TOK_PAD, TOK_N_BERT };
extern const char *const tok_bert_texts[TOK_N_BERT];
int tok_add_bert_specials(Tokenizer *t);
int tok_bert_special(const Tokenizer *t, int which);  /* id of tok_bert_texts[which], or -1 */
int tok_n_merges(const Tokenizer *t);
/* Merge number rank (0-based): left + right -> id; returns 0 when rank is out of range. */
int tok_merge(const Tokenizer *t, int rank, int *left, int *right, int *id);
/* Id of the (non-special) token whose bytes are exactly s[0..n), or -1. */
int tok_lookup(const Tokenizer *t, const void *s, size_t n);

/* Appends ids of text[0..len) to out. allow_special: "<|endoftext|>" in the text becomes the special id (tiktoken's
 * allowed_special={"<|endoftext|>"}); otherwise it is encoded as ordinary text (words tokenizer: <|unk|>).
 * Never fails on any bytes: invalid UTF-8 bytes become their byte tokens. */
void tok_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out);
/* Encodes one pre-tokenized piece with a chosen merge loop (for tests and benchmarks):
 * method 0 = quadratic scan (the reference), 1 = heap (used for long pieces). No whole-piece shortcut. */
void tok_encode_piece(const Tokenizer *t, const unsigned char *p, size_t n, int method, IntVec *out);
/* Bytes of one token (pointer valid for the tokenizer's life), or NULL for an invalid id. Specials give their
 * text ("<|endoftext|>"). */
const unsigned char *tok_bytes(const Tokenizer *t, int id, int *len);
/* Whether tok_decode puts a space before token id when another token precedes it: words tokenizers join words with
 * spaces (not before , . ? ! " ( ) '), byte-level ones never add anything. For text streamed token by token. */
int tok_space_before(const Tokenizer *t, int id);
/* Appends the decoded bytes of ids to a malloc'd NUL-terminated string; returns it (caller frees); invalid ids are
 * skipped. Words tokenizer: tokens joined by spaces, without the space before , . ? ! " ( ) '. */
char *tok_decode(const Tokenizer *t, const int *ids, size_t n, size_t *out_len);
/* Encode one word showing merges applied in order (struct EncodeTrace in src/snapshot.h): step 0 holds its bytes,
 * each later step one merge. Only the first TRACE_MAX_TOKS bytes are traced. Returns LW_OK. */
int tok_encode_trace(const Tokenizer *t, const char *word, size_t len, EncodeTrace *out);

/* ---- step-wise BPE training ----
 * Ids: 0..255 are bytes, merge r makes id 256 + r, and <|endoftext|> is 256 + n_merges (after the last merge).
 * Pair counts include overlapping occurrences ("aaa" counts (a,a) twice), as minbpe and HF do.
 * Ties between pairs of equal count go to the smaller left id, then the smaller right id. */
typedef struct BpeTrainer BpeTrainer;
#define BPE_TRAINER_TOPK 32
typedef struct BpeStepInfo {
    int rank, left, right, new_id; long count;           /* the merge just performed */
    int n_top; struct { int left, right; long count; } top[10]; /* candidates before it, best first (top[0] won) */
} BpeStepInfo;
/* Trainer over text (copied), GPT-2 pre-tokenization, target vocab = 256 bytes + merges + 1 (<|endoftext|>).
 * "<|endoftext|>" in the text is a separator, not trained on. */
int bpe_trainer_open(BpeTrainer **out, const char *text, size_t len, int target_vocab, LwError *e);
void bpe_trainer_close(BpeTrainer *b);
int bpe_trainer_step(BpeTrainer *b, BpeStepInfo *info);  /* 1 merged, 0 done (target reached or no pair count>=2) */
int bpe_trainer_back(BpeTrainer *b);                     /* 1 undone, 0 at start; state equals before that step */
int bpe_trainer_n_merges(const BpeTrainer *b);
int bpe_trainer_target_merges(const BpeTrainer *b);
int bpe_trainer_merge(const BpeTrainer *b, int rank, int *left, int *right, long *count); /* log of merges */
const unsigned char *bpe_trainer_token_bytes(const BpeTrainer *b, int id, int *len);
/* Current candidates, best first, k <= BPE_TRAINER_TOPK; returns how many were written. */
int bpe_trainer_top(const BpeTrainer *b, int k, int *left, int *right, long *count);
long bpe_trainer_n_tokens(const BpeTrainer *b);           /* tokens of the whole text under current merges */
long bpe_trainer_n_bytes(const BpeTrainer *b);
/* The text the trainer works on (owned by the trainer) and its length. */
const char *bpe_trainer_text(const BpeTrainer *b, size_t *len);
/* Segments of the text overlapping [off, off+len): start offset, length, id, and whether the last merge made it.
 * Returns how many were written (at most max). Cost: O(log pieces + segments). */
int bpe_trainer_segments(const BpeTrainer *b, long off, long len, long *starts, int *lens, int *ids, int *just_merged,
                         int max);
Tokenizer *bpe_trainer_build(const BpeTrainer *b);        /* a Tokenizer with the merges so far (caller frees) */

#endif
