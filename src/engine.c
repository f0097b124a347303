/* engine.c — the step-wise engine behind engine.h: open/close, the training step loop (gradient accumulation,
 * clipping, AdamW, the learning-rate schedule), evaluation, checkpoints, and the published state that front ends
 * read from another thread. It knows the model only through its architecture table (arch.h) and the data only
 * through its task table (task.h); probes, generation and the tokenizer live in probe.c, generate.c and
 * engine_bpe.c (engine_impl.h lists who does what). */
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_impl.h"
#include "matmul.h"
#include "run.h"

#define ADAM_BETA1 0.9f
#define ADAM_BETA2 0.95f
#define ADAM_EPS 1e-8f
#define DIST_CHECK_EVERY 50 /* data-parallel, builds without NDEBUG: steps between weight checksums */

static int engine_check_weights(Engine *g, char *all, size_t n, LwError *e);
static int engine_save_here(Engine *g, const char *dir, LwError *e);

/* ---------------------------------------------------------------- publishing */

void engine_push_event(Engine *g, long step, EventKind kind, const char *text) {
    pthread_mutex_lock(&g->mu);
    EngineEvent *ev = &g->events[g->ev_seq % EVENT_RING];
    ev->seq = ++g->ev_seq;
    ev->step = step;
    ev->kind = kind;
    snprintf(ev->text, sizeof ev->text, "%s", text);
    g->seq++;
    pthread_mutex_unlock(&g->mu);
}

