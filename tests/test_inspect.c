/* test_inspect.c — looking inside the model (issue 15): the logit lens and head ablation against PyTorch
 * (tests/ref/inspect_*.bin from tests/make_inspect_ref.py), knocking a head out through a LoRA adapter, the engine's
 * lens and ablation agreeing with each other on a trained tiny model, and `llmwb lens` / `llmwb ablate`. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "bpe.h"
#include "data.h"
#include "engine.h"
#include "lwref.h"
#include "matmul.h"
#include "model.h"
#include "testbin.h"

/* The reference model through the GPT architecture table: weights from param/, reserved for (B, T). */
typedef struct InspectRef {
    LwRef rf;
    void *h;            /* arch_gpt handle (its first member is the Gpt) */
    Gpt *m;
    int B, T, L, NH, V;
    int *inputs, *targets;
} InspectRef;

static void inspect_open(InspectRef *r, const char *path) {
    lwref_load(&r->rf, path);
    const LwRefArray *c = lwref_get(&r->rf, "config");
    cr_assert_eq(c->n, 9);
    ModelCfg mc = {.n_layer = (int)c->data[0], .n_head = (int)c->data[1], .d_model = (int)c->data[2],
                   .context_length = (int)c->data[3], .qkv_bias = (int)c->data[5],
                   .tie_embeddings = (int)c->data[6]};
    snprintf(mc.arch, sizeof mc.arch, "gpt");
    r->L = mc.n_layer, r->NH = mc.n_head, r->V = (int)c->data[4], r->B = (int)c->data[7], r->T = (int)c->data[8];
    LwError e = {0};
    cr_assert_eq(arch_gpt.create(&r->h, &mc, r->V, &e), LW_OK, "%s", e.msg);
    r->m = r->h;
    cr_assert_eq(lwref_count_prefix(&r->rf, "param/"), r->m->n_tensors);
    for (int i = 0; i < r->m->n_tensors; i++) {
        char name[96];
        snprintf(name, sizeof name, "param/%s", r->m->tensors[i].name);
        const LwRefArray *a = lwref_get(&r->rf, name);
        cr_assert_eq(a->n, r->m->tensors[i].numel, "%s", name);
        memcpy(r->m->params + r->m->tensors[i].offset, a->data, a->n * sizeof(float));
    }
    cr_assert_eq(arch_gpt.reserve(r->h, r->B, r->T, 0, &e), LW_OK, "%s", e.msg);
    size_t BT = (size_t)r->B * r->T;
    r->inputs = lwref_ints(&r->rf, "inputs", BT);
    r->targets = lwref_ints(&r->rf, "targets", BT);
}

static void inspect_close(InspectRef *r) {
    arch_gpt.destroy(r->h);
    lwref_free(&r->rf);
    free(r->inputs);
    free(r->targets);
}

static const char *const REFS[] = {"tests/ref/inspect_untied.bin", "tests/ref/inspect_tied_nh4.bin"};

Test(inspect, logit_lens_matches_pytorch_and_its_last_row_is_the_model) {
    for (size_t f = 0; f < LW_ARRAY_LEN(REFS); f++) {
        InspectRef r;
        inspect_open(&r, REFS[f]);
        int T = r.T, V = r.V;
        ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = r.inputs};
        arch_gpt.forward(r.h, &b, 0, NULL);
        float *own = malloc((size_t)T * V * sizeof(float));
        memcpy(own, arch_gpt.logits(r.h), (size_t)T * V * sizeof(float));
        const LwRefArray *lens = lwref_get(&r.rf, "lens");
        cr_assert_eq(lens->n, (size_t)(r.L + 1) * T * V);
        float *z = malloc((size_t)T * V * sizeof(float));
        for (int l = 0; l <= r.L; l++) {
            arch_gpt.lens_logits(r.h, l, T, z);
            char what[64];
            snprintf(what, sizeof what, "%s lens row %d", REFS[f], l);
            lwref_check_close(what, z, lens->data + (size_t)l * T * V, (size_t)T * V, 1e-5, 1e-4);
        }
        /* the last row is the model's own output, by the same kernels */
        arch_gpt.lens_logits(r.h, r.L, T, z);
        lwref_check_close("last lens row vs logits", z, own, (size_t)T * V, 1e-6, 1e-6);
        free(z);
        free(own);
        inspect_close(&r);
    }
}

