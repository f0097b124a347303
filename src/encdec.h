/* encdec.h — the encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al. 2017): parameters,
 * teacher-forced forward, hand-written backward, AdamW, and incremental decoding (greedy, sampling, beam search).
 * Letters: B batch, S source length, T target length, C d_model, F d_ff, NH heads, Vs / Vt source / target
 * vocab, Le / Ld encoder / decoder layers, Ns = B*S, Nt = B*T.
 *
 *   enc  = Le x [self-attention (bidirectional, source padding masked), MLP]   over e = E_s[src] * sqrt(C) + pos
 *   dec  = Ld x [self-attention (causal), cross-attention (queries from the decoder, keys/values from the final
 *          encoder output, source padding masked), MLP]                        over d = E_t[tgt] * sqrt(C) + pos
 *   logits = dec @ W_out^T   (W_out = E_t when tied, no bias)
 * Sublayers from xformer.h: post-LN (the paper, default) or pre-LN with a final LayerNorm after each stack;
 * dropout after the embeddings, on every sublayer output and on the attention weights; ReLU (paper) or GELU.
 * Positions: sinusoidal (the paper; a fixed table, not a parameter) or learned.
 *
 * Tensor table (Hugging Face BART/Marian names, nn.Linear layout (out, in); docs/formats.md):
 *   model.shared.weight (V, C)                                  [shared vocabulary]
 *   model.encoder.embed_tokens.weight (Vs, C), model.decoder.embed_tokens.weight (Vt, C)   [separate vocabularies]
 *   model.encoder.embed_positions.weight (max_src, C), model.decoder.embed_positions.weight (max_tgt, C) [learned]
 *   model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}, .self_attn_layer_norm.{weight,bias},
 *                            .fc1 (F, C), .fc2 (C, F), .final_layer_norm
 *   model.decoder.layers.{i}.self_attn.*, .self_attn_layer_norm.*, .encoder_attn.{q,k,v,out}_proj.*,
 *                            .encoder_attn_layer_norm.*, .fc1, .fc2, .final_layer_norm
 *   model.encoder.layer_norm, model.decoder.layer_norm                           [pre-LN only]
 *   lm_head.weight (Vt, C)                                                       [untied only]
 * Table order keeps q, k, v weights (then biases) of each attention adjacent, so self-attention is one fused
 * (3C, C) product and cross-attention's k|v one (2C, C) product. AdamW decay: 2-D Linear weights and an untied
 * lm_head. */
#ifndef LLMWB_ENCDEC_H
#define LLMWB_ENCDEC_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "rng.h"
#include "util.h"
#include "xformer.h"

typedef struct EncDecConfig {
    int n_enc_layer, n_dec_layer, n_head, d_model, d_ff;
    int max_src, max_tgt;        /* longest source / target (positions) */
    int src_vocab, tgt_vocab;    /* equal when shared_vocab */
    int shared_vocab;            /* 1: one embedding for both sides (model.shared.weight) */
    int tie_output;              /* 1: logits = dec @ E_t^T (the paper), 0: lm_head.weight */
    int learned_pos;             /* 0: sinusoidal (the paper), 1: learned */
    int scale_emb;               /* 1: embeddings times sqrt(C) (the paper) */
    int pre_ln;                  /* 0: post-LN (the paper), 1: pre-LN + final LayerNorms */
    int act;                     /* XF_ACT_RELU (the paper) or XF_ACT_GELU */
    float ln_eps;                /* 1e-5 (PyTorch's nn.Transformer) */
    float dropout, attn_dropout; /* the paper: 0.1 on sublayer outputs and embeddings */
} EncDecConfig;

typedef struct EncDecActs EncDecActs; /* private */

typedef struct EncDec {
    EncDecConfig cfg;
    GptTensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    int grads_zero;     /* 1 while the gradients are known to be 0 (optim.h): set by AdamW and zero_grad, cleared
                         * by every backward */
    float *pos_table;            /* sinusoidal (max(max_src, max_tgt), C), or NULL for learned positions */
    EncDecActs *acts;
    int B, S, T;                 /* of the last forward */
    float *logits;               /* (B, T, Vt) */
    float *enc_att;              /* (Le, B, NH, S, S) */
    float *dec_att;              /* (Ld, B, NH, T, T) causal */
    float *cross_att;            /* (Ld, B, NH, T, S): the alignment */
    float loss;
    int n_loss_tokens;
} EncDec;

/* The paper's choices for everything but sizes: shared vocabulary, tied output, sinusoidal positions, scaled
 * embeddings, post-LN, ReLU, eps 1e-5, dropout 0.1. d_ff = 4 C. */