void engine_publish_event(Engine *g, EventKind kind, const char *fmt, ...) {
    char text[SNAP_EVENT_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    engine_push_event(g, g->step, kind, text);
    if (g->events_log) { /* for a watcher (llmwb tui --watch) */
        runlog_write_event(g->events_log, g->step, (int)kind, text);
        fflush(g->events_log);
    }
    if (kind == EV_WARNING || kind == EV_ERROR) lw_log(kind == EV_WARNING ? LW_LOG_WARN : LW_LOG_ERROR, "%s", text);
    else lw_log(LW_LOG_DEBUG, "%s", text);
}

static void publish_metric(Engine *g, const MetricPoint *p) {
    pthread_mutex_lock(&g->mu);
    if (g->n_metrics == g->cap_metrics) {
        g->cap_metrics = g->cap_metrics ? g->cap_metrics * 2 : 1024;
        g->metrics = lw_realloc(g->metrics, (size_t)g->cap_metrics * sizeof *g->metrics);
    }
    g->metrics[g->n_metrics++] = *p;
    g->seq++;
    pthread_mutex_unlock(&g->mu);
    if (g->metrics_csv) {
        runlog_write_metric(g->metrics_csv, p);
        fflush(g->metrics_csv);
    }
}

int engine_aborted(const Engine *g) { return g->abort_flag && *g->abort_flag; }

void engine_progress(const EngineOpenOpts *o, const char *what, double done, double total) {
    if (o && o->progress) o->progress(o->progress_ud, what, done, total);
}

/* ---------------------------------------------------------------- schedule */

/* Linear warmup from 0 to lr over `warmup` steps, then cosine decay to min_lr at total_steps. */
static float lr_at(const TrainCfg *t, long step, long total) {
    if (t->warmup > 0 && step < t->warmup) return t->lr * (float)(step + 1) / (float)t->warmup;
    long span = total - t->warmup;
    if (span <= 0) return t->lr;
    double p = (double)(step - t->warmup) / (double)span;
    if (p > 1) p = 1;
    return (float)(t->min_lr + 0.5 * (t->lr - t->min_lr) * (1.0 + cos(M_PI * p)));
}

/* ---------------------------------------------------------------- the model */

ArchInfo engine_model_info(const Engine *g) {
    ArchInfo mi = {0};
    if (g->model) g->arch->info(g->model, &mi);
    else { /* a watched run without a checkpoint yet: the shape its config names */
        const ModelCfg *m = &g->cfg.model;
        mi.n_layer = m->n_layer, mi.n_head = m->n_head, mi.d_model = m->d_model, mi.context_length = m->context_length;
        mi.vocab_size = g->tok ? tok_vocab_size(g->tok) : m->vocab_size ? m->vocab_size : g->cfg.tokenizer.vocab_size;
        mi.causal = 1;
    }
    return mi;
}

int engine_fresh_model(Engine *g, int V, LwError *e) {
    int rc = g->arch->create(&g->model, &g->cfg.model, V, e);
    if (rc) return rc;
    Rng init;
    rng_seed(&init, g->cfg.train.seed ^ 0x5eedULL);
    g->arch->init_weights(g->model, &init);
    return LW_OK;
}

int engine_load_checkpoint(Engine *g, const char *dir, TrainState *st, LwError *e) {
    int rc;
    const ArchOps *arch;
    if ((rc = arch_for_checkpoint(dir, &arch, e)) || (rc = ckpt_read_finetune(dir, &g->ft_meta, e))) return rc;
    if (g->arch && g->arch != arch) /* training: model.arch must name it; inference: the checkpoint decides */
        return lw_fail(e, LW_ERR_INVALID, "%s: a %s checkpoint, but model.arch is %s", dir, arch->name, g->arch->name);
    g->arch = arch;
    /* into an empty model: the loader recreates a class head and LoRA adapters when the directory has them */
    if ((rc = arch->load(&g->model, dir, &g->tok, st, g->ckpt_flags, e))) return rc;
    int K = engine_model_info(g).n_classes;
    if (g->ft_meta.n_labels && K != g->ft_meta.n_labels) /* a classifier's metadata names its labels */
        return lw_fail(e, LW_ERR_INVALID, "%s: llmwb-finetune.json names %d labels but the head has %d classes", dir,
                       g->ft_meta.n_labels, K);
    return engine_checkpoint_tokenizer(g, dir, e);
}

int engine_finetune_model(Engine *g, const EngineOpenOpts *o, TrainState *st, int *resumed, LwError *e) {
    Config *c = &g->cfg;
    const char *src = o && o->resume_dir ? o->resume_dir : c->finetune.init_from[0] ? c->finetune.init_from : NULL;
    int rc;
    *resumed = o && o->resume_dir;
    if (!src) {
        if ((rc = engine_setup_tokenizer(g, o, e))) return rc;
        return engine_fresh_model(g, tok_vocab_size(g->tok), e);
    }
    if ((rc = engine_load_checkpoint(g, src, *resumed ? st : NULL, e))) return rc;
    g->arch->set_dropout(g->model, c->model.dropout); /* finetuning's own dropout (the book: 0.0 for the classifier) */
    lw_log(LW_LOG_INFO, "finetuning from %s: %zu parameters", src, engine_model_info(g).n_params);
    return LW_OK;
}

/* A resumed run gets its adapters from the checkpoint. */
int engine_setup_trainable(Engine *g, int resumed, LwError *e) {
    const FinetuneCfg *f = &g->cfg.finetune;
    if (f->lora_rank > 0 && !engine_model_info(g).lora_rank && !resumed) {
        if (!g->arch->enable_lora)
            return lw_fail(e, LW_ERR_UNSUPPORTED, "finetune.lora_rank: LoRA is not available for model.arch %s", g->arch->name);
        Rng r;
        rng_seed(&r, g->cfg.train.seed ^ 0x10a0ULL);
        int rc = g->arch->enable_lora(g->model, f->lora_rank, f->lora_alpha, f->lora_targets, &r, e);
        if (rc) return rc;
        lw_log(LW_LOG_INFO, "LoRA rank %d, alpha %g on %s: only the adapters train", f->lora_rank, f->lora_alpha,
               f->lora_targets);
    }
    g->arch->set_trainable(g->model, (int)f->trainable, f->train_last_blocks);
    return LW_OK;
}

/* ---------------------------------------------------------------- a run's start */

/* A resumed run redoes the steps after its checkpoint: their rows (left by a run killed after the save) go, so
 * metrics.csv holds each step once. */
static int metrics_truncate(const char *path, long step, LwError *e) {
    char *text;
    size_t len;
    int rc = lw_read_file(path, &text, &len, e);
    if (rc) return rc;
    size_t keep = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        char *end;
        long s = strtol(line, &end, 10);
        if (end != line && *end == ',' && s > step) break; /* the header and earlier steps stay */
        keep = nl ? (size_t)(nl + 1 - text) : len;
        if (!nl) break;
        line = nl + 1;
    }
    if (keep < len) rc = lw_write_file_atomic(path, text, keep, e);
    free(text);
    return rc;
}

