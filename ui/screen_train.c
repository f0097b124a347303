/* screen_train.c — [4] Train: loss curves (train and validation; raw dim, debiased EMA bright; log scale; x by
 * step or tokens), learning rate and gradient norm plots, progress and ETA, the latest sample and the event
 * log. Metrics and events are copied incrementally from the engine's [any thread] getters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine.h" /* export_* (export.h, part of the public API) */

#define TR_EVENTS 200
#define TR_ACC 64          /* accuracy lines kept for a classifier */
#define TR_EMA_TRAIN 0.9
#define TR_EMA_VAL 0.6
/* The next row of a column ending at bot, or -1 (outside every buffer: not drawn) once it is full. */
#define TR_ROW(y, bot) ((y) < (bot) ? (y)++ : -1)

static struct {
    Engine *eng;                /* metrics below belong to this engine */
    MetricPoint *m;
    int n, cap;
    EngineEvent ev[TR_EVENTS];  /* ring of the latest events */
    int n_ev;
    long last_ev_seq;
    char sample[SNAP_EVENT_TEXT];
    long sample_step;
    /* classifier: the baseline and accuracy events, shortened ("step N: ..."), oldest first (ring); each also
     * as its kind and figures, so a narrow box gets a shorter form rather than a cut number */
    char acc[TR_ACC][160];
    struct { int kind; long step; float v[3]; int batches; } accv[TR_ACC];   /* kind: 0 baseline, 1 split, 2 val, 3 mlm,
                                                                                 * 4 translate (BLEU, chrF, exact) */
    int n_acc;
    float val_acc;             /* latest "val accuracy" (percent), < 0 = none yet */
    float mlm_base;            /* mlm: the unigram baseline of the latest masked-accuracy event, < 0 = none yet */
    char mlm_line[96];         /* mlm: that baseline as the box's first line */
    /* translate: the word-by-word baseline of the latest evaluation (BLEU, chrF, exact; < 0 = none yet), the copy
     * baseline's BLEU, the held-out split and its pairs */
    float tr_word[3], tr_copy;
    char tr_split[16];
    int tr_pairs;
    int logy, by_tokens;
    /* search: the match is in event hit_ev (absolute index, its formatted line) or, when hit_ev < 0 and
     * hit_sample >= 0, at that byte of the sample; hit_col = the match's byte offset in the event line */
    long hit_ev, hit_sample;
    int hit_col, hit_len;
    /* --watch A --watch B ...: the other runs' metrics.csv, overlaid (index 0 unused: the engine's run) */
    struct { RunLogCursor cur; MetricPoint *m; int n, cap; } cmp[APP_MAX_RUNS];
    double cmp_next;           /* lw_now() of the next read of their files */
    int adding;                /* c: the prompt for a run directory to compare with is open */
    LineEdit le;
    char run_store[APP_MAX_RUNS][1024]; /* the runs added with c (App.runs points here) */
} tr = {.hit_ev = -1, .hit_sample = -1, .tr_word = {-1}};

/* c: adds dir's loss curve to the plot (a->runs; the first entry names this session's own run). */
static void tr_compare_add(App *a, const char *dir) {
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (!lw_file_exists(path)) {
        app_status(a, 1, "%s: no metrics.csv there (not a run directory)", dir);
        return;
    }
    if (a->n_runs == 0) { /* this session's run becomes A */
        snprintf(tr.run_store[0], sizeof tr.run_store[0], "%s", a->ts.run_dir);
        a->runs[0] = tr.run_store[0];
        a->n_runs = 1;
    }
    int i = a->n_runs++;
    snprintf(tr.run_store[i], sizeof tr.run_store[i], "%s", dir);
    a->runs[i] = tr.run_store[i];
    tr.cmp[i].cur = (RunLogCursor){0, 0};
    tr.cmp[i].n = 0;
    tr.cmp_next = 0;
    app_status(a, 0, "comparing with %s (curve %c; C removes the compared runs)", dir, 'A' + i);
}

/* Reads what the compared runs' metrics.csv gained (twice a second); returns 1 when any grew. */
static int tr_poll_compare(App *a) {
    if (a->n_runs < 2 || lw_now() < tr.cmp_next) return 0;
    tr.cmp_next = lw_now() + 0.5;
    int changed = 0;
    for (int i = 1; i < a->n_runs; i++) {
        char path[1100];
        LwError e;
        snprintf(path, sizeof path, "%s/metrics.csv", a->runs[i]);
        int before = tr.cmp[i].n;
        int rc = runlog_read_metrics(path, &tr.cmp[i].cur, &tr.cmp[i].m, &tr.cmp[i].n, &tr.cmp[i].cap, &e);
        if (rc < 0) app_status(a, 1, "compare: %s", e.msg);
        if (rc != 0 || tr.cmp[i].n != before) changed = 1;
    }
    return changed;
}

/* The event log line of event i (absolute index) as drawn: "  step kind text", whitespace flattened. */
static void tr_event_line(int i, char *line, size_t n) {
    static const char *kinds[] = {"info", "eval", "sample", "ckpt", "warn", "ERROR"};
    const EngineEvent *e = &tr.ev[i % TR_EVENTS];
    snprintf(line, n, "%6ld %-6s %s", e->step, kinds[e->kind <= EV_ERROR ? e->kind : 0], e->text);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
}

/* The oldest event still kept in the ring. */
static int tr_first_kept(void) { return tr.n_ev > TR_EVENTS ? tr.n_ev - TR_EVENTS : 0; }

/* Keeps a classifier's baseline and accuracy events for the Accuracy box, in short forms without file paths:
 * "naive Bayes: val V%, test T%", "step N: val V% (k batches)", "step N: train A%, val V%, test T%". */
