/* screen_attn.c — [3] Attention: a layers × heads grid of small heatmaps of the probe sentence's attention
 * weights (rows = queries, columns = keys; the masked upper triangle dimmed), a zoom into one head with token
 * labels and the exact weight under a cursor, the average over heads, and the recorded snapshots scrubbable
 * (REPLAY) or following training (LIVE). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine.h" /* export_* (export.h, part of the public API) */
#include "probe_cache.h"

static struct {
    int zoom;
    int avg;            /* show the average over heads */
    int layer, head;    /* selected tile */
    int q, k;           /* zoom cursor */
    int replay;         /* snapshot index, -1 = live (newest) */
    int glyphs;         /* g: glyph ramp instead of colour */
    int kind;           /* x: an encoder-decoder's map shown: AT_ENC self, AT_DEC self, AT_CROSS */
} at = {0, 0, 0, 0, 0, 0, -1, 0, 0};

/* The caps heatmaps are drawn with: the glyph ramp (as in monochrome) when at.glyphs. */
static RenderCaps at_caps(const App *a) {
    RenderCaps c = a->caps;
    if (at.glyphs) c.cm = CM_MONO;
    return c;
}

/* The maps of an encoder-decoder probe (ProbeSnapshot.Ld > 0); other models have only the first. */
enum { AT_ENC, AT_DEC, AT_CROSS, AT_KINDS };
static const char *const AT_KIND_NAME[AT_KINDS] = {
    "encoder self-attention (bidirectional: full squares)", "decoder self-attention (causal)",
    "cross-attention: target rows x source columns (the alignment)"};

/* The decoder's self-attention as a square snapshot of its own (target tokens, decoder layers), so the grid,
 * zoom and large views draw it unchanged. */
static const ProbeSnapshot *at_decoder_view(const ProbeSnapshot *p) {
    static ProbeSnapshot v;
    v = *p;
    v.T = p->Tt, v.L = p->Ld, v.att = p->dec_att, v.kind = SNAP_MAP_CAUSAL;
    v.act_std = NULL;
    memcpy(v.tok, p->tgt_tok, sizeof v.tok);
    memcpy(v.ids, p->tgt_ids, sizeof v.ids);
    return &v;
}

/* The cross-attention of the selected decoder layer and head (or their average): one Tt x T grid, rows the target
 * tokens the decoder wrote, columns the source tokens, each row summing to 1. */
static void at_draw_cross(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p) {
    int Tq = p->Tt, Tk = p->T, NH = p->NH, l = at.layer < p->Ld ? at.layer : p->Ld - 1;
    int lab = 14, cw = (r.w - lab) / (Tk > 0 ? Tk : 1) >= 4 ? 4 : (r.w - lab) / (Tk > 0 ? Tk : 1) >= 3 ? 3 : 2;
    RenderCaps caps = at_caps(a);
    /* column header: the source tokens, cut to the cell width */
    for (int k = 0; k < Tk && lab + (k + 1) * cw <= r.w; k++) {
        char vis[SNAP_TOKTEXT * 4];
        tok_visible(p->tok[k], (int)strlen(p->tok[k]), a->caps.unicode, vis, sizeof vis);
        cb_text(cb, r.x + lab + k * cw, r.y, cw - 1, vis, a->th.dim);
    }
    for (int q = 0; q < Tq && q < r.h - 2; q++) {
        int y = r.y + 1 + q;
        char vis[SNAP_TOKTEXT * 4];
        tok_visible(p->tgt_tok[q], (int)strlen(p->tgt_tok[q]), a->caps.unicode, vis, sizeof vis);
        cb_text(cb, r.x, y, lab - 1, vis, a->th.text);
        int best = 0;
        float row[SNAP_MAX_PROBE];
        for (int k = 0; k < Tk; k++) {
            float v = 0;
            for (int h = 0; h < NH; h++)
                if (at.avg || h == at.head) v += p->cross_att[(((size_t)l * NH + h) * Tq + q) * Tk + k];
            row[k] = at.avg ? v / (float)NH : v;
            if (row[k] > row[best]) best = k;
        }
        for (int k = 0; k < Tk && lab + (k + 1) * cw <= r.w; k++) {
            int x = r.x + lab + k * cw;
            for (int c = 0; c < cw - 1; c++) {
                if (caps.cm == CM_MONO) {
                    cb_put(cb, x + c, y, (uint32_t)ramp_glyph(row[k], 0, 1), k == best ? a->th.highlight : a->th.text);
                } else {
                    Style st = {COL_DEFAULT, ramp_color(row[k], 0, 1, 0, a->caps.cm), 0};
                    cb_put(cb, x + c, y, k == best && c == 0 ? '*' : ' ', st);
                }
            }
        }
    }
}


