/* test_translate_task.c — the encoder-decoder behind the architecture table (arch_encdec.c) and the translate task
 * (task_translate.c): a checkpoint round trip, table decoding equal to full recomputation, batches whose loss is on
 * the target tokens only, evaluation scores equal to bleu.c's on the written hypotheses, a short training run that
 * beats copying the source, and `llmwb translate` on the checkpoint it leaves. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "bleu.h"
#include "encdec.h"
#include "engine_impl.h"
#include "translate_data.h"

static char root[256];

static void setup(void) {
    snprintf(root, sizeof root, "/tmp/llmwb-test-tr-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(root));
}
static void teardown(void) { lw_rmtree(root); }

TestSuite(translate_task, .init = setup, .fini = teardown, .timeout = 240);

static ModelCfg small_model(void) {
    Config c;
    cfg_defaults(&c);
    ModelCfg m = c.model;
    snprintf(m.arch, sizeof m.arch, "encdec");
    m.n_layer = 2, m.encoder_layers = 2, m.decoder_layers = 1, m.n_head = 2, m.d_model = 16, m.d_ff = 24;
    m.context_length = 12, m.dropout = 0.0f, m.beam = 3, m.length_penalty = 0.5f;
    return m;
}

static void *make_model(const ModelCfg *m, int V, uint64_t seed) {
    LwError e = {0};
    void *h = NULL;
    cr_assert_eq(arch_encdec.create(&h, m, V, &e), LW_OK, "%s", e.msg);
    Rng r;
    rng_seed(&r, seed);
    arch_encdec.init_weights(h, &r);
    cr_assert_eq(arch_encdec.reserve(h, 2, 12, 12, &e), LW_OK, "%s", e.msg);
    return h;
}

/* A batch of 2 rows: sources of 5 and 3 ids (padding after), targets with ignored padding. */
static const int SRC[2 * 5] = {3, 7, 9, 4, 1, 8, 2, 1, 0, 0};
static const int SRC_LEN[2] = {5, 3};
static const int TGT_IN[2 * 4] = {1, 5, 6, 7, 1, 9, 0, 0};
static const int TGT[2 * 4] = {5, 6, 7, 1, 9, 1, ARCH_IGNORE_INDEX, ARCH_IGNORE_INDEX};

static ArchBatch batch(void) {
    return (ArchBatch){.head = ARCH_HEAD_LM, .B = 2, .T = 4, .inputs = TGT_IN, .targets = TGT, .S = 5, .src = SRC,
                       .src_lengths = SRC_LEN};
}

