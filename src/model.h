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
    int bidirectional;  /* 0: causal self-attention (GPT); 1: every position attends to every other (the mlm task
                         * on a GPT-sized model; no KV-cached decoding then) */
} GptConfig;

typedef struct GptTensor {
    char name[64];      /* HF GPT-2 name */
    int ndim;
    int shape[2];
    size_t offset;      /* in floats, into params/grads/m/v */
    size_t numel;
    int decay;          /* 1 if AdamW weight decay applies (2-D weights incl. score.weight and LoRA A/B), 0 for
                         * biases, LayerNorm, embeddings */
    int role;           /* GPT_ROLE_BASE, GPT_ROLE_CLASS_HEAD or GPT_ROLE_LORA */
    int trainable;      /* 1: gets gradients and AdamW updates; 0: frozen (bit-identical across steps) */
} GptTensor;

/* Tensor roles. Base tensors are the GPT-2 table above (written to model.safetensors); the class head
 * ("score.weight" (n_classes, C) Linear layout, "score.bias" (n_classes)) follows them and is written to
 * model.safetensors too; LoRA adapters come last ("h.N.attn.c_attn.lora_A" (in, r), "...lora_B" (r, out), same for
 * "h.N.attn.c_proj", "h.N.mlp.c_fc", "h.N.mlp.c_proj", and "score.lora_A"/"lm_head.lora_A" for the head) and are
 * written to adapter_model.safetensors. Table order is always: base, class head, adapters; offsets are contiguous
 * in that order, so the adapters are one contiguous tail of params/grads/moments. */
enum { GPT_ROLE_BASE = 0, GPT_ROLE_CLASS_HEAD = 1, GPT_ROLE_LORA = 2 };

/* Trainable subsets for gpt_set_trainable (same values as config.h's FtTrainable). */
enum { GPT_TRAIN_HEAD = 0, GPT_TRAIN_LAST_BLOCKS = 1, GPT_TRAIN_ALL = 2 };

/* LoRA target bits (gpt_enable_lora's "attn,proj,fc,fcproj,head"). */
enum {
    GPT_LORA_ATTN = 1,   /* h.N.attn.c_attn   (C -> 3C) */
    GPT_LORA_PROJ = 2,   /* h.N.attn.c_proj   (C -> C) */
    GPT_LORA_FC = 4,     /* h.N.mlp.c_fc      (C -> 4C) */
    GPT_LORA_FCPROJ = 8, /* h.N.mlp.c_proj    (4C -> C) */
    GPT_LORA_HEAD = 16   /* the class head score (C -> n_classes) if present, else an untied lm_head (C -> V) */
};

typedef struct GptActs GptActs; /* private: activation buffers for (B, T) */

