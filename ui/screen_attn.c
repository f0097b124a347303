/* screen_attn.c — [3] Attention: a layers × heads grid of small heatmaps of the probe sentence's attention
 * weights (rows = queries, columns = keys; the masked upper triangle hatched), a zoom into one head with token
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
static const char *const AT_KIND_BRIEF[AT_KINDS] = {"encoder self-attention", "decoder self-attention",
                                                     "cross-attention (alignment)"};

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
    /* columns as wide as the longest source token (+ a gap) when they fit, 2 to 8 */
    int lab = 14, longest = 1;
    char vis[SNAP_TOKTEXT * 4], fit[SNAP_TOKTEXT * 4];
    for (int k = 0; k < Tk; k++) {
        tok_visible(p->tok[k], (int)strlen(p->tok[k]), a->caps.unicode, vis, sizeof vis);
        longest = LW_MAX(longest, utf8_cols(vis));
    }
    int cw = LW_MAX(2, LW_MIN(LW_MIN(longest + 1, 8), (r.w - lab) / (Tk > 0 ? Tk : 1)));
    RenderCaps caps = at_caps(a);
    /* column header: the source tokens, cut (with "…") to the cell width */
    for (int k = 0; k < Tk && lab + (k + 1) * cw <= r.w; k++) {
        tok_visible(p->tok[k], (int)strlen(p->tok[k]), a->caps.unicode, vis, sizeof vis);
        cb_text(cb, r.x + lab + k * cw, r.y, cw - 1, utf8_fit(vis, cw - 1, a->caps.unicode, fit, sizeof fit), a->th.dim);
    }
    for (int q = 0; q < Tq && q < r.h - 2; q++) {
        int y = r.y + 1 + q;
        tok_visible(p->tgt_tok[q], (int)strlen(p->tgt_tok[q]), a->caps.unicode, vis, sizeof vis);
        cb_text(cb, r.x, y, lab - 1, utf8_fit(vis, lab - 1, a->caps.unicode, fit, sizeof fit), a->th.text);
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

/* Keys hidden from each query: the upper triangle of a causal model; none for a bidirectional one (BERT). */
static void at_mask(uint8_t *mask, int T, int causal) {
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) mask[i * T + j] = causal && j > i;
}

/* ---- knocking a head out (o) and the heads' roles on the grid (issue 15) ----
 * The worker computes both on the current weights (worker_inspect): the roles (WI_ROLES) once per probe snapshot,
 * and while a head is knocked out the loss of the engine's fixed validation window with every head knocked out in
 * turn (WI_ABLATE) and the probe sentence's next-token candidates with and without the selected head
 * (WI_ABLATE_NEXT). The screen keeps copies of the newest results and draws from them. */

#define AT_ROLES_LEN 8 /* random sequences of 8 tokens, repeated (`llmwb heads --length 8`: induction.yaml's heads show) */

static struct {
    int on;                     /* o: the selected head is knocked out */
    int how;                    /* O: how (ABLATE_ZERO, or ABLATE_MEAN: replaced by its mean); 0 before the first o */
    const Engine *eng;          /* the engine the results below are of */
    uint64_t base[WI_N];        /* results up to this seq are of an engine before it (ignored) */
    uint64_t roles_seq;
    long roles_step;
    int roles_L, roles_NH;
    float *prev, *first, *ind;  /* (roles_L, roles_NH); NULL when there are none */
    uint64_t abl_seq;
    long abl_step;
    int abl_how;                /* how the copy below knocked heads out */
    int abl_L, abl_NH, abl_tokens, abl_windows;
    float abl_base, *abl_loss;  /* NULL when none (abl_err says why) */
    char abl_err[LW_ERRLEN];
    uint64_t next_seq;
    long next_step;
    int next_arg;               /* layer * NH + head of the copy below */
    AblateNext next;
    int next_ok;
    char next_err[LW_ERRLEN];
} ak;

/* Whether the snapshot's model is one the ablation and the roles apply to: a causal decoder only (GPT). */
static int at_is_gpt(const ProbeSnapshot *p) { return p->Ld <= 0 && p->causal && p->kind != SNAP_MAP_BIDIRECTIONAL; }

static float *at_copy_floats(float *dst, const float *src, int n) {
    if (!src || n <= 0) {
        free(dst);
        return NULL;
    }
    float *d = realloc(dst, (size_t)n * sizeof(float));
    if (!d) {
        free(dst);
        return NULL;
    }
    memcpy(d, src, (size_t)n * sizeof(float));
    return d;
}

/* Copies the worker's newest results and, in LIVE view of a GPT, asks again for those older than the newest
 * snapshot (snap_step) or about another head: at most once per snapshot, never while one is pending. The demo
 * (a->repro) shows no roles: its dumps must not depend on when the worker answers. */
