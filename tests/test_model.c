/* test_model.c — the C GPT against PyTorch reference files (tests/ref/model_X.bin, written by make_model_ref.py from
 * tests/gpt_torch.py): logits, attention weights, loss, every gradient, gradient norm and 10 AdamW steps with
 * clipping; parameter counts of the book's sizes; KV-cache decoding against the full forward; dropout.
 *
 * Tolerances (fp32; the reference is fp32 PyTorch, OpenBLAS pinned to one thread):
 *   logits        |c - r| <= 1e-5 + 1e-4 |r|
 *   attention     |c - r| <= 1e-6 + 1e-4 |r|
 *   loss          relative 1e-5; gradient norm relative 1e-4
 *   gradients     per tensor: |c - r| <= 1e-3 |r| + 1e-5 max|r over the tensor|
 *   AdamW         each of the 10 losses relative 1e-4; final weights |c - r| <= 2e-5 + 1e-4 |r|, except the
 *                 k part of c_attn.bias: softmax ignores a per-row constant, so its true gradient is 0 and what
 *                 both sides hold is rounding noise that AdamW's m/sqrt(v) blows up to +-lr per step
 *   KV cache      logits |kv - full| <= 1e-5 (1 + |full|); greedy tokens identical */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lwref.h"
#include "matmul.h"
#include "model.h"

typedef struct RefModel {
    LwRef rf;
    Gpt m;
    int B, T;
    int *inputs, *targets;
} RefModel;

/* Builds the model of a reference file with its initial weights and reserves (B, T). */
static void refmodel_open(RefModel *rm, const char *path) {
    matmul_set_threads(1);
    lwref_load(&rm->rf, path);
    const LwRefArray *c = lwref_get(&rm->rf, "config");
    cr_assert_eq(c->n, 9);
    GptConfig gc = {.n_layer = (int)c->data[0], .n_head = (int)c->data[1], .d_model = (int)c->data[2],
                    .context_length = (int)c->data[3], .vocab_size = (int)c->data[4], .dropout = 0.0f,
                    .qkv_bias = (int)c->data[5], .tie_embeddings = (int)c->data[6]};
    rm->B = (int)c->data[7];
    rm->T = (int)c->data[8];
    LwError e = {0};
    cr_assert_eq(gpt_init(&rm->m, &gc, &e), 0, "%s", e.msg);
    cr_assert_eq(gpt_reserve(&rm->m, rm->B, rm->T, &e), 0, "%s", e.msg);
    /* the file's parameter list and our tensor table are the same set of names and shapes */
    cr_assert_eq(lwref_count_prefix(&rm->rf, "param/"), rm->m.n_tensors);
    for (int i = 0; i < rm->m.n_tensors; i++) {
        GptTensor *t = &rm->m.tensors[i];
        char name[96];
        snprintf(name, sizeof name, "param/%s", t->name);
        const LwRefArray *a = lwref_get(&rm->rf, name);
        cr_assert_eq(a->ndim, t->ndim, "%s", t->name);
        for (int d = 0; d < t->ndim; d++) cr_assert_eq((int)a->dims[d], t->shape[d], "%s dim %d", t->name, d);
        memcpy(rm->m.params + t->offset, a->data, t->numel * sizeof(float));
    }
    size_t BT = (size_t)rm->B * rm->T;
    const LwRefArray *in = lwref_get(&rm->rf, "inputs"), *tg = lwref_get(&rm->rf, "targets");
    cr_assert_eq(in->n, BT);
    cr_assert_eq(tg->n, BT);
    rm->inputs = malloc(BT * sizeof(int));
    rm->targets = malloc(BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) {
        rm->inputs[i] = (int)in->data[i];
        rm->targets[i] = (int)tg->data[i];
    }
}

static void refmodel_close(RefModel *rm) {
    gpt_free(&rm->m);
    lwref_free(&rm->rf);
    free(rm->inputs);
    free(rm->targets);
}

static const char *const REF_FILES[] = {"tests/ref/model_bias_untied.bin", "tests/ref/model_nobias_tied.bin",
                                        "tests/ref/model_bias_tied_nh4.bin"};

