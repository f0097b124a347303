/* bpe.c — tokenizers (byte-level BPE, bytes, words) and the step-wise BPE trainer. See bpe.h for contracts. */
#include "bpe.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"

enum { RANK_BYTE = -1, RANK_NONE = -2 }; /* rank[] of single bytes, and of specials / tokens no merge makes */
#define HEAP_MIN_PIECE 64 /* pieces longer than this use the heap merge loop (quadratic scan below) */
#define CACHE_MAX_PIECE 64 /* longer pieces are not cached */

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Token storage: bytes of each id in one blob, and an open-addressing map bytes -> id. */
typedef struct Vocab {
    int n, cap;
    unsigned char *blob;
    size_t blob_len, blob_cap;
    size_t *off;
    int *len;
    uint32_t *slots; /* id + 1, 0 = empty; only ids added with vocab_index */
    size_t mask;
    int n_indexed;
} Vocab;

static int vocab_add(Vocab *v, const void *bytes, size_t n) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 512;
        v->off = lw_realloc(v->off, (size_t)v->cap * sizeof *v->off);
        v->len = lw_realloc(v->len, (size_t)v->cap * sizeof *v->len);
    }
    if (v->blob_len + n > v->blob_cap) {
        v->blob_cap = LW_MAX(v->blob_cap * 2, v->blob_len + n + 4096);
        v->blob = lw_realloc(v->blob, v->blob_cap);
    }
    memcpy(v->blob + v->blob_len, bytes, n);
    v->off[v->n] = v->blob_len;
    v->len[v->n] = (int)n;
    v->blob_len += n;
    return v->n++;
}

static int vocab_find(const Vocab *v, const unsigned char *s, size_t n) {
    if (!v->slots) return -1;
    for (size_t i = hash_bytes(s, n) & v->mask;; i = (i + 1) & v->mask) {
        uint32_t x = v->slots[i];
        if (!x) return -1;
        int id = (int)x - 1;
        if ((size_t)v->len[id] == n && memcmp(v->blob + v->off[id], s, n) == 0) return id;
    }
}

static void vocab_rehash(Vocab *v, size_t want);
/* Makes id findable by its bytes; returns the id already holding those bytes (and leaves it), or id. */
static int vocab_index(Vocab *v, int id) {
    if ((size_t)(v->n_indexed + 1) * 2 > v->mask) vocab_rehash(v, (size_t)(v->n_indexed + 1) * 4);
    const unsigned char *s = v->blob + v->off[id];
    size_t n = (size_t)v->len[id];
    for (size_t i = hash_bytes(s, n) & v->mask;; i = (i + 1) & v->mask) {
        uint32_t x = v->slots[i];
        if (!x) {
            v->slots[i] = (uint32_t)id + 1;
            v->n_indexed++;
            return id;
        }
        int o = (int)x - 1;
        if ((size_t)v->len[o] == n && memcmp(v->blob + v->off[o], s, n) == 0) return o;
    }
}

static void vocab_rehash(Vocab *v, size_t want) {
    size_t cap = 1024;
    while (cap < want) cap *= 2;
    uint32_t *old = v->slots;
    size_t old_n = old ? v->mask + 1 : 0;
    v->slots = lw_calloc(cap, sizeof *v->slots);
    v->mask = cap - 1;
    for (size_t i = 0; i < old_n; i++) {
        if (!old[i]) continue;
        int id = (int)old[i] - 1;
        size_t j = hash_bytes(v->blob + v->off[id], (size_t)v->len[id]) & v->mask;
        while (v->slots[j]) j = (j + 1) & v->mask;
        v->slots[j] = old[i];
    }
    free(old);
}