EncDecConfig encdec_config_default(int n_layer, int n_head, int d_model, int max_len, int vocab);
size_t encdec_count_params(const EncDecConfig *c);
int encdec_init(EncDec *m, const EncDecConfig *c, LwError *e);
/* Xavier-uniform weights as the paper's reference code (tensor2tensor) and nn.Transformer; embeddings
 * N(0, C^-1/2); biases 0; LayerNorm 1/0. */
void encdec_init_weights(EncDec *m, Rng *r);
void encdec_free(EncDec *m);
GptTensor *encdec_find(const EncDec *m, const char *name);
/* Activations for batches up to B with sources up to S and targets up to T. */
int encdec_reserve(EncDec *m, int B, int S, int T, LwError *e);

/* Teacher-forced forward. src (B, S) and src_pad (B, S; nonzero = padding, or NULL); tgt_in (B, T) the decoder
 * inputs (BOS y1 .. y_{T-1}); labels (B, T) the targets (y1 .. EOS, GPT_IGNORE_INDEX on padding) or NULL.
 * Returns the mean cross-entropy over labelled positions (m->loss), or -1 without labels. Fills m->logits and the
 * three attention maps. training with r applies dropout from r. */
float encdec_forward(EncDec *m, const int *src, const uint8_t *src_pad, const int *tgt_in, const int *labels,
                     int B, int S, int T, int training, Rng *r);
/* Accumulates d(loss_scale * loss)/d(params) of the last forward (with labels) into m->grads. */
void encdec_backward(EncDec *m, float loss_scale);
/* The residual stream of the last forward: side 0 the encoder (B, S, C), 1 the decoder (B, T, C); l = 0 the
 * embeddings after dropout, l = 1..L layer l's output. NULL if out of range or no forward ran. */
const float *encdec_residual(const EncDec *m, int side, int l);
/* The final encoder output (B, S, C) of the last forward: what the cross-attention reads. */
const float *encdec_memory(const EncDec *m);
void encdec_zero_grad(EncDec *m);
float encdec_grad_norm(const EncDec *m);
void encdec_adamw_step(EncDec *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                       float grad_scale);

/* ---- incremental decoding ----
 * A cache for one source and up to n_beams hypotheses of up to max_T tokens: the decoder self-attention keys and
 * values of every step so far (per beam), and the cross-attention keys and values computed once per source. */
typedef struct EncDecCache EncDecCache;
EncDecCache *encdec_cache_open(const EncDec *m, int n_beams, int max_S, int max_T);
void encdec_cache_close(EncDecCache *kv);
/* Encodes src (S ids, no padding) and computes every layer's cross K/V; resets every beam to length 0. */
void encdec_cache_start(EncDec *m, EncDecCache *kv, const int *src, int S);
/* Feeds token at position len(beam) of beam; writes the next-token logits (Vt). cross_att (Ld, NH, S) or NULL
 * receives that step's cross-attention weights. Returns 0, or -1 if the beam is full (max_T). */
int encdec_cache_step(EncDec *m, EncDecCache *kv, int beam, int token, float *logits, float *cross_att);
int encdec_cache_len(const EncDecCache *kv, int beam);
/* Every beam back to length 0, the source kept (a new target over it). */
void encdec_cache_rewind(EncDecCache *kv);
/* The encoder self-attention maps of the source given to encdec_cache_start, (Le, NH, S, S) with row stride S. */
const float *encdec_cache_enc_att(const EncDecCache *kv);
/* New beam i continues old beam parent[i] (its cached keys/values and length), for i < n. */
void encdec_cache_reorder(EncDecCache *kv, const int *parent, int n);

typedef struct EncDecGen {
    int bos, eos;
    int max_len;          /* tokens generated at most (EOS included) */
    float temperature;    /* 0: greedy; else sampled (sampler.h: top-k, temperature, top-p) */
    int top_k;
    float top_p;
    int beam;             /* > 1: beam search (temperature ignored) */
    float len_alpha;      /* beam scores are sum(log p) / len^len_alpha (0 = none, 1 = mean log-prob) */
} EncDecGen;

/* One finished hypothesis: tokens without BOS, with the EOS if it stopped on one. */
typedef struct EncDecHyp {
    int *tokens;          /* max_len ints, owned by the caller */
    int len;
    float logprob;        /* sum of log-probabilities of the tokens */
    float score;          /* logprob / len^len_alpha */
} EncDecHyp;

/* Translates src (S ids): greedy / sampling with beam <= 1 (hyps[0] only), else beam search filling up to beam
 * hypotheses best first (n_hyps). r may be NULL unless sampling. kv must have been opened with >= max(beam, 1)
 * beams and max_T >= max_len. Returns the number of hypotheses written. */
int encdec_generate(EncDec *m, EncDecCache *kv, const int *src, int S, const EncDecGen *g, Rng *r,
                    EncDecHyp *hyps);

#endif
