/* screen_embed.c — [2] Embed: the probe sentence → tokens → ids → the token-embedding (wte) row and the
 * position-embedding (wpe) row of each token as diverging colour strips, and their sum (the input of block 0);
 * the selected token's nearest tokens by cosine similarity; the sliding window of the batch just trained on
 * (inputs over targets, with the stride). New probe snapshots during training make the rows drift. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "probe_cache.h"

static struct {
    int sel;            /* selected probe token */
    int editing;
    LineEdit le;
} em;

static void em_token_label(App *a, const char *raw, char *out, size_t n) {
    tok_visible(raw, (int)strlen(raw), a->caps.unicode, out, n);
}

static void em_draw(App *a, CellBuf *cb, Rect r) {
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
    int y = r.y;
    if (em.editing) {
        cb_text(cb, r.x, y, 16, "probe sentence: ", a->th.bold);
        le_draw(&em.le, cb, r.x + 16, y, r.w - 16, a->th.text, 1);
        y++;
        cb_text(cb, r.x, y++, r.w, "Enter sets the new probe sentence (re-tokenized, new snapshot); Esc cancels",
                a->th.dim);
    } else if (!a->large) {   /* large (z): the tokens, the strips and the neighbours only */
        int x = r.x + cb_text(cb, r.x, y, r.w, "probe: ", a->th.bold);
        if (p)
            for (int t = 0; t < p->T && x < r.x + r.w; t++) x += cb_text(cb, x, y, r.x + r.w - x, p->tok[t], a->th.text);
        else
            cb_text(cb, x, y, r.x + r.w - x, a->cfg->probe.text, a->th.text);
        y++;
        cb_text(cb, r.x, y++, r.w, "Enter/e edits the sentence; <- -> select a token", a->th.dim);
    }
    if (!p) {
        cb_text(cb, r.x, y + 1, r.w, "No probe snapshot yet (one is recorded at open and every probe.snapshot_every steps).",
                a->th.dim);
        return;
    }
    if (em.sel >= p->T) em.sel = p->T - 1;
    if (em.sel < 0) em.sel = 0;
    /* tokens and ids */
    int x = r.x;
    cb_text(cb, x, y, 8, "tokens", a->th.dim);
    cb_text(cb, x, y + 1, 8, "ids", a->th.dim);
    x += 8;
    for (int t = 0; t < p->T; t++) {
        char vis[SNAP_TOKTEXT * 4], idb[16];
        em_token_label(a, p->tok[t], vis, sizeof vis);
        snprintf(idb, sizeof idb, "%d", p->ids[t]);
        int cw = 0;
        for (const char *q = vis; *q;) {
            uint32_t cp;
            q += utf8_decode(q, strlen(q), &cp);
            cw++;
        }
        int colw = (cw > (int)strlen(idb) ? cw : (int)strlen(idb)) + 1;
        if (x + colw > r.x + r.w) break;
        cb_text(cb, x, y, cw, vis, app_token_style(a, t, t == em.sel));
        cb_text(cb, x, y + 1, colw, idb, t == em.sel ? a->th.highlight : a->th.dim);
        x += colw;
    }
    y += 3;
    /* strips: one row per token */
    int C = p->C;
    double scale = 0;
    for (int i = 0; i < p->T * C; i++) {
        double v = fabs(p->tok_emb[i]) + fabs(p->pos_emb[i]);
        if (v > scale) scale = v;
    }
    if (scale <= 0) scale = 1;
    Rect main, side;
    int window_h = a->large ? 0 : 5;   /* the sliding window below, not in the large view */
    layout_split_h((Rect){r.x, y, r.w, r.y + r.h - y - window_h}, 0.74, 26, 1, &main, &side);
    int lab = 14;
    int sw = (main.w - lab - 2) / 3;
    if (sw < 4) sw = 4;
    cb_printf(cb, main.x, main.y, main.w, a->th.title, "%-*s%-*s %-*s %-*s", lab, "token", sw, "wte row (token)", sw,
              "wpe row (position)", sw, "sum = input to block 0");
    float *sum = malloc(sizeof(float) * (size_t)C);
    if (!sum) return;
    int rows = main.h - 2;
    /* the large view spaces the rows out when they fit twice over (easier to follow on a projector) */
    int pitch = a->large && rows >= 2 * p->T ? 2 : 1;
    rows /= pitch;
    int first = em.sel >= rows ? em.sel - rows + 1 : 0;
    for (int t = first, yy = main.y + 1; t < p->T && yy < main.y + main.h - 1; t++, yy += pitch) {
        char vis[SNAP_TOKTEXT * 4], l[SNAP_TOKTEXT * 4 + 16];
        em_token_label(a, p->tok[t], vis, sizeof vis);
        snprintf(l, sizeof l, "%s%2d %s", t == em.sel ? ">" : " ", t, vis);
        cb_text(cb, main.x, yy, lab - 1, l, t == em.sel ? a->th.bold : a->th.text);
        const float *te = p->tok_emb + (size_t)t * C, *pe = p->pos_emb + (size_t)t * C;
        for (int c = 0; c < C; c++) sum[c] = te[c] + pe[c];
        strip_draw(cb, main.x + lab, yy, sw, te, C, scale / 2, &a->caps);
        strip_draw(cb, main.x + lab + sw + 1, yy, sw, pe, C, scale / 2, &a->caps);
        strip_draw(cb, main.x + lab + 2 * sw + 2, yy, sw, sum, C, scale / 2, &a->caps);
    }
    free(sum);
    cb_printf(cb, main.x, main.y + main.h - 1, main.w, a->th.dim,
              "step %ld: %d dims; blue < 0 < red, |v| >= %.3f saturates", p->step, C, scale / 2);

    /* nearest neighbours */
    cb_box(cb, side, "Nearest by cosine", a->th.dim, a->caps.unicode);
    char vis[SNAP_TOKTEXT * 4];
    em_token_label(a, p->tok[em.sel], vis, sizeof vis);
    cb_printf(cb, side.x + 1, side.y + 1, side.w - 2, a->th.bold, "%s (id %d)", vis, p->ids[em.sel]);
    for (int k = 0; k < SNAP_NN && side.y + 2 + k < side.y + side.h - 1; k++) {
        char raw[SNAP_TOKTEXT], v2[SNAP_TOKTEXT * 4];
        int len = engine_token_text(a->eng, p->nn_ids[em.sel][k], raw, sizeof raw);
        if (len > (int)sizeof raw - 1) len = (int)sizeof raw - 1;
        tok_visible(raw, len, a->caps.unicode, v2, sizeof v2);
        cb_printf(cb, side.x + 1, side.y + 2 + k, side.w - 2, a->th.text, "%5.3f %-6d %s", p->nn_sim[em.sel][k],
                  p->nn_ids[em.sel][k], v2);
    }

    if (a->large) return;
    /* sliding window of the current batch */
    const TrainSnapshot *ts = &a->ts;
    int wy = r.y + r.h - 5;
    cb_printf(cb, r.x, wy, r.w, a->th.title, "Sliding window (first row of the batch just trained on): starts at token %ld, stride %d, %d tokens",
              ts->window_start, ts->stride, ts->window_len);
    if (ts->window_len <= 0) {
        cb_text(cb, r.x, wy + 1, r.w,
                a->ts.watching ? "(watching: the trainer's batches are not in its run directory)" : "(no batch yet: train a step)",
                a->th.dim);
        return;
    }
    for (int row = 0; row < 2; row++) {
        cb_text(cb, r.x, wy + 1 + 2 * row, 9, row == 0 ? "inputs " : "targets", a->th.dim);
        cb_text(cb, r.x, wy + 2 + 2 * row, 9, "", a->th.dim);
    }
    int xx = r.x + 9;
    for (int i = 0; i < ts->window_len && i < SNAP_MAX_WINDOW; i++) {
        char ri[SNAP_TOKTEXT], rt[SNAP_TOKTEXT], vi[SNAP_TOKTEXT * 4], vt[SNAP_TOKTEXT * 4];
        int li = engine_token_text(a->eng, ts->window_inputs[i], ri, sizeof ri);
        int lt = engine_token_text(a->eng, ts->window_targets[i], rt, sizeof rt);
        if (li > (int)sizeof ri - 1) li = (int)sizeof ri - 1;
        if (lt > (int)sizeof rt - 1) lt = (int)sizeof rt - 1;
        tok_visible(ri, li, a->caps.unicode, vi, sizeof vi);
        tok_visible(rt, lt, a->caps.unicode, vt, sizeof vt);
        char ni[16], nt[16];
        snprintf(ni, sizeof ni, "%d", ts->window_inputs[i]);
        snprintf(nt, sizeof nt, "%d", ts->window_targets[i]);
        int wi = utf8_cols(vi), wt = utf8_cols(vt);
        int colw = LW_MAX(LW_MAX(wi, wt), LW_MAX((int)strlen(ni), (int)strlen(nt))) + 1;
        if (xx + colw > r.x + r.w) break;
        cb_text(cb, xx, wy + 1, wi, vi, app_token_style(a, i, 0));
        cb_text(cb, xx, wy + 2, colw - 1, ni, a->th.dim);
        cb_text(cb, xx, wy + 3, wt, vt, app_token_style(a, i + 1, 0));
        cb_text(cb, xx, wy + 4, colw - 1, nt, a->th.dim);
        xx += colw;
    }
}