static void check_forward_backward(const char *path, int threads) {
    RefModel rm;
    refmodel_open(&rm, path);
    matmul_set_threads(threads); /* >1 also splits the row-wise kernels across threads */
    Gpt *m = &rm.m;
    int B = rm.B, T = rm.T, V = m->cfg.vocab_size;
    float loss = gpt_forward(m, rm.inputs, rm.targets, B, T, 1, NULL);
    float rloss = lwref_get(&rm.rf, "loss")->data[0];
    cr_assert(fabsf(loss - rloss) <= 1e-5f * fabsf(rloss), "%s: loss %.8f vs torch %.8f", path, loss, rloss);
    int kept = 0;
    for (int i = 0; i < B * T; i++) kept += rm.targets[i] != GPT_IGNORE_INDEX;
    cr_assert_eq(m->n_loss_tokens, kept);
    const LwRefArray *lg = lwref_get(&rm.rf, "logits");
    cr_assert_eq(lg->n, (size_t)B * T * V);
    lwref_check_close("logits", m->logits, lg->data, lg->n, 1e-5, 1e-4);
    const LwRefArray *at = lwref_get(&rm.rf, "att");
    cr_assert_eq(at->n, (size_t)m->cfg.n_layer * B * m->cfg.n_head * T * T);
    lwref_check_close("att", m->att, at->data, at->n, 1e-6, 1e-4);

    gpt_zero_grad(m);
    gpt_backward(m, 1.0f);
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "grad/%s", t->name);
        const LwRefArray *g = lwref_get(&rm.rf, name);
        cr_assert_eq(g->n, t->numel);
        double mx = 0.0;
        for (size_t j = 0; j < g->n; j++) mx = fmax(mx, fabs(g->data[j]));
        cr_assert(mx > 0.0, "%s: reference gradient is all zero (test would be vacuous)", name);
        lwref_check_close(name, m->grads + t->offset, g->data, t->numel, 1e-5 * mx, 1e-3);
    }
    float norm = gpt_grad_norm(m), rnorm = lwref_get(&rm.rf, "grad_norm")->data[0];
    cr_assert(fabsf(norm - rnorm) <= 1e-4f * rnorm, "grad norm %.7f vs torch %.7f", norm, rnorm);
    refmodel_close(&rm);
}

static void check_adamw(const char *path, int threads) {
    RefModel rm;
    refmodel_open(&rm, path);
    matmul_set_threads(threads);
    Gpt *m = &rm.m;
    const LwRefArray *ls = lwref_get(&rm.rf, "adamw_loss");
    cr_assert_eq(ls->n, 10);
    for (int step = 1; step <= 10; step++) {
        gpt_zero_grad(m);
        float loss = gpt_forward(m, rm.inputs, rm.targets, rm.B, rm.T, 1, NULL);
        float r = ls->data[step - 1];
        cr_assert(fabsf(loss - r) <= 1e-4f * fabsf(r), "%s step %d: loss %.7f vs torch %.7f", path, step, loss, r);
        gpt_backward(m, 1.0f);
        float norm = gpt_grad_norm(m);
        float clip = 1.0f / (norm + 1e-6f); /* torch.nn.utils.clip_grad_norm_(params, 1.0) */
        gpt_adamw_step(m, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step, clip < 1.0f ? clip : 1.0f);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "final/%s", t->name);
        const LwRefArray *f = lwref_get(&rm.rf, name);
        size_t len = strlen(t->name);
        if (len > 11 && strcmp(t->name + len - 11, "c_attn.bias") == 0) {
            size_t C = (size_t)m->cfg.d_model;
            lwref_check_close(name, m->params + t->offset, f->data, C, 2e-5, 1e-4);              /* q */
            lwref_check_close(name, m->params + t->offset + 2 * C, f->data + 2 * C, C, 2e-5, 1e-4); /* v */
            continue;
        }
        lwref_check_close(name, m->params + t->offset, f->data, t->numel, 2e-5, 1e-4);
    }
    refmodel_close(&rm);
}

Test(model_ref, forward_backward_bias_untied) { check_forward_backward(REF_FILES[0], 1); }
Test(model_ref, forward_backward_nobias_tied) { check_forward_backward(REF_FILES[1], 1); }
Test(model_ref, forward_backward_bias_tied_nh4) { check_forward_backward(REF_FILES[2], 1); }
Test(model_ref, forward_backward_two_threads) { check_forward_backward(REF_FILES[0], 2); }
Test(model_ref, adamw_bias_untied) { check_adamw(REF_FILES[0], 1); }
Test(model_ref, adamw_nobias_tied) { check_adamw(REF_FILES[1], 1); }
Test(model_ref, adamw_bias_tied_nh4) { check_adamw(REF_FILES[2], 1); }
Test(model_ref, adamw_two_threads) { check_adamw(REF_FILES[2], 2); }

