/* engine.h — the public face of the engine: what the TUI (ui/) and the headless CLI call.
 *
 * Threads: an Engine is driven by one thread at a time (the "driver": the CLI's main thread, or the TUI's worker
 * thread). Functions marked [any thread] may be called concurrently with the driver: they copy published state
 * under the engine's lock, or read immutable state (the tokenizer of the model). Every other function is
 * [driver] only. Long calls poll the abort flag given to engine_open and return LW_ERR_ABORTED when it is set.
 *
 * Every function that can fail returns an LW_* status (util.h) and fills the LwError. */
#ifndef LLMWB_ENGINE_H
#define LLMWB_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "inspect.h" /* the logit lens and head ablation: public too */
#include "export.h" /* PNG/SVG/text exports of metrics and probe snapshots: public too */
#include "run.h"    /* run directories: resume, or start fresh keeping the old run aside: public too */
#include "runlog.h" /* the growing files of a run (metrics, events, probe snapshots) and their readers: public too */
#include "snapshot.h"
#include "util.h"

typedef struct Engine Engine;

typedef struct EngineOpenOpts {
    const char *resume_dir;      /* checkpoint directory to resume from, or NULL */
    const char *ckpt_dir;        /* inference only: load this checkpoint (its config.json decides the model) */
    const char *run_dir;         /* overrides train.run_dir */
    volatile int *abort_flag;    /* nonzero asks long calls to stop (Ctrl-C) */
    int allow_nonfinite;         /* load checkpoints holding NaN/Inf values (CKPT_ALLOW_NONFINITE) */
    /* progress of slow setup (tokenizer training, tokenizing the corpus): what, done out of total */
    void (*progress)(void *ud, const char *what, double done, double total);
    void *progress_ud;
} EngineOpenOpts;

/* Builds tokenizer, data and model for cfg (copied). Trains or loads the run's tokenizer (cached in the run
 * dir), tokenizes the corpus (cached), initialises or loads weights. With resume_dir, model, optimizer state and
 * tokenizer come from that checkpoint (the tokenizer is never retrained); cfg should then be the run's saved
 * config (run_plan in run.h). Without resume_dir, a run directory whose latest/ holds a checkpoint is refused
 * (run_check_free): nothing is overwritten. [driver] */
int engine_open(Engine **out, const Config *cfg, const EngineOpenOpts *opts, LwError *e);
void engine_close(Engine *eng);
/* The effective config. [any thread] */
const Config *engine_config(const Engine *eng);

/* ---- watching a run another process writes (llmwb tui --watch) ---- */
/* Opens run_dir read-only, for a run that another process trains (or trained): the config in its config.yaml,
 * the checkpoint in latest/ when there is one (chat, token queries and its probe as with ckpt_dir; without one
 * there is no model yet and engine_gen_begin says so), then what its files hold so far (engine_watch_poll). The
 * getters then show the run: metrics, events, samples and probe snapshots from its files, engine_get_train the
 * latest row (TrainSnapshot.watching = 1). Nothing in run_dir is written. opts: abort_flag only. [driver] */
int engine_open_watch(Engine **out, const char *run_dir, const EngineOpenOpts *opts, LwError *e);
/* Reads what the run's files gained since the last call (metrics.csv, events.log, probes/, latest/, whether the
 * trainer is still there) and publishes it. Returns 1 when anything changed, 0 when not; a file that cannot be
 * read is named in WatchStatus.error (and an EV_WARNING once), never fatal. [driver] */
int engine_watch_poll(Engine *eng);
/* The watched run's status; zeros (ckpt steps -1) when eng does not watch. [any thread] */
void engine_get_watch(Engine *eng, WatchStatus *out);

/* ---- training [driver] ---- */
/* One optimizer step (grad_accum micro-batches), then whatever is due: evaluation, a sample, a checkpoint,
 * a probe snapshot. Returns LW_OK; LW_ERR_DIVERGED when the loss or gradient norm became NaN/Inf (the weights
 * are rolled back to before the step, the last good checkpoint is kept, state becomes ENGINE_DIVERGED);
 * LW_ERR_INVALID when state is ENGINE_DONE. */
