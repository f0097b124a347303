/* screen_health.c — Health: is training healthy? The update-to-weight ratio log10(|AdamW change| / |w|) of each
 * group of tensors (the embeddings, each block, the head) over the training steps, one line per group, with the
 * usual 1e-3 guideline dashed; the gradient norm per group over time; a table of the latest values flagged when a
 * group leaves the warning band [HEALTH_RATIO_LOW, HEALTH_RATIO_HIGH]; and the residual stream's mean and standard
 * deviation after each layer in the newest probe snapshot. The engine records a HealthPoint every
 * probe.snapshot_every steps (inspect.h); this screen copies them incrementally from the [any thread] getters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine.h" /* export_* (export.h, part of the public API) */
#include "probe_cache.h"

static struct {
    Engine *eng;            /* the points below belong to this engine */
    HealthPoint *h;
    int n, cap;
    int sel;                /* highlighted group, -1 = none (all drawn alike) */
} hl = {.sel = -1};

static int hl_poll(App *a) {
    if (!a->eng) return 0;
    int changed = 0;
    if (hl.eng != a->eng) hl.eng = a->eng, hl.n = 0, changed = 1;
    int total = engine_n_health(a->eng);
    if (total < hl.n) hl.n = 0;
    if (total > hl.n) {
        if (total > hl.cap) {
            int cap = hl.cap ? hl.cap : 256;
            while (cap < total) cap *= 2;
            HealthPoint *h = realloc(hl.h, sizeof *h * (size_t)cap);
            if (!h) return changed;
            hl.h = h, hl.cap = cap;
        }
        hl.n += engine_get_health(a->eng, hl.n, hl.h + hl.n, total - hl.n);
        changed = 1;
    }
    return changed;
}

/* The number of groups of the newest point (0 = none). */
static int hl_groups(void) { return hl.n > 0 ? LW_MIN(hl.h[hl.n - 1].n_groups, HEALTH_MAX_GROUPS) : 0; }

/* Group k's line colour: a cycle of ten told apart by hue; in monochrome all alike (the table and the selection
 * tell them apart). A selection dims the others. */
static Style hl_style(const App *a, int k) {
    static const int dark[10] = {75, 214, 114, 203, 141, 180, 219, 250, 185, 44};
    static const int light[10] = {25, 166, 28, 160, 90, 94, 162, 240, 100, 30};
    static const int c16[10] = {12, 11, 10, 9, 13, 14, 3, 7, 2, 6};
    Style st = {COL_DEFAULT, COL_DEFAULT, 0};
    if (a->caps.cm == CM_16) st.fg = c16[k % 10];
    else if (a->caps.cm != CM_MONO) st.fg = (a->caps.light ? light : dark)[k % 10];
    if (hl.sel >= 0) st.attr = k == hl.sel ? CA_BOLD : CA_DIM;
    return st;
}

static void hl_name(int k, char *buf, size_t n) { engine_health_group_name(k, hl_groups(), buf, n); }

/* The flag of a ratio outside the band ("" inside it). */
static const char *hl_flag(float r) {
    if (!isfinite(r)) return "frozen";
    return r > HEALTH_RATIO_HIGH ? "HIGH" : r < HEALTH_RATIO_LOW ? "LOW" : "";
}

/* One line per group of field (0 ratio, 1 gradient norm on a log axis) over the steps in r; the ratio plot gets the
 * dashed 1e-3 guideline, labelled at its right end. Title and legend on the first rows. */
