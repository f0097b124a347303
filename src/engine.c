/* engine.c — the step-wise engine behind engine.h: tokenizer, data, model, optimizer schedule, evaluation,
 * sampling, checkpoints, probe snapshots, the BPE trainer of the Tokenizer screen, and the published state that
 * front ends read from another thread.
 *
 * Locking: `mu` guards everything under "published" plus the BPE trainer (its steps are short). The driver never
 * holds `mu` during a training step; it takes it only to publish. */
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "checkpoint.h"
#include "data.h"
#include "finetune.h"
#include "matmul.h"
#include "arch.h"
#include "rng.h"
#include "sampler.h"

#define EVENT_RING 256
#define ADAM_BETA1 0.9f
#define ADAM_BETA2 0.95f
#define ADAM_EPS 1e-8f
#define PROBE_MEM_CAP ((size_t)256 << 20) /* bytes of probe history kept before thinning it */

struct Engine {
    Config cfg;
    char run_dir[CFG_PATH_MAX];
    volatile int *abort_flag;
    int inference_only;         /* opened on a checkpoint: no data, no training */
    int has_val;                /* a validation split exists (data.val_fraction > 0) */

    Tokenizer *tok;
    TokenData data;
    Loader train_loader, val_loader;
    const ArchOps *arch;        /* the model's architecture (model.arch, or the checkpoint's model_type) */
    void *model;                /* its handle */
    Rng rng;                    /* dropout; saved in checkpoints */
    int B, T;
    int *inputs, *targets;      /* (B, T) */

    long step, total_steps, tokens_seen;
    double train_time;          /* seconds spent in steps (saved) */
    float train_loss, val_loss, best_val, lr, grad_norm, tps;
    long last_ckpt_step;
    EngineState state;
    FILE *metrics_csv, *samples_txt;

    /* generation */
    void *kv;                   /* arch->decode_open's state, NULL when the architecture does not generate */
    float *gen_logits, *gen_scratch; /* (V) each */
    int *gen_idx;               /* (V) */
    Rng gen_rng;
    SampleParams gen;
    int gen_count, gen_pending, gen_done;
    GenToken gen_class;         /* a classifier's answer, handed out by the next engine_gen_next */

    /* finetuning (cfg.finetune.mode, or the checkpoint's llmwb-finetune.json for inference) */
    FtMode ft_mode;
    InsTemplate tmpl;
    InsData ins;                /* instruct: data.paths[0] */
    InsData ins_held;           /* instruct: data.paths[1], a held-out file for exact-match (optional) */
    ClsData cls;                /* classify: data.paths[0] */
    int *last, *labels;         /* classify: (B) position of the last real token, class of each row */
    double nb_val, nb_test;     /* classify: naive-Bayes baseline accuracies on the same split */
    FtSplit split;
    FtCursor ft_train, ft_val;
    int *rows;                  /* (B) example indices of a batch */
    int ft_baseline_done;       /* exact-match of the model before finetuning has been measured */
    CkptFinetune ft_meta;       /* labels/template when opened on a finetuned checkpoint */

    /* probe */
    int probe_ids[SNAP_MAX_PROBE], probe_T;