static void tr_note_accuracy(const EngineEvent *ev) {
    const char *t = ev->text;
    float f[4];
    int k;
    char *line = tr.acc[tr.n_acc % TR_ACC];
    size_t n = sizeof tr.acc[0];
    const char *va = strstr(t, "val accuracy ");
    int kind;
    char top[32];
    const char *pb = strstr(t, " pairs: BLEU "), *on = strstr(t, " on ");
    float wb[4];
    if (!strncmp(t, "baseline on ", 12)) {   /* translate, at open: the baselines before any evaluation */
        float cb[3];
        if (sscanf(t, "baseline on %d %15s pairs: copy BLEU %f chrF %f exact %f%%; word-by-word BLEU %f chrF %f exact %f%%",
                   &tr.tr_pairs, tr.tr_split, &cb[0], &cb[1], &cb[2], &tr.tr_word[0], &tr.tr_word[1], &tr.tr_word[2]) == 8)
            tr.tr_copy = cb[0];
        else
            tr.tr_word[0] = -1;
        return;
    }
    if (ev->kind == EV_EVAL && pb && on && on < pb &&
        sscanf(pb, " pairs: BLEU %f chrF %f exact %f%% (word-by-word BLEU %f chrF %f exact %f%%; copy BLEU %f", &f[0],
               &f[1], &f[2], &wb[0], &wb[1], &wb[2], &wb[3]) == 7) {
        /* translate: "before training|translation eval on N SPLIT pairs: BLEU b chrF c exact e% (word-by-word ...)" */
        kind = 4;
        memcpy(tr.tr_word, wb, sizeof tr.tr_word);
        tr.tr_copy = wb[3];
        if (sscanf(on, " on %d %15s", &tr.tr_pairs, tr.tr_split) != 2) tr.tr_pairs = 0, tr.tr_split[0] = '\0';
        snprintf(line, n, "step %ld: BLEU %.1f chrF %.1f exact %.1f%%", ev->step, f[0], f[1], f[2]);
    } else if (sscanf(t, "masked accuracy %f%%, unigram baseline %f%% (always \"%31[^\"]", &f[0], &f[1], top) == 3) {
        kind = 3;
        /* the baseline line stays on top of the box (not in the ring, which long runs overwrite) */
        snprintf(tr.mlm_line, sizeof tr.mlm_line, "unigram baseline (always \"%s\"): %.1f%% of the blanks", top, f[1]);
        tr.mlm_base = f[1];
        tr.val_acc = f[0];
        snprintf(line, n, "step %ld: masked %.1f%% (unigram %.1f%%)", ev->step, f[0], f[1]);
    } else if (sscanf(t, "naive-Bayes baseline on the same split: val %f%%, test %f%%", &f[0], &f[1]) == 2) {
        kind = 0;
        snprintf(line, n, "naive Bayes (bag of words): val %.1f%%, test %.1f%%", f[0], f[1]);
    } else if (sscanf(t, "accuracy train %f%%, val %f%%, test %f%%", &f[0], &f[1], &f[2]) == 3) {
        kind = 1;
        snprintf(line, n, "step %ld: train %.1f%%, val %.1f%%, test %.1f%%", ev->step, f[0], f[1], f[2]);
    } else if (va && sscanf(va, "val accuracy %f%% (%d batches)", &f[0], &k) == 2) {
        kind = 2;
        tr.val_acc = f[0];
        snprintf(line, n, "step %ld: val %.1f%% (%d batches)", ev->step, f[0], k);
    } else {
        return;
    }
    int slot = tr.n_acc % TR_ACC;
    tr.accv[slot].kind = kind, tr.accv[slot].step = ev->step, tr.accv[slot].batches = kind == 2 ? k : 0;
    memcpy(tr.accv[slot].v, f, sizeof tr.accv[slot].v);
    tr.n_acc++;
}

static int tr_poll(App *a) {
    if (!a->eng) return 0;
    int changed = tr_poll_compare(a);
    if (tr.eng != a->eng) {
        tr.eng = a->eng;
        tr.n = 0;
        tr.n_ev = 0;
        tr.last_ev_seq = 0;
        tr.sample[0] = '\0';
        tr.hit_ev = tr.hit_sample = -1;
        tr.n_acc = 0;
        tr.val_acc = -1;
        tr.mlm_base = -1;
        tr.mlm_line[0] = '\0';
        tr.tr_word[0] = -1;
        tr.tr_pairs = 0;
        changed = 1;
    }
    int total = engine_n_metrics(a->eng);
    if (total < tr.n) tr.n = 0;
    if (total > tr.n) {
        if (total > tr.cap) {
            int cap = tr.cap ? tr.cap : 1024;
            while (cap < total) cap *= 2;
            MetricPoint *m = realloc(tr.m, sizeof(MetricPoint) * (size_t)cap);
            if (!m) return 0;
            tr.m = m, tr.cap = cap;
        }
        tr.n += engine_get_metrics(a->eng, tr.n, tr.m + tr.n, total - tr.n);
        changed = 1;
    }
    EngineEvent buf[32];
    int k;
    while ((k = engine_get_events(a->eng, tr.last_ev_seq, buf, 32)) > 0) {
        for (int i = 0; i < k; i++) {
            tr.ev[tr.n_ev % TR_EVENTS] = buf[i];
            tr.n_ev++;
            tr.last_ev_seq = buf[i].seq;
            if (buf[i].kind == EV_SAMPLE) {
                snprintf(tr.sample, sizeof tr.sample, "%s", buf[i].text);
                tr.sample_step = buf[i].step;
                tr.hit_sample = -1;   /* a new sample: the old match offset means nothing */
            }
            tr_note_accuracy(&buf[i]);
        }
        changed = 1;
        if (k < 32) break;
    }
    return changed;
}

static void tr_fmt_time(double s, char *buf, size_t n) {
    if (!(s >= 0) || !isfinite(s)) { snprintf(buf, n, "--:--:--"); return; }
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

/* A run's name in the compare legend: its directory's last component (runs/gpt2-small -> gpt2-small). */
static const char *tr_run_name(const char *dir) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s", dir);
    size_t l = strlen(b);
    while (l > 1 && b[l - 1] == '/') b[--l] = '\0';
    const char *slash = strrchr(b, '/');
    return slash && slash[1] ? slash + 1 : b;
}