static void at_inspect_poll(App *a, const ProbeSnapshot *p, int live) {
    Worker *w = &a->wk;
    int gpt = at_is_gpt(p), NH = p->NH, target = worker_ablate_next_arg(at.layer * NH + at.head, ak.how);
    long snap = p->step;
    if (a->eng != ak.eng) { /* another engine (a checkpoint loaded, another config): its results are to come */
        ak.eng = a->eng;
        for (int k = 0; k < WI_N; k++) {
            ak.base[k] = worker_inspect_lock(w, (WorkerInspectKind)k)->seq;
            worker_inspect_unlock(w);
        }
        ak.roles_seq = ak.base[WI_ROLES], ak.abl_seq = ak.base[WI_ABLATE], ak.next_seq = ak.base[WI_ABLATE_NEXT];
        ak.roles_L = ak.roles_NH = ak.abl_L = ak.abl_NH = 0;
        free(ak.prev), free(ak.first), free(ak.ind), free(ak.abl_loss);
        ak.prev = ak.first = ak.ind = ak.abl_loss = NULL;
        ak.abl_err[0] = ak.next_err[0] = '\0';
    }
    const WorkerInspect *r = worker_inspect_lock(w, WI_ROLES);
    int fresh = r->seq > ak.base[WI_ROLES]; /* a result of this engine */
    int ask_roles = gpt && live && !a->repro && !r->pending && (!fresh || r->step < snap || (!r->err[0] && r->roles.NH != NH));
    if (r->seq != ak.roles_seq && fresh) {
        ak.roles_seq = r->seq, ak.roles_step = r->step;
        int ok = !r->err[0] && r->roles.prev;
        ak.roles_L = ok ? r->roles.L : 0, ak.roles_NH = ok ? r->roles.NH : 0;
        int n = ak.roles_L * ak.roles_NH;
        ak.prev = at_copy_floats(ak.prev, ok ? r->roles.prev : NULL, n);
        ak.first = at_copy_floats(ak.first, ok ? r->roles.first : NULL, n);
        ak.ind = at_copy_floats(ak.ind, ok ? r->roles.induction : NULL, n);
        if (!ak.prev || !ak.first || !ak.ind || ak.roles_L != p->L || ak.roles_NH != NH) ak.roles_L = ak.roles_NH = 0;
    }
    worker_inspect_unlock(w);
    if (ask_roles) worker_inspect(w, WI_ROLES, NULL, AT_ROLES_LEN);

    r = worker_inspect_lock(w, WI_ABLATE);
    fresh = r->seq > ak.base[WI_ABLATE];
    int ask_abl = ak.on && gpt && !r->pending && (!fresh || r->arg != ak.how || (live && r->step < snap));
    if (r->seq != ak.abl_seq && fresh) {
        ak.abl_seq = r->seq, ak.abl_step = r->step, ak.abl_how = r->arg;
        int ok = !r->err[0] && r->ablate.loss;
        snprintf(ak.abl_err, sizeof ak.abl_err, "%s", r->err);
        ak.abl_L = ok ? r->ablate.L : 0, ak.abl_NH = ok ? r->ablate.NH : 0;
        ak.abl_tokens = r->ablate.n_tokens, ak.abl_windows = r->ablate.n_windows, ak.abl_base = r->ablate.base_loss;
        ak.abl_loss = at_copy_floats(ak.abl_loss, ok ? r->ablate.loss : NULL, ak.abl_L * ak.abl_NH);
        if (!ak.abl_loss || ak.abl_L != p->L || ak.abl_NH != NH) ak.abl_L = ak.abl_NH = 0;
    }
    worker_inspect_unlock(w);
    if (ask_abl) worker_inspect(w, WI_ABLATE, NULL, ak.how); /* "": the engine's fixed validation window */

    r = worker_inspect_lock(w, WI_ABLATE_NEXT);
    fresh = r->seq > ak.base[WI_ABLATE_NEXT];
    int ask_next = ak.on && gpt && !r->pending && (!fresh || r->arg != target || (live && r->step < snap));
    if (r->seq != ak.next_seq && fresh) {
        ak.next_seq = r->seq, ak.next_step = r->step, ak.next_arg = r->arg;
        ak.next = r->next;
        ak.next_ok = !r->err[0];
        snprintf(ak.next_err, sizeof ak.next_err, "%s", r->err);
    }
    worker_inspect_unlock(w);
    if (ask_next) worker_inspect(w, WI_ABLATE_NEXT, NULL, target); /* "": the probe sentence */
}

/* The strongest role of head (l, h) above HEAD_ROLE_STRONG: its short name ("prev", "sink", "ind"), long name and
 * score; NULL when none is (or no roles are known). */
static const char *at_role(int l, int h, const char **full, float *score) {
    if (l >= ak.roles_L || h >= ak.roles_NH || !ak.prev) return NULL;
    int i = l * ak.roles_NH + h;
    float v[3] = {ak.prev[i], ak.first[i], ak.ind[i]};
    static const char *const brief[3] = {"prev", "sink", "ind"}, *const name[3] = {"prev-token", "sink", "induction"};
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (v[k] > v[best]) best = k;
    if (!(v[best] > HEAD_ROLE_STRONG)) return NULL;
    if (full) *full = name[best];
    *score = v[best];
    return brief[best];
}

/* The label under tile (l, h), w columns: the knock-out mark, then (roles) its role with the score, in the widest
 * form that fits ("induction 0.52", "ind 0.52", "ind.52", "ind"). */
static void at_draw_tile_label(App *a, CellBuf *cb, int x, int y, int w, int l, int h, int roles) {
    const char *full = NULL;
    float sc = 0;
    const char *brief = roles ? at_role(l, h, &full, &sc) : NULL;
    int knocked = ak.on && l == at.layer && h == at.head;
    if (!brief && !knocked) return;
    char forms[6][48];
    const char *mark = knocked ? (a->caps.unicode ? "\xe2\x9c\x95 " : "x ") : "";
    int nf = 0;
    if (brief) {
        if (knocked) snprintf(forms[nf++], sizeof forms[0], "%sknocked out, %s %.2f", mark, full, (double)sc);
        snprintf(forms[nf++], sizeof forms[0], "%s%s %.2f", mark, full, (double)sc);
        snprintf(forms[nf++], sizeof forms[0], "%s%s %.2f", mark, brief, (double)sc);
        if (sc < 0.995f) snprintf(forms[nf++], sizeof forms[0], "%s%s.%02d", mark, brief, (int)lrintf(sc * 100));
        else snprintf(forms[nf++], sizeof forms[0], "%s%s1.0", mark, brief);
        snprintf(forms[nf++], sizeof forms[0], "%s%s", mark, brief);
    } else {
        snprintf(forms[nf++], sizeof forms[0], "%sknocked out", mark);
        snprintf(forms[nf++], sizeof forms[0], "%soff", mark);
    }
    int f = 0;
    while (f < nf - 1 && utf8_cols(forms[f]) > w) f++;
    cb_text(cb, x, y, w, forms[f], knocked ? a->th.warn : a->th.title);
}

