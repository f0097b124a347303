/* layers.h — the GPT-2 layers as pure kernels: encoder (wte + wpe), LayerNorm, tanh-GELU, residual, dropout,
 * causal multi-head attention, and the fused softmax + cross-entropy of the LM head; each with a hand-written
 * backward. Kernels take raw float pointers plus sizes, never allocate and never log. Every backward
 * *accumulates* into the gradients it is given (callers zero them first).
 * Letters: B batch, T time, C channels (d_model), NH heads, HS head size C/NH, V vocab, N rows (usually B*T). */
#ifndef LLMWB_LAYERS_H
#define LLMWB_LAYERS_H

#include <stddef.h>
#include <stdint.h>
#include "rng.h"

/* out (B, T, C) = wte[inp[b, t]] + wpe[t]; inp (B, T) token ids in [0, V). */
void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C);
/* dwte[inp[b, t]] += dout[b, t]; dwpe[t] += dout[b, t]. */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C);

/* LayerNorm over the last axis, eps 1e-5, biased variance. out, inp (N, C); weight, bias (C);
 * mean, rstd (N) are saved for the backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C);
/* The same with a chosen epsilon (BERT: 1e-12); layernorm_forward is layernorm_forward_eps(..., 1e-5f). */
void layernorm_forward_eps(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                           const float *bias, int N, int C, float eps);
void layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                             const float *bias, int N, int C);
/* dinp (N, C), dweight (C), dbias (C) += ... from dout (N, C). The two halves below, for splitting across threads:
 * layernorm_backward_dinp does dinp only (rows independent: split rows); layernorm_backward_params does the
 * parameter gradients of columns [c0, c1) summed over all N rows (split columns). */
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C);
void layernorm_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                              const float *weight, const float *mean, const float *rstd, int N, int C);
void layernorm_backward_dinp(float *dinp, const float *dout, const float *inp, const float *weight,
                             const float *mean, const float *rstd, int N, int C);
void layernorm_backward_params(float *dweight, float *dbias, const float *dout, const float *inp, const float *mean,
                               const float *rstd, int N, int C, int c0, int c1);

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). out may alias inp. */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_forward_naive(float *out, const float *inp, size_t n);
/* dinp (n) += gelu'(inp) * dout. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
void gelu_backward_naive(float *dinp, const float *inp, const float *dout, size_t n);
/* In place, overwriting: d (n) = gelu'(inp) * d (saves the zeroed buffer gelu_backward accumulates into). */
void gelu_backward_inplace(float *d, const float *inp, size_t n);

/* out = a + b (n); out may alias a or b. Its backward is an identity on both inputs (callers add). */
void residual_forward(float *out, const float *a, const float *b, size_t n);

/* Inverted dropout. dropout_mask draws mask[i] = 1 with probability 1-p (else 0) from r; the same Rng state gives
 * the same mask. dropout_forward: out = inp * mask / (1-p) (out may alias inp). dropout_backward:
 * dinp += dout * mask / (1-p). p must be in [0, 1). */
void dropout_mask(uint8_t *mask, size_t n, float p, Rng *r);
void dropout_forward(float *out, const float *inp, const uint8_t *mask, size_t n, float p);
void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, size_t n, float p);

/* Causal multi-head self-attention core (the projections are matmuls around it).
 * qkv (B, T, 3C): q | k | v along the last axis, head h at columns h*HS.. of each part.
 * out (B, T, C): per head softmax(q k^T / sqrt(HS) + causal -inf mask) [dropout] @ v, heads concatenated.
 * att (B, NH, T, T): weights after softmax, before dropout (upper triangle written as 0); saved for backward.
 * mask (B, NH, T, T) dropout mask on the weights, or NULL for no dropout; p its rate.
 * scratch: at least 2*T*T floats. */
void attention_forward(float *out, float *att, const float *qkv, const uint8_t *mask, float p, float *scratch,
                       int B, int T, int C, int NH);