static void tr_draw_plots(App *a, CellBuf *cb, Rect r) {
    const Rect r0 = r;
    int n = tr.n;
    double *x = malloc(sizeof(double) * (size_t)(n + 1) * 6);
    if (!x) return;
    double *y = x + (n + 1), *ye = y + (n + 1), *vx = ye + (n + 1), *vy = vx + (n + 1), *ve = vy + (n + 1);
    int nv = 0;
    for (int i = 0; i < n; i++) {
        x[i] = tr.by_tokens ? (double)tr.m[i].tokens : (double)tr.m[i].step;
        y[i] = tr.m[i].train_loss;
        if (isfinite(tr.m[i].val_loss)) vx[nv] = x[i], vy[nv] = tr.m[i].val_loss, nv++;
    }
    ema_debiased(y, n, TR_EMA_TRAIN, ye);
    ema_debiased(vy, nv, TR_EMA_VAL, ve);
    char legend[200];
    snprintf(legend, sizeof legend, "Loss  train: raw %s EMA %s   val: raw %s EMA %s   scale %s (L)   x %s (x)",
             a->caps.unicode ? "\xe2\x94\x88" : "-", a->caps.unicode ? "\xe2\x94\x81" : "=",
             a->caps.unicode ? "\xe2\x94\x88" : "-", a->caps.unicode ? "\xe2\x94\x81" : "=",
             tr.logy ? "log" : "linear", tr.by_tokens ? "tokens" : "step");
    cb_text(cb, r.x, r.y, r.w, legend, a->th.title);
    /* legend swatches in their colours */
    PlotSeries s[4 + APP_MAX_RUNS] = {
        {x, y, n, a->th.plot_raw}, {vx, vy, nv, a->th.plot_val_raw}, {x, ye, n, a->th.plot_ema},
        {vx, ve, nv, a->th.plot_val_ema}};
    /* compared runs (--watch A --watch B): their smoothed train curves, named B, C, D at their ends and in a
     * legend row under the title */
    int ns = 4, nc = a->n_runs > 1 ? a->n_runs - 1 : 0;
    const Style cmp_st[3] = {a->th.plot_aux, a->th.warn, a->th.good};
    double *cx[APP_MAX_RUNS] = {0}, *cy[APP_MAX_RUNS] = {0};
    int letter_at[APP_MAX_RUNS] = {0};
    if (nc) {
        char row[600] = "", part[200];
        snprintf(row, sizeof row, "A %s (train, val)", tr_run_name(a->runs[0]));
        for (int i = 1; i <= nc; i++) {
            int m = tr.cmp[i].n;
            cx[i] = malloc(sizeof(double) * (size_t)(2 * m + 2));
            if (!cx[i]) {
                s[ns++] = (PlotSeries){NULL, NULL, 0, cmp_st[(i - 1) % 3]};
                continue;
            }
            cy[i] = cx[i] + m + 1;
            double *raw = malloc(sizeof(double) * (size_t)(m + 1));
            for (int k = 0; k < m && raw; k++) {
                cx[i][k] = tr.by_tokens ? (double)tr.cmp[i].m[k].tokens : (double)tr.cmp[i].m[k].step;
                raw[k] = tr.cmp[i].m[k].train_loss;
            }
            if (raw) ema_debiased(raw, m, TR_EMA_TRAIN, cy[i]);
            else m = 0;
            free(raw);
            s[ns++] = (PlotSeries){cx[i], cy[i], m, cmp_st[(i - 1) % 3]};
            letter_at[i] = (int)strlen(row) + 3;
            snprintf(part, sizeof part, "   %c %s (train)", 'A' + i, tr_run_name(a->runs[i]));
            if (strlen(row) + strlen(part) < sizeof row) strcat(row, part);
        }
        cb_text(cb, r.x, r.y + 1, r.w, row, a->th.dim);
        cb_put(cb, r.x, r.y + 1, 'A', a->th.plot_ema); /* the letters in their curves' colours */
        for (int i = 1; i <= nc; i++)
            if (letter_at[i] < r.w) cb_put(cb, r.x + letter_at[i], r.y + 1, (uint32_t)('A' + i), s[3 + i].st);
        r.y++, r.h--;
    }
    PlotOpts o;
    memset(&o, 0, sizeof o);
    o.logy = tr.logy;
    o.blocks = a->caps.blocks;
    o.unicode = a->caps.unicode;
    o.axis = a->th.dim;
    o.xlabel = tr.by_tokens ? "tokens" : "step";
    /* the curves are also named at their right ends ("train", "val"), so they are told apart without colour */
    int lab_w = r.w >= 40 ? 6 : 0;
    Rect pr = {r.x, r.y + 1, r.w - lab_w, r.h - 1};
    int any = n;
    for (int i = 4; i < ns; i++) any += s[i].n;
    if (any == 0) {
        const char *note = a->ws.running ? "Training: the first step is running ..."
                                         : "No steps yet: press Space to train, s for one step.";
        if (a->ts.inference_only) note = "A checkpoint opened to chat with: no training curves here.";
        if (a->ts.watching) note = "Watching: no step in the run's metrics.csv yet ...";
        cb_text(cb, r.x + 2, r.y + 2, r.w - 4, note, a->th.dim);
    } else {
        plot_draw(cb, pr, s, ns, o);
        PlotOpts ro = o;
        plot_resolve_range(s, ns, &ro);
        int h = pr.h - 1, prev_row = -10;
        const double *ends[2 + APP_MAX_RUNS] = {n > 0 ? &ye[n - 1] : NULL, nv > 0 ? &ve[nv - 1] : NULL};
        const char *names[2 + APP_MAX_RUNS] = {"train", "val", "B", "C", "D"};
        Style sts[2 + APP_MAX_RUNS] = {a->th.plot_ema, a->th.plot_val_ema};
        for (int i = 0; i < ns - 4; i++) {
            ends[2 + i] = s[4 + i].n > 0 ? &s[4 + i].y[s[4 + i].n - 1] : NULL;
            sts[2 + i] = s[4 + i].st;
        }
        for (int i = 0; lab_w && h > 1 && i < 2 + ns - 4; i++) {
            if (!ends[i] || !isfinite(*ends[i]) || (ro.logy && *ends[i] <= 0)) continue;
            double v = *ends[i], f;
            if (ro.logy) f = (log10(v) - log10(ro.ymin)) / (log10(ro.ymax) - log10(ro.ymin));
            else f = (v - ro.ymin) / (ro.ymax - ro.ymin);
            int row = (int)lround((1 - f) * (h - 1));
            if (row < 0) row = 0;
            if (row > h - 1) row = h - 1;
            if (abs(row - prev_row) < 1) row = row + 1 <= h - 1 ? row + 1 : row - 1;
            prev_row = row;
            Style st = sts[i];
            st.attr |= CA_BOLD;
            cb_printf(cb, pr.x + pr.w, pr.y + row, lab_w, st, "%s%s", a->caps.unicode ? "\xe2\x97\x82" : "<",
                      names[i]);
        }
    }
    for (int i = 1; i <= nc; i++) free(cx[i]);
    free(x);
    if (tr.adding) { /* c: the prompt over the title row */
        cb_fill(cb, (Rect){r0.x, r0.y, r0.w, 1}, ' ', a->th.text);
        int px = r0.x + cb_text(cb, r0.x, r0.y, r0.w, "compare with run: ", a->th.bold);
        le_draw(&tr.le, cb, px, r0.y, r0.x + r0.w - px, a->th.text, 1);
    }
}

