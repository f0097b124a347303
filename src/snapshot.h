/* snapshot.h — plain copy-out structs through which front ends read the engine's state.
 * They hold no pointers into the engine: the engine's getters (engine.h, marked [any thread]) copy under an
 * internal lock, so the ncurses thread can read while the driver thread trains. */
#ifndef LLMWB_SNAPSHOT_H
#define LLMWB_SNAPSHOT_H

#include <stdint.h>

#define SNAP_TOPK 10        /* candidate pairs / next-token probabilities shown */
#define SNAP_TOKTEXT 48     /* bytes of a token's text kept for display (raw bytes, NUL-terminated) */
#define SNAP_MAX_WINDOW 128 /* tokens of the current batch's first row kept for the Embed screen */
#define SNAP_MAX_PROBE 48   /* probe tokens */
#define SNAP_NN 8           /* nearest neighbours per probe token */
#define SNAP_EVENT_TEXT 480
#define SNAP_MAX_GELU 48    /* blocks whose GELU saturation a probe snapshot keeps */
#define SNAP_GELU_DEAD (-3.0f) /* a GELU input below this: GELU(x) and GELU'(x) are within 0.012 of 0 */

typedef enum {
    ENGINE_READY,           /* can train */
    ENGINE_DONE,            /* reached train.steps */
    ENGINE_DIVERGED,        /* NaN/Inf seen: training refused until a checkpoint is loaded */
} EngineState;

/* One row of metrics.csv; val_loss is NAN on steps without an evaluation. */
typedef struct MetricPoint {
    long step;
    long tokens;            /* tokens seen so far */
    float train_loss, val_loss, lr, grad_norm, tokens_per_sec;
    double elapsed;         /* seconds of training */
} MetricPoint;

typedef struct TrainSnapshot {
    EngineState state;
    long step, total_steps;
    long tokens_seen;
    float train_loss, val_loss;   /* latest; val_loss NAN before the first eval */
    float lr, grad_norm, tokens_per_sec;
    double elapsed, eta;          /* seconds; eta < 0 when unknown */
    long n_params;
    long n_trainable;             /* parameters that get gradients (all when pretraining; adapters only with LoRA) */
    int inference_only;           /* opened on a checkpoint to chat with: step is the checkpoint's, no training */
    int watching;                 /* engine_open_watch: a read-only view of a run another process writes (WatchStatus) */
    char last_ckpt[1024];         /* the directory of the last checkpoint saved or loaded ("" = none) */
    int vocab_size, n_layer, n_head, d_model, context_length, batch_size;
    char run_dir[1024];
    int unsaved;                  /* steps since the last checkpoint */
    /* the first row of the batch just trained on: inputs over targets, and where the window starts */
    int window_len, stride;
    long window_start;            /* token offset of the window in the training split */
    int window_inputs[SNAP_MAX_WINDOW], window_targets[SNAP_MAX_WINDOW];
} TrainSnapshot;

/* A watched run (engine_open_watch): what its files say about the process that writes it. */
typedef struct WatchStatus {
    int ended;                    /* the run ended: an end line in events.log, or its trainer is gone */
    char end_text[256];           /* how ("training complete at step 40 of 40", "the trainer (pid 123) is gone ...") */
    long trainer_pid;             /* of the last start line (0 = unknown) */
    char trainer_host[128];
    long ckpt_step;               /* step of the checkpoint loaded from latest/ (-1 = none: chat waits for one) */
    long disk_ckpt_step;          /* step of the checkpoint in latest/ now (-1 = none); differs: reopen to load it */
    char error[256];              /* the last file that could not be read ("" = none) */
} WatchStatus;

typedef enum { EV_INFO, EV_EVAL, EV_SAMPLE, EV_CHECKPOINT, EV_WARNING, EV_ERROR } EventKind;
typedef struct EngineEvent {
    long seq;                     /* increasing, for "events since" */
    long step;
    EventKind kind;
    char text[SNAP_EVENT_TEXT];
} EngineEvent;

/* BPE training as shown on the Tokenizer screen. */
typedef struct BpePairRow {
    int left, right;
    long count;
    char text[SNAP_TOKTEXT];      /* the merged bytes left+right */
} BpePairRow;

typedef struct BpeMergeRow {
    int rank;                     /* 0-based merge number */
    int left, right, new_id;
    long count;                   /* occurrences merged */
    char text[SNAP_TOKTEXT];
} BpeMergeRow;

