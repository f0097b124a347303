/* screen_lens.c — [6] Lens: "what does each layer think comes next?" The logit lens (inspect.h, engine_lens) of the
 * probe sentence, or of the Chat screen's last prompt and reply (lens_show_text): a layers × positions grid, a row
 * per layer (the embeddings, then each block), a column per token of the text, each cell the token that layer would
 * predict after the column's token, coloured by its probability and marked where it is the token that really comes
 * next; a cursor selects a cell and a box lists its top 5, and the true next token's rank and probability. It
 * follows training (LIVE only): the worker computes the lens (WI_LENS) again whenever the engine has recorded a newer
 * probe snapshot than the lens shown, once per snapshot. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "probe_cache.h"

#define LN_TEXT 512   /* WorkerCmd.text */

static struct {
    int row, col;                /* cursor: the layer row (0 = the embeddings) and the position */
    int row0, col0;              /* the first row and column shown */
    int glyphs;                  /* g: glyph ramp instead of colour */
    int chat;                    /* 1: the lens of chat_text, 0: of the probe sentence */
    char chat_text[LN_TEXT];
    /* the result shown: a copy of the worker's newest */
    Engine *eng;                 /* the engine it came from */
    uint64_t seq;                /* its WorkerInspect.seq (0 = none copied) */
    long step;
    char err[LW_ERRLEN];
    char text[LN_TEXT];          /* the text it was computed on ("" = the probe sentence) */
    int n_rows, T;               /* 0 when it failed */
    int *ids;                    /* (T) */
    LensCell *cells;             /* (n_rows, T) */
    char (*tok)[SNAP_TOKTEXT];   /* (T) the text's tokens */
    int pending;                 /* a request is queued or running */
    /* the last request, so one text is asked about once per probe snapshot */
    int asked;
    Engine *ask_eng;
    int ask_count;               /* engine_n_probes then */
    long ask_snap;               /* the newest snapshot's step then (-1 none) */
    char ask_text[LN_TEXT];
    uint64_t ask_seq;            /* the result's seq then: unchanged with nothing pending = the request was dropped */
} ln;

/* What the screen wants to show: the chat text or "" (the probe sentence). */
static const char *ln_want(void) { return ln.chat ? ln.chat_text : ""; }

/* The copy holds the lens of what is wanted. */
static int ln_shows_want(void) { return ln.seq != 0 && !strcmp(ln.text, ln_want()); }

static void ln_drop(void) {
    free(ln.ids);
    free(ln.cells);
    free(ln.tok);
    ln.ids = NULL, ln.cells = NULL, ln.tok = NULL;
    ln.n_rows = ln.T = 0;
}

/* Copies the worker's result r (under its lock: memory copies only). */
static void ln_copy(const WorkerInspect *r) {
    ln_drop();
    ln.seq = r->seq;
    ln.step = r->step;
    snprintf(ln.err, sizeof ln.err, "%s", r->err);
    snprintf(ln.text, sizeof ln.text, "%s", r->text);
    const LensResult *l = &r->lens;
    if (r->err[0] || l->T <= 0 || l->n_rows <= 0 || !l->ids || !l->cells) return;
    size_t nc = (size_t)l->n_rows * (size_t)l->T;
    ln.ids = malloc(sizeof(int) * (size_t)l->T);
    ln.cells = malloc(sizeof(LensCell) * nc);
    ln.tok = calloc((size_t)l->T, sizeof *ln.tok);
    if (!ln.ids || !ln.cells || !ln.tok) {
        ln_drop();
        snprintf(ln.err, sizeof ln.err, "out of memory");
        return;
    }
    memcpy(ln.ids, l->ids, sizeof(int) * (size_t)l->T);
    memcpy(ln.cells, l->cells, sizeof(LensCell) * nc);
    ln.n_rows = l->n_rows, ln.T = l->T;
}

/* Takes the worker's newest result when it is new, and asks for the lens of what is wanted when the copy is not
 * of it or older than the engine's newest probe snapshot (once per text and snapshot). */