Test(inspect, head_ablation_matches_pytorch_and_leaves_the_weights_alone) {
    for (size_t f = 0; f < LW_ARRAY_LEN(REFS); f++) {
        InspectRef r;
        inspect_open(&r, REFS[f]);
        ArchBatch b = {.head = ARCH_HEAD_LM, .B = r.B, .T = r.T, .inputs = r.inputs, .targets = r.targets};
        size_t P = r.m->n_params;
        float *before = malloc(P * sizeof(float));
        memcpy(before, r.m->params, P * sizeof(float));
        unsigned char *knock = calloc((size_t)r.L * r.NH, 1);
        float base = arch_gpt.forward_ablated(r.h, &b, knock), rbase = lwref_get(&r.rf, "loss")->data[0];
        cr_assert(fabsf(base - rbase) <= 1e-5f * fabsf(rbase), "%s: loss %.7f vs torch %.7f", REFS[f], base, rbase);
        const LwRefArray *ab = lwref_get(&r.rf, "ablate");
        cr_assert_eq(ab->n, (size_t)r.L * r.NH);
        double spread = 0;
        for (int i = 0; i < r.L * r.NH; i++) {
            knock[i] = 1;
            float loss = arch_gpt.forward_ablated(r.h, &b, knock);
            knock[i] = 0;
            cr_assert(fabsf(loss - ab->data[i]) <= 1e-5f * fabsf(ab->data[i]), "%s head %d: %.7f vs torch %.7f",
                      REFS[f], i, loss, ab->data[i]);
            spread = fmax(spread, fabs(ab->data[i] - rbase));
        }
        cr_assert(spread > 1e-3, "%s: knocking a head out changes nothing (the test would be vacuous)", REFS[f]);
        /* mean ablation: the head's slice replaced by its mean over the batch's positions */
        const LwRefArray *am = lwref_get(&r.rf, "ablate_mean");
        cr_assert_eq(am->n, (size_t)r.L * r.NH);
        double apart = 0;
        for (int i = 0; i < r.L * r.NH; i++) {
            knock[i] = ARCH_KNOCK_MEAN;
            float loss = arch_gpt.forward_ablated(r.h, &b, knock);
            knock[i] = 0;
            cr_assert(fabsf(loss - am->data[i]) <= 1e-5f * fabsf(am->data[i]), "%s head %d mean: %.7f vs torch %.7f",
                      REFS[f], i, loss, am->data[i]);
            apart = fmax(apart, fabs(am->data[i] - ab->data[i]));
        }
        cr_assert(apart > 1e-4, "%s: the mean is the zero ablation (the test would be vacuous)", REFS[f]);
        /* every head at once (half of them by their means), then none: back to the model, bit for bit */
        for (int i = 0; i < r.L * r.NH; i++) knock[i] = i % 2 ? ARCH_KNOCK_MEAN : ARCH_KNOCK_ZERO;
        arch_gpt.forward_ablated(r.h, &b, knock);
        cr_assert_eq(memcmp(before, r.m->params, P * sizeof(float)), 0, "the weights changed");
        memset(knock, 1, (size_t)r.L * r.NH);
        arch_gpt.forward_ablated(r.h, &b, knock);
        cr_assert_eq(memcmp(before, r.m->params, P * sizeof(float)), 0, "the weights changed");
        memset(knock, 0, (size_t)r.L * r.NH);
        cr_assert_eq(arch_gpt.forward_ablated(r.h, &b, knock), base);
        free(knock);
        free(before);
        inspect_close(&r);
    }
}

/* With a LoRA adapter on c_proj the adapter's share of a head's output must go too: knocking a head out of the
 * adapted model gives the loss of knocking it out of the same model with the adapter merged in. */
Test(inspect, head_ablation_knocks_out_the_lora_path_too) {
    InspectRef r;
    inspect_open(&r, REFS[1]);
    LwError e = {0};
    Rng rng;
    rng_seed(&rng, 7);
    cr_assert_eq(gpt_enable_lora(r.m, 4, 8.0f, "proj", &rng, &e), LW_OK, "%s", e.msg);
    for (int i = 0; i < r.m->n_tensors; i++) /* B = 0 would make the adapter invisible */
        if (r.m->tensors[i].role == GPT_ROLE_LORA)
            for (size_t j = 0; j < r.m->tensors[i].numel; j++)
                r.m->params[r.m->tensors[i].offset + j] = 0.3f * (rng_uniform(&rng) - 0.5f);
    cr_assert_eq(arch_gpt.reserve(r.h, r.B, r.T, 0, &e), LW_OK, "%s", e.msg);
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = r.B, .T = r.T, .inputs = r.inputs, .targets = r.targets};
    int n = r.L * r.NH;
    unsigned char *knock = calloc((size_t)n, 1);
    float *adapted = malloc((size_t)n * sizeof(float));
    float base_adapted = arch_gpt.forward_ablated(r.h, &b, knock);
    float *adapted_mean = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        knock[i] = 1;
        adapted[i] = arch_gpt.forward_ablated(r.h, &b, knock);
        knock[i] = ARCH_KNOCK_MEAN;
        adapted_mean[i] = arch_gpt.forward_ablated(r.h, &b, knock);
        knock[i] = 0;
    }
    gpt_merge_lora(r.m);
    cr_assert_eq(arch_gpt.reserve(r.h, r.B, r.T, 0, &e), LW_OK, "%s", e.msg);
    float base_merged = arch_gpt.forward_ablated(r.h, &b, knock);
    cr_assert(fabsf(base_adapted - base_merged) < 1e-4f, "%f vs %f", base_adapted, base_merged);
    cr_assert(fabsf(base_merged - lwref_get(&r.rf, "loss")->data[0]) > 1e-3f, "the adapter changes nothing");
    for (int i = 0; i < n; i++) {
        knock[i] = 1;
        float merged = arch_gpt.forward_ablated(r.h, &b, knock);
        knock[i] = 0;
        cr_assert(fabsf(adapted[i] - merged) < 1e-4f, "head %d: adapted %f vs merged %f", i, adapted[i], merged);
        knock[i] = ARCH_KNOCK_MEAN;
        merged = arch_gpt.forward_ablated(r.h, &b, knock);
        knock[i] = 0;
        cr_assert(fabsf(adapted_mean[i] - merged) < 1e-4f, "head %d by its mean: adapted %f vs merged %f", i,
                  adapted_mean[i], merged);
    }
    free(adapted_mean);
    free(adapted);
    free(knock);
    inspect_close(&r);
}

