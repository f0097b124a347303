/* finetune.c — finetuning data: classification TSV, instruction JSON/JSONL, splits, templates, batches, the
 * naive-Bayes baseline and response scoring. Letters: B/n rows of a batch, T positions. See finetune.h. */
#include "finetune.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bpe.h"
#include "rng.h"

/* ================= small helpers ================= */

/* A UTF-8 byte-order mark is blanked out (offsets stay the same), so "label" and '[' are found after it. */
static void blank_bom(char *buf, size_t len) {
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) memset(buf, ' ', 3);
}

/* Fractions rounded to 1e-6 so that float configs like 0.7f behave like the decimal the user wrote. */
static double frac_round(float f) { return round((double)f * 1e6) / 1e6; }
static int frac_count(int n, double f) { return (int)floor((double)n * f + 1e-7 * (double)n + 1e-9); }

static int check_fractions(float val, float test, LwError *e) {
    if (!(val >= 0 && val < 1) || !(test >= 0 && test < 1) || frac_round(val) + frac_round(test) >= 1.0)
        return lw_fail(e, LW_ERR_INVALID,
                       "data.val_fraction %g and data.test_fraction %g: each must be in [0, 1) and their sum below 1",
                       (double)val, (double)test);
    return LW_OK;
}

static int check_split_sizes(const FtSplit *s, int n, float val, float test, LwError *e) {
    if (s->n_train < 1)
        return lw_fail(e, LW_ERR_INVALID, "the train split is empty (%d examples, val_fraction %g, test_fraction %g)",
                       n, (double)val, (double)test);
    if (val > 0 && s->n_val < 1)
        return lw_fail(e, LW_ERR_INVALID,
                       "the validation split is empty (%d examples x val_fraction %g): add data or raise "
                       "data.val_fraction",
                       n, (double)val);
    if (test > 0 && s->n_test < 1)
        return lw_fail(e, LW_ERR_INVALID,
                       "the test split is empty (%d examples x test_fraction %g): add data or raise "
                       "data.test_fraction",
                       n, (double)test);
    return LW_OK;
}

/* Cuts pool (n, already shuffled) into s: train first, then val, then test; the remainder goes to rem_to_val ?
 * val : test. */
static void split_cut(FtSplit *s, const int *pool, int n, float val, float test, int rem_to_val) {
    double fv = frac_round(val), ft = frac_round(test);
    int n_train = frac_count(n, 1.0 - fv - ft);
    int n_val, n_test;
    if (rem_to_val) {
        n_test = frac_count(n, ft);
        if (n_train + n_test > n) n_test = n - n_train;
        n_val = n - n_train - n_test;
    } else {
        n_val = frac_count(n, fv);
        if (n_train + n_val > n) n_val = n - n_train;
        n_test = n - n_train - n_val;
    }
    s->n_train = n_train;
    s->n_val = n_val;
    s->n_test = n_test;
    s->train = n_train ? lw_malloc(sizeof(int) * (size_t)n_train) : NULL;
    s->val = n_val ? lw_malloc(sizeof(int) * (size_t)n_val) : NULL;
    s->test = n_test ? lw_malloc(sizeof(int) * (size_t)n_test) : NULL;
    if (n_train) memcpy(s->train, pool, sizeof(int) * (size_t)n_train);
    if (n_val) memcpy(s->val, pool + n_train, sizeof(int) * (size_t)n_val);
    if (n_test) memcpy(s->test, pool + n_train + n_val, sizeof(int) * (size_t)n_test);
}

void ft_split_free(FtSplit *s) {
    if (!s) return;
    free(s->train);
    free(s->val);
    free(s->test);
    memset(s, 0, sizeof *s);
}

/* ================= cursor ================= */

static void cursor_shuffle(FtCursor *c) {
    for (int i = 0; i < c->n; i++) c->order[i] = i;
    if (!c->shuffle) return;
    Rng r;
    rng_seed(&r, c->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(c->epoch + 1)));
    rng_shuffle_int(&r, c->order, (size_t)c->n);
}

int ft_cursor_init(FtCursor *c, const int *rows, int n, uint64_t seed, int shuffle, LwError *e) {
    memset(c, 0, sizeof *c);
    if (n < 1 || !rows) return lw_fail(e, LW_ERR_INVALID, "cannot serve batches from an empty split");
    c->rows = rows;
    c->n = n;
    c->order = lw_malloc(sizeof(int) * (size_t)n);
    c->shuffle = shuffle;
    c->seed = seed;
    cursor_shuffle(c);
    return LW_OK;
}

void ft_cursor_next(FtCursor *c, int B, int *out) {
    LW_ASSERT(c->order && B >= 1);
    int i = 0;
    if (c->n >= B && c->cursor + B > c->n) { /* drop_last: the rest of this epoch cannot fill a batch */
        c->epoch++;
        c->cursor = 0;
        cursor_shuffle(c);
    }
    while (i < B) {
        if (c->cursor >= c->n) {
            c->epoch++;
            c->cursor = 0;
            cursor_shuffle(c);
        }
        out[i++] = c->rows[c->order[c->cursor++]];
    }
}

