/* runlog.c — the growing files of a run directory: metrics.csv, events.log and probe snapshots (see runlog.h). */
#include "runlog.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "safetensors.h"

const char RUNLOG_METRICS_HEADER[] = "step,tokens,train_loss,val_loss,lr,grad_norm,tokens_per_sec,elapsed";

/* ---------------------------------------------------------------- growing text files */

/* The bytes of path from cur->offset to the end of its last complete line into *buf (malloc'd, NUL-terminated);
 * returns their length, 0 when there is nothing new or the file is missing, -1 on a read error (e filled). A file
 * shorter than the offset was rewritten (a resumed run truncates metrics.csv): it is read again from the start. */
static long read_new_lines(const char *path, RunLogCursor *cur, char **buf, int *restarted, LwError *e) {
    *buf = NULL;
    *restarted = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size < cur->offset) cur->offset = 0, cur->line = 0, *restarted = 1;
    long n = size - cur->offset;
    if (n <= 0) {
        fclose(f);
        return 0;
    }
    char *b = lw_malloc((size_t)n + 1);
    fseek(f, cur->offset, SEEK_SET);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    long keep = (long)got;
    while (keep > 0 && b[keep - 1] != '\n') keep--; /* a line still being written waits */
    if (keep == 0) {
        free(b);
        return 0;
    }
    b[keep] = '\0';
    *buf = b;
    return keep;
}

/* ---------------------------------------------------------------- metrics.csv */

void runlog_write_metric(FILE *f, const MetricPoint *p) {
    fprintf(f, "%ld,%ld,%.6f,", p->step, p->tokens, p->train_loss);
    if (isnan(p->val_loss)) fprintf(f, ",");
    else fprintf(f, "%.6f,", p->val_loss);
    fprintf(f, "%.6g,%.6g,%.1f,%.3f\n", p->lr, p->grad_norm, p->tokens_per_sec, p->elapsed);
}

/* One field of a row: a number, or empty (NAN) when empty_ok. Advances *s past the field and its comma. */
static int csv_field(const char **s, const char *end, double *v, int empty_ok) {
    const char *p = *s, *q = p;
    while (q < end && *q != ',') q++;
    if (q == p) {
        if (!empty_ok) return -1;
        *v = NAN;
    } else {
        char tmp[64];
        if (q - p >= (long)sizeof tmp) return -1;
        memcpy(tmp, p, (size_t)(q - p));
        tmp[q - p] = '\0';
        char *e;
        *v = strtod(tmp, &e);
        if (*e) return -1;
    }
    *s = q < end ? q + 1 : q;
    return 0;
}

int runlog_read_metrics(const char *path, RunLogCursor *cur, MetricPoint **rows, int *n, int *cap, LwError *e) {
    char *buf;
    int restarted;
    long len = read_new_lines(path, cur, &buf, &restarted, e);
    if (len < 0) return LW_ERR_IO;
    if (restarted) *n = 0;
    if (len == 0) return 0;
    int added = 0, rc = 0;
    LwLineIter it = {buf, buf + len, cur->line};
    LwLine ln;
    const char *done = buf; /* the end of the last line taken */
    while (lw_line_next(&it, &ln)) {
        const char *s = ln.s, *end = ln.s + ln.len;
        if (lw_is_blank(s, ln.len) || (ln.no == 1 && !strncmp(s, "step,", 5))) {
            done = end + 1;
            continue;
        }
        double f[8];
        int bad = 0;
        for (int k = 0; k < 8 && !bad; k++) bad = csv_field(&s, end, &f[k], k == 3) != 0;
        if (bad || s != end || f[0] < 0 || f[0] != floor(f[0])) {
            rc = lw_fail(e, LW_ERR_INVALID, "%s:%d: not a metrics row (expected %s)", path, ln.no, RUNLOG_METRICS_HEADER);
            break;
        }
        MetricPoint p = {.step = (long)f[0], .tokens = (long)f[1], .train_loss = (float)f[2], .val_loss = (float)f[3],
                         .lr = (float)f[4], .grad_norm = (float)f[5], .tokens_per_sec = (float)f[6], .elapsed = f[7]};
        while (*n > 0 && (*rows)[*n - 1].step >= p.step) (*n)--; /* a resumed run redid these steps */
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            *rows = lw_realloc(*rows, (size_t)*cap * sizeof **rows);
        }
        (*rows)[(*n)++] = p;
        added++;
        done = end + 1;
    }
    cur->offset += (long)(done - buf);
    cur->line = it.no - (rc ? 1 : 0);
    free(buf);
    return rc ? rc : added;
}