    /* published, under mu */
    pthread_mutex_t mu;
    uint64_t seq;
    MetricPoint *metrics;
    int n_metrics, cap_metrics;
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

/* ---------------------------------------------------------------- publishing */

static void publish_event(Engine *g, EventKind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void publish_event(Engine *g, EventKind kind, const char *fmt, ...) {
    char text[SNAP_EVENT_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g->mu);
    EngineEvent *ev = &g->events[g->ev_seq % EVENT_RING];
    ev->seq = ++g->ev_seq;
    ev->step = g->step;
    ev->kind = kind;
    memcpy(ev->text, text, sizeof text);
    g->seq++;
    pthread_mutex_unlock(&g->mu);
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
        fprintf(g->metrics_csv, "%ld,%ld,%.6f,", p->step, p->tokens, p->train_loss);
        if (isnan(p->val_loss)) fprintf(g->metrics_csv, ",");
        else fprintf(g->metrics_csv, "%.6f,", p->val_loss);
        fprintf(g->metrics_csv, "%.6g,%.6g,%.1f,%.3f\n", p->lr, p->grad_norm, p->tokens_per_sec, p->elapsed);
        fflush(g->metrics_csv);
    }
}

static int aborted(const Engine *g) { return g->abort_flag && *g->abort_flag; }

/* ---------------------------------------------------------------- tokenizer setup */

static void progress(const EngineOpenOpts *o, const char *what, double done, double total) {
    if (o && o->progress) o->progress(o->progress_ud, what, done, total);
}

/* The run's BPE vocabulary: reused from <run_dir>/tokenizer when it was trained on the same text and size,
 * trained (and saved) otherwise. */
static int setup_bpe_tokenizer(Engine *g, const char *text, size_t len, const EngineOpenOpts *o, LwError *e) {
    char dir[CFG_PATH_MAX + 32], stamp_path[CFG_PATH_MAX + 64], stamp[128];
    snprintf(dir, sizeof dir, "%s/tokenizer", g->run_dir);
    snprintf(stamp_path, sizeof stamp_path, "%s/llmwb-source.txt", dir);
    uint64_t h = lw_hash64(text, len, LW_HASH_INIT);
    snprintf(stamp, sizeof stamp, "bpe %d %016llx %zu\n", g->cfg.tokenizer.vocab_size, (unsigned long long)h, len);
    char *old = NULL;
    if (lw_read_file(stamp_path, &old, NULL, NULL) == LW_OK) {
        int same = !strcmp(old, stamp);
        free(old);
        if (same && tok_load_dir(&g->tok, dir, NULL) == LW_OK) {
            lw_log(LW_LOG_INFO, "tokenizer: reusing %s (%d tokens)", dir, tok_vocab_size(g->tok));
            return LW_OK;
        }
    }
    BpeTrainer *b;
    int rc = bpe_trainer_open(&b, text, len, g->cfg.tokenizer.vocab_size, e);
    if (rc) return rc;
    int target = g->cfg.tokenizer.vocab_size - 257;
    BpeStepInfo info;
    double last = 0;
    while (bpe_trainer_step(b, &info) == 1) {
        if (aborted(g)) {
            bpe_trainer_close(b);
            return lw_fail(e, LW_ERR_ABORTED, "interrupted while training the tokenizer");
        }
        double now = lw_now();
        if (now - last > 0.05) {
            last = now;
            progress(o, "training tokenizer (BPE merges)", bpe_trainer_n_merges(b), target);
        }
    }
    progress(o, "training tokenizer (BPE merges)", target, target);
    g->tok = bpe_trainer_build(b);
    bpe_trainer_close(b);
    if ((rc = lw_mkdirs(dir, e)) || (rc = tok_save_dir(g->tok, dir, e)) ||
        (rc = lw_write_file_atomic(stamp_path, stamp, strlen(stamp), e)))
        return rc;
    return LW_OK;
}

static int setup_tokenizer(Engine *g, const EngineOpenOpts *o, LwError *e) {
    const Config *c = &g->cfg;
    switch (c->tokenizer.kind) {
    case TOK_GPT2:
        if (!c->tokenizer.path[0]) return lw_fail(e, LW_ERR_INVALID, "tokenizer.path: the GPT-2 tokenizer needs a directory with encoder.json and vocab.bpe");
        return tok_load_dir(&g->tok, c->tokenizer.path, e);
    case TOK_BYTES:
        g->tok = tok_new_bytes();
        return LW_OK;
    case TOK_BPE:
    case TOK_WORDS: {
        char *text;
        size_t len;
        int rc = data_load_text(c, &text, &len, e);
        if (rc) return rc;
        if (c->tokenizer.kind == TOK_WORDS) rc = tok_new_words(&g->tok, text, len, e);
        else rc = setup_bpe_tokenizer(g, text, len, o, e);
        free(text);
        return rc;
    }
    }
    return lw_fail(e, LW_ERR_INVALID, "tokenizer.kind: unknown kind");
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

/* ---------------------------------------------------------------- open / close */

static ArchInfo model_info(const Engine *g) {
    ArchInfo mi;
    g->arch->info(g->model, &mi);
    return mi;
}

/* A fresh model of the config's shape for V tokens, initialised from the run's seed. */
static int fresh_model(Engine *g, int V, LwError *e) {
    int rc = g->arch->create(&g->model, &g->cfg.model, V, e);
    if (rc) return rc;
    Rng init;
    rng_seed(&init, g->cfg.train.seed ^ 0x5eedULL);
    g->arch->init_weights(g->model, &init);
    return LW_OK;
}

static void alloc_generation(Engine *g) {
    ArchInfo mi = model_info(g);
    int V = mi.vocab_size;
    g->kv = g->arch->decode_open ? g->arch->decode_open(g->model, mi.context_length) : NULL;
    g->gen_logits = lw_malloc((size_t)V * sizeof(float));
    g->gen_scratch = lw_malloc((size_t)V * sizeof(float));
    g->gen_idx = lw_malloc((size_t)V * sizeof(int));
    g->gen_done = 1;
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
    g->metrics_csv = fopen(path, resumed && exists ? "a" : "w");
    if (!g->metrics_csv) return lw_fail(e, LW_ERR_IO, "%s: cannot open for writing", path);
    if (!(resumed && exists))
        fprintf(g->metrics_csv, "step,tokens,train_loss,val_loss,lr,grad_norm,tokens_per_sec,elapsed\n");
    lw_path_join(path, sizeof path, g->run_dir, "samples.txt");
    g->samples_txt = fopen(path, resumed ? "a" : "w");
    if (!g->samples_txt) return lw_fail(e, LW_ERR_IO, "%s: cannot open for writing", path);
    return LW_OK;
}

static int open_instruct(Engine *g, const EngineOpenOpts *o, LwError *e);
static int open_classify(Engine *g, const EngineOpenOpts *o, LwError *e);

static int open_training(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    int rc;
    if (c->finetune.mode == FT_INSTRUCT) return open_instruct(g, o, e);
    if (c->finetune.mode == FT_CLASSIFY) return open_classify(g, o, e);
    if ((rc = setup_tokenizer(g, o, e))) return rc;
    int V = tok_vocab_size(g->tok);
    if (V != c->model.vocab_size) {
        if (c->tokenizer.kind == TOK_BPE && V < c->model.vocab_size)
            lw_log(LW_LOG_WARN, "the corpus gave only %d tokens (asked for %d): model.vocab_size is now %d", V,
                   c->model.vocab_size, V);
        c->model.vocab_size = V;
    }
    progress(o, "tokenizing the corpus", 0, 1);
    if ((rc = data_build(&g->data, c, g->tok, g->run_dir, e))) return rc;
    progress(o, "tokenizing the corpus", 1, 1);
    g->B = c->train.batch_size;
    g->T = c->data.window > 0 ? LW_MIN(c->data.window, c->model.context_length) : c->model.context_length;
    if ((rc = loader_init(&g->train_loader, g->data.train, g->data.n_train, g->B, g->T, c->data.stride,
                          c->train.seed, 1, e)))
        return rc;
    g->has_val = g->data.n_val > 0;
    if (g->has_val &&
        (rc = loader_init(&g->val_loader, g->data.val, g->data.n_val, g->B, g->T, 0, c->train.seed, 0, e)))
        return rc;
    g->total_steps = c->train.steps;
    if (g->total_steps <= 0) {
        double per_epoch = (double)loader_n_batches(&g->train_loader) / (c->train.grad_accum > 0 ? c->train.grad_accum : 1);
        g->total_steps = (long)ceil((c->train.epochs > 0 ? c->train.epochs : 1) * per_epoch);
        if (g->total_steps < 1) g->total_steps = 1;
    }

    rng_seed(&g->rng, c->train.seed);
    int resumed = 0;
    if (o && o->resume_dir) {
        TrainState st;
        if ((rc = g->arch->load(&g->model, o->resume_dir, NULL, &st, e))) return rc;
        ArchInfo mc = model_info(g);
        const ModelCfg *gc = &c->model;
        if (mc.n_layer != gc->n_layer || mc.n_head != gc->n_head || mc.d_model != gc->d_model ||
            mc.vocab_size != V || mc.context_length != gc->context_length)
            return lw_fail(e, LW_ERR_INVALID, "%s: checkpoint model (%d layers, %d heads, d_model %d, context %d, vocab %d) does not fit the config (%d, %d, %d, %d, %d)",
                           o->resume_dir, mc.n_layer, mc.n_head, mc.d_model, mc.context_length, mc.vocab_size,
                           gc->n_layer, gc->n_head, gc->d_model, gc->context_length, V);
        g->step = st.step;
        g->tokens_seen = st.tokens_seen;
        g->rng = st.rng;
        g->best_val = st.best_val_loss;
        g->val_loss = st.last_val_loss;
        g->train_time = st.elapsed;
        if ((rc = loader_restore(&g->train_loader, &st.loader, e))) return rc;
        resumed = 1;
        g->last_ckpt_step = g->step;
    } else if (c->finetune.init_from[0]) {
        if ((rc = g->arch->create(&g->model, &c->model, V, e))) return rc;
        if ((rc = g->arch->load(&g->model, c->finetune.init_from, NULL, NULL, e))) return rc;
    } else {
        if ((rc = fresh_model(g, V, e))) return rc;
    }
    if ((rc = g->arch->reserve(g->model, g->B, g->T, 0, e))) return rc;
    g->inputs = lw_malloc((size_t)g->B * g->T * sizeof(int));
    g->targets = lw_malloc((size_t)g->B * g->T * sizeof(int));
    if ((rc = open_files(g, resumed, e))) return rc;
    if (g->step >= g->total_steps) g->state = ENGINE_DONE;
    return LW_OK;
}

/* After loading a checkpoint's weights: its tokenizer if it has one; for a bare Hugging Face GPT-2 directory
 * (V = 50257) the shipped GPT-2 vocabulary; otherwise raw bytes with a warning. */
static int checkpoint_tokenizer(Engine *g, const char *dir, LwError *e) {
    int rc, V = model_info(g).vocab_size;
    if (!g->tok) {
        if (V != 50257) {
            if (V < 257)
                return lw_fail(e, LW_ERR_INVALID, "%s: no tokenizer files (vocab.json + merges.txt) in the checkpoint", dir);
            lw_log(LW_LOG_WARN, "%s: no tokenizer files (vocab.json + merges.txt): text is shown as raw bytes", dir);
            g->tok = tok_new_bytes();
        }
        char cfgdir[CFG_PATH_MAX + 8];
        snprintf(cfgdir, sizeof cfgdir, "%s", g->cfg.tokenizer.path);
        const char *dirs[] = {cfgdir, "corpora/gpt2", LLMWB_SHARE "/corpora/gpt2"};
        for (size_t i = 0; i < LW_ARRAY_LEN(dirs) && !g->tok; i++) /* GPT-2's own vocabulary */
            if (dirs[i][0] && lw_is_dir(dirs[i]) && (rc = tok_load_dir(&g->tok, dirs[i], e))) return rc;
        if (!g->tok) return lw_fail(e, LW_ERR_IO, "%s: no tokenizer files, and the shipped GPT-2 vocabulary was not found", dir);
    }
    if (tok_vocab_size(g->tok) > V)
        return lw_fail(e, LW_ERR_INVALID, "%s: tokenizer has %d tokens but the model only %d", dir,
                       tok_vocab_size(g->tok), V);
    return LW_OK;
}

/* Loads checkpoint dir into a new g->model together with what a finetuned checkpoint adds (its class head), its
 * tokenizer (checkpoint_tokenizer) and its finetune metadata (g->ft_meta); st (may be NULL) as ckpt_load. */
static int load_checkpoint_model(Engine *g, const char *dir, TrainState *st, LwError *e) {
    int rc;
    const ArchOps *arch;
    if ((rc = arch_for_checkpoint(dir, &arch, e)) || (rc = ckpt_read_finetune(dir, &g->ft_meta, e))) return rc;
    if (g->arch && g->arch != arch) /* training: model.arch must name it; inference: the checkpoint decides */
        return lw_fail(e, LW_ERR_INVALID, "%s: a %s checkpoint, but model.arch is %s", dir, arch->name, g->arch->name);
    g->arch = arch;
    /* into an empty model: the loader recreates a class head and LoRA adapters when the directory has them */
    if ((rc = arch->load(&g->model, dir, &g->tok, st, e))) return rc;
    int K = model_info(g).n_classes;
    if (g->ft_meta.mode == FT_CLASSIFY && K != g->ft_meta.n_labels)
        return lw_fail(e, LW_ERR_INVALID, "%s: llmwb-finetune.json names %d labels but the head has %d classes", dir,
                       g->ft_meta.n_labels, K);
    return checkpoint_tokenizer(g, dir, e);
}

/* Finetuning: weights and tokenizer from finetune.init_from (a run of ours or a Hugging Face GPT-2 directory) or,
 * when resuming, from the resumed checkpoint (*st filled); without init_from, a fresh model as for pretraining. */
static int finetune_model(Engine *g, const EngineOpenOpts *o, TrainState *st, int *resumed, LwError *e) {
    Config *c = &g->cfg;
    const char *src = o && o->resume_dir ? o->resume_dir : c->finetune.init_from[0] ? c->finetune.init_from : NULL;
    int rc;
    *resumed = o && o->resume_dir;
    if (!src) {
        if ((rc = setup_tokenizer(g, o, e))) return rc;
        return fresh_model(g, tok_vocab_size(g->tok), e);
    }
    if ((rc = load_checkpoint_model(g, src, *resumed ? st : NULL, e))) return rc;
    g->arch->set_dropout(g->model, c->model.dropout); /* finetuning's own dropout (the book: 0.0 for the classifier) */
    lw_log(LW_LOG_INFO, "finetuning from %s: %zu parameters", src, model_info(g).n_params);
    return LW_OK;
}

/* After the model (and any class head) exists: LoRA adapters when finetune.lora_rank > 0 (then only they train),
 * else the configured trainable subset. A resumed run gets its adapters from the checkpoint. */
static int setup_trainable(Engine *g, int resumed, LwError *e) {
    const FinetuneCfg *f = &g->cfg.finetune;
    if (f->lora_rank > 0 && !model_info(g).lora_rank && !resumed) {
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

/* What both finetuning modes do once g->split, g->B and g->T are set: batch cursors, the step count (train.steps,
 * or epochs over the training split), the RNG or a resumed run's state (st, NULL when not resuming), activations
 * and the run's files. */
static int ft_setup_run(Engine *g, const TrainState *st, LwError *e) {
    const Config *c = &g->cfg;
    int rc;
    if ((rc = ft_cursor_init(&g->ft_train, g->split.train, g->split.n_train, c->train.seed, 1, e))) return rc;
    g->has_val = g->split.n_val > 0;
    if (g->has_val && (rc = ft_cursor_init(&g->ft_val, g->split.val, g->split.n_val, c->train.seed, 0, e))) return rc;
    g->rows = lw_malloc((size_t)g->B * sizeof(int));
    g->total_steps = c->train.steps;
    if (g->total_steps <= 0) {
        double per_epoch = (double)ft_cursor_n_batches(&g->ft_train, g->B) / (c->train.grad_accum > 0 ? c->train.grad_accum : 1);
        g->total_steps = LW_MAX(1, (long)ceil((c->train.epochs > 0 ? c->train.epochs : 1) * per_epoch));
    }
    rng_seed(&g->rng, c->train.seed);
    if (st) {
        g->step = st->step;
        g->tokens_seen = st->tokens_seen;
        g->rng = st->rng;
        g->best_val = st->best_val_loss;
        g->val_loss = st->last_val_loss;
        g->train_time = st->elapsed;
        g->last_ckpt_step = g->step;
        g->ft_baseline_done = 1;
        if ((rc = ft_cursor_restore(&g->ft_train, st->loader.epoch, (int)st->loader.cursor, e))) return rc;
    }
    if ((rc = g->arch->reserve(g->model, g->B, g->T, 0, e))) return rc;
    g->inputs = lw_malloc((size_t)g->B * g->T * sizeof(int));
    g->targets = lw_malloc((size_t)g->B * g->T * sizeof(int));
    if ((rc = open_files(g, st != NULL, e))) return rc;
    if (g->step >= g->total_steps) g->state = ENGINE_DONE;
    return LW_OK;
}

/* Instruction tuning: the model as above, the dataset tokenized with the template, split 85/10/5 as configured. */
static int open_instruct(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    TrainState st;
    int resumed, rc;
    if ((rc = ins_template_parse(c->finetune.template_name, &g->tmpl, e))) return rc;
    if ((rc = finetune_model(g, o, &st, &resumed, e))) return rc;
    if ((rc = setup_trainable(g, resumed, e))) return rc;
    g->ft_mode = FT_INSTRUCT;
    g->B = c->train.batch_size;
    g->T = LW_MIN(model_info(g).context_length, c->model.context_length);
    if ((rc = ins_load(&g->ins, c->data.paths[0], e))) return rc;
    if ((rc = ins_tokenize(&g->ins, g->tmpl, g->tok, g->T, c->finetune.truncate, e))) return rc;
    if (c->data.n_paths > 1) {
        if ((rc = ins_load(&g->ins_held, c->data.paths[1], e))) return rc;
        if ((rc = ins_tokenize(&g->ins_held, g->tmpl, g->tok, g->T, 1, e))) return rc;
    }
    if ((rc = ins_split(&g->split, g->ins.n, c->data.val_fraction, c->data.test_fraction, c->train.seed, e))) return rc;
    if ((rc = ft_setup_run(g, resumed ? &st : NULL, e))) return rc;
    lw_log(LW_LOG_INFO, "instruction data: %d examples (%d train, %d val, %d test)%s; template %s%s", g->ins.n,
           g->split.n_train, g->split.n_val, g->split.n_test, g->ins_held.n ? " + held-out file" : "",
           c->finetune.template_name, c->finetune.mask_prompt ? ", prompt masked in the loss" : "");
    return LW_OK;
}

/* Classification: the model as above plus a class head on the last real token, the TSV dataset split (and
 * balanced) as configured, and the naive-Bayes baseline on the same split. */
static int open_classify(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    TrainState st;
    int resumed, rc;
    if ((rc = finetune_model(g, o, &st, &resumed, e))) return rc;
    g->ft_mode = FT_CLASSIFY;
    int Tmax = LW_MIN(model_info(g).context_length, c->model.context_length);
    if ((rc = cls_load(&g->cls, c->data.paths[0], &c->finetune, g->tok, Tmax, e))) return rc;
    if (resumed && model_info(g).n_classes != g->cls.n_labels)
        return lw_fail(e, LW_ERR_INVALID, "%s: the checkpoint's head has %d classes but %s has %d labels",
                       o->resume_dir, model_info(g).n_classes, c->data.paths[0], g->cls.n_labels);
    if (!resumed) {
        Rng hr;
        rng_seed(&hr, c->train.seed ^ 0xc1a55ULL);
        if ((rc = g->arch->add_class_head(g->model, g->cls.n_labels, &hr, e))) return rc;
    }
    g->ft_meta.mode = FT_CLASSIFY;
    g->ft_meta.n_labels = g->cls.n_labels;
    for (int i = 0; i < g->cls.n_labels; i++)
        snprintf(g->ft_meta.labels[i], sizeof g->ft_meta.labels[i], "%s", g->cls.labels[i]);
    if ((rc = setup_trainable(g, resumed, e))) return rc;
    if ((rc = cls_split(&g->split, &g->cls, c->finetune.balance, c->data.val_fraction, c->data.test_fraction,
                        c->train.seed, e)))
        return rc;
    g->B = c->train.batch_size;
    g->T = LW_MAX(1, cls_max_len(&g->cls, g->split.train, g->split.n_train)); /* the book: the longest training text */
    if ((rc = ft_setup_run(g, resumed ? &st : NULL, e))) return rc;
    g->last = lw_malloc((size_t)g->B * sizeof(int));
    g->labels = lw_malloc((size_t)g->B * sizeof(int));
    for (int i = 0; i < g->B * g->T; i++) g->targets[i] = ARCH_IGNORE_INDEX;
    cls_baseline(&g->cls, &g->split, &g->nb_val, &g->nb_test);
    char names[256] = "";
    for (int i = 0; i < g->cls.n_labels; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", g->cls.labels[i]);
    lw_log(LW_LOG_INFO, "classification data: %d examples, labels %s (%d train, %d val, %d test)%s; padded to %d tokens",
           g->cls.n, names, g->split.n_train, g->split.n_val, g->split.n_test, c->finetune.balance ? ", balanced" : "", g->T);
    publish_event(g, EV_INFO, "naive-Bayes baseline on the same split: val %.1f%%, test %.1f%%", 100 * g->nb_val,
                  100 * g->nb_test);
    return LW_OK;
}

static int open_inference(Engine *g, const char *dir, LwError *e) {
    g->arch = NULL;
    int rc = load_checkpoint_model(g, dir, NULL, e);
    if (rc) return rc;
    g->ft_mode = (FtMode)g->ft_meta.mode;
    if (g->ft_mode == FT_INSTRUCT && (rc = ins_template_parse(g->ft_meta.template_name, &g->tmpl, e))) return rc;
    g->inference_only = 1;
    g->state = ENGINE_DONE;
    Config *c = &g->cfg;
    g->arch->to_config(g->model, &c->model);
    snprintf(c->model.arch, sizeof c->model.arch, "%s", g->arch->name);
    g->B = 1;
    g->T = LW_MIN(c->model.context_length, 256);
    if ((rc = g->arch->reserve(g->model, 1, g->T, 0, e))) return rc;
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
    if (o && o->run_dir) snprintf(g->run_dir, sizeof g->run_dir, "%s", o->run_dir);
    else if (cfg->train.run_dir[0]) snprintf(g->run_dir, sizeof g->run_dir, "%s", cfg->train.run_dir);
    else snprintf(g->run_dir, sizeof g->run_dir, "runs/%s", cfg->name[0] ? cfg->name : "default");
    g->arch = arch_find(cfg->model.arch[0] ? cfg->model.arch : "gpt");
    if (!g->arch) {
        lw_fail(e, LW_ERR_INVALID, "model.arch: unknown architecture '%s'", cfg->model.arch);
        engine_close(g);
        *out = NULL;
        return LW_ERR_INVALID;
    }
    matmul_set_threads(cfg->train.threads > 0 ? cfg->train.threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    int rc = o && o->ckpt_dir ? open_inference(g, o->ckpt_dir, e) : open_training(g, o, e);
    if (rc) {
        engine_close(g);
        *out = NULL;
        return rc;
    }
    alloc_generation(g);
    LwError pe;
    if (engine_set_probe(g, cfg->probe.text, &pe)) lw_log(LW_LOG_WARN, "%s", pe.msg);
    publish_event(g, EV_INFO, "%s: %zu parameters; %s", g->inference_only ? "checkpoint loaded" : "ready",
                  model_info(g).n_params, g->inference_only ? "inference only" : g->run_dir);
    *out = g;
    return LW_OK;
}

void engine_close(Engine *g) {
    if (!g) return;
    if (g->metrics_csv) fclose(g->metrics_csv);
    if (g->samples_txt) fclose(g->samples_txt);
    if (g->kv) g->arch->decode_close(g->kv);
    free(g->gen_logits);
    free(g->gen_scratch);
    free(g->gen_idx);
    if (g->model) g->arch->destroy(g->model);
    loader_free(&g->train_loader);
    loader_free(&g->val_loader);
    ins_free(&g->ins);
    ins_free(&g->ins_held);
    ft_split_free(&g->split);
    cls_free(&g->cls);
    free(g->last);
    free(g->labels);
    ft_cursor_free(&g->ft_train);
    ft_cursor_free(&g->ft_val);
    free(g->rows);
    data_free(&g->data);
    tok_free(g->tok);
    free(g->inputs);
    free(g->targets);
    free(g->metrics);
    for (int i = 0; i < g->n_probes; i++) engine_probe_free(g->probes[i]);
    free(g->probes);
    if (g->bpe) bpe_trainer_close(g->bpe);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

const Config *engine_config(const Engine *g) { return &g->cfg; }

/* ---------------------------------------------------------------- training */

static int check_trainable(Engine *g, LwError *e) {
    if (g->inference_only) return lw_fail(e, LW_ERR_INVALID, "this engine was opened on a checkpoint for inference: no training data");
    if (g->state == ENGINE_DIVERGED) return lw_fail(e, LW_ERR_DIVERGED, "training diverged earlier: resume from the last good checkpoint");
    return LW_OK;
}

/* The next training (or, with val, validation) batch into g->inputs/g->targets; returns its T. */
static int next_batch(Engine *g, int val) {
    if (g->ft_mode == FT_CLASSIFY) {
        ft_cursor_next(val ? &g->ft_val : &g->ft_train, g->B, g->rows);
        cls_batch(&g->cls, g->rows, g->B, g->T, tok_eot(g->tok), g->inputs, g->last, g->labels);
        return g->T; /* g->targets stay ARCH_IGNORE_INDEX (set at open): the label is per row */
    }
    if (g->ft_mode == FT_INSTRUCT) {
        ft_cursor_next(val ? &g->ft_val : &g->ft_train, g->B, g->rows);
        int T = ins_batch_len(&g->ins, g->rows, g->B, g->T);
        ins_batch(&g->ins, g->rows, g->B, T, tok_eot(g->tok), g->cfg.finetune.mask_prompt, g->inputs, g->targets);
        return T;
    }
    loader_next(val ? &g->val_loader : &g->train_loader, g->inputs, g->targets);
    return g->T;
}

/* Forward (and backward) of the batch in g->inputs etc. for the run's mode: LM loss, or class loss. */
static float forward_batch(Engine *g, int T, int training) {
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = g->B, .T = T, .inputs = g->inputs, .targets = g->targets};
    if (g->ft_mode == FT_CLASSIFY) b.head = ARCH_HEAD_CLASS, b.pool = g->last, b.labels = g->labels;
    return g->arch->forward(g->model, &b, training, training ? &g->rng : NULL);
}

static void backward_batch(Engine *g, float scale) { g->arch->backward(g->model, scale); }

/* Rows of class_logits (n) whose argmax equals labels. */
static int count_correct(const Engine *g, const int *labels, int n) {
    int ok = 0, K = model_info(g).n_classes;
    const float *cl = g->arch->class_logits(g->model);
    for (int b = 0; b < n; b++) {
        const float *z = cl + (size_t)b * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best]) best = k;
        ok += best == labels[b];
    }
    return ok;
}

static void rewind_val(Engine *g) {
    if (g->ft_mode != FT_NONE) {
        LwError e;
        ft_cursor_restore(&g->ft_val, 0, 0, &e);
    } else {
        loader_reset(&g->val_loader);
    }
}

static int val_batches(Engine *g) {
    if (g->ft_mode != FT_NONE) return ft_cursor_n_batches(&g->ft_val, g->B);
    return (int)loader_n_batches(&g->val_loader);
}

int engine_evaluate(Engine *g, float *val_loss, LwError *e) {
    int rc = check_trainable(g, e);
    if (rc && rc != LW_ERR_DIVERGED) return rc;
    if (!g->has_val) return lw_fail(e, LW_ERR_INVALID, "data.val_fraction is 0: there is no validation split");
    int nb = g->cfg.train.eval_batches > 0 ? g->cfg.train.eval_batches : 1;
    nb = LW_MIN(nb, val_batches(g));
    rewind_val(g);
    double sum = 0;
    int correct = 0;
    for (int i = 0; i < nb; i++) {
        if (aborted(g)) return lw_fail(e, LW_ERR_ABORTED, "evaluation interrupted");
        int T = next_batch(g, 1);
        sum += forward_batch(g, T, 0);
        if (g->ft_mode == FT_CLASSIFY) correct += count_correct(g, g->labels, g->B);
    }
    float v = (float)(sum / nb);
    g->val_loss = v;
    if (v < g->best_val) g->best_val = v;
    if (val_loss) *val_loss = v;
    if (g->ft_mode == FT_CLASSIFY)
        publish_event(g, EV_EVAL, "val loss %.4f, val accuracy %.1f%% (%d batches), train loss %.4f", v,
                      100.0 * correct / (nb * g->B), nb, g->train_loss);
    else
        publish_event(g, EV_EVAL, "val %.4f (ppl %.1f), train %.4f", v, exp(v), g->train_loss);
    return LW_OK;
}

static int gen_begin_ids(Engine *g, const int *ids, size_t n, const SampleParams *p, LwError *e);

static void write_sample(Engine *g) {
    SampleParams sp;
    engine_sample_defaults(&sp);
    sp.max_tokens = g->cfg.train.sample_tokens > 0 ? g->cfg.train.sample_tokens : 40;
    sp.seed = g->cfg.train.seed + (uint64_t)g->step;
    LwError e;
    char text[SNAP_EVENT_TEXT - 64];
    size_t n;
    if (g->ft_mode == FT_INSTRUCT) {
        /* a validation example, with its input, answered greedily */
        const int *rows = g->split.n_val ? g->split.val : g->split.train;
        int nrows = g->split.n_val ? g->split.n_val : g->split.n_train;
        const InsEntry *x = &g->ins.ex[rows[(g->step / LW_MAX(1, g->cfg.train.sample_every)) % LW_MAX(1, nrows)]];
        sp.temperature = 0;
        if (gen_begin_ids(g, x->ids, (size_t)x->n_prompt, &sp, &e)) return;
        n = (size_t)snprintf(text, sizeof text, "%s%s%s → ", x->instruction, x->input[0] ? " " : "", x->input);
    } else if (g->ft_mode == FT_CLASSIFY) {
        return;
    } else {
        if (engine_gen_begin(g, g->cfg.train.sample_prompt, &sp, &e)) return;
        n = (size_t)snprintf(text, sizeof text, "%s", g->cfg.train.sample_prompt);
    }
    if (n >= sizeof text) n = sizeof text - 1;
    GenToken t;
    while (engine_gen_next(g, &t) > 0) {
        size_t l = strlen(t.text);
        if (n + l + 1 >= sizeof text) break;
        memcpy(text + n, t.text, l + 1);
        n += l;
    }
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    publish_event(g, EV_SAMPLE, "%s", text);
    if (g->samples_txt) {
        fprintf(g->samples_txt, "step %ld: %s\n", g->step, text);
        fflush(g->samples_txt);
    }
}

#define FT_EVAL_MAX 200 /* examples scored per exact-match evaluation */

/* Instruction tuning: greedy responses to held-out instructions (data.paths[1] if given, else the test split),
 * scored by exact match and contains-answer, written to <run_dir>/responses-step<N>.jsonl. */
/* Accuracy of the classifier on rows (n), in batches of up to B; adds the test confusion into conf (K x K, rows =
 * true class) when conf is not NULL. */
static double cls_accuracy(Engine *g, const int *rows, int n, long *conf) {
    int correct = 0, K = model_info(g).n_classes;
    for (int i = 0; i < n; i += g->B) {
        int m = LW_MIN(g->B, n - i);
        cls_batch(&g->cls, rows + i, m, g->T, tok_eot(g->tok), g->inputs, g->last, g->labels);
        ArchBatch ab = {.head = ARCH_HEAD_CLASS, .B = m, .T = g->T, .inputs = g->inputs, .pool = g->last};
        g->arch->forward(g->model, &ab, 0, NULL);
        correct += count_correct(g, g->labels, m);
        for (int b = 0; conf && b < m; b++) {
            const float *z = g->arch->class_logits(g->model) + (size_t)b * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > z[best]) best = k;
            conf[g->labels[b] * K + best]++;
        }
    }
    return n ? (double)correct / n : 0;
}

/* Classification: accuracy on train (up to 2,000 rows), val and test, the test confusion matrix, beside the
 * naive-Bayes baseline; written to <run_dir>/classify-step<N>.txt and summarised as an event. */
static int cls_evaluate(Engine *g, LwError *e) {
    int K = model_info(g).n_classes;
    long *conf = lw_calloc((size_t)K * K, sizeof(long));
    double tr = cls_accuracy(g, g->split.train, LW_MIN(g->split.n_train, 2000), NULL);
    double va = cls_accuracy(g, g->split.val, g->split.n_val, NULL);
    double te = cls_accuracy(g, g->split.test, g->split.n_test, conf);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f, "step %ld\naccuracy: train %.2f%%, val %.2f%%, test %.2f%%\n", g->step, 100 * tr, 100 * va, 100 * te);
    fprintf(f, "naive-Bayes baseline (same split): val %.2f%%, test %.2f%%\n", 100 * g->nb_val, 100 * g->nb_test);
    fprintf(f, "test confusion matrix (rows: true label, columns: predicted):\n%12s", "");
    for (int k = 0; k < K; k++) fprintf(f, " %10.10s", g->cls.labels[k]);
    fputc('\n', f);
    for (int i = 0; i < K; i++) {
        fprintf(f, "%12.12s", g->cls.labels[i]);
        for (int k = 0; k < K; k++) fprintf(f, " %10ld", conf[i * K + k]);
        fputc('\n', f);
    }
    fclose(f);
    char name[64], path[CFG_PATH_MAX + 64];
    snprintf(name, sizeof name, "classify-step%ld.txt", g->step);
    lw_path_join(path, sizeof path, g->run_dir, name);
    int rc = lw_write_file_atomic(path, text, len, e);
    free(text);
    free(conf);
    if (rc) return rc;
    publish_event(g, EV_EVAL, "accuracy train %.1f%%, val %.1f%%, test %.1f%% (naive Bayes test %.1f%%); %s", 100 * tr,
                  100 * va, 100 * te, 100 * g->nb_test, path);
    return LW_OK;
}

static int engine_ft_evaluate(Engine *g, LwError *e) {
    if (g->ft_mode == FT_CLASSIFY) return cls_evaluate(g, e);
    if (g->ft_mode != FT_INSTRUCT) return LW_OK;
    const InsData *d = g->ins_held.n ? &g->ins_held : &g->ins;
    int n = g->ins_held.n ? g->ins_held.n : g->split.n_test;
    const int *split_rows = g->split.n_test ? g->split.test : g->split.val;
    if (!g->ins_held.n && !g->split.n_test) n = g->split.n_val;
    n = LW_MIN(n, FT_EVAL_MAX);
    if (n <= 0) return LW_OK;
    int *rows = lw_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) rows[i] = g->ins_held.n ? i : split_rows[i];
    char **responses = lw_calloc((size_t)n, sizeof(char *));
    SampleParams sp;
    engine_sample_defaults(&sp);
    sp.temperature = 0; /* greedy, as the book scores its responses */
    int rc = LW_OK;
    for (int i = 0; i < n && rc == LW_OK; i++) {
        if (aborted(g)) {
            rc = lw_fail(e, LW_ERR_ABORTED, "evaluation interrupted");
            break;
        }
        const InsEntry *x = &d->ex[rows[i]];
        sp.max_tokens = LW_MIN(64, (x->n - x->n_prompt) + 8);
        if ((rc = gen_begin_ids(g, x->ids, (size_t)x->n_prompt, &sp, e))) break;
        StrBuf text = {0};
        GenToken t;
        while (engine_gen_next(g, &t) > 0) sb_adds(&text, t.text);
        char *gen = sb_take(&text);
        responses[i] = ins_extract_response(g->tmpl, gen);
        free(gen);
    }
    if (rc == LW_OK) {
        char name[64], path[CFG_PATH_MAX + 64];
        snprintf(name, sizeof name, "responses-step%ld.jsonl", g->step);
        lw_path_join(path, sizeof path, g->run_dir, name);
        InsScore sc;
        rc = ins_write_responses(path, d, rows, (const char *const *)responses, n, &sc, e);
        if (rc == LW_OK)
            publish_event(g, EV_EVAL, "%s: exact match %.1f%% (%d/%d), contains answer %.1f%%; responses in %s",
                          g->step == 0 ? "before finetuning" : "instruction eval", 100.0 * sc.n_exact / sc.n,
                          sc.n_exact, sc.n, 100.0 * sc.n_contains / sc.n, path);
    }
    for (int i = 0; i < n; i++) free(responses[i]);
    free(responses);
    free(rows);
    return rc;
}

int engine_train_step(Engine *g, LwError *e) {
    int rc = check_trainable(g, e);
    if (rc) return rc;
    if (g->state == ENGINE_DONE) return lw_fail(e, LW_ERR_INVALID, "training is complete (%ld steps)", g->total_steps);
    const TrainCfg *t = &g->cfg.train;
    int accum = t->grad_accum > 0 ? t->grad_accum : 1;
    if (g->ft_mode != FT_NONE && !g->ft_baseline_done) {
        g->ft_baseline_done = 1; /* the model before finetuning, for comparison */
        if ((rc = engine_ft_evaluate(g, e))) return rc;
    }
    double t0 = lw_now();
    g->arch->zero_grad(g->model);
    double loss = 0;
    long tokens = 0;
    for (int a = 0; a < accum; a++) {
        if (a > 0 && aborted(g)) /* nothing applied yet: the step is simply not taken */
            return lw_fail(e, LW_ERR_ABORTED, "step %ld interrupted", g->step + 1);
        int T = next_batch(g, 0);
        tokens += (long)g->B * T;
        if (a == 0) {
            pthread_mutex_lock(&g->mu);
            g->window_len = LW_MIN(T, SNAP_MAX_WINDOW);
            memcpy(g->window_inputs, g->inputs, (size_t)g->window_len * sizeof(int));
            memcpy(g->window_targets, g->targets, (size_t)g->window_len * sizeof(int));
            g->window_start = g->ft_mode == FT_NONE ? g->train_loader.last_start : g->rows[0];
            pthread_mutex_unlock(&g->mu);
        }
        loss += forward_batch(g, T, 1);
        backward_batch(g, 1.0f / accum);
    }
    loss /= accum;
    float norm = g->arch->grad_norm(g->model);
    if (!isfinite(loss) || !isfinite(norm)) {
        /* The update was not applied: the weights are those of the last good step. */
        g->state = ENGINE_DIVERGED;
        publish_event(g, EV_ERROR, "loss diverged at step %ld (loss %g, gradient norm %g): training stopped; "
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
    if (t->sample_every > 0 && (g->step % t->sample_every == 0 || g->state == ENGINE_DONE)) write_sample(g);
    if (g->cfg.probe.snapshot_every > 0 && g->step % g->cfg.probe.snapshot_every == 0 && (rc = engine_probe_now(g, e)))
        return rc;
    int ckpt_due = t->checkpoint_every > 0 && g->step % t->checkpoint_every == 0;
    if (g->ft_mode != FT_NONE && (g->state == ENGINE_DONE || ckpt_due) && (rc = engine_ft_evaluate(g, e))) return rc;
    if (ckpt_due && (rc = engine_save(g, NULL, e))) return rc;
    return LW_OK;
}

int engine_save(Engine *g, const char *dir, LwError *e) {
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
        if (g->ft_mode == FT_NONE) loader_state(&g->train_loader, &st.loader);
        else st.loader = (LoaderState){.seed = g->ft_train.seed, .epoch = g->ft_train.epoch, .cursor = (size_t)g->ft_train.cursor};
        rc = g->arch->save(g->model, dir, g->tok, &st, yaml, 0, e);
    }
    free(yaml);
    if (rc) return rc;
    if (g->ft_mode != FT_NONE) {
        CkptFinetune meta = g->ft_meta;
        meta.mode = g->ft_mode;
        if (g->ft_mode == FT_INSTRUCT)
            snprintf(meta.template_name, sizeof meta.template_name, "%s", g->tmpl == INS_TEMPLATE_PHI3 ? "phi3" : "alpaca");
        if ((rc = ckpt_write_finetune(dir, &meta, e))) return rc;
    }
    g->last_ckpt_step = g->step;
    publish_event(g, EV_CHECKPOINT, "checkpoint saved: %s (step %ld)", dir, g->step);
    return LW_OK;
}

int engine_save_merged(Engine *g, const char *dir, LwError *e) {
    int rc = g->arch->save(g->model, dir, g->tok, NULL, NULL, CKPT_MERGE_LORA, e);
    if (rc == LW_OK && g->ft_mode != FT_NONE) {
        CkptFinetune meta = g->ft_meta;
        meta.mode = g->ft_mode;
        if (g->ft_mode == FT_INSTRUCT)
            snprintf(meta.template_name, sizeof meta.template_name, "%s", g->tmpl == INS_TEMPLATE_PHI3 ? "phi3" : "alpaca");
        rc = ckpt_write_finetune(dir, &meta, e);
    }
    if (rc == LW_OK) publish_event(g, EV_CHECKPOINT, "weights%s exported: %s", model_info(g).lora_rank ? " (LoRA merged)" : "", dir);
    return rc;
}

/* ---------------------------------------------------------------- probe snapshots */

int engine_set_probe(Engine *g, const char *text, LwError *e) {
    IntVec ids = {0};
    tok_encode(g->tok, text, strlen(text), 1, &ids);
    if (ids.len == 0) {
        ivec_free(&ids);
        return lw_fail(e, LW_ERR_INVALID, "probe.text: the probe sentence is empty");
    }
    int maxT = LW_MIN(SNAP_MAX_PROBE, model_info(g).context_length);
    if (g->T > 0) maxT = LW_MIN(maxT, g->T);
    g->probe_T = (int)LW_MIN(ids.len, (size_t)maxT);
    memcpy(g->probe_ids, ids.data, (size_t)g->probe_T * sizeof(int));
    snprintf(g->cfg.probe.text, sizeof g->cfg.probe.text, "%s", text);
    ivec_free(&ids);
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n_probes; i++) engine_probe_free(g->probes[i]);
    g->n_probes = 0;
    g->probe_bytes = 0;
    pthread_mutex_unlock(&g->mu);
    return engine_probe_now(g, e);
}

static size_t probe_size(const ProbeSnapshot *p) {
    return sizeof *p + sizeof(float) * ((size_t)p->L * p->NH * p->T * p->T + 2 * (size_t)p->T * p->C + 2 * (size_t)(p->L + 1));
}

/* Nearest tokens to row `id` of the token embedding wte (V, C) by cosine similarity (skipping id itself). */
static void nearest(const float *wte, int V, int C, const float *norms, int id, int *ids, float *sims) {
    for (int k = 0; k < SNAP_NN; k++) ids[k] = -1, sims[k] = -2;
    const float *q = wte + (size_t)id * C;
    for (int v = 0; v < V; v++) {
        if (v == id) continue;
        const float *r = wte + (size_t)v * C;
        float dot = 0;
        for (int c = 0; c < C; c++) dot += q[c] * r[c];
        float s = dot / (norms[id] * norms[v] + 1e-12f);
        if (s <= sims[SNAP_NN - 1]) continue;
        int k = SNAP_NN - 1;
        while (k > 0 && sims[k - 1] < s) {
            sims[k] = sims[k - 1];
            ids[k] = ids[k - 1];
            k--;
        }
        sims[k] = s;
        ids[k] = v;
    }
}

int engine_probe_now(Engine *g, LwError *e) {
    if (g->probe_T <= 0) return LW_OK;
    ArchInfo mi = model_info(g);
    int T = g->probe_T, L = mi.n_layer, NH = mi.n_head, C = mi.d_model, V = mi.vocab_size;
    ProbeSnapshot *p = lw_calloc(1, sizeof *p);
    p->step = g->step;
    p->T = T, p->L = L, p->NH = NH, p->C = C;
    p->att = lw_malloc((size_t)L * NH * T * T * sizeof(float));
    p->tok_emb = lw_malloc((size_t)T * C * sizeof(float));
    p->pos_emb = lw_malloc((size_t)T * C * sizeof(float));
    p->act_mean = lw_calloc((size_t)L + 1, sizeof(float));
    p->act_std = lw_calloc((size_t)L + 1, sizeof(float));
    g->arch->probe(g->model, g->probe_ids, T, p);
    const float *wte = g->arch->token_embedding(g->model);
    float *norms = lw_malloc((size_t)V * sizeof(float));
    for (int v = 0; v < V; v++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += (double)wte[(size_t)v * C + c] * wte[(size_t)v * C + c];
        norms[v] = (float)sqrt(s);
    }
    for (int t = 0; t < T; t++) {
        int id = g->probe_ids[t];
        p->ids[t] = id;
        engine_token_text(g, id, p->tok[t], sizeof p->tok[t]);
        int seen = -1;
        for (int u = 0; u < t; u++)
            if (g->probe_ids[u] == id) seen = u;
        if (seen >= 0) {
            memcpy(p->nn_ids[t], p->nn_ids[seen], sizeof p->nn_ids[t]);
            memcpy(p->nn_sim[t], p->nn_sim[seen], sizeof p->nn_sim[t]);
        } else {
            nearest(wte, V, C, norms, id, p->nn_ids[t], p->nn_sim[t]);
        }
    }
    free(norms);

    pthread_mutex_lock(&g->mu);
    if (g->n_probes == g->cap_probes) {
        g->cap_probes = g->cap_probes ? g->cap_probes * 2 : 64;
        g->probes = lw_realloc(g->probes, (size_t)g->cap_probes * sizeof *g->probes);
    }
    g->probes[g->n_probes++] = p;
    g->probe_bytes += probe_size(p);
    /* Over the memory cap, thin the history: drop every other snapshot but the first and the newest. */
    if (g->probe_bytes > PROBE_MEM_CAP && g->n_probes > 4) {
        int w = 1;
        for (int r = 1; r < g->n_probes; r++) {
            if (r % 2 == 1 && r != g->n_probes - 1) {
                g->probe_bytes -= probe_size(g->probes[r]);
                engine_probe_free(g->probes[r]);
            } else {
                g->probes[w++] = g->probes[r];
            }
        }
        g->n_probes = w;
    }
    g->seq++;
    pthread_mutex_unlock(&g->mu);
    (void)e;
    return LW_OK;
}

static ProbeSnapshot *probe_copy(const ProbeSnapshot *s) {
    ProbeSnapshot *p = lw_malloc(sizeof *p);
    *p = *s;
    size_t na = (size_t)s->L * s->NH * s->T * s->T, ne = (size_t)s->T * s->C;
    p->att = memcpy(lw_malloc(na * sizeof(float)), s->att, na * sizeof(float));
    p->tok_emb = memcpy(lw_malloc(ne * sizeof(float)), s->tok_emb, ne * sizeof(float));
    p->pos_emb = memcpy(lw_malloc(ne * sizeof(float)), s->pos_emb, ne * sizeof(float));
    p->act_mean = memcpy(lw_malloc((size_t)(s->L + 1) * sizeof(float)), s->act_mean, (size_t)(s->L + 1) * sizeof(float));
    p->act_std = memcpy(lw_malloc((size_t)(s->L + 1) * sizeof(float)), s->act_std, (size_t)(s->L + 1) * sizeof(float));
    return p;
}

int engine_n_probes(Engine *g) {
    pthread_mutex_lock(&g->mu);
    int n = g->n_probes;
    pthread_mutex_unlock(&g->mu);
    return n;
}

ProbeSnapshot *engine_get_probe(Engine *g, int index) {
    ProbeSnapshot *p = NULL;
    pthread_mutex_lock(&g->mu);
    if (index < 0) index = g->n_probes - 1;
    if (index >= 0 && index < g->n_probes) p = probe_copy(g->probes[index]);
    pthread_mutex_unlock(&g->mu);
    return p;
}

void engine_probe_free(ProbeSnapshot *p) {
    if (!p) return;
    free(p->att);
    free(p->tok_emb);
    free(p->pos_emb);
    free(p->act_mean);
    free(p->act_std);
    free(p);
}

/* ---------------------------------------------------------------- generation */

void engine_sample_defaults(SampleParams *p) {
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 1.0f;
    p->max_tokens = 100;
    p->seed = 123;
    p->stop_at_eot = 1;
}

/* Starts generation after the token ids (the last context-1 of them). */
static int gen_begin_ids(Engine *g, const int *ids, size_t n, const SampleParams *p, LwError *e) {
    int eot = tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0;
    if (n == 0) ids = &eot, n = 1;
    int ctx = model_info(g).context_length;
    if (!g->kv) return lw_fail(e, LW_ERR_UNSUPPORTED, "model.arch %s does not generate text", g->arch->name);
    size_t keep = LW_MIN(n, (size_t)(ctx - 1));
    g->arch->decode_reset(g->kv);
    if (g->arch->decode_step(g->model, g->kv, ids + n - keep, (int)keep, g->gen_logits))
        return lw_fail(e, LW_ERR_INVALID, "the prompt does not fit the context of %d tokens", ctx);
    g->gen = *p;
    rng_seed(&g->gen_rng, p->seed);
    g->gen_count = 0;
    g->gen_pending = -1;
    g->gen_done = 0;
    return LW_OK;
}

int engine_n_classes(const Engine *g) { return model_info(g).n_classes; }

const char *engine_class_name(const Engine *g, int i) {
    return i >= 0 && i < g->ft_meta.n_labels ? g->ft_meta.labels[i] : "";
}

int engine_classify(Engine *g, const char *text, float *probs, int max, LwError *e) {
    int K = model_info(g).n_classes;
    if (K <= 0) return -lw_fail(e, LW_ERR_INVALID, "this model is not a classifier (finetune.mode is not classify)");
    IntVec ids = {0};
    tok_encode(g->tok, text, strlen(text), 0, &ids);
    if (ids.len == 0) ivec_push(&ids, tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0);
    int T = (int)LW_MIN(ids.len, (size_t)g->T); /* the book keeps the first tokens */
    int last = g->arch->pool_position(g->model, T);
    ArchBatch b = {.head = ARCH_HEAD_CLASS, .B = 1, .T = T, .inputs = ids.data, .pool = &last};
    g->arch->forward(g->model, &b, 0, NULL);
    ivec_free(&ids);
    float z[CFG_MAX_LABELS];
    memcpy(z, g->arch->class_logits(g->model), (size_t)K * sizeof(float));
    sampler_softmax(z, K, 1.0f);
    for (int k = 0; k < K && k < max; k++) probs[k] = z[k];
    return K;
}

int engine_gen_begin(Engine *g, const char *prompt, const SampleParams *p, LwError *e) {
    if (model_info(g).n_classes > 0) {
        /* a classifier answers with its label */
        float pr[CFG_MAX_LABELS];
        int K = engine_classify(g, prompt, pr, CFG_MAX_LABELS, e);
        if (K < 0) return -K;
        GenToken *t = &g->gen_class;
        memset(t, 0, sizeof *t);
        t->n_top = sampler_top_n(pr, K, LW_MIN(K, SNAP_TOPK), t->top_ids, t->top_probs);
        t->id = t->top_ids[0];
        snprintf(t->text, sizeof t->text, "%.30s (%.1f%%)", engine_class_name(g, t->id), 100.0 * t->top_probs[0]);
        g->gen_done = 0;
        g->gen_pending = -2; /* marks the pending class answer */
        return LW_OK;
    }
    IntVec ids = {0};
    if (g->ft_mode == FT_INSTRUCT) {
        /* an instruction-tuned model: the user's text is the instruction; the reply is the response */
        char *full = ins_format_prompt(g->tmpl, prompt, NULL);
        tok_encode(g->tok, full, strlen(full), 0, &ids);
        free(full);
    } else {
        tok_encode(g->tok, prompt, strlen(prompt), 1, &ids);
    }
    int rc = gen_begin_ids(g, ids.data, ids.len, p, e);
    ivec_free(&ids);
    return rc;
}

int engine_gen_next(Engine *g, GenToken *out) {
    if (g->gen_done) return 0;
    if (g->gen_pending == -2) {
        *out = g->gen_class;
        g->gen_done = 1;
        return 1;
    }
    if (g->gen_count >= g->gen.max_tokens) {
        g->gen_done = 1;
        return 0;
    }
    ArchInfo mi = model_info(g);
    int V = mi.vocab_size;
    if (g->gen_pending >= 0) {
        if (g->arch->decode_len(g->kv) >= mi.context_length ||
            g->arch->decode_step(g->model, g->kv, &g->gen_pending, 1, g->gen_logits)) {
            g->gen_done = 1;
            return 0;
        }
    }
    /* Tokens the tokenizer does not know (a model vocab padded past the tokenizer's) are never sampled. */
    int tv = tok_vocab_size(g->tok);
    for (int v = tv; v < V; v++) g->gen_logits[v] = -INFINITY;
    float temp = g->gen.temperature;
    /* the distribution shown in the bars: after temperature (greedy shows temperature 1) */
    memcpy(g->gen_scratch, g->gen_logits, (size_t)V * sizeof(float));
    sampler_softmax(g->gen_scratch, V, temp > 0 ? temp : 1.0f);
    out->n_top = sampler_top_n(g->gen_scratch, V, SNAP_TOPK, out->top_ids, out->top_probs);
    int id = sampler_next(g->gen_logits, V, temp, g->gen.top_k, g->gen.top_p, &g->gen_rng, g->gen_scratch, g->gen_idx);
    out->id = id;
    engine_token_text(g, id, out->text, sizeof out->text);
    g->gen_count++;
    g->gen_pending = id;
    if (g->gen.stop_at_eot && id == tok_eot(g->tok)) {
        g->gen_done = 1;
        out->text[0] = 0;
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- BPE trainer (Tokenizer screen) */

int engine_bpe_begin(Engine *g, size_t max_bytes, int target_vocab, LwError *e) {
    char *text;
    size_t len;
    int rc = data_load_text(&g->cfg, &text, &len, e);
    if (rc) return rc;
    if (len > max_bytes) {
        len = max_bytes;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--; /* whole characters */
    }
    BpeTrainer *b;
    rc = bpe_trainer_open(&b, text, len, target_vocab, e);
    free(text);
    if (rc) return rc;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) bpe_trainer_close(g->bpe);
    g->bpe = b;
    g->bpe_target = target_vocab;
    g->bpe_last_valid = 0;
    g->seq++;
    pthread_mutex_unlock(&g->mu);
    return LW_OK;
}

int engine_bpe_step(Engine *g) {
    if (!g->bpe) return 0;
    pthread_mutex_lock(&g->mu);
    int r = bpe_trainer_step(g->bpe, &g->bpe_last);
    if (r == 1) g->bpe_last_valid = 1, g->seq++;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int engine_bpe_back(Engine *g) {
    if (!g->bpe) return 0;
    pthread_mutex_lock(&g->mu);
    int r = bpe_trainer_back(g->bpe);
    if (r == 1) {
        g->seq++;
        g->bpe_last_valid = 0;
        int n = bpe_trainer_n_merges(g->bpe);
        if (n > 0) {
            BpeStepInfo *li = &g->bpe_last;
            li->rank = n - 1;
            bpe_trainer_merge(g->bpe, n - 1, &li->left, &li->right, &li->count);
            li->new_id = 256 + n - 1;
            li->n_top = 0;
            g->bpe_last_valid = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

int engine_bpe_goto(Engine *g, int n) {
    if (!g->bpe) return 0;
    int moved = 0;
    while (bpe_trainer_n_merges(g->bpe) < n && engine_bpe_step(g) == 1) moved++;
    while (bpe_trainer_n_merges(g->bpe) > n && engine_bpe_back(g) == 1) moved++;
    return moved;
}

/* Printable text of a trainer token into buf. */
static void bpe_text(const BpeTrainer *b, int id, char *buf, size_t n) {
    int len = 0;
    const unsigned char *s = bpe_trainer_token_bytes(b, id, &len);
    size_t k = LW_MIN((size_t)(len > 0 ? len : 0), n - 1);
    if (s) memcpy(buf, s, k);
    buf[k] = 0;
}

void engine_get_bpe(Engine *g, BpeSnapshot *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&g->mu);
    BpeTrainer *b = g->bpe;
    if (b) {
        out->active = 1;
        out->n_merges = bpe_trainer_n_merges(b);
        out->target_merges = g->bpe_target - 257;
        out->vocab_size = 256 + out->n_merges + 1;
        size_t tl = 0;
        bpe_trainer_text(b, &tl);
        out->n_bytes = (long)tl;
        out->n_tokens = bpe_trainer_n_tokens(b);
        out->compression = out->n_tokens > 0 ? (double)out->n_bytes / out->n_tokens : 0;
        out->done = out->n_merges >= out->target_merges;
        if (out->n_merges > 0 && g->bpe_last_valid) {
            const BpeStepInfo *li = &g->bpe_last;
            out->last = (BpeMergeRow){.rank = li->rank, .left = li->left, .right = li->right, .new_id = li->new_id,
                                      .count = li->count};
            bpe_text(b, li->new_id, out->last.text, sizeof out->last.text);
        }
        int left[SNAP_TOPK], right[SNAP_TOPK];
        long count[SNAP_TOPK];
        out->n_top = bpe_trainer_top(b, SNAP_TOPK, left, right, count);
        if (out->n_top == 0) out->done = 1;
        for (int i = 0; i < out->n_top; i++) {
            BpePairRow *r = &out->top[i];
            r->left = left[i], r->right = right[i], r->count = count[i];
            char a[SNAP_TOKTEXT], c[SNAP_TOKTEXT];
            bpe_text(b, left[i], a, sizeof a);
            bpe_text(b, right[i], c, sizeof c);
            size_t la = strlen(a), lc = LW_MIN(strlen(c), sizeof r->text - 1 - la);
            memcpy(r->text, a, la);
            memcpy(r->text + la, c, lc);
            r->text[la + lc] = 0;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

int engine_get_bpe_merges(Engine *g, int from, BpeMergeRow *out, int max) {
    int k = 0;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) {
        int n = bpe_trainer_n_merges(g->bpe);
        for (int r = from < 0 ? 0 : from; r < n && k < max; r++, k++) {
            BpeMergeRow *row = &out[k];
            row->rank = r;
            bpe_trainer_merge(g->bpe, r, &row->left, &row->right, &row->count);
            row->new_id = 256 + r;
            bpe_text(g->bpe, row->new_id, row->text, sizeof row->text);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return k;
}

size_t engine_get_bpe_text(Engine *g, char *buf, size_t n) {
    size_t len = 0;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) {
        const char *text = bpe_trainer_text(g->bpe, &len);
        size_t k = LW_MIN(len, n ? n - 1 : 0);
        if (n) {
            memcpy(buf, text, k);
            buf[k] = 0;
        }
    } else if (n) {
        buf[0] = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return len;
}

int engine_get_bpe_segments(Engine *g, long off, long len, BpeSegment *out, int max) {
    if (max <= 0) return 0;
    long *starts = lw_malloc((size_t)max * sizeof *starts);
    int *lens = lw_malloc((size_t)max * sizeof *lens), *ids = lw_malloc((size_t)max * sizeof *ids);
    int *jm = lw_malloc((size_t)max * sizeof *jm);
    int n = 0;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) n = bpe_trainer_segments(g->bpe, off, len, starts, lens, ids, jm, max);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < n; i++) out[i] = (BpeSegment){.start = starts[i], .len = lens[i], .id = ids[i], .just_merged = jm[i]};
    free(starts), free(lens), free(ids), free(jm);
    return n;
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
    ArchInfo mi = model_info(g);
    o->n_params = (long)mi.n_params;
    o->vocab_size = mi.vocab_size;
    o->n_layer = mi.n_layer;
    o->n_head = mi.n_head;
    o->d_model = mi.d_model;
    o->context_length = mi.context_length;
    o->batch_size = g->B;
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

/* ---------------------------------------------------------------- tokenizer queries */

int engine_vocab_size(const Engine *g) { return tok_vocab_size(g->tok); }
int engine_eot_id(const Engine *g) { return tok_eot(g->tok); }

int engine_encode(const Engine *g, const char *text, int *ids, int max) {
    IntVec v = {0};
    tok_encode(g->tok, text, strlen(text), 1, &v);
    int n = (int)v.len;
    if (ids && max > 0 && n > 0) memcpy(ids, v.data, (size_t)LW_MIN(n, max) * sizeof(int));
    ivec_free(&v);
    return n;
}

int engine_token_text(const Engine *g, int id, char *buf, size_t n) {
    int len = 0;
    const unsigned char *b = tok_bytes(g->tok, id, &len);
    if (!b) len = 0;
    size_t k = LW_MIN((size_t)len, n ? n - 1 : 0);
    if (n) {
        if (k) memcpy(buf, b, k);
        buf[k] = 0;
    }
    return (int)k;
}

int engine_encode_trace(const Engine *g, const char *word, EncodeTrace *out) {
    return tok_encode_trace(g->tok, word, strlen(word), out);
}
