/* test_mlm.c — BERT as a part of the workbench: the arch_bert table (checkpoint round trip in the Hugging Face
 * BERT layout, the gathered MLM head = the full head), BERT's special tokens in the BPE vocabulary, the mlm task
 * (masks only on chosen positions, [CLS] ... [SEP] rows, the unigram baseline computed right), a short training run
 * that beats the baseline, engine_fill, and the classify task on a BERT checkpoint pooling [CLS]. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "bert.h"
#include "engine_impl.h"
#include "safetensors.h"

static char root[256];

static void make_root(void) {
    snprintf(root, sizeof root, "/tmp/llmwb-test-mlm-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(root));
}
static void drop_root(void) { lw_rmtree(root); }

TestSuite(mlm, .init = make_root, .fini = drop_root, .timeout = 120);

/* ---- the table ---- */

enum { B = 2, T = 9, V = 41 };

static void *small_bert(int seed) {
    ModelCfg mc = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 12, .dropout = 0.0f};
    snprintf(mc.arch, sizeof mc.arch, "bert");
    void *m = NULL;
    LwError e = {0};
    cr_assert_eq(arch_bert.create(&m, &mc, V, &e), LW_OK, "%s", e.msg);
    Rng r;
    rng_seed(&r, (uint64_t)seed);
    arch_bert.init_weights(m, &r);
    cr_assert_eq(arch_bert.reserve(m, B, T, 0, &e), LW_OK, "%s", e.msg);
    return m;
}

static void mlm_batch(int *inputs, int *targets, int *lengths) {
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < B * T; i++) {
        inputs[i] = (int)(rng_u64(&r) % V);
        targets[i] = i % 4 == 1 ? inputs[i] : ARCH_IGNORE_INDEX;
    }
    lengths[0] = T, lengths[1] = T - 3;
}

Test(mlm, bert_table_gathered_head_gives_the_full_heads_loss_and_gradients) {
    void *a = small_bert(3), *b = small_bert(3);
    int in[B * T], tg[B * T], len[B];
    mlm_batch(in, tg, len);
    ArchBatch bt = {.head = ARCH_HEAD_LM, .B = B, .T = T, .inputs = in, .targets = tg, .lengths = len};
    float la = arch_bert.forward(a, &bt, 1, NULL); /* training: the head on the labelled rows only */
    cr_assert_null(arch_bert.logits(a), "a gathered head has no (B, T, V) logits");
    float lb = arch_bert.forward(b, &bt, 0, NULL); /* every row */
    cr_assert_not_null(arch_bert.logits(b));
    cr_assert_float_eq(la, lb, 1e-5f * fabsf(lb), "%g vs %g", la, lb);
    arch_bert.zero_grad(a), arch_bert.zero_grad(b);
    arch_bert.backward(a, 1.0f), arch_bert.backward(b, 1.0f);
    float na = arch_bert.grad_norm(a), nb = arch_bert.grad_norm(b);
    cr_assert(na > 0 && fabsf(na - nb) <= 1e-4f * nb, "gradient norms %g vs %g", na, nb);
    ArchInfo mi;
    arch_bert.info(a, &mi);
    cr_assert_eq(mi.causal, 0);
    cr_assert_eq(arch_bert.pool_position(a, 7), 0, "BERT pools [CLS]");
    cr_assert_eq(arch_bert.map_kind, ARCH_MAP_BIDIRECTIONAL);
    arch_bert.destroy(a);
    arch_bert.destroy(b);
}