int engine_train_step(Engine *eng, LwError *e);
/* Validation loss on eval_batches batches now (also published as an EV_EVAL event). */
int engine_evaluate(Engine *eng, float *val_loss, LwError *e);
/* Writes a checkpoint to dir, or to <run_dir>/latest when dir is NULL (atomically). */
int engine_save(Engine *eng, const char *dir, LwError *e);
/* Writes the weights alone (no optimizer state) to dir as a plain Hugging Face GPT-2 directory, with LoRA adapters
 * merged into the base weights (W + alpha/r A B) when LoRA is on; the engine's own model is not changed. */
int engine_save_merged(Engine *eng, const char *dir, LwError *e);
/* Records a probe snapshot (attention, embeddings) of the current weights now. */
int engine_probe_now(Engine *eng, LwError *e);
/* Changes the probe sentence (re-tokenized; takes effect at once with a new snapshot). */
int engine_set_probe(Engine *eng, const char *text, LwError *e);

/* ---- generation [driver] ---- */
typedef struct SampleParams {
    float temperature;           /* 0 = greedy */
    int top_k;                   /* 0 = off */
    float top_p;                 /* 1 = off */
    int max_tokens;
    uint64_t seed;
    int stop_at_eot;             /* stop at <|endoftext|> (default 1) */
    int no_cache;                /* 1: no KV cache: every token recomputes the whole sequence with the batch forward
                                  * (slower, the same tokens; the Chat screen's comparison) */
} SampleParams;
void engine_sample_defaults(SampleParams *p);
/* Starts generation after prompt (the instruction template is applied for instruction-tuned models). */
int engine_gen_begin(Engine *eng, const char *prompt, const SampleParams *p, LwError *e);
/* Produces one token into *out; returns 1 when a token was produced, 0 when generation has ended
 * (end-of-text, max_tokens, or the context is full), or a negative status on error. */
int engine_gen_next(Engine *eng, GenToken *out);

/* ---- translation: an encoder-decoder (model.arch encdec, train.task translate) [driver] ---- */
/* 1 when the model reads a source sentence (engine_gen_begin then translates the prompt), else 0. [any thread] */
int engine_is_translator(const Engine *eng);
/* Up to max translations of text best first into out (malloc'd strings, the caller frees them) with their scores
 * (sum(log p) / len^model.length_penalty for beam search, 0 for greedy; scores may be NULL): greedy for beam 1,
 * beam search of that width for beam > 1, model.beam for beam 0. Returns how many, or a negative LW_* status. */
int engine_translate(Engine *eng, const char *text, int beam, char **out, float *scores, int max, LwError *e);
/* After engine_gen_next gave a token of a translation: the cross-attention row that wrote it, over the source
 * tokens (engine_source_tokens; the last decoder layer, averaged over heads), into row (at most max); returns the
 * number of source tokens, 0 for a model without cross-attention. */
int engine_gen_cross(Engine *eng, float *row, int max);
/* The encoder's input for text: its token ids and the end marker (at most max); returns how many. It reads only
 * the tokenizer and the model's sizes, so the UI thread may call it. [any thread] */
int engine_source_tokens(Engine *eng, const char *text, int *ids, int max);

/* ---- classifiers (finetune.mode classify, or a checkpoint trained so) ---- */
/* Number of classes; 0 when the model is not a classifier. [any thread] */
int engine_n_classes(const Engine *eng);
/* Name of class i (a label of the dataset), or "" out of range. [any thread] */
const char *engine_class_name(const Engine *eng, int i);
/* Class probabilities of text (its first tokens, up to the model's window), written to probs (at most max);
 * returns the number of classes, or a negative LW_* status with e filled. For a classifier, engine_gen_begin /
 * engine_gen_next produce one GenToken whose text is "label (p%)" and whose top_ids are class indices. [driver] */
int engine_classify(Engine *eng, const char *text, float *probs, int max, LwError *e);