/* The (T, T) map of layer l, head h (or the head average into buf when avg). */
static const float *at_map(const ProbeSnapshot *p, int l, int h, int avg, float *buf) {
    size_t TT = (size_t)p->T * (size_t)p->T;
    if (!avg) return p->att + ((size_t)l * (size_t)p->NH + (size_t)h) * TT;
    for (size_t i = 0; i < TT; i++) buf[i] = 0;
    for (int hh = 0; hh < p->NH; hh++) {
        const float *m = p->att + ((size_t)l * (size_t)p->NH + (size_t)hh) * TT;
        for (size_t i = 0; i < TT; i++) buf[i] += m[i] / (float)p->NH;
    }
    return buf;
}

static void at_mask(uint8_t *mask, int T, int bidirectional) {
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) mask[i * T + j] = !bidirectional && j > i;
}

static void at_draw_grid(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p, float *buf, const uint8_t *mask) {
    int cols = at.avg ? 1 : p->NH, rows = p->L;
    int lab = 4;
    int tw = (r.w - lab) / cols - 1, th = (r.h - 1) / rows - 1;
    if (tw < 2 || th < 1) {
        cb_text(cb, r.x, r.y, r.w, "(too many heads for this size: zoom with Enter)", a->th.dim);
        tw = tw < 2 ? 2 : tw, th = th < 1 ? 1 : th;
    }
    /* keep tiles square-ish: a half-block cell is 1 column x 2 pixel rows */
    RenderCaps caps = at_caps(a);
    int side = tw < 2 * th ? tw : 2 * th;
    if (!caps.unicode || caps.cm == CM_MONO) side = tw < th ? tw : th;
    int tww = side, thh = (caps.unicode && caps.cm != CM_MONO) ? (side + 1) / 2 : side;
    if (tww > p->T * 2) tww = p->T * 2;
    for (int h = 0; h < cols; h++) {
        char t[16];
        if (at.avg) snprintf(t, sizeof t, "avg");
        else snprintf(t, sizeof t, "H%d", h);
        cb_text(cb, r.x + lab + h * (tww + 1), r.y, tww, t, h == at.head && !at.avg ? a->th.bold : a->th.dim);
    }
    for (int l = 0; l < rows; l++) {
        int y = r.y + 1 + l * (thh + 1);
        if (y + thh > r.y + r.h) break;
        char t[16];
        snprintf(t, sizeof t, "L%d", l);
        cb_text(cb, r.x, y, lab, t, l == at.layer ? a->th.bold : a->th.dim);
        for (int h = 0; h < cols; h++) {
            int x = r.x + lab + h * (tww + 1);
            const float *m = at_map(p, l, h, at.avg, buf);
            heatmap_draw(cb, x, y, tww, thh, m, p->T, p->T, p->T, 0, 1, 0, mask, &caps);
            if (l == at.layer && (h == at.head || at.avg)) {
                /* selection marker: brackets either side of the tile (not colour alone) */
                cb_put(cb, x - 1, y, a->caps.unicode ? 0x25B6 : '>', a->th.highlight);
            }
        }
    }
}