int ft_cursor_restore(FtCursor *c, long epoch, int cursor, LwError *e) {
    if (epoch < 0 || cursor < 0 || cursor > c->n)
        return lw_fail(e, LW_ERR_INVALID, "batch cursor %d of epoch %ld is outside a split of %d rows", cursor, epoch,
                       c->n);
    c->epoch = epoch;
    c->cursor = cursor;
    cursor_shuffle(c);
    return LW_OK;
}

int ft_cursor_n_batches(const FtCursor *c, int B) { return LW_MAX(1, c->n / LW_MAX(1, B)); }

void ft_cursor_free(FtCursor *c) {
    if (!c) return;
    free(c->order);
    memset(c, 0, sizeof *c);
}

/* ================= classification ================= */

void cls_free(ClsData *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].text);
        free(d->ex[i].ids);
    }
    free(d->ex);
    for (int i = 0; i < d->n_labels; i++) free(d->labels[i]);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

int cls_label_index(const ClsData *d, const char *name) {
    for (int i = 0; i < d->n_labels; i++)
        if (strcmp(d->labels[i], name) == 0) return i;
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

#define TSV_MAX_FIELDS 64

typedef struct RawRow {
    char *label, *text;
    int line;
} RawRow;

int cls_load(ClsData *d, const char *path, const FinetuneCfg *ft, const Tokenizer *tok, int max_len, LwError *e) {
    memset(d, 0, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", path);
    LW_ASSERT(tok && max_len >= 1);
    char *buf;
    size_t len;
    int rc = lw_read_file(path, &buf, &len, e);
    if (rc) return rc;
    blank_bom(buf, len);
    size_t bad;
    LwLineIter it = {buf, buf + len, 0};
    LwLine l = {NULL, 0, 0};
    const char *f[TSV_MAX_FIELDS];
    size_t fl[TSV_MAX_FIELDS];
    int col_label = -1, col_text = -1, n_cols = 0;
    RawRow *rows = NULL;
    int n_rows = 0, cap_rows = 0;
    int headerless = ft && ft->tsv_columns[0];
    if (headerless) {
        /* finetune.tsv_columns, e.g. "label,text" (the book's SMSSpamCollection): no header line */
        char cols[sizeof ft->tsv_columns];
        snprintf(cols, sizeof cols, "%s", ft->tsv_columns);
        for (char *save = NULL, *t = strtok_r(cols, ",", &save); t; t = strtok_r(NULL, ",", &save), n_cols++) {
            if (lw_trimmed_is(t, strlen(t), "label") && col_label < 0) col_label = n_cols;
            if (lw_trimmed_is(t, strlen(t), "text") && col_text < 0) col_text = n_cols;
        }
        if (col_label < 0 || col_text < 0) {
            rc = lw_fail(e, LW_ERR_INVALID, "finetune.tsv_columns: '%s' must name a label and a text column",
                         ft->tsv_columns);
            goto fail;
        }
    } else {
        /* header: the first non-blank line */
        while (lw_line_next(&it, &l) && lw_is_blank(l.s, l.len)) {}
        if (it.no == 0 || lw_is_blank(l.s, l.len)) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s: empty file (expected a header line \"label<TAB>text\")", path);
            goto fail;
        }
        if (!lw_utf8_valid((const unsigned char *)l.s, l.len, &bad)) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d:%zu: invalid UTF-8", path, l.no, bad + 1);
            goto fail;
        }
        n_cols = lw_tsv_fields(&l, f, fl, TSV_MAX_FIELDS);
        if (n_cols > TSV_MAX_FIELDS) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: more than %d columns", path, l.no, TSV_MAX_FIELDS);
            goto fail;
        }
        for (int i = 0; i < n_cols; i++) {
            if (lw_trimmed_is(f[i], fl[i], "label") && col_label < 0) col_label = i;
            if (lw_trimmed_is(f[i], fl[i], "text") && col_text < 0) col_text = i;
        }
        if (col_label < 0 || col_text < 0) {
            rc = lw_fail(e, LW_ERR_PARSE,
                         "%s:%d: the header must name a \"label\" and a \"text\" column (found: %.*s); a file "
                         "without a header needs finetune.tsv_columns, e.g. label,text",
                         path, l.no, (int)LW_MIN(l.len, 160), l.s);
            goto fail;
        }
    }
    int need = LW_MAX(col_label, col_text) + 1;
    while (lw_line_next(&it, &l)) {
        if (lw_is_blank(l.s, l.len)) continue;
        if (!lw_utf8_valid((const unsigned char *)l.s, l.len, &bad)) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d:%zu: invalid UTF-8", path, l.no, bad + 1);
            goto fail;
        }
        int nf = lw_tsv_fields(&l, f, fl, TSV_MAX_FIELDS);
        if (nf < need) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: expected %d tab-separated columns, found %d (missing tab?)", path,
                         l.no, n_cols, nf);
            goto fail;
        }
        if (lw_is_blank(f[col_label], fl[col_label])) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: empty label", path, l.no);
            goto fail;
        }
        if (lw_is_blank(f[col_text], fl[col_text])) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: empty text", path, l.no);
            goto fail;
        }
        if (n_rows == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 256;
            rows = lw_realloc(rows, sizeof *rows * (size_t)cap_rows);
        }
        /* labels are trimmed (a stray space must not make a new class); text is kept as written */
        const char *ls = f[col_label];
        size_t ln = fl[col_label];
        while (ln > 0 && isspace((unsigned char)*ls)) ls++, ln--;
        while (ln > 0 && isspace((unsigned char)ls[ln - 1])) ln--;
        rows[n_rows].label = lw_strndup(ls, ln);
        /* a headerless text column that comes last keeps the rest of the line, tabs and all */
        size_t tl = headerless && col_text == n_cols - 1 ? (size_t)(l.s + l.len - f[col_text]) : fl[col_text];
        rows[n_rows].text = lw_strndup(f[col_text], tl);
        rows[n_rows].line = l.no;
        n_rows++;
    }
    if (n_rows == 0) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: no data rows%s", path, headerless ? "" : " after the header");
        goto fail;
    }
    /* the label set */
    if (ft && ft->n_labels > 0) {
        d->n_labels = ft->n_labels;
        d->labels = lw_calloc((size_t)ft->n_labels, sizeof(char *));
        for (int i = 0; i < ft->n_labels; i++) d->labels[i] = lw_strdup(ft->labels[i]);
    } else {
        char **all = lw_malloc(sizeof(char *) * (size_t)n_rows);
        for (int i = 0; i < n_rows; i++) all[i] = rows[i].label;
        qsort(all, (size_t)n_rows, sizeof(char *), cmp_str);
        int nu = 0;
        for (int i = 0; i < n_rows; i++)
            if (i == 0 || strcmp(all[i], all[i - 1]) != 0) all[nu++] = all[i];
        if (nu > CFG_MAX_LABELS) {
            free(all);
            rc = lw_fail(e, LW_ERR_INVALID,
                         "%s: %d distinct labels, more than %d (is the \"label\" column the right one?)", path, nu,
                         CFG_MAX_LABELS);
            goto fail;
        }
        d->n_labels = nu;
        d->labels = lw_calloc((size_t)nu, sizeof(char *));
        for (int i = 0; i < nu; i++) d->labels[i] = lw_strdup(all[i]);
        free(all);
    }
    if (d->n_labels < 2) {
        rc = lw_fail(e, LW_ERR_INVALID, "%s: only one label (%s): classification needs at least two", path,
                     d->labels[0]);
        goto fail;
    }
    /* labels → indices, texts → ids */
    d->ex = lw_calloc((size_t)n_rows, sizeof(ClsExample));
    IntVec v = {0};
    int first_trunc = 0;
    for (int i = 0; i < n_rows; i++) {
        int k = cls_label_index(d, rows[i].label);
        if (k < 0) {
            char known[256] = "";
            size_t kl = 0;
            for (int j = 0; j < d->n_labels && kl + 1 < sizeof known; j++)
                kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s%s", j ? ", " : "", d->labels[j]);
            ivec_free(&v);
            rc = lw_fail(e, LW_ERR_INVALID, "%s:%d: unknown label '%s' (labels: %s)", path, rows[i].line,
                         rows[i].label, known);
            goto fail;
        }
        v.len = 0;
        tok_encode(tok, rows[i].text, strlen(rows[i].text), 0, &v);
        int n = (int)v.len;
        if (n > max_len) {
            if (!ft || !ft->truncate) {
                ivec_free(&v);
                rc = lw_fail(e, LW_ERR_INVALID,
                             "%s:%d: text has %d tokens, more than the context length %d (set finetune.truncate: "
                             "true to cut it)",
                             path, rows[i].line, n, max_len);
                goto fail;
            }
            if (!d->n_truncated) first_trunc = rows[i].line;
            d->n_truncated++;
            n = max_len;
        }
        ClsExample *x = &d->ex[d->n++];
        x->text = rows[i].text;
        rows[i].text = NULL;
        x->ids = lw_malloc(sizeof(int) * (size_t)LW_MAX(n, 1));
        if (n > 0) memcpy(x->ids, v.data, sizeof(int) * (size_t)n); /* v.data is NULL when no tokens */
        x->n = n;
        x->label = k;
        x->line = rows[i].line;
        if (n == 0) { /* whitespace-free text always makes a token; guard anyway */
            ivec_free(&v);
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d: text makes no tokens", path, rows[i].line);
            goto fail;
        }
    }
    ivec_free(&v);
    if (d->n_truncated)
        lw_log(LW_LOG_WARN, "%s: %d of %d texts longer than %d tokens were truncated (first at line %d)", path,
               d->n_truncated, d->n, max_len, first_trunc);
    for (int i = 0; i < n_rows; i++) free(rows[i].label), free(rows[i].text);
    free(rows);
    free(buf);
    return LW_OK;