/* ---------------------------------------------------------------- events.log */

static const char *const KIND_NAMES[] = {"info", "eval", "sample", "ckpt", "warn", "error"};

const char *runlog_kind_name(int kind) {
    if (kind == RUNLOG_START) return "start";
    if (kind == RUNLOG_END) return "end";
    return kind >= 0 && kind < (int)LW_ARRAY_LEN(KIND_NAMES) ? KIND_NAMES[kind] : "info";
}

int runlog_kind_parse(const char *s, size_t n) {
    for (int k = 0; k < (int)LW_ARRAY_LEN(KIND_NAMES); k++)
        if (strlen(KIND_NAMES[k]) == n && !memcmp(s, KIND_NAMES[k], n)) return k;
    if (n == 5 && !memcmp(s, "start", 5)) return RUNLOG_START;
    if (n == 3 && !memcmp(s, "end", 3)) return RUNLOG_END;
    return -1;
}

void runlog_write_event(FILE *f, long step, int kind, const char *text) {
    fprintf(f, "%ld\t%s\t", step, runlog_kind_name(kind));
    for (const char *p = text; *p; p++) fputc(*p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p, f);
    fputc('\n', f);
}

int runlog_parse_event(const char *s, size_t n, long *step, int *kind, char *text, size_t tn) {
    const char *end = s + n, *t1 = memchr(s, '\t', n);
    if (!t1 || t1 == s) return -1;
    const char *t2 = memchr(t1 + 1, '\t', (size_t)(end - t1 - 1));
    if (!t2) return -1;
    char num[32];
    if (t1 - s >= (long)sizeof num) return -1;
    memcpy(num, s, (size_t)(t1 - s));
    num[t1 - s] = '\0';
    char *ep;
    *step = strtol(num, &ep, 10);
    if (*ep || *step < 0) return -1;
    if ((*kind = runlog_kind_parse(t1 + 1, (size_t)(t2 - t1 - 1))) < 0) return -1;
    size_t l = (size_t)(end - t2 - 1);
    if (l >= tn) l = tn - 1;
    memcpy(text, t2 + 1, l);
    text[l] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- probe snapshots */

#define PROBE_FORMAT "llmwb-probe 1"

/* A decimal list of n ints into a StrBuf. */
static void put_ints(StrBuf *b, const int *v, int n) {
    char t[24];
    for (int i = 0; i < n; i++) {
        snprintf(t, sizeof t, "%s%d", i ? " " : "", v[i]);
        sb_adds(b, t);
    }
}

/* Token texts as hex byte strings separated by spaces ("-" for an empty one). */
static void put_texts(StrBuf *b, const char (*tok)[SNAP_TOKTEXT], int n) {
    char t[4];
    for (int i = 0; i < n; i++) {
        if (i) sb_adds(b, " ");
        if (!tok[i][0]) sb_adds(b, "-");
        for (const unsigned char *p = (const unsigned char *)tok[i]; *p; p++) {
            snprintf(t, sizeof t, "%02x", *p);
            sb_adds(b, t);
        }
    }
}

int runlog_write_probe(const char *path, const ProbeSnapshot *p, LwError *e) {
    char dims[160];
    snprintf(dims, sizeof dims, "%ld %d %d %d %d %d %d %d %d %d", p->step, p->T, p->L, p->NH, p->C, p->causal, p->kind,
             p->nonfinite, p->Ld, p->Tt);
    StrBuf ids = {0}, toks = {0}, nn = {0}, tids = {0}, ttoks = {0};
    put_ints(&ids, p->ids, p->T);
    put_texts(&toks, p->tok, p->T);
    put_ints(&nn, &p->nn_ids[0][0], p->T * SNAP_NN);
    put_ints(&tids, p->tgt_ids, p->Tt);
    put_texts(&ttoks, p->tgt_tok, p->Tt);
    char *sids = sb_take(&ids), *stoks = sb_take(&toks), *snn = sb_take(&nn), *stids = sb_take(&tids),
         *sttoks = sb_take(&ttoks);
    const char *meta[] = {"format", PROBE_FORMAT,
                          "dims", dims, /* step T L NH C causal kind nonfinite Ld Tt */
                          "ids", sids, "tokens", stoks, "nn_ids", snn, "tgt_ids", stids, "tgt_tokens", sttoks};
    StEntry t[8];
    int nt = 0;
    t[nt++] = (StEntry){"att", 4, {p->L, p->NH, p->T, p->T}, p->att};
    t[nt++] = (StEntry){"tok_emb", 2, {p->T, p->C}, p->tok_emb};
    t[nt++] = (StEntry){"pos_emb", 2, {p->T, p->C}, p->pos_emb};
    t[nt++] = (StEntry){"nn_sim", 2, {p->T, SNAP_NN}, &p->nn_sim[0][0]};
    t[nt++] = (StEntry){"act_mean", 1, {p->L + 1}, p->act_mean};
    t[nt++] = (StEntry){"act_std", 1, {p->L + 1}, p->act_std};
    if (p->Ld) {
        t[nt++] = (StEntry){"dec_att", 4, {p->Ld, p->NH, p->Tt, p->Tt}, p->dec_att};
        t[nt++] = (StEntry){"cross_att", 4, {p->Ld, p->NH, p->Tt, p->T}, p->cross_att};
    }
    int rc = st_write_flags(path, t, nt, meta, (int)LW_ARRAY_LEN(meta) / 2, ST_NO_SYNC, e);
    free(sids), free(stoks), free(snn), free(stids), free(sttoks);
    return rc;
}

/* Parses n decimal ints of metadata key into out; -1 when missing or not exactly n. */
static int get_ints(const StFile *f, const char *key, int *out, int n) {
    const char *s = st_metadata(f, key);
    if (!s) return -1;
    for (int i = 0; i < n; i++) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < -1 || v > 0x7fffffff) return -1;
        out[i] = (int)v;
        s = end;
    }
    while (*s == ' ') s++;
    return *s ? -1 : 0;
}