static void hl_draw_plot(App *a, CellBuf *cb, Rect r, int field) {
    int ng = hl_groups(), n = hl.n;
    char line[512];
    if (field == 0) {
        FitField ff[] = {{"Update/weight ratio per group: log10(|\xce\x94w| / |w|) each step", "Update/weight ratio (log10)", -1},
                         {"(- - 1e-3 guideline)", "(- - 1e-3)", 2},
                         {"selected: Up/Down", NULL, 3}};
        if (!a->caps.unicode) ff[0].full = "Update/weight ratio per group: log10(|dw| / |w|) each step";
        cb_text(cb, r.x, r.y, r.w, fit_line(ff, 3, "  ", r.w, a->caps.unicode, line, sizeof line), a->th.title);
    } else {
        FitField ff[] = {{"Gradient norm per group (log scale)", "Grad norm per group (log)", -1},
                         {"after clipping", NULL, 2}};
        cb_text(cb, r.x, r.y, r.w, fit_line(ff, 2, "  ", r.w, a->caps.unicode, line, sizeof line), a->th.title);
    }
    r.y++, r.h--;
    if (field == 0 && r.h >= 6) {   /* legend: each group's swatch and name in its colour */
        int x = r.x;
        for (int k = 0; k < ng; k++) {
            char nm[32], item[40];
            hl_name(k, nm, sizeof nm);
            snprintf(item, sizeof item, "%s %s", a->caps.unicode ? "\xe2\x94\x81\xe2\x94\x81" : "==", nm);
            int wcol = utf8_cols(item) + 2;
            if (x + wcol > r.x + r.w) {
                cb_text(cb, x, r.y, r.x + r.w - x, a->caps.unicode ? "\xe2\x80\xa6" : "~", a->th.dim);
                break;
            }
            Style st = hl_style(a, k);
            if (k == hl.sel) st.attr |= CA_UNDERLINE;
            cb_text(cb, x, r.y, wcol, item, st);
            x += wcol;
        }
        r.y++, r.h--;
    }
    if (r.h < 3 || r.w < 16) return;
    double *buf = malloc(sizeof(double) * (size_t)(n + 1) * (size_t)(ng + 1));
    PlotSeries *s = calloc((size_t)ng + 2, sizeof *s);
    if (!buf || !s) {
        free(buf);
        free(s);
        return;
    }
    double *x = buf;
    for (int i = 0; i < n; i++) x[i] = (double)hl.h[i].step;
    int ns = 0;
    PlotOpts o;
    memset(&o, 0, sizeof o);
    o.logy = field == 1;
    o.blocks = a->caps.blocks;
    o.unicode = a->caps.unicode;
    o.axis = a->th.dim;
    o.xlabel = "step";
    /* the groups, the selected one last (on top) */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < ng; k++) {
            if ((k == hl.sel) != pass) continue;
            double *y = buf + (size_t)(n + 1) * (size_t)(k + 1);
            for (int i = 0; i < n; i++) {
                float v = field == 0 ? hl.h[i].update_ratio[k] : hl.h[i].grad_norm[k];
                y[i] = isfinite(v) && (field == 0 || v > 0) ? (double)v : NAN;
            }
            s[ns++] = (PlotSeries){x, y, n, hl_style(a, k)};
        }
    PlotOpts ro = o;
    plot_resolve_range(s, ns, &ro);
    if (field == 0) { /* the guideline always in range, with a little room so it is never on the frame */
        ro.ymin = fmin(ro.ymin, HEALTH_RATIO_GUIDE), ro.ymax = fmax(ro.ymax, HEALTH_RATIO_GUIDE);
        double pad = (ro.ymax - ro.ymin) * 0.05 + 0.05;
        ro.ymin -= pad, ro.ymax += pad;
    }
    plot_draw(cb, r, s, ns, ro);
    if (field == 0 && r.w >= 20) { /* the guideline: dashes on its row where no line passes, labelled at its end */
        int h = r.h - 1, dh = o.blocks ? 2 : 4, H = h * dh, x0 = r.x + 9, w = r.w - 9;
        double fy = (HEALTH_RATIO_GUIDE - ro.ymin) / (ro.ymax - ro.ymin);
        int row = (int)lround((1.0 - fy) * (H - 1)) / dh;
        const char *lab = " 1e-3 guide";
        int lw = r.w >= 30 ? (int)strlen(lab) : 0;
        if (row >= 0 && row < h) {
            for (int i = 0; i < w - lw; i++) {
                Cell *c = cb_at(cb, x0 + i, r.y + row);
                if (c && c->ch == ' ' && i % 2 == 0) cb_put(cb, x0 + i, r.y + row, a->caps.unicode ? 0x2504 : '-', a->th.text);
            }
            if (lw) cb_text(cb, r.x + r.w - lw, r.y + row, lw, lab, a->th.text);
        }
    }
    free(buf);
    free(s);
}

