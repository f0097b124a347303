/* worker.h — the TUI's engine driver thread. The worker owns the Engine: it opens it (which may take seconds:
 * tokenizer training, corpus tokenization), then takes commands from the UI thread through a small
 * mutex + condvar queue, runs training steps while in RUN state, BPE merges while the tokenizer animation runs,
 * and streams generated tokens to the UI. Everything else the UI shows it reads itself with the engine's
 * [any thread] getters, holding the engine read lock (worker_engine_acquire) so a checkpoint load cannot free
 * the engine underneath it. */
#ifndef LLMWB_UI_WORKER_H
#define LLMWB_UI_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "engine.h"

typedef enum {
    WC_RUN, WC_PAUSE, WC_TOGGLE, WC_STEP, WC_SAVE, WC_PROBE,
    WC_BPE_BEGIN, WC_BPE_STEP, WC_BPE_BACK, WC_BPE_RUN, WC_BPE_PAUSE, WC_BPE_GOTO, WC_BPE_RATE,
    WC_GEN, WC_GEN_STOP, WC_SET_PROBE, WC_INSPECT, WC_LOAD_CKPT, WC_OPEN_CONFIG, WC_QUIT
} WorkerCmdKind;

typedef struct WorkerCmd {
    WorkerCmdKind kind;
    long n;                  /* BPE_BEGIN: max bytes; BPE_GOTO: merge count; BPE_RATE: merges/s (0 = no limit);
                              * GEN to a translator: beam width (> 1: beam search, the candidates kept; else greedy,
                              * token by token); INSPECT: the WorkerInspectKind */
    int target;              /* BPE_BEGIN: target vocab; INSPECT: the kind's parameter (worker_inspect) */
    SampleParams sp;         /* GEN */
    char text[512];          /* GEN prompt, SET_PROBE sentence, INSPECT text, LOAD_CKPT / SAVE directory ("" = default) */
    Config *cfg;             /* OPEN_CONFIG: a heap copy owned by the queue (worker_open_config makes it) */
} WorkerCmd;

typedef enum { WK_OPENING, WK_READY, WK_FAILED } WorkerPhase;

/* What the UI shows about the worker (copied under the worker's lock). */
typedef struct WorkerStatus {
    WorkerPhase phase;
    char what[128];          /* "preparing: <what>" while opening */
    double done, total;
    char err[LW_ERRLEN];     /* why opening failed */
    int running;             /* training RUN state */
    int bpe_running;
    int gen_active;
    int stepping;            /* inside a (possibly long) engine call */
    char msg[LW_ERRLEN];     /* the latest result/error message for the status line */
    uint64_t msg_seq;
    uint64_t seq;            /* increments on any change of this struct or of the chat stream */
} WorkerStatus;

/* What the screens ask the model about (inspect.h), computed on the worker thread between training steps (the
 * engine's [driver] calls), the newest result of each kind kept for the screens to read. */
typedef enum {
    WI_LENS,        /* engine_lens of the text ("" = the probe sentence) */
    WI_ABLATE,      /* engine_ablate of the text ("" = the engine's fixed validation window, inspect.h): arg = how
                     * (ABLATE_ZERO or ABLATE_MEAN; anything else: zero) */
    WI_ROLES,       /* engine_head_roles: arg = sequence length (0 = 16), 4 sequences, seed 1 */
    WI_EMBED_MAP,   /* engine_embed_map_near: arg = 1 + the token whose nearest tokens to find (0 = none) */
    WI_ABLATE_NEXT, /* engine_ablate_next of the text ("" = the probe sentence): arg = worker_ablate_next_arg() */
    WI_N
} WorkerInspectKind;

typedef struct WorkerInspect {
    uint64_t seq;            /* increments with each result (0 = none yet); a failure counts as one */
    long step;               /* the training step of the weights it was computed on */
    int pending;             /* a request of this kind is queued or running */
    char err[LW_ERRLEN];     /* why the last request failed ("" = it did not; the result below is then empty) */
    char text[512];          /* the text asked about ("" = the default) */
    int arg;
    LensResult lens;         /* WI_LENS */
    AblateResult ablate;     /* WI_ABLATE */
    HeadRoles roles;         /* WI_ROLES */
    EmbedMap map;            /* WI_EMBED_MAP */
    AblateNext next;         /* WI_ABLATE_NEXT (nothing to free) */
} WorkerInspect;

#define WORKER_QUEUE 64
#define WORKER_BEAM 16            /* beam candidates kept (the chat's widest beam) */
#define WORKER_BEAM_TEXT 256

