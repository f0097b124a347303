/* data.c — corpus text → token ids (cached in tokens.bin) → train/val splits → batches of sliding windows.
 * Letters: B batch rows, T window length, N tokens. */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "rng.h"

static const char EOT_TEXT[] = "<|endoftext|>";
static const char CACHE_MAGIC[8] = {'L', 'W', 'T', 'O', 'K', 'E', 'N', '1'};
#define CACHE_VERSION 1u
#define CACHE_HEADER 32

/* The config's files, each cut to what max_chars leaves of it. */
typedef struct TextParts {
    char *buf[CFG_MAX_DATA];
    size_t len[CFG_MAX_DATA];
    int n;
} TextParts;

static void parts_free(TextParts *p) {
    for (int i = 0; i < p->n; i++) free(p->buf[i]);
    p->n = 0;
}

/* max_chars counts bytes of file text (separators excluded); a cut never splits a UTF-8 sequence. */
static int parts_read(TextParts *p, const Config *c, LwError *e) {
    memset(p, 0, sizeof *p);
    if (c->data.n_paths < 1) return lw_fail(e, LW_ERR_INVALID, "data.paths: no text file given");
    size_t budget = c->data.max_chars > 0 ? (size_t)c->data.max_chars : SIZE_MAX;
    for (int i = 0; i < c->data.n_paths && budget > 0; i++) {
        char *s;
        size_t len;
        int rc = lw_read_file(c->data.paths[i], &s, &len, e);
        if (rc) {
            parts_free(p);
            return rc;
        }
        if (len > budget) {
            size_t cut = budget;
            while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
            len = cut;
            s[len] = '\0';
        }
        budget -= len < budget ? len : budget;
        if (c->data.max_chars > 0 && len == 0 && p->n > 0) { /* the budget ran out at a boundary */
            free(s);
            break;
        }
        p->buf[p->n] = s;
        p->len[p->n] = len;
        p->n++;
    }
    return LW_OK;
}

int data_load_text(const Config *c, char **text, size_t *len, LwError *e) {
    *text = NULL;
    *len = 0;
    TextParts p;
    int rc = parts_read(&p, c, e);
    if (rc) return rc;
    size_t total = 0;
    for (int i = 0; i < p.n; i++) total += p.len[i] + (i ? sizeof EOT_TEXT - 1 : 0);
    char *out = lw_malloc(total + 1), *w = out;
    for (int i = 0; i < p.n; i++) {
        if (i) {
            memcpy(w, EOT_TEXT, sizeof EOT_TEXT - 1);
            w += sizeof EOT_TEXT - 1;
        }
        memcpy(w, p.buf[i], p.len[i]);
        w += p.len[i];
    }
    *w = '\0';
    parts_free(&p);
    *text = out;
    *len = total;
    return LW_OK;
}

/* Identity of a tokenizer for the cache key: kind, size, end-of-text id and every token's bytes. */
static uint64_t hash_tokenizer(const Tokenizer *t, uint64_t h) {
    int head[3] = {(int)tok_kind(t), tok_vocab_size(t), tok_eot(t)};
    h = lw_hash64(head, sizeof head, h);
    for (int id = 0; id < head[1]; id++) {
        int len = 0;
        const unsigned char *b = tok_bytes(t, id, &len);
        h = lw_hash64(&len, sizeof len, h);
        if (b && len > 0) h = lw_hash64(b, (size_t)len, h);
    }
    return h;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

int data_cache_write(const char *path, uint64_t hash, const int *ids, size_t n, LwError *e) {
    size_t bytes = CACHE_HEADER + 4 * n;
    unsigned char *buf = lw_malloc(bytes);
    memcpy(buf, CACHE_MAGIC, 8);
    put_u32(buf + 8, CACHE_VERSION);
    put_u32(buf + 12, 0);
    put_u64(buf + 16, hash);
    put_u64(buf + 24, (uint64_t)n);
    for (size_t i = 0; i < n; i++) put_u32(buf + CACHE_HEADER + 4 * i, (uint32_t)ids[i]);
    int rc = lw_write_file_atomic(path, buf, bytes, e);
    free(buf);
    return rc;
}

int data_cache_read(const char *path, uint64_t want_hash, int **ids, size_t *n, LwError *e) {
    *ids = NULL;
    *n = 0;
    char *raw;
    size_t len;
    int rc = lw_read_file(path, &raw, &len, e);
    if (rc) return rc;
    const unsigned char *b = (const unsigned char *)raw;
    if (len < CACHE_HEADER || memcmp(b, CACHE_MAGIC, 8) != 0) {
        free(raw);
        return lw_fail(e, LW_ERR_PARSE, "%s: not a token cache (bad magic or shorter than its header)", path);
    }
    if (get_u32(b + 8) != CACHE_VERSION) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: token cache version %u, expected %u", path, get_u32(b + 8),
                     CACHE_VERSION);
        free(raw);
        return rc;
    }
    uint64_t count = get_u64(b + 24);
    if (count > (len - CACHE_HEADER) / 4 || CACHE_HEADER + 4 * count != len) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: header says %llu tokens but the file holds %zu bytes of ids", path,
                     (unsigned long long)count, len - CACHE_HEADER);
        free(raw);
        return rc;
    }
    if (get_u64(b + 16) != want_hash) {
        free(raw);
        return lw_fail(e, LW_ERR_INVALID, "%s: stale token cache (text or tokenizer changed)", path);
    }
    int *out = lw_malloc(sizeof(int) * (count ? count : 1));
    for (size_t i = 0; i < count; i++) out[i] = (int)get_u32(b + CACHE_HEADER + 4 * i);
    free(raw);
    *ids = out;
    *n = (size_t)count;
    return LW_OK;
}

