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
    /* M: the token map (engine_embed_map_near through the worker), a copy of the newest result */
    int map;            /* the map is shown instead of the strips */
    int map_sel;        /* the selected token (an id) */
    int zoom;           /* + -: 0 = the whole map, k = 2^k times closer around the selected token */
    Engine *map_eng;    /* the texts below belong to this engine */
    uint64_t map_seq;   /* of the copy */
    int n;              /* tokens in xy (0 = none yet) */
    float *xy;
    float var[2], total_var;
    long step;
    int query, n_nn, nn_ids[EMBED_NN];
    float nn_sim[EMBED_NN];
    char err[LW_ERRLEN];
    char (*texts)[SNAP_TOKTEXT]; /* every token's bytes (search and labels) */
    int n_texts;
} em;

static void em_token_label(App *a, const char *raw, char *out, size_t n) {
    tok_visible(raw, (int)strlen(raw), a->caps.unicode, out, n);
}

static void em_draw_map(App *a, CellBuf *cb, Rect r);

static void em_draw(App *a, CellBuf *cb, Rect r) {
    if (em.map && !em.editing) {
        em_draw_map(a, cb, r);
        return;
    }
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

/* ---------------------------------------------------------------- the token map (M) */

/* Every token's text, read once per engine (the tokenizer does not change while it is open). */
static void em_map_texts(App *a) {
    int V = engine_vocab_size(a->eng);
    if (em.map_eng == a->eng && em.n_texts == V) return;
    free(em.texts);
    em.texts = calloc((size_t)LW_MAX(V, 1), sizeof *em.texts);
    em.n_texts = em.texts ? V : 0;
    for (int i = 0; i < em.n_texts; i++) engine_token_text(a->eng, i, em.texts[i], sizeof em.texts[i]);
    em.map_eng = a->eng;
    em.n = 0, em.map_seq = 0, em.err[0] = '\0';
    if (em.map_sel >= V) em.map_sel = 0;
}

/* While the map is on screen: copies a new result, and asks for one when the newest probe snapshot is newer than
 * the weights it was computed on (so it moves as training goes, once per snapshot) or another token is selected. */
static int em_poll(App *a) {
    if (!em.map || !a->eng || SCREENS[a->screen] != &screen_embed) return 0;
    em_map_texts(a);
    int count = 0, changed = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
    long newest = p ? p->step : a->ts.step;
    const WorkerInspect *r = worker_inspect_lock(&a->wk, WI_EMBED_MAP);
    int pending = r->pending, arg = r->arg;
    long rstep = r->step;
    uint64_t rseq = r->seq;
    if (r->seq != em.map_seq) {
        em.map_seq = r->seq;
        snprintf(em.err, sizeof em.err, "%s", r->err);
        float *xy = r->map.n > 0 ? malloc(sizeof(float) * 2 * (size_t)r->map.n) : NULL;
        if (xy) {
            memcpy(xy, r->map.xy, sizeof(float) * 2 * (size_t)r->map.n);
            free(em.xy);
            em.xy = xy, em.n = r->map.n;
            em.var[0] = r->map.var[0], em.var[1] = r->map.var[1], em.total_var = r->map.total_var;
            em.step = r->step;
            em.query = r->map.query, em.n_nn = r->map.n_nn;
            memcpy(em.nn_ids, r->map.nn_ids, sizeof em.nn_ids);
            memcpy(em.nn_sim, r->map.nn_sim, sizeof em.nn_sim);
        }
        changed = 1;
    }
    worker_inspect_unlock(&a->wk);
    if (!pending && (rseq == 0 || arg != em.map_sel + 1 || newest > rstep || em.n_texts != em.n))
        if (!(em.err[0] && arg == em.map_sel + 1 && newest <= rstep)) /* a failure is not asked again at once */
            worker_inspect(&a->wk, WI_EMBED_MAP, NULL, em.map_sel + 1);
    return changed;
}

/* The tokens labelled on the map when they fit, most wanted first: the selected token, its neighbours, the probe
 * sentence's tokens, then frequent ones as the tokenizer tells them: a BPE vocabulary's first merges (the most
 * frequent pairs of the corpus it was trained on), the most common English letters of a byte vocabulary, common
 * words in a words vocabulary. Returns how many ids (at most max); *what names the last kind. */
static int em_map_labels(App *a, const ProbeSnapshot *p, int *ids, int max, const char **what) {
    int n = 0, V = em.n;
    unsigned char *seen = calloc((size_t)LW_MAX(V, 1), 1);
    if (!seen) return 0;
#define EM_ADD(id) do { int id_ = (id); if (id_ >= 0 && id_ < V && !seen[id_] && n < max) seen[id_] = 1, ids[n++] = id_; } while (0)
    EM_ADD(em.map_sel);
    if (em.query == em.map_sel)
        for (int k = 0; k < em.n_nn; k++) EM_ADD(em.nn_ids[k]);
    for (int t = 0; p && t < p->T; t++) EM_ADD(p->ids[t]);
    SpecialToken sp[SNAP_MAX_SPECIAL];
    int nsp = engine_special_tokens(a->eng, sp, SNAP_MAX_SPECIAL);
    for (int k = 0; k < nsp; k++)
        if (sp[k].id >= 0 && sp[k].id < V) seen[sp[k].id] = 1;   /* never labelled as frequent */
    TokKind kind = engine_config(a->eng)->tokenizer.kind;
    if ((kind == TOK_BPE || kind == TOK_GPT2) && V > 257) {
        *what = "the first BPE merges (the most frequent pairs)";
        for (int id = 256; id < V && n < max; id++) EM_ADD(id);
    } else if (kind == TOK_WORDS) {
        static const char *const words[] = {"the", "of", "and", "to", "a", "in", "was", "I", "her", "it", "he", "that",
                                            "not", "she", "you", "his", "be", "had", "with", "for", "as", "is", "my",
                                            "on", "at", "by", "but", "have", "him", "Mr", ",", ".", ";", "\""};
        *what = "common words";
        for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
            int w[4];
            if (engine_encode(a->eng, words[k], w, 4) == 1) EM_ADD(w[0]);
        }
    } else {
        static const char letters[] = " etaoinshrdlcumwfgypbvkjxqz,.ETAOINSHRDLCUMWFGYPBVKJXQZ";
        *what = "the most common letters";
        for (const char *c = letters; *c; c++) EM_ADD((unsigned char)*c);
    }
#undef EM_ADD
    free(seen);
    return n;
}

