/* translate_data.c — parallel data for the translate task: TSV/JSONL loading, marked splits, teacher-forcing
 * batches, scoring and the copy and word-by-word baselines. Letters: n rows, S source, T target positions.
 * See translate_data.h. */
#include "translate_data.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "bleu.h"
#include "bpe.h"
#include "rng.h"

/* ================= reading ================= */

/* "train", "val"/"validation", "test" (trimmed, any case) → mark; else TR_MARK_NONE. */
static TrMark mark_parse(const char *s, size_t n) {
    if (lw_trimmed_is(s, n, "train")) return TR_MARK_TRAIN;
    if (lw_trimmed_is(s, n, "val") || lw_trimmed_is(s, n, "validation")) return TR_MARK_VAL;
    if (lw_trimmed_is(s, n, "test")) return TR_MARK_TEST;
    return TR_MARK_NONE;
}

static int bad_mark(const TrData *d, int line, const char *s, size_t n, LwError *e) {
    return lw_fail(e, LW_ERR_INVALID, "%s:%d: split must be train, val or test (found '%.*s')", d->path, line,
                   (int)LW_MIN(n, 40), s);
}

static void add_pair(TrData *d, int *cap, const char *src, size_t ns, const char *tgt, size_t nt, TrMark mark,
                     int line) {
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        d->ex = lw_realloc(d->ex, sizeof(TrPair) * (size_t)*cap);
    }
    TrPair *x = &d->ex[d->n++];
    memset(x, 0, sizeof *x);
    x->source = lw_strndup(src, ns);
    x->target = lw_strndup(tgt, nt);
    x->mark = mark;
    x->line = line;
}

#define TR_MAX_FIELDS 64

static int load_tsv(TrData *d, const char *buf, size_t len, LwError *e) {
    LwLineIter it = {buf, buf + len, 0};
    LwLine l = {NULL, 0, 0};
    const char *f[TR_MAX_FIELDS];
    size_t fl[TR_MAX_FIELDS];
    size_t bad;
    int cap = 0, c_src = -1, c_tgt = -1, c_split = -1;
    while (lw_line_next(&it, &l) && lw_is_blank(l.s, l.len)) {}
    if (!lw_utf8_valid((const unsigned char *)l.s, l.len, &bad))
        return lw_fail(e, LW_ERR_PARSE, "%s:%d:%zu: invalid UTF-8", d->path, l.no, bad + 1);
    int n_cols = lw_tsv_fields(&l, f, fl, TR_MAX_FIELDS);
    if (n_cols > TR_MAX_FIELDS) return lw_fail(e, LW_ERR_PARSE, "%s:%d: more than %d columns", d->path, l.no, TR_MAX_FIELDS);
    for (int i = 0; i < n_cols; i++) {
        if (c_src < 0 && lw_trimmed_is(f[i], fl[i], "source")) c_src = i;
        if (c_tgt < 0 && lw_trimmed_is(f[i], fl[i], "target")) c_tgt = i;
        if (c_split < 0 && lw_trimmed_is(f[i], fl[i], "split")) c_split = i;
    }
    if (c_src < 0 || c_tgt < 0)
        return lw_fail(e, LW_ERR_PARSE,
                       "%s:%d: the header must name a \"source\" and a \"target\" column, tab-separated (found: %.*s)",
                       d->path, l.no, (int)LW_MIN(l.len, 200), l.s);
    d->has_marks = c_split >= 0;
    int need = LW_MAX(LW_MAX(c_src, c_tgt), c_split) + 1;
    while (lw_line_next(&it, &l)) {
        if (lw_is_blank(l.s, l.len)) continue;
        if (!lw_utf8_valid((const unsigned char *)l.s, l.len, &bad))
            return lw_fail(e, LW_ERR_PARSE, "%s:%d:%zu: invalid UTF-8", d->path, l.no, bad + 1);
        int nf = lw_tsv_fields(&l, f, fl, TR_MAX_FIELDS);
        if (nf < need)
            return lw_fail(e, LW_ERR_PARSE, "%s:%d: expected %d tab-separated columns, found %d (missing tab?)",
                           d->path, l.no, n_cols, nf);
        if (lw_is_blank(f[c_src], fl[c_src])) return lw_fail(e, LW_ERR_PARSE, "%s:%d: empty source", d->path, l.no);
        if (lw_is_blank(f[c_tgt], fl[c_tgt])) return lw_fail(e, LW_ERR_PARSE, "%s:%d: empty target", d->path, l.no);
        TrMark mark = TR_MARK_NONE;
        if (c_split >= 0) {
            mark = mark_parse(f[c_split], fl[c_split]);
            if (mark == TR_MARK_NONE) return bad_mark(d, l.no, f[c_split], fl[c_split], e);
        }
        add_pair(d, &cap, f[c_src], fl[c_src], f[c_tgt], fl[c_tgt], mark, l.no);
    }
    return LW_OK;
}