static int em_text_mode(App *a) {
    (void)a;
    return em.editing;
}

static int em_key(App *a, int key) {
    if (em.editing) {
        int r = le_key(&em.le, key);
        if (r == LE_SUBMIT) {
            WorkerCmd c;
            memset(&c, 0, sizeof c);
            c.kind = WC_SET_PROBE;
            snprintf(c.text, sizeof c.text, "%s", em.le.buf);
            worker_send(&a->wk, &c);
            em.editing = 0;
            em.sel = 0;
        } else if (r == LE_CANCEL) {
            em.editing = 0;
        }
        return 1;
    }
    switch (key) {
    case K_LEFT: case K_UP: em.sel--; if (em.sel < 0) em.sel = 0; return 1;
    case K_RIGHT: case K_DOWN: em.sel++; return 1;
    case K_HOME: em.sel = 0; return 1;
    case 'e': case '\r': case '\n': case K_ENTER: {
        em.editing = 1;
        le_init(&em.le);
        int count;
        const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
        char s[LINE_MAX_BYTES] = "";
        size_t o = 0;
        for (int t = 0; p && t < p->T; t++) {
            size_t l = strlen(p->tok[t]);
            if (o + l + 1 >= sizeof s) break;
            memcpy(s + o, p->tok[t], l);
            o += l;
        }
        s[o] = '\0';
        le_set(&em.le, o ? s : a->cfg->probe.text);
        return 1;
    }
    case 'p': worker_send_kind(&a->wk, WC_PROBE); app_status(a, 0, "recording a probe snapshot"); return 1;
    default: return 0;
    }
}

/* / n N: selects the first (next, previous) probe token containing the text. */
static void em_search(App *a, const char *pat, int dir) {
    if (!pat[0]) return;
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
    if (!p) {
        app_status(a, 1, "no probe snapshot yet");
        return;
    }
    int t = app_search_tokens(a, &p->tok[0][0], sizeof p->tok[0], p->T, pat, em.sel, dir);
    if (t >= 0) em.sel = t;
}

static const char *const EM_HELP[] = {
    "<- -> Up Down\tselect a probe token (marked >; neighbours shown)",
    "Enter, e\tedit the probe sentence (Enter sets, Esc cancels)",
    "p\trecord a probe snapshot of the current weights now",
    "\tstrips: blue < 0, white 0, red > 0; 2 values per cell",
    "z\tlarge view: the strips and the neighbours alone, full size",
    "/\tselect the first probe token containing the text",
    "n, N\tnext / previous such token",
    NULL};

const ScreenOps screen_embed = {
    .title = "Embed",
    .help = EM_HELP,
    .draw = em_draw,
    .key = em_key,
    .text_mode = em_text_mode,
    .search = em_search,
};