void attention_forward_naive(float *out, float *att, const float *qkv, const uint8_t *mask, float p, int B, int T,
                             int C, int NH);
/* Only the (batch, head) pairs bh0 <= b * NH + h < bh1 of attention_forward (a thread's share: the pairs write
 * disjoint parts of out and att; each share needs its own scratch). */
void attention_forward_heads(float *out, float *att, const float *qkv, const uint8_t *mask, float p, float *scratch,
                             int B, int T, int C, int NH, int bh0, int bh1);
/* dqkv (B, T, 3C) += d/dqkv from dout (B, T, C); att and mask as saved by the forward. */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, const uint8_t *mask,
                        float p, float *scratch, int B, int T, int C, int NH);
void attention_backward_naive(float *dqkv, const float *dout, const float *qkv, const float *att,
                              const uint8_t *mask, float p, int B, int T, int C, int NH);
/* Pairs bh0 <= b * NH + h < bh1 of attention_backward (disjoint columns of dqkv per head). */
void attention_backward_heads(float *dqkv, const float *dout, const float *qkv, const float *att,
                              const uint8_t *mask, float p, float *scratch, int B, int T, int C, int NH, int bh0,
                              int bh1);
/* attention_forward / attention_backward with the pairs split across up to min(parts, matmul_get_threads())
 * threads, the BLAS on one thread meanwhile; scratch: parts * 2*T*T floats. Same results as one call. */
void attention_forward_threads(float *out, float *att, const float *qkv, const uint8_t *mask, float p,
                               float *scratch, int parts, int B, int T, int C, int NH);
void attention_backward_threads(float *dqkv, const float *dout, const float *qkv, const float *att,
                                const uint8_t *mask, float p, float *scratch, int parts, int B, int T, int C,
                                int NH);

/* Cross-entropy of logits (N, V) against targets (N); rows whose target is ignore_index are skipped.
 * Saves lse (N) = logsumexp of each row for the backward. Returns the sum of the per-row losses (double) and
 * sets *count to the number of rows that were not skipped. */
double crossentropy_forward(float *lse, const float *logits, const int *targets, int ignore_index, int N, int V,
                            int *count);
/* Fused softmax + cross-entropy backward, in place: logits (N, V) becomes dlogits = dloss * (softmax - onehot)
 * for kept rows and 0 for skipped rows (dloss is d(total)/d(row loss), e.g. 1/count). Overwrites, does not
 * accumulate: the logits are consumed. */
void crossentropy_backward_inplace(float *logits, const float *lse, const int *targets, int ignore_index, int N,
                                   int V, float dloss);

/* ---- optimizer kernels ---- */

/* Sum of squares of x (n), accumulated in double over float blocks. */
double vec_sumsq(const float *x, size_t n);

/* One torch.optim.AdamW update of n parameters (the caller derives the step's constants):
 *   g' = g * grad_scale; m = beta1 m + (1-beta1) g'; v = beta2 v + (1-beta2) g'^2;
 *   p = p * decay_mul - step_size * m / (sqrt(v) / bc2_sqrt + eps)
 * with decay_mul = 1 - lr*wd (1 for tensors without decay), step_size = lr / (1 - beta1^t),
 * bc2_sqrt = sqrt(1 - beta2^t). Updates p, m, v in place; g is read only. */
typedef struct AdamwCoeffs {
    float beta1, beta2, eps, grad_scale, step_size, bc2_sqrt, decay_mul;
} AdamwCoeffs;
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, const AdamwCoeffs *c);
void adamw_update_naive(float *p, const float *g, float *m, float *v, size_t n, const AdamwCoeffs *c);
/* adamw_update, then g = 0, in the same sweep over memory (the gradients are cleared for the next step while they
 * are in cache: no separate zeroing pass). */
void adamw_update_zero(float *p, float *g, float *m, float *v, size_t n, const AdamwCoeffs *c);