static void tr_draw_small_plot(App *a, CellBuf *cb, Rect r, const char *title, int which) {
    if (r.h < 4) return;
    int n = tr.n;
    double *x = malloc(sizeof(double) * (size_t)(2 * n + 2));
    if (!x) return;
    double *y = x + n + 1;
    for (int i = 0; i < n; i++) {
        x[i] = tr.by_tokens ? (double)tr.m[i].tokens : (double)tr.m[i].step;
        y[i] = which == 0 ? tr.m[i].lr : tr.m[i].grad_norm;
    }
    cb_text(cb, r.x, r.y, r.w, title, a->th.title);
    PlotSeries s = {x, y, n, a->th.plot_aux};
    PlotOpts o;
    memset(&o, 0, sizeof o);
    o.blocks = a->caps.blocks;
    o.unicode = a->caps.unicode;
    o.axis = a->th.dim;
    /* the learning rate and the gradient norm are never negative: the axis starts at 0, not at a padded -8e-05 */
    double top = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i]) && y[i] > top) top = y[i];
    if (top > 0) o.ymin = 0, o.ymax = top * 1.05;
    if (n > 0) plot_draw(cb, (Rect){r.x, r.y + 1, r.w, r.h - 1}, &s, 1, o);
    free(x);
}

/* Accuracy line i (absolute) in the longest form that fits w columns: the words shorten before a figure is
 * cut (the last resort is a cut marked with "…"). Every form keeps "naive Bayes", "step N: train" or
 * "step N: val" (the demo script waits for them). */
static void tr_acc_line(const App *a, int i, int w, char *out, size_t n) {
    int slot = i % TR_ACC;
    const float *v = tr.accv[slot].v;
    long st = tr.accv[slot].step;
    char f[4][160];
    switch (tr.accv[slot].kind) {
    case 0:
        snprintf(f[0], sizeof f[0], "%s", tr.acc[slot]);
        snprintf(f[1], sizeof f[1], "naive Bayes: val %.1f%%, test %.1f%%", v[0], v[1]);
        snprintf(f[2], sizeof f[2], "naive Bayes: val %.1f test %.1f", v[0], v[1]);
        snprintf(f[3], sizeof f[3], "naive Bayes: va %.1f te %.1f", v[0], v[1]);
        break;
    case 1:
        snprintf(f[0], sizeof f[0], "%s", tr.acc[slot]);
        snprintf(f[1], sizeof f[1], "step %ld: train %.1f%% val %.1f%% test %.1f%%", st, v[0], v[1], v[2]);
        snprintf(f[2], sizeof f[2], "step %ld: train %.1f val %.1f test %.1f", st, v[0], v[1], v[2]);
        snprintf(f[3], sizeof f[3], "step %ld: train %.1f va %.1f te %.1f", st, v[0], v[1], v[2]);
        break;
    case 4: {   /* translate: the words and then the lesser figures give way */
        char s[32], b[24], c[24], x[24];
        snprintf(s, sizeof s, "step %ld:", st);
        snprintf(b, sizeof b, "BLEU %.1f", v[0]);
        snprintf(c, sizeof c, "chrF %.1f", v[1]);
        snprintf(x, sizeof x, "exact %.1f%%", v[2]);
        FitField ff[] = {{s, NULL, 0}, {b, NULL, 0}, {c, NULL, 1}, {x, NULL, 2}};
        fit_line(ff, 4, " ", w, a->caps.unicode, out, n);
        return;
    }
    case 3:
        snprintf(f[0], sizeof f[0], "%s", tr.acc[slot]);
        snprintf(f[1], sizeof f[1], "step %ld: masked %.1f%% (unigram %.1f%%)", st, v[0], v[1]);
        snprintf(f[2], sizeof f[2], "step %ld: masked %.1f unigram %.1f", st, v[0], v[1]);
        snprintf(f[3], sizeof f[3], "step %ld: masked %.1f", st, v[0]);
        break;
    default:
        snprintf(f[0], sizeof f[0], "%s", tr.acc[slot]);
        snprintf(f[1], sizeof f[1], "step %ld: val %.1f%%", st, v[0]);
        snprintf(f[2], sizeof f[2], "step %ld: val %.1f", st, v[0]);
        snprintf(f[3], sizeof f[3], "step %ld: va %.1f", st, v[0]);
        break;
    }
    for (int k = 0; k < 4; k++)
        if (utf8_cols(f[k]) <= w) {
            snprintf(out, n, "%.159s", f[k]);
            return;
        }
    utf8_fit(f[3], w, a->caps.unicode, out, n);
}

