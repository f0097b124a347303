/* arch.h — an architecture is one file exporting one ops table (ArchOps); the engine knows models only through it.
 *
 *   model.arch   file            table       Hugging Face model_type
 *   gpt          src/arch_gpt.c  arch_gpt    gpt2   (decoder only, causal self-attention: the book's GPTModel)
 *   bert         src/arch_bert.c arch_bert   bert   (encoder only, bidirectional, MLM head, [CLS] pooling)
 *   encdec       src/arch_encdec.c arch_encdec llmwb_encdec (encoder + decoder with cross-attention, KV-cached decode)
 *
 * Adding an architecture: write src/arch_<name>.c defining `const ArchOps arch_<name>`, add it to the list in
 * src/arch.c, add its name to model.arch in src/config.c. Nothing in engine.c changes.
 *
 * What a table owns: the tensor table (named as Hugging Face names that architecture's tensors), initialisation,
 * forward and backward for the two heads below, the AdamW update of its parameters, finetuning hooks (class head,
 * trainable subsets, LoRA), its checkpoint directory (config.json with its model_type, model.safetensors, the
 * optimizer state), the maps it publishes to the probe, and incremental decoding where it has one.
 * What it does not own: data, batches, masking, the loss's choice of targets, evaluation, samples (the task's,
 * task.h), the step loop, schedules, publishing (engine.c).
 *
 * The model handle is opaque (void *): each architecture has its own struct (Gpt in model.h). Every op takes it as
 * its first argument. Ops marked "may be NULL" are optional; the engine then reports the feature as unsupported for
 * that architecture (e.g. BERT has no decode_*; a table without enable_lora cannot do finetune.lora_rank).
 *
 * Letters: B batch, T time (decoder/only sequence), S source time (encdec), C d_model, V vocab, K classes,
 * L layers, NH heads. */
#ifndef LLMWB_ARCH_H
#define LLMWB_ARCH_H

#include <stddef.h>
#include "checkpoint.h" /* TrainState, CKPT_MERGE_LORA */
#include "config.h"
#include "rng.h"
#include "snapshot.h"
#include "util.h"

typedef struct Tokenizer Tokenizer; /* bpe.h */

enum { ARCH_KNOCK_ZERO = 1, ARCH_KNOCK_MEAN = 2 }; /* forward_ablated's knock values */
#define ARCH_IGNORE_INDEX (-100) /* a target that gives no loss (PyTorch's ignore_index); == GPT_IGNORE_INDEX */

/* Which output a forward computes. Tasks choose it (task.h): lm, mlm, instruct and translate use ARCH_HEAD_LM
 * (token logits, cross-entropy on targets), classify uses ARCH_HEAD_CLASS (class logits from one pooled position). */
typedef enum { ARCH_HEAD_LM, ARCH_HEAD_CLASS } ArchHead;

/* One batch as the task builds it. Pointers are borrowed for the duration of the forward call (the architecture
 * copies what its backward needs). */
typedef struct ArchBatch {
    ArchHead head;
    int B, T;
    const int *inputs;      /* (B, T) token ids: the sequence (decoder input for encdec) */
    const int *targets;     /* (B, T) ARCH_HEAD_LM: the id each position must predict (the next token for a causal
                             * model; the original token at a chosen position for MLM; the next target token for
                             * encdec); ARCH_IGNORE_INDEX where there is no loss. NULL: no loss (inference). */
    const int *lengths;     /* (B) real tokens per row, padding after them; NULL = all T are real. Bidirectional
                             * attention must not attend to keys at t >= lengths[b]; causal attention needs no mask
                             * because padding only follows the real tokens (gpt ignores it). */
    const int *pool;        /* (B) ARCH_HEAD_CLASS: the position whose final hidden state feeds the class head, from
                             * ArchOps.pool_position (GPT: the last real token; BERT: 0, the [CLS] token) */
    const int *labels;      /* (B) ARCH_HEAD_CLASS: class of each row, in [0, K); NULL: no loss (inference) */
    /* encoder–decoder only (S = 0 and src = NULL for the others) */
    int S;
    const int *src;         /* (B, S) source ids for the encoder */
    const int *src_lengths; /* (B) real source tokens; NULL = all S. Encoder self- and cross-attention mask the rest */
} ArchBatch;

/* Sizes the engine publishes (TrainSnapshot) and checks (resume, classifier setup). */
typedef struct ArchInfo {
    size_t n_params;        /* every tensor, incl. class head and adapters */
    size_t n_trainable;     /* the parameters that get gradients (set_trainable, LoRA) */
    int vocab_size, n_layer, n_head, d_model, context_length;
    int n_classes;          /* 0 until add_class_head */
    int lora_rank;          /* 0 = LoRA off */
    int causal;             /* 1: the sequence's self-attention is causal (next-token tasks); 0: bidirectional (mlm) */
    int n_source;           /* 1 when the forward needs ArchBatch.src (encdec), else 0 */
    int n_dec_layer;        /* encdec: decoder layers (n_layer counts the encoder's); 0 for the others */
} ArchInfo;