static void ln_sync(App *a) {
    if (a->eng != ln.eng) {   /* another engine (a checkpoint loaded): nothing of the old one applies */
        ln_drop();
        ln.eng = a->eng, ln.seq = 0, ln.asked = 0;
    }
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, -1, &count);
    long snap = p ? p->step : -1;
    int copied = 0;
    const WorkerInspect *r = worker_inspect_lock(&a->wk, WI_LENS);
    uint64_t rseq = r->seq;
    ln.pending = r->pending;
    if (r->seq != ln.seq) ln_copy(r), copied = 1;
    worker_inspect_unlock(&a->wk);
    if (copied)
        for (int t = 0; t < ln.T; t++) engine_token_text(a->eng, ln.ids[t], ln.tok[t], sizeof ln.tok[t]);
    if (ln.n_rows > 0) {
        ln.row = LW_MIN(ln.row, ln.n_rows - 1);
        ln.col = LW_MIN(ln.col, ln.T - 1);
    }
    const char *want = ln_want();
    int fresh = ln_shows_want() && ln.step >= snap;
    if (fresh || ln.pending || (!want[0] && !p)) return;   /* the probe sentence needs a snapshot to spell it */
    int same = ln.asked && ln.ask_eng == a->eng && ln.ask_count == count && ln.ask_snap == snap &&
               !strcmp(ln.ask_text, want);
    if (same && rseq != ln.ask_seq) return;   /* answered (or failed): not again until a newer snapshot */
    worker_inspect(&a->wk, WI_LENS, want, 0);
    ln.asked = 1, ln.ask_eng = a->eng, ln.ask_count = count, ln.ask_snap = snap, ln.ask_seq = rseq;
    snprintf(ln.ask_text, sizeof ln.ask_text, "%s", want);
    ln.pending = 1;
}