/* A classifier's box in place of the sample: its classes, then the baseline and accuracy lines, newest at the
 * bottom (lines longer than the box are cut; the event log has them whole). */
/* The word-by-word baseline of a translation evaluation in w columns: "word-by-word baseline: BLEU b chrF c exact
 * e%  (copy BLEU k)", the words and the lesser figures giving way first. */
static void tr_translate_base(const App *a, int w, char *out, size_t n) {
    char b[24], c[24], x[24], k[32];
    snprintf(b, sizeof b, "BLEU %.1f", tr.tr_word[0]);
    snprintf(c, sizeof c, "chrF %.1f", tr.tr_word[1]);
    snprintf(x, sizeof x, "exact %.1f%%", tr.tr_word[2]);
    snprintf(k, sizeof k, "(copy BLEU %.1f)", tr.tr_copy);
    FitField ff[] = {{"word-by-word baseline:", "word-by-word:", -5}, {b, NULL, 0}, {c, NULL, 2}, {x, NULL, 3},
                     {k, NULL, 4}};
    fit_line(ff, 5, " ", w, a->caps.unicode, out, n);
}

/* A translator's box in place of the sample: the word-by-word baseline on top, then BLEU, chrF and exact match of
 * each evaluation on the held-out split (the first and the latest kept), newest at the bottom. */
static void tr_draw_translate(App *a, CellBuf *cb, Rect r) {
    char title[96];
    if (tr.tr_pairs > 0) snprintf(title, sizeof title, "Translation on %d %s pairs", tr.tr_pairs, tr.tr_split);
    else snprintf(title, sizeof title, "Translation (held-out pairs)");
    cb_box(cb, r, title, a->th.dim, a->caps.unicode);
    int w = r.w - 2, y = r.y + 1, bottom = r.y + r.h - 1;
    if (w < 8 || r.h < 3) return;
    char line[160];
    if (tr.tr_word[0] >= 0) {
        tr_translate_base(a, w, line, sizeof line);
        cb_text(cb, r.x + 1, y++, w, line, a->th.dim);
    }
    int first = tr.n_acc > TR_ACC ? tr.n_acc - TR_ACC : 0, idx[TR_ACC], m = 0;
    for (int i = first; i < tr.n_acc; i++)
        if (tr.accv[i % TR_ACC].kind == 4) idx[m++] = i;
    int room = bottom - y - (tr.sample[0] ? 1 : 0), from = m > room ? m - room : 0;
    if (m == 0 && y < bottom)
        y += LW_MIN(bottom - y, cb_wrap(cb, (Rect){r.x + 1, y, w, bottom - y},
                                        "BLEU, chrF and exact match: before the first step, at each checkpoint and "
                                        "at the end",
                                        a->th.dim));
    for (int j = 0; j < m && y < bottom; j++) {
        if (j > 0 && j < from + (from > 0)) continue;   /* the first evaluation stays, then the latest */
        tr_acc_line(a, idx[j], w, line, sizeof line);
        cb_text(cb, r.x + 1, y++, w, line, j == m - 1 ? a->th.good : a->th.text);
    }
    if (tr.sample[0] && y < bottom) {   /* the latest sample translation, on the last row */
        char s[SNAP_EVENT_TEXT + 32], fit[SNAP_EVENT_TEXT + 32];
        snprintf(s, sizeof s, "sample: %s", tr.sample);
        for (char *p = s; *p; p++)
            if (*p == '\n' || *p == '\t') *p = ' ';
        cb_text(cb, r.x + 1, bottom - 1, w, utf8_fit(s, w, a->caps.unicode, fit, sizeof fit), a->th.text);
    }
}

static void tr_draw_accuracy(App *a, CellBuf *cb, Rect r, int mlm) {
    cb_box(cb, r, mlm ? "Masked-token accuracy (MLM)" : "Accuracy (classifier)", a->th.dim, a->caps.unicode);
    int w = r.w - 2, h = r.h - 2;
    if (w < 8 || h < 2) return;
    char classes[160];
    int o = snprintf(classes, sizeof classes, mlm ? "15%% of the tokens hidden; the model names them" : "classes:");
    for (int k = 0; k < engine_n_classes(a->eng) && o < (int)sizeof classes; k++)
        o += snprintf(classes + o, sizeof classes - (size_t)o, " %s", engine_class_name(a->eng, k));
    cb_text(cb, r.x + 1, r.y + 1, w, classes, a->th.bold);
    /* the baseline stays on top, the first and the latest whole-split accuracies ("train ...") stay too, and the
     * latest evaluations fill the rows left; drawn oldest first */
    int first = tr.n_acc > TR_ACC ? tr.n_acc - TR_ACC : 0, y = r.y + 2;
    if (mlm && tr.mlm_line[0]) cb_text(cb, r.x + 1, y++, w, tr.mlm_line, a->th.dim);
    if (tr.n_acc > first && tr.accv[first % TR_ACC].kind == 0) {
        char line[160];
        tr_acc_line(a, first, w, line, sizeof line);
        cb_text(cb, r.x + 1, y++, w, line, a->th.dim);
        first++;
    }
    int room = r.y + r.h - 1 - y, first_full = -1, last_full = -1;
    char keep[TR_ACC] = {0};   /* by ring slot */
    for (int i = first; i < tr.n_acc; i++)
        if (tr.accv[i % TR_ACC].kind == 1 || tr.accv[i % TR_ACC].kind == 3) {
            if (first_full < 0) first_full = i;
            last_full = i;
        }
    int kept = 0;
    if (last_full >= 0 && kept < room) keep[last_full % TR_ACC] = 1, kept++;
    if (first_full >= 0 && first_full != last_full && kept < room) keep[first_full % TR_ACC] = 1, kept++;
    for (int i = tr.n_acc - 1; i >= first && kept < room; i--)
        if (!keep[i % TR_ACC]) keep[i % TR_ACC] = 1, kept++;
    for (int i = first; i < tr.n_acc; i++) {
        if (!keep[i % TR_ACC]) continue;
        char line[160];
        tr_acc_line(a, i, w, line, sizeof line);
        cb_text(cb, r.x + 1, y++, w, line, tr.accv[i % TR_ACC].kind == 1 || tr.accv[i % TR_ACC].kind == 3 ? a->th.good : a->th.text);
    }
}

