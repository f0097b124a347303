/* bert.h — a BERT-style encoder as Hugging Face's BertForMaskedLM (plus BertForSequenceClassification's pooler
 * and classifier when asked for): parameters, forward, hand-written backward, AdamW, and the masked-LM masking.
 * Letters: B batch, T time, C d_model (hidden_size), F d_ff (intermediate_size), V vocab, L layers, NH heads,
 * P max_position, S type_vocab_size (segments), K n_classes, N = B*T.
 *
 *   h0  = LN_emb(word[ids] + position[t] + token_type[seg])  -> dropout
 *   h   = L x encoder layer (xformer.h: bidirectional self-attention with the key padding mask, then GELU MLP;
 *         post-LN as BERT by default, pre-LN optional with a final LayerNorm)
 *   MLM = LN_head(gelu(h W_t^T + b_t)) @ word^T + cls.predictions.bias        (decoder tied to the embedding)
 *   CLS = classifier(tanh(h[:, 0] W_p^T + b_p))                                  (the [CLS] vector, BertPooler)
 *
 * Parameters, gradients and AdamW moments are each one block carved by a tensor table with HF names (GptTensor
 * from model.h, Linear layout (out, in)); see docs/formats.md. Table order keeps each layer's query, key and
 * value weights (and then their biases) adjacent so they are one fused (3C, C) product; names stay HF's.
 *   bert.embeddings.word_embeddings.weight (V, C)       bert.embeddings.position_embeddings.weight (P, C)
 *   bert.embeddings.token_type_embeddings.weight (S, C) [S > 0]   bert.embeddings.LayerNorm.weight/.bias (C)
 *   bert.encoder.layer.{i}.attention.self.{query,key,value}.weight (C, C) / .bias (C)
 *   bert.encoder.layer.{i}.attention.output.dense.weight (C, C) / .bias,  ...attention.output.LayerNorm.*
 *   bert.encoder.layer.{i}.intermediate.dense.weight (F, C) / .bias (F)
 *   bert.encoder.layer.{i}.output.dense.weight (C, F) / .bias (C),   ...output.LayerNorm.weight/.bias
 *   bert.encoder.LayerNorm.weight/.bias (C)                [pre-LN only; not in HF]
 *   cls.predictions.transform.dense.weight (C, C) / .bias, cls.predictions.transform.LayerNorm.weight/.bias
 *   cls.predictions.bias (V)                               (HF also stores it as cls.predictions.decoder.bias)
 *   bert.pooler.dense.weight (C, C) / .bias, classifier.weight (K, C) / .bias (K)   [n_classes > 0]
 * AdamW decay applies to the 2-D Linear weights only (not embeddings, LayerNorms, biases). */
#ifndef LLMWB_BERT_H
#define LLMWB_BERT_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "rng.h"
#include "util.h"
#include "xformer.h"

typedef struct BertConfig {
    int n_layer, n_head, d_model, d_ff, max_position, vocab_size;
    int type_vocab_size; /* segment embeddings (BERT: 2); 0 = none */
    int pre_ln;          /* 0: post-LN as BERT (the default: what checkpoints expect), 1: pre-LN + final LN */
    int act;             /* XF_ACT_GELU (HF "gelu", erf) or XF_ACT_GELU_TANH ("gelu_new") */
    float ln_eps;        /* BERT: 1e-12 */
    float dropout;       /* hidden_dropout_prob: embeddings, attention output, MLP output */
    float attn_dropout;  /* attention_probs_dropout_prob */
    int n_classes;       /* > 0: add bert.pooler + classifier (K classes) */
} BertConfig;

typedef struct BertActs BertActs; /* private */

typedef struct Bert {
    BertConfig cfg;
    GptTensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;
    int grads_zero;     /* 1 while the gradients are known to be 0 (optim.h): set by AdamW and zero_grad, cleared
                         * by every backward */
    BertActs *acts;
    int B, T;            /* of the last forward */
    float *att;          /* (L, B, NH, T, T) attention weights of the last forward (after softmax) */
    int mlm_rows_only;   /* 0 (default): the MLM head runs on every row, logits (B*T, V); 1: when training with
                          * labels, only on the labelled rows (faster: BERT's gather of masked positions) */
    float *logits;       /* (n_rows, V) MLM logits of the rows in rows[] */
    int *rows;           /* (n_rows) row indices b*T + t the MLM head ran on */
    int n_rows;
    float *class_logits; /* (B, K) after bert_forward_classify */
    float loss;          /* mean loss of the last forward with labels, or -1 */
    int n_loss_tokens;
} Bert;