/* The latest point: group, gradient norm, weight norm, ratio, flag; the names in their lines' colours (a legend). */
static void hl_draw_table(App *a, CellBuf *cb, Rect r) {
    const HealthPoint *p = &hl.h[hl.n - 1];
    int ng = hl_groups();
    cb_printf(cb, r.x, r.y, r.w, a->th.title, "Latest (step %ld)", p->step);
    int sw = r.w >= 40 ? 3 : 0;   /* the swatch column when it fits */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%*s%-9s%9s%8s%7s", sw, "", "group", "grad", "weight", "ratio");
    cb_text(cb, r.x, r.y + 1, r.w, hdr, a->th.dim);
    int rows = r.h - 3;
    if (rows < 1) return;
    int first = 0;
    if (ng > rows) first = LW_MAX(0, LW_MIN(ng - rows, (hl.sel >= 0 ? hl.sel : 0) - rows / 2));
    int flagged = 0;
    for (int k = 0; k < ng; k++) flagged += hl_flag(p->update_ratio[k])[0] != 0;
    for (int k = first, y = r.y + 2; k < ng && y < r.y + 2 + rows; k++, y++) {
        char nm[32], row[160], ratio[16];
        hl_name(k, nm, sizeof nm);
        float ur = p->update_ratio[k];
        if (isfinite(ur)) snprintf(ratio, sizeof ratio, "%.2f", (double)ur);
        else snprintf(ratio, sizeof ratio, "-");
        const char *fl = hl_flag(ur);
        snprintf(row, sizeof row, "%-9s%9.3g%8.3g%7s %s", nm, (double)p->grad_norm[k], (double)p->weight_norm[k], ratio, fl);
        Style st = k == hl.sel ? a->th.highlight : fl[0] ? a->th.warn : a->th.text;
        if (sw) cb_text(cb, r.x, y, 2, a->caps.unicode ? "\xe2\x94\x81\xe2\x94\x81" : "==", hl_style(a, k));
        cb_text(cb, r.x + sw, y, r.w - sw, row, st);
        if (k != hl.sel && !fl[0]) cb_text(cb, r.x + sw, y, (int)strlen(nm), nm, hl_style(a, k));
    }
    int used = LW_MIN(ng - first, rows) + 2;
    if (r.h - used >= 6 && r.w >= 30)
        cb_wrap(cb, (Rect){r.x, r.y + used + 1, r.w, r.h - used - 2},
                "The ratio is how far one step moves a group's weights, relative to their size. About 1e-3 (-3) is "
                "the usual rule of thumb: far above it training is unstable (lower train.lr), far below it the "
                "group has all but stopped learning.",
                a->th.dim);
    char band[160];
    if (flagged)
        snprintf(band, sizeof band, "%d outside 10^%.0f..10^%.0f (warned in the Train log)", flagged,
                 (double)HEALTH_RATIO_LOW, (double)HEALTH_RATIO_HIGH);
    else
        snprintf(band, sizeof band, "all inside the band 10^%.0f..10^%.0f", (double)HEALTH_RATIO_LOW,
                 (double)HEALTH_RATIO_HIGH);
    char fit[200];
    cb_text(cb, r.x, r.y + r.h - 1, r.w, utf8_fit(band, r.w, a->caps.unicode, fit, sizeof fit), flagged ? a->th.warn : a->th.good);
}

/* The residual stream after the embeddings and after each block in the newest probe snapshot: mean, std and a bar
 * of the std (a growing std is the usual sign of activations blowing up), each block's saturated attention
 * (attention_saturation: the share of its heads' query rows at least 95% on one key) and the share of its GELU
 * inputs below -3 (ProbeSnapshot.gelu_dead). */
