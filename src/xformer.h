/* xformer.h — the Transformer sublayers shared by the encoder (bert.c) and the encoder-decoder (encdec.c):
 * multi-head attention (self or cross) and the MLP, each with its residual connection, dropout and LayerNorm in
 * either placement, forward and hand-written backward. The models own parameters and activations; a sublayer
 * only gets pointers into them. Kernels are in layers.c (mha_*, linear_*, layernorm_*, gelu_*).
 * Letters: B batch, Tq rows per batch element of the sublayer's input x, Tk rows per batch element of the memory
 * (= Tq for self-attention), N = B*Tq, M = B*Tk, C d_model, F d_ff, NH heads.
 *
 * Placement (XfCfg.pre_ln):
 *   post-LN ("Attention Is All You Need", BERT):  y = LN(x + drop(Sublayer(x)))
 *   pre-LN  (GPT-2, most models since):           y = x + drop(Sublayer(LN(x)))
 * Attention: Sublayer(a) = O(softmax(Q K^T / sqrt(HS) + mask) V) with Q, K, V = linear maps of a (self) or Q of a
 * and K, V of the memory (cross; the memory is not normalised here). MLP: Sublayer(a) = W2 act(W1 a + b1) + b2. */
#ifndef LLMWB_XFORMER_H
#define LLMWB_XFORMER_H

#include <stddef.h>
#include <stdint.h>
#include "rng.h"

enum { XF_ACT_GELU = 0, XF_ACT_GELU_TANH = 1, XF_ACT_RELU = 2 }; /* erf GELU (BERT), tanh GELU (GPT-2), ReLU (paper) */

typedef struct XfCfg {
    int C, NH, F;
    int pre_ln;
    int act;           /* XF_ACT_* */
    float ln_eps;
    float p_hidden;    /* dropout on the sublayer output before the residual add */
    float p_att;       /* dropout on the attention weights */
} XfCfg;

/* Weights (or, with the same layout, their gradients) of one attention sublayer, all nn.Linear layout (out, in). */
typedef struct XfAttn {
    float *wq, *bq;    /* self: fused q|k|v (3C, C), (3C); cross: q only (C, C), (C) */
    float *wkv, *bkv;  /* cross: fused k|v (2C, C), (2C); NULL for self-attention */
    float *wo, *bo;    /* (C, C), (C) */
    float *ln_w, *ln_b;/* (C) */
} XfAttn;

typedef struct XfMlp {
    float *w1, *b1;    /* (F, C), (F) */
    float *w2, *b2;    /* (C, F), (C) */
    float *ln_w, *ln_b;/* (C) */
} XfMlp;

/* Saved activations of one attention sublayer (sizes for N query rows, M memory rows). */
typedef struct XfAttnActs {
    float *ln, *mean, *rstd;   /* (N, C), (N), (N): pre-LN: LN(x); post-LN: LN(r), the output */
    float *q;                  /* self: (N, 3C) q|k|v; cross: (N, C) */
    float *kv;                 /* cross: (M, 2C) k|v of the memory; unused for self */
    float *att;                /* (B, NH, Tq, Tk) weights after softmax */
    float *y;                  /* (N, C) heads concatenated, before the output projection */
    float *r;                  /* (N, C) x + drop(y Wo^T + bo): the output for pre-LN */
    uint8_t *drop_att, *drop_r;/* (B, NH, Tq, Tk) and (N, C) dropout masks, drawn when a forward is given an Rng */
    int dropped;               /* set by the forward: whether it applied dropout (the backward follows it) */
} XfAttnActs;

typedef struct XfMlpActs {
    float *ln, *mean, *rstd;   /* (N, C), (N), (N) as above */
    float *h, *ha;             /* (N, F) before and after the activation */
    float *r;                  /* (N, C) */
    uint8_t *drop_r;           /* (N, C) */
    int dropped;
} XfMlpActs;

/* The sublayer's output inside its activations: r (pre-LN) or ln (post-LN). */
const float *xf_attn_out(const XfCfg *c, const XfAttnActs *a);
const float *xf_mlp_out(const XfCfg *c, const XfMlpActs *a);

/* Forward of an attention sublayer over x (B, Tq, C). mem (B, Tk, C) for cross-attention, NULL for self
 * (Tk = Tq). causal / kpad (B, Tk) as mha_forward. r non-NULL and a dropout rate > 0: masks are drawn into the
 * acts' drop_* (which must then be allocated) and applied; r NULL: no dropout. scratch: xf_scratch_floats. */
void xf_attn_forward(const XfCfg *c, const XfAttn *w, XfAttnActs *a, const float *x, const float *mem,
                     const uint8_t *kpad, int causal, int B, int Tq, int Tk, Rng *r, float *scratch);
/* Backward: from dout (N, C), the gradient at the sublayer output, accumulates into dx (N, C), into dmem
 * (M, C) for cross-attention, and into the gradient block g (every pointer of g non-NULL). dx must not alias
 * dout. The forward's dropout masks are reused when it applied them. */
void xf_attn_backward(const XfCfg *c, const XfAttn *w, const XfAttn *g, const XfAttnActs *a, const float *x,
                      const float *mem, int causal, float *dx, float *dmem, const float *dout, int B, int Tq,
                      int Tk, float *scratch);

void xf_mlp_forward(const XfCfg *c, const XfMlp *w, XfMlpActs *a, const float *x, int N, Rng *r);
void xf_mlp_backward(const XfCfg *c, const XfMlp *w, const XfMlp *g, const XfMlpActs *a, const float *x,
                     float *dx, const float *dout, int N, float *scratch);

/* Floats of scratch the forward and backward of any sublayer need for N rows, M memory rows, Tq x Tk maps. */
size_t xf_scratch_floats(const XfCfg *c, int N, int M, int Tq, int Tk);

/* The activation in place (XF_ACT_*): y = act(x); backward dx += act'(x) dy. */
void xf_act_forward(int act, float *y, const float *x, size_t n);
void xf_act_backward(int act, float *dx, const float *x, const float *dy, size_t n);

/* ---- one query row at a time (incremental decoding): no dropout, nothing saved; the same math as above ----
 * work: xf_step_floats(c, Tk) floats. att, when not NULL, receives the (NH, Tk) weights of the row. */
size_t xf_step_floats(const XfCfg *c, int Tk);
/* Self-attention of the row x (C) at position len: its k|v is first written to cache row len (rows of 2C, k | v),
 * then it attends to the len + 1 cached positions. out (C) = the sublayer output. */
void xf_attn_step_self(const XfCfg *c, const XfAttn *w, float *out, const float *x, float *cache, int len,
                       float *att, float *work);
/* Cross-attention of the row x (C) over Tk memory rows whose k|v (Tk, 2C) xf_cross_kv computed; kpad (Tk) or NULL. */
void xf_attn_step_cross(const XfCfg *c, const XfAttn *w, float *out, const float *x, const float *kv, int Tk,
                        const uint8_t *kpad, float *att, float *work);
/* kv (M, 2C) = mem (M, C) @ wkv^T + bkv: a cross-attention's keys and values, once per source. */
void xf_cross_kv(const XfCfg *c, const XfAttn *w, float *kv, const float *mem, int M);
void xf_mlp_step(const XfCfg *c, const XfMlp *w, float *out, const float *x, float *work);

#endif
