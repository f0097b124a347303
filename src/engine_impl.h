/* engine_impl.h — inside the engine: the Engine struct and the helpers its files share. Not public: ui/ and cli.c
 * use engine.h only. The engine is split by concern:
 *   engine.c      open/close, the step loop, evaluation, checkpoints, publishing and the published getters
 *   arch.c        the architecture tables (arch.h; arch_gpt.c ...): the model
 *   task.c        the task tables (task.h; task_lm.c, task_classify.c, task_instruct.c): data, batches, evaluation
 *   probe.c       probe snapshots for the Embed and Attention screens
 *   generate.c    sampling, chat replies, classifier answers
 *   engine_bpe.c  the run's tokenizer (trained, cached, loaded), the Tokenizer screen's trainer, token queries
 *
 * Locking: `mu` guards everything under "published" plus the BPE trainer (its steps are short). The driver never
 * holds `mu` during a training step; it takes it only to publish. */
#ifndef LLMWB_ENGINE_IMPL_H
#define LLMWB_ENGINE_IMPL_H

#include <pthread.h>
#include <stdio.h>

#include "arch.h"
#include "bpe.h"
#include "checkpoint.h"
#include "dist.h"
#include "engine.h"
#include "rng.h"
#include "task.h"

#define EVENT_RING 256

struct Engine {
    Config cfg;
    char run_dir[CFG_PATH_MAX];
    volatile int *abort_flag;
    int inference_only;         /* opened on a checkpoint: no data, no training */
    int ckpt_flags;             /* ArchOps.load flags (CKPT_ALLOW_NONFINITE) */
    int has_val;                /* a validation split exists */

    Tokenizer *tok;
    const ArchOps *arch;        /* the model's architecture (model.arch, or the checkpoint's model_type) */
    void *model;                /* its handle */
    const TaskOps *task;        /* what the model is trained for (train.task, or the checkpoint's metadata) */
    void *task_state;           /* the task's own data (task_*.c), freed by task->close */
    Rng rng;                    /* dropout; saved in checkpoints */
    int B, T;                   /* batch rows and the longest row */
    int S;                      /* the longest source (ArchInfo.n_source models; 0 for the others) */
    int *inputs, *targets;      /* (B, T) batch buffers (engine_alloc_batch) */
    ArchBatch batch;            /* the batch of the last task->next_batch */
    Dist *dist;                 /* data-parallel gradient buckets (dist.h); NULL with one rank */

    long step, total_steps, tokens_seen;
    double train_time;          /* seconds spent in steps (saved) */
    float train_loss, val_loss, best_val, lr, grad_norm, tps;
    long last_ckpt_step;
    char last_ckpt[sizeof ((TrainSnapshot *)0)->last_ckpt]; /* the directory last saved to or loaded from */
    int task_eval_done;         /* task->evaluate ran on the model before the first step (or the run resumed) */
    EngineState state;
    FILE *metrics_csv, *samples_txt, *events_log;
    int writes_probes;          /* a training run: probe snapshots also go to <run_dir>/probes (runlog.h) */
    struct EngineWatch *watch;  /* engine_open_watch: the watched run's files (watch.c); NULL otherwise */

    /* generation (generate.c) */
    void *kv;                   /* arch->decode_open's state, NULL when the architecture does not generate */
    float *gen_logits, *gen_scratch; /* (V) each */
    int *gen_idx;               /* (V) */
    Rng gen_rng;
    SampleParams gen;
    int gen_count, gen_pending, gen_done;
    int *gen_hist, gen_len;     /* the tokens so far (prompt + reply, at most g->T), for SampleParams.no_cache */
    GenToken gen_answer;        /* a one-token answer (a classifier's label), handed out by the next engine_gen_next */

    CkptFinetune ft_meta;       /* what a checkpoint says it was trained for (labels, template) */

    /* probe (probe.c) */
    int probe_ids[SNAP_MAX_PROBE], probe_T;

    /* published, under mu */
    pthread_mutex_t mu;
    uint64_t seq;
    MetricPoint *metrics;
    int n_metrics, cap_metrics;
    HealthPoint *health;        /* training health (inspect.c), every probe.snapshot_every steps */
    int n_health, cap_health;
    unsigned char health_warned[HEALTH_MAX_GROUPS]; /* the band a group was last warned about (0 none, 1 high, 2 low) */
    EngineEvent events[EVENT_RING];
    long ev_seq;
    ProbeSnapshot **probes;
    int n_probes, cap_probes;
    size_t probe_bytes;
    int window_len;
    long window_start;
    int window_inputs[SNAP_MAX_WINDOW], window_targets[SNAP_MAX_WINDOW];
    BpeTrainer *bpe;
    int bpe_target;
    BpeStepInfo bpe_last;
    int bpe_last_valid;
};