static void vocab_free(Vocab *v) {
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------------------------------------------------------------------
 * The tokenizer. */
struct Tokenizer {
    TokenizerKind kind;
    Vocab v;        /* all ids, specials included (specials are not indexed) */
    int *rank;      /* per id: merge rank, RANK_BYTE or RANK_NONE */
    int byte_id[256];
    int n_merges;
    int *merge;     /* (n_merges, 3): left, right, id */
    int eot, unk;
    int bert[TOK_N_BERT]; /* ids of [CLS] [SEP] [MASK] [PAD] (tok_add_bert_specials), -1 when absent */
};

const char *const tok_bert_texts[TOK_N_BERT] = {"[CLS]", "[SEP]", "[MASK]", "[PAD]"};

/* Whether id is a special token (its bytes are its text; never indexed, never merged). */
static int tok_is_special(const Tokenizer *t, int id) {
    if (id == t->eot || id == t->unk) return 1;
    for (int k = 0; k < TOK_N_BERT; k++)
        if (id == t->bert[k]) return 1;
    return 0;
}

/* Whether token id's bytes are one of the BERT special texts (added tokens that no merge makes). */
static int tok_is_bert_text(const Tokenizer *t, int id) {
    for (int k = 0; k < TOK_N_BERT; k++) {
        size_t kl = strlen(tok_bert_texts[k]);
        if ((size_t)t->v.len[id] == kl && !memcmp(t->v.blob + t->v.off[id], tok_bert_texts[k], kl)) return 1;
    }
    return 0;
}

/* The first special token text[0..len) holds at or after 0 when allowed (<|endoftext|>, the BERT tokens present):
 * its offset (len when none), id and length. */
static size_t tok_next_special(const Tokenizer *t, const char *text, size_t len, int *id, size_t *n) {
    size_t best = len;
    const char *hit = t->eot >= 0 ? memmem(text, len, TOK_EOT_TEXT, sizeof TOK_EOT_TEXT - 1) : NULL;
    if (hit) best = (size_t)(hit - text), *id = t->eot, *n = sizeof TOK_EOT_TEXT - 1;
    for (int k = 0; k < TOK_N_BERT; k++) {
        if (t->bert[k] < 0) continue;
        size_t kl = strlen(tok_bert_texts[k]);
        hit = memmem(text, best, tok_bert_texts[k], kl); /* only earlier hits matter */
        if (hit) best = (size_t)(hit - text), *id = t->bert[k], *n = kl;
    }
    return best;
}

int tok_add_bert_specials(Tokenizer *t) {
    int added = 0;
    for (int k = 0; k < TOK_N_BERT; k++) {
        if (t->bert[k] >= 0) continue;
        t->bert[k] = vocab_add(&t->v, tok_bert_texts[k], strlen(tok_bert_texts[k]));
        t->rank = lw_realloc(t->rank, (size_t)t->v.n * sizeof *t->rank);
        t->rank[t->bert[k]] = RANK_NONE;
        added++;
    }
    return added;
}

int tok_bert_special(const Tokenizer *t, int which) {
    return which >= 0 && which < TOK_N_BERT ? t->bert[which] : -1;
}

static Tokenizer *tok_alloc(TokenizerKind kind) {
    Tokenizer *t = lw_calloc(1, sizeof *t);
    t->kind = kind;
    t->eot = t->unk = -1;
    for (int k = 0; k < TOK_N_BERT; k++) t->bert[k] = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    return t;
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    vocab_free(&t->v);
    free(t->rank);
    free(t->merge);
    free(t);
}

TokenizerKind tok_kind(const Tokenizer *t) { return t->kind; }
int tok_vocab_size(const Tokenizer *t) { return t->v.n; }
int tok_eot(const Tokenizer *t) { return t->eot; }
int tok_unk(const Tokenizer *t) { return t->unk; }
int tok_n_merges(const Tokenizer *t) { return t->n_merges; }

int tok_merge(const Tokenizer *t, int rank, int *left, int *right, int *id) {
    if (rank < 0 || rank >= t->n_merges) return 0;
    if (left) *left = t->merge[3 * rank];
    if (right) *right = t->merge[3 * rank + 1];
    if (id) *id = t->merge[3 * rank + 2];
    return 1;
}

int tok_lookup(const Tokenizer *t, const void *s, size_t n) { return vocab_find(&t->v, s, n); }

const unsigned char *tok_bytes(const Tokenizer *t, int id, int *len) {
    if (id < 0 || id >= t->v.n) return NULL;
    if (len) *len = t->v.len[id];
    return t->v.blob + t->v.off[id];
}

/* Merge rank of the token spelled s[0..n), or INT_MAX when no merge makes it. */
static int pair_rank(const Tokenizer *t, const unsigned char *s, size_t n) {
    int id = vocab_find(&t->v, s, n);
    if (id < 0 || t->rank[id] < 0) return INT_MAX;
    return t->rank[id];
}

/* Quadratic merge loop over part boundaries (tiktoken's): pos[0..np] are part starts plus the end; r[i] is the rank
 * of parts i and i+1 joined. Merges ranks < max_rank only; returns the number of parts left in pos. */
static int bpe_scan(const Tokenizer *t, const unsigned char *p, size_t n, size_t *pos, int *r, int max_rank) {
    int np = (int)n;
    for (int i = 0; i <= np; i++) pos[i] = (size_t)i;
    for (int i = 0; i + 1 < np; i++) r[i] = pair_rank(t, p + pos[i], pos[i + 2] - pos[i]);
    while (np > 1) {
        int best = INT_MAX, bi = -1;
        for (int i = 0; i + 1 < np; i++)
            if (r[i] < best) best = r[i], bi = i;
        if (bi < 0 || best >= max_rank) break;
        /* drop boundary bi + 1 */
        memmove(pos + bi + 1, pos + bi + 2, (size_t)(np - bi - 1) * sizeof *pos);
        memmove(r + bi + 1, r + bi + 2, (size_t)(LW_MAX(np - bi - 3, 0)) * sizeof *r);
        np--;
        if (bi + 1 < np) r[bi] = pair_rank(t, p + pos[bi], pos[bi + 2] - pos[bi]);
        if (bi > 0) r[bi - 1] = pair_rank(t, p + pos[bi - 1], pos[bi + 1] - pos[bi - 1]);
    }
    return np;
}

/* The heap merge loop for long pieces: a linked list of parts and a min-heap of (rank, start) candidate pairs with
 * lazy deletion. Pops in the same order as the scan (lowest rank, then leftmost), so results are identical. */
typedef struct { int rank; int start, end; } PairCand;
static int cand_less(PairCand a, PairCand b) { return a.rank != b.rank ? a.rank < b.rank : a.start < b.start; }
static void cand_push(PairCand *h, int *hn, PairCand c) {
    int i = (*hn)++;
    while (i > 0 && cand_less(c, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}
static PairCand cand_pop(PairCand *h, int *hn) {
    PairCand top = h[0], last = h[--*hn];
    int i = 0, n = *hn;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_less(h[c + 1], h[c])) c++;
        if (!cand_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0) h[i] = last;
    return top;
}

static int bpe_heap(const Tokenizer *t, const unsigned char *p, size_t n, size_t *pos) {
    int np = (int)n;
    int *next = lw_malloc((n + 1) * sizeof *next), *prev = lw_malloc((n + 1) * sizeof *prev);
    PairCand *h = lw_malloc(2 * (n + 1) * sizeof *h);
    int hn = 0;
    /* part starting at byte i: alive when next[i] >= 0; next[i] = start of following part (n = end) */
    for (int i = 0; i < np; i++) next[i] = i + 1, prev[i] = i - 1;
    for (int i = 0; i + 1 < np; i++) {
        int rk = pair_rank(t, p + i, 2);
        if (rk != INT_MAX) cand_push(h, &hn, (PairCand){rk, i, i + 2});
    }
    while (hn > 0) {
        PairCand c = cand_pop(h, &hn);
        int a = c.start;
        if (next[a] < 0 || next[a] >= np) continue;
        int b = next[a];
        if (next[b] != c.end) continue; /* stale: one of the two parts has changed */
        next[a] = next[b];              /* merge a and b */
        next[b] = -1;
        if (next[a] < np) prev[next[a]] = a;
        if (prev[a] >= 0) {
            int l = prev[a];
            int rk = pair_rank(t, p + l, (size_t)(next[a] - l));
            if (rk != INT_MAX) cand_push(h, &hn, (PairCand){rk, l, next[a]});
        }
        if (next[a] < np) {
            int e = next[next[a]];
            int rk = pair_rank(t, p + a, (size_t)(e - a));
            if (rk != INT_MAX) cand_push(h, &hn, (PairCand){rk, a, e});
        }
    }
    int k = 0;
    for (int i = 0; i < np; i = next[i]) pos[k++] = (size_t)i;
    pos[k] = n;
    free(next);
    free(prev);
    free(h);
    return k;
}

void tok_encode_piece(const Tokenizer *t, const unsigned char *p, size_t n, int method, IntVec *out) {
    if (n == 0) return;
    size_t stack_pos[HEAP_MIN_PIECE + 1];
    int stack_r[HEAP_MIN_PIECE];
    size_t *pos = n <= HEAP_MIN_PIECE ? stack_pos : lw_malloc((n + 1) * sizeof *pos);
    int np;
    if (method == 0) {
        int *r = n <= HEAP_MIN_PIECE ? stack_r : lw_malloc(n * sizeof *r);
        np = bpe_scan(t, p, n, pos, r, INT_MAX);
        if (r != stack_r) free(r);
    } else {
        np = bpe_heap(t, p, n, pos);
    }
    for (int i = 0; i < np; i++) {
        size_t l = pos[i + 1] - pos[i];
        int id = l == 1 ? t->byte_id[p[pos[i]]] : vocab_find(&t->v, p + pos[i], l);
        LW_ASSERT(id >= 0);
        ivec_push(out, id);
    }
    if (pos != stack_pos) free(pos);
}

/* Per-call cache of piece -> ids (keys point into the caller's text), so each distinct word is merged once. */
typedef struct {
    const unsigned char *key;
    uint32_t len, n_ids;
    size_t first; /* into ids */
} CacheEnt;
typedef struct {
    CacheEnt *ents;
    size_t mask, used;
    IntVec ids;
} PieceCache;

static void cache_grow(PieceCache *c) {
    size_t cap = c->ents ? 2 * (c->mask + 1) : 4096;
    CacheEnt *ne = lw_calloc(cap, sizeof *ne);
    for (size_t i = 0; c->ents && i <= c->mask; i++) {
        if (!c->ents[i].key) continue;
        size_t j = hash_bytes(c->ents[i].key, c->ents[i].len) & (cap - 1);
        while (ne[j].key) j = (j + 1) & (cap - 1);
        ne[j] = c->ents[i];
    }
    free(c->ents);
    c->ents = ne;
    c->mask = cap - 1;
}

static void bpe_encode_piece(const Tokenizer *t, PieceCache *c, const unsigned char *p, size_t n, IntVec *out) {
    if (n == 1) {
        ivec_push(out, t->byte_id[p[0]]);
        return;
    }
    int whole = vocab_find(&t->v, p, n);
    if (whole >= 0) {
        ivec_push(out, whole);
        return;
    }
    if (n > CACHE_MAX_PIECE) {
        tok_encode_piece(t, p, n, 1, out);
        return;
    }
    if (!c->ents || (c->used + 1) * 2 > c->mask) cache_grow(c);
    size_t i = hash_bytes(p, n) & c->mask;
    for (; c->ents[i].key; i = (i + 1) & c->mask) {
        CacheEnt *ce = &c->ents[i];
        if (ce->len == n && memcmp(ce->key, p, n) == 0) {
            ivec_reserve(out, out->len + ce->n_ids);
            memcpy(out->data + out->len, c->ids.data + ce->first, ce->n_ids * sizeof(int));
            out->len += ce->n_ids;
            return;
        }
    }
    size_t before = out->len;
    tok_encode_piece(t, p, n, 0, out);
    CacheEnt *ce = &c->ents[i];
    ce->key = p;
    ce->len = (uint32_t)n;
    ce->n_ids = (uint32_t)(out->len - before);
    ce->first = c->ids.len;
    ivec_reserve(&c->ids, c->ids.len + ce->n_ids);
    memcpy(c->ids.data + c->ids.len, out->data + before, ce->n_ids * sizeof(int));
    c->ids.len += ce->n_ids;
    c->used++;
}

static void words_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out);

/* Ordinary text (no specials) of the BPE or bytes tokenizer. */
static void bpe_encode_ordinary(const Tokenizer *t, PieceCache *c, const char *text, size_t len, IntVec *out) {
    const unsigned char *s = (const unsigned char *)text;
    if (t->kind == TOKENIZER_BYTES) {
        ivec_reserve(out, out->len + len);
        for (size_t i = 0; i < len; i++) out->data[out->len++] = t->byte_id[s[i]];
        return;
    }
    PretokIter it;
    pretok_iter_init(&it, text, len, 0);
    size_t st, n;
    while (pretok_next(&it, &st, &n)) bpe_encode_piece(t, c, s + st, n, out);
    pretok_iter_free(&it);
}

void tok_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out) {
    if (t->kind == TOKENIZER_WORDS) {
        words_encode(t, text, len, allow_special, out);
        return;
    }
    PieceCache c = {0};
    size_t i = 0;
    while (i < len) {
        int id = -1;
        size_t n = 0, end = allow_special ? i + tok_next_special(t, text + i, len - i, &id, &n) : len;
        bpe_encode_ordinary(t, &c, text + i, end - i, out);
        i = end;
        if (end < len) {
            ivec_push(out, id);
            i += n;
        }
    }
    free(c.ents);
    ivec_free(&c.ids);
}