Test(translate_task, checkpoint_round_trip_through_the_table) {
    ModelCfg mc = small_model();
    void *a = make_model(&mc, 20, 7);
    ArchBatch b = batch();
    /* one AdamW step so the moments are not zero */
    arch_encdec.zero_grad(a);
    arch_encdec.forward(a, &b, 0, NULL);
    arch_encdec.backward(a, 1.0f);
    ArchAdamW p = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .t = 1, .grad_scale = 1};
    arch_encdec.adamw_step(a, &p);
    float loss_a = arch_encdec.forward(a, &b, 0, NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    TrainState st = {.step = 1, .tokens_seen = 8, .best_val_loss = 2.5f, .last_val_loss = 2.5f, .elapsed = 3.0};
    rng_seed(&st.rng, 99);
    LwError e = {0};
    cr_assert_eq(arch_encdec.save(a, dir, NULL, &st, "name: x\n", 0, &e), LW_OK, "%s", e.msg);
    const ArchOps *found;
    cr_assert_eq(arch_for_checkpoint(dir, &found, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(found, &arch_encdec, "config.json names the encdec table");
    void *c = NULL;
    TrainState st2;
    Tokenizer *tok = NULL;
    cr_assert_eq(arch_encdec.load(&c, dir, &tok, &st2, 0, &e), LW_OK, "%s", e.msg);
    cr_assert_null(tok);
    cr_assert_eq(st2.step, 1);
    cr_assert_eq(st2.rng.s[0], st.rng.s[0]);
    const EncDec *da = a, *dc = c; /* EncDec is the first member of the table's handle */
    cr_assert_eq(da->n_params, dc->n_params);
    cr_assert_eq(memcmp(da->params, dc->params, da->n_params * sizeof(float)), 0, "weights round trip");
    cr_assert_eq(memcmp(da->adam_m, dc->adam_m, da->n_params * sizeof(float)), 0, "first moments round trip");
    cr_assert_eq(memcmp(da->adam_v, dc->adam_v, da->n_params * sizeof(float)), 0, "second moments round trip");
    ModelCfg back = {0};
    arch_encdec.to_config(c, &back);
    cr_assert_eq(back.encoder_layers, 2);
    cr_assert_eq(back.decoder_layers, 1);
    cr_assert_eq(back.d_ff, 24);
    cr_assert_eq(back.beam, 3);
    cr_assert_float_eq(back.length_penalty, 0.5f, 1e-6);
    cr_assert_eq(arch_encdec.reserve(c, 2, 12, 12, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(arch_encdec.forward(c, &b, 0, NULL), loss_a, "the loaded model computes the same loss");
    /* a model of another shape refuses the directory, naming it */
    ModelCfg other = mc;
    other.d_model = 32;
    void *o = make_model(&other, 20, 7);
    cr_assert_neq(arch_encdec.load(&o, dir, NULL, NULL, 0, &e), LW_OK);
    cr_assert(strstr(e.msg, "config.json"), "%s", e.msg);
    arch_encdec.destroy(o);
    arch_encdec.destroy(a);
    arch_encdec.destroy(c);
}

Test(translate_task, table_decoding_equals_full_recomputation) {
    ModelCfg mc = small_model();
    void *m = make_model(&mc, 20, 11);
    void *kv = arch_encdec.decode_open(m, 12);
    const int src[4] = {3, 7, 9, 4}, tgt[5] = {1, 5, 6, 7, 2};
    cr_assert_eq(arch_encdec.decode_source(m, kv, src, 4), 0);
    float logits[20];
    for (int t = 0; t < 5; t++) {
        cr_assert_eq(arch_encdec.decode_step(m, kv, &tgt[t], 1, logits), 0);
        ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = t + 1, .inputs = tgt, .S = 4, .src = src};
        arch_encdec.forward(m, &b, 0, NULL);
        const float *full = arch_encdec.logits(m) + (size_t)t * 20;
        for (int v = 0; v < 20; v++) cr_assert_float_eq(logits[v], full[v], 1e-5, "t %d v %d", t, v);
        int S = 0;
        const float *cross = arch_encdec.decode_cross(kv, &S);
        cr_assert_eq(S, 4);
        float sum = 0;
        for (int s = 0; s < S; s++) sum += cross[s];
        cr_assert_float_eq(sum, 1.0f, 1e-5, "a cross-attention row is a distribution over the source");
    }
    cr_assert_eq(arch_encdec.decode_len(kv), 5);
    /* reset keeps the source: the same first step again */
    arch_encdec.decode_reset(kv);
    float again[20];
    cr_assert_eq(arch_encdec.decode_step(m, kv, &tgt[0], 1, again), 0);
    ArchBatch b1 = {.head = ARCH_HEAD_LM, .B = 1, .T = 1, .inputs = tgt, .S = 4, .src = src};
    arch_encdec.forward(m, &b1, 0, NULL);
    for (int v = 0; v < 20; v++) cr_assert_float_eq(again[v], arch_encdec.logits(m)[v], 1e-5);
    /* beam search: best first, scores non-increasing, the best at least as good as greedy's score */
    int toks[3 * 8];
    ArchHyp h[3];
    for (int i = 0; i < 3; i++) h[i].tokens = toks + 8 * i;
    ArchBeam bp = {.bos = 1, .eos = 2, .max_len = 8, .beam = 3, .len_alpha = 0.0f};
    int n = arch_encdec.decode_beam(m, kv, &bp, h, 3);
    cr_assert_eq(n, 3);
    for (int i = 1; i < n; i++) cr_assert_geq(h[i - 1].score, h[i].score);
    arch_encdec.decode_close(kv);
    arch_encdec.destroy(m);
}

static void translate_config(Config *c, const char *sub, int steps) {
    cfg_defaults(c);
    snprintf(c->data.paths[0], sizeof c->data.paths[0], "tests/data/translate_small.tsv");
    c->data.n_paths = 1;
    c->data.val_fraction = 0.05f;
    c->data.test_fraction = 0.0f;
    c->tokenizer.kind = TOK_BPE; /* 400 tokens trained on the pairs: words learn in hundreds of steps, bytes do not */
    c->tokenizer.vocab_size = 400;
    c->model.vocab_size = 400;
    snprintf(c->model.arch, sizeof c->model.arch, "encdec");
    snprintf(c->train.task, sizeof c->train.task, "translate");
    c->model.n_layer = 2, c->model.n_head = 2, c->model.d_model = 32, c->model.d_ff = 64;
    c->model.layer_norm = NORM_PRE; /* pre-LN: trains at a high learning rate without warmup troubles */
    c->model.context_length = 40;
    c->model.dropout = 0.0f;
    c->train.batch_size = 16;
    c->train.steps = steps;
    c->train.lr = 5e-3f;
    c->train.min_lr = 1e-4f;
    c->train.warmup = 20;
    c->train.eval_every = 0;
    c->train.sample_every = 0;
    c->train.checkpoint_every = 0;
    c->train.threads = 1;
    c->probe.snapshot_every = 0;
    snprintf(c->probe.text, sizeof c->probe.text, "the dog");
    snprintf(c->name, sizeof c->name, "%s", sub);
    snprintf(c->train.run_dir, sizeof c->train.run_dir, "%s/%s", root, sub);
}

Test(translate_task, loss_covers_the_target_tokens_only) {
    Config c;
    translate_config(&c, "loss", 5);
    Engine *g = NULL;
    LwError e = {0};
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_OK, "%s", e.msg);
    g->task->next_batch(g, 0);
    const ArchBatch *b = &g->batch;
    cr_assert_not_null(b->src);
    cr_assert_gt(b->S, 1);
    int eot = tok_eot(g->tok), counted = 0;
    double ce = 0;
    float loss = g->arch->forward(g->model, b, 0, NULL);
    const float *logits = g->arch->logits(g->model);
    int V = engine_model_info(g).vocab_size;
    for (int i = 0; i < b->B; i++) {
        cr_assert_eq(b->inputs[i * b->T], eot, "the decoder input starts with the begin marker");
        cr_assert_lt(b->src_lengths[i], b->S + 1);
        cr_assert_eq(b->src[i * b->S + b->src_lengths[i] - 1], eot, "the source ends with its end marker");
        int last = -1;
        for (int t = 0; t < b->T; t++) {
            int y = b->targets[i * b->T + t];
            if (y == ARCH_IGNORE_INDEX) continue;
            last = t;
            /* the target is the next decoder input: teacher forcing, never a source token */
            if (t + 1 < b->T && b->targets[i * b->T + t + 1] != ARCH_IGNORE_INDEX)
                cr_assert_eq(b->inputs[i * b->T + t + 1], y);
            const float *z = logits + ((size_t)i * b->T + t) * V;
            double mx = z[0], s = 0;
            for (int v = 1; v < V; v++) mx = fmax(mx, z[v]);
            for (int v = 0; v < V; v++) s += exp(z[v] - mx);
            ce += mx + log(s) - z[y];
            counted++;
        }
        cr_assert_geq(last, 0);
        cr_assert_eq(b->targets[i * b->T + last], eot, "each row's last labelled position predicts the end marker");
        for (int t = last + 1; t < b->T; t++) cr_assert_eq(b->targets[i * b->T + t], ARCH_IGNORE_INDEX);
    }
    cr_assert_float_eq(loss, ce / counted, 1e-4, "the loss is the mean cross-entropy over the target tokens");
    engine_close(g);
}

/* The hypotheses file's rows and its last (score) line. */
static int read_hypotheses(const char *path, char ***hyps, char ***refs, cJSON **summary) {
    char *text;
    size_t len;
    cr_assert_eq(lw_read_file(path, &text, &len, NULL), LW_OK, "%s", path);
    int n = 0, cap = 64;
    *hyps = calloc((size_t)cap, sizeof(char *));
    *refs = calloc((size_t)cap, sizeof(char *));
    *summary = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        cr_assert_not_null(o, "%s: a line is not JSON", path);
        const cJSON *h = cJSON_GetObjectItem(o, "hypothesis"), *r = cJSON_GetObjectItem(o, "target");
        if (!h) {
            cJSON_Delete(*summary);
            *summary = o;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            *hyps = realloc(*hyps, (size_t)cap * sizeof(char *));
            *refs = realloc(*refs, (size_t)cap * sizeof(char *));
        }
        (*hyps)[n] = strdup(h->valuestring);
        (*refs)[n] = strdup(r->valuestring);
        n++;
        cJSON_Delete(o);
    }
    free(text);
    return n;
}

Test(translate_task, training_beats_copying_and_evaluation_equals_bleu_c) {
    Config c;
    translate_config(&c, "train", 600);
    Engine *g = NULL;
    LwError e = {0};
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_OK, "%s", e.msg);
    while (g->state != ENGINE_DONE) {
        int rc = engine_train_step(g, &e);
        cr_assert_eq(rc, LW_OK, "%s", e.msg);
    }
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    /* the evaluation at the end: its hypotheses, rescored here with bleu.c, give the numbers it published */
    char path[600];
    snprintf(path, sizeof path, "%s/train/hypotheses-step600.jsonl", root);
    char **hyps, **refs;
    cJSON *sum;
    int n = read_hypotheses(path, &hyps, &refs, &sum);
    cr_assert_eq(n, 40, "every held-out (test) pair is translated");
    cr_assert_not_null(sum);
    double bleu = bleu_corpus((const char *const *)hyps, (const char *const *)refs, n);
    double chrf = chrf_corpus((const char *const *)hyps, (const char *const *)refs, n);
    cr_assert_float_eq(cJSON_GetObjectItem(sum, "bleu")->valuedouble, bleu, 1e-6);
    cr_assert_float_eq(cJSON_GetObjectItem(sum, "chrf")->valuedouble, chrf, 1e-6);
    /* copy-the-source baseline on the same pairs */
    TrData d = {0};
    cr_assert_eq(tr_load(&d, "tests/data/translate_small.tsv", &e), LW_OK, "%s", e.msg);
    const char **srcs = calloc((size_t)n, sizeof(char *));
    int k = 0;
    for (int i = 0; i < d.n && k < n; i++)
        if (d.ex[i].mark == TR_MARK_TEST) srcs[k++] = d.ex[i].source;
    cr_assert_eq(k, n);
    double copy_chrf = chrf_corpus(srcs, (const char *const *)refs, n);
    double copy_bleu = bleu_corpus(srcs, (const char *const *)refs, n);
    cr_assert_gt(chrf, copy_chrf + 3, "after 600 steps the model (chrF %.1f) beats copying the source (%.1f)", chrf,
                 copy_chrf);
    cr_assert_gt(bleu, copy_bleu + 1, "BLEU %.1f against copying's %.1f", bleu, copy_bleu);
    free(srcs);
    tr_free(&d);
    /* translate.csv has one row per evaluation: before training and at the end */
    snprintf(path, sizeof path, "%s/train/translate.csv", root);
    char *csv;
    cr_assert_eq(lw_read_file(path, &csv, NULL, NULL), LW_OK);
    cr_assert(strstr(csv, "step,pairs,bleu,chrf,exact\n0,40,"), "%s", csv);
    cr_assert(strstr(csv, "\n600,40,"), "%s", csv);
    free(csv);
    /* the probe: three kinds of map, the cross-attention rows distributions over the source */
    ProbeSnapshot *p = engine_get_probe(g, -1);
    cr_assert_not_null(p);
    cr_assert_eq(p->kind, SNAP_MAP_BIDIRECTIONAL);
    cr_assert_eq(p->Ld, 2);
    cr_assert_gt(p->Tt, 0);
    cr_assert_not_null(p->cross_att);
    for (int t = 0; t < p->Tt; t++) {
        float s = 0;
        for (int j = 0; j < p->T; j++) s += p->cross_att[(size_t)t * p->T + j];
        cr_assert_float_eq(s, 1.0f, 1e-4, "cross row %d", t);
        for (int j = t + 1; j < p->Tt; j++) cr_assert_eq(p->dec_att[(size_t)t * p->Tt + j], 0.0f, "causal");
    }
    engine_probe_free(p);
    for (int i = 0; i < n; i++) free(hyps[i]), free(refs[i]);
    free(hyps);
    free(refs);
    cJSON_Delete(sum);
    engine_close(g);

    /* the checkpoint answers as a translator, through the engine and through the CLI */
    snprintf(path, sizeof path, "%s/train/latest", root);
    Config ic;
    cfg_defaults(&ic);
    EngineOpenOpts o = {.ckpt_dir = path};
    cr_assert_eq(engine_open(&g, &ic, &o, &e), LW_OK, "%s", e.msg);
    cr_assert(engine_is_translator(g));
    char *out[3] = {0};
    float scores[3];
    int nb = engine_translate(g, "the dog eats", 3, out, scores, 3, &e);
    cr_assert_eq(nb, 3, "%s", e.msg);
    cr_assert_geq(scores[0], scores[1]);
    char *greedy[1] = {0};
    cr_assert_eq(engine_translate(g, "the dog eats", 1, greedy, NULL, 1, &e), 1);
    SampleParams sp;
    engine_sample_defaults(&sp);
    sp.temperature = 0;
    cr_assert_eq(engine_gen_begin(g, "the dog eats", &sp, &e), LW_OK, "%s", e.msg);
    StrBuf streamed = {0};
    GenToken t;
    float row[64];
    while (engine_gen_next(g, &t) > 0) {
        sb_adds(&streamed, t.text);
        int S = engine_gen_cross(g, row, 64);
        cr_assert_gt(S, 0);
    }
    char *st = sb_take(&streamed);
    cr_assert_str_eq(st, greedy[0], "the chat stream is the greedy translation");
    engine_close(g);

    char cmd[1400];
    const char *bin = getenv("LLMWB_BIN") ? getenv("LLMWB_BIN") : "./build/llmwb";
    snprintf(cmd, sizeof cmd, "%s translate --ckpt %s 'the dog eats' 2>&1", bin, path);
    FILE *pp = popen(cmd, "r");
    char line[512] = "";
    cr_assert_not_null(fgets(line, sizeof line, pp));
    cr_assert_eq(pclose(pp), 0);
    line[strcspn(line, "\n")] = 0;
    cr_assert_str_eq(line, greedy[0], "llmwb translate prints the greedy translation");
    snprintf(cmd, sizeof cmd, "%s translate --ckpt %s --beam 3 'the dog eats' 2>&1", bin, path);
    pp = popen(cmd, "r");
    StrBuf all = {0};
    while (fgets(line, sizeof line, pp)) sb_adds(&all, line);
    cr_assert_eq(pclose(pp), 0);
    char *txt = sb_take(&all);
    cr_assert(strstr(txt, "beam candidates") && strstr(txt, "  3. "), "%s", txt);
    free(txt);
    snprintf(cmd, sizeof cmd, "%s translate --ckpt tests/data/nope 'x' >/dev/null 2>&1", bin);
    cr_assert_eq(WEXITSTATUS(system(cmd)), 2, "a missing checkpoint is bad input");
    free(st);
    free(greedy[0]);
    for (int i = 0; i < 3; i++) free(out[i]);
}