/* The string member key of o: LW_OK with *s set, or an error naming it. */
static int json_str(const TrData *d, int line, const cJSON *o, const char *key, const char **s, LwError *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return lw_fail(e, LW_ERR_PARSE, "%s:%d: missing string \"%s\"", d->path, line, key);
    if (!cJSON_IsString(v) || !v->valuestring)
        return lw_fail(e, LW_ERR_PARSE, "%s:%d: \"%s\" is not a string", d->path, line, key);
    *s = v->valuestring;
    return LW_OK;
}

static int jsonl_row(TrData *d, int *cap, const cJSON *o, int line, LwError *e) {
    if (!cJSON_IsObject(o)) return lw_fail(e, LW_ERR_PARSE, "%s:%d: the line is not a JSON object", d->path, line);
    const char *src, *tgt;
    int rc = json_str(d, line, o, "source", &src, e);
    if (!rc) rc = json_str(d, line, o, "target", &tgt, e);
    if (rc) return rc;
    if (lw_is_blank(src, strlen(src))) return lw_fail(e, LW_ERR_PARSE, "%s:%d: empty source", d->path, line);
    if (lw_is_blank(tgt, strlen(tgt))) return lw_fail(e, LW_ERR_PARSE, "%s:%d: empty target", d->path, line);
    TrMark mark = TR_MARK_NONE;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "split");
    if (sp && !cJSON_IsNull(sp)) {
        if (!cJSON_IsString(sp) || !sp->valuestring)
            return lw_fail(e, LW_ERR_PARSE, "%s:%d: \"split\" is not a string", d->path, line);
        mark = mark_parse(sp->valuestring, strlen(sp->valuestring));
        if (mark == TR_MARK_NONE) return bad_mark(d, line, sp->valuestring, strlen(sp->valuestring), e);
        d->has_marks = 1;
    }
    add_pair(d, cap, src, strlen(src), tgt, strlen(tgt), mark, line);
    return LW_OK;
}

static int load_jsonl(TrData *d, const char *buf, size_t len, LwError *e) {
    LwLineIter it = {buf, buf + len, 0};
    LwLine l;
    int cap = 0;
    while (lw_line_next(&it, &l)) {
        if (lw_is_blank(l.s, l.len)) continue;
        const char *stop = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(l.s, l.len, &stop, 0);
        if (!o) {
            const char *at = stop ? stop : cJSON_GetErrorPtr();
            if (!at || at < l.s || at > l.s + l.len) at = l.s;
            return lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON", d->path, l.no, (int)(at - l.s) + 1);
        }
        const char *rest = stop;
        while (rest < l.s + l.len && isspace((unsigned char)*rest)) rest++;
        int rc = rest < l.s + l.len
                     ? lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON (text after the object; one object per line)",
                               d->path, l.no, (int)(rest - l.s) + 1)
                     : jsonl_row(d, &cap, o, l.no, e);
        cJSON_Delete(o);
        if (rc) return rc;
    }
    return LW_OK;
}

void tr_free(TrData *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].source);
        free(d->ex[i].target);
        free(d->ex[i].src_ids);
        free(d->ex[i].tgt_ids);
    }
    free(d->ex);
    memset(d, 0, sizeof *d);
}