/* The zoom's line about the selected head: its three role scores. */
static void at_draw_roles_line(App *a, CellBuf *cb, int x, int y, int w) {
    char line[256];
    if (!ak.prev || at.layer >= ak.roles_L || at.head >= ak.roles_NH) {
        cb_text(cb, x, y, w, "head roles: computing...", a->th.dim);
        return;
    }
    int i = at.layer * ak.roles_NH + at.head;
    char fp[32], ff[40], fi[32], fs[32], fn[48];
    snprintf(fp, sizeof fp, "prev-token %.2f", (double)ak.prev[i]);
    snprintf(ff, sizeof ff, "first-token (sink) %.2f", (double)ak.first[i]);
    snprintf(fi, sizeof fi, "induction %.2f", (double)ak.ind[i]);
    snprintf(fs, sizeof fs, "(step %ld)", ak.roles_step);
    snprintf(fn, sizeof fn, "named above %.2f", (double)HEAD_ROLE_STRONG);
    FitField f[] = {{at.avg ? "head roles of the selected head" : "head roles:", "roles:", 1},
                    {fp, NULL, 0}, {ff, "sink", 0}, {fi, NULL, 0}, {fs, NULL, 3}, {fn, NULL, 2}};
    if (at.avg) f[0].brief = "roles of H:";
    fit_line(f, 6, "  ", w, a->caps.unicode, line, sizeof line);
    cb_text(cb, x, y, w, line, a->th.text);
}

static int at_grid_used_w(const App *a, Rect r, const ProbeSnapshot *p);
static int at_grid_score(const App *a, Rect r, const ProbeSnapshot *p);

/* Where the knock-out panel goes in the grid's area r (the grid's header row first): beside the grid (a panel of
 * 44..70 columns) or below it (its loss line, the column heads and up to LENS_TOPK candidates, fewer in a short
 * body), whichever leaves the grid more layers and then bigger tiles; beside only when the tiles keep at least
 * min(T, 8) columns each. Sets *grid and *panel; no panel when off. */
static void at_ablate_layout(const App *a, Rect r, const ProbeSnapshot *p, Rect *grid, Rect *panel) {
    *grid = r, *panel = (Rect){0, 0, 0, 0};
    if (!ak.on) return;
    int grid_min = LW_MIN(p->L, 2) * 4 + 1;
    int rows = 2 + LW_MAX(1, LW_MIN(LENS_TOPK, r.h - 2 - grid_min));
    Rect below = {r.x, r.y, r.w, r.h - rows};
    int pw = LW_MIN(70, LW_MAX(44, r.w * 45 / 100)), per = (r.w - pw - 2 - 4) / LW_MAX(p->NH, 1) - 1;
    Rect beside = {r.x, r.y, r.w - pw - 2, r.h};
    if (per >= LW_MIN(p->T, 8) && r.h >= 12 && at_grid_score(a, beside, p) >= at_grid_score(a, below, p)) {
        *grid = beside;
        /* the panel starts two columns after the tiles the grid draws (as at_draw_grid lays them out) */
        int x0 = LW_MIN(r.x + at_grid_used_w(a, *grid, p) + 2, r.x + r.w - pw);
        *panel = (Rect){x0, r.y + 1, LW_MIN(r.x + r.w - x0, 72), r.h - 1};
        return;
    }
    *grid = below;
    *panel = (Rect){r.x, r.y + r.h - rows, r.w, rows};
}

/* A token's visible text cut to cols, quoted. */
static void at_tok_label(App *a, int id, int cols, char *out, size_t n) {
    char raw[SNAP_TOKTEXT * 4] = "", vis[SNAP_TOKTEXT * 4 + 8], fit[SNAP_TOKTEXT * 4 + 8];
    int len = a->eng ? engine_token_text(a->eng, id, raw, sizeof raw) : 0;
    tok_visible(raw, LW_MAX(0, LW_MIN(len, (int)sizeof raw - 1)), a->caps.unicode, vis, sizeof vis);
    utf8_fit(vis, cols - 2, a->caps.unicode, fit, sizeof fit);
    snprintf(out, n, "\"%.*s\"", (int)LW_MIN(strlen(fit), n > 3 ? n - 3 : 0), fit);
}

/* The knock-out panel in r: what knocking the selected head out changes. Below the grid: the loss on one line;
 * narrow (beside it): on a few. Then the probe's next token, the two models side by side, each candidate
 * with the other model's probability of it when the columns have room. Returns nothing; draws within r. */