typedef struct Worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_rwlock_t eng_lock;      /* write-held only while the Engine pointer is replaced */
    WorkerCmd queue[WORKER_QUEUE];
    int q_head, q_len;
    Config cfg;
    char ckpt_dir[1024], run_dir[1024];
    char resume_dir[1100];          /* the first open resumes this checkpoint ("" = none) */
    volatile int abort_flag;
    Engine *eng;
    WorkerStatus st;                /* under mu */
    /* chat stream of the current generation (under mu) */
    GenToken *chat;
    int chat_n, chat_cap, chat_done;
    uint64_t chat_id;               /* increments at each WC_GEN */
    double chat_t_first, chat_t_last; /* CLOCK_MONOTONIC seconds of its first and latest token (the Chat's tok/s) */
    /* a translation by beam search (WC_GEN with n > 1): its candidates best first, scores sum(log p) / len^alpha */
    int beam_n;
    float beam_score[WORKER_BEAM];
    char beam_text[WORKER_BEAM][WORKER_BEAM_TEXT];
    int started;
    int busy_cmd;                   /* a command is being handled (under mu) */
    int no_open;                    /* worker_start_idle: do not open an engine at start */
    char watch_dir[1024];           /* worker_start_watch: the run watched read-only ("" = none) */
    long bpe_rate;                  /* merges per second while BPE runs (0 = as fast as it goes) */
    double bpe_next;                /* CLOCK_MONOTONIC time of the next merge when rate-limited */
    WorkerInspect insp[WI_N];       /* under mu */
} Worker;

/* Starts the thread, which opens the engine for cfg (copied); ckpt_dir / run_dir may be NULL or "".
 * Returns 0, or nonzero if the thread could not start. */
int worker_start(Worker *w, const Config *cfg, const char *ckpt_dir, const char *run_dir);
/* worker_start whose first open resumes the checkpoint resume_dir (NULL or "": none), as run_plan decided. */
int worker_start_run(Worker *w, const Config *cfg, const char *ckpt_dir, const char *run_dir, const char *resume_dir);
/* Starts the thread on run_dir, another process's run, read-only (engine_open_watch): it follows the run's files
 * (engine_watch_poll, a few times a second), says when the run ended, and reopens the engine when latest/ holds a
 * newer checkpoint (not while a reply is being generated). Commands that would change the run (worker_is_readonly)
 * are not queued: the status message says "read-only: watching RUN_DIR" instead. */
int worker_start_watch(Worker *w, const char *run_dir);
/* Whether kind would change the run (train, step, save, probe, load or open another run). */
int worker_is_readonly(WorkerCmdKind kind);
/* Starts the thread without opening an engine: phase WK_FAILED with err = why (e.g. the config's error), so the
 * screens show it instead of running something else; WC_LOAD_CKPT and WC_OPEN_CONFIG still open one. */
int worker_start_idle(Worker *w, const Config *cfg, const char *why);
/* Asks long calls to stop (abort flag), stops the thread and closes the engine. Waits at most max_wait seconds
 * (< 0: as long as it takes) for a step in progress; if the thread is still busy then, it is detached and the
 * engine left open for the process exit to reclaim. Returns 0 when stopped cleanly, 1 when detached.
 * Safe to call twice. */
int worker_stop(Worker *w, double max_wait);
/* Queues a command (a full queue drops the oldest command). */
void worker_send(Worker *w, const WorkerCmd *c);
void worker_send_kind(Worker *w, WorkerCmdKind k);
/* Queues WC_OPEN_CONFIG: when the worker gets to it (after the commands queued before, e.g. a WC_SAVE), it
 * validates a copy of cfg (cfg_validate) and opens a new engine on it (its train.run_dir decides where the run
 * goes; the run_dir given to worker_start no longer applies), swapped in like WC_LOAD_CKPT; if validation or
 * opening fails, the old engine and config stay and the status message says why. Returns 0, or -1 when out of
 * memory (nothing queued). */
int worker_open_config(Worker *w, const Config *cfg);
/* Waits until the queue is empty and the worker is idle (no step in progress). */
void worker_drain(Worker *w);
void worker_status(Worker *w, WorkerStatus *out);
/* The engine (read-locked) or NULL when not open; release with worker_engine_release in the same thread. */
Engine *worker_engine_acquire(Worker *w);
void worker_engine_release(Worker *w);
/* WI_ABLATE_NEXT's arg for head index head (layer * n_head + head; -1 = none) knocked out as how (ABLATE_*). */
static inline int worker_ablate_next_arg(int head, int how) { return head < 0 ? -1 : 2 * head + (how == ABLATE_MEAN); }

/* Asks for a result of kind k on text (NULL or "" = the kind's default) with the kind's parameter arg; nothing is
 * queued while a request of that kind is pending (so a screen may ask every frame it finds the result stale). */
void worker_inspect(Worker *w, WorkerInspectKind k, const char *text, int arg);
/* The newest result of kind k, valid until worker_inspect_unlock (which must follow soon, on the same thread:
 * it holds the worker's lock). Never NULL; seq 0 = nothing computed yet. */
const WorkerInspect *worker_inspect_lock(Worker *w, WorkerInspectKind k);
void worker_inspect_unlock(Worker *w);
/* Copies generated tokens [from, from+max) of generation *chat_id; returns how many; *done = generation ended. */
int worker_chat_read(Worker *w, int from, GenToken *out, int max, int *done, uint64_t *chat_id);
/* The beam candidates of generation chat_id (best first, at most max, texts of WORKER_BEAM_TEXT bytes) and their
 * scores; returns how many (0: not a beam search, or another generation). */
int worker_beam_read(Worker *w, uint64_t chat_id, char (*text)[WORKER_BEAM_TEXT], float *score, int max);
/* The tokens of generation chat_id so far and, in *seconds, the wall time from its first token to its latest (the
 * worker's clock, so the figure does not depend on how often the UI looks); 0 (and *seconds 0) for another one. */
int worker_chat_timing(Worker *w, uint64_t chat_id, double *seconds);

#endif