int tr_load(TrData *d, const char *path, LwError *e) {
    memset(d, 0, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", path);
    char *buf;
    size_t len;
    int rc = lw_read_file(path, &buf, &len, e);
    if (rc) return rc;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) memset(buf, ' ', 3); /* a BOM: offsets stay */
    const char *p = buf;
    while (p < buf + len && isspace((unsigned char)*p)) p++;
    if (p == buf + len) rc = lw_fail(e, LW_ERR_PARSE, "%s: empty file (expected a header \"source<TAB>target\")", path);
    else if (*p == '[')
        rc = lw_fail(e, LW_ERR_PARSE,
                     "%s: a JSON array; parallel data is JSONL (one {\"source\": ..., \"target\": ...} per line) or TSV",
                     path);
    else if (*p == '{') rc = load_jsonl(d, buf, len, e);
    else rc = load_tsv(d, buf, len, e);
    if (!rc && d->n == 0) rc = lw_fail(e, LW_ERR_PARSE, "%s: no pairs", path);
    free(buf);
    if (rc) {
        char keep[CFG_PATH_MAX];
        memcpy(keep, d->path, sizeof keep);
        tr_free(d);
        memcpy(d->path, keep, sizeof keep);
    }
    return rc;
}

/* ================= splits ================= */

static void list_append(int **list, int *n, const int *add, int k) {
    if (k <= 0) return;
    *list = lw_realloc(*list, sizeof(int) * (size_t)(*n + k));
    memcpy(*list + *n, add, sizeof(int) * (size_t)k);
    *n += k;
}

int tr_split(FtSplit *s, const TrData *d, float val_fraction, float test_fraction, uint64_t seed, LwError *e) {
    memset(s, 0, sizeof *s);
    int n = d->n, n_pool = 0, n_val = 0, n_test = 0;
    int *pool = lw_malloc(sizeof(int) * (size_t)LW_MAX(n, 1));
    int *val = lw_malloc(sizeof(int) * (size_t)LW_MAX(n, 1));
    int *test = lw_malloc(sizeof(int) * (size_t)LW_MAX(n, 1));
    for (int i = 0; i < n; i++) {
        TrMark m = d->ex[i].mark;
        if (m == TR_MARK_TEST) test[n_test++] = i;
        else if (m == TR_MARK_VAL) val[n_val++] = i;
        else pool[n_pool++] = i;
    }
    /* the pool is cut as an instruction set is (finetune.h), with the marked splits' fractions set to 0 */
    FtSplit ps;
    int rc = ins_split(&ps, n_pool, n_val ? 0.0f : val_fraction, n_test ? 0.0f : test_fraction, seed, e);
    if (rc == LW_OK) {
        Rng r;
        rng_seed(&r, seed ^ 0x7472616E736C6174ULL); /* the marked lists get their own seeded order */
        rng_shuffle_int(&r, val, (size_t)n_val);
        rng_shuffle_int(&r, test, (size_t)n_test);
        for (int i = 0; i < ps.n_train; i++) ps.train[i] = pool[ps.train[i]];
        for (int i = 0; i < ps.n_val; i++) ps.val[i] = pool[ps.val[i]];
        for (int i = 0; i < ps.n_test; i++) ps.test[i] = pool[ps.test[i]];
        list_append(&ps.val, &ps.n_val, val, n_val);
        list_append(&ps.test, &ps.n_test, test, n_test);
        *s = ps;
    }
    free(pool);
    free(val);
    free(test);
    return rc;
}

/* ================= tokens and batches ================= */

void tr_encode_tok(void *tokenizer, const char *text, IntVec *out) {
    tok_encode((const Tokenizer *)tokenizer, text, strlen(text), 0, out);
}

/* Encodes text into a fresh array *ids (*n); cuts to max with truncate. Returns 1 when cut, -1 when over max
 * without truncate (nothing stored), 0 otherwise. v is scratch. */
