/* test_engine.c — the step-wise engine end to end on a tiny model: loss falls, resume is exact, a diverging run
 * stops and keeps its last good checkpoint, generation, the BPE stepping API, metrics.csv. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "engine.h"

static char run_root[256];

static void make_root(void) {
    snprintf(run_root, sizeof run_root, "/tmp/llmwb-test-engine-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(run_root));
}
static void drop_root(void) { lw_rmtree(run_root); }

/* A model small enough for a unit test: 2 layers, d=32, context 32, 300-token BPE on 60 kB of the novel. */
static void tiny_config(Config *c, const char *sub) {
    cfg_defaults(c);
    snprintf(c->data.paths[0], sizeof c->data.paths[0], "corpora/austen_prideprejudice.txt");
    c->data.n_paths = 1;
    c->data.max_chars = 60000;
    c->tokenizer.kind = TOK_BPE;
    c->tokenizer.vocab_size = 300;
    c->model.vocab_size = 300;
    c->model.n_layer = 2;
    c->model.n_head = 2;
    c->model.d_model = 32;
    c->model.context_length = 32;
    c->model.dropout = 0.1f;
    c->train.batch_size = 4;
    c->train.steps = 200;
    c->train.lr = 3e-3f;
    c->train.warmup = 5;
    c->train.eval_every = 10;
    c->train.eval_batches = 2;
    c->train.sample_every = 0;
    c->train.checkpoint_every = 0;
    c->train.threads = 1;
    c->probe.snapshot_every = 5;
    snprintf(c->name, sizeof c->name, "%s", sub);
    snprintf(c->train.run_dir, sizeof c->train.run_dir, "%s/%s", run_root, sub);
}

static Engine *open_or_fail(const Config *c, const EngineOpenOpts *o) {
    LwError e = {0};
    Engine *g = NULL;
    int rc = engine_open(&g, c, o, &e);
    cr_assert_eq(rc, LW_OK, "engine_open: %s", e.msg);
    return g;
}

TestSuite(engine, .init = make_root, .fini = drop_root, .timeout = 120);

Test(engine, loss_falls_and_metrics_are_written) {
    Config c;
    tiny_config(&c, "falls");
    Engine *g = open_or_fail(&c, NULL);
    TrainSnapshot ts;
    engine_get_train(g, &ts);
    cr_assert_eq(ts.vocab_size, 300);
    cr_assert_eq(ts.step, 0);
    LwError e;
    float first = 0;
    for (int i = 0; i < 80; i++) {
        cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
        engine_get_train(g, &ts);
        if (i == 0) first = ts.train_loss;
    }
    /* An untrained model starts near ln(V) = 5.70; 80 steps of the tiny model must clearly beat that. */
    cr_assert(fabsf(first - logf(300)) < 0.5f, "first loss %f is not near ln(300)", first);
    cr_assert(ts.val_loss < first - 1.0f, "val loss %f did not fall from %f", ts.val_loss, first);
    cr_assert_eq(engine_n_metrics(g), 80);
    MetricPoint mp[80];
    cr_assert_eq(engine_get_metrics(g, 0, mp, 80), 80);
    cr_assert_eq(mp[79].step, 80);
    cr_assert(isnan(mp[0].val_loss));
    cr_assert(!isnan(mp[9].val_loss));
    cr_assert(engine_n_probes(g) >= 16);
    ProbeSnapshot *p = engine_get_probe(g, -1);
    cr_assert_not_null(p);
    cr_assert_eq(p->step, 80);
    cr_assert_eq(p->L, 2);
    /* causal: every attention row sums to 1 and looks only backwards */
    for (int q = 0; q < p->T; q++) {
        double s = 0;
        for (int k = 0; k < p->T; k++) {
            float w = p->att[q * p->T + k];
            if (k > q) cr_assert_eq(w, 0.0f);
            s += w;
        }
        cr_assert(fabs(s - 1) < 1e-4, "row %d sums to %f", q, s);
    }
    engine_probe_free(p);
    engine_close(g);

    char path[512], *csv;
    size_t len;
    snprintf(path, sizeof path, "%s/falls/metrics.csv", run_root);
    cr_assert_eq(lw_read_file(path, &csv, &len, NULL), LW_OK);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += csv[i] == '\n';
    cr_assert_eq(lines, 81, "metrics.csv has %d lines", lines);
    cr_assert(!strncmp(csv, "step,tokens,train_loss,val_loss,lr,grad_norm,tokens_per_sec,elapsed\n", 68));
    free(csv);
}

