/* xformer.c — attention and MLP sublayers with residual, dropout and LayerNorm (see xformer.h). */
#include "xformer.h"

#include <string.h>
#include "layers.h"
#include "util.h"

/* Threads the attention of a sublayer may split its (batch, head) pairs across: scratch holds one share each. */
#define XF_ATT_PARTS LW_MAX_THREADS

const float *xf_attn_out(const XfCfg *c, const XfAttnActs *a) { return c->pre_ln ? a->r : a->ln; }
const float *xf_mlp_out(const XfCfg *c, const XfMlpActs *a) { return c->pre_ln ? a->r : a->ln; }

void xf_act_forward(int act, float *y, const float *x, size_t n) {
    switch (act) {
    case XF_ACT_GELU: gelu_erf_forward(y, x, n); break;
    case XF_ACT_GELU_TANH: gelu_forward(y, x, n); break;
    default:
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

void xf_act_backward(int act, float *dx, const float *x, const float *dy, size_t n) {
    switch (act) {
    case XF_ACT_GELU: gelu_erf_backward(dx, x, dy, n); break;
    case XF_ACT_GELU_TANH: gelu_backward(dx, x, dy, n); break;
    default:
        for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
    }
}

size_t xf_scratch_floats(const XfCfg *c, int N, int M, int Tq, int Tk) {
    size_t NC = (size_t)N * c->C;
    size_t attn = 7 * NC + 2 * (size_t)M * c->C + XF_ATT_PARTS * 2 * (size_t)Tq * Tk;
    size_t mlp = 3 * NC + 2 * (size_t)N * c->F;
    return attn > mlp ? attn : mlp;
}

/* r (n) = x + drop(r), drawing the mask when rng is given; returns whether dropout was applied. */
static int xf_residual_drop(float *r, const float *x, uint8_t *mask, float p, size_t n, Rng *rng) {
    int drop = rng && p > 0.0f;
    if (drop) {
        dropout_mask(mask, n, p, rng);
        dropout_forward(r, r, mask, n, p);
    }
    residual_forward(r, x, r, n);
    return drop;
}

void xf_attn_forward(const XfCfg *c, const XfAttn *w, XfAttnActs *a, const float *x, const float *mem,
                     const uint8_t *kpad, int causal, int B, int Tq, int Tk, Rng *r, float *scratch) {
    int C = c->C, N = B * Tq, M = B * Tk;
    size_t NC = (size_t)N * C;
    const float *ain = x;
    if (c->pre_ln) {
        layernorm_forward_eps(a->ln, a->mean, a->rstd, x, w->ln_w, w->ln_b, N, C, c->ln_eps);
        ain = a->ln;
    }
    MhaShape s = {.B = B, .Tq = Tq, .Tk = Tk, .C = C, .NH = c->NH, .ldo = C, .causal = causal};
    const float *q = a->q, *k, *v;
    if (mem) {
        linear_forward(a->q, ain, w->wq, w->bq, N, C, C);
        linear_forward(a->kv, mem, w->wkv, w->bkv, M, C, 2 * C);
        k = a->kv;
        v = a->kv + C;
        s.ldq = C;
        s.ldk = s.ldv = 2 * C;
    } else {
        linear_forward(a->q, ain, w->wq, w->bq, N, C, 3 * C);
        k = a->q + C;
        v = a->q + 2 * C;
        s.ldq = s.ldk = s.ldv = 3 * C;
    }
    int drop_att = r && c->p_att > 0.0f;
    if (drop_att) dropout_mask(a->drop_att, (size_t)B * c->NH * Tq * Tk, c->p_att, r);
    mha_forward_threads(a->y, a->att, q, k, v, kpad, drop_att ? a->drop_att : NULL, c->p_att, scratch, XF_ATT_PARTS,
                        &s);
    linear_forward(a->r, a->y, w->wo, w->bo, N, C, C);
    a->dropped = xf_residual_drop(a->r, x, a->drop_r, c->p_hidden, NC, r) || drop_att;
    if (!c->pre_ln) layernorm_forward_eps(a->ln, a->mean, a->rstd, a->r, w->ln_w, w->ln_b, N, C, c->ln_eps);
}

void xf_attn_backward(const XfCfg *c, const XfAttn *w, const XfAttn *g, const XfAttnActs *a, const float *x,
                      const float *mem, int causal, float *dx, float *dmem, const float *dout, int B, int Tq,
                      int Tk, float *scratch) {
    int C = c->C, N = B * Tq, M = B * Tk;
    size_t NC = (size_t)N * C;
    float *dr = scratch, *dz = dr + NC, *dy = dz + NC, *dln = dy + NC, *dq = dln + NC, *dkv = dq + 3 * NC;
    float *mscratch = dkv + 2 * (size_t)M * C;
    const float *dres = dout;
    if (!c->pre_ln) { /* y = LN(r) */
        memset(dr, 0, NC * sizeof(float));
        layernorm_backward(dr, g->ln_w, g->ln_b, dout, a->r, w->ln_w, a->mean, a->rstd, N, C);
        dres = dr;
    }
    /* r = x + drop(proj) */
    residual_forward(dx, dx, dres, NC);
    const float *dproj = dres;
    if (a->dropped && c->p_hidden > 0.0f) {
        memset(dz, 0, NC * sizeof(float));
        dropout_backward(dz, dres, a->drop_r, NC, c->p_hidden);
        dproj = dz;
    }
    memset(dy, 0, NC * sizeof(float));
    linear_backward(dy, g->wo, g->bo, dproj, a->y, w->wo, N, C, C);
    MhaShape s = {.B = B, .Tq = Tq, .Tk = Tk, .C = C, .NH = c->NH, .ldo = C, .causal = causal};
    const uint8_t *drop_att = a->dropped && c->p_att > 0.0f ? a->drop_att : NULL;
    const float *ain = c->pre_ln ? a->ln : x;
    float *dain = c->pre_ln ? dln : dx;
    if (c->pre_ln) memset(dln, 0, NC * sizeof(float));
    if (mem) {
        memset(dq, 0, NC * sizeof(float));
        memset(dkv, 0, 2 * (size_t)M * C * sizeof(float));
        s.ldq = C;
        s.ldk = s.ldv = 2 * C;
        mha_backward_threads(dq, dkv, dkv + C, dy, a->q, a->kv, a->kv + C, a->att, drop_att, c->p_att, mscratch,
                             XF_ATT_PARTS, &s);
        linear_backward(dain, g->wq, g->bq, dq, ain, w->wq, N, C, C);
        linear_backward(dmem, g->wkv, g->bkv, dkv, mem, w->wkv, M, C, 2 * C);
    } else {
        memset(dq, 0, 3 * NC * sizeof(float));
        s.ldq = s.ldk = s.ldv = 3 * C;
        mha_backward_threads(dq, dq + C, dq + 2 * C, dy, a->q, a->q + C, a->q + 2 * C, a->att, drop_att, c->p_att,
                             mscratch, XF_ATT_PARTS, &s);
        linear_backward(dain, g->wq, g->bq, dq, ain, w->wq, N, C, 3 * C);
    }
    if (c->pre_ln) layernorm_backward(dx, g->ln_w, g->ln_b, dln, x, w->ln_w, a->mean, a->rstd, N, C);
}

void xf_mlp_forward(const XfCfg *c, const XfMlp *w, XfMlpActs *a, const float *x, int N, Rng *r) {
    int C = c->C, F = c->F;
    const float *ain = x;
    if (c->pre_ln) {
        layernorm_forward_eps(a->ln, a->mean, a->rstd, x, w->ln_w, w->ln_b, N, C, c->ln_eps);
        ain = a->ln;
    }
    linear_forward(a->h, ain, w->w1, w->b1, N, C, F);
    xf_act_forward(c->act, a->ha, a->h, (size_t)N * F);
    linear_forward(a->r, a->ha, w->w2, w->b2, N, F, C);
    a->dropped = xf_residual_drop(a->r, x, a->drop_r, c->p_hidden, (size_t)N * C, r);
    if (!c->pre_ln) layernorm_forward_eps(a->ln, a->mean, a->rstd, a->r, w->ln_w, w->ln_b, N, C, c->ln_eps);
}

void xf_mlp_backward(const XfCfg *c, const XfMlp *w, const XfMlp *g, const XfMlpActs *a, const float *x,
                     float *dx, const float *dout, int N, float *scratch) {
    int C = c->C, F = c->F;
    size_t NC = (size_t)N * C, NF = (size_t)N * F;
    float *dr = scratch, *dz = dr + NC, *dln = dz + NC, *dha = dln + NC, *dh = dha + NF;
    const float *dres = dout;
    if (!c->pre_ln) {
        memset(dr, 0, NC * sizeof(float));
        layernorm_backward(dr, g->ln_w, g->ln_b, dout, a->r, w->ln_w, a->mean, a->rstd, N, C);
        dres = dr;
    }
    residual_forward(dx, dx, dres, NC);
    const float *dproj = dres;
    if (a->dropped) {
        memset(dz, 0, NC * sizeof(float));
        dropout_backward(dz, dres, a->drop_r, NC, c->p_hidden);
        dproj = dz;
    }
    memset(dha, 0, NF * sizeof(float));
    linear_backward(dha, g->w2, g->b2, dproj, a->ha, w->w2, N, F, C);
    memset(dh, 0, NF * sizeof(float));
    xf_act_backward(c->act, dh, a->h, dha, NF);
    const float *ain = c->pre_ln ? a->ln : x;
    if (c->pre_ln) {
        memset(dln, 0, NC * sizeof(float));
        linear_backward(dln, g->w1, g->b1, dh, ain, w->w1, N, C, F);
        layernorm_backward(dx, g->ln_w, g->ln_b, dln, x, w->ln_w, a->mean, a->rstd, N, C);
    } else {
        linear_backward(dx, g->w1, g->b1, dh, ain, w->w1, N, C, F);
    }
}

/* ---- incremental decoding ---- */

size_t xf_step_floats(const XfCfg *c, int Tk) {
    size_t attn = 6 * (size_t)c->C + 2 + (size_t)(c->NH + 1) * Tk;
    size_t mlp = 2 * (size_t)c->C + 2 * (size_t)c->F + 2;
    return attn > mlp ? attn : mlp;
}

/* The shared part of both steps: q|k|v already in q (ldq), keys/values in kv (2C rows); out = the sublayer output. */
static void xf_step_finish(const XfCfg *c, const XfAttn *w, float *out, const float *x, const float *q, int ldq,
                           const float *kv, int Tk, const uint8_t *kpad, float *att, float *work) {
    int C = c->C;
    float *y = work + 4 * C, *r = y + C, *sc = r + C + 2, *a = att ? att : sc + Tk;
    MhaShape s = {.B = 1, .Tq = 1, .Tk = Tk, .C = C, .NH = c->NH, .ldq = ldq, .ldk = 2 * C, .ldv = 2 * C, .ldo = C};
    mha_forward(y, a, q, kv, kv + C, kpad, NULL, 0.0f, sc, &s);
    linear_forward(r, y, w->wo, w->bo, 1, C, C);
    residual_forward(r, x, r, (size_t)C);
    if (c->pre_ln) memcpy(out, r, (size_t)C * sizeof(float));
    else layernorm_forward_eps(out, r + C, r + C + 1, r, w->ln_w, w->ln_b, 1, C, c->ln_eps);
}

/* work layout: ln (C) | q (3C) | y (C) | r (C) | mean, rstd (2) | mha scratch (Tk) | att (NH Tk) */
static const float *xf_step_input(const XfCfg *c, const XfAttn *w, const float *x, float *work) {
    if (!c->pre_ln) return x;
    float st[2];
    layernorm_forward_eps(work, st, st + 1, x, w->ln_w, w->ln_b, 1, c->C, c->ln_eps);
    return work;
}

void xf_attn_step_self(const XfCfg *c, const XfAttn *w, float *out, const float *x, float *cache, int len,
                       float *att, float *work) {
    int C = c->C;
    float *q = work + C;
    linear_forward(q, xf_step_input(c, w, x, work), w->wq, w->bq, 1, C, 3 * C);
    memcpy(cache + (size_t)len * 2 * C, q + C, 2 * (size_t)C * sizeof(float));
    xf_step_finish(c, w, out, x, q, 3 * C, cache, len + 1, NULL, att, work);
}

void xf_attn_step_cross(const XfCfg *c, const XfAttn *w, float *out, const float *x, const float *kv, int Tk,
                        const uint8_t *kpad, float *att, float *work) {
    int C = c->C;
    float *q = work + C;
    linear_forward(q, xf_step_input(c, w, x, work), w->wq, w->bq, 1, C, C);
    xf_step_finish(c, w, out, x, q, C, kv, Tk, kpad, att, work);
}

void xf_cross_kv(const XfCfg *c, const XfAttn *w, float *kv, const float *mem, int M) {
    linear_forward(kv, mem, w->wkv, w->bkv, M, c->C, 2 * c->C);
}

void xf_mlp_step(const XfCfg *c, const XfMlp *w, float *out, const float *x, float *work) {
    int C = c->C, F = c->F;
    float *ln = work, *h = ln + C, *ha = h + F, *r = ha + F, st[2];
    const float *ain = x;
    if (c->pre_ln) {
        layernorm_forward_eps(ln, st, st + 1, x, w->ln_w, w->ln_b, 1, C, c->ln_eps);
        ain = ln;
    }
    linear_forward(h, ain, w->w1, w->b1, 1, C, F);
    xf_act_forward(c->act, ha, h, (size_t)F);
    linear_forward(r, ha, w->w2, w->b2, 1, F, C);
    residual_forward(r, x, r, (size_t)C);
    if (c->pre_ln) memcpy(out, r, (size_t)C * sizeof(float));
    else layernorm_forward_eps(out, st, st + 1, r, w->ln_w, w->ln_b, 1, C, c->ln_eps);
}