static int words_no_space_before(const unsigned char *s, int n) {
    return n > 0 && strchr(",.?!\"()'", s[0]) != NULL;
}

int tok_space_before(const Tokenizer *t, int id) {
    int len;
    const unsigned char *b = tok_bytes(t, id, &len);
    return t->kind == TOKENIZER_WORDS && b && !words_no_space_before(b, len);
}

char *tok_decode(const Tokenizer *t, const int *ids, size_t n, size_t *out_len) {
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->v.n) total += (size_t)t->v.len[ids[i]] + 1;
    char *s = lw_malloc(total);
    size_t k = 0;
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        int len;
        const unsigned char *b = tok_bytes(t, ids[i], &len);
        if (!b) continue;
        if (!first && tok_space_before(t, ids[i])) s[k++] = ' ';
        memcpy(s + k, b, (size_t)len);
        k += (size_t)len;
        first = 0;
    }
    s[k] = 0;
    if (out_len) *out_len = k;
    return s;
}

int tok_encode_trace(const Tokenizer *t, const char *word, size_t len, EncodeTrace *out) {
    memset(out, 0, sizeof *out);
    const unsigned char *p = (const unsigned char *)word;
    size_t n = LW_MIN(len, (size_t)TRACE_MAX_TOKS);
    if (t->kind == TOKENIZER_WORDS) {
        IntVec v = {0};
        tok_encode(t, word, len, 1, &v);
        out->n_steps = 1;
        out->merge_rank[0] = -1;
        for (size_t i = 0; i < v.len && i < TRACE_MAX_TOKS; i++) out->ids[0][out->n_toks[0]++] = v.data[i];
        ivec_free(&v);
        return LW_OK;
    }
    size_t pos[TRACE_MAX_TOKS + 1];
    int r[TRACE_MAX_TOKS];
    int np = (int)n;
    for (int i = 0; i <= np; i++) pos[i] = (size_t)i;
    for (;;) {
        int st = out->n_steps++;
        out->n_toks[st] = np;
        for (int i = 0; i < np; i++) {
            size_t l = pos[i + 1] - pos[i];
            out->ids[st][i] = l == 1 ? t->byte_id[p[pos[i]]] : vocab_find(&t->v, p + pos[i], l);
        }
        if (st == 0) out->merge_rank[0] = -1;
        if (np < 2 || out->n_steps == TRACE_MAX_STEPS || t->kind == TOKENIZER_BYTES) break;
        int best = INT_MAX, bi = -1;
        for (int i = 0; i + 1 < np; i++) {
            r[i] = pair_rank(t, p + pos[i], pos[i + 2] - pos[i]);
            if (r[i] < best) best = r[i], bi = i;
        }
        if (bi < 0) break;
        memmove(pos + bi + 1, pos + bi + 2, (size_t)(np - bi - 1) * sizeof *pos);
        np--;
        out->merge_rank[st + 1] = best;
    }
    return LW_OK;
}

/* ---------------------------------------------------------------------------------------------------------------
 * GPT-2's byte <-> unicode alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes map in order
 * to U+0100 upwards, so every token is a printable string in encoder.json / vocab.json / merges.txt. */
static void gpt2_alphabet(int b2u[256], int u2b[512]) {
    int k = 0;
    for (int i = 0; i < 512; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = printable ? b : 256 + k++;
        u2b[b2u[b]] = b;
    }
}

/* Decodes a token string of the alphabet into bytes (out must hold n bytes); returns the length or -1. */
static int gpt2_unmap(const int u2b[512], const char *s, size_t n, unsigned char *out) {
    size_t i = 0;
    int k = 0;
    while (i < n) {
        int l = lw_utf8_len((const unsigned char *)s + i, n - i);
        if (!l) return -1;
        unsigned cp = (unsigned char)s[i];
        if (l > 1) {
            cp &= 0x7F >> l;
            for (int j = 1; j < l; j++) cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3F);
        }
        if (cp >= 512 || u2b[cp] < 0) return -1;
        out[k++] = (unsigned char)u2b[cp];
        i += (size_t)l;
    }
    return k;
}

/* Appends the alphabet spelling of bytes to a buffer (capacity 2 bytes per input byte + 1). */
static size_t gpt2_map(const int b2u[256], const unsigned char *b, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int u = b2u[b[i]];
        if (u < 0x80) out[k++] = (char)u;
        else {
            out[k++] = (char)(0xC0 | (u >> 6));
            out[k++] = (char)(0x80 | (u & 0x3F));
        }
    }
    out[k] = 0;
    return k;
}

/* Builds the id-indexed vocabulary from (bytes, id) entries already placed; shared by the loaders. Checks that ids
 * are 0..n-1 without gaps and that every byte is a token. */
static int tok_finish(Tokenizer *t, const char *what, LwError *e) {
    for (int id = 0; id < t->v.n; id++) {
        if (tok_is_special(t, id)) continue;
        if (t->v.len[id] < 0) return lw_fail(e, LW_ERR_PARSE, "%s: id %d is missing", what, id);
        if (t->v.len[id] == 0) return lw_fail(e, LW_ERR_PARSE, "%s: id %d is an empty token", what, id);
        int o = vocab_index(&t->v, id);
        if (o != id) return lw_fail(e, LW_ERR_PARSE, "%s: ids %d and %d have the same bytes", what, o, id);
        if (t->v.len[id] == 1) t->byte_id[t->v.blob[t->v.off[id]]] = id;
    }
    if (t->kind != TOKENIZER_WORDS)
        for (int b = 0; b < 256; b++)
            if (t->byte_id[b] < 0) return lw_fail(e, LW_ERR_PARSE, "%s: byte 0x%02x has no token", what, b);
    return LW_OK;
}

/* Placement of (bytes, id) pairs in any order: tokens are first collected, then laid out by id. */
typedef struct { int id; size_t off; int len; } Placed;

static void tok_layout(Tokenizer *t, const unsigned char *blob, const Placed *pl, int n, int n_ids) {
    /* ids without an entry get len -1 so tok_finish reports them */
    Vocab *v = &t->v;
    v->cap = n_ids;
    v->off = lw_calloc((size_t)n_ids, sizeof *v->off);
    v->len = lw_malloc((size_t)n_ids * sizeof *v->len);
    for (int i = 0; i < n_ids; i++) v->len[i] = -1;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)pl[i].len;
    v->blob = lw_malloc(total + 1);
    v->blob_cap = total + 1;
    for (int i = 0; i < n; i++) {
        memcpy(v->blob + v->blob_len, blob + pl[i].off, (size_t)pl[i].len);
        v->off[pl[i].id] = v->blob_len;
        v->len[pl[i].id] = pl[i].len;
        v->blob_len += (size_t)pl[i].len;
    }
    v->n = n_ids;
    t->rank = lw_malloc((size_t)n_ids * sizeof *t->rank);
    for (int i = 0; i < n_ids; i++) t->rank[i] = RANK_NONE;
}