Test(engine, resume_is_exact) {
    Config c;
    tiny_config(&c, "whole");
    Engine *g = open_or_fail(&c, NULL);
    LwError e;
    float whole[20];
    TrainSnapshot ts;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
        engine_get_train(g, &ts);
        whole[i] = ts.train_loss;
    }
    engine_close(g);

    tiny_config(&c, "split");
    g = open_or_fail(&c, NULL);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
        engine_get_train(g, &ts);
        cr_assert_eq(ts.train_loss, whole[i], "step %d: %.9g vs %.9g", i + 1, ts.train_loss, whole[i]);
    }
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);

    char dir[512];
    snprintf(dir, sizeof dir, "%s/split/latest", run_root);
    EngineOpenOpts o = {.resume_dir = dir};
    g = open_or_fail(&c, &o);
    engine_get_train(g, &ts);
    cr_assert_eq(ts.step, 10);
    for (int i = 10; i < 20; i++) {
        cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
        engine_get_train(g, &ts);
        cr_assert_eq(ts.train_loss, whole[i], "resumed step %d: %.9g vs %.9g", i + 1, ts.train_loss, whole[i]);
    }
    engine_close(g);
}

/* Copies file src to dst. */
static void copy_file(const char *src, const char *dst) {
    char *data;
    size_t len;
    cr_assert_eq(lw_read_file(src, &data, &len, NULL), LW_OK, "%s", src);
    cr_assert_eq(lw_write_file_atomic(dst, data, len, NULL), LW_OK, "%s", dst);
    free(data);
}

/* The divergence test expects one error in the log: kept here and checked, not printed. */
static char g_logged_error[1024];
static void capture_error(void *ud, int level, const char *msg) {
    (void)ud;
    if (level == LW_LOG_ERROR) snprintf(g_logged_error, sizeof g_logged_error, "%s", msg);
}