/* ---- parameter counts (counting only: nothing of 1.5B is allocated) ---- */

static size_t count(int L, int NH, int C, int tied) {
    GptConfig c = {.n_layer = L, .n_head = NH, .d_model = C, .context_length = 1024, .vocab_size = 50257,
                   .dropout = 0.1f, .qkv_bias = 0, .tie_embeddings = tied};
    return gpt_count_params(&c);
}

Test(model_params, book_sizes) {
    cr_assert_eq(count(12, 12, 768, 0), (size_t)163009536);
    cr_assert_eq(count(12, 12, 768, 1), (size_t)124412160);
    cr_assert_eq(count(24, 16, 1024, 0), (size_t)406212608);
    cr_assert_eq(count(24, 16, 1024, 1), (size_t)354749440);
    cr_assert_eq(count(36, 20, 1280, 0), (size_t)838220800);
    cr_assert_eq(count(36, 20, 1280, 1), (size_t)773891840);
    cr_assert_eq(count(48, 25, 1600, 0), (size_t)1637792000);
    cr_assert_eq(count(48, 25, 1600, 1), (size_t)1557380800);
}

Test(model_params, table_matches_count_and_hf_names) {
    GptConfig c = {.n_layer = 2, .n_head = 4, .d_model = 16, .context_length = 8, .vocab_size = 50,
                   .dropout = 0.0f, .qkv_bias = 1, .tie_embeddings = 0};
    Gpt m;
    LwError e = {0};
    cr_assert_eq(gpt_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(m.n_params, gpt_count_params(&c));
    cr_assert_eq(m.n_tensors, 2 + 2 * 12 + 3);
    size_t sum = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        cr_assert_eq(m.tensors[i].offset, sum, "tensors are contiguous in table order");
        sum += m.tensors[i].numel;
    }
    cr_assert_eq(sum, m.n_params);
    GptTensor *t = gpt_find(&m, "h.1.attn.c_attn.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->shape[0], 16);
    cr_assert_eq(t->shape[1], 48);
    cr_assert_eq(t->decay, 1);
    cr_assert_eq(gpt_find(&m, "h.1.attn.c_attn.bias")->decay, 0);
    cr_assert_eq(gpt_find(&m, "h.0.mlp.c_proj.weight")->shape[0], 64);
    cr_assert_eq(gpt_find(&m, "wte.weight")->decay, 0);
    cr_assert_eq(gpt_find(&m, "lm_head.weight")->shape[0], 50);
    cr_assert_null(gpt_find(&m, "h.2.ln_1.weight"));
    gpt_free(&m);

    c.qkv_bias = 0;
    c.tie_embeddings = 1;
    cr_assert_eq(gpt_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_null(gpt_find(&m, "lm_head.weight"));
    cr_assert_null(gpt_find(&m, "h.0.attn.c_attn.bias"));
    cr_assert_eq(m.n_params, gpt_count_params(&c));
    gpt_free(&m);

    c.n_head = 5;
    cr_assert_eq(gpt_init(&m, &c, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "n_head") != NULL, "%s", e.msg);
    c.n_head = 4;
    Gpt m2;
    cr_assert_eq(gpt_init(&m2, &c, &e), 0);
    cr_assert_eq(gpt_reserve(&m2, 2, 9, &e), LW_ERR_INVALID, "T beyond context_length is refused");
    gpt_free(&m2);
}

Test(model_params, init_weights_statistics) {
    GptConfig c = {.n_layer = 4, .n_head = 4, .d_model = 64, .context_length = 32, .vocab_size = 300,
                   .dropout = 0.0f, .qkv_bias = 1, .tie_embeddings = 0};
    Gpt m;
    LwError e = {0};
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    Rng r;
    rng_seed(&r, 7);
    gpt_init_weights(&m, &r);
    struct { const char *name; double std; } want[] = {
        {"wte.weight", 0.02}, {"h.0.attn.c_attn.weight", 0.02}, {"h.3.mlp.c_fc.weight", 0.02},
        {"h.1.mlp.c_proj.weight", 0.02 / sqrt(8.0)}, {"h.2.attn.c_proj.weight", 0.02 / sqrt(8.0)},
        {"lm_head.weight", 0.02}};
    for (size_t k = 0; k < LW_ARRAY_LEN(want); k++) {
        GptTensor *t = gpt_find(&m, want[k].name);
        double s2 = 0.0;
        for (size_t i = 0; i < t->numel; i++) s2 += (double)m.params[t->offset + i] * m.params[t->offset + i];
        double sd = sqrt(s2 / t->numel);
        cr_assert(fabs(sd - want[k].std) < 0.1 * want[k].std, "%s std %g want %g", want[k].name, sd, want[k].std);
    }
    GptTensor *ln = gpt_find(&m, "h.2.ln_2.weight"), *lb = gpt_find(&m, "ln_f.bias"), *qb = gpt_find(&m, "h.0.attn.c_attn.bias");
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(m.params[ln->offset + i], 1.0f);
        cr_assert_eq(m.params[lb->offset + i], 0.0f);
        cr_assert_eq(m.params[qb->offset + i], 0.0f);
    }
    gpt_free(&m);
}

/* ---- KV cache ---- */

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

Test(model_kv, logits_match_full_forward) {
    RefModel rm;
    refmodel_open(&rm, REF_FILES[0]);
    Gpt *m = &rm.m;
    int T = m->cfg.context_length, V = m->cfg.vocab_size;
    LwError e = {0};
    cr_assert_eq(gpt_reserve(m, 1, T, &e), 0);
    int toks[64];
    for (int i = 0; i < T; i++) toks[i] = (i * 37 + 11) % V;
    gpt_forward(m, toks, NULL, 1, T, 0, NULL);
    float *full = malloc((size_t)T * V * sizeof(float));
    memcpy(full, m->logits, (size_t)T * V * sizeof(float));
    GptKvCache *kv = gpt_kv_open(m, T);
    float *out = malloc((size_t)V * sizeof(float));
    /* a 5-token prompt in one call, then one token at a time */
    cr_assert_eq(gpt_kv_forward(m, kv, toks, 5, out), 0);
    cr_assert_eq(gpt_kv_len(kv), 5);
    lwref_check_close("kv logits pos 4", out, full + (size_t)4 * V, (size_t)V, 1e-5, 1e-5);
    for (int t = 5; t < T; t++) {
        cr_assert_eq(gpt_kv_forward(m, kv, toks + t, 1, out), 0);
        char what[32];
        snprintf(what, sizeof what, "kv logits pos %d", t);
        lwref_check_close(what, out, full + (size_t)t * V, (size_t)V, 1e-5, 1e-5);
    }
    cr_assert_neq(gpt_kv_forward(m, kv, toks, 1, out), 0, "overflowing the context is refused");
    gpt_kv_reset(kv);
    cr_assert_eq(gpt_kv_len(kv), 0);
    cr_assert_eq(gpt_kv_forward(m, kv, toks, 1, out), 0);
    lwref_check_close("kv after reset", out, full, (size_t)V, 1e-5, 1e-5);
    gpt_kv_close(kv);
    free(out);
    free(full);
    refmodel_close(&rm);
}

Test(model_kv, greedy_generation_identical) {
    for (int f = 0; f < 2; f++) {
        RefModel rm;
        refmodel_open(&rm, REF_FILES[f]);
        Gpt *m = &rm.m;
        int T = m->cfg.context_length, V = m->cfg.vocab_size;
        LwError e = {0};
        cr_assert_eq(gpt_reserve(m, 1, T, &e), 0);
        int seq_full[64] = {3, 1, 4}, seq_kv[64] = {3, 1, 4};
        int n = 3;
        /* without cache: a full forward over the whole prefix for each token */
        for (int len = n; len < T; len++) {
            gpt_forward(m, seq_full, NULL, 1, len, 0, NULL);
            seq_full[len] = argmax(m->logits + (size_t)(len - 1) * V, V);
        }
        GptKvCache *kv = gpt_kv_open(m, T);
        float *out = malloc((size_t)V * sizeof(float));
        cr_assert_eq(gpt_kv_forward(m, kv, seq_kv, n, out), 0);
        for (int len = n; len < T; len++) {
            seq_kv[len] = argmax(out, V);
            if (len + 1 < T) cr_assert_eq(gpt_kv_forward(m, kv, seq_kv + len, 1, out), 0);
        }
        int distinct = 0;
        for (int i = 0; i < T; i++) {
            cr_assert_eq(seq_kv[i], seq_full[i], "file %d position %d: kv %d vs full %d", f, i, seq_kv[i], seq_full[i]);
            distinct += i > 0 && seq_full[i] != seq_full[i - 1];
        }
        cr_assert(distinct > 0, "generation is not a constant sequence");
        gpt_kv_close(kv);
        free(out);
        refmodel_close(&rm);
    }
}

/* ---- dropout through the whole model ---- */

Test(model_dropout, deterministic_and_off_in_eval) {
    GptConfig c = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 8, .vocab_size = 40,
                   .dropout = 0.2f, .qkv_bias = 1, .tie_embeddings = 1};
    Gpt m;
    LwError e = {0};
    matmul_set_threads(1);
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    Rng r;
    rng_seed(&r, 3);
    gpt_init_weights(&m, &r);
    cr_assert_eq(gpt_reserve(&m, 2, 8, &e), 0);
    int in[16], tg[16];
    for (int i = 0; i < 16; i++) {
        in[i] = (i * 7) % 40;
        tg[i] = (i * 5 + 1) % 40;
    }
    float eval1 = gpt_forward(&m, in, tg, 2, 8, 0, NULL);
    float eval2 = gpt_forward(&m, in, tg, 2, 8, 0, NULL);
    cr_assert_eq(eval1, eval2);
    rng_seed(&r, 99);
    float tr1 = gpt_forward(&m, in, tg, 2, 8, 1, &r);
    rng_seed(&r, 99);
    float tr2 = gpt_forward(&m, in, tg, 2, 8, 1, &r);
    float tr3 = gpt_forward(&m, in, tg, 2, 8, 1, &r);
    cr_assert_eq(tr1, tr2, "same seed, same dropout masks, same loss");
    cr_assert_neq(tr1, eval1, "dropout changes the training loss");
    cr_assert_neq(tr2, tr3, "a new draw changes the masks");
    gpt_free(&m);
}