/* Checks that a split of n tokens holds one window of T + 1. */
static int check_split(const char *what, size_t n, int T, const char *hint, LwError *e) {
    if (n >= (size_t)T + 1) return LW_OK;
    return lw_fail(e, LW_ERR_INVALID, "the %s split has %zu tokens, fewer than the window+1 = %d: %s", what, n,
                   T + 1, hint);
}

/* Splits d->ids by val_fraction (validation = the last tokens) and checks both splits against T. A zero
 * val_fraction means no validation split (and no check on it). */
static int split_ids(TokenData *d, float val_fraction, int T, LwError *e) {
    /* val_fraction is a float; rounding it to 6 decimals makes 0.1f mean 0.1, and the tiny slack absorbs 1 - 0.9
     * being 0.0999..., so the cut equals Python's int(train_ratio * len(ids)). */
    double vf = round((double)val_fraction * 1e6) / 1e6;
    size_t n_train = (size_t)((1.0 - vf) * (double)d->n + 1e-6);
    if (n_train > d->n) n_train = d->n;
    d->train = d->ids;
    d->n_train = n_train;
    d->val = d->ids + n_train;
    d->n_val = d->n - n_train;
    int rc = check_split("training", d->n_train, T, "use more text (data.max_chars, data.paths) or a shorter data.window", e);
    if (!rc && val_fraction > 0.0f)
        rc = check_split("validation", d->n_val, T, "raise data.val_fraction or shorten data.window", e);
    return rc;
}

int data_from_ids(TokenData *d, const int *ids, size_t n, float val_fraction, int T, LwError *e) {
    memset(d, 0, sizeof *d);
    d->ids = lw_malloc(sizeof(int) * (n ? n : 1));
    if (n) memcpy(d->ids, ids, sizeof(int) * n);
    d->n = n;
    int rc = split_ids(d, val_fraction, T, e);
    if (rc) data_free(d);
    return rc;
}

int data_build(TokenData *d, const Config *c, const Tokenizer *tok, const char *cache_dir, LwError *e) {
    memset(d, 0, sizeof *d);
    TextParts p;
    int rc = parts_read(&p, c, e);
    if (rc) return rc;
    uint64_t h = lw_hash64(CACHE_MAGIC, sizeof CACHE_MAGIC, LW_HASH_INIT);
    for (int i = 0; i < p.n; i++) {
        h = lw_hash64(&p.len[i], sizeof p.len[i], h);
        h = lw_hash64(p.buf[i], p.len[i], h);
        d->text_bytes += p.len[i];
    }
    h = hash_tokenizer(tok, h);
    d->hash = h;

    char cache[CFG_PATH_MAX + 32] = "";
    if (cache_dir) {
        lw_path_join(cache, sizeof cache, cache_dir, "tokens.bin");
        LwError ce;
        if (lw_file_exists(cache)) {
            if (data_cache_read(cache, h, &d->ids, &d->n, &ce) == LW_OK) d->from_cache = 1;
            else lw_log(LW_LOG_INFO, "rebuilding the token cache: %s", ce.msg);
        }
    }
    if (!d->from_cache) {
        IntVec v = {0};
        int eot = tok_eot(tok);
        for (int i = 0; i < p.n; i++) {
            if (i) {
                if (eot >= 0) ivec_push(&v, eot);
                else tok_encode(tok, EOT_TEXT, sizeof EOT_TEXT - 1, 0, &v);
            }
            tok_encode(tok, p.buf[i], p.len[i], 0, &v);
        }
        d->ids = v.data ? v.data : lw_malloc(sizeof(int));
        d->n = v.len;
        if (cache_dir) {
            LwError ce;
            if (lw_mkdirs(cache_dir, &ce) || data_cache_write(cache, h, d->ids, d->n, &ce))
                lw_log(LW_LOG_WARN, "token cache not written: %s", ce.msg);
        }
    }
    parts_free(&p);
    int T = c->data.window > 0 && c->data.window < c->model.context_length ? c->data.window : c->model.context_length;
    rc = split_ids(d, c->data.val_fraction, T, e);
    if (rc) data_free(d);
    return rc;
}