Test(mlm, bert_checkpoint_round_trip_in_the_hugging_face_layout) {
    void *m = small_bert(9);
    int in[B * T], tg[B * T], len[B];
    mlm_batch(in, tg, len);
    ArchBatch bt = {.head = ARCH_HEAD_LM, .B = B, .T = T, .inputs = in, .targets = tg, .lengths = len};
    /* a step so the optimizer moments are not zero */
    arch_bert.zero_grad(m);
    arch_bert.forward(m, &bt, 1, NULL);
    arch_bert.backward(m, 1.0f);
    ArchAdamW ad = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .t = 1,
                    .grad_scale = 1.0f};
    arch_bert.adamw_step(m, &ad);
    float l0 = arch_bert.forward(m, &bt, 0, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    TrainState st = {.step = 1, .tokens_seen = 18, .best_val_loss = 2.5f, .last_val_loss = 2.5f, .elapsed = 1.0};
    rng_seed(&st.rng, 4);
    LwError e = {0};
    cr_assert_eq(arch_bert.save(m, dir, NULL, &st, "name: x\n", 0, &e), LW_OK, "%s", e.msg);

    const ArchOps *found = NULL;
    cr_assert_eq(arch_for_checkpoint(dir, &found, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(found, &arch_bert, "config.json says model_type bert");
    char path[600];
    StFile *f;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(st_open(&f, path, &e), LW_OK, "%s", e.msg);
    const char *names[] = {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                           "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                           "bert.encoder.layer.0.attention.self.query.weight",
                           "bert.encoder.layer.1.attention.output.LayerNorm.bias",
                           "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
                           "cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.weight",
                           "cls.predictions.bias"};
    for (size_t i = 0; i < LW_ARRAY_LEN(names); i++) cr_expect_not_null(st_find(f, names[i]), "missing %s", names[i]);
    const StTensor *q = st_find(f, "bert.encoder.layer.0.intermediate.dense.weight");
    cr_assert(q && q->ndim == 2 && q->shape[0] == 64 && q->shape[1] == 16, "Linear layout (out, in)");
    st_close(f);
    char *js;
    snprintf(path, sizeof path, "%s/config.json", dir);
    cr_assert_eq(lw_read_file(path, &js, NULL, &e), LW_OK);
    cr_assert(strstr(js, "\"BertForMaskedLM\"") && strstr(js, "\"hidden_size\":\t16") &&
                  strstr(js, "\"num_hidden_layers\":\t2") && strstr(js, "\"intermediate_size\":\t64"),
              "%s", js);
    free(js);

    void *r = NULL;
    TrainState st2;
    cr_assert_eq(arch_bert.load(&r, dir, NULL, &st2, 0, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(st2.step, 1);
    cr_assert_eq(arch_bert.reserve(r, B, T, 0, &e), LW_OK, "%s", e.msg);
    const Bert *x = m, *y = r; /* BertModel starts with its Bert */
    cr_assert_eq(x->n_params, y->n_params);
    cr_assert_eq(memcmp(x->params, y->params, x->n_params * sizeof(float)), 0, "weights bit for bit");
    cr_assert_eq(memcmp(x->adam_m, y->adam_m, x->n_params * sizeof(float)), 0, "first moments");
    cr_assert_eq(memcmp(x->adam_v, y->adam_v, x->n_params * sizeof(float)), 0, "second moments");
    cr_assert_eq(arch_bert.forward(r, &bt, 0, NULL), l0);
    arch_bert.destroy(r);

    /* a class head added to an MLM model: saved and recreated from config.json; a GPT-shaped model is refused */
    Rng hr;
    rng_seed(&hr, 2);
    cr_assert_eq(arch_bert.add_class_head(m, 3, &hr, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(arch_bert.save(m, dir, NULL, NULL, NULL, 0, &e), LW_OK, "%s", e.msg);
    r = NULL;
    cr_assert_eq(arch_bert.load(&r, dir, NULL, NULL, 0, &e), LW_OK, "%s", e.msg);
    ArchInfo ri;
    arch_bert.info(r, &ri);
    cr_assert_eq(ri.n_classes, 3);
    cr_assert_eq(memcmp(x->params, ((const Bert *)r)->params, x->n_params * sizeof(float)), 0);
    arch_bert.destroy(r);
    r = NULL;
    cr_assert_neq(arch_bert.load(&r, dir, NULL, &st2, 0, &e), LW_OK, "weights only: not resumable");
    cr_assert(strstr(e.msg, "resumable"), "%s", e.msg);
    arch_bert.destroy(r);
    arch_bert.destroy(m);
}

/* ---- special tokens ---- */

Test(mlm, bert_special_tokens_join_the_bpe_vocabulary_and_survive_a_save) {
    Tokenizer *t = tok_new_bytes();
    int V0 = tok_vocab_size(t);
    cr_assert_eq(tok_add_bert_specials(t), 4);
    cr_assert_eq(tok_add_bert_specials(t), 0, "idempotent");
    cr_assert_eq(tok_vocab_size(t), V0 + 4);
    for (int k = 0; k < TOK_N_BERT; k++) cr_assert_eq(tok_bert_special(t, k), V0 + k, "appended after the last id");
    IntVec ids = {0};
    const char *s = "[CLS] a[MASK]b [SEP]";
    tok_encode(t, s, strlen(s), 1, &ids);
    int want[] = {V0 + TOK_CLS, ' ', 'a', V0 + TOK_MASK, 'b', ' ', V0 + TOK_SEP};
    cr_assert_eq(ids.len, LW_ARRAY_LEN(want));
    for (size_t i = 0; i < ids.len; i++) cr_assert_eq(ids.data[i], want[i], "id %zu", i);
    ids.len = 0;
    tok_encode(t, s, strlen(s), 0, &ids);
    cr_assert_eq(ids.len, strlen(s), "without allow_special the text is ordinary bytes");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tok", root);
    LwError e = {0};
    cr_assert_eq(tok_save_dir(t, dir, &e), LW_OK, "%s", e.msg);
    Tokenizer *u = NULL;
    cr_assert_eq(tok_load_dir(&u, dir, &e), LW_OK, "%s", e.msg);
    for (int k = 0; k < TOK_N_BERT; k++) cr_assert_eq(tok_bert_special(u, k), V0 + k);
    size_t n;
    char *back = tok_decode(u, want, LW_ARRAY_LEN(want), &n);
    cr_assert_str_eq(back, "[CLS] a[MASK]b [SEP]");
    free(back);
    ivec_free(&ids);
    tok_free(t);
    tok_free(u);
}

/* ---- the task ---- */

/* 2 layers, d 64, context 32, a 300-token BPE on 60 kB of the novel; mlm on BERT. */
static void mlm_config(Config *c, const char *sub) {
    cfg_defaults(c);
    snprintf(c->data.paths[0], sizeof c->data.paths[0], "corpora/austen_prideprejudice.txt");
    c->data.n_paths = 1;
    c->data.max_chars = 60000;
    c->tokenizer.kind = TOK_BPE;
    c->tokenizer.vocab_size = 300;
    c->model.vocab_size = 300;
    snprintf(c->model.arch, sizeof c->model.arch, "bert");
    snprintf(c->train.task, sizeof c->train.task, "mlm");
    c->model.n_layer = 2;
    c->model.n_head = 2;
    c->model.d_model = 64;
    c->model.context_length = 32;
    c->model.dropout = 0.0f;
    c->train.batch_size = 8;
    c->train.steps = 300;
    c->train.lr = 3e-3f;
    c->train.min_lr = 3e-4f;
    c->train.warmup = 10;
    c->train.eval_every = 100;
    c->train.eval_batches = 16;
    c->train.sample_every = 0;
    c->train.checkpoint_every = 0;
    c->train.threads = 1;
    c->probe.snapshot_every = 0;
    snprintf(c->probe.text, sizeof c->probe.text, "[CLS] It is a [MASK] universally acknowledged [SEP]");
    snprintf(c->name, sizeof c->name, "%s", sub);
    snprintf(c->train.run_dir, sizeof c->train.run_dir, "%s/%s", root, sub);
}

static Engine *open_or_fail(const Config *c) {
    LwError e = {0};
    Engine *g = NULL;
    cr_assert_eq(engine_open(&g, c, NULL, &e), LW_OK, "engine_open: %s", e.msg);
    return g;
}

/* The latest EV_EVAL "masked accuracy A%, unigram baseline U% ..." event: A and U. */
static int last_mlm_eval(Engine *g, float *acc, float *base) {
    EngineEvent ev[EVENT_RING];
    int n = engine_get_events(g, 0, ev, EVENT_RING), found = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].kind == EV_EVAL && sscanf(ev[i].text, "masked accuracy %f%%, unigram baseline %f%%", acc, base) == 2)
            found = 1;
    return found;
}

Test(mlm, batches_mask_only_chosen_positions_of_cls_text_sep_rows) {
    Config c;
    mlm_config(&c, "batches");
    Engine *g = open_or_fail(&c);
    int cls = tok_bert_special(g->tok, TOK_CLS), sep = tok_bert_special(g->tok, TOK_SEP),
        mask = tok_bert_special(g->tok, TOK_MASK);
    cr_assert(cls >= 0 && sep >= 0 && mask >= 0);
    cr_assert_eq(engine_model_info(g).vocab_size, tok_vocab_size(g->tok), "the specials have embedding rows");
    long chosen = 0, masked = 0, kept = 0, ordinary = 0;
    for (int it = 0; it < 20; it++) {
        g->task->next_batch(g, 0);
        const ArchBatch *b = &g->batch;
        cr_assert_eq(b->T, 32);
        for (int r = 0; r < b->B; r++) {
            const int *x = b->inputs + r * b->T, *y = b->targets + r * b->T;
            cr_assert_eq(x[0], cls, "row %d starts with [CLS]", r);
            cr_assert_eq(x[b->T - 1], sep, "row %d ends with [SEP]", r);
            cr_assert_eq(y[0], ARCH_IGNORE_INDEX, "[CLS] is never chosen");
            cr_assert_eq(y[b->T - 1], ARCH_IGNORE_INDEX, "[SEP] is never chosen");
            int in_row = 0;
            for (int t = 1; t < b->T - 1; t++) in_row += y[t] != ARCH_IGNORE_INDEX;
            cr_assert_eq(in_row, (int)floor(0.15 * (b->T - 2) + 0.5), "BERT's round(15%% of %d)", b->T - 2);
            for (int t = 1; t < b->T - 1; t++) {
                ordinary++;
                if (y[t] == ARCH_IGNORE_INDEX) {
                    cr_assert_neq(x[t], mask, "[MASK] only where a loss is");
                    continue;
                }
                chosen++;
                cr_assert(y[t] >= 0 && y[t] < cls, "the label is the original ordinary token");
                masked += x[t] == mask;
                kept += x[t] == y[t];
            }
        }
    }
    double pm = (double)masked / chosen, pk = (double)kept / chosen;
    cr_assert_eq(chosen * 30, ordinary * 5, "5 of every 30 ordinary positions");
    cr_assert(fabs(pm - 0.8) < 0.05, "[MASK] %.3f of the chosen", pm);
    cr_assert(pk > 0.06 && pk < 0.16, "unchanged %.3f of the chosen", pk);
    /* validation masks are the same at every evaluation */
    int first[8 * 32];
    g->task->rewind_val(g);
    g->task->next_batch(g, 1);
    memcpy(first, g->batch.inputs, sizeof first);
    g->task->next_batch(g, 1);
    g->task->rewind_val(g);
    g->task->next_batch(g, 1);
    cr_assert_eq(memcmp(first, g->batch.inputs, sizeof first), 0, "the same masked validation rows");
    engine_close(g);
}

/* The baseline is the best constant answer on the very blanks scored: the token most frequent among their answers,
 * counted here from the evaluation's own batches (at least the most frequent training token does there). */
Test(mlm, the_unigram_baseline_is_the_most_frequent_answer_of_the_scored_blanks) {
    Config c;
    mlm_config(&c, "baseline");
    Engine *g = open_or_fail(&c);
    int nv = tok_vocab_size(g->tok), mask = tok_bert_special(g->tok, TOK_MASK);
    long *cnt = calloc((size_t)nv, sizeof(long)), n = 0;
    g->task->rewind_val(g);
    for (int i = 0; i < LW_MIN(c.train.eval_batches, g->task->n_val_batches(g)); i++) {
        g->task->next_batch(g, 1);
        for (int k = 0; k < g->batch.B * g->batch.T; k++)
            if (g->batch.targets[k] != ARCH_IGNORE_INDEX && g->batch.inputs[k] == mask) n++, cnt[g->batch.targets[k]]++;
    }
    int top = 0;
    for (int v = 0; v < nv; v++)
        if (cnt[v] > cnt[top]) top = v;
    cr_assert_gt(n, 100);
    /* the most frequent ordinary token of the training split does no better on these blanks */
    TokenData d;
    LwError e = {0};
    cr_assert_eq(data_build(&d, &g->cfg, g->tok, NULL, &e), LW_OK, "%s", e.msg);
    long *tc = calloc((size_t)nv, sizeof(long));
    int ttop = 0;
    for (size_t i = 0; i < d.n_train; i++) tc[d.train[i]]++;
    for (int v = 0; v < nv; v++)
        if (v < tok_eot(g->tok) && tc[v] > tc[ttop]) ttop = v;
    cr_assert_geq(cnt[top], cnt[ttop]);
    free(tc);
    data_free(&d);
    LwError e2 = {0};
    cr_assert_eq(g->task->evaluate(g, &e2), LW_OK, "%s", e2.msg);
    float acc, base;
    cr_assert(last_mlm_eval(g, &acc, &base), "no masked-accuracy event");
    cr_assert_float_eq(base, (float)(100.0 * cnt[top] / n), 0.051f, "baseline %.2f%%, counted %.2f%%", base,
                       100.0 * cnt[top] / n);
    /* and names that token, newlines and tabs spelled \n and \t */
    char text[SNAP_TOKTEXT], want[2 * SNAP_TOKTEXT + 16];
    engine_token_text(g, top, text, sizeof text);
    size_t k = (size_t)snprintf(want, sizeof want, "(always \"");
    for (const char *q = text; *q; q++)
        if (*q == '\n' || *q == '\t') want[k++] = '\\', want[k++] = *q == '\n' ? 'n' : 't';
        else want[k++] = *q;
    snprintf(want + k, sizeof want - k, "\")");
    EngineEvent ev[EVENT_RING];
    int ne = engine_get_events(g, 0, ev, EVENT_RING), named = 0;
    for (int i = 0; i < ne; i++)
        if (ev[i].kind == EV_EVAL && strstr(ev[i].text, "masked accuracy")) named = strstr(ev[i].text, want) != NULL;
    cr_assert(named, "the baseline names its token %s", want);
    free(cnt);
    engine_close(g);
}

/* tests/data/mlm_pairs.txt: lines of six two-word phrases ("red apple blue sky ... ."), so a masked word is given
 * by its neighbour and a model that reads the context beats the unigram baseline (".") soon. */
Test(mlm, a_short_bert_run_beats_the_unigram_baseline_and_fills_masks) {
    Config c;
    mlm_config(&c, "beats");
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "tests/data/mlm_pairs.txt");
    c.data.max_chars = 0;
    c.data.val_fraction = 0.2f;
    c.tokenizer.kind = TOK_WORDS;
    c.model.layer_norm = NORM_PRE;
    c.model.context_length = 16;
    c.train.batch_size = 16;
    c.train.steps = 1000;
    c.train.lr = 1e-3f; /* 5e-3 trains chaotically here: 9-22% by rounding alone */
    c.train.min_lr = 1e-4f;
    c.train.warmup = 20;
    c.train.eval_every = 200;
    c.train.eval_batches = 8;
    snprintf(c.probe.text, sizeof c.probe.text, "[CLS] red apple [MASK] sky [SEP]");
    Engine *g = open_or_fail(&c);
    LwError e = {0};
    while (g->state != ENGINE_DONE) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    float acc = 0, base = 0;
    cr_assert(last_mlm_eval(g, &acc, &base), "no masked-accuracy event");
    cr_assert(acc > base + 30.0f, "masked accuracy %.1f%% does not beat the unigram baseline %.1f%%", acc, base);
    /* the probe: full squares, no masked half */
    ProbeSnapshot *p = engine_get_probe(g, -1);
    cr_assert_not_null(p);
    double upper = 0;
    for (int i = 0; i < p->T; i++)
        for (int j = i + 1; j < p->T; j++) upper += p->att[(size_t)i * p->T + j];
    cr_assert_gt(upper, 0.5, "queries attend to keys on their right");
    engine_probe_free(p);
    /* fill: through a saved checkpoint opened for inference */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/beats/final", root);
    cr_assert_eq(engine_save(g, dir, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    Config d;
    cfg_defaults(&d);
    EngineOpenOpts o = {.ckpt_dir = dir};
    cr_assert_eq(engine_open(&g, &d, &o, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(g->task, &task_mlm, "a BERT checkpoint fills masks");
    FillResult fr;
    cr_assert_eq(engine_fill(g, "red apple blue_sky [MASK] fire", 5, &fr, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(fr.n_slots, 1, "'_' inside a word is a letter; [MASK] is a mask");
    cr_assert_eq(engine_fill(g, "red _ blue sky [MASK] fire", 5, &fr, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(fr.n_slots, 2);
    for (int i = 0; i < fr.n_slots; i++) {
        cr_assert_eq(fr.slots[i].n, 5);
        float sum = 0;
        for (int k = 0; k < 5; k++) {
            cr_assert(fr.slots[i].ids[k] < LW_MIN(tok_eot(g->tok), tok_unk(g->tok)), "a candidate is an ordinary token");
            if (k) cr_assert_geq(fr.slots[i].probs[k - 1], fr.slots[i].probs[k], "most probable first");
            sum += fr.slots[i].probs[k];
        }
        cr_assert(sum > 0 && sum <= 1.0001f);
    }
    cr_assert_null(strstr(fr.filled, "[MASK]"), "%s", fr.filled);
    cr_assert_neq(engine_fill(g, "no blank here", 5, &fr, &e), LW_OK);
    cr_assert(strstr(e.msg, "[MASK]"), "%s", e.msg);
    engine_close(g);
}

Test(mlm, a_gpt_with_bidirectional_attention_learns_mlm_and_sees_both_sides) {
    Config c;
    mlm_config(&c, "gpt-bidir");
    snprintf(c.model.arch, sizeof c.model.arch, "gpt");
    LwError e = {0};
    cr_assert_neq(cfg_set(&c, "model.attention=sideways", &e), LW_OK);
    cr_assert_eq(cfg_set(&c, "model.attention=bidirectional", &e), LW_OK, "%s", e.msg);
    cr_assert_eq(cfg_validate(&c, &e), LW_OK, "%s", e.msg);
    snprintf(c.train.task, sizeof c.train.task, "lm");
    cr_assert_neq(cfg_validate(&c, &e), LW_OK, "bidirectional next-token prediction is refused");
    cr_assert(strstr(e.msg, "model.attention") && strstr(e.msg, "mlm"), "%s", e.msg);
    snprintf(c.train.task, sizeof c.train.task, "mlm");
    c.train.steps = 3;
    Engine *g = open_or_fail(&c);
    cr_assert_eq(g->arch, &arch_gpt);
    cr_assert_eq(engine_model_info(g).causal, 0);
    while (g->state != ENGINE_DONE) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    ProbeSnapshot *p = engine_get_probe(g, -1);
    cr_assert_eq(p->causal, 0);
    double upper = 0;
    for (int i = 0; i < p->T; i++)
        for (int j = i + 1; j < p->T; j++) upper += p->att[(size_t)i * p->T + j];
    cr_assert_gt(upper, 0.5, "queries attend to keys on their right");
    engine_probe_free(p);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gpt-bidir/final", root);
    cr_assert_eq(engine_save(g, dir, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    /* the checkpoint remembers it (config.json llmwb.bidirectional) and fills masks */
    Config d;
    cfg_defaults(&d);
    EngineOpenOpts o = {.ckpt_dir = dir};
    cr_assert_eq(engine_open(&g, &d, &o, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_model_info(g).causal, 0);
    cr_assert_eq(g->task, &task_mlm);
    FillResult fr;
    cr_assert_eq(engine_fill(g, "a _ man", 3, &fr, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(fr.n_slots, 1);
    engine_close(g);
    /* a causal GPT of the same shape does not load it silently */
    Gpt m = {0};
    GptConfig gc = {.n_layer = 2, .n_head = 2, .d_model = 64, .context_length = 32, .vocab_size = 304,
                    .tie_embeddings = 1};
    cr_assert_eq(gpt_init(&m, &gc, &e), LW_OK, "%s", e.msg);
    cr_assert_neq(ckpt_load(dir, &m, NULL, NULL, NULL, &e), LW_OK);
    cr_assert(strstr(e.msg, "bidirectional") && strstr(e.msg, "model.attention"), "%s", e.msg);
    gpt_free(&m);
}

Test(mlm, classify_on_a_bert_checkpoint_pools_cls_with_the_baseline_and_confusion_matrix) {
    /* a briefly pretrained BERT */
    Config c;
    mlm_config(&c, "bert-pre");
    c.train.steps = 2;
    Engine *g = open_or_fail(&c);
    LwError e = {0};
    while (g->state != ENGINE_DONE) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    char pre[512];
    snprintf(pre, sizeof pre, "%s/bert-pre/final", root);
    cr_assert_eq(engine_save(g, pre, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    /* the classify task on it: [CLS] text [SEP] rows pooled at 0 */
    mlm_config(&c, "bert-cls");
    snprintf(c.train.task, sizeof c.train.task, "classify");
    snprintf(c.finetune.init_from, sizeof c.finetune.init_from, "%s", pre);
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "corpora/classify/uci_sentiment_sentences.tsv");
    c.data.val_fraction = 0.1f;
    c.data.test_fraction = 0.2f;
    c.finetune.balance = 1;
    c.finetune.trainable = FT_TRAIN_ALL;
    c.train.steps = 4;
    c.train.eval_every = 2;
    c.train.eval_batches = 2;
    cr_assert_eq(cfg_validate(&c, &e), LW_OK, "%s", e.msg);
    g = open_or_fail(&c);
    cr_assert_eq(g->arch, &arch_bert);
    cr_assert_eq(engine_n_classes(g), 2);
    int cls = tok_bert_special(g->tok, TOK_CLS), sep = tok_bert_special(g->tok, TOK_SEP),
        pad = tok_bert_special(g->tok, TOK_PAD);
    g->task->next_batch(g, 0);
    const ArchBatch *b = &g->batch;
    cr_assert_eq(b->head, ARCH_HEAD_CLASS);
    for (int r = 0; r < b->B; r++) {
        const int *x = b->inputs + r * b->T;
        cr_assert_eq(b->pool[r], 0, "BERT pools [CLS]");
        cr_assert_eq(x[0], cls);
        cr_assert_eq(x[b->lengths[r] - 1], sep, "row %d ends with [SEP] before its padding", r);
        for (int t = b->lengths[r]; t < b->T; t++) cr_assert_eq(x[t], pad, "padding is [PAD]");
    }
    while (g->state != ENGINE_DONE) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    EngineEvent ev[EVENT_RING];
    int n = engine_get_events(g, 0, ev, EVENT_RING), nb = 0, acc = 0;
    for (int i = 0; i < n; i++) {
        nb += strstr(ev[i].text, "naive-Bayes baseline on the same split") != NULL;
        acc += strstr(ev[i].text, "accuracy train ") != NULL;
    }
    cr_assert(nb == 1 && acc >= 2, "baseline %d, accuracy events %d", nb, acc);
    char path[600], *txt;
    snprintf(path, sizeof path, "%s/bert-cls/classify-step4.txt", root);
    cr_assert_eq(lw_read_file(path, &txt, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert(strstr(txt, "confusion matrix") && strstr(txt, "naive-Bayes"), "%s", txt);
    free(txt);
    float pr[2];
    cr_assert_eq(engine_classify(g, "a wonderful film", pr, 2, &e), 2, "%s", e.msg);
    cr_assert_float_eq(pr[0] + pr[1], 1.0f, 1e-5f);
    engine_close(g);
}
