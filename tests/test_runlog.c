/* test_runlog.c — the files a training process grows in its run directory (runlog.h) and the engine that watches
 * them (engine_open_watch): probe snapshots round-trip exactly, a truncated or corrupt snapshot is one clear line
 * naming the file (never a crash), metrics.csv is read incrementally (a half-written line waits), a resumed run
 * has its loss history from step 0 (issue 9), and a watcher sees a trained run's curve, snapshots and end. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "safetensors.h"

static char root[256];

static void make_root(void) {
    snprintf(root, sizeof root, "/tmp/llmwb-test-runlog-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(root));
}
static void drop_root(void) { lw_rmtree(root); }

TestSuite(runlog, .init = make_root, .fini = drop_root, .timeout = 120);

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* A snapshot of every field filled with distinct values; with an encoder-decoder's target when Ld > 0. */
static ProbeSnapshot *fake_probe(long step, int T, int L, int NH, int C, int Ld, int Tt) {
    unsigned seed = (unsigned)step * 7u + 1u;
    ProbeSnapshot *p = calloc(1, sizeof *p);
    p->step = step, p->T = T, p->L = L, p->NH = NH, p->C = C, p->causal = Ld == 0, p->kind = Ld ? 1 : 0;
    p->nonfinite = 3, p->Ld = Ld, p->Tt = Tt;
    for (int t = 0; t < T; t++) {
        p->ids[t] = 1000 + t;
        snprintf(p->tok[t], sizeof p->tok[t], t == 1 ? " tab\tand \xc3\xa9" : t == 2 ? "" : "tok%d", t);
        for (int k = 0; k < SNAP_NN; k++) p->nn_ids[t][k] = k == SNAP_NN - 1 ? -1 : t * 10 + k, p->nn_sim[t][k] = frand(&seed);
    }
    size_t na = (size_t)L * NH * T * T, ne = (size_t)T * C;
    p->att = malloc(na * sizeof(float));
    p->tok_emb = malloc(ne * sizeof(float));
    p->pos_emb = malloc(ne * sizeof(float));
    p->act_mean = malloc((size_t)(L + 1) * sizeof(float));
    p->act_std = malloc((size_t)(L + 1) * sizeof(float));
    for (size_t i = 0; i < na; i++) p->att[i] = frand(&seed);
    for (size_t i = 0; i < ne; i++) p->tok_emb[i] = frand(&seed), p->pos_emb[i] = frand(&seed);
    for (int i = 0; i <= L; i++) p->act_mean[i] = frand(&seed), p->act_std[i] = frand(&seed);
    if (Ld) {
        size_t nd = (size_t)Ld * NH * Tt * Tt, nc = (size_t)Ld * NH * Tt * T;
        p->dec_att = malloc(nd * sizeof(float));
        p->cross_att = malloc(nc * sizeof(float));
        for (size_t i = 0; i < nd; i++) p->dec_att[i] = frand(&seed);
        for (size_t i = 0; i < nc; i++) p->cross_att[i] = frand(&seed);
        for (int t = 0; t < Tt; t++) {
            p->tgt_ids[t] = 50 + t;
            snprintf(p->tgt_tok[t], sizeof p->tgt_tok[t], "tgt%d", t);
        }
    }
    return p;
}

static void assert_same_floats(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) cr_assert_eq(a[i], b[i], "%s[%zu]: %g != %g", what, i, a[i], b[i]);
}

static void assert_same_probe(const ProbeSnapshot *a, const ProbeSnapshot *b) {
    cr_assert_eq(a->step, b->step);
    cr_assert(a->T == b->T && a->L == b->L && a->NH == b->NH && a->C == b->C && a->Ld == b->Ld && a->Tt == b->Tt);
    cr_assert(a->causal == b->causal && a->kind == b->kind && a->nonfinite == b->nonfinite);
    for (int t = 0; t < a->T; t++) {
        cr_assert_eq(a->ids[t], b->ids[t]);
        cr_assert_str_eq(a->tok[t], b->tok[t]);
        for (int k = 0; k < SNAP_NN; k++) cr_assert_eq(a->nn_ids[t][k], b->nn_ids[t][k]);
        assert_same_floats(a->nn_sim[t], b->nn_sim[t], SNAP_NN, "nn_sim");
    }
    assert_same_floats(a->att, b->att, (size_t)a->L * a->NH * a->T * a->T, "att");
    assert_same_floats(a->tok_emb, b->tok_emb, (size_t)a->T * a->C, "tok_emb");
    assert_same_floats(a->pos_emb, b->pos_emb, (size_t)a->T * a->C, "pos_emb");
    assert_same_floats(a->act_mean, b->act_mean, (size_t)a->L + 1, "act_mean");
    assert_same_floats(a->act_std, b->act_std, (size_t)a->L + 1, "act_std");
    for (int t = 0; t < a->Tt; t++) {
        cr_assert_eq(a->tgt_ids[t], b->tgt_ids[t]);
        cr_assert_str_eq(a->tgt_tok[t], b->tgt_tok[t]);
    }
    if (a->Ld) {
        assert_same_floats(a->dec_att, b->dec_att, (size_t)a->Ld * a->NH * a->Tt * a->Tt, "dec_att");
        assert_same_floats(a->cross_att, b->cross_att, (size_t)a->Ld * a->NH * a->Tt * a->T, "cross_att");
    }
}