/* The AdamW update of one optimizer step (torch.optim.AdamW; decay only on tensors flagged for it). */
typedef struct ArchAdamW {
    float lr, beta1, beta2, eps, weight_decay;
    int t;                  /* 1-based step */
    float grad_scale;       /* gradients are first multiplied by this (global-norm clipping) */
} ArchAdamW;

/* What an architecture fills for the Embed and Attention screens, for one probe sequence of T tokens (B = 1).
 * The engine (probe.c) owns the ProbeSnapshot, allocates every array before the call with the sizes below, and
 * adds token texts and nearest neighbours itself (from token_embedding). */
typedef enum {
    ARCH_MAP_CAUSAL,        /* (L, NH, T, T) rows = queries, upper triangle 0 (GPT; encdec decoder self-attention) */
    ARCH_MAP_BIDIRECTIONAL, /* (L, NH, T, T) full squares (BERT; encdec encoder) */
    ARCH_MAP_CROSS          /* (L, NH, T, S) decoder queries over encoder keys: the alignment (encdec) */
    /* encdec's probe fills p->att with the encoder's maps (bidirectional, over the source = the probe sentence),
     * p->dec_att (causal) and p->cross_att with the decoder's over its input (BOS + the greedy translation) */
} ArchMapKind;

/* Beam search on a decoder state (ArchOps.decode_beam). */
typedef struct ArchBeam {
    int bos, eos;           /* the target's begin marker (first input) and end marker (stops a hypothesis) */
    int max_len;            /* tokens generated at most, EOS included */
    int beam;               /* width */
    float len_alpha;        /* a hypothesis scores sum(log p) / len^len_alpha */
} ArchBeam;

/* One finished hypothesis: tokens (max_len ints, the caller's) without the begin marker, with the end marker when
 * it stopped on one. */
typedef struct ArchHyp {
    int *tokens;
    int len;
    float logprob, score;
} ArchHyp;

/* The parameters as data-parallel training (dist.c) sees them: the tensor table (offsets into both blocks,
 * trainable flags) and the parameter and gradient blocks (n_params floats each). */
typedef struct ArchParams {
    const GptTensor *tensors;
    int n_tensors;
    float *params, *grads;
    size_t n_params;
} ArchParams;

/* Called by a backward when the gradients of stage `stage` are final (ArchOps.set_grad_hook). */
typedef void (*ArchGradHook)(void *ctx, int stage);

