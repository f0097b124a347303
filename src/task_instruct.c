/* task_instruct.c — instruction tuning (train.task: instruct, the book's chapter 7): Alpaca JSON/JSONL examples
 * formatted with a prompt template (alpaca or phi3), padded batches whose loss covers the response (and the prompt
 * unless finetune.mask_prompt), greedy responses to held-out instructions scored by exact match; a chat reply is the
 * response to the user's text as an instruction; checkpoints carry the template (llmwb-finetune.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

#define INS_EVAL_MAX 200 /* examples scored per exact-match evaluation */

typedef struct InsState {
    InsTemplate tmpl;
    InsData ins;            /* data.paths[0] */
    InsData held;           /* data.paths[1], a held-out file for exact-match (optional) */
    TaskRows rows;
} InsState;

/* The model as finetuning makes it, the dataset tokenized with the template, split 85/10/5 as configured. */
static int ins_open(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    InsState *s = g->task_state = lw_calloc(1, sizeof *s);
    TrainState st;
    int resumed, rc;
    if ((rc = ins_template_parse(c->finetune.template_name, &s->tmpl, e))) return rc;
    if ((rc = engine_finetune_model(g, o, &st, &resumed, e))) return rc;
    if ((rc = engine_setup_trainable(g, resumed, e))) return rc;
    g->B = c->train.batch_size;
    g->T = LW_MIN(engine_model_info(g).context_length, c->model.context_length);
    if ((rc = ins_load(&s->ins, c->data.paths[0], e))) return rc;
    if ((rc = ins_tokenize(&s->ins, s->tmpl, g->tok, g->T, c->finetune.truncate, e))) return rc;
    if (c->data.n_paths > 1) {
        if ((rc = ins_load(&s->held, c->data.paths[1], e))) return rc;
        if ((rc = ins_tokenize(&s->held, s->tmpl, g->tok, g->T, 1, e))) return rc;
    }
    FtSplit *sp = &s->rows.split;
    if ((rc = ins_split(sp, s->ins.n, c->data.val_fraction, c->data.test_fraction, c->train.seed, e))) return rc;
    if ((rc = task_rows_start(g, &s->rows, resumed ? &st : NULL, e))) return rc;
    lw_log(LW_LOG_INFO, "instruction data: %d examples (%d train, %d val, %d test)%s; template %s%s", s->ins.n,
           sp->n_train, sp->n_val, sp->n_test, s->held.n ? " + held-out file" : "", c->finetune.template_name,
           c->finetune.mask_prompt ? ", prompt masked in the loss" : "");
    return LW_OK;
}

/* A checkpoint trained so: its template. */
static int ins_open_inference(Engine *g, LwError *e) {
    InsState *s = g->task_state = lw_calloc(1, sizeof *s);
    return ins_template_parse(g->ft_meta.template_name, &s->tmpl, e);
}

static void ins_close(Engine *g) {
    InsState *s = g->task_state;
    if (!s) return;
    ins_free(&s->ins);
    ins_free(&s->held);
    task_rows_free(&s->rows);
    free(s);
    g->task_state = NULL;
}

static long ins_next_batch(Engine *g, int val) {
    InsState *s = g->task_state;
    task_rows_next(g, &s->rows, val);
    int T = ins_batch_len(&s->ins, s->rows.rows, g->B, g->T);
    ins_batch(&s->ins, s->rows.rows, g->B, T, tok_eot(g->tok), g->cfg.finetune.mask_prompt, g->inputs, g->targets);
    g->batch = (ArchBatch){.head = ARCH_HEAD_LM, .B = g->B, .T = T, .inputs = g->inputs, .targets = g->targets};
    return (long)g->B * T;
}

static void ins_rewind_val(Engine *g) { task_rows_rewind_val(&((InsState *)g->task_state)->rows); }

static int ins_n_val_batches(const Engine *g) {
    return task_rows_n_val_batches(g, &((const InsState *)g->task_state)->rows);
}

/* Greedy responses to held-out instructions (data.paths[1] if given, else the test split), scored by exact match
 * and contains-answer, written to <run_dir>/responses-step<N>.jsonl. */