/* With dropout on, the backward must use the forward's masks: compare a few gradients against central
 * differences of the loss with the masks replayed from the same Rng seed (fp32 forward, so loose: 2e-2). */
Test(model_dropout, backward_uses_forward_masks) {
    GptConfig c = {.n_layer = 1, .n_head = 2, .d_model = 8, .context_length = 6, .vocab_size = 11,
                   .dropout = 0.3f, .qkv_bias = 1, .tie_embeddings = 0};
    Gpt m;
    LwError e = {0};
    matmul_set_threads(1);
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    Rng r;
    rng_seed(&r, 5);
    gpt_init_weights(&m, &r);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] += 0.3f * rng_normal(&r);
    cr_assert_eq(gpt_reserve(&m, 2, 6, &e), 0);
    int in[12], tg[12];
    for (int i = 0; i < 12; i++) {
        in[i] = (i * 7 + 2) % 11;
        tg[i] = (i * 3 + 1) % 11;
    }
    rng_seed(&r, 42);
    gpt_forward(&m, in, tg, 2, 6, 1, &r);
    gpt_zero_grad(&m);
    gpt_backward(&m, 1.0f);
    const char *names[] = {"h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight", "wpe.weight", "lm_head.weight",
                           "h.0.ln_1.weight"};
    int checked = 0;
    for (size_t k = 0; k < LW_ARRAY_LEN(names); k++) {
        GptTensor *t = gpt_find(&m, names[k]);
        for (size_t j = 0; j < t->numel; j += t->numel / 5 + 1) {
            float *p = &m.params[t->offset + j], keep = *p, h = 1e-2f;
            *p = keep + h;
            rng_seed(&r, 42);
            double lp = gpt_forward(&m, in, tg, 2, 6, 1, &r);
            *p = keep - h;
            rng_seed(&r, 42);
            double lm = gpt_forward(&m, in, tg, 2, 6, 1, &r);
            *p = keep;
            double fd = (lp - lm) / (2.0 * h), g = m.grads[t->offset + j];
            cr_assert(fabs(fd - g) <= 2e-2 * fabs(fd) + 2e-3, "%s[%zu]: backward %g vs finite difference %g",
                      names[k], j, g, fd);
            checked++;
        }
    }
    cr_assert(checked >= 20);
    gpt_free(&m);
}