static int encode_side(TrEncodeFn fn, void *ud, const char *text, int max, int truncate, IntVec *v, int **ids,
                       int *n, int *full) {
    v->len = 0;
    fn(ud, text, v);
    *full = (int)v->len;
    int cut = 0, m = (int)v->len;
    if (m > max) {
        if (!truncate) return -1;
        m = max;
        cut = 1;
    }
    free(*ids);
    *ids = lw_malloc(sizeof(int) * (size_t)LW_MAX(m, 1));
    memcpy(*ids, v->data, sizeof(int) * (size_t)m);
    *n = m;
    return cut;
}

int tr_tokenize(TrData *d, TrEncodeFn encode_src, void *src_ud, TrEncodeFn encode_tgt, void *tgt_ud, int max_src,
                int max_tgt, int truncate, LwError *e) {
    LW_ASSERT(encode_src && encode_tgt && max_src >= 1 && max_tgt >= 2);
    IntVec v = {0};
    int first = 0, rc = LW_OK;
    d->n_truncated = 0;
    for (int i = 0; i < d->n && !rc; i++) {
        TrPair *x = &d->ex[i];
        int full, cut_s, cut_t;
        cut_s = encode_side(encode_src, src_ud, x->source, max_src, truncate, &v, &x->src_ids, &x->n_src, &full);
        if (cut_s < 0) {
            rc = lw_fail(e, LW_ERR_INVALID,
                         "%s:%d: source has %d tokens, more than %d (set finetune.truncate: true to cut it)", d->path,
                         x->line, full, max_src);
            break;
        }
        if (x->n_src == 0) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: source makes no tokens", d->path, x->line);
            break;
        }
        cut_t = encode_side(encode_tgt, tgt_ud, x->target, max_tgt - 1, truncate, &v, &x->tgt_ids, &x->n_tgt, &full);
        if (cut_t < 0) {
            rc = lw_fail(e, LW_ERR_INVALID,
                         "%s:%d: target has %d tokens, more than %d (the decoder's %d positions less the end marker; "
                         "set finetune.truncate: true to cut it)",
                         d->path, x->line, full, max_tgt - 1, max_tgt);
            break;
        }
        if (x->n_tgt == 0) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: target makes no tokens", d->path, x->line);
            break;
        }
        if (cut_s || cut_t) {
            if (!d->n_truncated) first = x->line;
            d->n_truncated++;
        }
    }
    ivec_free(&v);
    if (!rc && d->n_truncated)
        lw_log(LW_LOG_WARN, "%s: %d of %d pairs were longer than the model takes and were cut (first at line %d)",
               d->path, d->n_truncated, d->n, first);
    return rc;
}

void tr_batch_dims(const TrData *d, const int *rows, int n, int src_eos, int *S, int *T) {
    int s = 1, t = 1;
    for (int i = 0; i < n; i++) {
        const TrPair *x = &d->ex[rows[i]];
        s = LW_MAX(s, x->n_src + (src_eos >= 0));
        t = LW_MAX(t, x->n_tgt + 1);
    }
    *S = s;
    *T = t;
}

void tr_batch(const TrData *d, const int *rows, int n, int S, int T, int src_eos, int bos, int eos, int pad, int *src,
              int *src_lengths, int *inputs, int *targets) {
    LW_ASSERT(S >= 1 && T >= 1);
    for (int b = 0; b < n; b++) {
        const TrPair *x = &d->ex[rows[b]];
        LW_ASSERT(x->src_ids && x->tgt_ids);
        int *sr = src + (size_t)b * (size_t)S, *in = inputs + (size_t)b * (size_t)T,
            *tg = targets + (size_t)b * (size_t)T;
        int ls = 0;
        for (int i = 0; i < x->n_src && ls < S; i++) sr[ls++] = x->src_ids[i];
        if (src_eos >= 0 && ls < S) sr[ls++] = src_eos;
        if (src_lengths) src_lengths[b] = ls;
        for (int i = ls; i < S; i++) sr[i] = pad;
        /* seq = bos y_0 .. y_{m-1} eos: inputs = seq[0:T] with eos → pad, targets = seq[1:T+1] then ignore */
        int m = x->n_tgt;
        for (int t = 0; t < T; t++) {
            in[t] = t == 0 ? bos : (t - 1 < m ? x->tgt_ids[t - 1] : pad);
            tg[t] = t < m ? x->tgt_ids[t] : (t == m ? eos : TR_IGNORE);
        }
    }
}