static void at_draw_zoom(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p, float *buf, const uint8_t *mask) {
    const float *m = at_map(p, at.layer, at.head, at.avg, buf);
    int T = p->T;
    if (at.q >= T) at.q = T - 1;
    if (at.k >= T) at.k = T - 1;
    int lab = 14;
    int cw = (r.w - lab) / T >= 3 ? 3 : (r.w - lab) / T >= 2 ? 2 : 1;
    int vis_cols = (r.w - lab) / cw;
    int vis_rows = r.h - 3;
    int q0 = at.q >= vis_rows ? at.q - vis_rows + 1 : 0;
    int k0 = at.k >= vis_cols ? at.k - vis_cols + 1 : 0;
    /* column header: key indices */
    for (int k = k0; k < T && (k - k0) < vis_cols; k++) {
        char t[8];
        snprintf(t, sizeof t, "%*d", cw, k % (cw >= 3 ? 100 : 10));
        cb_text(cb, r.x + lab + (k - k0) * cw, r.y, cw, t, k == at.k ? a->th.bold : a->th.dim);
    }
    for (int q = q0; q < T && (q - q0) < vis_rows; q++) {
        int y = r.y + 1 + q - q0;
        char vis[SNAP_TOKTEXT * 4], l[SNAP_TOKTEXT * 4 + 16];
        tok_visible(p->tok[q], (int)strlen(p->tok[q]), a->caps.unicode, vis, sizeof vis);
        snprintf(l, sizeof l, "%2d %s", q, vis);
        cb_text(cb, r.x, y, lab - 1, l, q == at.q ? a->th.bold : a->th.text);
        for (int k = k0; k < T && (k - k0) < vis_cols; k++) {
            int x = r.x + lab + (k - k0) * cw;
            float v = m[q * T + k];
            int masked = mask[q * T + k];
            int cur = q == at.q && k == at.k;
            for (int c = 0; c < cw; c++) {
                if (masked) {
                    cb_put(cb, x + c, y, c == cw / 2 ? (a->caps.unicode ? 0x00B7 : '.') : ' ', a->th.dim);
                } else if (a->caps.cm == CM_MONO || at.glyphs) {
                    cb_put(cb, x + c, y, (uint32_t)ramp_glyph(v, 0, 1), cur ? a->th.cursor : a->th.text);
                } else {
                    Style s = {COL_DEFAULT, ramp_color(v, 0, 1, 0, a->caps.cm), 0};
                    uint32_t ch = ' ';
                    if (cur) ch = c == 0 ? '[' : c == cw - 1 ? ']' : '*', s.fg = ramp_index(v, 0, 1, 12) > 6 ? 16 : 231;
                    cb_put(cb, x + c, y, ch, s);
                }
            }
        }
    }
    char vq[SNAP_TOKTEXT * 4], vk[SNAP_TOKTEXT * 4];
    tok_visible(p->tok[at.q], (int)strlen(p->tok[at.q]), a->caps.unicode, vq, sizeof vq);
    tok_visible(p->tok[at.k], (int)strlen(p->tok[at.k]), a->caps.unicode, vk, sizeof vk);
    float v = m[at.q * T + at.k];
    cb_printf(cb, r.x, r.y + r.h - 1, r.w, a->th.highlight,
              " query %d \"%s\" -> key %d \"%s\": weight %.4f%s ", at.q, vq, at.k, vk, v,
              at.k > at.q ? " (masked: the future)" : "");
}

/* z: the selected head (or the layer average) alone, as big as the body allows, with the value under the
 * zoom cursor on the last row. */
static void at_draw_large(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p, float *buf, const uint8_t *mask) {
    const float *m = at_map(p, at.layer, at.head, at.avg, buf);
    RenderCaps caps = at_caps(a);
    int half = caps.unicode && caps.cm != CM_MONO;   /* half blocks: 2 values per cell vertically */
    int h = r.h - 1, w = r.w;
    /* square cells on a terminal: a cell is about twice as tall as wide */
    int side_rows = half ? 2 * h : h;
    int side = w / 2 < side_rows ? w / 2 : side_rows;
    int cw = side * 2 > w ? w : side * 2, ch = half ? (side + 1) / 2 : side;
    if (cw < p->T) cw = w < p->T ? w : p->T;
    heatmap_draw(cb, r.x + (w - cw) / 2, r.y, cw, ch, m, p->T, p->T, p->T, 0, 1, 0, mask, &caps);
    int q = at.q < p->T ? at.q : p->T - 1, k = at.k < p->T ? at.k : p->T - 1;
    char vq[SNAP_TOKTEXT * 4], vk[SNAP_TOKTEXT * 4];
    tok_visible(p->tok[q], (int)strlen(p->tok[q]), a->caps.unicode, vq, sizeof vq);
    tok_visible(p->tok[k], (int)strlen(p->tok[k]), a->caps.unicode, vk, sizeof vk);
    cb_printf(cb, r.x, r.y + r.h - 1, r.w, a->th.highlight,
              " large view (z returns)  rows = queries, columns = keys  query %d \"%s\" -> key %d \"%s\": %.4f ", q, vq,
              k, vk, m[q * p->T + k]);
}

/* An encoder-decoder: which of its three maps is shown, at the right end of the last row (over the hint). */
static void at_draw_kind(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *orig) {
    if (orig->Ld <= 0) return;
    char kl[96];
    snprintf(kl, sizeof kl, " x: %s ", AT_KIND_NAME[at.kind]);
    int kw = (int)strlen(kl);
    cb_text(cb, r.x + (r.w - kw > 0 ? r.w - kw : 0), r.y + r.h - 1, kw, kl, a->th.title);
}