typedef struct Gpt {
    GptConfig cfg;
    GptTensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v; /* each n_params floats; grads/m/v allocated by gpt_init too */
    int grads_zero;     /* 1 while the gradients are known to be 0 (optim.h): set by AdamW and zero_grad, cleared
                         * by every backward */
    int B, T;           /* sizes the activations were reserved for */
    GptActs *acts;
    float *logits;      /* (B, T, V) after gpt_forward */
    float *att;         /* (L, B, NH, T, T) attention weights (after softmax, before dropout) of the last forward */
    float loss;         /* mean loss of the last forward with targets, or -1 */
    int n_loss_tokens;  /* targets that were not ignored in the last forward */
    /* finetuning (all 0/NULL for a plain LM) */
    int n_classes;      /* > 0 once gpt_add_class_head was called */
    float *class_logits; /* (B, n_classes) after gpt_forward_classify */
    int lora_rank;      /* 0 = LoRA off */
    float lora_alpha;   /* forward adds (lora_alpha / lora_rank) * x A B to each adapted product */
    int lora_targets;   /* GPT_LORA_* bits */
    int n_base_tensors; /* tensors of role BASE (the first n_base_tensors of the table) */
    /* data-parallel training (dist.c): when set, the backwards call grad_hook(grad_hook_ctx, L) once the gradients
     * above the blocks (ln_f, an untied lm_head, the class head and their adapters) are final, then (.., l) after
     * block l's (its tensors and adapters); the embeddings' are final when the backward returns */
    void (*grad_hook)(void *ctx, int stage);
    void *grad_hook_ctx;
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
 * grad_scale (clipping factor). The gradients are 0 afterwards (cleared in the same sweep, see optim.h). */
void gpt_adamw_step(Gpt *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                    float grad_scale);

/* ---- finetuning (issue 5). Setup order: gpt_init -> [ckpt_load / gpt_init_weights] -> gpt_add_class_head ->
 * gpt_enable_lora -> gpt_set_trainable -> gpt_reserve. (Calling the first two after gpt_reserve also works: they
 * re-reserve the same (B, T); params/grads/moments are reallocated and keep their values.) ---- */

/* Adds the classification head "score.weight" (n_classes, C) ~ N(0, 0.02) from r (zeros if r is NULL) and
 * "score.bias" (n_classes) = 0, role GPT_ROLE_CLASS_HEAD, trainable. Once per model; LoRA must not be on yet.
 * LW_ERR_INVALID for n_classes < 2 or a second call. */
int gpt_add_class_head(Gpt *m, int n_classes, Rng *r, LwError *e);

/* Classifier forward on inputs (B, T): runs the blocks, then ln_f and the head only at row b's position last[b]
 * (0 <= last[b] < T: the last real, non-padding token; later positions cannot influence it, causal attention).
 * The LM head is not computed (m->logits is not touched). Fills m->class_logits (B, n_classes). With labels (B, in
 * [0, n_classes)) returns the mean cross-entropy over B (also in m->loss; n_loss_tokens = B); labels NULL: returns
 * -1 (inference). training/r as gpt_forward. m->att and gpt_residual are filled as by gpt_forward. */
float gpt_forward_classify(Gpt *m, const int *inputs, const int *last, const int *labels, int B, int T,
                           int training, Rng *r);
/* Backward of the last gpt_forward_classify (which must have had labels); accumulates into m->grads scaled by
 * loss_scale. Gradient flows only from the B selected positions; like gpt_backward it stops below the lowest
 * block holding a trainable tensor and writes no gradient for frozen tensors. */
void gpt_backward_classify(Gpt *m, float loss_scale);

/* Chooses which tensors train (GptTensor.trainable). With a class head:
 *   GPT_TRAIN_HEAD         score.weight/bias only (the backward stops at the head: no block is visited)
 *   GPT_TRAIN_LAST_BLOCKS  the last last_blocks blocks (clamped to [0, L]) + ln_f + score.* (the book: 1)
 *   GPT_TRAIN_ALL          everything
 * Without a class head (LM / instruction finetuning) "head" means the output projection: lm_head.weight when untied;
 * when tied it is wte.weight, which is also the input embedding, so its gradient (as in PyTorch) needs the full
 * backward. With LoRA on, mode and last_blocks are ignored: only the adapters train, plus the class head when it
 * has no adapter of its own (the book wraps the head too, and then only its adapter trains).
 * Frozen tensors get no gradient, no AdamW update and no weight decay; gpt_grad_norm counts trainable ones only. */
void gpt_set_trainable(Gpt *m, int mode, int last_blocks);

/* Turns LoRA on: for every block, adapters on the matrices named in targets (comma list of "attn", "proj", "fc",
 * "fcproj", "head"; spaces allowed), A (in, rank) as the book's kaiming_uniform_(A, a=sqrt(5)) — torch takes
 * fan_in = size(1) = rank, so U(-1/sqrt(rank), 1/sqrt(rank)) — drawn from r (zeros if r is NULL, e.g. before loading
 * saved adapters), B (rank, out) zeros, so the model's function is unchanged until B trains. Then sets trainable as
 * gpt_set_trainable describes for LoRA. Must come after gpt_add_class_head. Errors (LW_ERR_INVALID): rank < 1 or
 * > d_model, alpha <= 0, unknown or empty targets (names the word), LoRA already on; LW_ERR_UNSUPPORTED: "head"
 * with neither a class head nor an untied lm_head (a tied head cannot be merged without changing the embedding). */
int gpt_enable_lora(Gpt *m, int rank, float alpha, const char *targets, Rng *r, LwError *e);
/* Parses a targets list into GPT_LORA_* bits; returns LW_OK or LW_ERR_INVALID naming the unknown word. */
int gpt_lora_parse_targets(const char *targets, int *bits, LwError *e);
/* Writes the canonical comma list of bits ("attn,proj,fc,fcproj,head" order) into out. */
void gpt_lora_format_targets(int bits, char *out, size_t n);
/* For base tensor t (a 2-D weight): adds (alpha/rank) * A B (transposed for the Linear-layout heads) into w, which
 * holds t's values (t->numel floats). Returns 1 if t has an adapter, 0 if not (w untouched). */
int gpt_lora_add_delta(const Gpt *m, const GptTensor *t, float *w);
/* Folds every adapter into its base weight (W += (alpha/rank) A B), removes the adapter tensors and turns LoRA off;
 * every remaining tensor becomes trainable (call gpt_set_trainable again if needed). Logits are unchanged (fp32
 * rounding). No-op when LoRA is off. */
void gpt_merge_lora(Gpt *m);

/* The residual stream of the last forward (gpt_forward or gpt_forward_classify), (B, T, C) with that call's B, T:
 * l = 0 the embedding sum after dropout, l = 1..L block l's output. NULL if l is out of range or no forward ran. */
const float *gpt_residual(const Gpt *m, int l);
/* The GELU inputs (the MLP's first linear layer's outputs) of block l (1..L) in the last forward, (B, T, 4C): *n
 * of them; NULL before any forward or for l outside 1..L. */
const float *gpt_gelu_input(const Gpt *m, int l, size_t *n);
/* The attention output of block l (0..L-1) in the last forward, before c_proj: the heads' context vectors side by
 * side, (B, T, C) with that call's B, T (head h in columns h*C/NH ..); NULL before any forward or out of range. */
const float *gpt_attn_out(const Gpt *m, int l);

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
