/* model.h — the GPT-2 model (the book's GPTModel): parameters, forward, hand-written backward, AdamW.
 * Letters used in shapes: B batch, T time, C d_model, V vocab, L layers, NH heads, HS head size (C/NH).
 *
 * Parameters, gradients and AdamW moments are each one contiguous block carved by a tensor table whose names
 * and layouts are Hugging Face GPT-2's ("wte.weight" (V,C), "wpe.weight" (maxT,C), "h.0.ln_1.weight" (C),
 * "h.0.attn.c_attn.weight" (C,3C) Conv1D layout (in,out), ..., "ln_f.bias" (C), and "lm_head.weight" (V,C)
 * only when the head is untied), so a checkpoint is a straight copy of the table. Tensors absent from our model
 * but present in HF files (c_attn.bias when qkv_bias is false) are written as zeros by the checkpoint code.
 * Activations are sized for (B, T) by gpt_reserve(); nothing is allocated inside a step. */
#ifndef LLMWB_MODEL_H
#define LLMWB_MODEL_H

#include <stddef.h>
#include "rng.h"
#include "util.h"

typedef struct GptConfig {
    int n_layer, n_head, d_model, context_length, vocab_size;
    float dropout;      /* embedding, attention-weight and residual dropout */
    int qkv_bias;       /* bias on the q,k,v projections */
    int tie_embeddings; /* LM head shares wte */
} GptConfig;

typedef struct GptTensor {
    char name[64];      /* HF GPT-2 name */
    int ndim;
    int shape[2];
    size_t offset;      /* in floats, into params/grads/m/v */
    size_t numel;
    int decay;          /* 1 if AdamW weight decay applies (2-D weights), 0 for biases, LayerNorm, embeddings */
} GptTensor;

typedef struct GptActs GptActs; /* private: activation buffers for (B, T) */

typedef struct Gpt {
    GptConfig cfg;
    GptTensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v; /* each n_params floats; grads/m/v allocated by gpt_init too */
    int B, T;           /* sizes the activations were reserved for */
    GptActs *acts;
    float *logits;      /* (B, T, V) after gpt_forward */
    float *att;         /* (L, B, NH, T, T) attention weights (after softmax, before dropout) of the last forward */
    float loss;         /* mean loss of the last forward with targets, or -1 */
    int n_loss_tokens;  /* targets that were not ignored in the last forward */
} Gpt;

#define GPT_IGNORE_INDEX (-100)

/* Number of parameters of a config (book: 163,009,536 untied / 124,412,160 tied for GPT_CONFIG_124M). */
size_t gpt_count_params(const GptConfig *c);
/* Allocates params, grads, moments and the tensor table; parameters are zero until gpt_init_weights. */
int gpt_init(Gpt *m, const GptConfig *c, LwError *e);
/* GPT-2 initialisation: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0, LN 1/0. */
void gpt_init_weights(Gpt *m, Rng *r);
void gpt_free(Gpt *m);
/* The tensor called name, or NULL. */
GptTensor *gpt_find(const Gpt *m, const char *name);
/* Sizes activation buffers for batches of up to (B, T), T <= context_length. */
int gpt_reserve(Gpt *m, int B, int T, LwError *e);

/* Forward on inputs (B, T). With targets (B, T; GPT_IGNORE_INDEX entries ignored) computes the mean
 * cross-entropy into m->loss and returns it; without targets returns -1. training=1 applies dropout drawn from
 * r (r may be NULL when dropout is 0 or training is 0). Fills m->logits and m->att. */
float gpt_forward(Gpt *m, const int *inputs, const int *targets, int B, int T, int training, Rng *r);
/* Backward of the last forward (which must have had targets); *accumulates* into m->grads, scaled by
 * loss_scale (1/grad_accum for accumulation). */
void gpt_backward(Gpt *m, float loss_scale);
void gpt_zero_grad(Gpt *m);
/* Global L2 norm of the gradients. */
float gpt_grad_norm(const Gpt *m);
/* One AdamW step (decoupled decay on tensors with decay=1) at step t (1-based), gradients first scaled by
 * grad_scale (clipping factor). */
void gpt_adamw_step(Gpt *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                    float grad_scale);

/* Incremental decoding with a KV cache: feed tokens one (or more) at a time; logits of the last position are
 * written to out (V). Gives the same logits as a full forward. */
typedef struct GptKvCache GptKvCache;
GptKvCache *gpt_kv_open(const Gpt *m, int max_T);
void gpt_kv_close(GptKvCache *kv);
void gpt_kv_reset(GptKvCache *kv);
int gpt_kv_len(const GptKvCache *kv);
/* Feeds n tokens at positions kv_len..kv_len+n-1; returns 0, or nonzero if the context would overflow. */
int gpt_kv_forward(Gpt *m, GptKvCache *kv, const int *tokens, int n, float *out_logits);

#endif