static int open_files(Engine *g, int resumed, LwError *e) {
    char path[CFG_PATH_MAX + 32];
    int rc = lw_mkdirs(g->run_dir, e);
    if (rc) return rc;
    /* the effective config, for the record */
    char *yaml = NULL;
    size_t ylen = 0;
    FILE *mf = open_memstream(&yaml, &ylen);
    cfg_dump(&g->cfg, mf);
    fclose(mf);
    rc = lw_write_file_atomic(lw_path_join(path, sizeof path, g->run_dir, "config.yaml"), yaml, ylen, e);
    free(yaml);
    if (rc) return rc;
    lw_path_join(path, sizeof path, g->run_dir, "metrics.csv");
    int exists = lw_file_exists(path);
    if (resumed && exists && (rc = metrics_truncate(path, g->step, e))) return rc;
    if (resumed && exists) { /* the history up to the checkpoint: the curves go on from step 1 */
        RunLogCursor cur = {0, 0};
        LwError me;
        if (runlog_read_metrics(path, &cur, &g->metrics, &g->n_metrics, &g->cap_metrics, &me) < 0)
            lw_log(LW_LOG_WARN, "%s: the loss curve shows the rows before it", me.msg); /* a damaged log is no reason to stop */
    }
    g->metrics_csv = fopen(path, resumed && exists ? "a" : "w");
    if (!g->metrics_csv) return lw_fail(e, LW_ERR_IO, "%s: cannot open for writing", path);
    if (!(resumed && exists))
        fprintf(g->metrics_csv, "%s\n", RUNLOG_METRICS_HEADER);
    lw_path_join(path, sizeof path, g->run_dir, "samples.txt");
    g->samples_txt = fopen(path, resumed ? "a" : "w");
    if (!g->samples_txt) return lw_fail(e, LW_ERR_IO, "%s: cannot open for writing", path);
    lw_path_join(path, sizeof path, g->run_dir, "events.log");
    g->events_log = fopen(path, resumed ? "a" : "w");
    if (!g->events_log) return lw_fail(e, LW_ERR_IO, "%s: cannot open for writing", path);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char start[SNAP_EVENT_TEXT];
    snprintf(start, sizeof start, "pid %ld host %s steps %ld %ld", (long)getpid(), host[0] ? host : "-", g->step,
             g->total_steps);
    runlog_write_event(g->events_log, g->step, RUNLOG_START, start);
    fflush(g->events_log);
    if (!resumed) { /* the snapshots of a run that started over here are not this run's */
        long steps[4 * RUNLOG_PROBES_MAX];
        int n = runlog_list_probes(g->run_dir, steps, (int)LW_ARRAY_LEN(steps));
        for (int i = 0; i < n; i++) {
            runlog_probe_path(g->run_dir, steps[i], path, sizeof path);
            unlink(path);
        }
    }
    g->writes_probes = 1;
    return LW_OK;
}

/* The end line of events.log: a watcher knows the run ended, and how. */
static void write_end(Engine *g) {
    if (!g->events_log) return;
    const char *how = g->state == ENGINE_DONE       ? "training complete"
                      : g->state == ENGINE_DIVERGED ? "training diverged"
                                                    : "training stopped";
    char text[SNAP_EVENT_TEXT];
    snprintf(text, sizeof text, "%s at step %ld of %ld", how, g->step, g->total_steps);
    runlog_write_event(g->events_log, g->step, RUNLOG_END, text);
    fclose(g->events_log);
    g->events_log = NULL;
}

void engine_restore_state(Engine *g, const TrainState *st) {
    g->step = st->step;
    g->tokens_seen = st->tokens_seen;
    g->rng = st->rng;
    g->best_val = st->best_val_loss;
    g->val_loss = st->last_val_loss;
    g->train_time = st->elapsed;
    g->last_ckpt_step = g->step;
    g->task_eval_done = 1;
}

long engine_total_steps(const Engine *g, double n_batches) {
    const TrainCfg *t = &g->cfg.train;
    if (t->steps > 0) return t->steps;
    double per_epoch = n_batches / (t->grad_accum > 0 ? t->grad_accum : 1);
    return LW_MAX(1, (long)ceil((t->epochs > 0 ? t->epochs : 1) * per_epoch));
}

int engine_start_run(Engine *g, int resumed, LwError *e) {
    int rc, r0, r1;
    /* data-parallel (dist.h): each rank computes its rows of the global batch; rank 0 alone writes the run's files
     * and runs the task's own evaluation, at the full batch size */
    if (dist_size() > g->B)
        return lw_fail(e, LW_ERR_INVALID, "train.batch_size: %d rows cannot be shared by %d ranks (at least one row "
                                          "each)", g->B, dist_size());
    dist_rows(g->B, &r0, &r1);
    if ((rc = g->arch->reserve(g->model, dist_rank() ? r1 - r0 : g->B, g->T, g->S, e))) return rc;
    g->inputs = lw_malloc((size_t)g->B * g->T * sizeof(int));
    g->targets = lw_malloc((size_t)g->B * g->T * sizeof(int));
    g->dist = dist_open(g->arch, g->model);
    if (dist_rank() == 0 && (rc = open_files(g, resumed, e))) return rc;
    if (g->step >= g->total_steps) g->state = ENGINE_DONE;
    return LW_OK;
}

/* ---------------------------------------------------------------- open / close */