fail:
    for (int i = 0; i < n_rows; i++) free(rows[i].label), free(rows[i].text);
    free(rows);
    free(buf);
    cls_free(d);
    return rc;
}

int cls_split(FtSplit *s, const ClsData *d, int balance, float val_fraction, float test_fraction, uint64_t seed,
              LwError *e) {
    memset(s, 0, sizeof *s);
    int rc = check_fractions(val_fraction, test_fraction, e);
    if (rc) return rc;
    Rng r;
    rng_seed(&r, seed);
    int *pool = lw_malloc(sizeof(int) * (size_t)LW_MAX(d->n, 1));
    int n = 0;
    if (balance) {
        int *count = lw_calloc((size_t)d->n_labels, sizeof(int));
        for (int i = 0; i < d->n; i++) count[d->ex[i].label]++;
        int min = d->n;
        for (int k = 0; k < d->n_labels; k++) min = LW_MIN(min, count[k]);
        int *cls = lw_malloc(sizeof(int) * (size_t)LW_MAX(d->n, 1));
        for (int k = 0; k < d->n_labels; k++) { /* each class in file order, shuffled, cut to min */
            int m = 0;
            for (int i = 0; i < d->n; i++)
                if (d->ex[i].label == k) cls[m++] = i;
            rng_shuffle_int(&r, cls, (size_t)m);
            memcpy(pool + n, cls, sizeof(int) * (size_t)min);
            n += min;
        }
        free(cls);
        free(count);
    } else {
        for (int i = 0; i < d->n; i++) pool[n++] = i;
    }
    rng_shuffle_int(&r, pool, (size_t)n);
    split_cut(s, pool, n, val_fraction, test_fraction, 0);
    free(pool);
    rc = check_split_sizes(s, n, val_fraction, test_fraction, e);
    if (rc) ft_split_free(s);
    return rc;
}