/* ---- the engine's lens and ablation on a trained tiny model, and the commands ---- */

static char run_root[256];

static void make_root(void) {
    snprintf(run_root, sizeof run_root, "/tmp/llmwb-test-inspect-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(run_root));
}
static void drop_root(void) { lw_rmtree(run_root); }

static void tiny_config(Config *cp, TokKind kind) {
    Config c;
    cfg_defaults(&c);
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "corpora/austen_prideprejudice.txt");
    c.data.n_paths = 1;
    c.data.max_chars = 40000;
    c.tokenizer.kind = kind;
    c.tokenizer.vocab_size = kind == TOK_BYTES ? 257 : 300;
    c.model.vocab_size = c.tokenizer.vocab_size;
    c.model.n_layer = 2;
    c.model.n_head = 2;
    c.model.d_model = 32;
    c.model.context_length = 32;
    c.model.dropout = 0;
    c.train.batch_size = 4;
    c.train.steps = 60;
    c.train.lr = 3e-3f;
    c.train.eval_every = 0;
    c.train.sample_every = 0;
    c.train.checkpoint_every = 0;
    c.train.threads = 1;
    c.probe.snapshot_every = 5;
    snprintf(c.name, sizeof c.name, "inspect");
    snprintf(c.train.run_dir, sizeof c.train.run_dir, "%s/inspect-%d", run_root, (int)kind);
    *cp = c;
}

static Engine *tiny_engine(TokKind kind, int steps) {
    Config c;
    tiny_config(&c, kind);
    LwError e = {0};
    Engine *g = NULL;
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_OK, "engine_open: %s", e.msg);
    for (int i = 0; i < steps; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    return g;
}

static Engine *trained_tiny(void) { return tiny_engine(TOK_BPE, 60); }

TestSuite(inspect_engine, .init = make_root, .fini = drop_root, .timeout = 120);

/* The lens's last row is the model's prediction: its probabilities of the true next tokens give the same mean loss
 * as the ablation's no-head-knocked-out pass on the same text (one window), and its top token is what greedy
 * generation writes next. */