void lens_show_text(App *a, const char *text) {
    /* cut to what a request holds, on a UTF-8 boundary (the lens reads the first tokens: the model's context) */
    size_t n = strlen(text);
    if (n >= LN_TEXT) {
        n = LN_TEXT - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    memcpy(ln.chat_text, text, n);
    ln.chat_text[n] = '\0';
    ln.chat = n > 0;
    ln.col = ln.col0 = 0;
    int i = screen_index("lens");
    if (i >= 0) a->screen = i;
    app_status(a, 0, "Lens: the Chat's last prompt and reply (p returns to the probe sentence)");
}

static RenderCaps ln_caps(const App *a) {
    RenderCaps c = a->caps;
    if (ln.glyphs) c.cm = CM_MONO;
    return c;
}

static const LensCell *ln_cell(int l, int t) { return &ln.cells[(size_t)l * (size_t)ln.T + (size_t)t]; }

/* Whether layer l's top guess after position t is the token that comes next. */
static int ln_hit(int l, int t) { return t + 1 < ln.T && ln_cell(l, t)->n > 0 && ln_cell(l, t)->ids[0] == ln.ids[t + 1]; }

static void ln_row_label(int l, char *buf, size_t n) {
    if (l == 0) snprintf(buf, n, "emb");
    else snprintf(buf, n, "L%d", l);
}

/* The visible form of token id (⋅ for a space, ...). */
static char *ln_tok_vis(const App *a, int id, char *out, size_t n) {
    char raw[SNAP_TOKTEXT];
    engine_token_text(a->eng, id, raw, sizeof raw);
    return tok_visible(raw, (int)strlen(raw), a->caps.unicode, out, n);
}

/* The hit mark: a check mark (ASCII '*'). */
static uint32_t ln_mark(const App *a) { return a->caps.unicode ? 0x2713u : (uint32_t)'*'; }

/* One cell of cw columns (the last a gap) and ch rows at (x, y): the top token, the mark when it is the true next
 * token, and (two rows) its probability under it; coloured by the probability, or in glyphs a ramp glyph. */
static void ln_put_cell(App *a, CellBuf *cb, int x, int y, int cw, int ch, int l, int t, int cur) {
    RenderCaps caps = ln_caps(a);
    const LensCell *c = ln_cell(l, t);
    float p = c->n > 0 ? c->probs[0] : 0.0f;
    int mono = caps.cm == CM_MONO, hit = ln_hit(l, t);
    Style st = a->th.text;
    if (!mono) {
        st = (Style){ramp_index(p, 0, 1, 12) > 6 ? 16 : 231, ramp_color(p, 0, 1, 0, caps.cm), 0};
        if (hit) st.attr |= CA_BOLD;
    }
    if (cur) st = a->th.cursor;
    char vis[SNAP_TOKTEXT * 4 + 8], fit[SNAP_TOKTEXT * 4 + 8];
    if (c->n > 0) ln_tok_vis(a, c->ids[0], vis, sizeof vis);
    else snprintf(vis, sizeof vis, "-");
    int tw = cw - 1 - 1 - (mono ? 1 : 0);   /* the gap, the mark, the glyph */
    for (int dy = 0; dy < ch; dy++)
        for (int i = 0; i < cw - 1; i++) cb_put(cb, x + i, y + dy, ' ', st);
    cb_text(cb, x, y, tw, utf8_fit(vis, tw, a->caps.unicode, fit, sizeof fit), st);
    if (mono) cb_put(cb, x + tw, y, (uint32_t)ramp_glyph(p, 0, 1), st);
    if (hit) {
        Style ms = st;
        ms.attr |= CA_BOLD;
        cb_put(cb, x + cw - 2, y, ln_mark(a), ms);
    }
    if (ch > 1) {
        char pct[16];
        snprintf(pct, sizeof pct, "%.0f%%", 100.0 * p);
        cb_text(cb, x, y + 1, cw - 1, pct, st);
    }
}

/* Scrolls the grid so the cursor is in the window of vis_cols columns and vis_rows rows. */
static void ln_scroll(int vis_cols, int vis_rows) {
    if (ln.col < ln.col0) ln.col0 = ln.col;
    if (ln.col >= ln.col0 + vis_cols) ln.col0 = ln.col - vis_cols + 1;
    if (ln.col0 > LW_MAX(0, ln.T - vis_cols)) ln.col0 = LW_MAX(0, ln.T - vis_cols);
    if (ln.row < ln.row0) ln.row0 = ln.row;
    if (ln.row >= ln.row0 + vis_rows) ln.row0 = ln.row - vis_rows + 1;
    if (ln.row0 > LW_MAX(0, ln.n_rows - vis_rows)) ln.row0 = LW_MAX(0, ln.n_rows - vis_rows);
}

/* The grid in r (scrolled by ln_scroll): the column tokens on the first row, a row (or two) per layer under it.
 * Returns the rows used. */
static int ln_draw_grid(App *a, CellBuf *cb, Rect r, int cw, int ch) {
    int lab = 4;
    int vis_cols = LW_MAX(1, (r.w - lab) / cw), vis_rows = LW_MAX(1, (r.h - 1) / ch);
    char vis[SNAP_TOKTEXT * 4 + 8], fit[SNAP_TOKTEXT * 4 + 8];
    for (int t = ln.col0; t < ln.T && t - ln.col0 < vis_cols; t++) {
        tok_visible(ln.tok[t], (int)strlen(ln.tok[t]), a->caps.unicode, vis, sizeof vis);
        cb_text(cb, r.x + lab + (t - ln.col0) * cw, r.y, cw - 1, utf8_fit(vis, cw - 1, a->caps.unicode, fit, sizeof fit),
                t == ln.col ? a->th.bold : a->th.dim);
    }
    if (ln.col0 > 0) cb_put(cb, r.x + lab - 1, r.y, a->caps.unicode ? 0x2190 : '<', a->th.warn);
    if (ln.col0 + vis_cols < ln.T) cb_put(cb, r.x + r.w - 1, r.y, a->caps.unicode ? 0x2192 : '>', a->th.warn);
    int y = r.y + 1;
    for (int l = ln.row0; l < ln.n_rows && l - ln.row0 < vis_rows; l++, y += ch) {
        char lb[16];
        ln_row_label(l, lb, sizeof lb);
        cb_text(cb, r.x, y, lab - 1, lb, l == ln.row ? a->th.bold : a->th.dim);
        for (int t = ln.col0; t < ln.T && t - ln.col0 < vis_cols; t++)
            ln_put_cell(a, cb, r.x + lab + (t - ln.col0) * cw, y, cw, ch, l, t, l == ln.row && t == ln.col);
        if (l == ln.row) /* the cursor's marker in the gap before its cell (not colour alone) */
            cb_put(cb, r.x + lab + (ln.col - ln.col0) * cw - 1, y, a->caps.unicode ? 0x25B6 : '>', a->th.highlight);
    }
    return y - r.y;
}

/* Under the grid when there is room: the rank of the true next token at each layer and position (1 = the top). */
static int ln_draw_ranks(App *a, CellBuf *cb, Rect r, int cw) {
    int lab = 4, vis_cols = LW_MAX(1, (r.w - lab) / cw);
    if (r.h < ln.n_rows - ln.row0 + 1 || r.h < 2) return 0;   /* whole or not at all */
    cb_text(cb, r.x, r.y, r.w, "rank of the true next token (1 = the top guess; . = the last position)", a->th.title);
    int y = r.y + 1;
    for (int l = ln.row0; l < ln.n_rows && y < r.y + r.h; l++, y++) {
        char lb[16];
        ln_row_label(l, lb, sizeof lb);
        cb_text(cb, r.x, y, lab - 1, lb, a->th.dim);
        for (int t = ln.col0; t < ln.T && t - ln.col0 < vis_cols; t++) {
            char v[16];
            int rk = ln_cell(l, t)->rank_next;
            if (rk > 0) snprintf(v, sizeof v, "%d", rk);
            else snprintf(v, sizeof v, ".");
            Style st = rk == 1 ? a->th.good : l == ln.row && t == ln.col ? a->th.bold : a->th.text;
            cb_text(cb, r.x + lab + (t - ln.col0) * cw, y, cw - 1, v, st);
        }
    }
    return y - r.y;
}

/* The selected cell's box: its top 5 with bars and probabilities, and the true next token's rank and probability. */
static void ln_draw_box(App *a, CellBuf *cb, Rect r) {
    char lb[16], tv[SNAP_TOKTEXT * 4 + 8], tf[SNAP_TOKTEXT * 4 + 8], title[SNAP_TOKTEXT * 4 + 80];
    ln_row_label(ln.row, lb, sizeof lb);
    tok_visible(ln.tok[ln.col], (int)strlen(ln.tok[ln.col]), a->caps.unicode, tv, sizeof tv);
    snprintf(title, sizeof title, " %s after %s (position %d) ", ln.row == 0 ? "embeddings" : lb,
             utf8_fit(tv, 16, a->caps.unicode, tf, sizeof tf), ln.col);
    if (utf8_cols(title) > r.w - 4) snprintf(title, sizeof title, " %s @%d %s ", lb, ln.col, tf);
    cb_box(cb, r, title, a->th.dim, a->caps.unicode);
    int x = r.x + 2, w = r.w - 4, y = r.y + 1, bottom = r.y + r.h - 1;
    const LensCell *c = ln_cell(ln.row, ln.col);
    int next = ln.col + 1 < ln.T ? ln.ids[ln.col + 1] : -1;
    int lw = LW_MIN(14, LW_MAX(6, w / 3)), bw = w - 3 - lw - 7;
    for (int k = 0; k < c->n && y < bottom - 1; k++, y++) {
        char vis[SNAP_TOKTEXT * 4 + 8], fit[SNAP_TOKTEXT * 4 + 8];
        ln_tok_vis(a, c->ids[k], vis, sizeof vis);
        int is_next = c->ids[k] == next;
        Style st = is_next ? a->th.highlight : a->th.text;
        cb_printf(cb, x, y, 3, a->th.dim, "%d", k + 1);
        cb_text(cb, x + 2, y, lw, utf8_fit(vis, lw, a->caps.unicode, fit, sizeof fit), st);
        if (is_next) cb_put(cb, x + 2 + lw, y, ln_mark(a), st);
        int fill = bw > 0 ? (int)lround(c->probs[k] * bw) : 0;
        for (int j = 0; j < bw; j++)
            cb_put(cb, x + 3 + lw + j, y, j < fill ? (a->caps.unicode ? 0x2588 : '#') : ' ', a->th.plot_ema);
        cb_printf(cb, x + w - 6, y, 6, a->th.text, "%5.1f%%", 100.0 * c->probs[k]);
    }
    y = LW_MAX(y, LW_MIN(r.y + 1 + LENS_TOPK, bottom - 1));
    if (y >= bottom) return;
    char line[256];
    if (next < 0) {
        snprintf(line, sizeof line, "the last position: nothing comes next to compare with");
    } else {
        char nv[SNAP_TOKTEXT * 4 + 8], nf[SNAP_TOKTEXT * 4 + 8], rk[32], pr[32];
        ln_tok_vis(a, next, nv, sizeof nv);
        char nq[SNAP_TOKTEXT * 4 + 16];
        snprintf(nq, sizeof nq, "true next %s:", utf8_fit(nv, 14, a->caps.unicode, nf, sizeof nf));
        snprintf(rk, sizeof rk, "rank %d", c->rank_next);
        snprintf(pr, sizeof pr, "p %.1f%%", 100.0 * c->p_next);
        FitField f[] = {{nq, "next:", 1}, {rk, NULL, 0}, {pr, NULL, 0},
                        {c->rank_next == 1 ? "(the top guess)" : NULL, NULL, 2}};
        fit_line(f, 4, " ", w, a->caps.unicode, line, sizeof line);
    }
    cb_text(cb, x, y, w, line, c->rank_next == 1 ? a->th.good : a->th.bold);
    /* a tall box (beside the grid) says what the cell is */
    if (y + 3 < bottom)
        cb_wrap(cb, (Rect){x, y + 2, w, bottom - y - 2},
                "A cell is what the model would predict next if it stopped after that layer: the final LayerNorm and "
                "the output head applied to the residual stream there. The last row is the model's own prediction.",
                a->th.dim);
}

/* The legend row: the probability ramp (or glyphs) and the mark. */
static void ln_draw_legend(App *a, CellBuf *cb, int x, int y, int w) {
    RenderCaps caps = ln_caps(a);
    int end = x + w;
    x += cb_text(cb, x, y, end - x, "top-guess p 0 ", a->th.dim);
    if (caps.cm == CM_MONO) {
        for (const char *g = GLYPH_RAMP; *g && x < end; g++) cb_put(cb, x++, y, (uint32_t)*g, a->th.cursor);
    } else {
        for (int i = 0; i < RAMP_SEQ_N && x < end; i++) {
            Style sw = {COL_DEFAULT, ramp_color((i + 0.5) / RAMP_SEQ_N, 0, 1, 0, caps.cm), 0};
            cb_put(cb, x++, y, ' ', sw);
        }
    }
    x += cb_text(cb, x, y, end - x, " 1   ", a->th.dim);
    if (x + 2 > end) return;
    cb_put(cb, x, y, ln_mark(a), a->th.bold);
    x += 2;
    const char *what[] = {"= the true next token; a column's cells guess the token after it", "= the true next token",
                          "= right"};
    for (int i = 0; i < 3; i++)
        if (utf8_cols(what[i]) <= end - x || i == 2) {
            cb_text(cb, x, y, end - x, what[i], a->th.dim);
            break;
        }
}

static void ln_draw(App *a, CellBuf *cb, Rect r) {
    if (app_draw_not_ready(a, cb, r)) return;
    ln_sync(a);
    int shows = ln_shows_want(), grid = shows && ln.n_rows > 0;
    /* the geometry: the box beside the grid on a wide screen, under it otherwise; none in the large view */
    Rect body = {r.x, r.y + 1, r.w, r.h - 2};
    int lab = 4, box_h = LENS_TOPK + 3;
    /* the box under the grid when the grid's rows fit above it (the grid keeps the whole width), else beside it on
     * a wide screen */
    int side = !a->large && r.w >= 120 && 1 + ln.n_rows + 2 + box_h > body.h;
    int box_w = side ? LW_MIN(44, r.w / 3) : 0, gw = r.w - (side ? box_w + 1 : 0);
    int grid_h = side || a->large ? body.h - 1 : body.h - 1 - box_h - 1;   /* the legend row; the box and a gap */
    int ch = grid && grid_h - 1 >= 2 * ln.n_rows ? 2 : 1;
    /* columns as wide as the longest token of the text (top guesses longer than that are cut), 6 to 11 */
    int longest = 1;
    char vis[SNAP_TOKTEXT * 4 + 8];
    for (int t = 0; grid && t < ln.T; t++) {
        tok_visible(ln.tok[t], (int)strlen(ln.tok[t]), a->caps.unicode, vis, sizeof vis);
        longest = LW_MAX(longest, utf8_cols(vis));
    }
    int cw = LW_MAX(6, LW_MIN(longest + 2 + (ln_caps(a).cm == CM_MONO), 11));
    int vis_cols = LW_MAX(1, (gw - lab) / cw), vis_rows = LW_MAX(1, (grid_h - 1) / ch);
    if (grid) ln_scroll(vis_cols, vis_rows);
    /* the header */
    char f_step[32], f_t[16], f_pos[64] = "", f_pos_b[32] = "", f_row[48] = "", head[256];
    snprintf(f_step, sizeof f_step, "step %ld", ln.step);
    snprintf(f_t, sizeof f_t, "T=%d", ln.T);
    if (grid && ln.T > vis_cols) {
        int c1 = LW_MIN(ln.T, ln.col0 + vis_cols);
        snprintf(f_pos, sizeof f_pos, "positions %d-%d of %d (<- -> scroll)", ln.col0, c1 - 1, ln.T);
        snprintf(f_pos_b, sizeof f_pos_b, "pos %d-%d/%d", ln.col0, c1 - 1, ln.T);
    }
    if (grid && ln.n_rows > vis_rows)
        snprintf(f_row, sizeof f_row, "rows %d-%d of %d", ln.row0, LW_MIN(ln.n_rows, ln.row0 + vis_rows) - 1, ln.n_rows);
    FitField hf[] = {{"LIVE (follows training; no replay)", "LIVE", -3},
                     {shows ? f_step : NULL, NULL, 0},
                     {ln.chat ? "the Chat's last prompt and reply (p: the probe sentence)" : "the probe sentence",
                      ln.chat ? "chat reply (p: probe)" : "probe", -2},
                     {grid ? f_t : NULL, NULL, 4},
                     {f_pos[0] ? f_pos : NULL, f_pos_b, 1},
                     {f_row[0] ? f_row : NULL, NULL, 5},
                     {ln.pending && shows ? "updating ..." : NULL, NULL, 2}};
    fit_line(hf, (int)(sizeof hf / sizeof hf[0]), "  ", r.w, a->caps.unicode, head, sizeof head);
    cb_text(cb, r.x, r.y, r.w, head, a->th.good);
    if (!shows) {
        const char *msg = !ln.chat && engine_n_probes(a->eng) == 0
                              ? "No probe snapshot yet: the lens reads the probe sentence of one."
                              : "computing the logit lens ...";
        cb_text(cb, body.x + 2, body.y + 1, body.w - 4, msg, a->th.dim);
        return;
    }
    if (!grid) {   /* a model without a lens (BERT, encoder-decoder), or a failure */
        cb_text(cb, body.x + 2, body.y + 1, body.w - 4, "No logit lens here:", a->th.error);
        int rows = cb_wrap(cb, (Rect){body.x + 2, body.y + 2, body.w - 4, body.h - 4}, ln.err, a->th.text);
        cb_wrap(cb, (Rect){body.x + 2, body.y + 3 + rows, body.w - 4, 2},
                "The lens reads a decoder's residual stream through its output head: a GPT has one.", a->th.dim);
        return;
    }
    int used = ln_draw_grid(a, cb, (Rect){body.x, body.y, gw, grid_h}, cw, ch);
    int y = body.y + used;
    ln_draw_legend(a, cb, body.x, y, gw);
    y += 2;
    if (!a->large) {
        if (side) {
            ln_draw_box(a, cb, (Rect){r.x + r.w - box_w, body.y, box_w, LW_MIN(body.h, box_h + 6)});
        } else {
            ln_draw_box(a, cb, (Rect){body.x, y, LW_MIN(body.w, 72), box_h});
            y += box_h + 1;
        }
        ln_draw_ranks(a, cb, (Rect){body.x, y, gw, body.y + body.h - y}, cw);
    }
    /* the hint */
    FitField hint[] = {{"arrows move the cursor", "arrows: cursor", 0},
                       {"Home/End first/last position", "Home/End", 3},
                       {ln.chat ? "p back to the probe sentence" : "Chat C-g: the lens of a reply",
                        ln.chat ? "p probe" : NULL, ln.chat ? 0 : 4},
                       {"g glyphs", NULL, 2},
                       {"/ find a token", NULL, 1}};
    char line[256];
    fit_line(hint, 5, ", ", r.w, a->caps.unicode, line, sizeof line);
    cb_text(cb, r.x, r.y + r.h - 1, r.w, line, a->th.dim);
}

static int ln_key(App *a, int key) {
    int rows = ln.n_rows > 0 ? ln.n_rows : 1, T = ln.T > 0 ? ln.T : 1;
    switch (key) {
    case K_UP: if (ln.row > 0) ln.row--; return 1;
    case K_DOWN: if (ln.row < rows - 1) ln.row++; return 1;
    case K_LEFT: if (ln.col > 0) ln.col--; return 1;
    case K_RIGHT: if (ln.col < T - 1) ln.col++; return 1;
    case K_HOME: ln.col = 0; return 1;
    case K_END: ln.col = T - 1; return 1;
    case K_PPAGE: ln.row = 0; return 1;
    case K_NPAGE: ln.row = rows - 1; return 1;
    case 'g':
        ln.glyphs = !ln.glyphs;
        app_status(a, 0, "lens cells: %s", ln.glyphs ? "glyph ramp \" .:-=+*#%@\" (low to high)" : "colour ramp");
        return 1;
    case 'p':
        if (!ln.chat) {
            app_status(a, 0, "the lens shows the probe sentence (Chat: C-g shows the last reply here)");
            return 1;
        }
        ln.chat = 0;
        ln.col = ln.col0 = 0;
        app_status(a, 0, "Lens: the probe sentence");
        return 1;
    default: return 0;
    }
}

/* Text for SVG: &, <, > and " escaped. */
static void ln_svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f); break;
        }
    }
}