Test(runlog, probe_snapshot_round_trips_exactly) {
    const int shapes[2][7] = {{42, 7, 3, 2, 16, 0, 0}, {9, 5, 2, 4, 8, 2, 6}}; /* GPT; encoder-decoder */
    for (int i = 0; i < 2; i++) {
        const int *s = shapes[i];
        ProbeSnapshot *p = fake_probe(s[0], s[1], s[2], s[3], s[4], s[5], s[6]), *q = NULL;
        char path[512];
        runlog_probe_path(root, p->step, path, sizeof path);
        char dir[300];
        snprintf(dir, sizeof dir, "%s/probes", root);
        LwError e = {0};
        cr_assert_eq(lw_mkdirs(dir, &e), LW_OK);
        cr_assert_eq(runlog_write_probe(path, p, &e), LW_OK, "%s", e.msg);
        cr_assert_eq(runlog_read_probe(path, &q, &e), LW_OK, "%s", e.msg);
        assert_same_probe(p, q);
        engine_probe_free(p);
        engine_probe_free(q);
    }
    long steps[8];
    cr_assert_eq(runlog_list_probes(root, steps, 8), 2);
    cr_assert(steps[0] == 9 && steps[1] == 42, "listed in step order: %ld %ld", steps[0], steps[1]);
}

/* Whether msg is one line naming path. */
static void assert_one_line_naming(const LwError *e, const char *path) {
    cr_assert(strstr(e->msg, path), "the message names the file: %s", e->msg);
    cr_assert_null(strchr(e->msg, '\n'), "one line: %s", e->msg);
}

Test(runlog, truncated_or_corrupt_snapshot_is_a_clear_error) {
    ProbeSnapshot *p = fake_probe(7, 6, 2, 2, 8, 0, 0), *q = NULL;
    char path[512], bad[600];
    snprintf(path, sizeof path, "%s/good.safetensors", root);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", root);
    LwError e = {0};
    cr_assert_eq(runlog_write_probe(path, p, &e), LW_OK, "%s", e.msg);
    char *data;
    size_t len;
    cr_assert_eq(lw_read_file(path, &data, &len, &e), LW_OK);
    /* every cut of the file, and single corrupted bytes through the header: an error, never a crash or a
     * snapshot with wrong sizes */
    for (size_t cut = 0; cut < len; cut += cut < 400 ? 1 : 97) {
        cr_assert_eq(lw_write_file_atomic(bad, data, cut, &e), LW_OK);
        memset(&e, 0, sizeof e);
        int rc = runlog_read_probe(bad, &q, &e);
        cr_assert_neq(rc, LW_OK, "a file cut at %zu of %zu bytes was accepted", cut, len);
        cr_assert_null(q);
        assert_one_line_naming(&e, bad);
    }
    for (size_t at = 8; at < 400 && at < len; at += 3) {
        char saved = data[at];
        data[at] = saved == '1' ? '7' : saved == '"' ? 'x' : saved == ' ' ? '9' : '"';
        cr_assert_eq(lw_write_file_atomic(bad, data, len, &e), LW_OK);
        memset(&e, 0, sizeof e);
        int rc = runlog_read_probe(bad, &q, &e);
        if (rc == LW_OK) { /* a changed digit of a value can still be a valid snapshot: then a consistent one */
            cr_assert(q->T >= 1 && q->T <= SNAP_MAX_PROBE);
            engine_probe_free(q);
            q = NULL;
        } else {
            assert_one_line_naming(&e, bad);
        }
        data[at] = saved;
    }
    /* a valid safetensors file that is not a snapshot, and one whose tensors disagree with its dims */
    float v[4] = {1, 2, 3, 4};
    StEntry t = {"att", 1, {4}, v};
    const char *meta[] = {"format", "something else"};
    cr_assert_eq(st_write(bad, &t, 1, meta, 1, &e), LW_OK);
    cr_assert_eq(runlog_read_probe(bad, &q, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "not a probe snapshot"), "%s", e.msg);
    p->L = 3; /* the att tensor below holds 2 layers */
    const char *meta2[] = {"format", "llmwb-probe 1", "dims", "7 6 3 2 8 1 0 0 0 0"};
    StEntry t2 = {"att", 4, {2, 2, 6, 6}, p->att};
    cr_assert_eq(st_write(bad, &t2, 1, meta2, 2, &e), LW_OK);
    cr_assert_neq(runlog_read_probe(bad, &q, &e), LW_OK);
    assert_one_line_naming(&e, bad);
    free(data);
    engine_probe_free(p);
}