static void hl_draw_acts(App *a, CellBuf *cb, Rect r) {
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
    if (!p || !p->act_std) {
        cb_text(cb, r.x, r.y, r.w, "Activations: no probe snapshot yet", a->th.dim);
        return;
    }
    cb_printf(cb, r.x, r.y, r.w, a->th.title, "Activations (probe, step %ld)", p->step);
    cb_text(cb, r.x, r.y + 1, r.w, "after      mean     std  att gelu", a->th.dim);
    float sat[HEALTH_MAX_GROUPS] = {0};
    int have_sat = p->att && p->L <= HEALTH_MAX_GROUPS && p->T > 1;
    if (have_sat) attention_saturation(p->att, p->L, p->NH, p->T, p->kind == SNAP_MAP_CAUSAL, HEALTH_ATT_SATURATED, sat);
    double smax = 0;
    for (int l = 0; l <= p->L; l++) smax = fmax(smax, p->act_std[l]);
    int notes = LW_MAX(0, LW_MIN(2, r.h - 2 - (p->L + 1)));   /* room for the lines saying what att and gelu are */
    int rows = r.h - 2 - notes, first = p->L + 1 > rows ? p->L + 1 - rows : 0;   /* the deepest layers when cut */
    int bar = LW_MIN(r.w - 36, 30);
    for (int l = first, y = r.y + 2; l <= p->L && y < r.y + 2 + rows; l++, y++) {
        char nm[32], sv[16] = "   -", gv[16] = "   -";
        if (l == 0) snprintf(nm, sizeof nm, "embed");
        else snprintf(nm, sizeof nm, "block %d", l);
        if (l > 0 && have_sat) snprintf(sv, sizeof sv, "%3.0f%%", 100.0 * sat[l - 1]);
        if (l > 0 && l <= p->n_gelu) snprintf(gv, sizeof gv, "%3.0f%%", 100.0 * p->gelu_dead[l - 1]);
        cb_printf(cb, r.x, y, r.w, a->th.text, "%-9s%7.3f %7.3f %s %s", nm, (double)p->act_mean[l], (double)p->act_std[l], sv, gv);
        int len = bar >= 3 && smax > 0 ? (int)lround(bar * p->act_std[l] / smax) : 0;
        for (int i = 0; i < len; i++) cb_put(cb, r.x + 35 + i, y, a->caps.unicode ? 0x2588 : '#', a->th.plot_aux);
    }
    int ny = r.y + 2 + LW_MIN(rows, p->L + 1);
    if (notes >= 1)
        cb_text(cb, r.x, ny++, r.w, r.w >= 50 ? "att: attention rows >= 95% on one key (saturated)" : "att: rows >= 95% on one key", a->th.dim);
    if (notes >= 2)
        cb_text(cb, r.x, ny, r.w, r.w >= 50 ? "gelu: MLP inputs below -3 (GELU and its gradient ~0)" : "gelu: MLP inputs < -3 (dead)", a->th.dim);
    if (p->nonfinite) cb_printf(cb, r.x, r.y + r.h - 1, r.w, a->th.error, "%d NaN/Inf values in the probe pass", p->nonfinite);
}