static void em_draw_map(App *a, CellBuf *cb, Rect r) {
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
    char line[512];
    int V = em.n_texts;
    if (!a->large) {
        char st[48], nv[48];
        snprintf(st, sizeof st, "step %ld", em.step);
        snprintf(nv, sizeof nv, "%d tokens", V);
        FitField hf[] = {{"Where tokens live: every token's embedding row on its two main axes (PCA)", "Token map (PCA)", -1},
                         {em.n ? st : NULL, NULL, 0},
                         {nv, NULL, 2},
                         {"M: back to the strips", "M strips", 3}};
        cb_text(cb, r.x, r.y, r.w, fit_line(hf, 4, "  \xc2\xb7  ", r.w, a->caps.unicode, line, sizeof line), a->th.bold);
        r.y++, r.h--;
    }
    if (em.n == 0 || !em.xy) {
        cb_text(cb, r.x + 2, r.y + 1, r.w - 4, em.err[0] ? em.err : "computing the map ...", em.err[0] ? a->th.error : a->th.dim);
        return;
    }
    if (em.map_sel >= em.n) em.map_sel = em.n - 1;
    Rect pl, side;
    layout_split_h(r, 0.7, 26, 1, &pl, &side);
    if (a->large) pl = r, side.w = 0;
    /* the scatter: a box, a braille dot per token (2 x 4 dots a cell), captions under it */
    Rect box = {pl.x, pl.y, pl.w, pl.h - 1};
    char btitle[96];
    if (em.zoom > 0) snprintf(btitle, sizeof btitle, "zoom x%d around the selected token (+ -)", 1 << em.zoom);
    else snprintf(btitle, sizeof btitle, "%s", box.w >= 60 ? "every token a dot; labels where they fit (+ zooms)" : "every token a dot (+ zooms)");
    cb_box(cb, box, btitle, a->th.dim, a->caps.unicode);
    int w = box.w - 2, h = box.h - 2;
    if (w < 4 || h < 2) return;
    float x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < em.n; i++) {
        float x = em.xy[2 * i], y = em.xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) continue;
        x0 = fminf(x0, x), x1 = fmaxf(x1, x), y0 = fminf(y0, y), y1 = fmaxf(y1, y);
    }
    if (!(x1 > x0)) x0 -= 1, x1 += 1;
    if (!(y1 > y0)) y0 -= 1, y1 += 1;
    if (em.zoom > 0) { /* 2^zoom times closer, centred on the selected token */
        float f = ldexpf(1.0f, -em.zoom), hx = (x1 - x0) * f / 2, hy = (y1 - y0) * f / 2;
        float cx = em.xy[2 * em.map_sel], cy = em.xy[2 * em.map_sel + 1];
        if (isfinite(cx) && isfinite(cy)) x0 = cx - hx, x1 = cx + hx, y0 = cy - hy, y1 = cy + hy;
    }
    int dw = a->caps.blocks || !a->caps.unicode ? 1 : 2, dh = a->caps.blocks || !a->caps.unicode ? 2 : 4;
    int W = w * dw, H = h * dh;
    uint8_t *bits = calloc((size_t)w * (size_t)h, 1);
    uint8_t *used = calloc((size_t)w * (size_t)h, 1);   /* cells taken by a label */
    int *cell = malloc(sizeof(int) * (size_t)em.n);
    if (!bits || !used || !cell) {
        free(bits), free(used), free(cell);
        return;
    }
    for (int i = 0; i < em.n; i++) {
        float x = em.xy[2 * i], y = em.xy[2 * i + 1];
        cell[i] = -1;
        if (!isfinite(x) || !isfinite(y)) continue;
        if (x < x0 || x > x1 || y < y0 || y > y1) continue;   /* outside a zoomed view */
        int px = (int)lroundf((x - x0) / (x1 - x0) * (float)(W - 1));
        int py = (int)lroundf((1.0f - (y - y0) / (y1 - y0)) * (float)(H - 1));
        int cx = px / dw, cy = py / dh;
        cell[i] = cy * w + cx;
        bits[cell[i]] |= (uint8_t)(dh == 4 ? braille_bit(px % 2, py % 4) : (py % 2 == 0 ? 1 : 2));
    }
    Style dots = a->caps.cm == CM_MONO ? a->th.text : (Style){a->caps.light ? 242 : 250, COL_DEFAULT, 0};
    for (int cy = 0; cy < h; cy++)
        for (int cx = 0; cx < w; cx++) {
            uint8_t b = bits[cy * w + cx];
            if (!b) continue;
            uint32_t ch = dh == 4 ? 0x2800u + b : !a->caps.unicode ? (b == 3 ? ':' : '.') : b == 3 ? 0x2588 : b == 1 ? 0x2580 : 0x2584;
            cb_put(cb, box.x + 1 + cx, box.y + 1 + cy, ch, dots);
        }
    /* labels, most wanted first, each right of its token's cell when the cells are free */
    int ids[512];
    const char *what = "";
    int nl = em_map_labels(a, p, ids, 512, &what);
    int probe_from = 1 + (em.query == em.map_sel ? em.n_nn : 0);
    for (int k = 0; k < nl; k++) {
        int id = ids[k];
        if (cell[id] < 0) continue;
        int cx = cell[id] % w, cy = cell[id] / w;
        char vis[SNAP_TOKTEXT * 4], fit[64];
        tok_visible(em.texts[id], (int)strlen(em.texts[id]), a->caps.unicode, vis, sizeof vis);
        utf8_fit(vis, 10, a->caps.unicode, fit, sizeof fit);
        int lw = utf8_cols(fit) + 1, lx = cx;   /* the mark, then the text */
        if (lx + lw > w) lx = w - lw;           /* near the right edge: to the left of it */
        if (lx < 0) continue;
        int free_ = 1;
        for (int i = lx; i < lx + lw && free_; i++) free_ = !used[cy * w + i];
        if (!free_ && k > 0) continue;          /* the selected token is always labelled */
        for (int i = lx; i < lx + lw; i++) used[cy * w + i] = 1;
        Style st = k == 0 ? a->th.highlight : k < probe_from ? a->th.warn : k < probe_from + (p ? p->T : 0) ? a->th.good : a->th.text;
        uint32_t mark = a->caps.unicode ? (k == 0 ? 0x25C6 : 0x2022) : (k == 0 ? '@' : '*');
        cb_put(cb, box.x + 1 + cx, box.y + 1 + cy, mark, st);
        if (lx == cx) cb_text(cb, box.x + 2 + cx, box.y + 1 + cy, lw - 1, fit, st);
        else cb_text(cb, box.x + 1 + lx, box.y + 1 + cy, lw - 1, fit, st);
    }
    free(bits), free(used), free(cell);
    /* the axes' captions: how much of the embeddings' spread each shows */
    double tv = em.total_var > 0 ? em.total_var : 1;
    char c1[96], c2[96], c3[96];
    snprintf(c1, sizeof c1, "x: PC1 %.1f%%,", 100.0 * em.var[0] / tv);
    snprintf(c2, sizeof c2, "y: PC2 %.1f%% of the variance", 100.0 * em.var[1] / tv);
    snprintf(c3, sizeof c3, "(together %.1f%% of it: the rest is in the other %d dimensions)",
             100.0 * (em.var[0] + em.var[1]) / tv, p ? p->C - 2 : 0);
    if (!p) snprintf(c3, sizeof c3, "(together %.1f%% of it)", 100.0 * (em.var[0] + em.var[1]) / tv);
    FitField cf[] = {{c1, NULL, 0}, {c2, NULL, 0}, {c3, NULL, 2}};
    cb_text(cb, pl.x, pl.y + pl.h - 1, pl.w, fit_line(cf, 3, " ", pl.w, a->caps.unicode, line, sizeof line), a->th.text);
    if (a->large || side.w < 10) return;
    /* the selected token and its nearest tokens by cosine similarity */
    int y = side.y, ybot = side.y + side.h;
    char vis[SNAP_TOKTEXT * 4];
    tok_visible(em.texts[em.map_sel], (int)strlen(em.texts[em.map_sel]), a->caps.unicode, vis, sizeof vis);
    int tx = cb_text(cb, side.x, y, side.w, "token ", a->th.bold);
    cb_text(cb, side.x + tx, y++, side.w - tx, vis, a->th.highlight);
    cb_printf(cb, side.x, y++, side.w, a->th.text, "id %d at (%.2f, %.2f)", em.map_sel, (double)em.xy[2 * em.map_sel],
              (double)em.xy[2 * em.map_sel + 1]);
    y++;
    cb_text(cb, side.x, y++, side.w, "Nearest by cosine", a->th.title);
    if (em.query != em.map_sel) {
        cb_text(cb, side.x, y++, side.w, "finding them ...", a->th.dim);
    } else {
        for (int k = 0; k < em.n_nn && y < ybot; k++) {
            int id = em.nn_ids[k];
            char v2[SNAP_TOKTEXT * 4];
            tok_visible(em.texts[id], (int)strlen(em.texts[id]), a->caps.unicode, v2, sizeof v2);
            cb_printf(cb, side.x, y++, side.w, a->th.warn, "%5.3f %-6d %s", (double)em.nn_sim[k], id, v2);
        }
    }
    y++;
    if (y + 3 <= ybot) {
        char lab[200];
        int col = a->caps.cm != CM_MONO;
        snprintf(lab, sizeof lab, "Labels: the selected token, its neighbours%s, the probe's tokens%s, %s.",
                 col ? " (orange)" : "", col ? " (green)" : "", what);
        y += cb_wrap(cb, (Rect){side.x, y, side.w, ybot - y - 2}, lab, a->th.dim) + 1;
    }
    if (y + 2 <= ybot) cb_wrap(cb, (Rect){side.x, y, side.w, ybot - y}, "Up/Down: the previous / next id; / finds a token", a->th.dim);
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
    if (key == 'M') {
        em.map = !em.map;
        if (em.map) {   /* starts on the selected probe token */
            int count;
            const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
            if (p && em.sel >= 0 && em.sel < p->T) em.map_sel = p->ids[em.sel];
            app_status(a, 0, "token map: the embeddings on their two main axes (M: the strips)");
        }
        return 1;
    }
    if (em.map) {
        int V = em.n_texts;
        switch (key) {
        case K_LEFT: case K_UP: em.map_sel = LW_MAX(0, em.map_sel - 1); return 1;
        case K_RIGHT: case K_DOWN: em.map_sel = LW_MIN(V - 1, em.map_sel + 1); return 1;
        case K_PPAGE: em.map_sel = LW_MAX(0, em.map_sel - 16); return 1;
        case K_NPAGE: em.map_sel = LW_MIN(V - 1, em.map_sel + 16); return 1;
        case K_HOME: em.map_sel = 0; return 1;
        case K_END: em.map_sel = LW_MAX(0, V - 1); return 1;
        case '+': case '=': em.zoom = LW_MIN(em.zoom + 1, 6); app_status(a, 0, "map zoom x%d", 1 << em.zoom); return 1;
        case '-': em.zoom = LW_MAX(em.zoom - 1, 0); app_status(a, 0, "map zoom x%d", 1 << em.zoom); return 1;
        case 'p': break;
        default: return 0;
        }
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
    if (em.map) {   /* the whole vocabulary */
        if (!em.texts) return;
        int wrapped = 0, rank = 0, total = 0;
        int t = search_tokens(&em.texts[0][0], sizeof em.texts[0], em.n_texts, pat, em.map_sel, dir, &wrapped, &rank, &total);
        if (t < 0) app_status(a, 1, "no token contains '%s'", pat);
        else {
            em.map_sel = t;
            app_status(a, 0, "token %d/%d containing '%s'%s", rank, total, pat, wrapped ? " (search wrapped)" : "");
        }
        return;
    }
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
    "z\tlarge view: the strips and neighbours alone",
    "/\tselect the first probe token containing the text",
    "n, N\tnext / previous such token",
    "M\ttoken map: every token's embedding on 2 main axes (PCA)",
    "\tmap: Up/Down (<- ->) prev/next id, PgUp/PgDn 16 ids",
    "\tmap: Home/End the first/last id; p a snapshot now",
    "\tmap: / n N find any token by its text; M: the strips",
    "+ -\tmap: zoom in (around the selected token) / out",
    NULL};

const ScreenOps screen_embed = {
    .title = "Embed",
    .help = EM_HELP,
    .draw = em_draw,
    .key = em_key,
    .text_mode = em_text_mode,
    .search = em_search,
    .poll = em_poll,
};