static void at_draw(App *a, CellBuf *cb, Rect r) {
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, at.replay, &count);
    if (at.replay >= count) at.replay = -1;
    if (!p || p->T <= 0) {
        cb_text(cb, r.x, r.y + 1, r.w, "No probe snapshot yet.", a->th.dim);
        return;
    }
    if (p->Ld <= 0) at.kind = AT_ENC;
    const ProbeSnapshot *orig = p;
    if (at.kind != AT_ENC) p = at_decoder_view(orig); /* the decoder's layers, heads and tokens */
    if (at.layer >= p->L) at.layer = p->L - 1;
    if (at.head >= p->NH) at.head = p->NH - 1;
    int idx = at.replay < 0 ? count - 1 : at.replay;
    char head[256], which[32];
    if (at.avg) snprintf(which, sizeof which, "average of heads");
    else snprintf(which, sizeof which, "head %d", at.head);
    /* residual-stream spread after the embeddings and after the selected layer's block */
    snprintf(head, sizeof head, "%s  step %ld  snapshot %d/%d  %s  layer %d %s  T=%d  resid std %.2f->%.2f%s",
             at.replay < 0 ? "LIVE" : "REPLAY", p->step, idx + 1, count,
             at.replay < 0 ? "(<- older)" : "(<- -> scrub, End = live)", at.layer, which, p->T,
             p->act_std ? p->act_std[0] : 0.0f, p->act_std ? p->act_std[at.layer + 1] : 0.0f,
             p->nonfinite ? "  NaN/Inf in the forward!" : "");
    Style hs = at.replay < 0 ? a->th.good : a->th.warn;
    cb_text(cb, r.x, r.y, r.w, head, hs);
    if (at.kind == AT_CROSS) {
        at_draw_cross(a, cb, (Rect){r.x, r.y + 1, r.w, r.h - 2}, orig);
        cb_text(cb, r.x, r.y + r.h - 1, r.w, "rows: target tokens; * = the source token weighed most", a->th.dim);
        at_draw_kind(a, cb, r, orig);
        return;
    }
    size_t TT = (size_t)p->T * (size_t)p->T;
    float *buf = malloc(sizeof(float) * TT);
    uint8_t *mask = malloc(TT);
    if (!buf || !mask) { free(buf); free(mask); return; }
    at_mask(mask, p->T, p->kind == SNAP_MAP_BIDIRECTIONAL);
    Rect body = {r.x, r.y + 1, r.w, r.h - 2};
    if (a->large) {
        at_draw_large(a, cb, (Rect){r.x, r.y + 1, r.w, r.h - 1}, p, buf, mask);
        free(buf);
        free(mask);
        return;
    }
    if (at.zoom) at_draw_zoom(a, cb, body, p, buf, mask);
    else at_draw_grid(a, cb, body, p, buf, mask);
    cb_text(cb, r.x, r.y + r.h - 1, r.w,
            at.zoom ? "arrows move the cursor, , . scrub snapshots, a average, Esc/Enter back to the grid"
                    : "Up/Down select a tile, Enter zooms, a average over heads, <- -> scrub snapshots, End live",
            a->th.dim);
    at_draw_kind(a, cb, r, orig);
    free(buf);
    free(mask);
}

static void at_scrub(App *a, int dir) {
    int count = a->eng ? engine_n_probes(a->eng) : 0;
    if (count == 0) return;
    int idx = at.replay < 0 ? count - 1 : at.replay;
    idx += dir;
    if (idx < 0) idx = 0;
    at.replay = idx >= count - 1 ? -1 : idx;
}