/* P: the whole grid (every layer and position) as an SVG heatmap: each cell the top guess and its probability on
 * the colour ramp, a check mark where it is the true next token. Returns 1 (the SVG; there is no PNG). */
static int ln_export(App *a, const char *base, char *msg, size_t n) {
    if (!ln_shows_want() || ln.n_rows == 0) return 0;
    char path[1500];
    snprintf(path, sizeof path, "%s.svg", base);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(msg, n, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    const int cw = 76, chh = 40, lab = 44, top = 64;
    int W = lab + ln.T * cw + 12, H = top + ln.n_rows * chh + 36;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"DejaVu Sans Mono, "
               "monospace\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"8\" y=\"20\" font-size=\"15\">logit lens, step %ld: %s (a cell: the layer's top guess for the "
               "token after the column's; &#x2713; = the true next token)</text>\n",
            ln.step, ln.chat ? "the Chat's prompt and reply" : "the probe sentence");
    char vis[SNAP_TOKTEXT * 4 + 8];
    for (int t = 0; t < ln.T; t++) {
        tok_visible(ln.tok[t], (int)strlen(ln.tok[t]), 1, vis, sizeof vis);
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#444\">", lab + t * cw + 4, top - 10);
        ln_svg_text(f, vis);
        fputs("</text>\n", f);
    }
    for (int l = 0; l < ln.n_rows; l++) {
        char lb[16];
        ln_row_label(l, lb, sizeof lb);
        int y = top + l * chh;
        fprintf(f, "<text x=\"6\" y=\"%d\">%s</text>\n", y + chh / 2 + 4, lb);
        for (int t = 0; t < ln.T; t++) {
            const LensCell *c = ln_cell(l, t);
            float p = c->n > 0 ? c->probs[0] : 0.0f;
            int col = ramp_color(p, 0, 1, 0, CM_TRUE), rr = (col >> 16) & 255, gg = (col >> 8) & 255, bb = col & 255;
            const char *fg = ramp_index(p, 0, 1, 12) > 6 ? "black" : "white";
            int x = lab + t * cw;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\"/>\n", x, y, cw - 2, chh - 2,
                    rr, gg, bb);
            if (c->n > 0) ln_tok_vis(a, c->ids[0], vis, sizeof vis);
            else snprintf(vis, sizeof vis, "-");
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">", x + 4, y + 15, fg);
            ln_svg_text(f, vis);
            fprintf(f, "%s</text>\n", ln_hit(l, t) ? " &#x2713;" : "");
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\" font-size=\"10\">%.0f%%</text>\n", x + 4, y + 31, fg,
                    100.0 * p);
        }
    }
    fputs("</svg>\n", f);
    if (fclose(f)) {
        snprintf(msg, n, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 1;
}

static long ln_shown_step(App *a) {
    (void)a;
    return ln_shows_want() && ln.n_rows > 0 ? ln.step : -1;
}

/* / n N: the cursor to the first (next, previous) column token containing the text. */
static void ln_search(App *a, const char *pat, int dir) {
    if (!pat[0]) return;
    if (!ln_shows_want() || ln.n_rows == 0) {
        app_status(a, 1, "no lens to search yet");
        return;
    }
    int t = app_search_tokens(a, &ln.tok[0][0], sizeof ln.tok[0], ln.T, pat, ln.col, dir);
    if (t >= 0) ln.col = t;
}

static const char *const LN_HELP[] = {
    "\trows: embeddings (emb), each block; columns: tokens",
    "\ta cell: what that layer predicts after the column",
    "\t\xe2\x9c\x93 (ASCII *): the guess is the true next token",
    "arrows\tmove the cursor: its top 5, the true token's rank",
    "Home End\tfirst / last position (the columns scroll)",
    "PgUp PgDn\tthe embeddings row / the last layer",
    "p\tback to the probe sentence (after Chat's C-g)",
    "g\tglyph ramp \" .:-=+*#%@\" instead of colour",
    "/\tthe cursor to a column token containing the text",
    "n, N\tnext / previous such token",
    "P\texport the screen text and the grid as SVG",
    "\tLIVE: recomputed at each new probe snapshot",
    NULL};

const ScreenOps screen_lens = {
    .title = "Lens",
    .help = LN_HELP,
    .draw = ln_draw,
    .key = ln_key,
    .export_pics = ln_export,
    .shown_step = ln_shown_step,
    .search = ln_search,
};