typedef struct ArchOps {
    const char *name;          /* model.arch value ("gpt") */
    const char *hf_model_type; /* model_type of its config.json ("gpt2"): how a checkpoint directory names it */
    const char *summary;       /* one line for --help and docs */

    /* ---- life ---- */
    /* A model for mc with vocab_size tokens (mc->vocab_size is ignored: the tokenizer decides), parameters zero.
     * *out owned by the caller (destroy). Errors: LW_ERR_INVALID naming the model.* key, LW_ERR_NOMEM. */
    int (*create)(void **out, const ModelCfg *mc, int vocab_size, LwError *e);
    /* The architecture's own initialisation (GPT-2's N(0, 0.02), ...), drawn from r in a fixed order. */
    void (*init_weights)(void *m, Rng *r);
    void (*destroy)(void *m);
    /* Sizes activations for batches up to (B, T) (and S source tokens for encdec; 0 otherwise). Nothing is
     * allocated inside forward/backward. Call after every finetuning setup op (class head, LoRA). */
    int (*reserve)(void *m, int B, int T, int S, LwError *e);
    void (*info)(const void *m, ArchInfo *out);
    /* Dropout probability for later training forwards (finetuning sets its own). */
    void (*set_dropout)(void *m, float p);
    /* The ModelCfg fields this model has (so a config written from a checkpoint describes it). */
    void (*to_config)(const void *m, ModelCfg *out);

    /* ---- checkpoints: the directory layout is the architecture's (docs/formats.md) ---- */
    /* Writes m (and tok, st, config_yaml when not NULL) to dir atomically; flags: 0 or CKPT_MERGE_LORA (adapters
     * folded into the weights, st must be NULL). */
    int (*save)(const void *m, const char *dir, const Tokenizer *tok, const TrainState *st, const char *config_yaml,
                int flags, LwError *e);
    /* Loads dir. *m NULL: creates the model from dir's config.json (with class head and adapters when the directory
     * has them; caller destroys it even on failure). *m set: loads into it, shapes must match (error names the
     * tensor). tok, st may be NULL; *tok = the directory's tokenizer or NULL if it has none; st and the optimizer
     * moments are read only when st is given (error if the directory is not resumable). flags: 0 or
     * CKPT_ALLOW_NONFINITE (NaN/Inf values load instead of being refused). */
    int (*load)(void **m, const char *dir, Tokenizer **tok, TrainState *st, int flags, LwError *e);

    /* ---- training ---- */
    /* Forward of batch b (B <= reserved B, T <= reserved T). With targets/labels returns the mean loss over the
     * positions/rows that count, else -1. training = 1 applies dropout drawn from r (r may be NULL without dropout). */
    float (*forward)(void *m, const ArchBatch *b, int training, Rng *r);
    /* Backward of the last forward (which had a loss): *accumulates* into the gradients, scaled by loss_scale. */
    void (*backward)(void *m, float loss_scale);
    /* The last forward's outputs: ARCH_HEAD_LM (B, T, V) logits (valid until the backward, which consumes them);
     * ARCH_HEAD_CLASS (B, K) class logits. NULL when the last forward computed the other head. */
    const float *(*logits)(const void *m);
    const float *(*class_logits)(const void *m);
    void (*zero_grad)(void *m);
    /* Global L2 norm of the trainable gradients. */
    float (*grad_norm)(const void *m);
    void (*adamw_step)(void *m, const ArchAdamW *p);

    /* ---- data-parallel training (dist.c) ---- */
    /* The tensor table and the parameter and gradient blocks. */
    void (*params)(void *m, ArchParams *out);
    /* The backward stage after which tensor i's gradient is final: s >= 0 when the backward calls the hook with s
     * once it is (GPT: s = L for the tensors above the blocks, s = l for block l's tensors and adapters), -1 when
     * it is final only when backward returns (GPT: the embeddings, which a tied head also writes). May be NULL
     * (every tensor -1: one allreduce after the backward, as bert and encdec do). */
    int (*grad_stage)(const void *m, int i);
    /* Later backwards call fn(ctx, s) for the stages s in descending order as they finish; fn NULL removes the hook.
     * May be NULL (no overlap of communication with the backward). */
    void (*set_grad_hook)(void *m, ArchGradHook fn, void *ctx);

    /* ---- finetuning ---- */
    /* The position of a row of len real tokens that feeds the class head (GPT: len - 1; BERT: 0). */
    int (*pool_position)(const void *m, int len);
    /* Adds a K-way class head (drawn from r, zeros when r is NULL); LW_ERR_INVALID for K < 2 or a second head. */
    int (*add_class_head)(void *m, int n_classes, Rng *r, LwError *e);
    /* Which tensors train: mode is FtTrainable (head, last_blocks + final norm, all). */
    void (*set_trainable)(void *m, int mode, int last_blocks);
    /* LoRA adapters (then only they train); may be NULL (LoRA unsupported). */
    int (*enable_lora)(void *m, int rank, float alpha, const char *targets, Rng *r, LwError *e);

    /* ---- probe (Embed and Attention screens) ---- */
    /* Kind of the maps probe writes into p->att. */
    ArchMapKind map_kind;
    /* Runs an inference forward on b (B = 1, no targets; inputs are the probe tokens, T <= the reserved T; src and
     * S the probe's source for encdec) and fills p->att (L, NH, T, T), p->tok_emb and
     * p->pos_emb (T, C) (the rows of the token and position embeddings of the ids; zero rows when the position
     * encoding is not learned), p->act_mean/act_std (L + 1) (residual stream after the embeddings and after each
     * block) and p->nonfinite (NaN/Inf in the forward). p->L, NH, C, T are set by the caller from info. The
     * cross-attention maps of encdec need arrays ProbeSnapshot does not have yet (an addition to snapshot.h and
     * probe.c's copy/free, not to engine.c). */
    void (*probe)(void *m, const ArchBatch *b, ProbeSnapshot *p);
    /* The token embedding matrix (V, C) in params, for nearest neighbours. */
    const float *(*token_embedding)(const void *m);

    /* ---- incremental decoding (generation, instruct evaluation); all NULL when the architecture does not
     * generate (BERT: the mlm task fills masks with forward instead) ---- */
    /* A decoder state for up to max_T tokens (clamped to the context); owned by the caller (decode_close). */
    void *(*decode_open)(const void *m, int max_T);
    void (*decode_close)(void *kv);
    /* Forgets the tokens fed so far (encdec keeps the source until the next decode_source). */
    void (*decode_reset)(void *kv);
    /* Tokens fed so far. */
    int (*decode_len)(const void *kv);
    /* encdec: encodes src (S tokens) once and keeps the cross-attention keys/values for the following steps; NULL
     * for decoder-only models. Returns 0, or nonzero when S does not fit. */
    int (*decode_source)(void *m, void *kv, const int *src, int S);
    /* Feeds n tokens at positions decode_len..+n-1 and writes the logits of the last one to logits (V); gives the
     * logits of the full forward. Returns 0, or nonzero if the context would overflow (nothing fed then). */
    int (*decode_step)(void *m, void *kv, const int *tokens, int n, float *logits);
    /* Makes dst (from decode_open on the same model) a copy of src: beam search keeps one state per beam and
     * reorders them. May be NULL (no beam search). */
    void (*decode_copy)(void *dst, const void *src);
    /* encdec (NULL for the others): beam search over the source of decode_source, up to max_hyps hypotheses best
     * first (returns how many); the state's tokens are then undefined (decode_reset before stepping again). */
    int (*decode_beam)(void *m, void *kv, const ArchBeam *p, ArchHyp *hyps, int max_hyps);
    /* encdec: the cross-attention weights of the last decode_step's token, (L_dec, NH, S) with *S the source length;
     * NULL for the others. */
    const float *(*decode_cross)(const void *kv, int *S);
    /* encdec: the beam width and length penalty the model was configured with (model.beam, model.length_penalty). */
    void (*decode_settings)(const void *m, int *beam, float *len_alpha);

    /* ---- looking inside (inspect.c: the logit lens, head ablation); NULL when the architecture has no such view
     * yet (the engine then says so) ---- */
    /* The logit lens of row 0 of the last ARCH_HEAD_LM forward (T its length): the final norm and the output head
     * applied to the residual stream after layer l (l = 0: the embeddings; l = n_layer: the model's own logits),
     * into out (T, V). */
    void (*lens_logits)(void *m, int l, int T, float *out);
    /* An inference forward of b (ARCH_HEAD_LM, with targets) with the heads flagged in knock (n_layer, n_head):
     * ARCH_KNOCK_ZERO: that head's slice of the attention output is zero before the output projection;
     * ARCH_KNOCK_MEAN: it is replaced by its mean over every position of b (mean ablation: the head still adds its
     * average, but no longer depends on the input); 0: untouched. Returns the mean loss. The weights are the same
     * afterwards, bit for bit. */
    float (*forward_ablated)(void *m, const ArchBatch *b, const unsigned char *knock);
    /* Training health, between clipping and adamw_step: per group of tensors (0 the embeddings, 1..n_layer the
     * blocks, n_layer + 1 the final norm and heads; trainable tensors only) the sums of squares of the gradients
     * (as adamw_step will use them: times p->grad_scale), of the weights, and of the change p's AdamW step is about
     * to make to them (decay and update). Writes n_layer + 2 values into each array. */
    void (*layer_health)(const void *m, const ArchAdamW *p, double *grad2, double *weight2, double *update2);
} ArchOps;