/* Reads a JSON object {token: id}; fills entries (bytes in the GPT-2 alphabet decoded) and the specials. */
static int read_vocab_json(Tokenizer *t, const char *path, int words, LwError *e) {
    char *data;
    size_t n;
    int rc = lw_read_file(path, &data, &n, e);
    if (rc) return rc;
    cJSON *root = cJSON_ParseWithLength(data, n);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = ep && ep >= data && ep <= data + n ? (long)(ep - data) : 0;
        free(data);
        return lw_fail(e, LW_ERR_PARSE, "%s: not valid JSON (error near byte %ld)", path, at);
    }
    if (!cJSON_IsObject(root)) {
        const char *what = cJSON_IsArray(root) ? "an array" : cJSON_IsString(root) ? "a string"
                           : cJSON_IsNumber(root) ? "a number" : cJSON_IsNull(root) ? "null" : "a boolean";
        cJSON_Delete(root);
        free(data);
        return lw_fail(e, LW_ERR_PARSE, "%s: expected a JSON object of token ids {\"token\": id, ...}, got %s", path,
                       what);
    }
    free(data);
    int b2u[256], u2b[512];
    gpt2_alphabet(b2u, u2b);
    int count = cJSON_GetArraySize(root), np = 0, max_id = -1;
    Placed *pl = lw_malloc((size_t)(count + 1) * sizeof *pl);
    size_t cap = 1 << 16, len = 0;
    unsigned char *blob = lw_malloc(cap);
    rc = LW_OK;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *key = it->string;
        size_t kl = strlen(key);
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1e8 ||
            it->valuedouble != (double)(int)it->valuedouble) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s: token \"%.40s\": id is not a non-negative integer", path, key);
            break;
        }
        int id = (int)it->valuedouble;
        if (len + kl + 1 > cap) blob = lw_realloc(blob, cap = 2 * cap + kl);
        int bl;
        int bert = -1;
        for (int k = 0; k < TOK_N_BERT; k++)
            if (!strcmp(key, tok_bert_texts[k])) bert = k;
        if (!strcmp(key, TOK_EOT_TEXT) || (words && !strcmp(key, TOK_UNK_TEXT)) || bert >= 0) {
            if (bert >= 0) t->bert[bert] = id;
            else if (key[2] == 'e') t->eot = id;
            else t->unk = id;
            memcpy(blob + len, key, kl);
            bl = (int)kl;
        } else {
            bl = gpt2_unmap(u2b, key, kl, blob + len);
            if (bl <= 0) {
                rc = lw_fail(e, LW_ERR_PARSE, "%s: token \"%.40s\" is not in GPT-2's byte alphabet", path, key);
                break;
            }
        }
        pl[np++] = (Placed){id, len, bl};
        len += (size_t)bl;
        max_id = LW_MAX(max_id, id);
    }
    cJSON_Delete(root);
    if (rc == LW_OK && np == 0) rc = lw_fail(e, LW_ERR_PARSE, "%s: empty vocabulary", path);
    if (rc == LW_OK && max_id >= np) rc = lw_fail(e, LW_ERR_PARSE, "%s: ids are not 0..%d (found id %d)", path,
                                                  np - 1, max_id);
    if (rc == LW_OK) tok_layout(t, blob, pl, np, np); /* a duplicate id leaves a hole that tok_finish reports */
    free(pl);
    free(blob);
    return rc;
}

int tok_load_gpt2(Tokenizer **out, const char *encoder_json, const char *vocab_bpe, LwError *e) {
    *out = NULL;
    Tokenizer *t = tok_alloc(TOKENIZER_BPE);
    int rc = read_vocab_json(t, encoder_json, 0, e);
    if (!rc) rc = tok_finish(t, encoder_json, e);
    for (int i = 0; !rc && i < t->v.n; i++)
        if (t->v.len[i] == 1 && i != t->eot) t->rank[i] = RANK_BYTE;
    char *data = NULL;
    size_t n = 0;
    if (!rc) rc = lw_read_file(vocab_bpe, &data, &n, e);
    if (!rc) {
        int b2u[256], u2b[512];
        gpt2_alphabet(b2u, u2b);
        int cap = 1024, line = 0;
        t->merge = lw_malloc((size_t)cap * 3 * sizeof *t->merge);
        unsigned char *buf = lw_malloc(n + 1);
        char *p = data, *end = data + n;
        while (p < end && !rc) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            char *le = nl ? nl : end;
            line++;
            size_t ll = (size_t)(le - p);
            if (ll && p[ll - 1] == '\r') ll--;
            char *sp = memchr(p, ' ', ll);
            if (line == 1 && ll >= 8 && !memcmp(p, "#version", 8)) {
                /* header */
            } else if (ll == 0) {
                /* blank line (trailing newline) */
            } else if (!sp || memchr(sp + 1, ' ', ll - (size_t)(sp + 1 - p))) {
                rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: expected \"left right\"", vocab_bpe, line);
            } else {
                int la = gpt2_unmap(u2b, p, (size_t)(sp - p), buf);
                int lb = la > 0 ? gpt2_unmap(u2b, sp + 1, ll - (size_t)(sp + 1 - p), buf + la) : -1;
                int a = la > 0 ? vocab_find(&t->v, buf, (size_t)la) : -1;
                int b = lb > 0 ? vocab_find(&t->v, buf + la, (size_t)lb) : -1;
                int id = a >= 0 && b >= 0 ? vocab_find(&t->v, buf, (size_t)(la + lb)) : -1;
                if (la <= 0 || lb <= 0)
                    rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: not in GPT-2's byte alphabet", vocab_bpe, line);
                else if (a < 0 || b < 0)
                    rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: merge of a token missing from %s", vocab_bpe, line,
                                 encoder_json);
                else if (id < 0)
                    rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: merged token missing from %s", vocab_bpe, line,
                                 encoder_json);
                else {
                    if (t->n_merges == cap) t->merge = lw_realloc(t->merge, (size_t)(cap *= 2) * 3 * sizeof(int));
                    int r = t->n_merges++;
                    t->merge[3 * r] = a;
                    t->merge[3 * r + 1] = b;
                    t->merge[3 * r + 2] = id;
                    if (t->rank[id] == RANK_NONE) t->rank[id] = r; /* a repeated merge keeps its first rank */
                }
            }
            p = nl ? nl + 1 : end;
        }
        free(buf);
    }
    free(data);
    /* Every token longer than a byte is made by a merge; an empty or cut merges file leaves some unreachable. */
    if (!rc) {
        int orphans = 0, first = -1;
        for (int id = 0; id < t->v.n; id++)
            if (!tok_is_special(t, id) && !tok_is_bert_text(t, id) && t->v.len[id] > 1 && t->rank[id] == RANK_NONE &&
                orphans++ == 0)
                first = id;
        if (orphans && t->n_merges == 0)
            rc = lw_fail(e, LW_ERR_PARSE, "%s: no merges (an empty file?), so %d tokens of %s can never be made", vocab_bpe,
                         orphans, encoder_json);
        else if (orphans)
            rc = lw_fail(e, LW_ERR_PARSE, "%s: no merge makes %d of the tokens of %s (first: id %d); a cut file?",
                         vocab_bpe, orphans, encoder_json, first);
    }
    if (rc) {
        tok_free(t);
        return rc;
    }
    if (t->n_merges == 0 && t->v.n == 257 && t->eot == 256) {
        int natural = 1;
        for (int b = 0; b < 256; b++) natural &= t->byte_id[b] == b;
        if (natural) t->kind = TOKENIZER_BYTES;
    }
    *out = t;
    return LW_OK;
}

static int b64_val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes base64 s[0..n) into out; returns the length or -1. */
static int b64_decode(const char *s, size_t n, unsigned char *out) {
    int k = 0, bits = 0;
    unsigned acc = 0;
    size_t i = 0;
    for (; i < n && s[i] != '='; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(acc >> bits);
        }
    }
    for (; i < n; i++)
        if (s[i] != '=') return -1;
    return k;
}