static int at_key(App *a, int key) {
    int count = 0;
    const ProbeSnapshot *p = a->eng ? probe_cache_get(a->eng, at.replay, &count) : NULL;
    int L = p ? p->L : 1, NH = p ? p->NH : 1, T = p ? p->T : 1;
    switch (key) {
    case 'a': at.avg = !at.avg; return 1;
    case 'x':
        if (!p || p->Ld <= 0) {
            app_status(a, 0, "one kind of map: %s", p && p->kind == SNAP_MAP_BIDIRECTIONAL ? "bidirectional self-attention"
                                                                                          : "causal self-attention");
            return 1;
        }
        at.kind = (at.kind + 1) % AT_KINDS, at.layer = at.head = at.q = at.k = 0, at.zoom = 0;
        app_status(a, 0, "attention: %s", AT_KIND_NAME[at.kind]);
        return 1;
    case 'g':
        at.glyphs = !at.glyphs;
        app_status(a, 0, "heatmaps: %s", at.glyphs ? "glyph ramp \" .:-=+*#%@\" (low to high)" : "colour ramp");
        return 1;
    case K_END: at.replay = -1; return 1;
    case ',': case '[': case '<': at_scrub(a, -1); return 1;
    case '.': case ']': case '>': at_scrub(a, +1); return 1;
    case '\r': case '\n': case K_ENTER: at.zoom = !at.zoom; return 1;
    case K_ESC: if (at.zoom) { at.zoom = 0; return 1; } return 0;
    default: break;
    }
    if (at.zoom) {
        switch (key) {
        case K_UP: if (at.q > 0) at.q--; return 1;
        case K_DOWN: if (at.q < T - 1) at.q++; return 1;
        case K_LEFT: if (at.k > 0) at.k--; return 1;
        case K_RIGHT: if (at.k < T - 1) at.k++; return 1;
        case K_HOME: at.k = 0; return 1;
        default: return 0;
        }
    }
    if (key == K_HOME) {   /* grid: the first (oldest) snapshot */
        if (a->eng && engine_n_probes(a->eng) > 1) at.replay = 0;
        return 1;
    }
    switch (key) {
    case K_LEFT: at_scrub(a, -1); return 1;
    case K_RIGHT: at_scrub(a, +1); return 1;
    case K_DOWN:
        if (at.avg) { if (at.layer < L - 1) at.layer++; return 1; }
        if (at.head < NH - 1) at.head++;
        else if (at.layer < L - 1) at.layer++, at.head = 0;
        return 1;
    case K_UP:
        if (at.avg) { if (at.layer > 0) at.layer--; return 1; }
        if (at.head > 0) at.head--;
        else if (at.layer > 0) at.layer--, at.head = NH - 1;
        return 1;
    case K_NPAGE: if (at.layer < L - 1) at.layer++; return 1;
    case K_PPAGE: if (at.layer > 0) at.layer--; return 1;
    default: return 0;
    }
}

/* P: the zoomed head (or layer average) in zoom and large views, the whole grid otherwise; PNG and SVG. */
static int at_export(App *a, const char *base, char *msg, size_t n) {
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, at.replay, &count);
    if (!p || p->T <= 0) return 0;
    ExportAttnOpts o = {at.layer, at.avg ? EXPORT_HEAD_AVG : at.head, 0};
    if (!at.zoom && !a->large) o.layer = EXPORT_ALL_LAYERS;
    char path[1500];
    LwError e;
    snprintf(path, sizeof path, "%s.png", base);
    if (export_attention_png(path, p, &o, &e)) { snprintf(msg, n, "%s", e.msg); return -1; }
    snprintf(path, sizeof path, "%s.svg", base);
    if (export_attention_svg(path, p, &o, &e)) { snprintf(msg, n, "%s", e.msg); return -1; }
    return 2;
}

/* / n N: zooms in with the cursor on the first (next, previous) probe token containing the text (its query
 * row and key column). */
static void at_search(App *a, const char *pat, int dir) {
    if (!pat[0]) return;
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, at.replay, &count);
    if (!p || p->T <= 0) {
        app_status(a, 1, "no probe snapshot yet");
        return;
    }
    int t = app_search_tokens(a, &p->tok[0][0], sizeof p->tok[0], p->T, pat, at.q, dir);
    if (t >= 0) at.q = at.k = t, at.zoom = 1;
}

static const char *const AT_HELP[] = {
    "Up/Down\tgrid: next / previous head (PgUp/PgDn: layer)",
    "Enter\tzoom into the head (queries x keys) / back",
    "arrows\tzoom: move the cursor; its exact weight is shown",
    "a\taverage over the heads of each layer on / off",
    "x\tencoder-decoder: encoder self / decoder self / cross-attention",
    "<- ->\tgrid: scrub snapshots (REPLAY); Home: first, End: LIVE",
    "g\tglyph ramp \" .:-=+*#%@\" instead of colour (projectors)",
    "z\tlarge view: the selected head alone, full size",
    "P\texport the grid, or the zoomed head, as PNG and SVG",
    ", .\tscrub snapshots in the zoom too ([ ] < > work as well)",
    "\tmasked (future) cells dotted; darker = less weight",
    "/\tzoom with the cursor on the first probe token containing the text",
    "n, N\tnext / previous such token",
    NULL};

const ScreenOps screen_attention = {
    .title = "Attention",
    .help = AT_HELP,
    .draw = at_draw,
    .key = at_key,
    .export_pics = at_export,
    .search = at_search,
};