static int ins_evaluate(Engine *g, LwError *e) {
    InsState *s = g->task_state;
    const FtSplit *sp = &s->rows.split;
    const InsData *d = s->held.n ? &s->held : &s->ins;
    int n = s->held.n ? s->held.n : sp->n_test;
    const int *split_rows = sp->n_test ? sp->test : sp->val;
    if (!s->held.n && !sp->n_test) n = sp->n_val;
    n = LW_MIN(n, INS_EVAL_MAX);
    if (n <= 0) return LW_OK;
    int *rows = lw_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) rows[i] = s->held.n ? i : split_rows[i];
    char **responses = lw_calloc((size_t)n, sizeof(char *));
    SampleParams sp_gen;
    engine_sample_defaults(&sp_gen);
    sp_gen.temperature = 0; /* greedy, as the book scores its responses */
    int rc = LW_OK;
    for (int i = 0; i < n && rc == LW_OK; i++) {
        if (engine_aborted(g)) {
            rc = lw_fail(e, LW_ERR_ABORTED, "evaluation interrupted");
            break;
        }
        const InsEntry *x = &d->ex[rows[i]];
        sp_gen.max_tokens = LW_MIN(64, (x->n - x->n_prompt) + 8);
        if ((rc = engine_gen_begin_ids(g, x->ids, (size_t)x->n_prompt, &sp_gen, e))) break;
        StrBuf text = {0};
        GenToken t;
        while (engine_gen_next(g, &t) > 0) sb_adds(&text, t.text);
        char *gen = sb_take(&text);
        responses[i] = ins_extract_response(s->tmpl, gen);
        free(gen);
    }
    if (rc == LW_OK) {
        char name[64], path[CFG_PATH_MAX + 64];
        snprintf(name, sizeof name, "responses-step%ld.jsonl", g->step);
        lw_path_join(path, sizeof path, g->run_dir, name);
        InsScore sc;
        rc = ins_write_responses(path, d, rows, (const char *const *)responses, n, &sc, e);
        if (rc == LW_OK)
            engine_publish_event(g, EV_EVAL, "%s: exact match %.1f%% (%d/%d), contains answer %.1f%%; responses in %s",
                                 g->step == 0 ? "before finetuning" : "instruction eval", 100.0 * sc.n_exact / sc.n,
                                 sc.n_exact, sc.n, 100.0 * sc.n_contains / sc.n, path);
    }
    for (int i = 0; i < n; i++) free(responses[i]);
    free(responses);
    free(rows);
    return rc;
}

/* A validation example, with its input, answered greedily. */
static int ins_sample(Engine *g, const SampleParams *sp, char *text, size_t n) {
    InsState *s = g->task_state;
    const FtSplit *split = &s->rows.split;
    const int *rows = split->n_val ? split->val : split->train;
    int nrows = split->n_val ? split->n_val : split->n_train;
    const InsEntry *x = &s->ins.ex[rows[(g->step / LW_MAX(1, g->cfg.train.sample_every)) % LW_MAX(1, nrows)]];
    SampleParams greedy = *sp;
    greedy.temperature = 0;
    LwError e;
    if (engine_gen_begin_ids(g, x->ids, (size_t)x->n_prompt, &greedy, &e)) return 0;
    size_t len = (size_t)snprintf(text, n, "%s%s%s → ", x->instruction, x->input[0] ? " " : "", x->input);
    if (len >= n) len = n - 1;
    engine_gen_collect(g, text, len, n);
    return 1;
}

static long ins_window_start(const Engine *g) { return ((const InsState *)g->task_state)->rows.rows[0]; }

static void ins_loader_state(const Engine *g, LoaderState *out) {
    task_rows_loader_state(&((const InsState *)g->task_state)->rows, out);
}

static int ins_save_meta(const Engine *g, const char *dir, LwError *e) {
    const InsState *s = g->task_state;
    CkptFinetune meta = g->ft_meta;
    meta.mode = FT_INSTRUCT;
    snprintf(meta.template_name, sizeof meta.template_name, "%s", s->tmpl == INS_TEMPLATE_PHI3 ? "phi3" : "alpaca");
    return ckpt_write_finetune(dir, &meta, e);
}

/* An instruction-tuned model: the user's text is the instruction; the reply is the response. */
static int ins_reply_begin(Engine *g, const char *text, const SampleParams *p, LwError *e) {
    InsState *s = g->task_state;
    IntVec ids = {0};
    char *full = ins_format_prompt(s->tmpl, text, NULL);
    tok_encode(g->tok, full, strlen(full), 0, &ids);
    free(full);
    int rc = engine_gen_begin_ids(g, ids.data, ids.len, p, e);
    ivec_free(&ids);
    return rc;
}

const TaskOps task_instruct = {
    .name = "instruct",
    .ft_mode = FT_INSTRUCT,
    .eot_role = "ends the response",
    .summary = "instruction tuning: prompt-template examples, loss on the response (Alpaca JSON or JSONL)",
    .open = ins_open,
    .open_inference = ins_open_inference,
    .close = ins_close,
    .next_batch = ins_next_batch,
    .rewind_val = ins_rewind_val,
    .n_val_batches = ins_n_val_batches,
    .val_correct = NULL,
    .evaluate = ins_evaluate,
    .sample = ins_sample,
    .window_start = ins_window_start,
    .loader_state = ins_loader_state,
    .save_meta = ins_save_meta,
    .reply_begin = ins_reply_begin,
};