int tok_load_tiktoken(Tokenizer **out, const char *path, LwError *e) {
    *out = NULL;
    char *data;
    size_t n;
    int rc = lw_read_file(path, &data, &n, e);
    if (rc) return rc;
    Tokenizer *t = tok_alloc(TOKENIZER_BPE);
    int cap = 1024, np = 0, line = 0, max_id = -1;
    Placed *pl = lw_malloc((size_t)cap * sizeof *pl);
    unsigned char *blob = lw_malloc(n + sizeof TOK_EOT_TEXT);
    size_t len = 0;
    char *p = data, *end = data + n;
    while (p < end && !rc) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r') ll--;
        if (ll) {
            char *sp = memchr(p, ' ', ll);
            char *num_end = NULL;
            long id = sp ? strtol(sp + 1, &num_end, 10) : -1;
            int bl = sp ? b64_decode(p, (size_t)(sp - p), blob + len) : -1;
            if (!sp || bl <= 0 || num_end != p + ll || id < 0 || id > 100000000)
                rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: expected \"<base64 token> <rank>\"", path, line);
            else {
                if (np + 1 >= cap) pl = lw_realloc(pl, (size_t)(cap *= 2) * sizeof *pl);
                pl[np++] = (Placed){(int)id, len, bl};
                len += (size_t)bl;
                max_id = LW_MAX(max_id, (int)id);
            }
        }
        p = nl ? nl + 1 : end;
    }
    free(data);
    if (!rc && max_id != np - 1) rc = lw_fail(e, LW_ERR_PARSE, "%s: ranks are not 0..%d", path, np - 1);
    if (!rc) {
        memcpy(blob + len, TOK_EOT_TEXT, sizeof TOK_EOT_TEXT - 1);
        pl[np++] = (Placed){max_id + 1, len, (int)sizeof TOK_EOT_TEXT - 1};
        t->eot = max_id + 1;
        tok_layout(t, blob, pl, np, np);
        rc = tok_finish(t, path, e);
    }
    free(pl);
    free(blob);
    if (!rc) {
        /* Merge ranks follow ids; the parts of each multi-byte token come from encoding it with lower ranks. */
        int nt = t->v.n - 1, r = 0;
        for (int id = 0; id < nt; id++) t->rank[id] = t->v.len[id] == 1 ? RANK_BYTE : INT_MAX;
        t->merge = lw_malloc((size_t)nt * 3 * sizeof *t->merge);
        size_t *pos = NULL;
        int *rk = NULL, maxlen = 0;
        for (int id = 0; id < nt; id++) maxlen = LW_MAX(maxlen, t->v.len[id]);
        pos = lw_malloc((size_t)(maxlen + 1) * sizeof *pos);
        rk = lw_malloc((size_t)(maxlen + 1) * sizeof *rk);
        for (int id = 0; id < nt && !rc; id++) {
            if (t->v.len[id] == 1) continue;
            const unsigned char *b = t->v.blob + t->v.off[id];
            t->rank[id] = r;
            int parts = bpe_scan(t, b, (size_t)t->v.len[id], pos, rk, r);
            if (parts != 2) {
                rc = lw_fail(e, LW_ERR_PARSE, "%s: token of rank %d is not a merge of two lower-ranked tokens", path,
                             id);
                break;
            }
            t->merge[3 * r] = vocab_find(&t->v, b, pos[1]);
            t->merge[3 * r + 1] = vocab_find(&t->v, b + pos[1], pos[2] - pos[1]);
            t->merge[3 * r + 2] = id;
            r++;
        }
        t->n_merges = r;
        free(pos);
        free(rk);
    }
    if (rc) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return LW_OK;
}

#define WORDS_MARKER "llmwb_tokenizer.json"

static int words_load(Tokenizer **out, const char *vocab_json, LwError *e);

int tok_load_dir(Tokenizer **out, const char *dir, LwError *e) {
    char a[4096], b[4096], m[4096];
    *out = NULL;
    lw_path_join(m, sizeof m, dir, WORDS_MARKER);
    if (lw_file_exists(m)) return words_load(out, lw_path_join(a, sizeof a, dir, "vocab.json"), e);
    static const char *const pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int i = 0; i < 2; i++) {
        lw_path_join(a, sizeof a, dir, pairs[i][0]);
        lw_path_join(b, sizeof b, dir, pairs[i][1]);
        if (lw_file_exists(a) && lw_file_exists(b)) return tok_load_gpt2(out, a, b, e);
    }
    /* something in place of a tokenizer file (a directory, a FIFO, a symlink loop): say what it is */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            const char *why = lw_file_problem(lw_path_join(a, sizeof a, dir, pairs[i][j]));
            if (why && strcmp(why, "no such file") != 0)
                return lw_fail(e, LW_ERR_IO, "%s: is %s, not a tokenizer file", a, why);
        }
    return lw_fail(e, LW_ERR_IO, "%s: no tokenizer here (expected vocab.json + merges.txt or encoder.json + vocab.bpe)",
                   dir);
}

/* vocab.json text: {"token": id, ...} in id order, tokens in the GPT-2 alphabet (specials as themselves). */
static char *vocab_json_text(const Tokenizer *t, size_t *len) {
    int b2u[256], u2b[512];
    gpt2_alphabet(b2u, u2b);
    size_t cap = 64;
    for (int id = 0; id < t->v.n; id++) cap += 2 * (size_t)t->v.len[id] * 6 + 24;
    char *s = lw_malloc(cap), *tmp = lw_malloc(2 * 4096 + 1);
    size_t k = 0;
    s[k++] = '{';
    for (int id = 0; id < t->v.n; id++) {
        const unsigned char *b = t->v.blob + t->v.off[id];
        int n = t->v.len[id];
        if (2 * (size_t)n + 1 > 2 * 4096 + 1) tmp = lw_realloc(tmp, 2 * (size_t)n + 1);
        if (tok_is_special(t, id)) memcpy(tmp, b, (size_t)n), tmp[n] = 0;
        else gpt2_map(b2u, b, (size_t)n, tmp);
        if (id) s[k++] = ',';
        s[k++] = '"';
        for (char *c = tmp; *c; c++) { /* the alphabet has no controls; only " and \ need escapes */
            if (*c == '"' || *c == '\\') s[k++] = '\\';
            s[k++] = *c;
        }
        k += (size_t)sprintf(s + k, "\":%d", id);
    }
    s[k++] = '}';
    s[k] = 0;
    free(tmp);
    *len = k;
    return s;
}

int tok_save_dir(const Tokenizer *t, const char *dir, LwError *e) {
    int rc = lw_mkdirs(dir, e);
    if (rc) return rc;
    char path[4096];
    size_t len;
    char *vj = vocab_json_text(t, &len);
    rc = lw_write_file_atomic(lw_path_join(path, sizeof path, dir, "vocab.json"), vj, len, e);
    free(vj);
    if (rc) return rc;
    if (t->kind == TOKENIZER_WORDS) {
        static const char marker[] = "{\"kind\": \"words\", \"format\": 1}\n";
        return lw_write_file_atomic(lw_path_join(path, sizeof path, dir, WORDS_MARKER), marker, sizeof marker - 1, e);
    }
    int b2u[256], u2b[512];
    gpt2_alphabet(b2u, u2b);
    size_t cap = 32;
    for (int r = 0; r < t->n_merges; r++)
        cap += 2 * (size_t)(t->v.len[t->merge[3 * r]] + t->v.len[t->merge[3 * r + 1]]) + 2;
    char *s = lw_malloc(cap);
    size_t k = (size_t)sprintf(s, "#version: 0.2\n");
    for (int r = 0; r < t->n_merges; r++) {
        int a = t->merge[3 * r], b = t->merge[3 * r + 1];
        k += gpt2_map(b2u, t->v.blob + t->v.off[a], (size_t)t->v.len[a], s + k);
        s[k++] = ' ';
        k += gpt2_map(b2u, t->v.blob + t->v.off[b], (size_t)t->v.len[b], s + k);
        s[k++] = '\n';
    }
    rc = lw_write_file_atomic(lw_path_join(path, sizeof path, dir, "merges.txt"), s, k, e);
    free(s);
    return rc;
}

Tokenizer *tok_new_bytes(void) {
    Tokenizer *t = tok_alloc(TOKENIZER_BYTES);
    t->rank = lw_malloc(257 * sizeof *t->rank);
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        vocab_add(&t->v, &c, 1);
        t->rank[b] = RANK_BYTE;
    }
    t->eot = vocab_add(&t->v, TOK_EOT_TEXT, sizeof TOK_EOT_TEXT - 1);
    t->rank[t->eot] = RANK_NONE;
    LwError e;
    LW_ASSERT(tok_finish(t, "bytes", &e) == LW_OK);
    return t;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The book's word tokenizer. Pieces: the text split on , . : ; ? _ ! " ( ) ' -- and whitespace, delimiters kept
 * as pieces except whitespace. Whitespace here is ASCII (\t..\r, space, \x1c..\x1f); other bytes stay in words. */
static int words_is_space(unsigned char c) { return (c >= '\t' && c <= '\r') || c == ' ' || (c >= 0x1c && c <= 0x1f); }
static int words_is_punct(unsigned char c) { return c && strchr(",.:;?_!\"()'", c) != NULL; }