static void tr_draw(App *a, CellBuf *cb, Rect r) {
    const TrainSnapshot *t = &a->ts;
    if (a->large) {   /* projector: the loss curves alone */
        tr_draw_plots(a, cb, r);
        return;
    }
    Rect left, right, top, bottom;
    int bottom_h = r.h >= 30 ? 10 : 7;
    layout_split_v(r, r.h - bottom_h, &top, &bottom);
    layout_split_h(top, 0.66, 36, 1, &left, &right);
    tr_draw_plots(a, cb, left);

    /* stats column (rows past its bottom are not drawn) */
    int y = right.y, ybot = right.y + right.h;
    int w = right.w;
    double frac = t->total_steps > 0 ? (double)t->step / (double)t->total_steps : 0;
    if (t->inference_only) {   /* the checkpoint's own step; nothing trains here */
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.bold, "Checkpoint at step %ld", t->step);
        cb_text(cb, right.x, TR_ROW(y, ybot), w, t->last_ckpt, a->th.text);
        cb_text(cb, right.x, TR_ROW(y, ybot), w, "State CHECKPOINT (opened to chat with)", a->th.good);
        cb_text(cb, right.x, TR_ROW(y, ybot), w, "training: llmwb train (a run of its own)", a->th.dim);
        y++;
        char np[32];
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "tokens seen %s", fmt_count(t->tokens_seen, np, sizeof np));
        if (isfinite(t->val_loss)) cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "val loss    %.4f (when saved)", t->val_loss);
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "params %s  %dL %dH d%d ctx%d", fmt_count(t->n_params, np, sizeof np),
                  t->n_layer, t->n_head, t->d_model, t->context_length);
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "vocab %d", t->vocab_size);
        return;
    }
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.bold, "Step %ld / %ld  (%.1f%%)", t->step, t->total_steps, 100 * frac);
    int bw = w - 2;
    for (int i = 0; i < bw; i++) {
        int on = i < (int)(bw * frac + 0.5);
        cb_put(cb, right.x + i, y, on ? (a->caps.unicode ? 0x2588 : '#') : (a->caps.unicode ? 0x2591 : '.'),
               on ? a->th.good : a->th.dim);
    }
    y++;
    char eta[32], el[32];
    tr_fmt_time(a->repro ? -1 : t->eta, eta, sizeof eta);
    tr_fmt_time(a->repro ? -1 : t->elapsed, el, sizeof el);
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "ETA %s   elapsed %s", eta, el);
    const char *state = a->ws.running ? (t->step == 0 ? "RUN (first step running)" : "RUN") : "PAUSED";
    if (app_training_done(a)) state = "DONE (reached train.steps)";
    if (t->state == ENGINE_DIVERGED) state = "DIVERGED (load a checkpoint)";
    char wstate[300];
    if (t->watching) { /* another process trains: what its files say */
        snprintf(wstate, sizeof wstate, "%s", a->watch.ended ? "ENDED" : "WATCHING (read-only)");
        state = wstate;
    }
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, t->state == ENGINE_DIVERGED ? a->th.error : a->th.good, "State %s%s", state,
              a->ws.stepping ? "  (stepping)" : "");
    if (t->watching && a->watch.ended)
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.warn, "run ended: %s", a->watch.end_text);
    y++;
    double ema_last = NAN;
    if (tr.n > 0) {
        double *yy = malloc(sizeof(double) * (size_t)tr.n * 2);
        if (yy) {
            for (int i = 0; i < tr.n; i++) yy[i] = tr.m[i].train_loss;
            ema_debiased(yy, tr.n, TR_EMA_TRAIN, yy + tr.n);
            ema_last = yy[2 * tr.n - 1];
            free(yy);
        }
    }
    if (t->step > 0) cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "train loss  %.4f  (EMA %.4f)", t->train_loss, ema_last);
    else cb_text(cb, right.x, TR_ROW(y, ybot), w, "train loss  -", a->th.text);
    if (isfinite(t->val_loss)) cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "val loss    %.4f  ppl %.1f", t->val_loss,
                                         exp(t->val_loss));
    else cb_text(cb, right.x, TR_ROW(y, ybot), w, "val loss    - (not evaluated yet)", a->th.text);
    int mlm = !strcmp(engine_config(a->eng)->train.task, "mlm");
    if (mlm && tr.val_acc >= 0)
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.good, "masked acc  %.1f%%  (unigram %.1f%%)", tr.val_acc,
                  tr.mlm_base);
    else if (engine_n_classes(a->eng) > 0 && tr.val_acc >= 0)
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.good, "val acc     %.1f%%", tr.val_acc);
    int translate = engine_is_translator(a->eng);
    if (translate && tr.tr_word[0] >= 0) {   /* the latest evaluation beside its word-by-word baseline */
        const float *v = NULL;
        for (int i = tr.n_acc - 1; i >= 0 && i >= tr.n_acc - TR_ACC && !v; i--)
            if (tr.accv[i % TR_ACC].kind == 4) v = tr.accv[i % TR_ACC].v;
        if (v) {
            char b[32], c[24], k[40], line[128];
            snprintf(b, sizeof b, "BLEU        %.1f", v[0]);
            snprintf(c, sizeof c, "chrF %.1f", v[1]);
            snprintf(k, sizeof k, "(word-by-word %.1f)", tr.tr_word[0]);
            FitField ff[] = {{b, NULL, 0}, {c, NULL, 2}, {k, NULL, 1}};
            cb_text(cb, right.x, TR_ROW(y, ybot), w, fit_line(ff, 3, "  ", w, a->caps.unicode, line, sizeof line),
                    a->th.good);
        }
    }
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "lr          %.3e", t->lr);
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "grad norm   %.4f", t->grad_norm);
    if (a->repro) cb_text(cb, right.x, TR_ROW(y, ybot), w, "tokens/s    - (hidden in the demo)", a->th.text);
    else if (!a->ws.running && !(t->watching && !a->watch.ended))
        cb_text(cb, right.x, TR_ROW(y, ybot), w, "tokens/s    0 (not training)", a->th.text);
    else cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "tokens/s    %.0f", t->tokens_per_sec);
    char np[32], nt[32];
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.text, "tokens seen %s", fmt_count(t->tokens_seen, np, sizeof np));
    char blas[96] = "";
    if (!a->repro) engine_blas_describe(blas, sizeof blas); /* machine-dependent: not in demo renders */
    char blas_fit[sizeof blas + 8];
    if (blas[0]) cb_text(cb, right.x, TR_ROW(y, ybot), w, utf8_fit(blas, w, a->caps.unicode, blas_fit, sizeof blas_fit), a->th.dim);
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "model %dL %dH d%d ctx%d", t->n_layer, t->n_head, t->d_model,
              t->context_length);
    /* every parameter, and the ones that train (a subset when finetuning part of the model or with LoRA) */
    fmt_count(t->n_params, np, sizeof np);
    fmt_count(t->n_trainable, nt, sizeof nt);
    if (t->watching && t->n_params == 0) cb_text(cb, right.x, TR_ROW(y, ybot), w, "params - (no checkpoint yet)", a->th.dim);
    else if (t->n_trainable == t->n_params) cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "params %s (all trainable)", np);
    else cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "params %s, trainable %s (%.1f%%)", np, nt,
                   t->n_params > 0 ? 100.0 * (double)t->n_trainable / (double)t->n_params : 0.0);
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "batch %d  vocab %d", t->batch_size, t->vocab_size);
    if (t->watching && a->watch.ckpt_step >= 0)
        cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "checkpoint step %ld (chat uses it)", a->watch.ckpt_step);
    else if (t->watching) cb_text(cb, right.x, TR_ROW(y, ybot), w, "no checkpoint yet (latest/)", a->th.dim);
    else cb_printf(cb, right.x, TR_ROW(y, ybot), w, t->unsaved ? a->th.warn : a->th.dim, "unsaved steps %d (S saves)", t->unsaved);
    cb_printf(cb, right.x, TR_ROW(y, ybot), w, a->th.dim, "run %s", t->run_dir);
    int rem = right.y + right.h - y - 1;
    if (rem >= 8) {
        Rect p1 = {right.x, y + 1, right.w, rem / 2};
        Rect p2 = {right.x, y + 1 + rem / 2, right.w, rem - rem / 2};
        tr_draw_small_plot(a, cb, p1, "learning rate", 0);
        tr_draw_small_plot(a, cb, p2, "gradient norm", 1);
    }

    /* bottom: event log | latest sample */
    Rect evr, smr;
    layout_split_h(bottom, 0.5, 30, 1, &evr, &smr);
    cb_box(cb, evr, "Events", a->th.dim, a->caps.unicode);
    int rows = evr.h - 2;
    int first = tr.n_ev - rows;
    if (first < 0) first = 0;
    if (first < tr_first_kept()) first = tr_first_kept();
    if (tr.hit_ev >= tr_first_kept() && tr.hit_ev < first) first = (int)tr.hit_ev;   /* scroll back to a match */
    for (int i = first, yy = evr.y + 1; i < tr.n_ev && yy < evr.y + evr.h - 1; i++, yy++) {
        const EngineEvent *e = &tr.ev[i % TR_EVENTS];
        Style st = e->kind == EV_ERROR ? a->th.error : e->kind == EV_WARNING ? a->th.warn : a->th.text;
        if (i == tr.hit_ev) st = a->th.highlight;   /* the matching line */
        char line[SNAP_EVENT_TEXT + 64], fit[SNAP_EVENT_TEXT + 64];
        tr_event_line(i, line, sizeof line);
        cb_text(cb, evr.x + 1, yy, evr.w - 2, utf8_fit(line, evr.w - 2, a->caps.unicode, fit, sizeof fit), st);
    }
    if (engine_n_classes(a->eng) > 0 || mlm) {
        tr_draw_accuracy(a, cb, smr, mlm);
        return;
    }
    if (translate) {
        tr_draw_translate(a, cb, smr);
        return;
    }
    char title[64];
    snprintf(title, sizeof title, "Sample (step %ld)", tr.sample_step);
    cb_box(cb, smr, tr.sample[0] ? title : "Sample", a->th.dim, a->caps.unicode);
    /* wrap the sample text; pass 0 finds the row of a search match (to scroll to it), pass 1 draws */
    int sw = smr.w - 2, sh = smr.h - 2, srow = 0;
    for (int pass = tr.hit_sample >= 0 ? 0 : 1; pass < 2; pass++) {
        int x = 0, yy = 0;
        for (const char *p = tr.sample; *p;) {
            uint32_t cp;
            long at = p - tr.sample;
            int k = utf8_decode(p, strlen(p), &cp);
            p += k;
            int hl = tr.hit_sample >= 0 && at >= tr.hit_sample && at < tr.hit_sample + tr.hit_len;
            if (cp != '\n' && x >= sw) x = 0, yy++;
            if (pass == 0) {
                if (at >= tr.hit_sample) {
                    srow = yy >= sh ? yy - sh + 1 : 0;
                    break;
                }
            } else {
                if (yy - srow >= sh) break;
                if (yy >= srow) {
                    uint32_t g = cp == '\n' ? (a->caps.unicode ? 0x21B5 : '$') : cp < 0x20 ? ' ' : cp;
                    cb_put(cb, smr.x + 1 + x, smr.y + 1 + yy - srow, g,
                           hl ? a->th.highlight : cp == '\n' ? a->th.dim : a->th.text);
                }
            }
            if (cp == '\n') x = 0, yy++;
            else x++;
        }
    }
}