Test(inspect_engine, the_lens_and_the_ablation_agree_with_each_other_and_with_generation) {
    Engine *g = trained_tiny();
    const char *text = "It is a truth universally acknowledged"; /* fewer tokens than the context: one window */
    LensResult r;
    AblateResult a;
    LwError e = {0};
    cr_assert_eq(engine_lens(g, text, &r, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(r.n_rows, 3);
    cr_assert(r.T > 8 && r.T < 32, "T %d", r.T);
    double nll = 0;
    const LensCell *last = r.cells + (size_t)(r.n_rows - 1) * r.T;
    for (int t = 0; t + 1 < r.T; t++) {
        cr_assert(last[t].p_next > 0 && last[t].rank_next >= 1);
        cr_assert_eq(last[t].rank_next == 1, last[t].ids[0] == r.ids[t + 1], "rank 1 iff the top token");
        cr_assert(last[t].probs[0] >= last[t].p_next);
        for (int k = 1; k < last[t].n; k++) cr_assert(last[t].probs[k] <= last[t].probs[k - 1]);
        nll -= log(last[t].p_next);
    }
    cr_assert_eq(last[r.T - 1].rank_next, 0);
    cr_assert_eq(engine_ablate(g, text, ABLATE_ZERO, &a, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(a.n_windows, 1);
    cr_assert_eq(a.n_tokens, r.T - 1);
    cr_assert(fabs(a.base_loss - nll / (r.T - 1)) < 1e-4, "ablation base %f vs lens %f", a.base_loss, nll / (r.T - 1));
    double moved = 0;
    for (int i = 0; i < a.L * a.NH; i++) moved = fmax(moved, fabs(a.loss[i] - a.base_loss));
    cr_assert(moved > 1e-4, "no head matters after training?");
    SampleParams sp;
    engine_sample_defaults(&sp);
    sp.temperature = 0;
    sp.max_tokens = 1;
    cr_assert_eq(engine_gen_begin(g, text, &sp, &e), LW_OK, "%s", e.msg);
    GenToken tok;
    cr_assert(engine_gen_next(g, &tok));
    cr_assert_eq(tok.id, last[r.T - 1].ids[0], "greedy %d vs lens top %d", tok.id, last[r.T - 1].ids[0]);
    engine_ablate_free(&a);
    engine_lens_free(&r);
    cr_assert_eq(engine_lens(g, "", &r, &e), LW_ERR_INVALID);
    int nh = engine_n_health(g);
    cr_assert_eq(nh, 60 / 5 + 1, "a point at step 1 and every 5 steps: %d", nh);
    HealthPoint hp[16];
    cr_assert_eq(engine_get_health(g, 0, hp, 16), nh);
    cr_assert_eq(hp[0].step, 1);
    cr_assert_eq(hp[1].step, 5);
    cr_assert_eq(hp[0].n_groups, 4);
    for (int k = 0; k < 4; k++)
        cr_assert(hp[nh - 1].update_ratio[k] > -6 && hp[nh - 1].update_ratio[k] < 0 && hp[nh - 1].grad_norm[k] > 0,
                  "group %d: 10^%f", k, hp[nh - 1].update_ratio[k]);
    char gname[32];
    engine_health_group_name(3, 4, gname, sizeof gname);
    cr_assert_str_eq(gname, "head");
    engine_health_group_name(1, 4, gname, sizeof gname);
    cr_assert_str_eq(gname, "block 1");
    /* the KV cache changes the speed, never the tokens: greedy and seeded sampling, with and without it */
    for (int sampled = 0; sampled < 2; sampled++) {
        int ids[2][24], n[2] = {0, 0};
        for (int nc = 0; nc < 2; nc++) {
            SampleParams q;
            engine_sample_defaults(&q);
            q.temperature = sampled ? 1.0f : 0.0f;
            q.max_tokens = 24;
            q.stop_at_eot = 0;
            q.no_cache = nc;
            cr_assert_eq(engine_gen_begin(g, "It is a", &q, &e), LW_OK, "%s", e.msg);
            GenToken gt;
            while (n[nc] < 24 && engine_gen_next(g, &gt) > 0) ids[nc][n[nc]++] = gt.id;
        }
        cr_assert_eq(n[0], 24);
        cr_assert_eq(n[1], 24);
        cr_assert_arr_eq(ids[0], ids[1], sizeof ids[0], "sampled %d: the tokens differ without the cache", sampled);
    }
    EmbedMap em;
    cr_assert_eq(engine_embed_map(g, &em, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(em.n, 300);
    cr_assert(em.var[0] >= em.var[1] && em.var[1] > 0 && em.var[0] + em.var[1] <= em.total_var * 1.0001f,
              "variances %f %f of %f", em.var[0], em.var[1], em.total_var);
    engine_embed_map_free(&em);
    cr_assert_eq(engine_ablate(g, "a", ABLATE_ZERO, &a, &e), LW_ERR_INVALID, "one token predicts nothing");
    cr_assert_eq(engine_ablate(g, "It is a truth", 0, &a, &e), LW_ERR_INVALID, "neither zero nor mean");
    engine_close(g);
}

Test(inspect_engine, lens_and_ablate_commands_print_their_tables) {
    Engine *g = trained_tiny();
    char dir[512], args[1024];
    LwError e = {0};
    snprintf(dir, sizeof dir, "%s/ckpt", run_root);
    cr_assert_eq(engine_save(g, dir, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    static char out[1 << 16];
    snprintf(args, sizeof args, "lens --ckpt %s 'It is a truth universally acknowledged'", dir);
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "logit lens of ") && strstr(out, "embed ") && strstr(out, "block 2 "), "%s", out);
    cr_assert(strstr(out, "rank of the true next token"), "%s", out);
    snprintf(args, sizeof args, "ablate --ckpt %s", dir); /* default: the validation part of its corpus */
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "head ablation (a head's output set to zero) on the validation part of its corpus: "), "%s",
              out);
    cr_assert(strstr(out, "layer 0 ") && strstr(out, "layer 1 ") && strstr(out, "most needed: layer "), "%s", out);
    static char zero_out[1 << 16];
    memcpy(zero_out, out, sizeof out);
    snprintf(args, sizeof args, "ablate --ckpt %s --mean", dir); /* mean ablation: the same base, other changes */
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "head ablation (a head's output replaced by its mean) on the validation part"), "%s", out);
    const char *zb = strstr(zero_out, "; loss "), *mb = strstr(out, "; loss ");
    cr_assert(zb && mb && !strncmp(zb, mb, 14), "the whole model's loss is the same:\n%s\n%s", zero_out, out);
    cr_assert_str_neq(strstr(zero_out, "layer 0 "), strstr(out, "layer 0 "), "zero and mean differ:\n%s", out);
    snprintf(args, sizeof args, "ablate --ckpt %s --file /nonexistent/x.txt", dir);
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "/nonexistent/x.txt") && !strchr(strchr(out, '\n') + 1, '\n'), "one line: %s", out);
    snprintf(args, sizeof args, "lens --ckpt %s", dir);
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 2, "%s", out);
    snprintf(args, sizeof args, "heads --ckpt %s --seed 3", dir);
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "head roles on 8 random sequences of 12 tokens") && strstr(out, "induction"), "%s", out);
    snprintf(args, sizeof args, "heads --ckpt %s --length 40", dir); /* cut to half the context (32) */
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "random sequences of 16 tokens"), "%s", out);
    int rows = 0;
    for (const char *p = strchr(out, '\n'); p && (p = strchr(p + 1, '\n'));) rows++;
    cr_assert_eq(rows, 1 + 2 * 2, "the header and one row per head: %s", out);
}

/* ---- head roles on hand-built attention patterns ---- */

/* One layer, four heads over T = 2 rep tokens (the second half repeating the first): head 0 looks at the previous
 * token, head 1 at the first token, head 2 is an induction head on the second half (previous token on the first),
 * head 3 is uniform over what it may see. */