/* Calls fn on each piece of s[0..n). */
static void words_split(const char *s, size_t n, void (*fn)(void *, const char *, size_t), void *ud) {
    size_t i = 0, start = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t dl = 0;
        if (words_is_space(c) || words_is_punct(c)) dl = 1;
        else if (c == '-' && i + 1 < n && s[i + 1] == '-') dl = 2;
        if (!dl) {
            i++;
            continue;
        }
        if (i > start) fn(ud, s + start, i - start);
        if (!words_is_space(c)) fn(ud, s + i, dl);
        i += dl;
        start = i;
    }
    if (n > start) fn(ud, s + start, n - start);
}

static void words_collect(void *ud, const char *p, size_t n) {
    Vocab *v = ud;
    if ((n == sizeof TOK_EOT_TEXT - 1 && !memcmp(p, TOK_EOT_TEXT, n)) ||
        (n == sizeof TOK_UNK_TEXT - 1 && !memcmp(p, TOK_UNK_TEXT, n)))
        return;
    if (vocab_find(v, (const unsigned char *)p, n) >= 0) return;
    int id = vocab_add(v, p, n);
    vocab_index(v, id);
}

typedef struct { const unsigned char *p; int len, idx; } WordKey;
static int words_cmp(const void *a, const void *b) {
    const WordKey *x = a, *y = b;
    int c = memcmp(x->p, y->p, (size_t)LW_MIN(x->len, y->len));
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int tok_new_words(Tokenizer **out, const char *text, size_t len, LwError *e) {
    Vocab tmp = {0};
    words_split(text, len, words_collect, &tmp);
    WordKey *order = lw_malloc((size_t)(tmp.n + 1) * sizeof *order);
    for (int i = 0; i < tmp.n; i++) order[i] = (WordKey){tmp.blob + tmp.off[i], tmp.len[i], i};
    qsort(order, (size_t)tmp.n, sizeof *order, words_cmp);
    Tokenizer *t = tok_alloc(TOKENIZER_WORDS);
    t->rank = lw_malloc((size_t)(tmp.n + 2) * sizeof *t->rank);
    for (int i = 0; i < tmp.n; i++) {
        vocab_add(&t->v, order[i].p, (size_t)order[i].len);
        t->rank[i] = RANK_NONE;
    }
    t->eot = vocab_add(&t->v, TOK_EOT_TEXT, sizeof TOK_EOT_TEXT - 1);
    t->unk = vocab_add(&t->v, TOK_UNK_TEXT, sizeof TOK_UNK_TEXT - 1);
    t->rank[t->eot] = t->rank[t->unk] = RANK_NONE;
    free(order);
    vocab_free(&tmp);
    int rc = tok_finish(t, "words", e);
    if (rc) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return LW_OK;
}

typedef struct { const Tokenizer *t; IntVec *out; int allow_special; } WordsEnc;
static void words_encode_piece(void *ud, const char *p, size_t n) {
    WordsEnc *w = ud;
    int id = vocab_find(&w->t->v, (const unsigned char *)p, n);
    ivec_push(w->out, id >= 0 ? id : w->t->unk);
}

static void words_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, IntVec *out) {
    WordsEnc w = {t, out, allow_special};
    size_t i = 0;
    while (i < len) { /* a special token separates like whitespace and becomes the special id when allowed */
        int id = -1;
        size_t n = 0, end = allow_special ? i + tok_next_special(t, text + i, len - i, &id, &n) : len;
        words_split(text + i, end - i, words_encode_piece, &w);
        i = end;
        if (end < len) {
            ivec_push(out, id);
            i += n;
        }
    }
}

static int words_load(Tokenizer **out, const char *vocab_json, LwError *e) {
    Tokenizer *t = tok_alloc(TOKENIZER_WORDS);
    int rc = read_vocab_json(t, vocab_json, 1, e);
    if (!rc) rc = tok_finish(t, vocab_json, e);
    if (!rc && (t->eot < 0 || t->unk < 0))
        rc = lw_fail(e, LW_ERR_PARSE, "%s: a word vocabulary needs %s and %s", vocab_json, TOK_EOT_TEXT, TOK_UNK_TEXT);
    if (rc) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return LW_OK;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The step-wise trainer.
 *
 * The text is pre-tokenized once; equal pieces become one word with a count, and seq[] keeps the word of every
 * piece in text order (with its start offset) so segments of any window can be listed.
 * Pair counts live in a hash table; each pair also lists the words it occurs in (append-only, may hold stale or
 * repeated entries, checked when used). A merge visits only the words of its pair and updates counts locally.
 * The best pair comes from a max-heap with lazy entries: an entry is pushed whenever a pair's count rises, and a
 * popped entry whose count is above the pair's true count is re-pushed with the true count, so every pair with a
 * positive count always has an entry at least as high as its count.
 * Undo: each step logs the previous token sequence of every word it changed; going back restores those words and
 * their pair counts, which leaves counts, merges and candidates exactly as before the step. */
typedef struct TWord {
    int *tok, len;
    long count;
    unsigned stamp;
} TWord;

typedef struct HeapEnt { long count; int a, b; int pair; } HeapEnt;

struct BpeTrainer {
    char *text;
    size_t n;
    int target_merges;
    TWord *words;
    int n_words;
    int *seq;        /* word of each piece, -1 for <|endoftext|> */
    long *seq_start; /* byte offset of each piece */
    long n_seq;
    Vocab v;         /* ids 0..255 bytes, then one per merge */
    int *m_left, *m_right;
    long *m_count;
    int n_merges;
    /* pairs */
    int *pa, *pb;
    long *pcount;
    IntVec *pwords;
    int n_pairs, cap_pairs;
    int *pslot; /* pair index + 1 */
    size_t pmask;
    /* per-step scratch: pairs touched and their counts before the step */
    long *pbefore;
    unsigned *ptouch;
    IntVec touched;
    unsigned visit;
    /* heap */
    HeapEnt *heap;
    int hn, hcap;
    /* undo log: per step, records (w, old_len, old tokens...) */
    IntVec undo;
    size_t *undo_off;
    long n_tokens;
    long n_special;
    int n_top;
    HeapEnt top[BPE_TRAINER_TOPK];
};

static uint64_t pair_hash(int a, int b) {
    uint64_t h = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 31);
}

static void pairs_rehash(BpeTrainer *b) {
    size_t cap = b->pslot ? 2 * (b->pmask + 1) : 1 << 14;
    free(b->pslot);
    b->pslot = lw_calloc(cap, sizeof *b->pslot);
    b->pmask = cap - 1;
    for (int i = 0; i < b->n_pairs; i++) {
        size_t j = pair_hash(b->pa[i], b->pb[i]) & b->pmask;
        while (b->pslot[j]) j = (j + 1) & b->pmask;
        b->pslot[j] = i + 1;
    }
}

/* Index of pair (x, y), created with count 0 when absent (create) or -1. */
static int pair_get(BpeTrainer *b, int x, int y, int create) {
    if (!b->pslot || (size_t)(b->n_pairs + 1) * 2 > b->pmask) {
        if (!create && b->pslot) goto find;
        pairs_rehash(b);
    }
find:;
    size_t j = pair_hash(x, y) & b->pmask;
    for (; b->pslot[j]; j = (j + 1) & b->pmask) {
        int i = b->pslot[j] - 1;
        if (b->pa[i] == x && b->pb[i] == y) return i;
    }
    if (!create) return -1;
    if (b->n_pairs == b->cap_pairs) {
        b->cap_pairs = b->cap_pairs ? 2 * b->cap_pairs : 1 << 12;
        size_t c = (size_t)b->cap_pairs;
        b->pa = lw_realloc(b->pa, c * sizeof *b->pa);
        b->pb = lw_realloc(b->pb, c * sizeof *b->pb);
        b->pcount = lw_realloc(b->pcount, c * sizeof *b->pcount);
        b->pwords = lw_realloc(b->pwords, c * sizeof *b->pwords);
        b->pbefore = lw_realloc(b->pbefore, c * sizeof *b->pbefore);
        b->ptouch = lw_realloc(b->ptouch, c * sizeof *b->ptouch);
    }
    int i = b->n_pairs++;
    b->pa[i] = x;
    b->pb[i] = y;
    b->pcount[i] = 0;
    memset(&b->pwords[i], 0, sizeof b->pwords[i]);
    b->ptouch[i] = 0;
    b->pslot[j] = i + 1;
    return i;
}

