/* task.h — a task is one file exporting one ops table (TaskOps): what the model is trained for.
 *
 *   train.task  file                 table          finetune.mode (older configs)  head (arch.h)
 *   lm          src/task_lm.c        task_lm        none                           ARCH_HEAD_LM, next token
 *   classify    src/task_classify.c  task_classify  classify                       ARCH_HEAD_CLASS, pooled row
 *   instruct    src/task_instruct.c  task_instruct  instruct                       ARCH_HEAD_LM, response tokens
 *   mlm         src/task_mlm.c       task_mlm       -                              ARCH_HEAD_LM, masked tokens
 *   translate   src/task_translate.c task_translate -                              ARCH_HEAD_LM + src
 *
 * Adding a task: write src/task_<name>.c defining `const TaskOps task_<name>`, add it to the list in src/task.c and
 * its name to train.task in src/config.c. Nothing in engine.c changes.
 *
 * A task owns: its data (loading, tokenizing, splits), its batches (g->batch, an ArchBatch over g->inputs/targets
 * or its own buffers), the data position saved with a checkpoint, its evaluation beyond the validation loss, what a
 * sample is, what a chat reply is, and the metadata saved with a checkpoint so inference behaves the same.
 * The engine (engine.c) owns the step loop (zero_grad, grad_accum forward/backward, clipping, AdamW, schedule),
 * the validation loss, publishing, and checkpoints; the architecture (arch.h) owns the model.
 *
 * Every op receives the engine; a task keeps its own state in g->task_state (allocated by open or open_inference,
 * freed by close). Ops marked "may be NULL" are optional. */
#ifndef LLMWB_TASK_H
#define LLMWB_TASK_H

#include <stddef.h>
#include "checkpoint.h"
#include "config.h"
#include "data.h"
#include "engine.h"
#include "finetune.h"
#include "util.h"

typedef struct TaskOps {
    const char *name;       /* train.task value ("lm") */
    FtMode ft_mode;         /* the finetune.mode that meant this task before train.task existed */
    const char *summary;    /* one line for docs */
    const char *eot_role;   /* what <|endoftext|> does in this task, a few words for the Tokenizer screen (NULL:
                             * "end of text") */

    /* Training setup: the tokenizer and the model (fresh, finetune.init_from, or resumed from o->resume_dir, via the
     * engine_* helpers of engine_impl.h), the data, g->B and g->T, g->total_steps, g->has_val; ends with
     * engine_start_run. */
    int (*open)(Engine *g, const EngineOpenOpts *o, LwError *e);
    /* Inference on a checkpoint trained for this task (g->ft_meta is its metadata); may be NULL. */
    int (*open_inference)(Engine *g, LwError *e);
    /* Frees g->task_state (also after a failed open). */
    void (*close)(Engine *g);

    /* The next training (val = 0) or validation (val = 1) batch into g->batch; returns the tokens it counts for
     * tokens_seen (B * T of the batch). */
    long (*next_batch)(Engine *g, int val);
    /* Restarts the validation batches from the first (each evaluation sees the same ones). */
    void (*rewind_val)(Engine *g);
    /* Validation batches available. */
    int (*n_val_batches)(const Engine *g);
    /* Rows of the last validation batch the model got right; may be NULL (no accuracy beside the val loss). */
    int (*val_correct)(const Engine *g);
    /* The predictions val_correct counted in the last validation batch; may be NULL (= its rows, B). mlm: the
     * masked positions. */
    int (*val_count)(const Engine *g);
    /* The task's own evaluation, written into the run dir and published as an EV_EVAL event; run on the model
     * before the first step, at every checkpoint and at the end. May be NULL. */
    int (*evaluate)(Engine *g, LwError *e);
    /* A sample of the current model for samples.txt and the Train screen (train.sample_every), generated with sp
     * (train.sample_tokens, a seed from the step): writes it into text (n bytes, NUL terminated). Returns 1 if
     * there is one, 0 if not. May be NULL (no samples). */
    int (*sample)(Engine *g, const SampleParams *sp, char *text, size_t n);
    /* Where the first row of the last training batch comes from (the Embed screen's window): a token offset in
     * the training text or an example index. */
    long (*window_start)(const Engine *g);
    /* The training data position saved with a checkpoint (restored by open when resuming). */
    void (*loader_state)(const Engine *g, LoaderState *out);
    /* What inference needs to know, written into checkpoint dir (llmwb-finetune.json); may be NULL. */
    int (*save_meta)(const Engine *g, const char *dir, LwError *e);

    /* The chat reply to the user's text: begins a generation read out with engine_gen_next (a continuation, an
     * instruction's response, a classifier's one-token label answer). */
    int (*reply_begin)(Engine *g, const char *text, const SampleParams *p, LwError *e);
    /* The next token of a reply the task makes itself (after reply_begin called engine_gen_task_reply): 1 with
     * *out, 0 at the end. May be NULL (replies are decoded, or one answer token). mlm: the filled text, piece by
     * piece, each filled mask with its candidates in top_ids/top_probs. */
    int (*reply_next)(Engine *g, GenToken *out);
} TaskOps;

/* The registered tasks (src/task.c). */
extern const TaskOps *const task_list[];
extern const int task_count;
/* The table called name, or NULL. */
const TaskOps *task_find(const char *name);
/* The task a config trains: train.task, or for "auto" the one finetune.mode names (none = lm). */
const TaskOps *task_for_config(const Config *c);
/* The task of a checkpoint: its llmwb-finetune.json mode; a model with a class head is a classifier; a
 * bidirectional model without one (causal 0) fills masks (mlm). */
const TaskOps *task_for_checkpoint(const CkptFinetune *meta, int n_classes, int causal);

extern const TaskOps task_lm, task_classify, task_instruct, task_mlm, task_translate;

/* ---- shared by the tasks that train on a split of examples (classify, instruct): task.c ---- */
typedef struct TaskRows {
    FtSplit split;
    FtCursor train, val;
    int *rows;              /* (B) example indices of the last batch */
} TaskRows;
/* Cursors over the split, the step count (train.steps or epochs over the training split), a resumed run's state
 * (st, NULL when not resuming) and engine_start_run. g->B and g->T must be set. */
int task_rows_start(Engine *g, TaskRows *r, const TrainState *st, LwError *e);
/* The next B example indices into r->rows. */
void task_rows_next(Engine *g, TaskRows *r, int val);
void task_rows_rewind_val(TaskRows *r);
int task_rows_n_val_batches(const Engine *g, const TaskRows *r);
void task_rows_loader_state(const TaskRows *r, LoaderState *out);
void task_rows_free(TaskRows *r);

#endif