static void at_draw_ablate(App *a, CellBuf *cb, Rect r, int NH, int narrow) {
    char line[512], head[32];
    int y = r.y, end = r.y + r.h;
    snprintf(head, sizeof head, "L%d H%d", at.layer, at.head);
    int i = at.layer * NH + at.head, mean = ak.how == ABLATE_MEAN;
    if (ak.abl_loss && i < ak.abl_L * ak.abl_NH && ak.abl_NH == NH && ak.abl_how == ak.how) {
        float d = ak.abl_loss[i] - ak.abl_base;
        int rank = 1, n = ak.abl_L * ak.abl_NH;
        for (int k = 0; k < n; k++) rank += ak.abl_loss[k] - ak.abl_base > d;
        char f1[64], f2[64], f3[64], f3b[48], f4[80], f5[24];
        snprintf(f1, sizeof f1, mean ? "%s by its mean:" : "knocked out %s:", head);
        snprintf(f2, sizeof f2, "val loss %.3f -> %.3f (%+.3f)", (double)ak.abl_base, (double)ak.abl_loss[i], (double)d);
        snprintf(f3, sizeof f3, "on %d val tokens (%d window%s)", ak.abl_tokens, ak.abl_windows, ak.abl_windows == 1 ? "" : "s");
        snprintf(f3b, sizeof f3b, "%d tokens", ak.abl_tokens);
        const char *th = rank % 10 == 1 && rank != 11 ? "st" : rank % 10 == 2 && rank != 12 ? "nd" : rank % 10 == 3 && rank != 13 ? "rd" : "th";
        snprintf(f4, sizeof f4, "the %d%s most needed of %d heads", rank, th, n);
        if (rank == 1) snprintf(f4, sizeof f4, "the most needed of %d heads", n);
        snprintf(f5, sizeof f5, "step %ld", ak.abl_step);
        Style st = d > 0 ? a->th.warn : a->th.good;
        if (narrow) {
            cb_text(cb, r.x, y++, r.w, f1, a->th.bold);
            cb_text(cb, r.x, y++, r.w, f2, st);
            snprintf(line, sizeof line, "%s, %s", f3, f5);
            cb_text(cb, r.x, y++, r.w, line, a->th.dim);
            if (y < end - 3) cb_text(cb, r.x, y++, r.w, f4, a->th.dim);
            if (y < end - 3) y++;
        } else {
            FitField f[] = {{f1, head, 0}, {f2, NULL, 0}, {f3, f3b, 2}, {f4, NULL, 3}, {f5, NULL, 1}};
            fit_line(f, 5, "  ", r.w, a->caps.unicode, line, sizeof line);
            cb_text(cb, r.x, y++, r.w, line, st);
        }
    } else {
        const char *why = ak.abl_err;
        if (!strncmp(why, "head ablation: ", 15)) why += 15; /* said by the line already */
        if (ak.abl_err[0] && ak.abl_seq) snprintf(line, sizeof line, "knocked out %s: val loss: %.400s", head, why);
        else snprintf(line, sizeof line, "knocked out %s: val loss: computing...", head);
        char fit[sizeof line];
        cb_text(cb, r.x, y++, r.w, utf8_fit(line, r.w, a->caps.unicode, fit, sizeof fit),
                ak.abl_err[0] && ak.abl_seq ? a->th.error : a->th.dim);
        if (narrow) y++;
    }
    if (y >= end) return;
    /* the probe sentence's next token with and without the head */
    int target = worker_ablate_next_arg(i, ak.how);
    if (!ak.next_seq || ak.next_arg != target || !ak.next_ok) {
        if (ak.next_seq && ak.next_arg == target) snprintf(line, sizeof line, "next token: %.400s", ak.next_err);
        else snprintf(line, sizeof line, "next token of the probe sentence: computing...");
        char fit[sizeof line];
        cb_text(cb, r.x, y, r.w, utf8_fit(line, r.w, a->caps.unicode, fit, sizeof fit),
                ak.next_seq && ak.next_arg == target ? a->th.error : a->th.dim);
        return;
    }
    const AblateNext *x = &ak.next;
    int colw = LW_MIN((r.w - 3) / 2, 40), cross = colw >= 30;
    /* the token column as wide as the longest candidate (quoted), within 5..16 and what the column leaves */
    int tokw = 5;
    for (int k = 0; k < LENS_TOPK; k++)
        for (int side = 0; side < 2; side++) {
            const LensCell *c = side ? &x->knocked : &x->whole;
            if (k >= c->n) continue;
            char t[SNAP_TOKTEXT * 4 + 8];
            at_tok_label(a, c->ids[k], 16, t, sizeof t);
            tokw = LW_MAX(tokw, utf8_cols(t));
        }
    tokw = LW_MIN(tokw, LW_MAX(5, colw - (cross ? 22 : 9)));
    char last[SNAP_TOKTEXT * 4 + 8], c1[sizeof last + 32], c2[96];
    at_tok_label(a, x->last_id, 14, last, sizeof last);
    snprintf(c1, sizeof c1, "next after %s:", last);
    snprintf(c2, sizeof c2, "KL %.3f nats", (double)x->kl);
    if (narrow) { /* the question and the KL on a row of their own, then the column heads */
        cb_text(cb, r.x, y, r.w, c1, a->th.bold);
        cb_text(cb, r.x + r.w - utf8_cols(c2), y, utf8_cols(c2), c2, a->th.dim);
        if (++y >= end) return;
        cb_text(cb, r.x, y, colw, "whole model", a->th.bold);
        snprintf(line, sizeof line, "without %s", head);
        cb_text(cb, r.x + colw + 3, y, r.w - colw - 3, line, a->th.bold);
    } else {
        snprintf(line, sizeof line, "%s whole model", c1);
        cb_text(cb, r.x, y, colw, line, a->th.bold);
        snprintf(line, sizeof line, "without %s (%s)", head, c2);
        cb_text(cb, r.x + colw + 3, y, r.w - colw - 3, line, a->th.bold);
    }
    y++;
    for (int k = 0; k < LENS_TOPK && y < end; k++, y++) {
        char t[SNAP_TOKTEXT * 4 + 8], num[64];
        for (int side = 0; side < 2; side++) { /* 0: the whole model, 1: without the head */
            const LensCell *c = side ? &x->knocked : &x->whole;
            if (k >= c->n) continue;
            int x0 = side ? r.x + colw + 3 : r.x, w0 = side ? r.w - colw - 3 : colw;
            int moved = side && k == 0 && x->knocked.ids[0] != x->whole.ids[0]; /* the prediction changed */
            Style st = moved ? a->th.warn : k == 0 ? a->th.text : a->th.dim;
            at_tok_label(a, c->ids[k], tokw, t, sizeof t);
            if (cross)
                snprintf(num, sizeof num, "%5.1f%% (%s %4.1f%%)", 100.0 * c->probs[k], side ? "was" : "then",
                         100.0 * (side ? x->knocked_in_whole[k] : x->whole_in_knocked[k]));
            else
                snprintf(num, sizeof num, "%5.1f%%", 100.0 * c->probs[k]);
            cb_printf(cb, x0, y, w0, st, "%d", k + 1);
            cb_text(cb, x0 + 2, y, LW_MIN(tokw, w0 - 2), t, st);
            if (w0 > tokw + 3) cb_text(cb, x0 + 3 + tokw, y, w0 - 3 - tokw, num, st);
        }
        cb_put(cb, r.x + colw + 1, y, a->caps.unicode ? 0x2502 : '|', a->th.dim);
    }
    if (cross && y < end)
        cb_text(cb, r.x, y, r.w, "(then: without the head; was: with it)", a->th.dim);
}

/* The legend's forms, widest first: columns per ramp step and the words after the hatch. */
#define AT_LEGEND_FORMS 3
static const struct { int step_w; const char *masked; } AT_LEGEND[AT_LEGEND_FORMS] = {
    {2, " masked (the future)"}, {1, " masked (the future)"}, {1, " masked"}};

/* Columns of legend form f (masked: a hatch part, for maps with a masked half). */
static int at_legend_cols(const App *a, int f, int masked) {
    int ramp = at_caps(a).cm == CM_MONO ? (int)strlen(GLYPH_RAMP) : RAMP_SEQ_N * AT_LEGEND[f].step_w;
    return 9 + ramp + 2 + (masked ? 3 + 2 + (int)strlen(AT_LEGEND[f].masked) : 0);
}