Test(runlog, metrics_are_read_as_they_grow) {
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", root);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n1,128,5.5,,0.001,2.5,1000.0,0.100\n2,256,5.25,5.3,0.002,2.25,1100.0,0.200\n3,384,5.0", RUNLOG_METRICS_HEADER);
    fclose(f);
    RunLogCursor cur = {0, 0};
    MetricPoint *m = NULL;
    int n = 0, cap = 0;
    LwError e = {0};
    cr_assert_eq(runlog_read_metrics(path, &cur, &m, &n, &cap, &e), 2, "%s", e.msg);
    cr_assert(m[0].step == 1 && m[1].step == 2 && isnan(m[0].val_loss) && m[1].val_loss == 5.3f);
    cr_assert(m[1].tokens == 256 && m[1].elapsed == 0.2);
    cr_assert_eq(runlog_read_metrics(path, &cur, &m, &n, &cap, &e), 0, "the half-written row waits");
    f = fopen(path, "a");
    fprintf(f, ",,0.003,2.0,1200.0,0.300\n4,512,oops\n");
    fclose(f);
    cr_assert_eq(runlog_read_metrics(path, &cur, &m, &n, &cap, &e), LW_ERR_INVALID);
    cr_assert_eq(n, 3, "the rows before the bad one are kept");
    char where[600];
    snprintf(where, sizeof where, "%s:5:", path);
    cr_assert(strstr(e.msg, where), "names file and line: %s", e.msg);
    /* a resumed run rewrote the file shorter: it is read again from the start */
    f = fopen(path, "w");
    fprintf(f, "%s\n1,128,4.0,,0.001,2.5,1000.0,0.100\n", RUNLOG_METRICS_HEADER);
    fclose(f);
    cr_assert_eq(runlog_read_metrics(path, &cur, &m, &n, &cap, &e), 1, "%s", e.msg);
    cr_assert(n == 1 && m[0].train_loss == 4.0f);
    free(m);
    cur = (RunLogCursor){0, 0};
    snprintf(path, sizeof path, "%s/none.csv", root);
    cr_assert_eq(runlog_read_metrics(path, &cur, &m, &n, &cap, &e), 0, "a missing file is not there yet");
}

Test(runlog, event_lines_round_trip) {
    char path[512];
    snprintf(path, sizeof path, "%s/events.log", root);
    FILE *f = fopen(path, "w");
    runlog_write_event(f, 12, EV_SAMPLE, "two\nlines\tand a tab");
    runlog_write_event(f, 40, RUNLOG_END, "training complete at step 40 of 40");
    fclose(f);
    char *text;
    size_t len;
    LwError e;
    cr_assert_eq(lw_read_file(path, &text, &len, &e), LW_OK);
    cr_assert_str_eq(text, "12\tsample\ttwo lines and a tab\n40\tend\ttraining complete at step 40 of 40\n");
    long step;
    int kind;
    char t[SNAP_EVENT_TEXT];
    char *nl = strchr(text, '\n');
    cr_assert_eq(runlog_parse_event(text, (size_t)(nl - text), &step, &kind, t, sizeof t), 0);
    cr_assert(step == 12 && kind == EV_SAMPLE && !strcmp(t, "two lines and a tab"));
    cr_assert_eq(runlog_parse_event("x\tinfo\ty", 8, &step, &kind, t, sizeof t), -1);
    cr_assert_eq(runlog_parse_event("3\tbogus\ty", 9, &step, &kind, t, sizeof t), -1);
    free(text);
}

/* The tiny model of test_engine.c: 2 layers, d=32, context 32, 300-token BPE on 60 kB of the novel. */
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
    c->train.batch_size = 4;
    c->train.steps = 30;
    c->train.lr = 3e-3f;
    c->train.eval_every = 10;
    c->train.eval_batches = 2;
    c->train.sample_every = 10;
    c->train.sample_tokens = 8;
    c->train.checkpoint_every = 0;
    c->train.threads = 1;
    c->probe.snapshot_every = 5;
    snprintf(c->name, sizeof c->name, "%s", sub);
    snprintf(c->train.run_dir, sizeof c->train.run_dir, "%s/%s", root, sub);
}

