/* task_classify.c — classification (train.task: classify, the book's chapter 6): a TSV of label<TAB>text split
 * into train/val/test, a class head on one pooled position of each row (ArchOps.pool_position: the last real token
 * for GPT), accuracy and a confusion matrix beside a naive-Bayes baseline on the same split; a chat reply is the
 * label with its probability; checkpoints carry the labels (llmwb-finetune.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"
#include "sampler.h"

typedef struct ClsState {
    ClsData cls;
    TaskRows rows;
    int *pool, *lengths, *labels; /* (B) pooled position, real tokens and class of each row */
    double nb_val, nb_test;       /* naive-Bayes baseline accuracies on the same split */
} ClsState;

/* The batch of examples rows (n <= B) into g->inputs and s: padded to g->T, pooled where the architecture reads. */
static void cls_make_batch(Engine *g, ClsState *s, const int *rows, int n) {
    int pad = tok_bert_special(g->tok, TOK_PAD) >= 0 ? tok_bert_special(g->tok, TOK_PAD) : tok_eot(g->tok);
    cls_batch(&s->cls, rows, n, g->T, pad, g->inputs, s->pool, s->labels); /* pool = last real token */
    for (int b = 0; b < n; b++) {
        s->lengths[b] = s->pool[b] + 1;
        s->pool[b] = g->arch->pool_position(g->model, s->lengths[b]);
    }
    /* g->targets stay ARCH_IGNORE_INDEX (set at open): the label is per row */
    g->batch = (ArchBatch){.head = ARCH_HEAD_CLASS, .B = n, .T = g->T, .inputs = g->inputs, .targets = g->targets,
                           .lengths = s->lengths, .pool = s->pool, .labels = s->labels};
}

/* Classification: the model as finetuning makes it plus a class head, the TSV dataset split (and balanced) as
 * configured, and the naive-Bayes baseline on the same split. */