static int hexval(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* n hex token texts of metadata key into tok; -1 when malformed. */
static int get_texts(const StFile *f, const char *key, char (*tok)[SNAP_TOKTEXT], int n) {
    const char *s = st_metadata(f, key);
    if (!s) return -1;
    for (int i = 0; i < n; i++) {
        while (*s == ' ') s++;
        int k = 0;
        if (*s == '-') s++;
        else if (!*s) return -1;
        else
            while (*s && *s != ' ') {
                int hi = hexval(s[0]), lo = s[1] ? hexval(s[1]) : -1;
                if (hi < 0 || lo < 0 || k >= SNAP_TOKTEXT - 1) return -1;
                tok[i][k++] = (char)(hi * 16 + lo);
                s += 2;
            }
        tok[i][k] = '\0';
    }
    while (*s == ' ') s++;
    return *s ? -1 : 0;
}

/* The F32 tensor name of exactly numel values into a new array (*out), or an error naming the file. */
static int get_floats(const StFile *f, const char *name, size_t numel, float **out, LwError *e) {
    const StTensor *t = st_find(f, name);
    if (!t) return lw_fail(e, LW_ERR_INVALID, "%s: probe snapshot without the tensor %s", st_path(f), name);
    if (t->numel != numel || t->dtype != ST_F32)
        return lw_fail(e, LW_ERR_INVALID, "%s: tensor %s holds %zu %s values, the dims say %zu F32", st_path(f), name,
                       t->numel, st_dtype_name(t->dtype), numel);
    *out = lw_malloc((numel ? numel : 1) * sizeof(float));
    return st_read_f32(f, t, *out, e);
}

int runlog_read_probe(const char *path, ProbeSnapshot **out, LwError *e) {
    *out = NULL;
    StFile *f;
    int rc = st_open(&f, path, e);
    if (rc) return rc;
    ProbeSnapshot *p = lw_calloc(1, sizeof *p);
    const char *fmt = st_metadata(f, "format"), *dims = st_metadata(f, "dims");
    if (!fmt || strcmp(fmt, PROBE_FORMAT)) {
        rc = lw_fail(e, LW_ERR_INVALID, "%s: not a probe snapshot (metadata format is %s, expected \"%s\")", path,
                     fmt ? fmt : "missing", PROBE_FORMAT);
        goto done;
    }
    if (!dims || sscanf(dims, "%ld %d %d %d %d %d %d %d %d %d", &p->step, &p->T, &p->L, &p->NH, &p->C, &p->causal,
                        &p->kind, &p->nonfinite, &p->Ld, &p->Tt) != 10 ||
        p->step < 0 || p->T < 1 || p->T > SNAP_MAX_PROBE || p->L < 1 || p->L > 1024 || p->NH < 1 || p->NH > 1024 ||
        p->C < 1 || p->C > 1 << 16 || p->Ld < 0 || p->Ld > 1024 || p->Tt < 0 || p->Tt > SNAP_MAX_PROBE ||
        (p->Ld > 0) != (p->Tt > 0)) {
        rc = lw_fail(e, LW_ERR_INVALID, "%s: bad dims metadata '%s' (step T L NH C causal kind nonfinite Ld Tt)", path,
                     dims ? dims : "");
        goto done;
    }
    if (get_ints(f, "ids", p->ids, p->T) || get_texts(f, "tokens", p->tok, p->T) ||
        get_ints(f, "nn_ids", &p->nn_ids[0][0], p->T * SNAP_NN) || get_ints(f, "tgt_ids", p->tgt_ids, p->Tt) ||
        get_texts(f, "tgt_tokens", p->tgt_tok, p->Tt)) {
        rc = lw_fail(e, LW_ERR_INVALID, "%s: token metadata (ids, tokens, nn_ids, tgt_ids, tgt_tokens) does not match "
                                        "%d probe tokens and %d target tokens", path, p->T, p->Tt);
        goto done;
    }
    size_t T = (size_t)p->T, L = (size_t)p->L, NH = (size_t)p->NH, C = (size_t)p->C;
    float *nn_sim = NULL;
    if ((rc = get_floats(f, "att", L * NH * T * T, &p->att, e)) || (rc = get_floats(f, "tok_emb", T * C, &p->tok_emb, e)) ||
        (rc = get_floats(f, "pos_emb", T * C, &p->pos_emb, e)) || (rc = get_floats(f, "nn_sim", T * SNAP_NN, &nn_sim, e)) ||
        (rc = get_floats(f, "act_mean", L + 1, &p->act_mean, e)) || (rc = get_floats(f, "act_std", L + 1, &p->act_std, e))) {
        free(nn_sim);
        goto done;
    }
    memcpy(p->nn_sim, nn_sim, T * SNAP_NN * sizeof(float));
    free(nn_sim);
    if (p->Ld) {
        size_t Ld = (size_t)p->Ld, Tt = (size_t)p->Tt;
        if ((rc = get_floats(f, "dec_att", Ld * NH * Tt * Tt, &p->dec_att, e)) ||
            (rc = get_floats(f, "cross_att", Ld * NH * Tt * T, &p->cross_att, e)))
            goto done;
    }
done:
    st_close(f);
    if (rc) engine_probe_free(p);
    else *out = p;
    return rc;
}

void runlog_probe_path(const char *run_dir, long step, char *out, size_t n) {
    snprintf(out, n, "%s/" RUNLOG_PROBES_DIR "/step-%08ld.safetensors", run_dir, step);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int runlog_list_probes(const char *run_dir, long *steps, int max) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/" RUNLOG_PROBES_DIR, run_dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        long s;
        int end = 0;
        if (sscanf(de->d_name, "step-%ld.safetensors%n", &s, &end) == 1 && end && !de->d_name[end] && s >= 0)
            steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_long);
    return n;
}

void runlog_thin_probes(const char *run_dir) {
    long *steps = lw_malloc(4 * RUNLOG_PROBES_MAX * sizeof *steps);
    int n = runlog_list_probes(run_dir, steps, 4 * RUNLOG_PROBES_MAX);
    if (n > RUNLOG_PROBES_MAX) {
        char path[4200];
        for (int i = 1; i < n - 1; i += 2) {
            runlog_probe_path(run_dir, steps[i], path, sizeof path);
            unlink(path);
        }
    }
    free(steps);
}