int cls_max_len(const ClsData *d, const int *rows, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) m = LW_MAX(m, d->ex[rows[i]].n);
    return m;
}

void cls_batch(const ClsData *d, const int *rows, int n, int T, int pad_id, int *inputs, int *last, int *labels) {
    LW_ASSERT(T >= 1);
    for (int b = 0; b < n; b++) {
        const ClsExample *x = &d->ex[rows[b]];
        int m = LW_MIN(x->n, T);
        int *row = inputs + (size_t)b * (size_t)T;
        memcpy(row, x->ids, sizeof(int) * (size_t)m);
        for (int t = m; t < T; t++) row[t] = pad_id;
        if (last) last[b] = m - 1;
        if (labels) labels[b] = x->label;
    }
}

/* ================= naive Bayes ================= */

static int word_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

/* Calls fn(word, len, ud) for each lowercased word of text (len <= 255; longer words are cut). */
static void words_each(const char *text, void (*fn)(const char *, size_t, void *), void *ud) {
    char w[256];
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !word_byte(*p)) p++;
        size_t n = 0;
        while (*p && word_byte(*p)) {
            if (n < sizeof w - 1) w[n++] = (char)tolower(*p);
            p++;
        }
        if (n) {
            w[n] = 0;
            fn(w, n, ud);
        }
    }
}

static size_t nb_slot(const NbModel *m, const char *w, size_t n) {
    size_t mask = m->table_cap - 1;
    size_t h = (size_t)lw_hash64(w, n, LW_HASH_INIT) & mask;
    while (m->table[h] >= 0 && strcmp(m->words[m->table[h]], w) != 0) h = (h + 1) & mask;
    return h;
}

static int nb_find(const NbModel *m, const char *w, size_t n) {
    if (!m->table_cap) return -1;
    return m->table[nb_slot(m, w, n)];
}

typedef struct NbFit {
    NbModel *m;
    double *counts; /* (cap, n_classes) */
    size_t cap;
    int label;
} NbFit;

static void nb_rehash(NbModel *m, size_t cap) {
    free(m->table);
    m->table_cap = cap;
    m->table = lw_malloc(sizeof(int) * cap);
    for (size_t i = 0; i < cap; i++) m->table[i] = -1;
    for (int i = 0; i < m->n_words; i++) m->table[nb_slot(m, m->words[i], strlen(m->words[i]))] = i;
}

static void nb_fit_word(const char *w, size_t n, void *ud) {
    NbFit *f = ud;
    NbModel *m = f->m;
    size_t h = nb_slot(m, w, n);
    int id = m->table[h];
    if (id < 0) {
        id = m->n_words++;
        if ((size_t)m->n_words > f->cap) {
            size_t cap = f->cap * 2;
            f->counts = lw_realloc(f->counts, sizeof(double) * cap * (size_t)m->n_classes);
            memset(f->counts + f->cap * (size_t)m->n_classes, 0,
                   sizeof(double) * (cap - f->cap) * (size_t)m->n_classes);
            m->words = lw_realloc(m->words, sizeof(char *) * cap);
            f->cap = cap;
        }
        m->words[id] = lw_strndup(w, n);
        m->table[h] = id;
        if ((size_t)m->n_words * 2 > m->table_cap) nb_rehash(m, m->table_cap * 2);
    }
    f->counts[(size_t)id * (size_t)m->n_classes + (size_t)f->label] += 1.0;
}