static int open_inference(Engine *g, const char *dir, LwError *e) {
    g->arch = NULL;
    int rc = engine_load_checkpoint(g, dir, NULL, e);
    if (rc) return rc;
    g->task = task_for_checkpoint(&g->ft_meta, engine_model_info(g).n_classes, engine_model_info(g).causal);
    if (g->task->open_inference && (rc = g->task->open_inference(g, e))) return rc;
    g->inference_only = 1;
    g->state = ENGINE_DONE;
    TrainState st; /* the step (and losses) it was saved at, when it is one of our training checkpoints */
    if (ckpt_has_state(dir) && ckpt_read_state(dir, &st, NULL, e) == LW_OK) {
        g->step = g->last_ckpt_step = st.step;
        g->tokens_seen = st.tokens_seen;
        g->val_loss = st.last_val_loss;
        g->train_time = st.elapsed;
    }
    snprintf(g->last_ckpt, sizeof g->last_ckpt, "%.*s", (int)sizeof g->last_ckpt - 1, dir);
    Config *c = &g->cfg;
    g->arch->to_config(g->model, &c->model);
    snprintf(c->model.arch, sizeof c->model.arch, "%s", g->arch->name);
    snprintf(c->train.task, sizeof c->train.task, "%s", g->task->name);
    c->finetune.mode = g->task->ft_mode;
    g->B = 1;
    g->T = LW_MIN(c->model.context_length, 256);
    g->S = engine_model_info(g).n_source ? g->T : 0;
    if ((rc = g->arch->reserve(g->model, 1, g->T, g->S, e))) return rc;
    return LW_OK;
}