/* The BERT-base defaults for everything but sizes: S 2, post-LN, erf GELU, eps 1e-12, dropout 0.1/0.1. */
BertConfig bert_config_default(int n_layer, int n_head, int d_model, int max_position, int vocab_size);
size_t bert_count_params(const BertConfig *c);
/* Allocates the table and params/grads/moments (zeros). LW_ERR_INVALID names the bad field. */
int bert_init(Bert *m, const BertConfig *c, LwError *e);
/* BERT's initialisation: Linear and embedding weights N(0, 0.02), biases 0, LayerNorm 1/0. */
void bert_init_weights(Bert *m, Rng *r);
void bert_free(Bert *m);
GptTensor *bert_find(const Bert *m, const char *name);
/* Sizes the activations for batches up to (B, T), T <= max_position. */
int bert_reserve(Bert *m, int B, int T, LwError *e);

/* Encoder + MLM head on ids (B, T). segments (B, T) or NULL (all 0); pad (B, T) nonzero = padding key, or NULL.
 * labels (B, T) or NULL: with labels the mean cross-entropy over the rows whose label is not GPT_IGNORE_INDEX (-100)
 * is returned (also m->loss; 0 when no row is labelled), without -1. The head runs on every row (rows[i] = i), or
 * with mlm_rows_only and labels only on the labelled ones. training with r applies dropout from r. Fills m->att, m->rows, m->logits. */
float bert_forward(Bert *m, const int *ids, const int *segments, const uint8_t *pad, const int *labels, int B,
                   int T, int training, Rng *r);
/* Accumulates d(loss_scale * loss)/d(params) of the last bert_forward (with labels) into m->grads. */
void bert_backward(Bert *m, float loss_scale);

/* Encoder + pooler + classifier (needs n_classes > 0): fills m->class_logits (B, K); with labels (B) returns the
 * mean cross-entropy, without -1. The MLM head is not run. */
float bert_forward_classify(Bert *m, const int *ids, const int *segments, const uint8_t *pad, const int *labels,
                            int B, int T, int training, Rng *r);
void bert_backward_classify(Bert *m, float loss_scale);

/* The encoder's output (B, T, C) of the last forward. */
const float *bert_hidden(const Bert *m);
/* The residual stream of the last forward, (B, T, C): l = 0 the embeddings (after LayerNorm and dropout), l = 1..L
 * layer l's output. NULL if l is out of range or no forward ran. */
const float *bert_residual(const Bert *m, int l);

/* Adds bert.pooler.* and classifier.* (K = n_classes) to a model built without them (e.g. loaded from an MLM
 * checkpoint): weights N(0, 0.02) from r (zeros if r is NULL), biases 0; parameters keep their values, the
 * activations are re-reserved for the same sizes. LW_ERR_INVALID for K < 2 or a second head. */
int bert_add_class_head(Bert *m, int n_classes, Rng *r, LwError *e);
/* Which tensors train (GPT_TRAIN_* of model.h): HEAD the pooler + classifier (without a class head: the MLM
 * transform, its LayerNorm and bias); LAST_BLOCKS the last last_blocks layers (+ the pre-LN final LayerNorm) and
 * the head; ALL everything. Frozen tensors get no AdamW update and do not count in bert_grad_norm (their gradients
 * are still computed). */
void bert_set_trainable(Bert *m, int mode, int last_blocks);

void bert_zero_grad(Bert *m);
float bert_grad_norm(const Bert *m);
/* torch.optim.AdamW step t (1-based) as gpt_adamw_step: decay on tensors with decay = 1, gradients scaled first,
 * and 0 afterwards. */
void bert_adamw_step(Bert *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                     float grad_scale);

/* ---- the masked-LM objective (BERT's create_masked_lm_predictions) ----
 * For each row b of tokens (B, T): the eligible positions are those whose token is not in special[0..n_special)
 * ([CLS], [SEP], [PAD]); n = max(1, round(prob * eligible)) of them (none if none is eligible) are chosen by a
 * partial Fisher-Yates shuffle drawn from r; each chosen position gets label = the original token and, by one
 * rng_uniform u: u < 0.8 -> mask_id, u < 0.9 -> a random id from [rand_lo, rand_hi) (rng_below), else unchanged.
 * Draw order, per chosen slot i: rng_below (the swap), rng_uniform, then rng_below only for a random token.
 * Every other label is GPT_IGNORE_INDEX. inputs (B, T) receives the corrupted tokens (may alias tokens).
 * scratch: T ints. Returns the number of chosen positions. A pure function of its arguments and r's state. */
typedef struct BertMaskSpec {
    float prob;                /* 0.15 */
    int mask_id;               /* [MASK] */
    int rand_lo, rand_hi;      /* random replacements, e.g. the ordinary (non-special) ids */
    const int *special;        /* never chosen */
    int n_special;
} BertMaskSpec;
int bert_mlm_mask(int *inputs, int *labels, const int *tokens, int B, int T, const BertMaskSpec *spec, Rng *r,
                  int *scratch);

#endif
