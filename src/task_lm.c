/* task_lm.c — language modelling (pretraining, train.task: lm): the corpus tokenized once and cut into windows
 * (data.c's Loader), each position predicting the next token; samples continue train.sample_prompt; a chat reply
 * continues the user's text. */
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

typedef struct LmState {
    TokenData data;
    Loader train, val;
} LmState;

static int lm_open(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    LmState *s = g->task_state = lw_calloc(1, sizeof *s);
    int rc;
    /* A resumed run takes its model and tokenizer from the checkpoint: the tokenizer is never retrained. */
    TrainState st;
    int resumed = o && o->resume_dir;
    if (resumed && (rc = g->arch->load(&g->model, o->resume_dir, &g->tok, &st, g->ckpt_flags, e))) return rc;
    if (!g->tok && (rc = engine_setup_tokenizer(g, o, e))) return rc;
    int V = resumed ? engine_model_info(g).vocab_size : tok_vocab_size(g->tok);
    if (resumed && tok_vocab_size(g->tok) > V)
        return lw_fail(e, LW_ERR_INVALID, "%s: tokenizer has %d tokens but the model only %d", o->resume_dir,
                       tok_vocab_size(g->tok), V);
    if (V != c->model.vocab_size) {
        if (c->tokenizer.kind == TOK_BPE && V < c->model.vocab_size)
            lw_log(LW_LOG_WARN, "the corpus gave only %d tokens (asked for %d): model.vocab_size is now %d", V,
                   c->model.vocab_size, V);
        c->model.vocab_size = V;
    }
    engine_progress(o, "tokenizing the corpus", 0, 1);
    if ((rc = data_build(&s->data, c, g->tok, g->run_dir, e))) return rc;
    engine_progress(o, "tokenizing the corpus", 1, 1);
    g->B = c->train.batch_size;
    g->T = c->data.window > 0 ? LW_MIN(c->data.window, c->model.context_length) : c->model.context_length;
    if ((rc = loader_init(&s->train, s->data.train, s->data.n_train, g->B, g->T, c->data.stride, c->train.seed, 1,
                          e)))
        return rc;
    g->has_val = s->data.n_val > 0;
    if (g->has_val &&
        (rc = loader_init(&s->val, s->data.val, s->data.n_val, g->B, g->T, 0, c->train.seed, 0, e)))
        return rc;
    g->total_steps = engine_total_steps(g, (double)loader_n_batches(&s->train));

    rng_seed(&g->rng, c->train.seed);
    if (resumed) {
        ArchInfo mc = engine_model_info(g);
        const ModelCfg *gc = &c->model;
        if (mc.n_layer != gc->n_layer || mc.n_head != gc->n_head || mc.d_model != gc->d_model ||
            mc.vocab_size != V || mc.context_length != gc->context_length)
            return lw_fail(e, LW_ERR_INVALID, "%s: checkpoint model (%d layers, %d heads, d_model %d, context %d, vocab %d) does not fit the config (%d, %d, %d, %d, %d)",
                           o->resume_dir, mc.n_layer, mc.n_head, mc.d_model, mc.context_length, mc.vocab_size,
                           gc->n_layer, gc->n_head, gc->d_model, gc->context_length, V);
        engine_restore_state(g, &st);
        if ((rc = loader_restore(&s->train, &st.loader, e))) return rc;
    } else if (c->finetune.init_from[0]) {
        if ((rc = g->arch->create(&g->model, &c->model, V, e))) return rc;
        if ((rc = g->arch->load(&g->model, c->finetune.init_from, NULL, NULL, g->ckpt_flags, e))) return rc;
    } else {
        if ((rc = engine_fresh_model(g, V, e))) return rc;
    }
    return engine_start_run(g, resumed, e);
}

static void lm_close(Engine *g) {
    LmState *s = g->task_state;
    if (!s) return;
    loader_free(&s->train);
    loader_free(&s->val);
    data_free(&s->data);
    free(s);
    g->task_state = NULL;
}

static long lm_next_batch(Engine *g, int val) {
    LmState *s = g->task_state;
    loader_next(val ? &s->val : &s->train, g->inputs, g->targets);
    g->batch = (ArchBatch){.head = ARCH_HEAD_LM, .B = g->B, .T = g->T, .inputs = g->inputs, .targets = g->targets};
    return (long)g->B * g->T;
}

static void lm_rewind_val(Engine *g) { loader_reset(&((LmState *)g->task_state)->val); }

static int lm_n_val_batches(const Engine *g) { return (int)loader_n_batches(&((const LmState *)g->task_state)->val); }

static int lm_sample(Engine *g, const SampleParams *sp, char *text, size_t n) {
    LwError e;
    if (engine_gen_begin(g, g->cfg.train.sample_prompt, sp, &e)) return 0;
    size_t len = (size_t)snprintf(text, n, "%s", g->cfg.train.sample_prompt);
    if (len >= n) len = n - 1;
    engine_gen_collect(g, text, len, n);
    return 1;
}

static long lm_window_start(const Engine *g) { return ((const LmState *)g->task_state)->train.last_start; }

static void lm_loader_state(const Engine *g, LoaderState *out) {
    loader_state(&((const LmState *)g->task_state)->train, out);
}

const TaskOps task_lm = {
    .name = "lm",
    .ft_mode = FT_NONE,
    .eot_role = "between documents",
    .summary = "language modelling: every position predicts the next token (pretraining)",
    .open = lm_open,
    .open_inference = NULL,
    .close = lm_close,
    .next_batch = lm_next_batch,
    .rewind_val = lm_rewind_val,
    .n_val_batches = lm_n_val_batches,
    .val_correct = NULL,
    .evaluate = NULL,
    .sample = lm_sample,
    .window_start = lm_window_start,
    .loader_state = lm_loader_state,
    .save_meta = NULL,
    .reply_begin = engine_gen_begin_text,
};