/* ---- encoder and encoder-decoder kernels (BERT, "Attention Is All You Need") ---- */

/* GELU, exact: 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default, HF BERT's "gelu"). out may alias inp. */
void gelu_erf_forward(float *out, const float *inp, size_t n);
/* dinp (n) += gelu_erf'(inp) * dout. */
void gelu_erf_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* nn.Linear layout, weight (OC, C): out (N, OC) = inp (N, C) @ weight^T + bias (OC; NULL for none), overwritten. */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC);
/* Accumulating: dinp (N, C) += dout @ weight; dweight (OC, C) += dout^T @ inp; dbias (OC) += column sums of
 * dout. Any of the three may be NULL (skipped). */
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC);

/* General multi-head attention core: Tq queries against Tk keys, Q, K and V read in place through row strides, so
 * the same kernel serves fused self-attention (q = qkv, k = qkv + C, v = qkv + 2C, all strides 3C),
 * cross-attention (q (B, Tq, C) from the decoder, k|v (B, Tk, 2C) from the encoder) and one decoding step against
 * a KV cache (Tq = 1). Head h is columns h*HS.. of every row; batch b starts at row b*Tq of q and out, b*Tk of k, v.
 *   out (B, Tq, C; row stride ldo) = per head softmax(q k^T / sqrt(HS) + mask) [dropout] @ v, heads concatenated
 * Key j is hidden from query i when causal and j > i + (Tk - Tq) (the queries are the last Tq positions), or when
 * kpad[b*Tk + j] is nonzero (padding; kpad (B, Tk) or NULL). A query that sees no key gets weights 0 and out 0.
 * att (B, NH, Tq, Tk): weights after softmax, before dropout, 0 where hidden; saved for the backward.
 * drop (B, NH, Tq, Tk) dropout mask on the weights or NULL; p its rate. scratch: Tq*Tk floats (backward: 2*Tq*Tk). */
typedef struct MhaShape {
    int B, Tq, Tk, C, NH;
    int ldq, ldk, ldv, ldo; /* row strides (floats) of q, k, v (and of dq, dk, dv) and of out (and dout) */
    int causal;
} MhaShape;
void mha_forward(float *out, float *att, const float *q, const float *k, const float *v, const uint8_t *kpad,
                 const uint8_t *drop, float p, float *scratch, const MhaShape *s);
void mha_forward_naive(float *out, float *att, const float *q, const float *k, const float *v, const uint8_t *kpad,
                       const uint8_t *drop, float p, const MhaShape *s);
/* Pairs bh0 <= b * NH + h < bh1 of mha_forward / mha_backward (a thread's share, its own scratch). */
void mha_forward_heads(float *out, float *att, const float *q, const float *k, const float *v, const uint8_t *kpad,
                       const uint8_t *drop, float p, float *scratch, const MhaShape *s, int bh0, int bh1);
/* dq, dk, dv (strides ldq, ldk, ldv) += gradients from dout (B, Tq, C; ldo); att and drop as saved by the forward.
 * Hidden keys get no gradient. */
void mha_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                  const float *v, const float *att, const uint8_t *drop, float p, float *scratch,
                  const MhaShape *s);
void mha_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *att, const uint8_t *drop, float p, const MhaShape *s);
void mha_backward_heads(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *att, const uint8_t *drop, float p, float *scratch,
                        const MhaShape *s, int bh0, int bh1);
/* mha_forward / mha_backward split across threads as attention_forward_threads; scratch: parts * 2*Tq*Tk. */
void mha_forward_threads(float *out, float *att, const float *q, const float *k, const float *v,
                         const uint8_t *kpad, const uint8_t *drop, float p, float *scratch, int parts,
                         const MhaShape *s);
void mha_backward_threads(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                          const float *v, const float *att, const uint8_t *drop, float p, float *scratch, int parts,
                          const MhaShape *s);

#endif