/* ---- filling masks (a BERT checkpoint trained with train.task: mlm) ---- */
#define FILL_MAX_SLOTS 16
typedef struct FillSlot {
    int pos;                     /* token position of the [MASK] in the input ([CLS] is 0) */
    int n;                       /* candidates, most probable first */
    int ids[SNAP_TOPK];
    float probs[SNAP_TOPK];      /* softmax over the ordinary tokens (specials excluded) */
    char text[SNAP_TOPK][SNAP_TOKTEXT];
} FillSlot;
typedef struct FillResult {
    int n_tokens;                /* of the input, with [CLS] and [SEP] */
    int n_slots;                 /* masks filled (the first FILL_MAX_SLOTS) */
    FillSlot slots[FILL_MAX_SLOTS];
    char filled[1024];           /* the text with each mask replaced by its best candidate */
} FillResult;
/* The top_k (<= SNAP_TOPK) candidates of every [MASK] in text ("_" standing alone is a short form), from one
 * bidirectional forward of [CLS] text [SEP]. LW_ERR_INVALID when the model does not fill masks, the text has no
 * mask or is longer than the model's window. [driver] */
int engine_fill(Engine *eng, const char *text, int top_k, FillResult *out, LwError *e);

/* ---- BPE training, merge by merge, for the Tokenizer screen [driver] ---- */
/* Starts a fresh trainer on the first max_bytes of the corpus aiming at target_vocab tokens. */
int engine_bpe_begin(Engine *eng, size_t max_bytes, int target_vocab, LwError *e);
/* One merge; returns 1 if merged, 0 if the target is reached or no pair repeats. */
int engine_bpe_step(Engine *eng);
/* Undoes the last merge; returns 1 if undone, 0 at the start. */
int engine_bpe_back(Engine *eng);
/* Moves to exactly n merges (forward or back). */
int engine_bpe_goto(Engine *eng, int n);

/* ---- published state [any thread] ---- */
/* Increments whenever anything published changes; compare to skip redraws. */
uint64_t engine_seq(Engine *eng);
void engine_get_train(Engine *eng, TrainSnapshot *out);
/* Copies metric rows [from, from+max) into out; returns how many. engine_n_metrics gives the total. */
int engine_n_metrics(Engine *eng);
int engine_get_metrics(Engine *eng, int from, MetricPoint *out, int max);
/* Copies events with seq > after_seq (oldest first) into out; returns how many. */
int engine_get_events(Engine *eng, long after_seq, EngineEvent *out, int max);
void engine_get_bpe(Engine *eng, BpeSnapshot *out);
int engine_get_bpe_merges(Engine *eng, int from, BpeMergeRow *out, int max);
/* The trainer's text (first n-1 bytes, NUL-terminated); returns its full length. */
size_t engine_get_bpe_text(Engine *eng, char *buf, size_t n);
/* Tokens of the trainer's text that overlap [off, off+len) under the current merges; returns how many. */
int engine_get_bpe_segments(Engine *eng, long off, long len, BpeSegment *out, int max);
/* Probe snapshots recorded so far (index 0 oldest); a deep copy the caller frees with
 * engine_probe_free. index -1 = the newest. NULL if there is none. */
int engine_n_probes(Engine *eng);
ProbeSnapshot *engine_get_probe(Engine *eng, int index);
void engine_probe_free(ProbeSnapshot *p);

/* ---- the machine [any thread] ---- */
/* The BLAS in use, e.g. "OpenBLAS 0.3.21 SkylakeX, 2 threads" ("(auto)" after the core when it was chosen at
 * startup, see blas.h). Implemented in blas.c. */
void engine_blas_describe(char *buf, size_t n);

/* ---- the model's tokenizer (immutable after open) [any thread] ---- */
int engine_vocab_size(const Engine *eng);
int engine_eot_id(const Engine *eng);
/* The special tokens the vocabulary has (<|endoftext|>, <|unk|>, BERT's [CLS] [SEP] [MASK] [PAD]), lowest id
 * first, each with its role in the model's task (<|endoftext|> separates documents for lm, marks the target's
 * begin and end for translate, ...); returns how many (at most max). */
int engine_special_tokens(const Engine *eng, SpecialToken *out, int max);
/* Encodes text (special tokens allowed); returns the number of ids (may exceed max; only max are written). */
int engine_encode(const Engine *eng, const char *text, int *ids, int max);
/* The bytes of token id, NUL-terminated in buf; returns their length. */
int engine_token_text(const Engine *eng, int id, char *buf, size_t n);
/* Encodes one word showing each merge applied in order. */
int engine_encode_trace(const Engine *eng, const char *word, EncodeTrace *out);

#endif