/* The registered architectures (src/arch.c), in the order --help lists them. */
extern const ArchOps *const arch_list[];
extern const int arch_count;
/* The table called name ("gpt"), or NULL. */
const ArchOps *arch_find(const char *name);
/* The table whose hf_model_type is dir/config.json's model_type; a config.json without model_type is GPT-2 (old
 * checkpoints of ours and OpenAI's downloads). LW_ERR_IO/LW_ERR_INVALID naming the file when unreadable or unknown. */
int arch_for_checkpoint(const char *dir, const ArchOps **out, LwError *e);

/* What every architecture's probe copies after its forward (ArchOps.probe), for arch_probe_fill. */
typedef struct ArchProbeFill {
    const float *att;         /* (L, NH, T, T) the maps for p->att (encdec: the encoder's, T = S) */
    const float *wte;         /* (V, C) the token embedding */
    const float *wpe;         /* (>= T, C) the position rows, learned or a fixed table; NULL = none (zeros) */
    const int *ids;           /* (T) the probe tokens (encdec: the source) */
    int T, L, NH, C;
    /* the residual stream (T, C) after the embeddings (l = 0) and after block l of m, or NULL when not kept */
    const float *(*residual)(const void *m, int l);
    const void *m;
    const float *logits;      /* (n_logits) the forward's logits, counted in p->nonfinite */
    size_t n_logits;
    /* optional: the GELU inputs of block l (1..L) of m, *n of them; NULL = the architecture does not say */
    const float *(*gelu_input)(const void *m, int l, size_t *n);
} ArchProbeFill;
/* Into p (arrays allocated by probe.c): att, the embedding rows of the probe tokens, the mean and standard deviation
 * of residual(m, 0..L), the NaN/Inf count of those streams and the logits, and (with gelu_input) each block's share of
 * GELU inputs below SNAP_GELU_DEAD. */
void arch_probe_fill(ProbeSnapshot *p, const ArchProbeFill *f);

extern const ArchOps arch_gpt, arch_bert, arch_encdec;

#endif