/* ================= evaluation ================= */

void tr_score(const TrData *d, const int *rows, const char *const *hyps, int n, TrScore *out) {
    BleuStats bs;
    ChrfStats cs;
    memset(&bs, 0, sizeof bs);
    memset(&cs, 0, sizeof cs);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        const char *h = hyps[i] ? hyps[i] : "", *r = d->ex[rows[i]].target;
        bleu_stats_add(&bs, h, r);
        chrf_stats_add(&cs, h, r);
        out->n_exact += bleu_exact_match(h, r);
    }
    out->n = n;
    out->bleu = bleu_compute(&bs, BLEU_SMOOTH_EXP).score;
    out->chrf = chrf_compute(&cs);
}

int tr_write_hypotheses(const char *path, const TrData *d, const int *rows, const char *const *hyps, int n,
                        TrScore *out, LwError *e) {
    TrScore sc;
    tr_score(d, rows, hyps, n, &sc);
    if (out) *out = sc;
    StrBuf b = {0};
    for (int i = 0; i <= n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (i < n) {
            const TrPair *x = &d->ex[rows[i]];
            const char *h = hyps[i] ? hyps[i] : "";
            cJSON_AddNumberToObject(o, "line", x->line);
            cJSON_AddStringToObject(o, "source", x->source);
            cJSON_AddStringToObject(o, "target", x->target);
            cJSON_AddStringToObject(o, "hypothesis", h);
            cJSON_AddBoolToObject(o, "exact", bleu_exact_match(h, x->target));
        } else {
            cJSON_AddNumberToObject(o, "n", sc.n);
            cJSON_AddNumberToObject(o, "exact", sc.n_exact);
            cJSON_AddNumberToObject(o, "bleu", sc.bleu);
            cJSON_AddNumberToObject(o, "chrf", sc.chrf);
        }
        char *js = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        LW_ASSERT(js);
        sb_adds(&b, js);
        sb_adds(&b, "\n");
        cJSON_free(js);
    }
    int rc = lw_write_file_atomic(path, b.s ? b.s : "", b.len, e);
    free(b.s);
    return rc;
}

/* ---- word vocabularies (string → dense id), open addressing over lw_hash64 ---- */

typedef struct WordIds {
    char **words;
    int n, cap;
    int *table;
    size_t table_cap;
} WordIds;

static size_t wi_slot(const WordIds *w, const char *s) {
    size_t h = (size_t)lw_hash64(s, strlen(s), LW_HASH_INIT) & (w->table_cap - 1);
    while (w->table[h] >= 0 && strcmp(w->words[w->table[h]], s) != 0) h = (h + 1) & (w->table_cap - 1);
    return h;
}

static void wi_rehash(WordIds *w, size_t cap) {
    free(w->table);
    w->table_cap = cap;
    w->table = lw_malloc(sizeof(int) * cap);
    for (size_t i = 0; i < cap; i++) w->table[i] = -1;
    for (int i = 0; i < w->n; i++) w->table[wi_slot(w, w->words[i])] = i;
}

static int wi_find(const WordIds *w, const char *s) { return w->table_cap ? w->table[wi_slot(w, s)] : -1; }

static int wi_add(WordIds *w, const char *s) {
    if (!w->table_cap) wi_rehash(w, 1024);
    size_t h = wi_slot(w, s);
    if (w->table[h] >= 0) return w->table[h];
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->words = lw_realloc(w->words, sizeof(char *) * (size_t)w->cap);
    }
    w->words[w->n] = lw_strdup(s);
    w->table[h] = w->n++;
    if ((size_t)w->n * 2 > w->table_cap) wi_rehash(w, w->table_cap * 2);
    return w->n - 1;
}