static void hl_draw(App *a, CellBuf *cb, Rect r) {
    int ng = hl_groups();
    if (hl.sel >= ng) hl.sel = ng - 1;
    char line[512];
    if (ng == 0) {
        const Config *c = engine_config(a->eng);
        const char *why;
        char buf[300];
        if (!engine_has_health(a->eng)) {
            snprintf(buf, sizeof buf, "No training-health data: model.arch %s does not record it (GPT models do).", c->model.arch);
            why = buf;
        } else if (a->ts.inference_only || a->ts.watching) {
            why = "No training-health data: it is recorded while this session trains (not in a checkpoint or a watched run).";
        } else if (c->probe.snapshot_every <= 0) {
            why = "No training-health data: probe.snapshot_every is 0 (it is recorded every probe.snapshot_every steps).";
        } else {
            why = a->ws.running ? "Training: the first health point comes with the first step ..."
                                : "No steps yet: press Space to train, s for one step.";
        }
        cb_text(cb, r.x, r.y, r.w, "Health: is training healthy?", a->th.title);
        cb_wrap(cb, (Rect){r.x + 2, r.y + 2, r.w - 4, 3}, why, a->th.dim);
        hl_draw_acts(a, cb, (Rect){r.x + 2, r.y + 6, LW_MIN(r.w - 4, 48), r.h - 6});
        return;
    }
    if (a->large) {   /* projector: the ratio plot alone */
        hl_draw_plot(a, cb, r, 0);
        return;
    }
    /* the header: where the numbers come from */
    char every[64], sel[64] = "";
    snprintf(every, sizeof every, "every %d steps", engine_config(a->eng)->probe.snapshot_every);
    if (hl.sel >= 0) {
        char nm[32];
        hl_name(hl.sel, nm, sizeof nm);
        snprintf(sel, sizeof sel, "selected: %s", nm);
    }
    char pts[48];
    snprintf(pts, sizeof pts, "%d points", hl.n);
    FitField hf[] = {{"Health: per group of tensors (embed, each block, head)", "Health", -1},
                     {every, NULL, 2},
                     {pts, NULL, 3},
                     {sel[0] ? sel : NULL, NULL, 1},
                     {"Up/Down select a group, Home none", "Up/Down select", 4}};
    cb_text(cb, r.x, r.y, r.w, fit_line(hf, 5, "  \xc2\xb7  ", r.w, a->caps.unicode, line, sizeof line), a->th.bold);
    r.y++, r.h--;
    Rect top, bottom, pl, tab, gl, act;
    int bottom_h = r.h * 9 / 20;
    layout_split_v(r, r.h - bottom_h, &top, &bottom);
    layout_split_h(top, 0.6, 34, 2, &pl, &tab);
    layout_split_h(bottom, 0.6, 34, 2, &gl, &act);
    hl_draw_plot(a, cb, pl, 0);
    hl_draw_table(a, cb, tab);
    hl_draw_plot(a, cb, (Rect){gl.x, gl.y + 1, gl.w, gl.h - 1}, 1);
    hl_draw_acts(a, cb, (Rect){act.x, act.y + 1, act.w, act.h - 1});
}

static int hl_key(App *a, int key) {
    int ng = hl_groups();
    switch (key) {
    case K_UP: hl.sel = hl.sel < 0 ? ng - 1 : hl.sel - 1; break;
    case K_DOWN: hl.sel = hl.sel + 1 >= ng ? -1 : hl.sel + 1; break;
    case K_HOME: hl.sel = -1; break;
    default: return 0;
    }
    if (hl.sel >= 0) {
        char nm[32];
        hl_name(hl.sel, nm, sizeof nm);
        app_status(a, 0, "selected %s (Home: none)", nm);
    } else {
        app_status(a, 0, "no group selected (all lines alike)");
    }
    return 1;
}

/* P: the ratio plot as PNG and SVG. */
static int hl_export(App *a, const char *base, char *msg, size_t n) {
    (void)a;
    if (hl.n == 0) return 0;
    ExportPlotOpts o = {0, 0, 0, 0, "Update/weight ratio per group (log10)"};
    char path[1500];
    LwError e;
    snprintf(path, sizeof path, "%s.png", base);
    if (export_health_png(path, hl.h, hl.n, &o, &e)) { snprintf(msg, n, "%s", e.msg); return -1; }
    snprintf(path, sizeof path, "%s.svg", base);
    if (export_health_svg(path, hl.h, hl.n, &o, &e)) { snprintf(msg, n, "%s", e.msg); return -1; }
    return 2;
}

static const char *const HL_HELP[] = {
    "\tratio: log10(|AdamW change| / |w|), a line per group",
    "\tdashed: the 1e-3 guideline; HIGH > 1e-1, LOW < 1e-6",
    "\ttable: latest grad norm, weight norm, ratio",
    "\tactivations: residual mean, std after each layer",
    "\tatt: rows >= 95% on one key; gelu: inputs < -3",
    "Up Down\tselect a group: its line on top, others dimmed",
    "Home\tno group selected",
    "z\tlarge view: the ratio plot alone",
    "P\texport the ratio plot (PNG, SVG) and screen text",
    NULL};

const ScreenOps screen_health = {
    .title = "Health",
    .help = HL_HELP,
    .draw = hl_draw,
    .key = hl_key,
    .poll = hl_poll,
    .export_pics = hl_export,
};