Test(inspect, head_role_scores_name_hand_built_heads) {
    enum { REP = 5, T = 2 * REP, NH = 4 };
    static float att[NH][T][T];
    memset(att, 0, sizeof att);
    att[0][0][0] = att[1][0][0] = att[2][0][0] = att[3][0][0] = 1; /* position 0 can only see itself */
    for (int t = 1; t < T; t++) {
        att[0][t][t - 1] = 1;
        att[1][t][0] = 1;
        if (t >= REP && t - REP + 1 < REP) att[2][t][t - REP + 1] = 1;
        else att[2][t][t - 1] = 1;
        for (int u = 0; u <= t; u++) att[3][t][u] = 1.0f / (t + 1);
    }
    float prev[NH] = {0}, first[NH] = {0}, ind[NH] = {0};
    head_role_scores(&att[0][0][0], 1, NH, T, REP, prev, first, ind);
    cr_assert_float_eq(prev[0], 1.0f, 1e-6);
    cr_assert_float_eq(first[0], 1.0f / (T - 1), 1e-6); /* t = 1 attends to 0, which is also the first token */
    cr_assert_float_eq(ind[0], 0.0f, 1e-6);
    cr_assert_float_eq(first[1], 1.0f, 1e-6);
    cr_assert_float_eq(prev[1], 1.0f / (T - 1), 1e-6);
    cr_assert_float_eq(ind[1], 0.0f, 1e-6); /* the induction keys are 1..REP-1, never the first token */
    /* head 2: induction on the REP - 1 queries REP..2 REP - 2 that have a "next" in the first copy */
    cr_assert_float_eq(ind[2], 1.0f, 1e-6);
    cr_assert_float_eq(prev[2], (float)(T - 1 - (REP - 1)) / (T - 1), 1e-6);
    /* head 3: query t puts 1/(t+1) on each key */
    double want = 0;
    for (int t = 1; t < T; t++) want += 1.0 / (t + 1);
    cr_assert_float_eq(prev[3], (float)(want / (T - 1)), 1e-6);
    cr_assert_float_eq(first[3], (float)(want / (T - 1)), 1e-6);
    double wi = 0;
    for (int t = REP; t - REP + 1 < REP; t++) wi += 1.0 / (t + 1);
    cr_assert_float_eq(ind[3], (float)(wi / (REP - 1)), 1e-6);
    /* no repeat: no induction score, and the scores add up over calls */
    float p2[NH] = {0}, f2[NH] = {0}, i2[NH] = {0};
    head_role_scores(&att[0][0][0], 1, NH, T, 0, p2, f2, i2);
    head_role_scores(&att[0][0][0], 1, NH, T, 0, p2, f2, i2);
    cr_assert_float_eq(p2[0], 2.0f, 1e-6);
    cr_assert_float_eq(i2[2], 0.0f, 1e-6);
}

/* ---- the embedding map's PCA against a Jacobi eigendecomposition of the covariance ---- */

/* Eigenvalues (descending) and eigenvectors (rows) of the symmetric d x d matrix a (destroyed), cyclic Jacobi. */
static void jacobi_eigen(double *a, int d, double *vals, double *vecs) {
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) vecs[i * d + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
        if (off < 1e-24) break;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                if (fabs(a[p * d + q]) < 1e-300) continue;
                double th = 0.5 * atan2(2 * a[p * d + q], a[q * d + q] - a[p * d + p]);
                double c = cos(th), s = sin(th);
                for (int k = 0; k < d; k++) { /* columns p, q */
                    double kp = a[k * d + p], kq = a[k * d + q];
                    a[k * d + p] = c * kp - s * kq;
                    a[k * d + q] = s * kp + c * kq;
                }
                for (int k = 0; k < d; k++) { /* rows p, q */
                    double pk = a[p * d + k], qk = a[q * d + k];
                    a[p * d + k] = c * pk - s * qk;
                    a[q * d + k] = s * pk + c * qk;
                }
                for (int k = 0; k < d; k++) { /* eigenvectors as rows */
                    double vp = vecs[p * d + k], vq = vecs[q * d + k];
                    vecs[p * d + k] = c * vp - s * vq;
                    vecs[q * d + k] = s * vp + c * vq;
                }
            }
    }
    for (int i = 0; i < d; i++) vals[i] = a[i * d + i];
    for (int i = 0; i < d; i++) /* sort descending */
        for (int j = i + 1; j < d; j++)
            if (vals[j] > vals[i]) {
                double t = vals[i];
                vals[i] = vals[j], vals[j] = t;
                for (int k = 0; k < d; k++) t = vecs[i * d + k], vecs[i * d + k] = vecs[j * d + k], vecs[j * d + k] = t;
            }
}