/* Heap order: higher count first, then smaller left id, then smaller right id. */
static int heap_before(const HeapEnt *x, const HeapEnt *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}
static void heap_push(BpeTrainer *b, HeapEnt e) {
    if (b->hn == b->hcap) b->heap = lw_realloc(b->heap, (size_t)(b->hcap = b->hcap ? 2 * b->hcap : 1 << 12) * sizeof e);
    int i = b->hn++;
    while (i > 0 && heap_before(&e, &b->heap[(i - 1) / 2])) {
        b->heap[i] = b->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    b->heap[i] = e;
}
static HeapEnt heap_pop(BpeTrainer *b) {
    HeapEnt top = b->heap[0], last = b->heap[--b->hn];
    int i = 0, n = b->hn;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&b->heap[c + 1], &b->heap[c])) c++;
        if (!heap_before(&b->heap[c], &last)) break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (n > 0) b->heap[i] = last;
    return top;
}

/* Refreshes the cached candidates: pops valid entries (fixing stale ones), then pushes the valid ones back. */
static void trainer_refresh_top(BpeTrainer *b) {
    b->n_top = 0;
    while (b->hn > 0 && b->n_top < BPE_TRAINER_TOPK) {
        HeapEnt e = heap_pop(b);
        long actual = b->pcount[e.pair];
        if (actual > e.count) continue; /* a newer, higher entry exists */
        if (actual < e.count) {
            if (actual > 0) heap_push(b, (HeapEnt){actual, e.a, e.b, e.pair});
            continue;
        }
        if (actual <= 0) continue;
        int dup = 0;
        for (int i = 0; i < b->n_top; i++) dup |= b->top[i].pair == e.pair;
        if (!dup) b->top[b->n_top++] = e;
    }
    for (int i = 0; i < b->n_top; i++) heap_push(b, b->top[i]);
}

/* Adds d * (pairs of tok[0..len)) to the counts, remembering each pair's count before the step. */
static void trainer_count_word(BpeTrainer *b, const int *tok, int len, long d) {
    for (int i = 0; i + 1 < len; i++) {
        int p = pair_get(b, tok[i], tok[i + 1], 1);
        if (b->ptouch[p] != b->visit) {
            b->ptouch[p] = b->visit;
            b->pbefore[p] = b->pcount[p];
            ivec_push(&b->touched, p);
        }
        b->pcount[p] += d;
    }
}

/* After a step or an undo: push an entry for every pair whose count went up. */
static void trainer_push_risen(BpeTrainer *b) {
    for (size_t i = 0; i < b->touched.len; i++) {
        int p = b->touched.data[i];
        if (b->pcount[p] > b->pbefore[p]) heap_push(b, (HeapEnt){b->pcount[p], b->pa[p], b->pb[p], p});
    }
    b->touched.len = 0;
}

static void pair_add_word(BpeTrainer *b, int p, int w) {
    IntVec *l = &b->pwords[p];
    if (l->len == 0 || l->data[l->len - 1] != w) ivec_push(l, w);
}


int bpe_trainer_open(BpeTrainer **out, const char *text, size_t len, int target_vocab, LwError *e) {
    *out = NULL;
    if (target_vocab < 257) return lw_fail(e, LW_ERR_INVALID, "target vocabulary %d is below 257 (256 bytes + "
                                           "<|endoftext|>)", target_vocab);
    BpeTrainer *b = lw_calloc(1, sizeof *b);
    b->text = lw_malloc(len + 1);
    memcpy(b->text, text, len);
    b->text[len] = 0;
    b->n = len;
    b->target_merges = target_vocab - 257;
    for (int i = 0; i < 256; i++) {
        unsigned char c = (unsigned char)i;
        vocab_add(&b->v, &c, 1);
    }
    /* pre-tokenize: dedupe pieces into words (keys point into b->text) */
    Vocab wv = {0}; /* piece bytes -> word index, sharing Vocab's map with blob-free keys is not possible, so the
                     * word map stores copies; words are short and few compared with the text */
    long seq_cap = 1024;
    b->seq = lw_malloc((size_t)seq_cap * sizeof *b->seq);
    b->seq_start = lw_malloc((size_t)seq_cap * sizeof *b->seq_start);
    int words_cap = 0;
    static const size_t EOTN = sizeof TOK_EOT_TEXT - 1;
    size_t i = 0;
    while (i < len) {
        const char *hit = memmem(b->text + i, len - i, TOK_EOT_TEXT, EOTN);
        size_t end = hit ? (size_t)(hit - b->text) : len;
        PretokIter it;
        pretok_iter_init(&it, b->text + i, end - i, 0);
        size_t st, pl;
        for (int more = 1; more;) {
            more = pretok_next(&it, &st, &pl);
            int w = -1;
            if (!more) {
                if (!hit) break;
                st = end - i; /* the special token after this stretch */
                pl = EOTN;
                b->n_special++;
            } else {
                const unsigned char *p = (const unsigned char *)b->text + i + st;
                w = vocab_find(&wv, p, pl);
                if (w < 0) {
                    w = vocab_add(&wv, p, pl);
                    vocab_index(&wv, w);
                    if (w == words_cap) b->words = lw_realloc(b->words, (size_t)(words_cap = words_cap ? 2 * words_cap
                                                                                                   : 1024) * sizeof *b->words);
                    TWord *tw = &b->words[w];
                    tw->tok = lw_malloc(pl * sizeof *tw->tok);
                    for (size_t k = 0; k < pl; k++) tw->tok[k] = p[k];
                    tw->len = (int)pl;
                    tw->count = 0;
                    tw->stamp = 0;
                    b->n_words++;
                }
                b->words[w].count++;
                b->n_tokens += (long)pl;
            }
            if (b->n_seq == seq_cap) {
                seq_cap *= 2;
                b->seq = lw_realloc(b->seq, (size_t)seq_cap * sizeof *b->seq);
                b->seq_start = lw_realloc(b->seq_start, (size_t)seq_cap * sizeof *b->seq_start);
            }
            b->seq[b->n_seq] = w;
            b->seq_start[b->n_seq++] = (long)(i + st);
        }
        pretok_iter_free(&it);
        i = hit ? end + EOTN : len;
    }
    vocab_free(&wv);
    b->n_tokens += b->n_special;
    /* initial pair counts and word lists */
    b->visit = 1;
    for (int w = 0; w < b->n_words; w++) {
        TWord *tw = &b->words[w];
        trainer_count_word(b, tw->tok, tw->len, tw->count);
        for (int k = 0; k + 1 < tw->len; k++) pair_add_word(b, pair_get(b, tw->tok[k], tw->tok[k + 1], 1), w);
    }
    b->touched.len = 0;
    for (int p = 0; p < b->n_pairs; p++) heap_push(b, (HeapEnt){b->pcount[p], b->pa[p], b->pb[p], p});
    b->undo_off = lw_malloc((size_t)(b->target_merges + 1) * sizeof *b->undo_off);
    b->m_left = lw_malloc((size_t)(b->target_merges + 1) * sizeof *b->m_left);
    b->m_right = lw_malloc((size_t)(b->target_merges + 1) * sizeof *b->m_right);
    b->m_count = lw_malloc((size_t)(b->target_merges + 1) * sizeof *b->m_count);
    trainer_refresh_top(b);
    *out = b;
    return LW_OK;
}

void bpe_trainer_close(BpeTrainer *b) {
    if (!b) return;
    for (int w = 0; w < b->n_words; w++) free(b->words[w].tok);
    for (int p = 0; p < b->n_pairs; p++) ivec_free(&b->pwords[p]);
    free(b->words);
    free(b->text);
    free(b->seq);
    free(b->seq_start);
    vocab_free(&b->v);
    free(b->m_left);
    free(b->m_right);
    free(b->m_count);
    free(b->pa);
    free(b->pb);
    free(b->pcount);
    free(b->pwords);
    free(b->pbefore);
    free(b->ptouch);
    free(b->pslot);
    ivec_free(&b->touched);
    free(b->heap);
    ivec_free(&b->undo);
    free(b->undo_off);
    free(b);
}