/* The colour (or glyph) legend, form f, on one row at (x, y): "weight 0 <ramp> 1   ╱╱ masked (the future)"; the
 * hatch part only when masked (a bidirectional map hides nothing). Returns the columns used. */
static int at_draw_legend(App *a, CellBuf *cb, int x, int y, int w, int f, int masked) {
    RenderCaps caps = at_caps(a);
    int x0 = x, end = x + w, sw_w = AT_LEGEND[f].step_w;
    x += cb_text(cb, x, y, end - x, "weight 0 ", a->th.dim);
    if (caps.cm == CM_MONO) {
        for (const char *g = GLYPH_RAMP; *g && x < end; g++) cb_put(cb, x++, y, (uint32_t)*g, a->th.cursor);
    } else {
        for (int i = 0; i < RAMP_SEQ_N && x + sw_w <= end; i++) {
            Style sw = {COL_DEFAULT, ramp_color((i + 0.5) / RAMP_SEQ_N, 0, 1, 0, caps.cm), 0};
            for (int c = 0; c < sw_w; c++) cb_put(cb, x++, y, ' ', sw);
        }
    }
    x += cb_text(cb, x, y, end - x, " 1", a->th.dim);
    if (!masked || x + 5 > end) return x - x0;
    x += 3;
    cb_put(cb, x, y, HATCH_CP(a->caps.unicode), hatch_style(&caps));
    cb_put(cb, x + 1, y, HATCH_CP(a->caps.unicode), hatch_style(&caps));
    x += 2;
    x += cb_text(cb, x, y, end - x, AT_LEGEND[f].masked, a->th.dim);
    return x - x0;
}

/* The legend row: the legend on the left and, when the grid shows a window of the layers, that window
 * ("layers 0-1 of 4 (PgUp/PgDn)") on the right; the widest forms of the two that fit w together. */
static void at_draw_legend_row(App *a, CellBuf *cb, int x, int y, int w, int masked, const char *win_full,
                               const char *win_brief) {
    const char *wins[3] = {win_full, win_brief, ""};
    for (int k = win_full && win_full[0] ? 0 : 2; k < 3; k++)
        for (int f = 0; f < AT_LEGEND_FORMS; f++) {
            int lw = at_legend_cols(a, f, masked), ww = (int)strlen(wins[k]);
            if (lw + (ww ? ww + 2 : 0) > w && !(k == 2 && f == AT_LEGEND_FORMS - 1)) continue;
            at_draw_legend(a, cb, x, y, w - (ww ? ww + 2 : 0), f, masked);
            if (ww) cb_text(cb, x + w - ww, y, ww, wins[k], a->th.warn);
            return;
        }
}

/* Tile geometry of the grid for a w x h area (label column and header row excluded): kx columns per key,
 * rows per tile (half blocks hold 2 queries a row), and how many layers fit at once. */
typedef struct AtGrid {
    int cols, kx, tw, th, vis_layers;
} AtGrid;

static AtGrid at_grid_geom(const RenderCaps *caps, int w, int h, int T, int ncols, int L) {
    AtGrid g = {ncols, 1, 0, 0, 0};
    int half = caps->unicode && caps->cm != CM_MONO;
    int per = w / ncols - 1;                         /* columns per tile, a gap between tiles */
    g.kx = per / T > 4 ? 4 : per / T;
    if (g.kx < 1) g.kx = 1;
    g.tw = per >= T ? g.kx * T : per;                /* narrower than T: keys sampled */
    /* square cells: a terminal cell is about twice as tall as wide, a half-block pixel about square */
    int want_h = half ? (T * g.kx + 1) / 2 : (T * g.kx + 1) / 2;
    if (!half) want_h = T;                            /* glyphs: one row per query */
    /* as many layers as fit with every query shown; fewer columns per key before sampling queries */
    while (g.kx > 1 && h / (want_h + 1) < (L < 2 ? L : 2)) {
        g.kx--;
        g.tw = g.kx * T;
        want_h = half ? (T * g.kx + 1) / 2 : T;
    }
    g.th = want_h;
    /* every layer when that costs at most a quarter of the query rows, else a window of layers */
    if (h / (g.th + 1) < L && (h / L - 1) * 4 >= 3 * want_h) g.th = h / L - 1;
    g.vis_layers = h / (g.th + 1);
    if (g.vis_layers < 1) g.vis_layers = 1, g.th = h - 1 > 1 ? h - 1 : 1;
    if (g.vis_layers > L) g.vis_layers = L;
    return g;
}

/* The columns the grid of p's heads takes in r (at_draw_grid's layout): the label column and the tiles. */
static int at_grid_used_w(const App *a, Rect r, const ProbeSnapshot *p) {
    RenderCaps caps = at_caps(a);
    AtGrid g = at_grid_geom(&caps, r.w - 4, r.h - 1, p->T, p->NH, p->L);
    return 4 + p->NH * (g.tw + 1);
}

/* How well the grid of p fits r: the layers it shows first, then the size of its tiles. */
static int at_grid_score(const App *a, Rect r, const ProbeSnapshot *p) {
    RenderCaps caps = at_caps(a);
    AtGrid g = at_grid_geom(&caps, r.w - 4, r.h - 1, p->T, p->NH, p->L);
    return g.vis_layers * 100000 + g.tw * 100 + g.th;
}

/* The grid of tiles in r; when only a window of the layers fits, its label goes into win_full / win_brief (64
 * bytes each; "" when every layer is shown) for the legend row. */