void nb_fit(NbModel *m, const char *const *texts, const int *labels, int n, int n_classes) {
    LW_ASSERT(n >= 1 && n_classes >= 1);
    memset(m, 0, sizeof *m);
    m->n_classes = n_classes;
    NbFit f = {m, NULL, 1024, 0};
    f.counts = lw_calloc(f.cap * (size_t)n_classes, sizeof(double));
    m->words = lw_malloc(sizeof(char *) * f.cap);
    nb_rehash(m, 4096);
    double *docs = lw_calloc((size_t)n_classes, sizeof(double));
    for (int i = 0; i < n; i++) {
        LW_ASSERT(labels[i] >= 0 && labels[i] < n_classes);
        f.label = labels[i];
        docs[labels[i]] += 1.0;
        words_each(texts[i], nb_fit_word, &f);
    }
    size_t V = (size_t)m->n_words;
    m->log_prior = lw_malloc(sizeof(double) * (size_t)n_classes);
    m->log_lik = lw_malloc(sizeof(double) * (size_t)n_classes * LW_MAX(V, 1));
    for (int k = 0; k < n_classes; k++) {
        /* a class absent from training gets prior 0 (log = -inf) so it is never predicted */
        m->log_prior[k] = docs[k] > 0 ? log(docs[k] / (double)n) : -INFINITY;
        double total = 0;
        for (size_t w = 0; w < V; w++) total += f.counts[w * (size_t)n_classes + (size_t)k];
        double denom = log(total + (double)V);
        for (size_t w = 0; w < V; w++)
            m->log_lik[(size_t)k * V + w] = log(f.counts[w * (size_t)n_classes + (size_t)k] + 1.0) - denom;
    }
    free(docs);
    free(f.counts);
}

typedef struct NbScore {
    const NbModel *m;
    double *score;
} NbScore;

static void nb_score_word(const char *w, size_t n, void *ud) {
    NbScore *s = ud;
    int id = nb_find(s->m, w, n);
    if (id < 0) return;
    for (int k = 0; k < s->m->n_classes; k++) s->score[k] += s->m->log_lik[(size_t)k * (size_t)s->m->n_words + (size_t)id];
}

int nb_predict(const NbModel *m, const char *text) {
    double score[CFG_MAX_LABELS > 64 ? CFG_MAX_LABELS : 64];
    double *sc = m->n_classes <= (int)LW_ARRAY_LEN(score) ? score : lw_malloc(sizeof(double) * (size_t)m->n_classes);
    for (int k = 0; k < m->n_classes; k++) sc[k] = m->log_prior[k];
    NbScore s = {m, sc};
    words_each(text, nb_score_word, &s);
    int best = 0;
    for (int k = 1; k < m->n_classes; k++)
        if (sc[k] > sc[best]) best = k;
    if (sc != score) free(sc);
    return best;
}

double nb_accuracy(const NbModel *m, const ClsData *d, const int *rows, int n) {
    if (n <= 0) return 0;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += nb_predict(m, d->ex[rows[i]].text) == d->ex[rows[i]].label;
    return (double)ok / n;
}

void nb_free(NbModel *m) {
    if (!m) return;
    for (int i = 0; i < m->n_words; i++) free(m->words[i]);
    free(m->words);
    free(m->table);
    free(m->log_prior);
    free(m->log_lik);
    memset(m, 0, sizeof *m);
}

void cls_baseline(const ClsData *d, const FtSplit *s, double *val_acc, double *test_acc) {
    LW_ASSERT(s->n_train >= 1);
    const char **texts = lw_malloc(sizeof(char *) * (size_t)s->n_train);
    int *labels = lw_malloc(sizeof(int) * (size_t)s->n_train);
    for (int i = 0; i < s->n_train; i++) {
        texts[i] = d->ex[s->train[i]].text;
        labels[i] = d->ex[s->train[i]].label;
    }
    NbModel m;
    nb_fit(&m, texts, labels, s->n_train, d->n_labels);
    if (val_acc) *val_acc = nb_accuracy(&m, d, s->val, s->n_val);
    if (test_acc) *test_acc = nb_accuracy(&m, d, s->test, s->n_test);
    nb_free(&m);
    free(texts);
    free(labels);
}

/* ================= instruction data ================= */

void ins_free(InsData *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].instruction);
        free(d->ex[i].input);
        free(d->ex[i].output);
        free(d->ex[i].ids);
    }
    free(d->ex);
    memset(d, 0, sizeof *d);
}