Test(inspect, pca2_finds_the_top_two_axes_of_a_known_cloud) {
    enum { N = 300, D = 6 };
    static float x[N * D];
    Rng r;
    rng_seed(&r, 42);
    /* a cloud stretched 3 along one oblique direction, 1.5 along another, 0.2 elsewhere, off the origin */
    double u1[D] = {1, 1, 0, 0, 1, 0}, u2[D] = {0, 0, 1, -1, 0, 1};
    for (int j = 0; j < D; j++) u1[j] /= sqrt(3), u2[j] /= sqrt(3);
    for (int i = 0; i < N; i++) {
        double a = 3 * rng_normal(&r), b = 1.5 * rng_normal(&r);
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(5 + a * u1[j] + b * u2[j] + 0.2 * rng_normal(&r));
    }
    float axes[2 * D], xy[N * 2], var[2];
    double total = pca2(x, N, D, axes, xy, var);
    /* the naive twin: the covariance, decomposed by Jacobi rotations in double precision */
    double mean[D] = {0}, cov[D * D] = {0}, vals[D], vecs[D * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += x[i * D + j] / (double)N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            for (int k = 0; k < D; k++) cov[j * D + k] += (x[i * D + j] - mean[j]) * (x[i * D + k] - mean[k]) / N;
    double trace = 0;
    for (int j = 0; j < D; j++) trace += cov[j * D + j];
    jacobi_eigen(cov, D, vals, vecs);
    cr_assert(fabs(total - trace) < 1e-6 * trace, "total variance %f vs trace %f", total, trace);
    for (int k = 0; k < 2; k++) {
        double dot = 0, nn = 0;
        for (int j = 0; j < D; j++) dot += axes[k * D + j] * vecs[k * D + j], nn += axes[k * D + j] * axes[k * D + j];
        cr_assert(fabs(nn - 1) < 1e-5, "axis %d is a unit vector (%f)", k, nn);
        cr_assert(fabs(fabs(dot) - 1) < 1e-5, "axis %d: |cos| %f with Jacobi's eigenvector", k, fabs(dot));
        cr_assert(fabs(var[k] - vals[k]) < 1e-4 * vals[k], "variance %d: %f vs eigenvalue %f", k, var[k], vals[k]);
        int big = 0;
        for (int j = 1; j < D; j++)
            if (fabsf(axes[k * D + j]) > fabsf(axes[k * D + big])) big = j;
        cr_assert(axes[k * D + big] > 0, "the sign convention");
    }
    cr_assert(vals[0] > 8 && vals[1] > 1.8 && vals[2] < 0.1, "the planted spread: %f %f %f", vals[0], vals[1], vals[2]);
    /* coordinates: the projection of each centred row, so they have mean 0 */
    double m0 = 0;
    for (int i = 0; i < N; i++) m0 += xy[i * 2] / N;
    cr_assert(fabs(m0) < 1e-4, "mean coordinate %f", m0);
    double c0 = 0;
    for (int j = 0; j < D; j++) c0 += (x[j] - mean[j]) * axes[j];
    cr_assert(fabs(c0 - xy[0]) < 1e-4, "row 0: %f vs %f", c0, xy[0]);
}

/* ---- training health: the predicted change is the change AdamW makes ---- */

Test(inspect, layer_health_predicts_the_adamw_step_group_by_group) {
    InspectRef r;
    inspect_open(&r, REFS[1]);
    Gpt *m = r.m;
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = r.B, .T = r.T, .inputs = r.inputs, .targets = r.targets};
    size_t P = m->n_params;
    float *before = malloc(P * sizeof(float));
    int G = r.L + 2;
    for (int step = 1; step <= 3; step++) {
        arch_gpt.zero_grad(r.h);
        arch_gpt.forward(r.h, &b, 1, NULL);
        arch_gpt.backward(r.h, 1.0f);
        float norm = arch_gpt.grad_norm(r.h);
        ArchAdamW p = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .t = step,
                       .grad_scale = 0.5f};
        double g2[HEALTH_MAX_GROUPS], w2[HEALTH_MAX_GROUPS], u2[HEALTH_MAX_GROUPS];
        arch_gpt.layer_health(r.h, &p, g2, w2, u2);
        memcpy(before, m->params, P * sizeof(float));
        arch_gpt.adamw_step(r.h, &p);
        double sg = 0, dw[HEALTH_MAX_GROUPS] = {0}, ww[HEALTH_MAX_GROUPS] = {0};
        for (int k = 0; k < G; k++) sg += g2[k];
        cr_assert(fabs(sqrt(sg) - 0.5 * norm) < 1e-4 * norm, "groups' gradient %f vs the clipped norm %f", sqrt(sg),
                  0.5 * norm);
        for (int ti = 0; ti < m->n_tensors; ti++) {
            const GptTensor *t = &m->tensors[ti];
            int k = !strncmp(t->name, "h.", 2) ? 1 + atoi(t->name + 2) : t->name[0] == 'w' ? 0 : G - 1;
            for (size_t i = 0; i < t->numel; i++) {
                double d = (double)m->params[t->offset + i] - before[t->offset + i];
                dw[k] += d * d, ww[k] += (double)before[t->offset + i] * before[t->offset + i];
            }
        }
        for (int k = 0; k < G; k++) {
            cr_assert(ww[k] > 0 && fabs(w2[k] - ww[k]) < 1e-9 * ww[k] + 1e-12, "group %d weights", k);
            cr_assert(fabs(sqrt(u2[k]) - sqrt(dw[k])) < 2e-3 * sqrt(dw[k]), "step %d group %d: predicted %g vs %g", step,
                      k, sqrt(u2[k]), sqrt(dw[k]));
        }
    }
    free(before);
    inspect_close(&r);
}