static void at_draw_grid(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p, float *buf, const uint8_t *mask,
                         char *win_full, char *win_brief) {
    int cols = at.avg ? 1 : p->NH, rows = p->L;
    int lab = 4;
    RenderCaps caps = at_caps(a);
    AtGrid g = at_grid_geom(&caps, r.w - lab, r.h - 1, p->T, cols, rows);
    /* the window of layers shown follows the selection */
    int l0 = at.layer - g.vis_layers + 1 > 0 ? at.layer - g.vis_layers + 1 : 0;
    if (l0 + g.vis_layers > rows) l0 = rows - g.vis_layers;
    for (int h = 0; h < cols; h++) {
        char t[16];
        if (at.avg) snprintf(t, sizeof t, "avg");
        else snprintf(t, sizeof t, "H%d", h);
        cb_text(cb, r.x + lab + h * (g.tw + 1), r.y, g.tw, t, h == at.head && !at.avg ? a->th.bold : a->th.dim);
    }
    win_full[0] = win_brief[0] = '\0';
    if (g.vis_layers < rows) {   /* on the legend row, right-aligned */
        snprintf(win_full, 64, "layers %d-%d of %d (PgUp/PgDn)", l0, l0 + g.vis_layers - 1, rows);
        snprintf(win_brief, 64, "L%d-%d of %d PgUp/PgDn", l0, l0 + g.vis_layers - 1, rows);
    }
    for (int l = l0; l < l0 + g.vis_layers; l++) {
        int y = r.y + 1 + (l - l0) * (g.th + 1);
        if (y + g.th > r.y + r.h) break;
        char t[16];
        snprintf(t, sizeof t, "L%d", l);
        cb_text(cb, r.x, y, lab - 1, t, l == at.layer ? a->th.bold : a->th.dim);
        for (int h = 0; h < cols; h++) {
            int x = r.x + lab + h * (g.tw + 1);
            const float *m = at_map(p, l, h, at.avg, buf);
            heatmap_draw(cb, x, y, g.tw, g.th, m, p->T, p->T, p->T, 0, 1, 0, mask, &caps);
            if (!at.avg && y + g.th < r.y + r.h) /* roles of the current weights: LIVE only */
                at_draw_tile_label(a, cb, x, y + g.th, g.tw, l, h, at.replay < 0 && at_is_gpt(p) && !a->repro);
            if (l == at.layer && (h == at.head || at.avg)) {
                /* selection marker beside the tile (not colour alone) */
                cb_put(cb, x - 1, y, a->caps.unicode ? 0x25B6 : '>', a->th.highlight);
            }
        }
    }
}

/* One (query, key) cell of cw columns at (x, y): its colour (or glyph), the hatch when masked, brackets at the
 * cursor. */
static void at_put_cell(App *a, CellBuf *cb, int x, int y, int cw, float v, int masked, int cur) {
    RenderCaps caps = at_caps(a);
    for (int c = 0; c < cw; c++) {
        if (masked) {
            Style hs = hatch_style(&caps);
            if (cur) hs.attr |= CA_REVERSE;
            cb_put(cb, x + c, y, HATCH_CP(a->caps.unicode), hs);
        } else if (caps.cm == CM_MONO) {
            uint32_t g = (uint32_t)ramp_glyph(v, 0, 1);
            if (cur && cw >= 3 && (c == 0 || c == cw - 1)) g = c == 0 ? '[' : ']';
            cb_put(cb, x + c, y, g, cur ? a->th.cursor : a->th.text);
        } else {
            Style s = {COL_DEFAULT, ramp_color(v, 0, 1, 0, caps.cm), 0};
            uint32_t ch = ' ';
            if (cur) {
                ch = cw == 1 ? '*' : c == 0 ? '[' : c == cw - 1 ? ']' : '*';
                s.fg = ramp_index(v, 0, 1, 12) > 6 ? 16 : 231;
                s.attr = CA_BOLD;
            }
            cb_put(cb, x + c, y, ch, s);
        }
    }
}

/* The selected head (or layer average) as a labelled map in r: query tokens down the left ("index token"), key
 * tokens stacked vertically above their columns with the index under them, cells as wide and tall as r allows,
 * the cursor's exact weight and the legend at the bottom. Used by the zoom (Enter) and the large view (z). */
static void at_draw_map(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p, float *buf, const uint8_t *mask,
                        const char *title) {
    const float *m = at_map(p, at.layer, at.head, at.avg, buf);
    int T = p->T;
    if (at.q >= T) at.q = T - 1;
    if (at.k >= T) at.k = T - 1;
    char vis[SNAP_MAX_PROBE][SNAP_TOKTEXT * 4];
    int maxlen = 1;
    for (int i = 0; i < T; i++) {
        tok_visible(p->tok[i], (int)strlen(p->tok[i]), a->caps.unicode, vis[i], sizeof vis[i]);
        maxlen = LW_MAX(maxlen, utf8_cols(vis[i]));
    }
    int lab = LW_MIN(maxlen, 10) + 4;                 /* "NN token " */
    int footer = 2;                                   /* the value line and the legend */
    int key_rows = LW_MIN(maxlen, 4);                 /* stacked key tokens (first characters) */
    int avail_h = r.h - footer - 1;                   /* minus the key index row */
    /* rows per query: 1 .. 2 when there is room; key token rows shrink before queries are scrolled */
    while (key_rows > 1 && avail_h - key_rows < T) key_rows--;
    int qh = (avail_h - key_rows) / T >= 2 ? 2 : 1;
    int cw = (r.w - lab) / T;
    if (cw > 2 * qh + 2) cw = 2 * qh + 2;             /* keep cells about square: ~2 columns per row */
    if (cw < 1) cw = 1;
    int vis_cols = (r.w - lab) / cw;
    int vis_rows = (avail_h - key_rows) / qh;
    if (vis_rows < 1) vis_rows = 1;
    int q0 = at.q >= vis_rows ? at.q - vis_rows + 1 : 0;
    int k0 = at.k >= vis_cols ? at.k - vis_cols + 1 : 0;
    int gy = r.y + key_rows + 1;                      /* first query row */
    /* key labels: token characters stacked (top down), the index below them (skipped where it would touch the
     * previous one: narrow cells number every other key) */
    int idx_end = -1;
    for (int k = k0; k < T && (k - k0) < vis_cols; k++) {
        int x = r.x + lab + (k - k0) * cw + (cw - 1) / 2;
        Style st = k == at.k ? a->th.bold : a->th.dim;
        const char *t = vis[k];
        size_t tl = strlen(t), o = 0;
        for (int row = 0; row < key_rows && o < tl; row++) {
            uint32_t cp;
            o += (size_t)utf8_decode(t + o, tl - o, &cp);
            cb_put(cb, x, r.y + row, cp, st);
        }
        char idx[16];
        snprintf(idx, sizeof idx, "%d", k);
        int il = (int)strlen(idx), ix = r.x + lab + (k - k0) * cw + (cw - il > 0 ? (cw - il) / 2 : 0);
        if (ix > idx_end) {   /* the cursor's index is on the value line in any case */
            cb_text(cb, ix, r.y + key_rows, il, idx, st);
            idx_end = ix + il;
        }
    }
    for (int q = q0; q < T && (q - q0) < vis_rows; q++) {
        int y = gy + (q - q0) * qh;
        char l[SNAP_TOKTEXT * 4 + 16], lf[SNAP_TOKTEXT * 4 + 16];
        snprintf(l, sizeof l, "%2d %s", q, vis[q]);
        cb_text(cb, r.x, y, lab - 1, utf8_fit(l, lab - 1, a->caps.unicode, lf, sizeof lf),
                q == at.q ? a->th.bold : a->th.text);
        for (int k = k0; k < T && (k - k0) < vis_cols; k++)
            for (int dy = 0; dy < qh; dy++)
                at_put_cell(a, cb, r.x + lab + (k - k0) * cw, y + dy, cw, m[q * T + k], mask[q * T + k],
                            q == at.q && k == at.k);
    }
    /* the cursor's line: the words and then the token texts give way before the weight is cut */
    float v = m[at.q * T + at.k];
    int masked = mask[at.q * T + at.k];
    char line[512];
    for (int tw = 0; tw <= 8; tw += 4) {   /* token texts whole, then at most 8, then 4 columns */
        char fq[SNAP_TOKTEXT * 4 + 8], fk[SNAP_TOKTEXT * 4 + 8], q[SNAP_TOKTEXT * 4 + 32], k[SNAP_TOKTEXT * 4 + 32],
            wt[32];
        utf8_fit(vis[at.q], tw ? 12 - tw : 999, a->caps.unicode, fq, sizeof fq);
        utf8_fit(vis[at.k], tw ? 12 - tw : 999, a->caps.unicode, fk, sizeof fk);
        snprintf(q, sizeof q, "query %d \"%s\"", at.q, fq);
        snprintf(k, sizeof k, "-> key %d \"%s\":", at.k, fk);
        snprintf(wt, sizeof wt, "weight %.4f", v);
        FitField f[] = {{title[0] ? title : NULL, NULL, 3}, {q, NULL, 0}, {k, NULL, 0}, {wt, NULL, 0},
                        {masked ? "(masked: the future)" : NULL, "(masked)", 2}};
        fit_line(f, 5, " ", r.w - 2, a->caps.unicode, line, sizeof line);
        if (strstr(line, wt)) break;
    }
    cb_printf(cb, r.x, r.y + r.h - 2, r.w, a->th.highlight, " %s ", line);
    int hidden = 0;
    for (int i = 0; i < T * T; i++) hidden |= mask[i];
    at_draw_legend_row(a, cb, r.x, r.y + r.h - 1, r.w, hidden, NULL, NULL);
}