/* LwLine and column of byte offsets, counted incrementally: offsets asked for never decrease, so a whole file costs
 * one pass (an array of 20k entries must not be rescanned from its start for each entry). */
typedef struct LineCol {
    const char *buf;
    size_t off;
    int line, col; /* 1-based, of buf[off] */
} LineCol;

static void line_col(LineCol *lc, size_t off, int *line, int *col) {
    for (size_t i = lc->off; i < off; i++) {
        if (lc->buf[i] == '\n') lc->line++, lc->col = 1;
        else lc->col++;
    }
    if (off > lc->off) lc->off = off;
    *line = lc->line;
    *col = lc->col;
}

static int ins_add(InsData *d, int *cap, const cJSON *o, int line, LwError *e) {
    if (!cJSON_IsObject(o)) return lw_fail(e, LW_ERR_PARSE, "%s:%d: entry is not an object", d->path, line);
    const char *need[2] = {"instruction", "output"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, need[i]);
        if (!v) return lw_fail(e, LW_ERR_PARSE, "%s:%d: missing string \"%s\"", d->path, line, need[i]);
        if (!cJSON_IsString(v) || !v->valuestring)
            return lw_fail(e, LW_ERR_PARSE, "%s:%d: \"%s\" is not a string", d->path, line, need[i]);
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "input");
    if (in && !cJSON_IsNull(in) && !(cJSON_IsString(in) && in->valuestring))
        return lw_fail(e, LW_ERR_PARSE, "%s:%d: \"input\" is not a string", d->path, line);
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        d->ex = lw_realloc(d->ex, sizeof(InsEntry) * (size_t)*cap);
    }
    InsEntry *x = &d->ex[d->n++];
    memset(x, 0, sizeof *x);
    x->instruction = lw_strdup(cJSON_GetObjectItemCaseSensitive(o, "instruction")->valuestring);
    x->output = lw_strdup(cJSON_GetObjectItemCaseSensitive(o, "output")->valuestring);
    x->input = lw_strdup(in && cJSON_IsString(in) ? in->valuestring : "");
    x->line = line;
    return LW_OK;
}

static int json_error(const InsData *d, LineCol *lc, const char *at, LwError *e) {
    int line, col;
    line_col(lc, at ? (size_t)(at - lc->buf) : lc->off, &line, &col);
    return lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON", d->path, line, col);
}

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && isspace((unsigned char)*p)) p++;
    return p;
}

/* A JSON array parsed entry by entry so that each entry's starting line is known. */
static int ins_parse_array(InsData *d, const char *buf, size_t len, LwError *e) {
    const char *end = buf + len, *p = skip_ws(buf, end);
    int cap = 0, rc;
    LineCol lc = {buf, 0, 1, 1};
    LW_ASSERT(p < end && *p == '[');
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') return LW_OK;
    for (;;) {
        const char *stop = NULL;
        int line, col;
        line_col(&lc, (size_t)(p - buf), &line, &col);
        cJSON *o = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &stop, 0);
        if (!o) return json_error(d, &lc, stop ? stop : cJSON_GetErrorPtr(), e);
        rc = ins_add(d, &cap, o, line, e);
        cJSON_Delete(o);
        if (rc) return rc;
        p = skip_ws(stop, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == ']') break;
        line_col(&lc, (size_t)(p - buf), &line, &col);
        return lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON (expected ',' or ']' after an entry)", d->path, line,
                       col);
    }
    p = skip_ws(p + 1, end);
    if (p < end) {
        int line, col;
        line_col(&lc, (size_t)(p - buf), &line, &col);
        return lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON (text after the closing ']')", d->path, line, col);
    }
    return LW_OK;
}

static int ins_parse_lines(InsData *d, const char *buf, size_t len, LwError *e) {
    LwLineIter it = {buf, buf + len, 0};
    LwLine l;
    int cap = 0;
    while (lw_line_next(&it, &l)) {
        if (lw_is_blank(l.s, l.len)) continue;
        const char *stop = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(l.s, l.len, &stop, 0);
        if (!o) {
            const char *at = stop ? stop : l.s;
            if (at < l.s || at > l.s + l.len) at = l.s;
            return lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON", d->path, l.no, (int)(at - l.s) + 1);
        }
        const char *rest = skip_ws(stop, l.s + l.len);
        if (rest < l.s + l.len) {
            cJSON_Delete(o);
            return lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid JSON (text after the object; one object per line)",
                           d->path, l.no, (int)(rest - l.s) + 1);
        }
        int rc = ins_add(d, &cap, o, l.no, e);
        cJSON_Delete(o);
        if (rc) return rc;
    }
    return LW_OK;
}