static void train_steps(Engine *g, int n) {
    LwError e;
    for (int i = 0; i < n; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
}

Test(runlog, a_resumed_run_has_its_history_and_a_watcher_sees_the_run) {
    Config c;
    tiny_config(&c, "run");
    Engine *g = NULL, *w = NULL;
    LwError e = {0};
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_OK, "%s", e.msg);
    /* watched while it trains: no checkpoint yet, so no model, but the curve and the snapshots */
    train_steps(g, 12);
    cr_assert_eq(engine_open_watch(&w, c.train.run_dir, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_n_metrics(w), 12);
    cr_assert_eq(engine_n_probes(w), 3, "snapshots of steps 0, 5, 10");
    WatchStatus ws;
    engine_get_watch(w, &ws);
    cr_assert(!ws.ended && ws.ckpt_step == -1 && ws.trainer_pid == (long)getpid(), "%d %ld %ld", ws.ended, ws.ckpt_step,
              ws.trainer_pid);
    SampleParams sp;
    engine_sample_defaults(&sp);
    cr_assert_eq(engine_gen_begin(w, "It is", &sp, &e), LW_ERR_INVALID, "no model yet");
    cr_assert(strstr(e.msg, "no checkpoint"), "%s", e.msg);
    train_steps(g, 8);
    cr_assert_eq(engine_watch_poll(w), 1);
    TrainSnapshot ts;
    engine_get_train(w, &ts);
    cr_assert(ts.watching && ts.step == 20 && ts.total_steps == 30 && ts.unsaved == 0, "step %ld of %ld", ts.step,
              ts.total_steps);
    cr_assert_eq(engine_n_probes(w), 5);
    ProbeSnapshot *live = engine_get_probe(g, -1), *seen = engine_get_probe(w, -1);
    assert_same_probe(live, seen);
    engine_probe_free(live);
    engine_probe_free(seen);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g); /* stopped at step 20 */
    engine_watch_poll(w);
    engine_get_watch(w, &ws);
    cr_assert(ws.ended && strstr(ws.end_text, "stopped at step 20"), "%s", ws.end_text);
    cr_assert_eq(ws.disk_ckpt_step, 20, "the checkpoint the worker would reload");
    engine_close(w);

    /* resumed: the history is there before the first new step, and goes on from it */
    RunRequest rq = {.cfg = &c, .steps = -1};
    RunPlan *plan = malloc(sizeof *plan);
    cr_assert_eq(run_plan(&rq, plan, &e), LW_OK, "%s", e.msg);
    EngineOpenOpts o = {.resume_dir = plan->resume_dir};
    cr_assert_eq(engine_open(&g, &plan->cfg, &o, &e), LW_OK, "%s", e.msg);
    free(plan);
    cr_assert_eq(engine_n_metrics(g), 20, "the resumed run's curve starts at step 1, not empty");
    train_steps(g, 10);
    MetricPoint m[40];
    cr_assert_eq(engine_get_metrics(g, 0, m, 40), 30);
    for (int i = 0; i < 30; i++) cr_assert_eq(m[i].step, i + 1);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);

    /* a run from last week: its checkpoint for chat, its whole curve, and its end */
    cr_assert_eq(engine_open_watch(&w, c.train.run_dir, NULL, &e), LW_OK, "%s", e.msg);
    engine_get_watch(w, &ws);
    engine_get_train(w, &ts);
    cr_assert(ws.ended && ws.ckpt_step == 30 && strstr(ws.end_text, "training complete at step 30"), "%s", ws.end_text);
    cr_assert(ts.step == 30 && ts.state == ENGINE_DONE && engine_n_metrics(w) == 30);
    cr_assert_eq(engine_gen_begin(w, "It is", &sp, &e), LW_OK, "%s", e.msg);
    GenToken tok;
    cr_assert_eq(engine_gen_next(w, &tok), 1);
    EngineEvent ev[64];
    int n = engine_get_events(w, 0, ev, 64), samples = 0;
    for (int i = 0; i < n; i++) samples += ev[i].kind == EV_SAMPLE;
    cr_assert_eq(samples, 3, "the samples of steps 10, 20, 30 from events.log");
    engine_close(w);
}

Test(runlog, watching_a_directory_that_is_not_a_run_is_an_error) {
    Engine *w = NULL;
    LwError e = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/missing", root);
    cr_assert_eq(engine_open_watch(&w, path, NULL, &e), LW_ERR_IO);
    cr_assert(strstr(e.msg, path), "%s", e.msg);
    cr_assert_eq(engine_open_watch(&w, root, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "not a run directory"), "%s", e.msg);
    cr_assert_null(w);
}