/* ---- engine.c ---- */
void engine_publish_event(Engine *g, EventKind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Puts an event of step into the ring (engine_publish_event's part under the lock; a watcher's replay). */
void engine_push_event(Engine *g, long step, EventKind kind, const char *text);
int engine_aborted(const Engine *g);
void engine_progress(const EngineOpenOpts *o, const char *what, double done, double total);
ArchInfo engine_model_info(const Engine *g);
/* inspect.c: records a HealthPoint for the AdamW step p is about to make (call between clipping and adamw_step),
 * publishes it, and warns in the event log when a group's update ratio leaves [HEALTH_RATIO_LOW, HEALTH_RATIO_HIGH].
 * No-op for an architecture without layer_health. */
void engine_health_record(Engine *g, const ArchAdamW *p);
/* A fresh model of the config's shape for V tokens, initialised from train.seed. */
int engine_fresh_model(Engine *g, int V, LwError *e);
/* Loads checkpoint dir into a new model with what a finetuned checkpoint adds (its class head, adapters), its
 * tokenizer (or GPT-2's / raw bytes when it has none) and its metadata (g->ft_meta); st (may be NULL) as
 * ArchOps.load. During training the checkpoint's architecture must be model.arch. */
int engine_load_checkpoint(Engine *g, const char *dir, TrainState *st, LwError *e);
/* Finetuning's model: from finetune.init_from (a run of ours or a Hugging Face directory) or, when resuming, from
 * the resumed checkpoint (*st filled, *resumed = 1); without init_from a fresh model on the configured tokenizer. */
int engine_finetune_model(Engine *g, const EngineOpenOpts *o, TrainState *st, int *resumed, LwError *e);
/* LoRA adapters when finetune.lora_rank > 0 (then only they train), else the configured trainable subset. */
int engine_setup_trainable(Engine *g, int resumed, LwError *e);
/* Steps, tokens, RNG, losses and time of a resumed run (the task restores its own data position). */
void engine_restore_state(Engine *g, const TrainState *st);
/* train.steps, or epochs over n_batches batches per epoch (at least 1 step). */
long engine_total_steps(const Engine *g, double n_batches);
/* The end of every task's open: activations for (B, T), the batch buffers, the run's files, ENGINE_DONE when the
 * resumed run is complete. */
int engine_start_run(Engine *g, int resumed, LwError *e);

/* ---- engine_bpe.c ---- */
/* The tokenizer the config describes (trained on the corpus for bpe/words, cached in <run_dir>/tokenizer). */
int engine_setup_tokenizer(Engine *g, const EngineOpenOpts *o, LwError *e);
/* After loading a checkpoint: its tokenizer if it has one, else GPT-2's for V = 50257, else raw bytes. */
int engine_checkpoint_tokenizer(Engine *g, const char *dir, LwError *e);

/* ---- generate.c ---- */
void engine_alloc_generation(Engine *g);
void engine_free_generation(Engine *g);
/* Starts generation after token ids (the last context-1 of them). */
int engine_gen_begin_ids(Engine *g, const int *ids, size_t n, const SampleParams *p, LwError *e);
/* Makes t the whole answer of the next engine_gen_next (a classifier's label). */
void engine_gen_answer(Engine *g, const GenToken *t);
/* The following engine_gen_next calls read the task's own reply (TaskOps.reply_next). */
void engine_gen_task_reply(Engine *g);
/* Appends the generation that was begun to text (at most n bytes with the NUL; newlines and tabs become spaces);
 * returns the new length. */
size_t engine_gen_collect(Engine *g, char *text, size_t len, size_t n);
/* The plain language-model reply: prompt tokens (special tokens allowed) continued. */
int engine_gen_begin_text(Engine *g, const char *prompt, const SampleParams *p, LwError *e);

/* ---- probe.c ---- */
void engine_free_probes(Engine *g);
/* Publishes snapshot p (owned from then on) at the end of the history, thinning it past the memory cap. */
void engine_probe_add(Engine *g, ProbeSnapshot *p);

/* ---- watch.c ---- */
struct EngineWatch;
void engine_watch_free(struct EngineWatch *w);

#endif