/* The distinct words (13a tokens) of text as ids of w (added when new), in first-occurrence order; stamp[id] ==
 * tag marks a word already taken from this text (tag differs per text). */
static void words_of(WordIds *w, const char *text, IntVec *out, int **stamp, int *stamp_cap, int tag) {
    char *tok = bleu_tokenize_13a(text);
    out->len = 0;
    for (char *p = tok, *q; *p; p = q) {
        q = strchr(p, ' ');
        if (q) *q++ = 0;
        else q = p + strlen(p);
        int id = wi_add(w, p);
        if (id >= *stamp_cap) {
            int cap = LW_MAX(2 * *stamp_cap, id + 256);
            *stamp = lw_realloc(*stamp, sizeof(int) * (size_t)cap);
            for (int i = *stamp_cap; i < cap; i++) (*stamp)[i] = -1;
            *stamp_cap = cap;
        }
        if ((*stamp)[id] != tag) {
            (*stamp)[id] = tag;
            ivec_push(out, id);
        }
    }
    free(tok);
}

/* Co-occurrence counts keyed by (source id, target id). */
typedef struct PairCount {
    uint64_t key; /* (s << 32 | t) + 1; 0 = empty */
    int count;
} PairCount;

static void pc_add(PairCount **tab, size_t *cap, size_t *used, uint64_t key) {
    if (2 * (*used + 1) > *cap) {
        size_t nc = *cap ? 2 * *cap : 4096;
        PairCount *nt = lw_calloc(nc, sizeof *nt);
        for (size_t i = 0; i < *cap; i++) {
            if (!(*tab)[i].key) continue;
            size_t h = (size_t)lw_hash64(&(*tab)[i].key, sizeof(uint64_t), LW_HASH_INIT) & (nc - 1);
            while (nt[h].key) h = (h + 1) & (nc - 1);
            nt[h] = (*tab)[i];
        }
        free(*tab);
        *tab = nt;
        *cap = nc;
    }
    size_t h = (size_t)lw_hash64(&key, sizeof key, LW_HASH_INIT) & (*cap - 1);
    while ((*tab)[h].key && (*tab)[h].key != key) h = (h + 1) & (*cap - 1);
    if (!(*tab)[h].key) {
        (*tab)[h].key = key;
        (*used)++;
    }
    (*tab)[h].count++;
}

void tr_lexicon_fit(TrLexicon *lx, const TrData *d, const int *rows, int n) {
    LW_ASSERT(n >= 1);
    memset(lx, 0, sizeof *lx);
    WordIds ws = {0}, wt = {0};
    IntVec vs = {0}, vt = {0}, cs = {0}, ct = {0}; /* words of one pair; counts per word */
    int *stamp_s = NULL, *stamp_t = NULL, cap_s = 0, cap_t = 0;
    PairCount *tab = NULL;
    size_t tab_cap = 0, used = 0;
    for (int i = 0; i < n; i++) {
        const TrPair *x = &d->ex[rows[i]];
        words_of(&ws, x->source, &vs, &stamp_s, &cap_s, i);
        words_of(&wt, x->target, &vt, &stamp_t, &cap_t, i);
        while (cs.len < (size_t)ws.n) ivec_push(&cs, 0);
        while (ct.len < (size_t)wt.n) ivec_push(&ct, 0);
        for (size_t a = 0; a < vs.len; a++) cs.data[vs.data[a]]++;
        for (size_t b = 0; b < vt.len; b++) ct.data[vt.data[b]]++;
        for (size_t a = 0; a < vs.len; a++)
            for (size_t b = 0; b < vt.len; b++)
                pc_add(&tab, &tab_cap, &used, (((uint64_t)vs.data[a] << 32) | (uint64_t)vt.data[b]) + 1);
    }
    /* best target per source word: highest Dice, ties to the lower target id (seen first) */
    double *best = lw_malloc(sizeof(double) * (size_t)LW_MAX(ws.n, 1));
    int *arg = lw_malloc(sizeof(int) * (size_t)LW_MAX(ws.n, 1));
    for (int s = 0; s < ws.n; s++) best[s] = -1, arg[s] = -1;
    for (size_t i = 0; i < tab_cap; i++) {
        if (!tab[i].key) continue;
        uint64_t k = tab[i].key - 1;
        int s = (int)(k >> 32), t = (int)(k & 0xFFFFFFFFu);
        double dice = 2.0 * tab[i].count / (double)(cs.data[s] + ct.data[t]);
        if (dice > best[s] || (dice == best[s] && t < arg[s])) best[s] = dice, arg[s] = t;
    }
    lx->n_src = ws.n;
    lx->src_words = ws.words; /* the lexicon keeps the source vocabulary and its table */
    lx->table = ws.table;
    lx->table_cap = ws.table_cap;
    lx->translation = lw_malloc(sizeof(char *) * (size_t)LW_MAX(ws.n, 1));
    for (int s = 0; s < ws.n; s++) lx->translation[s] = lw_strdup(arg[s] >= 0 ? wt.words[arg[s]] : ws.words[s]);
    for (int t = 0; t < wt.n; t++) free(wt.words[t]);
    free(wt.words);
    free(wt.table);
    free(best);
    free(arg);
    free(tab);
    free(stamp_s);
    free(stamp_t);
    ivec_free(&vs);
    ivec_free(&vt);
    ivec_free(&cs);
    ivec_free(&ct);
}