static int tr_text_mode(App *a) {
    (void)a;
    return tr.adding;
}

static int tr_key(App *a, int key) {
    if (tr.adding) {
        int r = le_key(&tr.le, key);
        if (r == LE_SUBMIT && tr.le.buf[0]) tr_compare_add(a, tr.le.buf);
        if (r == LE_SUBMIT || r == LE_CANCEL) tr.adding = 0;
        return 1;
    }
    int watching = a->ts.watching;
    switch (key) {
    case 'c':
        if (a->n_runs == APP_MAX_RUNS) {
            app_status(a, 1, "at most %d runs on one plot (C removes the compared ones)", APP_MAX_RUNS);
            return 1;
        }
        tr.adding = 1;
        le_init(&tr.le);
        return 1;
    case 'C':
        if (a->n_runs > 1) app_status(a, 0, "compared runs removed");
        a->n_runs = a->n_runs > 0 && watching ? 1 : 0;
        return 1;
    case 'L': tr.logy = !tr.logy; app_status(a, 0, "loss axis: %s", tr.logy ? "log" : "linear"); return 1;
    case 'x': tr.by_tokens = !tr.by_tokens; app_status(a, 0, "x axis: %s", tr.by_tokens ? "tokens" : "step"); return 1;
    case 'b':
        a->caps.blocks = !a->caps.blocks;
        app_status(a, 0, "plots: %s", a->caps.blocks ? "block characters" : "braille");
        return 1;
    default: return 0;
    }
}