int engine_open(Engine **out, const Config *cfg, const EngineOpenOpts *o, LwError *e) {
    Engine *g = lw_calloc(1, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    g->cfg = *cfg;
    g->abort_flag = o ? o->abort_flag : NULL;
    g->val_loss = NAN;
    g->best_val = INFINITY;
    g->train_loss = NAN;
    g->ckpt_flags = o && o->allow_nonfinite ? CKPT_ALLOW_NONFINITE : 0;
    run_dir_for(cfg, o ? o->run_dir : NULL, g->run_dir, sizeof g->run_dir);
    g->arch = arch_find(cfg->model.arch[0] ? cfg->model.arch : "gpt");
    if (!g->arch) {
        lw_fail(e, LW_ERR_INVALID, "model.arch: unknown architecture '%s'", cfg->model.arch);
        engine_close(g);
        *out = NULL;
        return LW_ERR_INVALID;
    }
    g->task = task_for_config(cfg);
    g->cfg.finetune.mode = g->task->ft_mode; /* train.task decides; finetune.mode stays readable for old configs */
    /* threads 0: all cores, shared by the ranks on this machine (dist.h) */
    matmul_set_threads(cfg->train.threads > 0 ? cfg->train.threads
                                              : LW_MAX(1, (int)sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size()));
    /* nothing a user made is lost: a fresh run never starts over a checkpoint (run.h) */
    int inference = o && o->ckpt_dir;
    /* data-parallel: rank 0 opens first (it trains or caches the tokenizer and the token cache), then the others */
    int ranked = !inference && dist_size() > 1;
    int rc = ranked && dist_rank() > 0 ? dist_agree(LW_OK, e) : LW_OK;
    if (!rc)
        rc = inference ? open_inference(g, o->ckpt_dir, e) : run_check_free(g->run_dir, o ? o->resume_dir : NULL, e);
    if (!rc && !inference) rc = g->task->open(g, o, e);
    if (ranked && dist_rank() == 0) rc = dist_agree(rc, e);
    if (ranked) rc = dist_agree(rc, e);
    if (!rc && ranked) rc = engine_check_weights(g, NULL, 0, e); /* the same start on every rank */
    if (rc) {
        engine_close(g);
        *out = NULL;
        return rc;
    }
    engine_alloc_generation(g);
    LwError pe;
    if (engine_set_probe(g, cfg->probe.text, &pe)) lw_log(LW_LOG_WARN, "%s", pe.msg);
    ArchInfo mi = engine_model_info(g);
    char total[32], trainable[32];
    lw_fmt_thousands(total, sizeof total, (long long)mi.n_params);
    lw_fmt_thousands(trainable, sizeof trainable, (long long)mi.n_trainable);
    if (g->inference_only)
        engine_publish_event(g, EV_INFO, "checkpoint loaded: %s parameters; inference only", total);
    else
        engine_publish_event(g, EV_INFO, "ready: %s parameters (%s trainable); %s", total, trainable, g->run_dir);
    *out = g;
    return LW_OK;
}

void engine_close(Engine *g) {
    if (!g) return;
    write_end(g);
    engine_watch_free(g->watch);
    if (g->metrics_csv) fclose(g->metrics_csv);
    if (g->samples_txt) fclose(g->samples_txt);
    if (g->task && g->task->close) g->task->close(g);
    dist_close(g->dist);
    engine_free_generation(g);
    if (g->model) g->arch->destroy(g->model);
    tok_free(g->tok);
    free(g->inputs);
    free(g->targets);
    free(g->metrics);
    free(g->health);
    engine_free_probes(g);
    if (g->bpe) bpe_trainer_close(g->bpe);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

const Config *engine_config(const Engine *g) { return &g->cfg; }

/* ---------------------------------------------------------------- training */

/* Data-parallel (dist.h): this rank's rows of the global batch full into *mine; returns their share of the
 * batch's counted targets (rows for the class head), by which their mean loss and gradient are weighted, so the
 * ranks' weighted sum is the one-process loss and gradient. One process: the whole batch, share 1. */
static double batch_share(const ArchBatch *full, ArchBatch *mine) {
    *mine = *full;
    if (dist_size() == 1) return 1.0;
    int r0, r1, B = full->B, T = full->T, S = full->S;
    dist_rows(B, &r0, &r1);
    long all = B, own = r1 - r0;
    if (full->head == ARCH_HEAD_LM && full->targets) {
        all = own = 0;
        for (long i = 0; i < (long)B * T; i++) {
            int counted = full->targets[i] != ARCH_IGNORE_INDEX;
            all += counted;
            own += counted && i >= (long)r0 * T && i < (long)r1 * T;
        }
    }
    mine->B = r1 - r0;
    mine->inputs = full->inputs + (size_t)r0 * T;
    if (full->targets) mine->targets = full->targets + (size_t)r0 * T;
    if (full->lengths) mine->lengths = full->lengths + r0;
    if (full->pool) mine->pool = full->pool + r0;
    if (full->labels) mine->labels = full->labels + r0;
    if (full->src) mine->src = full->src + (size_t)r0 * S;
    if (full->src_lengths) mine->src_lengths = full->src_lengths + r0;
    return all > 0 ? (double)own / (double)all : 0.0;
}

/* Data-parallel: every rank's weights have the same checksum (dist_check_same); *all gets the checksums. One
 * process: nothing to compare (and nothing computed). */
static int engine_check_weights(Engine *g, char *all, size_t n, LwError *e) {
    if (dist_size() == 1) return LW_OK;
    ArchParams p;
    g->arch->params(g->model, &p);
    return dist_check_same(dist_checksum(p.params, p.n_params), g->step, all, n, e);
}

static int check_trainable(Engine *g, LwError *e) {
    if (g->inference_only) return lw_fail(e, LW_ERR_INVALID, "this engine was opened on a checkpoint for inference: no training data");
    if (g->state == ENGINE_DIVERGED) return lw_fail(e, LW_ERR_DIVERGED, "training diverged earlier: resume from the last good checkpoint");
    return LW_OK;
}

int engine_evaluate(Engine *g, float *val_loss, LwError *e) {
    int rc = check_trainable(g, e);
    if (rc && rc != LW_ERR_DIVERGED) return rc;
    if (!g->has_val) return lw_fail(e, LW_ERR_INVALID, "data.val_fraction is 0: there is no validation split");
    int nb = g->cfg.train.eval_batches > 0 ? g->cfg.train.eval_batches : 1;
    nb = LW_MIN(nb, g->task->n_val_batches(g));
    g->task->rewind_val(g);
    double sum = 0;
    long correct = 0, counted = 0;
    for (int i = 0; i < nb; i++) {
        /* data-parallel: each rank its rows of every batch, summed below; an interruption is agreed at step end */
        if (dist_size() == 1 && engine_aborted(g)) return lw_fail(e, LW_ERR_ABORTED, "evaluation interrupted");
        g->task->next_batch(g, 1);
        ArchBatch full = g->batch;
        double w = batch_share(&full, &g->batch); /* val_correct reads g->batch: this rank's rows */
        if (w > 0) sum += w * g->arch->forward(g->model, &g->batch, 0, NULL);
        if (w > 0 && g->task->val_correct) correct += g->task->val_correct(g);
        if (dist_size() == 1) counted += g->task->val_count ? g->task->val_count(g) : g->B;
        else counted += g->task->val_count ? (dist_rank() == 0 ? g->task->val_count(g) : 0) : g->batch.B; /* the
                                                                                   * task counts the whole batch */
    }
    double tot[3] = {sum, (double)correct, (double)counted};
    if ((rc = dist_sum(tot, 3, e))) return rc;
    sum = tot[0], correct = (long)tot[1], counted = (long)tot[2];
    float v = (float)(sum / nb);
    g->val_loss = v;
    if (v < g->best_val) g->best_val = v;
    if (val_loss) *val_loss = v;
    if (g->task->val_correct)
        engine_publish_event(g, EV_EVAL, "val loss %.4f, val accuracy %.1f%% (%d batches), train loss %.4f", v,
                             100.0 * correct / LW_MAX(1, counted), nb, g->train_loss);
    else
        engine_publish_event(g, EV_EVAL, "val %.4f (ppl %.1f), train %.4f", v, exp(v), g->train_loss);
    return LW_OK;
}

/* The task's sample (train.sample_every) as an event and a line of samples.txt. */
static void write_sample(Engine *g) {
    if (!g->task->sample) return;
    SampleParams sp;
    engine_sample_defaults(&sp);
    sp.max_tokens = g->cfg.train.sample_tokens > 0 ? g->cfg.train.sample_tokens : 40;
    sp.seed = g->cfg.train.seed + (uint64_t)g->step;
    char text[SNAP_EVENT_TEXT - 64];
    if (!g->task->sample(g, &sp, text, sizeof text)) return;
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    engine_publish_event(g, EV_SAMPLE, "%s", text);
    if (g->samples_txt) {
        fprintf(g->samples_txt, "step %ld: %s\n", g->step, text);
        fflush(g->samples_txt);
    }
}

/* After a step: the sample, the probe snapshot and the task's evaluation that are due. */
static int step_outputs(Engine *g, int ckpt_due, LwError *e) {
    const TrainCfg *t = &g->cfg.train;
    int rc;
    if (t->sample_every > 0 && (g->step % t->sample_every == 0 || g->state == ENGINE_DONE)) write_sample(g);
    if (g->cfg.probe.snapshot_every > 0 && g->step % g->cfg.probe.snapshot_every == 0 && (rc = engine_probe_now(g, e)))
        return rc;
    if (g->task->evaluate && (g->state == ENGINE_DONE || ckpt_due) && (rc = g->task->evaluate(g, e))) return rc;
    return LW_OK;
}

int engine_train_step(Engine *g, LwError *e) {
    int rc = check_trainable(g, e);
    if (rc) return rc;
    if (g->state == ENGINE_DONE) return lw_fail(e, LW_ERR_INVALID, "training is complete (%ld steps)", g->total_steps);
    const TrainCfg *t = &g->cfg.train;
    int accum = t->grad_accum > 0 ? t->grad_accum : 1;
    if (g->task->evaluate && !g->task_eval_done) {
        g->task_eval_done = 1; /* the model before finetuning, for comparison (rank 0's) */
        if ((rc = dist_agree(dist_rank() == 0 ? g->task->evaluate(g, e) : LW_OK, e))) return rc;
    }
    double t0 = lw_now();
    g->arch->zero_grad(g->model);
    double loss = 0;
    long tokens = 0;
    /* data-parallel: each rank its own dropout stream for the step, from the seed, the step and the rank; g->rng
     * stays the tasks' (mlm draws its masks from it), the same on every rank */
    Rng drop, *rng = &g->rng;
    if (dist_size() > 1) {
        rng_seed(&drop, g->cfg.train.seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(g->step + 1)) ^
                            (0xc2b2ae3d27d4eb4fULL * (uint64_t)(dist_rank() + 1)));
        rng = &drop;
    }
    for (int a = 0; a < accum; a++) {
        if (a > 0 && dist_size() == 1 && engine_aborted(g)) /* nothing applied yet: the step is simply not taken */
            return lw_fail(e, LW_ERR_ABORTED, "step %ld interrupted", g->step + 1);
        tokens += g->task->next_batch(g, 0);
        const ArchBatch *b = &g->batch;
        if (a == 0) { /* the first row, for the Embed screen */
            pthread_mutex_lock(&g->mu);
            g->window_len = LW_MIN(b->T, SNAP_MAX_WINDOW);
            memcpy(g->window_inputs, b->inputs, (size_t)g->window_len * sizeof(int));
            for (int i = 0; i < g->window_len; i++) g->window_targets[i] = b->targets ? b->targets[i] : ARCH_IGNORE_INDEX;
            g->window_start = g->task->window_start(g);
            pthread_mutex_unlock(&g->mu);
        }
        /* data-parallel: this rank's rows; the last backward starts the gradient sums (dist.h) */
        ArchBatch mine;
        double w = batch_share(b, &mine);
        if (a == accum - 1) dist_grads_begin(g->dist);
        if (w > 0) {
            loss += w * g->arch->forward(g->model, &mine, 1, rng);
            g->arch->backward(g->model, (float)w / accum);
        }
    }
    if ((rc = dist_grads_end(g->dist, e)) || (rc = dist_sum(&loss, 1, e))) return rc;
    loss /= accum;
    float norm = g->arch->grad_norm(g->model);
    if (!isfinite(loss) || !isfinite(norm)) {
        /* The update was not applied: the weights are those of the last good step. */
        g->state = ENGINE_DIVERGED;
        engine_publish_event(g, EV_ERROR, "loss diverged at step %ld (loss %g, gradient norm %g): training stopped; "
                                          "the last good checkpoint is kept in %s/latest",
                             g->step + 1, loss, norm, g->run_dir);
        return lw_fail(e, LW_ERR_DIVERGED, "loss diverged at step %ld (loss %g, gradient norm %g): training stopped; "
                                           "the last good checkpoint is kept in %s/latest",
                       g->step + 1, loss, norm, g->run_dir);
    }
    float lr = lr_at(t, g->step, g->total_steps);
    float scale = t->grad_clip > 0 && norm > t->grad_clip ? t->grad_clip / norm : 1.0f;
    ArchAdamW adam = {.lr = lr, .beta1 = ADAM_BETA1, .beta2 = ADAM_BETA2, .eps = ADAM_EPS,
                      .weight_decay = t->weight_decay, .t = (int)(g->step + 1), .grad_scale = scale};
    long every = g->cfg.probe.snapshot_every;
    if (every > 0 && (g->step == 0 || (g->step + 1) % every == 0)) engine_health_record(g, &adam);
    g->arch->adamw_step(g->model, &adam);
    double dt = lw_now() - t0;
    g->step++;
    g->tokens_seen += tokens;
    g->train_time += dt;
    g->train_loss = (float)loss;
    g->grad_norm = norm;
    g->lr = lr;
    g->tps = (float)((double)tokens / dt);
    if (g->step >= g->total_steps) g->state = ENGINE_DONE;

    int eval_due = g->has_val && t->eval_every > 0 && (g->step % t->eval_every == 0 || g->state == ENGINE_DONE);
    float val = NAN;
    if (eval_due && (rc = engine_evaluate(g, &val, e))) return rc;
    MetricPoint p = {.step = g->step, .tokens = g->tokens_seen, .train_loss = g->train_loss, .val_loss = val,
                     .lr = lr, .grad_norm = norm, .tokens_per_sec = g->tps, .elapsed = g->train_time};
    publish_metric(g, &p);
    int ckpt_due = t->checkpoint_every > 0 && g->step % t->checkpoint_every == 0;
    /* data-parallel: samples, probes and the task's evaluation are rank 0's; then every rank agrees on the
     * outcome, an interruption of any rank included, so all stop after the same step */
    rc = dist_rank() == 0 ? step_outputs(g, ckpt_due, e) : LW_OK;
    if (dist_size() > 1) {
        if (!rc && engine_aborted(g)) rc = lw_fail(e, LW_ERR_ABORTED, "interrupted after step %ld", g->step);
        if ((rc = dist_agree(rc, e))) return rc;
#ifndef NDEBUG
        if (g->step % DIST_CHECK_EVERY == 0 && (rc = engine_check_weights(g, NULL, 0, e))) return rc;
#endif
    }
    if (rc) return rc;
    if (ckpt_due && (rc = engine_save(g, NULL, e))) return rc;
    return LW_OK;
}

/* Data-parallel: every rank calls it; the weights are checked identical, rank 0 writes, all return its outcome. */
int engine_save(Engine *g, const char *dir, LwError *e) {
    char sums[256] = "";
    int rc = dist_size() > 1 ? engine_check_weights(g, sums, sizeof sums, e) : LW_OK;
    if (!rc && dist_rank() == 0) rc = engine_save_here(g, dir, e);
    if (dist_size() == 1 || (rc = dist_agree(rc, e))) return rc;
    g->last_ckpt_step = g->step;
    lw_log(LW_LOG_INFO, "weights identical on %d ranks at step %ld (checksums %s)", dist_size(), g->step, sums);
    return LW_OK;
}

static int engine_save_here(Engine *g, const char *dir, LwError *e) {
    char path[CFG_PATH_MAX + 32];
    if (!dir) {
        int rc = lw_mkdirs(g->run_dir, e);
        if (rc) return rc;
        dir = lw_path_join(path, sizeof path, g->run_dir, "latest");
    }
    TrainState st = {.step = g->step, .tokens_seen = g->tokens_seen, .rng = g->rng, .best_val_loss = g->best_val,
                     .last_val_loss = g->val_loss, .elapsed = g->train_time};
    char *yaml = NULL;
    size_t ylen = 0;
    FILE *mf = open_memstream(&yaml, &ylen);
    cfg_dump(&g->cfg, mf);
    fclose(mf);
    int rc;
    if (g->inference_only) {
        rc = g->arch->save(g->model, dir, g->tok, NULL, NULL, 0, e);
    } else {
        g->task->loader_state(g, &st.loader);
        rc = g->arch->save(g->model, dir, g->tok, &st, yaml, 0, e);
    }
    free(yaml);
    if (rc) return rc;
    if (g->task->save_meta && (rc = g->task->save_meta(g, dir, e))) return rc;
    g->last_ckpt_step = g->step;
    pthread_mutex_lock(&g->mu);
    snprintf(g->last_ckpt, sizeof g->last_ckpt, "%.*s", (int)sizeof g->last_ckpt - 1, dir);
    pthread_mutex_unlock(&g->mu);
    engine_publish_event(g, EV_CHECKPOINT, "checkpoint saved: %s (step %ld)", dir, g->step);
    return LW_OK;
}

int engine_save_merged(Engine *g, const char *dir, LwError *e) {
    int rc = g->arch->save(g->model, dir, g->tok, NULL, NULL, CKPT_MERGE_LORA, e);
    if (rc == LW_OK && g->task->save_meta) rc = g->task->save_meta(g, dir, e);
    if (rc == LW_OK) engine_publish_event(g, EV_CHECKPOINT, "weights%s exported: %s", engine_model_info(g).lora_rank ? " (LoRA merged)" : "", dir);
    return rc;
}

/* ---------------------------------------------------------------- published getters */

uint64_t engine_seq(Engine *g) {
    pthread_mutex_lock(&g->mu);
    uint64_t s = g->seq;
    pthread_mutex_unlock(&g->mu);
    return s;
}

void engine_get_train(Engine *g, TrainSnapshot *o) {
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&g->mu);
    o->state = g->state;
    o->step = g->step;
    o->total_steps = g->total_steps;
    o->tokens_seen = g->tokens_seen;
    o->train_loss = g->train_loss;
    o->val_loss = g->val_loss;
    o->lr = g->lr;
    o->grad_norm = g->grad_norm;
    o->tokens_per_sec = g->tps;
    o->elapsed = g->train_time;
    long left = g->total_steps - g->step;
    o->eta = g->step > 0 && left > 0 ? g->train_time / g->step * left : (left > 0 ? -1 : 0);
    ArchInfo mi = engine_model_info(g);
    o->n_params = (long)mi.n_params;
    o->n_trainable = g->inference_only && !g->watch ? 0 : (long)mi.n_trainable;
    o->inference_only = g->inference_only && !g->watch;
    o->watching = g->watch != NULL;
    memcpy(o->last_ckpt, g->last_ckpt, sizeof o->last_ckpt);
    o->vocab_size = mi.vocab_size;
    o->n_layer = mi.n_layer;
    o->n_head = mi.n_head;
    o->d_model = mi.d_model;
    o->context_length = mi.context_length;
    o->batch_size = g->watch ? g->cfg.train.batch_size : g->B; /* a watched run's, not the chat's 1 */
    snprintf(o->run_dir, sizeof o->run_dir, "%s", g->run_dir);
    o->unsaved = (int)(g->step - g->last_ckpt_step);
    o->window_len = g->window_len;
    o->stride = g->cfg.data.stride > 0 ? g->cfg.data.stride : g->T;
    o->window_start = g->window_start;
    memcpy(o->window_inputs, g->window_inputs, sizeof o->window_inputs);
    memcpy(o->window_targets, g->window_targets, sizeof o->window_targets);
    pthread_mutex_unlock(&g->mu);
}

int engine_n_metrics(Engine *g) {
    pthread_mutex_lock(&g->mu);
    int n = g->n_metrics;
    pthread_mutex_unlock(&g->mu);
    return n;
}

int engine_get_metrics(Engine *g, int from, MetricPoint *out, int max) {
    pthread_mutex_lock(&g->mu);
    int k = 0;
    for (int i = from < 0 ? 0 : from; i < g->n_metrics && k < max; i++) out[k++] = g->metrics[i];
    pthread_mutex_unlock(&g->mu);
    return k;
}

int engine_get_events(Engine *g, long after_seq, EngineEvent *out, int max) {
    pthread_mutex_lock(&g->mu);
    long first = g->ev_seq - EVENT_RING + 1;
    if (first < 1) first = 1;
    if (after_seq + 1 > first) first = after_seq + 1;
    int k = 0;
    for (long s = first; s <= g->ev_seq && k < max; s++) out[k++] = g->events[(s - 1) % EVENT_RING];
    pthread_mutex_unlock(&g->mu);
    return k;
}