static int cls_open(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    ClsState *s = g->task_state = lw_calloc(1, sizeof *s);
    TrainState st;
    int resumed, rc;
    if ((rc = engine_finetune_model(g, o, &st, &resumed, e))) return rc;
    ArchInfo mi = engine_model_info(g);
    int Tmax = LW_MIN(mi.context_length, c->model.context_length);
    int cls = tok_bert_special(g->tok, TOK_CLS), sep = tok_bert_special(g->tok, TOK_SEP);
    int wrap = !mi.causal && cls >= 0 && Tmax > 2; /* an encoder reads [CLS] text [SEP] and pools [CLS] */
    if ((rc = cls_load(&s->cls, c->data.paths[0], &c->finetune, g->tok, wrap ? Tmax - 2 : Tmax, e))) return rc;
    for (int i = 0; wrap && i < s->cls.n; i++) {
        ClsExample *x = &s->cls.ex[i];
        x->ids = lw_realloc(x->ids, (size_t)(x->n + 2) * sizeof(int));
        memmove(x->ids + 1, x->ids, (size_t)x->n * sizeof(int));
        x->ids[0] = cls;
        x->ids[x->n + 1] = sep;
        x->n += 2;
    }
    if (resumed && mi.n_classes != s->cls.n_labels)
        return lw_fail(e, LW_ERR_INVALID, "%s: the checkpoint's head has %d classes but %s has %d labels",
                       o->resume_dir, mi.n_classes, c->data.paths[0], s->cls.n_labels);
    if (!resumed) {
        Rng hr;
        rng_seed(&hr, c->train.seed ^ 0xc1a55ULL);
        if ((rc = g->arch->add_class_head(g->model, s->cls.n_labels, &hr, e))) return rc;
    }
    g->ft_meta.mode = FT_CLASSIFY;
    g->ft_meta.n_labels = s->cls.n_labels;
    for (int i = 0; i < s->cls.n_labels; i++)
        snprintf(g->ft_meta.labels[i], sizeof g->ft_meta.labels[i], "%s", s->cls.labels[i]);
    if ((rc = engine_setup_trainable(g, resumed, e))) return rc;
    FtSplit *sp = &s->rows.split;
    if ((rc = cls_split(sp, &s->cls, c->finetune.balance, c->data.val_fraction, c->data.test_fraction, c->train.seed,
                        e)))
        return rc;
    g->B = c->train.batch_size;
    g->T = LW_MAX(1, cls_max_len(&s->cls, sp->train, sp->n_train)); /* the book: the longest training text */
    if ((rc = task_rows_start(g, &s->rows, resumed ? &st : NULL, e))) return rc;
    s->pool = lw_malloc((size_t)g->B * sizeof(int));
    s->lengths = lw_malloc((size_t)g->B * sizeof(int));
    s->labels = lw_malloc((size_t)g->B * sizeof(int));
    for (int i = 0; i < g->B * g->T; i++) g->targets[i] = ARCH_IGNORE_INDEX;
    cls_baseline(&s->cls, sp, &s->nb_val, &s->nb_test);
    char names[256] = "";
    for (int i = 0; i < s->cls.n_labels; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", s->cls.labels[i]);
    lw_log(LW_LOG_INFO, "classification data: %d examples, labels %s (%d train, %d val, %d test)%s; padded to %d tokens",
           s->cls.n, names, sp->n_train, sp->n_val, sp->n_test, c->finetune.balance ? ", balanced" : "", g->T);
    engine_publish_event(g, EV_INFO, "naive-Bayes baseline on the same split: val %.1f%%, test %.1f%%",
                         100 * s->nb_val, 100 * s->nb_test);
    return LW_OK;
}

static void cls_close(Engine *g) {
    ClsState *s = g->task_state;
    if (!s) return;
    cls_free(&s->cls);
    task_rows_free(&s->rows);
    free(s->pool);
    free(s->lengths);
    free(s->labels);
    free(s);
    g->task_state = NULL;
}

static long cls_next_batch(Engine *g, int val) {
    ClsState *s = g->task_state;
    task_rows_next(g, &s->rows, val);
    cls_make_batch(g, s, s->rows.rows, g->B);
    return (long)g->B * g->T;
}

static void cls_rewind_val(Engine *g) { task_rows_rewind_val(&((ClsState *)g->task_state)->rows); }

static int cls_n_val_batches(const Engine *g) {
    return task_rows_n_val_batches(g, &((const ClsState *)g->task_state)->rows);
}

/* The predicted class of row b of the last classifier forward. */
static int cls_predicted(const Engine *g, int b, int K) {
    const float *z = g->arch->class_logits(g->model) + (size_t)b * K;
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    return best;
}

static int cls_val_correct(const Engine *g) {
    int ok = 0, K = engine_model_info(g).n_classes;
    for (int b = 0; b < g->batch.B; b++) ok += cls_predicted(g, b, K) == g->batch.labels[b];
    return ok;
}

/* Accuracy of the classifier on rows (n), in batches of up to B; adds the test confusion into conf (K x K, rows =
 * true class) when conf is not NULL. */
static double cls_accuracy(Engine *g, ClsState *s, const int *rows, int n, long *conf) {
    int correct = 0, K = engine_model_info(g).n_classes;
    for (int i = 0; i < n; i += g->B) {
        int m = LW_MIN(g->B, n - i);
        cls_make_batch(g, s, rows + i, m);
        g->batch.labels = NULL; /* inference: no loss */
        g->arch->forward(g->model, &g->batch, 0, NULL);
        for (int b = 0; b < m; b++) {
            int best = cls_predicted(g, b, K);
            correct += best == s->labels[b];
            if (conf) conf[s->labels[b] * K + best]++;
        }
    }
    return n ? (double)correct / n : 0;
}

/* Accuracy on train (up to 2,000 rows), val and test, the test confusion matrix, beside the naive-Bayes baseline;
 * written to <run_dir>/classify-step<N>.txt and summarised as an event. */
static int cls_evaluate(Engine *g, LwError *e) {
    ClsState *s = g->task_state;
    const FtSplit *sp = &s->rows.split;
    int K = engine_model_info(g).n_classes;
    long *conf = lw_calloc((size_t)K * K, sizeof(long));
    double tr = cls_accuracy(g, s, sp->train, LW_MIN(sp->n_train, 2000), NULL);
    double va = cls_accuracy(g, s, sp->val, sp->n_val, NULL);
    double te = cls_accuracy(g, s, sp->test, sp->n_test, conf);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f, "step %ld\naccuracy: train %.2f%%, val %.2f%%, test %.2f%%\n", g->step, 100 * tr, 100 * va, 100 * te);
    fprintf(f, "naive-Bayes baseline (same split): val %.2f%%, test %.2f%%\n", 100 * s->nb_val, 100 * s->nb_test);
    fprintf(f, "test confusion matrix (rows: true label, columns: predicted):\n%12s", "");
    for (int k = 0; k < K; k++) fprintf(f, " %10.10s", s->cls.labels[k]);
    fputc('\n', f);
    for (int i = 0; i < K; i++) {
        fprintf(f, "%12.12s", s->cls.labels[i]);
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
    engine_publish_event(g, EV_EVAL, "accuracy train %.1f%%, val %.1f%%, test %.1f%% (naive Bayes test %.1f%%); %s",
                         100 * tr, 100 * va, 100 * te, 100 * s->nb_test, path);
    return LW_OK;
}

static long cls_window_start(const Engine *g) { return ((const ClsState *)g->task_state)->rows.rows[0]; }

static void cls_loader_state(const Engine *g, LoaderState *out) {
    task_rows_loader_state(&((const ClsState *)g->task_state)->rows, out);
}

static int cls_save_meta(const Engine *g, const char *dir, LwError *e) {
    if (g->ft_meta.n_labels == 0) return LW_OK; /* a head without label names (a checkpoint that had none) */
    CkptFinetune meta = g->ft_meta;
    meta.mode = FT_CLASSIFY;
    return ckpt_write_finetune(dir, &meta, e);
}

/* A classifier answers with its label: one GenToken "label (p%)" whose top_ids are class indices. */
static int cls_reply_begin(Engine *g, const char *text, const SampleParams *p, LwError *e) {
    (void)p;
    float pr[CFG_MAX_LABELS];
    int K = engine_classify(g, text, pr, CFG_MAX_LABELS, e);
    if (K < 0) return -K;
    GenToken t;
    memset(&t, 0, sizeof t);
    t.n_top = sampler_top_n(pr, K, LW_MIN(K, SNAP_TOPK), t.top_ids, t.top_probs);
    t.id = t.top_ids[0];
    snprintf(t.text, sizeof t.text, "%.30s (%.1f%%)", engine_class_name(g, t.id), 100.0 * t.top_probs[0]);
    engine_gen_answer(g, &t);
    return LW_OK;
}

const TaskOps task_classify = {
    .name = "classify",
    .ft_mode = FT_CLASSIFY,
    .eot_role = "pads short texts",
    .summary = "classification: a class head on one pooled position per text (TSV label<TAB>text)",
    .open = cls_open,
    .open_inference = NULL,
    .close = cls_close,
    .next_batch = cls_next_batch,
    .rewind_val = cls_rewind_val,
    .n_val_batches = cls_n_val_batches,
    .val_correct = cls_val_correct,
    .evaluate = cls_evaluate,
    .sample = NULL,
    .window_start = cls_window_start,
    .loader_state = cls_loader_state,
    .save_meta = cls_save_meta,
    .reply_begin = cls_reply_begin,
};