/* P: the loss curves as PNG and SVG, as on the screen (log axis, x by step or tokens). */
static int tr_export(App *a, const char *base, char *msg, size_t n) {
    if (tr.n == 0) return 0;
    ExportPlotOpts o = {0, 0, tr.logy, tr.by_tokens, "Loss"};
    char path[1500];
    LwError e;
    snprintf(path, sizeof path, "%s.png", base);
    if (export_loss_png(path, tr.m, tr.n, &o, &e)) { snprintf(msg, n, "%s", e.msg); return -1; }
    snprintf(path, sizeof path, "%s.svg", base);
    if (export_loss_svg(path, tr.m, tr.n, &o, &e)) { snprintf(msg, n, "%s", e.msg); return -1; }
    return 2;
}

/* / n N: the event log (kept events, oldest first) then the latest sample, as one text. */
static void tr_search(App *a, const char *pat, int dir) {
    if (!pat[0]) {
        tr.hit_ev = tr.hit_sample = -1;
        return;
    }
    int f0 = tr_first_kept();
    size_t cap = (size_t)(tr.n_ev - f0) * (SNAP_EVENT_TEXT + 65) + sizeof tr.sample + 1, len = 0;
    char *flat = malloc(cap);
    if (!flat) return;
    long cur = -1;
    for (int i = f0; i < tr.n_ev; i++) {
        char line[SNAP_EVENT_TEXT + 64];
        tr_event_line(i, line, sizeof line);
        if (i == tr.hit_ev) cur = (long)len + tr.hit_col;
        size_t l = strlen(line);
        memcpy(flat + len, line, l);
        len += l;
        flat[len++] = '\n';
    }
    size_t sample_at = len;
    size_t sl = strlen(tr.sample);
    memcpy(flat + len, tr.sample, sl);
    len += sl;
    flat[len] = '\0';
    if (tr.hit_ev < 0 && tr.hit_sample >= 0) cur = (long)sample_at + tr.hit_sample;
    long o = app_search_step(a, flat, len, pat, cur, dir);
    if (o >= 0) {
        tr.hit_len = (int)strlen(pat);
        if ((size_t)o >= sample_at) {
            tr.hit_ev = -1;
            tr.hit_sample = o - (long)sample_at;
        } else {
            tr.hit_ev = f0 + search_line_of(flat, len, o);
            long ls = o;
            while (ls > 0 && flat[ls - 1] != '\n') ls--;
            tr.hit_col = (int)(o - ls);
            tr.hit_sample = -1;
        }
    }
    free(flat);
}

static const char *const TR_HELP[] = {
    "Space\trun / pause training",
    "s\tone optimizer step (pauses)",
    "S, F2\tsave a checkpoint now",
    "L\tloss axis linear / log",
    "x\tx axis by step / by tokens seen",
    "b\tplots in braille / block characters (font trouble)",
    "\tcurves: raw dim, debiased EMA bright (train and val)",
    "\tthe smoothed curves are labelled train / val at their ends",
    "\ta translator: BLEU, chrF, exact match per evaluation under the word-by-word baseline",
    "z\tlarge view: the loss curves alone",
    "c\tcompare: overlay another run's loss curve (type its run directory); C removes them",
    "P\texport the curves (PNG, SVG) and the screen text",
    "/\tsearch the event log and the sample (the matching line is highlighted)",
    "n, N\tnext / previous match; Esc clears (the log follows the latest again)",
    NULL};

const ScreenOps screen_train = {
    .title = "Train",
    .help = TR_HELP,
    .draw = tr_draw,
    .key = tr_key,
    .text_mode = tr_text_mode,
    .poll = tr_poll,
    .export_pics = tr_export,
    .search = tr_search,
};