void data_free(TokenData *d) {
    free(d->ids);
    memset(d, 0, sizeof *d);
}

/* ---- loader ---- */

/* The window order of epoch st.epoch: identity, or a permutation that depends only on (seed, epoch). */
static void loader_fill_order(Loader *l) {
    for (size_t i = 0; i < l->n_windows; i++) l->order[i] = (int)i;
    if (l->shuffle) {
        Rng r;
        rng_seed(&r, l->st.seed ^ ((uint64_t)(l->st.epoch + 1) * 0x9e3779b97f4a7c15ULL));
        rng_shuffle_int(&r, l->order, l->n_windows);
    }
}

int loader_init(Loader *l, const int *ids, size_t n, int B, int T, int stride, uint64_t seed, int shuffle,
                LwError *e) {
    memset(l, 0, sizeof *l);
    if (B < 1 || T < 1 || stride < 0)
        return lw_fail(e, LW_ERR_INVALID, "loader: batch %d, context %d, stride %d out of range", B, T, stride);
    if (n < (size_t)T + 1)
        return lw_fail(e, LW_ERR_INVALID, "a split of %zu tokens is shorter than the window+1 = %d", n, T + 1);
    l->ids = ids;
    l->n = n;
    l->B = B;
    l->T = T;
    l->stride = stride ? stride : T;
    l->n_windows = (n - (size_t)T - 1) / (size_t)l->stride + 1;
    LW_ASSERT(l->n_windows <= (size_t)INT32_MAX);
    l->order = lw_malloc(sizeof(int) * l->n_windows);
    l->shuffle = shuffle;
    l->st.seed = seed;
    loader_fill_order(l);
    return LW_OK;
}

void loader_free(Loader *l) {
    free(l->order);
    memset(l, 0, sizeof *l);
}

size_t loader_n_batches(const Loader *l) {
    size_t b = l->n_windows / (size_t)l->B;
    return b ? b : 1;
}

static void loader_next_epoch(Loader *l) {
    l->st.epoch++;
    l->st.cursor = 0;
    loader_fill_order(l);
}

void loader_next(Loader *l, int *inputs, int *targets) {
    size_t B = (size_t)l->B, T = (size_t)l->T;
    if (l->n_windows >= B && l->st.cursor + B > l->n_windows) loader_next_epoch(l);
    for (size_t b = 0; b < B; b++) {
        if (l->st.cursor >= l->n_windows) loader_next_epoch(l);
        size_t start = (size_t)l->order[l->st.cursor++] * (size_t)l->stride;
        memcpy(inputs + b * T, l->ids + start, T * sizeof(int));
        memcpy(targets + b * T, l->ids + start + 1, T * sizeof(int));
        if (b == 0) l->last_start = (long)start;
    }
}

void loader_reset(Loader *l) {
    int refill = l->st.epoch != 0;
    l->st.epoch = 0;
    l->st.cursor = 0;
    if (refill) loader_fill_order(l);
}

void loader_state(const Loader *l, LoaderState *out) { *out = l->st; }

int loader_restore(Loader *l, const LoaderState *st, LwError *e) {
    if (st->epoch < 0 || st->cursor > l->n_windows)
        return lw_fail(e, LW_ERR_INVALID, "loader state epoch %ld cursor %zu does not fit %zu windows per epoch",
                       st->epoch, st->cursor, l->n_windows);
    l->st = *st;
    loader_fill_order(l);
    return LW_OK;
}