int ins_load(InsData *d, const char *path, LwError *e) {
    memset(d, 0, sizeof *d);
    snprintf(d->path, sizeof d->path, "%s", path);
    char *buf;
    size_t len;
    int rc = lw_read_file(path, &buf, &len, e);
    if (rc) return rc;
    blank_bom(buf, len);
    size_t bad;
    if (!lw_utf8_valid((const unsigned char *)buf, len, &bad)) {
        int line, col;
        LineCol lc = {buf, 0, 1, 1};
        line_col(&lc, bad, &line, &col);
        rc = lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: invalid UTF-8", path, line, col);
    } else {
        const char *p = skip_ws(buf, buf + len);
        if (p < buf + len && *p == '[') rc = ins_parse_array(d, buf, len, e);
        else rc = ins_parse_lines(d, buf, len, e);
        if (!rc && d->n == 0) rc = lw_fail(e, LW_ERR_PARSE, "%s: no entries", path);
    }
    free(buf);
    if (rc) {
        char keep[CFG_PATH_MAX];
        memcpy(keep, d->path, sizeof keep);
        ins_free(d);
        memcpy(d->path, keep, sizeof keep);
    }
    return rc;
}

/* ---- templates ---- */

static const char ALPACA_HEAD[] = "Below is an instruction that describes a task. "
                                  "Write a response that appropriately completes the request."
                                  "\n\n### Instruction:\n";
static const char ALPACA_INPUT[] = "\n\n### Input:\n";
static const char ALPACA_RESPONSE[] = "\n\n### Response:\n";

int ins_template_parse(const char *name, InsTemplate *out, LwError *e) {
    if (strcmp(name, "alpaca") == 0) *out = INS_TEMPLATE_ALPACA;
    else if (strcmp(name, "phi3") == 0) *out = INS_TEMPLATE_PHI3;
    else return lw_fail(e, LW_ERR_INVALID, "finetune.template: unknown template '%s' (alpaca, phi3)", name);
    return LW_OK;
}

char *ins_format_prompt(InsTemplate t, const char *instruction, const char *input) {
    StrBuf b = {0};
    int has_input = input && input[0];
    if (t == INS_TEMPLATE_PHI3) {
        sb_adds(&b, "<|user|>\n");
        sb_adds(&b, instruction);
        if (has_input) {
            sb_adds(&b, "\n");
            sb_adds(&b, input);
        }
        sb_adds(&b, "<|end|>\n<|assistant|>\n");
    } else {
        sb_adds(&b, ALPACA_HEAD);
        sb_adds(&b, instruction);
        if (has_input) {
            sb_adds(&b, ALPACA_INPUT);
            sb_adds(&b, input);
        }
        sb_adds(&b, ALPACA_RESPONSE);
    }
    return sb_take(&b);
}

char *ins_format_full(InsTemplate t, const char *instruction, const char *input, const char *output) {
    char *p = ins_format_prompt(t, instruction, input);
    StrBuf b = {p, strlen(p), strlen(p) + 1};
    sb_adds(&b, output);
    return sb_take(&b);
}

int ins_tokenize(InsData *d, InsTemplate t, const Tokenizer *tok, int context, int truncate, LwError *e) {
    LW_ASSERT(tok && context >= 1);
    IntVec v = {0};
    int first = 0;
    d->n_truncated = 0;
    for (int i = 0; i < d->n; i++) {
        InsEntry *x = &d->ex[i];
        char *prompt = ins_format_prompt(t, x->instruction, x->input);
        v.len = 0;
        tok_encode(tok, prompt, strlen(prompt), 0, &v);
        free(prompt);
        x->n_prompt = (int)v.len;
        tok_encode(tok, x->output, strlen(x->output), 0, &v);
        free(x->ids);
        x->n = (int)v.len;
        x->ids = lw_malloc(sizeof(int) * (size_t)LW_MAX(x->n, 1));
        memcpy(x->ids, v.data, sizeof(int) * (size_t)x->n);
        if (x->n > context) {
            if (!truncate) {
                ivec_free(&v);
                return lw_fail(e, LW_ERR_INVALID,
                               "%s:%d: entry has %d tokens, more than context_length %d (set finetune.truncate: "
                               "true to cut it)",
                               d->path, x->line, x->n, context);
            }
            if (!d->n_truncated) first = x->line;
            d->n_truncated++;
        }
    }
    ivec_free(&v);
    if (d->n_truncated)
        lw_log(LW_LOG_WARN, "%s: %d of %d entries are longer than context_length %d and will be truncated (first at "
                            "line %d)",
               d->path, d->n_truncated, d->n, context, first);
    return LW_OK;
}

int ins_split(FtSplit *s, int n, float val_fraction, float test_fraction, uint64_t seed, LwError *e) {
    memset(s, 0, sizeof *s);
    int rc = check_fractions(val_fraction, test_fraction, e);
    if (rc) return rc;
    int *pool = lw_malloc(sizeof(int) * (size_t)LW_MAX(n, 1));
    for (int i = 0; i < n; i++) pool[i] = i;
    Rng r;
    rng_seed(&r, seed);
    rng_shuffle_int(&r, pool, (size_t)n);
    split_cut(s, pool, n, val_fraction, test_fraction, 1);
    free(pool);
    rc = check_split_sizes(s, n, val_fraction, test_fraction, e);
    if (rc) ft_split_free(s);
    return rc;
}