int bpe_trainer_step(BpeTrainer *b, BpeStepInfo *info) {
    if (b->n_merges >= b->target_merges || b->n_top == 0 || b->top[0].count < 2) return 0;
    HeapEnt best = b->top[0];
    int x = best.a, y = best.b, r = b->n_merges, nid = 256 + r;
    if (info) {
        memset(info, 0, sizeof *info);
        info->rank = r;
        info->left = x;
        info->right = y;
        info->new_id = nid;
        info->count = best.count;
        info->n_top = LW_MIN(b->n_top, 10);
        for (int i = 0; i < info->n_top; i++) {
            info->top[i].left = b->top[i].a;
            info->top[i].right = b->top[i].b;
            info->top[i].count = b->top[i].count;
        }
    }
    /* the new token */
    unsigned char buf[2 * 4096];
    size_t la = (size_t)b->v.len[x], lb = (size_t)b->v.len[y];
    unsigned char *nb = la + lb <= sizeof buf ? buf : lw_malloc(la + lb);
    memcpy(nb, b->v.blob + b->v.off[x], la);
    memcpy(nb + la, b->v.blob + b->v.off[y], lb);
    vocab_add(&b->v, nb, la + lb);
    if (nb != buf) free(nb);
    b->m_left[r] = x;
    b->m_right[r] = y;
    b->m_count[r] = best.count;
    b->undo_off[r] = b->undo.len;
    b->visit++;
    int p = best.pair;
    for (size_t k = 0; k < b->pwords[p].len; k++) {
        int w = b->pwords[p].data[k];
        TWord *tw = &b->words[w];
        if (tw->stamp == b->visit) continue;
        tw->stamp = b->visit;
        int found = 0;
        for (int i = 0; i + 1 < tw->len && !found; i++) found = tw->tok[i] == x && tw->tok[i + 1] == y;
        if (!found) continue; /* stale entry */
        ivec_push(&b->undo, w);
        ivec_push(&b->undo, tw->len);
        ivec_reserve(&b->undo, b->undo.len + (size_t)tw->len);
        memcpy(b->undo.data + b->undo.len, tw->tok, (size_t)tw->len * sizeof(int));
        b->undo.len += (size_t)tw->len;
        trainer_count_word(b, tw->tok, tw->len, -tw->count);
        int k2 = 0;
        for (int i = 0; i < tw->len; i++) {
            if (i + 1 < tw->len && tw->tok[i] == x && tw->tok[i + 1] == y) {
                tw->tok[k2++] = nid;
                i++;
            } else {
                tw->tok[k2++] = tw->tok[i];
            }
        }
        b->n_tokens -= (long)(tw->len - k2) * tw->count;
        tw->len = k2;
        trainer_count_word(b, tw->tok, tw->len, tw->count);
        for (int i = 0; i + 1 < tw->len; i++)
            if (tw->tok[i] == nid || tw->tok[i + 1] == nid)
                pair_add_word(b, pair_get(b, tw->tok[i], tw->tok[i + 1], 0), w);
    }
    b->n_merges++;
    trainer_push_risen(b);
    trainer_refresh_top(b);
    return 1;
}

int bpe_trainer_back(BpeTrainer *b) {
    if (b->n_merges == 0) return 0;
    int r = b->n_merges - 1;
    b->visit++;
    size_t k = b->undo_off[r];
    while (k < b->undo.len) {
        int w = b->undo.data[k], old_len = b->undo.data[k + 1];
        TWord *tw = &b->words[w];
        trainer_count_word(b, tw->tok, tw->len, -tw->count);
        b->n_tokens += (long)(old_len - tw->len) * tw->count;
        memcpy(tw->tok, b->undo.data + k + 2, (size_t)old_len * sizeof(int));
        tw->len = old_len;
        trainer_count_word(b, tw->tok, tw->len, tw->count);
        k += 2 + (size_t)old_len;
    }
    b->undo.len = b->undo_off[r];
    b->v.n--;
    b->v.blob_len = b->v.off[b->v.n];
    b->n_merges--;
    trainer_push_risen(b);
    trainer_refresh_top(b);
    return 1;
}

int bpe_trainer_n_merges(const BpeTrainer *b) { return b->n_merges; }
int bpe_trainer_target_merges(const BpeTrainer *b) { return b->target_merges; }
long bpe_trainer_n_tokens(const BpeTrainer *b) { return b->n_tokens; }
const char *bpe_trainer_text(const BpeTrainer *b, size_t *len) {
    if (len) *len = b->n;
    return b->text;
}

long bpe_trainer_n_bytes(const BpeTrainer *b) { return (long)b->n; }

int bpe_trainer_merge(const BpeTrainer *b, int rank, int *left, int *right, long *count) {
    if (rank < 0 || rank >= b->n_merges) return 0;
    if (left) *left = b->m_left[rank];
    if (right) *right = b->m_right[rank];
    if (count) *count = b->m_count[rank];
    return 1;
}

const unsigned char *bpe_trainer_token_bytes(const BpeTrainer *b, int id, int *len) {
    if (id == 256 + b->n_merges) {
        if (len) *len = (int)sizeof TOK_EOT_TEXT - 1;
        return (const unsigned char *)TOK_EOT_TEXT;
    }
    if (id < 0 || id >= b->v.n) return NULL;
    if (len) *len = b->v.len[id];
    return b->v.blob + b->v.off[id];
}

int bpe_trainer_top(const BpeTrainer *b, int k, int *left, int *right, long *count) {
    int n = LW_MIN(k, b->n_top);
    for (int i = 0; i < n; i++) {
        if (left) left[i] = b->top[i].a;
        if (right) right[i] = b->top[i].b;
        if (count) count[i] = b->top[i].count;
    }
    return n;
}

int bpe_trainer_segments(const BpeTrainer *b, long off, long len, long *starts, int *lens, int *ids, int *just_merged,
                         int max) {
    if (b->n_seq == 0 || len <= 0 || max <= 0) return 0;
    long lo = 0, hi = b->n_seq - 1; /* last piece starting at or before off */
    while (lo < hi) {
        long mid = (lo + hi + 1) / 2;
        if (b->seq_start[mid] <= off) lo = mid;
        else hi = mid - 1;
    }
    int n = 0, newest = b->n_merges > 0 ? 255 + b->n_merges : -1;
    for (long s = lo; s < b->n_seq && b->seq_start[s] < off + len && n < max; s++) {
        long pos = b->seq_start[s];
        int w = b->seq[s];
        int nt = w < 0 ? 1 : b->words[w].len;
        for (int k = 0; k < nt && n < max; k++) {
            int id = w < 0 ? 256 + b->n_merges : b->words[w].tok[k];
            int l = w < 0 ? (int)sizeof TOK_EOT_TEXT - 1 : b->v.len[id];
            if (pos + l > off && pos < off + len) {
                starts[n] = pos;
                lens[n] = l;
                ids[n] = id;
                if (just_merged) just_merged[n] = id == newest;
                n++;
            }
            pos += l;
        }
    }
    return n;
}

Tokenizer *bpe_trainer_build(const BpeTrainer *b) {
    Tokenizer *t = tok_alloc(TOKENIZER_BPE);
    int nv = 257 + b->n_merges;
    t->rank = lw_malloc((size_t)nv * sizeof *t->rank);
    t->merge = lw_malloc((size_t)(b->n_merges + 1) * 3 * sizeof *t->merge);
    for (int id = 0; id < 256 + b->n_merges; id++) {
        vocab_add(&t->v, b->v.blob + b->v.off[id], (size_t)b->v.len[id]);
        t->rank[id] = id < 256 ? RANK_BYTE : id - 256;
    }
    for (int r = 0; r < b->n_merges; r++) {
        t->merge[3 * r] = b->m_left[r];
        t->merge[3 * r + 1] = b->m_right[r];
        t->merge[3 * r + 2] = 256 + r;
    }
    t->n_merges = b->n_merges;
    t->eot = vocab_add(&t->v, TOK_EOT_TEXT, sizeof TOK_EOT_TEXT - 1);
    t->rank[t->eot] = RANK_NONE;
    if (b->n_merges == 0) t->kind = TOKENIZER_BYTES;
    /* A merge can rebuild bytes an earlier merge made (rare): the later id stays decodable but is not indexed, so
     * encoding uses the earlier one. */
    for (int id = 0; id < t->v.n; id++)
        if (id != t->eot && vocab_index(&t->v, id) == id && t->v.len[id] == 1) t->byte_id[t->v.blob[t->v.off[id]]] = id;
    return t;
}
