/* task.c — the list of tasks (task.h), how a config or a checkpoint names its task, and the split-of-examples
 * helpers shared by classify and instruct. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

/* Every task, once. Adding one: its table here and its name in train.task (config.c). */
const TaskOps *const task_list[] = {&task_lm, &task_mlm, &task_classify, &task_instruct, &task_translate};
const int task_count = (int)LW_ARRAY_LEN(task_list);

const TaskOps *task_find(const char *name) {
    for (int i = 0; i < task_count; i++)
        if (name && !strcmp(task_list[i]->name, name)) return task_list[i];
    return NULL;
}

static const TaskOps *task_for_mode(int mode) {
    for (int i = 0; i < task_count; i++)
        if ((int)task_list[i]->ft_mode == mode) return task_list[i];
    return &task_lm;
}

const TaskOps *task_for_config(const Config *c) {
    const TaskOps *t = task_find(c->train.task);
    return t ? t : task_for_mode(c->finetune.mode); /* "auto" (or empty): finetune.mode decides */
}

const TaskOps *task_for_checkpoint(const CkptFinetune *meta, int n_classes, int causal) {
    if (n_classes > 0) return &task_classify;
    if (meta->task[0] && task_find(meta->task)) return task_find(meta->task);
    if (!causal && meta->mode == FT_NONE) return &task_mlm;
    return task_for_mode(meta->mode);
}

/* ---------------------------------------------------------------- splits of examples */

int task_rows_start(Engine *g, TaskRows *r, const TrainState *st, LwError *e) {
    const Config *c = &g->cfg;
    int rc;
    if ((rc = ft_cursor_init(&r->train, r->split.train, r->split.n_train, c->train.seed, 1, e))) return rc;
    g->has_val = r->split.n_val > 0;
    if (g->has_val && (rc = ft_cursor_init(&r->val, r->split.val, r->split.n_val, c->train.seed, 0, e))) return rc;
    r->rows = lw_malloc((size_t)g->B * sizeof(int));
    g->total_steps = engine_total_steps(g, ft_cursor_n_batches(&r->train, g->B));
    rng_seed(&g->rng, c->train.seed);
    if (st) {
        engine_restore_state(g, st);
        if ((rc = ft_cursor_restore(&r->train, st->loader.epoch, (int)st->loader.cursor, e))) return rc;
    }
    return engine_start_run(g, st != NULL, e);
}

void task_rows_next(Engine *g, TaskRows *r, int val) { ft_cursor_next(val ? &r->val : &r->train, g->B, r->rows); }

void task_rows_rewind_val(TaskRows *r) {
    LwError e;
    ft_cursor_restore(&r->val, 0, 0, &e);
}

int task_rows_n_val_batches(const Engine *g, const TaskRows *r) { return ft_cursor_n_batches(&r->val, g->B); }

void task_rows_loader_state(const TaskRows *r, LoaderState *out) {
    *out = (LoaderState){.seed = r->train.seed, .epoch = r->train.epoch, .cursor = (size_t)r->train.cursor};
}

void task_rows_free(TaskRows *r) {
    ft_split_free(&r->split);
    ft_cursor_free(&r->train);
    ft_cursor_free(&r->val);
    free(r->rows);
    memset(r, 0, sizeof *r);
}