int ins_batch_len(const InsData *d, const int *rows, int n, int context) {
    int m = 1;
    for (int i = 0; i < n; i++) m = LW_MAX(m, d->ex[rows[i]].n);
    return LW_MIN(m, context);
}

void ins_batch(const InsData *d, const int *rows, int n, int T, int eot, int mask_prompt, int *inputs, int *targets) {
    LW_ASSERT(T >= 1);
    for (int b = 0; b < n; b++) {
        const InsEntry *x = &d->ex[rows[b]];
        LW_ASSERT(x->ids || x->n == 0);
        int *in = inputs + (size_t)b * (size_t)T, *tg = targets + (size_t)b * (size_t)T;
        /* seq[j] = ids[j] for j < n, then eot for every j >= n (the appended end-of-text and the padding) */
        for (int t = 0; t < T; t++) {
            in[t] = t < x->n ? x->ids[t] : eot;
            tg[t] = t + 1 < x->n ? x->ids[t + 1] : eot;
        }
        int seen = 0;
        for (int t = 0; t < T; t++) {
            if (tg[t] != eot) continue;
            if (seen) tg[t] = FT_IGNORE;
            seen = 1;
        }
        if (mask_prompt)
            for (int t = 0; t < LW_MIN(x->n_prompt - 1, T); t++) tg[t] = FT_IGNORE;
    }
}

/* ---- evaluation ---- */

/* Last occurrence of needle in [s, s+n), or NULL. */
static const char *find_last(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (k > n) return NULL;
    for (size_t i = n - k + 1; i-- > 0;)
        if (memcmp(s + i, needle, k) == 0) return s + i;
    return NULL;
}

char *ins_extract_response(InsTemplate t, const char *generated) {
    const char *header = t == INS_TEMPLATE_PHI3 ? "<|assistant|>" : "### Response:";
    const char *s = generated;
    const char *h = find_last(s, strlen(s), header);
    if (h) s = h + strlen(header);
    if (t == INS_TEMPLATE_PHI3 && *s == ':') s++; /* the book's exercise writes "<|assistant|>:" */
    size_t n = strlen(s);
    const char *stops[] = {"<|endoftext|>", "<|end|>", "<|user|>", "\n###", "<|assistant|>"};
    for (size_t i = 0; i < LW_ARRAY_LEN(stops); i++) {
        const char *q = strstr(s, stops[i]);
        if (q && (size_t)(q - s) < n) n = (size_t)(q - s);
    }
    while (n > 0 && isspace((unsigned char)*s)) s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return lw_strndup(s, n);
}

char *ins_normalize(const char *s) {
    size_t n = strlen(s), k = 0;
    char *r = lw_malloc(n + 1);
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            space = 1;
            continue;
        }
        if (space && k > 0) r[k++] = ' ';
        space = 0;
        r[k++] = (char)tolower(c);
    }
    if (k > 0 && r[k - 1] == '.') k--;
    while (k > 0 && r[k - 1] == ' ') k--;
    r[k] = 0;
    return r;
}

int ins_exact_match(const char *response, const char *expected) {
    char *a = ins_normalize(response ? response : ""), *b = ins_normalize(expected ? expected : "");
    int eq = strcmp(a, b) == 0;
    free(a);
    free(b);
    return eq;
}

int ins_contains_answer(const char *response, const char *expected) {
    char *a = ins_normalize(response ? response : ""), *b = ins_normalize(expected ? expected : "");
    size_t nb = strlen(b);
    int found = 0;
    if (nb > 0) {
        for (const char *p = strstr(a, b); p && !found; p = strstr(p + 1, b)) {
            int left_ok = p == a || !isalnum((unsigned char)p[-1]);
            int right_ok = !isalnum((unsigned char)p[nb]);
            found = left_ok && right_ok;
        }
    }
    free(a);
    free(b);
    return found;
}

int ins_write_responses(const char *path, const InsData *d, const int *rows, const char *const *responses, int n,
                        InsScore *score, LwError *e) {
    StrBuf b = {0};
    InsScore sc = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        const InsEntry *x = &d->ex[rows[i]];
        const char *resp = responses[i] ? responses[i] : "";
        int ex = ins_exact_match(resp, x->output), co = ins_contains_answer(resp, x->output);
        sc.n++;
        sc.n_exact += ex;
        sc.n_contains += co;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "instruction", x->instruction);
        cJSON_AddStringToObject(o, "input", x->input);
        cJSON_AddStringToObject(o, "expected", x->output);
        cJSON_AddStringToObject(o, "response", resp);
        cJSON_AddBoolToObject(o, "exact", ex);
        cJSON_AddBoolToObject(o, "contains", co);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        LW_ASSERT(s);
        sb_adds(&b, s);
        sb_adds(&b, "\n");
        cJSON_free(s);
    }
    if (score) *score = sc;
    int rc = lw_write_file_atomic(path, b.s ? b.s : "", b.len, e);
    free(b.s);
    return rc;
}