Test(engine, divergence_stops_and_keeps_last_good_checkpoint) {
    lw_set_log(capture_error, NULL);
    /* A good run of 3 steps, saved as the run's latest checkpoint. */
    Config c;
    tiny_config(&c, "diverge");
    Engine *g = open_or_fail(&c, NULL);
    LwError e = {0};
    for (int i = 0; i < 3; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);

    /* A copy whose last weight (the last float of wte, the tied head) is NaN: every logit row sees it. */
    char good[512], bad[512], src[600], dst[600];
    snprintf(good, sizeof good, "%s/diverge/latest", run_root);
    snprintf(bad, sizeof bad, "%s/poisoned", run_root);
    cr_assert_eq(lw_mkdirs(bad, &e), LW_OK);
    const char *files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors",
                           "trainer_state.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(src, sizeof src, "%s/%s", good, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", bad, files[i]);
        copy_file(src, dst);
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", bad);
    FILE *f = fopen(dst, "r+b");
    cr_assert_not_null(f);
    float nan = NAN;
    fseek(f, -4, SEEK_END);
    fwrite(&nan, 4, 1, f);
    fclose(f);

    /* NaN weights are refused at load, naming the tensor, unless asked for (--allow-nonfinite) */
    char side[512];
    snprintf(side, sizeof side, "%s/poisoned-run", run_root);
    EngineOpenOpts o = {.resume_dir = bad, .run_dir = side};
    cr_assert_eq(engine_open(&g, &c, &o, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "model.safetensors: wte.weight holds NaN"), "%s", e.msg);
    o.allow_nonfinite = 1;
    g = open_or_fail(&c, &o);
    int rc = engine_train_step(g, &e);
    cr_assert_eq(rc, LW_ERR_DIVERGED, "rc %d: %s", rc, e.msg);
    cr_assert(strstr(e.msg, "diverged"), "%s", e.msg);
    cr_assert(strstr(e.msg, "last good checkpoint"), "%s", e.msg);
    cr_assert(strstr(g_logged_error, "loss diverged"), "the divergence is logged as an error: '%s'", g_logged_error);
    TrainSnapshot ts;
    engine_get_train(g, &ts);
    cr_assert_eq(ts.state, ENGINE_DIVERGED);
    cr_assert_eq(ts.step, 3, "the failed step must not count");
    cr_assert_neq(engine_train_step(g, &e), LW_OK, "no training after a divergence");
    EngineEvent ev[8];
    int n = engine_get_events(g, 0, ev, 8);
    cr_assert(n > 0 && ev[n - 1].kind == EV_ERROR, "the divergence is in the event log");
    engine_close(g);

    /* The run's checkpoint is untouched and good. */
    Gpt m = {0};
    TrainState st;
    cr_assert_eq(ckpt_load(good, &m, NULL, &st, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(st.step, 3);
    for (size_t i = 0; i < m.n_params; i++) cr_assert(isfinite(m.params[i]));
    gpt_free(&m);
}

Test(engine, generation_is_reproducible) {
    Config c;
    tiny_config(&c, "gen");
    Engine *g = open_or_fail(&c, NULL);
    LwError e;
    for (int i = 0; i < 30; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    SampleParams sp;
    engine_sample_defaults(&sp);
    sp.max_tokens = 20;
    sp.stop_at_eot = 0;
    int ids[2][20], n[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        cr_assert_eq(engine_gen_begin(g, "It is a truth", &sp, &e), LW_OK, "%s", e.msg);
        GenToken t;
        while (engine_gen_next(g, &t) > 0) {
            cr_assert(t.n_top > 0);
            cr_assert(t.top_probs[0] >= t.top_probs[t.n_top - 1]);
            ids[run][n[run]++] = t.id;
        }
    }
    cr_assert_eq(n[0], 20);
    cr_assert_eq(n[1], 20);
    cr_assert_arr_eq(ids[0], ids[1], sizeof ids[0]);
    engine_close(g);
}

Test(engine, bpe_screen_steps_back_and_forth) {
    Config c;
    tiny_config(&c, "bpe");
    Engine *g = open_or_fail(&c, NULL);
    LwError e;
    cr_assert_eq(engine_bpe_begin(g, 20000, 300, &e), LW_OK, "%s", e.msg);
    for (int i = 0; i < 10; i++) cr_assert_eq(engine_bpe_step(g), 1);
    BpeSnapshot a, b;
    engine_get_bpe(g, &a);
    cr_assert_eq(a.n_merges, 10);
    cr_assert(a.compression > 1.0);
    BpeMergeRow rows[10];
    cr_assert_eq(engine_get_bpe_merges(g, 0, rows, 10), 10);
    cr_assert(rows[0].count >= rows[9].count, "merges come most frequent first");
    cr_assert_eq(engine_bpe_back(g), 1);
    cr_assert_eq(engine_bpe_back(g), 1);
    engine_get_bpe(g, &b);
    cr_assert_eq(b.n_merges, 8);
    cr_assert_eq(engine_bpe_goto(g, 10), 2);
    engine_get_bpe(g, &b);
    cr_assert_eq(b.n_tokens, a.n_tokens);
    /* segments tile the text */
    BpeSegment seg[512];
    int n = engine_get_bpe_segments(g, 0, 400, seg, 512);
    cr_assert(n > 0);
    long pos = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(seg[i].start, pos);
        pos += seg[i].len;
    }
    cr_assert(pos >= 400);
    engine_close(g);
}
