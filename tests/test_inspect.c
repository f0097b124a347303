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
        /* every head at once, then none: back to the model, bit for bit */
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
    for (int i = 0; i < n; i++) {
        knock[i] = 1;
        adapted[i] = arch_gpt.forward_ablated(r.h, &b, knock);
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
    }
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

static Engine *trained_tiny(void) {
    Config c;
    cfg_defaults(&c);
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "corpora/austen_prideprejudice.txt");
    c.data.n_paths = 1;
    c.data.max_chars = 40000;
    c.tokenizer.kind = TOK_BPE;
    c.tokenizer.vocab_size = 300;
    c.model.vocab_size = 300;
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
    snprintf(c.name, sizeof c.name, "inspect");
    snprintf(c.train.run_dir, sizeof c.train.run_dir, "%s/inspect", run_root);
    LwError e = {0};
    Engine *g = NULL;
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_OK, "engine_open: %s", e.msg);
    for (int i = 0; i < 60; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    return g;
}

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
    cr_assert_eq(engine_ablate(g, text, &a, &e), LW_OK, "%s", e.msg);
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
    cr_assert_eq(engine_ablate(g, "a", &a, &e), LW_ERR_INVALID, "one token predicts nothing");
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
    cr_assert(strstr(out, "head ablation on the validation part of its corpus: "), "%s", out);
    cr_assert(strstr(out, "layer 0 ") && strstr(out, "layer 1 ") && strstr(out, "most needed: layer "), "%s", out);
    snprintf(args, sizeof args, "ablate --ckpt %s --file /nonexistent/x.txt", dir);
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "/nonexistent/x.txt") && !strchr(strchr(out, '\n') + 1, '\n'), "one line: %s", out);
    snprintf(args, sizeof args, "lens --ckpt %s", dir);
    cr_assert_eq(tb_run_llmwb(args, out, sizeof out), 2, "%s", out);
}