/* z: the selected head (or the layer average) alone, as big as the body allows. */
static void at_draw_large(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *p, float *buf, const uint8_t *mask) {
    at_draw_map(a, cb, r, p, buf, mask, "large view (z returns) ");
}

/* The last row: the hint (fields that narrow and drop to fit) and, for an encoder-decoder, which of its three
 * maps is shown at the right end (its short name when the long one would leave the hint under 40 columns). */
static void at_draw_hint(App *a, CellBuf *cb, Rect r, const ProbeSnapshot *orig, const FitField *hint, int n) {
    char kl[96] = "";
    if (orig->Ld > 0) {
        snprintf(kl, sizeof kl, " x: %s ", AT_KIND_NAME[at.kind]);
        if (r.w - utf8_cols(kl) < 40) snprintf(kl, sizeof kl, " x: %s ", AT_KIND_BRIEF[at.kind]);
    }
    int kw = utf8_cols(kl);
    char line[256];
    fit_line(hint, n, ", ", r.w - kw - 1, a->caps.unicode, line, sizeof line);
    cb_text(cb, r.x, r.y + r.h - 1, r.w - kw, line, a->th.dim);
    if (kw) cb_text(cb, r.x + r.w - kw, r.y + r.h - 1, kw, kl, a->th.title);
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
    char head[256], f_step[32], f_snap[32], f_snap_b[32], f_layer[48], f_layer_b[32], f_t[16], f_std[48], f_std_b[40];
    snprintf(f_step, sizeof f_step, "step %ld", p->step);
    snprintf(f_snap, sizeof f_snap, "snapshot %d/%d", idx + 1, count);
    snprintf(f_snap_b, sizeof f_snap_b, "snap %d/%d", idx + 1, count);
    if (at.avg) snprintf(f_layer, sizeof f_layer, "layer %d average of heads", at.layer);
    else snprintf(f_layer, sizeof f_layer, "layer %d head %d", at.layer, at.head);
    if (at.avg) snprintf(f_layer_b, sizeof f_layer_b, "L%d avg", at.layer);
    else snprintf(f_layer_b, sizeof f_layer_b, "L%d H%d", at.layer, at.head);
    snprintf(f_t, sizeof f_t, "T=%d", p->T);
    /* residual-stream spread after the embeddings and after the selected layer's block */
    float s0 = p->act_std ? p->act_std[0] : 0.0f, s1 = p->act_std ? p->act_std[at.layer + 1] : 0.0f;
    snprintf(f_std, sizeof f_std, "resid std %.2f->%.2f", s0, s1);
    snprintf(f_std_b, sizeof f_std_b, "std %.2f->%.2f", s0, s1);
    int causal = p->causal && p->kind != SNAP_MAP_BIDIRECTIONAL;
    /* what gives way first at 80 columns: the scrub hint, T, the long layer/head words, the map kind's word, then
     * the other words get shorter */
    FitField hf[] = {{at.replay < 0 ? "LIVE" : "REPLAY", NULL, 0},
                     {f_step, NULL, 0},
                     {f_snap, f_snap_b, 0},
                     {at.replay < 0 ? "(<- older)" : "(<- -> scrub, End = live)", NULL, 5},
                     {f_layer, f_layer_b, -3},
                     {f_t, NULL, 4},
                     {at.kind == AT_CROSS ? "cross" : causal ? "causal" : "bidirectional", NULL, 2},
                     {p->act_std ? f_std : NULL, f_std_b, 1},
                     {p->nonfinite ? "NaN/Inf in the forward!" : NULL, "NaN/Inf!", 0}};
    fit_line(hf, (int)(sizeof hf / sizeof hf[0]), "  ", r.w, a->caps.unicode, head, sizeof head);
    Style hs = at.replay < 0 ? a->th.good : a->th.warn;
    cb_text(cb, r.x, r.y, r.w, head, hs);
    if (at.avg || !at_is_gpt(p)) ak.on = 0; /* one head of a GPT at a time */
    at_inspect_poll(a, p, at.replay < 0);
    if (at.kind == AT_CROSS) {
        at_draw_cross(a, cb, (Rect){r.x, r.y + 1, r.w, r.h - 2}, orig);
        at_draw_legend_row(a, cb, r.x, r.y + r.h - 2, r.w, 0, NULL, NULL);
        FitField hint[] = {{"rows: target tokens", NULL, 1}, {"* = the source token weighed most", "* = weighed most", 0}};
        at_draw_hint(a, cb, r, orig, hint, 2);
        return;
    }
    size_t TT = (size_t)p->T * (size_t)p->T;
    float *buf = malloc(sizeof(float) * TT);
    uint8_t *mask = malloc(TT);
    if (!buf || !mask) { free(buf); free(mask); return; }
    at_mask(mask, p->T, causal);
    if (a->large) {
        at_draw_large(a, cb, (Rect){r.x, r.y + 1, r.w, r.h - 1}, p, buf, mask);
        free(buf);
        free(mask);
        return;
    }
    if (at.zoom) {
        if (at_is_gpt(p) && !a->repro) { /* the selected head's three role scores above its map (not in the demo,
                                           * whose screens must not depend on when the worker's answer came) */
            at_draw_roles_line(a, cb, r.x, r.y + 1, r.w);
            at_draw_map(a, cb, (Rect){r.x, r.y + 2, r.w, r.h - 3}, p, buf, mask, "");
        } else {
            at_draw_map(a, cb, (Rect){r.x, r.y + 1, r.w, r.h - 2}, p, buf, mask, "");
        }
        FitField hint[] = {{"arrows move the cursor", "arrows: cursor", 0}, {", . scrub snapshots", ", . scrub", 2},
                           {"a average", NULL, 3}, {"Esc/Enter back to the grid", "Esc back", 1}};
        at_draw_hint(a, cb, r, orig, hint, 4);
    } else {
        char wf[64], wb[64];
        Rect gr, pr;
        at_ablate_layout(a, (Rect){r.x, r.y + 1, r.w, r.h - 3}, p, &gr, &pr);
        at_draw_grid(a, cb, gr, p, buf, mask, wf, wb);
        if (pr.w > 0) at_draw_ablate(a, cb, pr, p->NH, pr.y == gr.y + 1); /* beside the grid: narrow */
        at_draw_legend_row(a, cb, r.x, r.y + r.h - 2, r.w, causal, wf, wb);
        FitField hint[] = {{"Up/Down select a tile", "Up/Down tile", 0}, {"Enter zooms", "Enter zoom", 0},
                           {"a average over heads", "a avg", -2}, {"<- -> scrub snapshots", "<- -> scrub", 1},
                           {ak.on ? "o puts the head back" : "o knocks the head out", ak.on ? "o head back" : "o knock out", -1},
                           {"End live", NULL, 3}};
        at_draw_hint(a, cb, r, orig, hint, (int)(sizeof hint / sizeof hint[0]));
    }
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
    case 'o':
        if (!p) {
            app_status(a, 1, "no probe snapshot yet");
            return 1;
        }
        if (!at_is_gpt(p)) {
            app_status(a, 1, "head ablation is GPT-only: this model's attention is %s",
                       p->Ld > 0 ? "an encoder-decoder's" : "bidirectional (BERT)");
            return 1;
        }
        if (at.avg) {
            app_status(a, 1, "knocking out works on one head: press a to leave the average first");
            return 1;
        }
        ak.on = !ak.on;
        if (!ak.how) ak.how = ABLATE_ZERO;
        if (ak.on)
            app_status(a, 0, "layer %d head %d knocked out: its output is %s (o puts it back, O: %s)", at.layer,
                       at.head, ak.how == ABLATE_MEAN ? "its mean" : "zero", ak.how == ABLATE_MEAN ? "zero" : "its mean");
        else app_status(a, 0, "layer %d head %d is back", at.layer, at.head);
        return 1;
    case 'O':
        ak.how = ak.how == ABLATE_MEAN ? ABLATE_ZERO : ABLATE_MEAN;
        app_status(a, 0, "knocking a head out %s%s", ak.how == ABLATE_MEAN ?
                   "replaces its output by its mean over the positions (mean ablation)" : "sets its output to zero",
                   ak.on ? "" : " (o knocks the selected head out)");
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

/* The step of the snapshot on screen (LIVE: the newest, REPLAY: the one scrubbed to). */
static long at_shown_step(App *a) {
    int count = 0;
    const ProbeSnapshot *p = probe_cache_get(a->eng, at.replay, &count);
    return p ? p->step : -1;
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
    "x\tenc-dec: encoder self / decoder self / cross-attention",
    "<- ->\tgrid: scrub snapshots (REPLAY); Home: first, End: LIVE",
    "o\tknock the head out / back in (GPT): val loss, next token",
    "O\tknock out by zero / by the head's mean (mean ablation)",
    "\ttile labels: roles above 0.4 (prev, sink, ind); zoom: all",
    "g\tglyph ramp \" .:-=+*#%@\" instead of colour (projectors)",
    "z\tlarge view: the selected head alone, full size",
    "P\texport the grid, or the zoomed head, as PNG and SVG",
    ", .\tscrub snapshots in the zoom too ([ ] < > work as well)",
    "\tmasked (future) cells hatched; darker = less weight",
    "/\tzoom on the first probe token containing the text",
    "n, N\tnext / previous such token",
    NULL};

const ScreenOps screen_attention = {
    .title = "Attention",
    .short_title = "Attn",
    .help = AT_HELP,
    .draw = at_draw,
    .key = at_key,
    .export_pics = at_export,
    .shown_step = at_shown_step,
    .search = at_search,
};