/* ---- one head knocked out: the validation window and the next-token distribution ---- */

/* engine_ablate with no text scores the engine's fixed validation window: for a language model the first
 * min(B, ABLATE_MAX_WINDOWS) context windows of the validation split. On raw bytes that window is a text, so the
 * default must give the numbers of that text, taken from the split as data.c builds it; and the same again. */
Test(inspect_engine, the_validation_default_is_the_first_validation_windows_as_a_text) {
    Engine *g = tiny_engine(TOK_BYTES, 20);
    Config c;
    tiny_config(&c, TOK_BYTES);
    LwError e = {0};
    Tokenizer *tok = tok_new_bytes();
    TokenData d;
    cr_assert_eq(data_build(&d, &c, tok, NULL, &e), LW_OK, "%s", e.msg);
    int rows = LW_MIN(c.train.batch_size, ABLATE_MAX_WINDOWS), T = c.model.context_length;
    size_t n = (size_t)rows * T + 1;
    cr_assert(d.n_val > n, "a validation split of %zu tokens", d.n_val);
    char *text = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        cr_assert(d.val[i] > 0 && d.val[i] < 256, "byte %zu: id %d", i, d.val[i]);
        text[i] = (char)d.val[i];
    }
    text[n] = '\0';
    AblateResult def, again, astext;
    cr_assert_eq(engine_ablate(g, NULL, ABLATE_ZERO, &def, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_ablate(g, "", ABLATE_ZERO, &again, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_ablate(g, text, ABLATE_ZERO, &astext, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(def.n_windows, rows);
    cr_assert_eq(def.n_tokens, rows * T);
    cr_assert_eq(astext.n_windows, rows);
    cr_assert_eq(astext.n_tokens, rows * T);
    cr_assert(fabsf(def.base_loss - astext.base_loss) <= 1e-6f * astext.base_loss, "base %.7f vs text %.7f",
              def.base_loss, astext.base_loss);
    cr_assert_eq(def.base_loss, again.base_loss, "the same window every time");
    double moved = 0;
    for (int i = 0; i < def.L * def.NH; i++) {
        cr_assert(fabsf(def.loss[i] - astext.loss[i]) <= 1e-6f * astext.loss[i], "head %d: %.7f vs text %.7f", i,
                  def.loss[i], astext.loss[i]);
        cr_assert_eq(def.loss[i], again.loss[i]);
        moved = fmax(moved, fabs(def.loss[i] - def.base_loss));
    }
    cr_assert(moved > 1e-5, "knocking a head out changes nothing (the comparison would be vacuous)");
    /* scoring the window leaves training where it was: the next step runs as usual */
    cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    engine_ablate_free(&def);
    engine_ablate_free(&again);
    engine_ablate_free(&astext);
    /* a checkpoint opened for inference has no validation split: said, not guessed */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ckpt-bytes", run_root);
    cr_assert_eq(engine_save(g, dir, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    EngineOpenOpts o = {.ckpt_dir = dir};
    cr_assert_eq(engine_open(&g, &c, &o, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_ablate(g, NULL, ABLATE_ZERO, &def, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "no validation split") && strstr(e.msg, "give a text"), "%s", e.msg);
    cr_assert_eq(engine_ablate(g, text, ABLATE_ZERO, &def, &e), LW_OK, "%s", e.msg);
    engine_ablate_free(&def);
    engine_close(g);
    free(text);
    data_free(&d);
    tok_free(tok);
}

/* The softmax of the last row of logits (T, V), in double. */
static void last_row_probs(const float *logits, int T, int V, double *p) {
    const float *z = logits + (size_t)(T - 1) * V;
    double mx = z[0], s = 0;
    for (int v = 1; v < V; v++) mx = fmax(mx, z[v]);
    for (int v = 0; v < V; v++) s += p[v] = exp(z[v] - mx);
    for (int v = 0; v < V; v++) p[v] /= s;
}

/* The next-token distribution with head (l, h) knocked out is the plain forward of the same model with that head's
 * rows of c_proj zeroed by hand (the checkpoint loaded on its own); without a head it is the lens's last row. */
Test(inspect_engine, the_distribution_without_a_head_is_the_model_with_its_c_proj_rows_zeroed) {
    Engine *g = trained_tiny();
    char dir[512];
    LwError e = {0};
    snprintf(dir, sizeof dir, "%s/ckpt-next", run_root);
    cr_assert_eq(engine_save(g, dir, &e), LW_OK, "%s", e.msg);
    void *h = NULL;
    Tokenizer *tok = NULL;
    cr_assert_eq(arch_gpt.load(&h, dir, &tok, NULL, 0, &e), LW_OK, "%s", e.msg);
    Gpt *m = h;
    int L = m->cfg.n_layer, NH = m->cfg.n_head, C = m->cfg.d_model, V = m->cfg.vocab_size, HS = C / NH;
    const char *text = "It is a truth universally acknowledged"; /* fewer tokens than the context */
    int ids[64];
    int T = engine_encode(g, text, ids, 64);
    cr_assert(T > 4 && T <= 32, "T %d", T);
    cr_assert_eq(arch_gpt.reserve(h, 1, T, 0, &e), LW_OK, "%s", e.msg);
    double *p = malloc((size_t)V * sizeof(double)), *pw = malloc((size_t)V * sizeof(double));
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = ids};
    arch_gpt.forward(h, &b, 0, NULL);
    last_row_probs(arch_gpt.logits(h), T, V, pw);
    float *rows = malloc((size_t)HS * C * sizeof(float));
    double kl_max = 0; /* the largest probability change any head makes */
    for (int l = -1; l < L; l++)
        for (int hh = l < 0 ? -1 : 0; hh < (l < 0 ? 0 : NH); hh++) {
            AblateNext r;
            cr_assert_eq(engine_ablate_next(g, text, l, hh, ABLATE_ZERO, &r, &e), LW_OK, "%s", e.msg);
            cr_assert_eq(r.T, T);
            cr_assert_eq(r.last_id, ids[T - 1]);
            cr_assert_eq(r.layer, l);
            float *w = NULL;
            if (l >= 0) { /* by hand: Conv1D (in, out), rows h*HS.. take head h's context vector */
                char name[64];
                snprintf(name, sizeof name, "h.%d.attn.c_proj.weight", l);
                const GptTensor *t = gpt_find(m, name);
                cr_assert_not_null(t);
                cr_assert_eq(t->shape[0], C);
                w = m->params + t->offset + (size_t)hh * HS * C;
                memcpy(rows, w, (size_t)HS * C * sizeof(float));
                memset(w, 0, (size_t)HS * C * sizeof(float));
            }
            arch_gpt.forward(h, &b, 0, NULL);
            last_row_probs(arch_gpt.logits(h), T, V, p);
            if (w) memcpy(w, rows, (size_t)HS * C * sizeof(float));
            cr_assert_eq(r.knocked.n, LENS_TOPK);
            cr_assert_eq(r.whole.n, LENS_TOPK);
            double kl = 0;
            for (int v = 0; v < V; v++) kl += pw[v] * (log(pw[v]) - log(p[v]));
            cr_assert(fabs(r.kl - kl) < 1e-4 + 1e-3 * kl, "head %d.%d: KL %g vs %g", l, hh, r.kl, kl);
            for (int v = 0; v < V; v++) kl_max = fmax(kl_max, fabs(p[v] - pw[v])); /* the largest change */
            for (int k = 0; k < LENS_TOPK; k++) {
                /* every candidate's probability is the hand-made model's, and none outside the list beats it */
                int id = r.knocked.ids[k], wid = r.whole.ids[k];
                cr_assert(fabs(r.knocked.probs[k] - p[id]) < 2e-6, "head %d.%d cand %d: %f vs %f", l, hh, k,
                          r.knocked.probs[k], p[id]);
                cr_assert(fabs(r.whole.probs[k] - pw[wid]) < 2e-6, "whole cand %d: %f vs %f", k, r.whole.probs[k],
                          pw[wid]);
                cr_assert(fabs(r.whole_in_knocked[k] - p[wid]) < 2e-6);
                cr_assert(fabs(r.knocked_in_whole[k] - pw[id]) < 2e-6);
                int above = 0;
                for (int v = 0; v < V; v++) above += p[v] > p[id] + 1e-6;
                cr_assert(above <= k, "head %d.%d: candidate %d has %d tokens above it", l, hh, k, above);
                if (l < 0) cr_assert_eq(id, wid, "no head knocked out: the two columns agree");
            }
        }
    cr_assert(kl_max > 1e-4, "no head changes a probability by more than %g (the test would be vacuous)", kl_max);
    /* the whole model's column is the lens's own prediction at the last position */
    LensResult lr;
    AblateNext r;
    cr_assert_eq(engine_lens(g, text, &lr, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_ablate_next(g, text, 1, 0, ABLATE_ZERO, &r, &e), LW_OK, "%s", e.msg);
    const LensCell *last = lr.cells + (size_t)(lr.n_rows - 1) * lr.T + lr.T - 1;
    for (int k = 0; k < LENS_TOPK; k++) {
        cr_assert_eq(r.whole.ids[k], last->ids[k]);
        cr_assert(fabsf(r.whole.probs[k] - last->probs[k]) < 1e-6f);
    }
    engine_lens_free(&lr);
    /* "" is the probe sentence (probe.text), bad heads are refused */
    Config c;
    cfg_defaults(&c);
    AblateNext pr, pt;
    cr_assert_eq(engine_ablate_next(g, "", 0, 1, ABLATE_ZERO, &pr, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_ablate_next(g, c.probe.text, 0, 1, ABLATE_ZERO, &pt, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(pr.T, pt.T);
    cr_assert_arr_eq(pr.knocked.ids, pt.knocked.ids, sizeof pr.knocked.ids);
    cr_assert_eq(engine_ablate_next(g, text, L, 0, ABLATE_ZERO, &r, &e), LW_ERR_INVALID);
    cr_assert_eq(engine_ablate_next(g, text, 0, NH, ABLATE_ZERO, &r, &e), LW_ERR_INVALID);
    cr_assert_eq(engine_ablate_next(g, text, 0, -1, ABLATE_ZERO, &r, &e), LW_ERR_INVALID);
    free(rows);
    free(p);
    free(pw);
    arch_gpt.destroy(h);
    tok_free(tok);
    engine_close(g);
}