typedef struct BpeSnapshot {
    int active;                   /* a trainer exists */
    int n_merges, target_merges;
    int vocab_size;               /* 256 + n_merges (+ specials) */
    long n_bytes, n_tokens;       /* of the training text under the current merges */
    double compression;           /* n_bytes / n_tokens */
    int done;
    BpeMergeRow last;             /* valid when n_merges > 0 */
    BpePairRow top[SNAP_TOPK];    /* candidates competing for the next merge */
    int n_top;
} BpeSnapshot;

/* A token of the excerpt under the current merges. */
typedef struct BpeSegment {
    long start;                   /* byte offset in the excerpt */
    int len;
    int id;
    int just_merged;              /* produced by the last merge */
} BpeSegment;

/* One word encoded with a tokenizer's merges applied one at a time (Tokenizer screen, encode mode). */
#define TRACE_MAX_STEPS 64
#define TRACE_MAX_TOKS 64
typedef struct EncodeTrace {
    int n_steps;                  /* step 0 = bytes; each later step applies one merge */
    int n_toks[TRACE_MAX_STEPS];
    int ids[TRACE_MAX_STEPS][TRACE_MAX_TOKS];
    int merge_rank[TRACE_MAX_STEPS]; /* rank of the merge applied at that step (-1 for step 0) */
} EncodeTrace;

/* Everything the Embed and Attention screens show for the probe sentence at one training step. */
typedef struct ProbeSnapshot {
    long step;
    int T, L, NH, C;
    int ids[SNAP_MAX_PROBE];
    char tok[SNAP_MAX_PROBE][SNAP_TOKTEXT];
    float *att;                   /* (L, NH, T, T) softmax weights, rows = queries; upper triangle is 0 when causal */
    int causal;                   /* 1: causal maps (GPT), 0: full squares (BERT, model.attention bidirectional) */
    float *tok_emb, *pos_emb;     /* (T, C) rows of wte and wpe for the probe tokens */
    int nn_ids[SNAP_MAX_PROBE][SNAP_NN];   /* nearest tokens by cosine similarity of wte rows */
    float nn_sim[SNAP_MAX_PROBE][SNAP_NN];
    float *act_mean, *act_std;    /* (L+1) residual-stream stats after embeddings and each block */
    /* per block, the share of its MLP's GELU inputs below SNAP_GELU_DEAD (output and gradient all but 0 there);
     * n_gelu = L, or 0 when not measured (an architecture without it, a snapshot read back from a run's files) */
    int n_gelu;
    float gelu_dead[SNAP_MAX_GELU];
    int nonfinite;                /* NaN/Inf count in the probe forward */
    int kind;                     /* SNAP_MAP_* of att: causal (GPT) or bidirectional (an encoder) */
    /* encoder-decoder only (Ld = 0 otherwise): the probe sentence is the source (ids, tok, att above: the encoder),
     * the target is the model's own greedy translation of it; target row t is the step that wrote tgt_tok[t] */
    int Ld, Tt;                   /* decoder layers, target rows */
    int tgt_ids[SNAP_MAX_PROBE];
    char tgt_tok[SNAP_MAX_PROBE][SNAP_TOKTEXT];
    float *dec_att;               /* (Ld, NH, Tt, Tt) decoder self-attention (causal) */
    float *cross_att;             /* (Ld, NH, Tt, T) each target row over the source tokens: the alignment */
} ProbeSnapshot;

/* The kinds of attention map (arch.h's ArchMapKind, same values). */
enum { SNAP_MAP_CAUSAL, SNAP_MAP_BIDIRECTIONAL, SNAP_MAP_CROSS };

/* A special token of the model's vocabulary (Tokenizer screen): its id, its text and what it is for. */
#define SNAP_MAX_SPECIAL 8
typedef struct SpecialToken {
    int id;
    char text[SNAP_TOKTEXT];      /* "<|endoftext|>", "[CLS]", ... */
    char role[64];                /* what it does in this model and task, e.g. "starts every input" */
} SpecialToken;

/* One generated token (Chat screen and `llmwb generate`). */
typedef struct GenToken {
    int id;
    char text[SNAP_TOKTEXT];      /* the token's bytes (may be part of a UTF-8 sequence), after the space a words
                                   * tokenizer puts between words: the texts in a row are the decoded reply */
    int n_top;
    int top_ids[SNAP_TOPK];       /* most probable next tokens before sampling, after temperature */
    float top_probs[SNAP_TOPK];
    int n_cross;                  /* a translation's token: source tokens in cross (engine_gen_cross), else 0 */
    float cross[SNAP_MAX_PROBE];  /* its cross-attention row over the source tokens */
} GenToken;

#endif