char *tr_lexicon_translate(const TrLexicon *lx, const char *source) {
    WordIds w = {lx->src_words, lx->n_src, lx->n_src, lx->table, lx->table_cap};
    char *tok = bleu_tokenize_13a(source);
    StrBuf b = {0};
    for (char *p = tok, *q; *p; p = q) {
        q = strchr(p, ' ');
        if (q) *q++ = 0;
        else q = p + strlen(p);
        int id = wi_find(&w, p);
        if (b.len) sb_add(&b, " ", 1);
        sb_adds(&b, id >= 0 ? lx->translation[id] : p);
    }
    free(tok);
    return sb_take(&b);
}

void tr_lexicon_free(TrLexicon *lx) {
    if (!lx) return;
    for (int i = 0; i < lx->n_src; i++) {
        free(lx->src_words[i]);
        free(lx->translation[i]);
    }
    free(lx->src_words);
    free(lx->translation);
    free(lx->table);
    memset(lx, 0, sizeof *lx);
}

void tr_baseline(const TrData *d, const FtSplit *s, const int *rows, int n, TrBaseline *out) {
    LW_ASSERT(s->n_train >= 1);
    memset(out, 0, sizeof *out);
    TrLexicon lx;
    tr_lexicon_fit(&lx, d, s->train, s->n_train);
    const char **copy = lw_malloc(sizeof(char *) * (size_t)LW_MAX(n, 1));
    char **word = lw_malloc(sizeof(char *) * (size_t)LW_MAX(n, 1));
    for (int i = 0; i < n; i++) {
        copy[i] = d->ex[rows[i]].source;
        word[i] = tr_lexicon_translate(&lx, d->ex[rows[i]].source);
    }
    tr_score(d, rows, copy, n, &out->copy);
    tr_score(d, rows, (const char *const *)word, n, &out->word);
    for (int i = 0; i < n; i++) free(word[i]);
    free(word);
    free(copy);
    tr_lexicon_free(&lx);
}

void tr_baseline_format(const TrBaseline *b, const char *what, char *out, size_t n) {
    double ce = b->copy.n ? 100.0 * b->copy.n_exact / b->copy.n : 0, we = b->word.n ? 100.0 * b->word.n_exact / b->word.n : 0;
    snprintf(out, n,
             "baseline on %d %s pairs: copy BLEU %.1f chrF %.1f exact %.1f%%; word-by-word BLEU %.1f chrF %.1f "
             "exact %.1f%%",
             b->copy.n, what, b->copy.bleu, b->copy.chrf, ce, b->word.bleu, b->word.chrf, we);
}
