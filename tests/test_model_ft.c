/* test_model_ft.c — finetuning on the model side: the classification head on the last real token, trainable
 * subsets (freezing), LoRA adapters and their merge, residual-stream access, and checkpoints of heads and adapters.
 * References: tests/ref/model_ft_cls.bin, written by tests/make_model_ref.py (make_ft) from tests/gpt_torch.py.
 *
 * Tolerances (fp32, OpenBLAS on one thread):
 *   class logits |c - r| <= 1e-5 + 1e-4 |r|; losses relative 1e-5 (AdamW step losses 1e-4)
 *   gradients    per tensor |c - r| <= 1e-3 |r| + 1e-5 max|r|
 *   AdamW        weights |c - r| <= 2e-5 + 1e-4 |r|; frozen tensors bit-identical
 *   merge        logits merged vs unmerged within 1e-5 (1 + |x|) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "checkpoint.h"
#include "lwref.h"
#include "matmul.h"
#include "model.h"
#include "safetensors.h"

/* The array called prefix + name: ftref_find gives NULL when it is missing, ftref_get fails the test. */
static const LwRefArray *ftref_find(const LwRef *rf, const char *prefix, const char *name) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return lwref_find(rf, full);
}

static const LwRefArray *ftref_get(const LwRef *rf, const char *prefix, const char *name) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return lwref_get(rf, full);
}

static void ft_close(const char *what, const float *c, const float *r, size_t n, double abs_tol, double rel_tol) {
    lwref_check_close(what, c, r, n, abs_tol, rel_tol);
}

static void ft_grad_close(const char *what, const float *c, const float *r, size_t n) {
    double mx = lwref_maxabs(r, n);
    cr_assert(mx > 0.0, "%s: reference gradient is all zero (test would be vacuous)", what);
    ft_close(what, c, r, n, 1e-5 * mx, 1e-3);
}

/* The reference classifier: base + score from param/, reserved for (B, T). */
typedef struct FtModel {
    LwRef rf;
    Gpt m;
    int B, T, NC, last_blocks, rank;
    float alpha;
    int inputs[64], last[8], labels[8];
} FtModel;

static void ftmodel_open(FtModel *fm) {
    matmul_set_threads(1);
    lwref_load(&fm->rf, "tests/ref/model_ft_cls.bin");
    const LwRefArray *c = ftref_get(&fm->rf, "", "config"), *f = ftref_get(&fm->rf, "", "ft_config");
    GptConfig gc = {.n_layer = (int)c->data[0], .n_head = (int)c->data[1], .d_model = (int)c->data[2],
                    .context_length = (int)c->data[3], .vocab_size = (int)c->data[4], .dropout = 0.0f,
                    .qkv_bias = (int)c->data[5], .tie_embeddings = (int)c->data[6]};
    fm->B = (int)c->data[7];
    fm->T = (int)c->data[8];
    fm->NC = (int)f->data[0];
    fm->last_blocks = (int)f->data[1];
    fm->rank = (int)f->data[2];
    fm->alpha = f->data[3];
    cr_assert(fm->B * fm->T <= 64 && fm->B <= 8);
    LwError e = {0};
    cr_assert_eq(gpt_init(&fm->m, &gc, &e), 0, "%s", e.msg);
    cr_assert_eq(gpt_add_class_head(&fm->m, fm->NC, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(fm->m.n_tensors, lwref_count_prefix(&fm->rf, "param/"));
    for (int i = 0; i < fm->m.n_tensors; i++) {
        GptTensor *t = &fm->m.tensors[i];
        const LwRefArray *a = ftref_get(&fm->rf, "param/", t->name);
        cr_assert_eq(a->n, t->numel, "%s", t->name);
        memcpy(fm->m.params + t->offset, a->data, t->numel * sizeof(float));
    }
    const LwRefArray *in = ftref_get(&fm->rf, "", "inputs"), *la = ftref_get(&fm->rf, "", "last"),
                  *lb = ftref_get(&fm->rf, "", "labels");
    for (int i = 0; i < fm->B * fm->T; i++) fm->inputs[i] = (int)in->data[i];
    for (int b = 0; b < fm->B; b++) {
        fm->last[b] = (int)la->data[b];
        fm->labels[b] = (int)lb->data[b];
    }
}

static void ftmodel_reserve(FtModel *fm) {
    LwError e = {0};
    cr_assert_eq(gpt_reserve(&fm->m, fm->B, fm->T, &e), 0, "%s", e.msg);
}

/* Enables the reference's LoRA (all targets) and copies its adapters in. */
static void ftmodel_lora(FtModel *fm) {
    LwError e = {0};
    cr_assert_eq(gpt_enable_lora(&fm->m, fm->rank, fm->alpha, "attn,proj,fc,fcproj,head", NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(fm->m.n_tensors - fm->m.n_base_tensors - 2, lwref_count_prefix(&fm->rf, "lora/"));
    for (int i = 0; i < fm->m.n_tensors; i++) {
        GptTensor *t = &fm->m.tensors[i];
        if (t->role != GPT_ROLE_LORA) continue;
        const LwRefArray *a = ftref_get(&fm->rf, "lora/", t->name);
        cr_assert_eq(a->n, t->numel, "%s", t->name);
        memcpy(fm->m.params + t->offset, a->data, t->numel * sizeof(float));
    }
}

static void ftmodel_close(FtModel *fm) {
    gpt_free(&fm->m);
    lwref_free(&fm->rf);
}

static float *ft_copy(const float *x, size_t n) {
    float *c = malloc(n * sizeof(float) + 1);
    memcpy(c, x, n * sizeof(float));
    return c;
}

/* ---- classification head vs PyTorch ---- */

Test(ft_ref, classifier_logits_and_loss) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    cr_assert_eq(gpt_find(m, "score.weight")->shape[0], fm.NC);
    cr_assert_eq(gpt_find(m, "score.weight")->shape[1], m->cfg.d_model);
    cr_assert_eq(gpt_find(m, "score.bias")->role, GPT_ROLE_CLASS_HEAD);
    float loss = gpt_forward_classify(m, fm.inputs, fm.last, fm.labels, fm.B, fm.T, 1, NULL);
    float rl = ftref_get(&fm.rf, "", "cls_loss")->data[0];
    cr_assert(fabsf(loss - rl) <= 1e-5f * fabsf(rl), "loss %.8f vs torch %.8f", loss, rl);
    cr_assert_eq(m->n_loss_tokens, fm.B);
    ft_close("cls_logits", m->class_logits, ftref_get(&fm.rf, "", "cls_logits")->data, (size_t)fm.B * fm.NC, 1e-5,
             1e-4);
    /* without labels: logits only */
    cr_assert_eq(gpt_forward_classify(m, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL), -1.0f);
    ft_close("cls_logits (inference)", m->class_logits, ftref_get(&fm.rf, "", "cls_logits")->data,
             (size_t)fm.B * fm.NC, 1e-5, 1e-4);
    ftmodel_close(&fm);
}

/* The book's setting: last block + ln_f + head train; their gradients match PyTorch, the rest get none. */
Test(ft_ref, frozen_gradients_last_block) {
    FtModel fm;
    ftmodel_open(&fm);
    gpt_set_trainable(&fm.m, GPT_TRAIN_LAST_BLOCKS, fm.last_blocks);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    gpt_zero_grad(m);
    gpt_forward_classify(m, fm.inputs, fm.last, fm.labels, fm.B, fm.T, 1, NULL);
    gpt_backward_classify(m, 1.0f);
    int n_train = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        const LwRefArray *g = ftref_find(&fm.rf, "frz_grad/", t->name);
        cr_assert_eq(t->trainable, g != NULL, "%s: trainable %d but torch %s", t->name, t->trainable,
                     g ? "trains it" : "freezes it");
        if (g) {
            ft_grad_close(t->name, m->grads + t->offset, g->data, t->numel);
            n_train++;
        } else {
            for (size_t j = 0; j < t->numel; j++) cr_assert_eq(m->grads[t->offset + j], 0.0f, "%s got a gradient", t->name);
        }
    }
    cr_assert_eq(n_train, lwref_count_prefix(&fm.rf, "frz_grad/"));
    cr_assert_eq(n_train, 12 + 2 + 2, "one block (12 tensors with qkv bias) + ln_f + score");
    ftmodel_close(&fm);
}

Test(ft_ref, frozen_adamw_five_steps) {
    FtModel fm;
    ftmodel_open(&fm);
    gpt_set_trainable(&fm.m, GPT_TRAIN_LAST_BLOCKS, fm.last_blocks);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    float *before = ft_copy(m->params, m->n_params);
    const LwRefArray *ls = ftref_get(&fm.rf, "", "frz_loss");
    cr_assert_eq(ls->n, 5);
    for (int step = 1; step <= 5; step++) {
        gpt_zero_grad(m);
        float loss = gpt_forward_classify(m, fm.inputs, fm.last, fm.labels, fm.B, fm.T, 1, NULL);
        cr_assert(fabsf(loss - ls->data[step - 1]) <= 1e-4f * fabsf(ls->data[step - 1]), "step %d: %.7f vs %.7f", step,
                  loss, ls->data[step - 1]);
        gpt_backward_classify(m, 1.0f);
        gpt_adamw_step(m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 1.0f);
    }
    int moved = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        const float *now = m->params + t->offset;
        if (!t->trainable) {
            cr_assert(!memcmp(now, before + t->offset, t->numel * sizeof(float)), "frozen %s changed", t->name);
            continue;
        }
        moved += memcmp(now, before + t->offset, t->numel * sizeof(float)) != 0;
        const float *ref = ftref_get(&fm.rf, "frz_final/", t->name)->data;
        size_t len = strlen(t->name), C = (size_t)m->cfg.d_model;
        if (len > 11 && !strcmp(t->name + len - 11, "c_attn.bias")) {
            /* the k part's true gradient is 0 (softmax ignores a per-row constant): both sides hold rounding
             * noise that AdamW blows up to +-lr per step (as in test_model.c); check q and v */
            ft_close(t->name, now, ref, C, 2e-5, 1e-4);
            ft_close(t->name, now + 2 * C, ref + 2 * C, C, 2e-5, 1e-4);
            continue;
        }
        ft_close(t->name, now, ref, t->numel, 2e-5, 1e-4);
    }
    cr_assert_eq(moved, 16, "every trainable tensor moved");
    free(before);
    ftmodel_close(&fm);
}

/* ---- LoRA vs PyTorch ---- */

Test(ft_ref, lora_forward_backward) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_lora(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    gpt_zero_grad(m);
    float loss = gpt_forward_classify(m, fm.inputs, fm.last, fm.labels, fm.B, fm.T, 1, NULL);
    float rl = ftref_get(&fm.rf, "", "lora_loss")->data[0];
    cr_assert(fabsf(loss - rl) <= 1e-5f * fabsf(rl), "loss %.8f vs torch %.8f", loss, rl);
    cr_assert(fabsf(loss - ftref_get(&fm.rf, "", "cls_loss")->data[0]) > 1e-3f, "the adapters change the output");
    ft_close("lora_logits", m->class_logits, ftref_get(&fm.rf, "", "lora_logits")->data, (size_t)fm.B * fm.NC, 1e-5,
             1e-4);
    gpt_backward_classify(m, 1.0f);
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        cr_assert_eq(t->trainable, t->role == GPT_ROLE_LORA, "%s: only adapters train (the head has one)", t->name);
        if (t->role == GPT_ROLE_LORA) {
            ft_grad_close(t->name, m->grads + t->offset, ftref_get(&fm.rf, "lora_grad/", t->name)->data, t->numel);
            n++;
        } else {
            for (size_t j = 0; j < t->numel; j++) cr_assert_eq(m->grads[t->offset + j], 0.0f, "%s got a gradient", t->name);
        }
    }
    cr_assert_eq(n, 2 * (4 * m->cfg.n_layer + 1));
    ftmodel_close(&fm);
}

Test(ft_ref, lora_adamw_leaves_base_identical) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_lora(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    float *before = ft_copy(m->params, m->n_params);
    const LwRefArray *ls = ftref_get(&fm.rf, "", "lora_steps");
    for (int step = 1; step <= 3; step++) {
        gpt_zero_grad(m);
        float loss = gpt_forward_classify(m, fm.inputs, fm.last, fm.labels, fm.B, fm.T, 1, NULL);
        cr_assert(fabsf(loss - ls->data[step - 1]) <= 1e-4f * fabsf(ls->data[step - 1]), "step %d: %.7f vs %.7f", step,
                  loss, ls->data[step - 1]);
        gpt_backward_classify(m, 1.0f);
        gpt_adamw_step(m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 1.0f);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        const float *now = m->params + t->offset;
        if (t->role != GPT_ROLE_LORA) {
            cr_assert(!memcmp(now, before + t->offset, t->numel * sizeof(float)), "base tensor %s changed", t->name);
            continue;
        }
        cr_assert(memcmp(now, before + t->offset, t->numel * sizeof(float)), "adapter %s did not move", t->name);
        ft_close(t->name, now, ftref_get(&fm.rf, "lora_final/", t->name)->data, t->numel, 2e-5, 1e-4);
    }
    free(before);
    ftmodel_close(&fm);
}

/* ---- the last real token ---- */

/* Padding after last[b] cannot change the class logits (causal attention), while reading the logits at the padding
 * position (the book's pitfall) does. */
Test(ft_cls, padding_after_last_token_is_ignored) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    size_t n = (size_t)fm.B * fm.NC;
    gpt_forward_classify(m, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL);
    float *ref = ft_copy(m->class_logits, n);
    int other[64];
    memcpy(other, fm.inputs, sizeof other);
    int changed = 0;
    for (int b = 0; b < fm.B; b++)
        for (int t = fm.last[b] + 1; t < fm.T; t++, changed++) other[b * fm.T + t] = (b * 7 + t * 3) % 50;
    cr_assert(changed > 0);
    gpt_forward_classify(m, other, fm.last, NULL, fm.B, fm.T, 0, NULL);
    ft_close("logits with other padding", m->class_logits, ref, n, 1e-6, 1e-6);
    int at_end[8];
    for (int b = 0; b < fm.B; b++) at_end[b] = fm.T - 1;
    gpt_forward_classify(m, fm.inputs, at_end, NULL, fm.B, fm.T, 0, NULL);
    double diff = 0.0;
    for (size_t i = 0; i < n; i++) diff = fmax(diff, fabs(m->class_logits[i] - ref[i]));
    cr_assert(diff > 1e-3, "the padding position gives other logits (max diff %g)", diff);
    free(ref);
    ftmodel_close(&fm);
}

/* ---- trainable subsets ---- */

static int ft_count_trainable(const Gpt *m) {
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++) n += m->tensors[i].trainable;
    return n;
}

Test(ft_train, modes_with_and_without_class_head) {
    GptConfig c = {.n_layer = 3, .n_head = 2, .d_model = 16, .context_length = 8, .vocab_size = 40, .qkv_bias = 0,
                   .tie_embeddings = 1};
    Gpt m;
    LwError e = {0};
    cr_assert_eq(gpt_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(ft_count_trainable(&m), m.n_tensors, "everything trains by default");
    gpt_set_trainable(&m, GPT_TRAIN_HEAD, 0);
    cr_assert_eq(ft_count_trainable(&m), 1);
    cr_assert(gpt_find(&m, "wte.weight")->trainable, "a tied LM head is wte");
    gpt_set_trainable(&m, GPT_TRAIN_LAST_BLOCKS, 2);
    cr_assert_eq(ft_count_trainable(&m), 1 + 2 * 11 + 2);
    cr_assert(!gpt_find(&m, "h.0.ln_1.weight")->trainable);
    cr_assert(gpt_find(&m, "h.1.ln_1.weight")->trainable);
    cr_assert(gpt_find(&m, "ln_f.bias")->trainable);
    cr_assert(!gpt_find(&m, "wpe.weight")->trainable);
    Rng r;
    rng_seed(&r, 1);
    cr_assert_eq(gpt_add_class_head(&m, 2, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(gpt_add_class_head(&m, 2, &r, &e), LW_ERR_INVALID, "only one head");
    gpt_set_trainable(&m, GPT_TRAIN_HEAD, 0);
    cr_assert_eq(ft_count_trainable(&m), 2);
    cr_assert(gpt_find(&m, "score.weight")->trainable && gpt_find(&m, "score.bias")->trainable);
    cr_assert(!gpt_find(&m, "wte.weight")->trainable, "with a class head the LM head is not 'the head'");
    gpt_set_trainable(&m, GPT_TRAIN_LAST_BLOCKS, 99); /* clamped to L */
    cr_assert_eq(ft_count_trainable(&m), 3 * 11 + 2 + 2);
    gpt_set_trainable(&m, GPT_TRAIN_ALL, 0);
    cr_assert_eq(ft_count_trainable(&m), m.n_tensors);
    gpt_free(&m);
}

/* Head-only training: the backward never reaches the blocks (their gradients stay untouched even when poisoned)
 * and costs far less than a full backward. */
Test(ft_train, head_only_backward_stops_at_the_head) {
    FtModel fm;
    ftmodel_open(&fm);
    Gpt *m = &fm.m;
    gpt_set_trainable(m, GPT_TRAIN_HEAD, 0);
    ftmodel_reserve(&fm);
    GptTensor *w = gpt_find(m, "h.2.mlp.c_fc.weight"), *sw = gpt_find(m, "score.weight");
    for (size_t j = 0; j < w->numel; j++) m->grads[w->offset + j] = 7.0f; /* a frozen tensor's gradient */
    gpt_zero_grad(m);
    cr_assert_eq(m->grads[w->offset], 7.0f, "zero_grad leaves frozen tensors alone");
    gpt_forward_classify(m, fm.inputs, fm.last, fm.labels, fm.B, fm.T, 1, NULL);
    gpt_backward_classify(m, 1.0f);
    for (size_t j = 0; j < w->numel; j++) cr_assert_eq(m->grads[w->offset + j], 7.0f);
    double s = 0;
    for (size_t j = 0; j < sw->numel; j++) s += fabs(m->grads[sw->offset + j]);
    cr_assert(s > 0, "the head got its gradient");
    /* gradient norm over trainable tensors only */
    double n2 = 0;
    for (size_t j = 0; j < sw->numel; j++) n2 += (double)m->grads[sw->offset + j] * m->grads[sw->offset + j];
    GptTensor *sb = gpt_find(m, "score.bias");
    for (size_t j = 0; j < sb->numel; j++) n2 += (double)m->grads[sb->offset + j] * m->grads[sb->offset + j];
    cr_assert(fabs(gpt_grad_norm(m) - sqrt(n2)) <= 1e-6 * sqrt(n2));
    ftmodel_close(&fm);
}

/* ---- LoRA: merge, LM head, KV cache, errors ---- */

Test(ft_lora, merge_gives_the_same_class_logits) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_lora(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    size_t n = (size_t)fm.B * fm.NC;
    size_t base_params = gpt_find(m, "score.bias")->offset + (size_t)fm.NC;
    gpt_forward_classify(m, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL);
    float *unmerged = ft_copy(m->class_logits, n);
    GptTensor *w = gpt_find(m, "h.1.attn.c_attn.weight");
    float keep = m->params[w->offset];
    gpt_merge_lora(m);
    cr_assert_eq(m->lora_rank, 0);
    cr_assert_eq(m->n_tensors, m->n_base_tensors + 2, "adapters removed");
    cr_assert_eq(m->n_params, base_params);
    cr_assert_null(gpt_find(m, "h.0.attn.c_attn.lora_A"));
    cr_assert_neq(m->params[w->offset], keep, "the base weight absorbed its adapter");
    gpt_forward_classify(m, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL);
    ft_close("merged logits", m->class_logits, unmerged, n, 1e-5, 1e-5);
    free(unmerged);
    ftmodel_close(&fm);
}

/* An untied LM with adapters on everything incl. lm_head: merge keeps the logits, the KV cache sees the adapters,
 * and LM training touches only the adapters. */
Test(ft_lora, language_model_merge_kv_and_training) {
    GptConfig c = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 8, .vocab_size = 30, .qkv_bias = 1,
                   .tie_embeddings = 0};
    Gpt m;
    LwError e = {0};
    Rng r;
    rng_seed(&r, 4);
    matmul_set_threads(1);
    cr_assert_eq(gpt_init(&m, &c, &e), 0, "%s", e.msg);
    gpt_init_weights(&m, &r);
    cr_assert_eq(gpt_enable_lora(&m, 2, 4.0f, " attn, proj,fc , fcproj,head", &r, &e), 0, "%s", e.msg);
    cr_assert_not_null(gpt_find(&m, "lm_head.lora_B"));
    cr_assert_eq(gpt_find(&m, "h.1.mlp.c_proj.lora_A")->shape[0], 64);
    cr_assert_eq(gpt_find(&m, "h.1.mlp.c_proj.lora_A")->shape[1], 2);
    cr_assert_eq(gpt_find(&m, "h.0.attn.c_attn.lora_B")->shape[1], 48);
    cr_assert_eq(gpt_reserve(&m, 2, 8, &e), 0, "%s", e.msg);
    int in[16], tg[16];
    for (int i = 0; i < 16; i++) {
        in[i] = (i * 7 + 3) % 30;
        tg[i] = (i * 11 + 1) % 30;
    }
    float l0 = gpt_forward(&m, in, tg, 2, 8, 0, NULL);
    float *before = ft_copy(m.params, m.n_params);
    /* B = 0 at init: the adapters do not change the function yet; train a few steps so they do */
    for (int step = 1; step <= 4; step++) {
        gpt_zero_grad(&m);
        gpt_forward(&m, in, tg, 2, 8, 1, NULL);
        gpt_backward(&m, 1.0f);
        gpt_adamw_step(&m, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 1.0f);
    }
    for (int i = 0; i < m.n_tensors; i++) {
        GptTensor *t = &m.tensors[i];
        int same = !memcmp(m.params + t->offset, before + t->offset, t->numel * sizeof(float));
        cr_assert_eq(same, t->role != GPT_ROLE_LORA, "%s: %s", t->name, same ? "did not move" : "moved");
    }
    float l1 = gpt_forward(&m, in, tg, 2, 8, 0, NULL);
    cr_assert(l1 < l0 - 1e-3f, "adapter training lowers the loss (%g -> %g)", l0, l1);
    size_t nl = (size_t)16 * 30;
    float *unmerged = ft_copy(m.logits, nl);
    /* KV cache decoding with adapters matches the full forward */
    GptKvCache *kv = gpt_kv_open(&m, 8);
    float out[30];
    for (int t = 0; t < 8; t++) {
        cr_assert_eq(gpt_kv_forward(&m, kv, in + t, 1, out), 0);
        ft_close("kv logits with LoRA", out, unmerged + (size_t)t * 30, 30, 1e-5, 1e-5);
    }
    gpt_kv_close(kv);
    gpt_merge_lora(&m);
    cr_assert_eq(m.n_params, gpt_count_params(&c));
    gpt_forward(&m, in, NULL, 2, 8, 0, NULL);
    ft_close("merged LM logits", m.logits, unmerged, nl, 1e-5, 1e-5);
    free(unmerged);
    free(before);
    gpt_free(&m);
}

Test(ft_lora, argument_errors) {
    GptConfig c = {.n_layer = 1, .n_head = 2, .d_model = 8, .context_length = 4, .vocab_size = 20, .tie_embeddings = 1};
    Gpt m;
    LwError e = {0};
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    cr_assert_eq(gpt_enable_lora(&m, 2, 1.0f, "attn,mlp", NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "'mlp'"), "%s", e.msg);
    cr_assert_eq(gpt_enable_lora(&m, 2, 1.0f, " , ", NULL, &e), LW_ERR_INVALID);
    cr_assert_eq(gpt_enable_lora(&m, 0, 1.0f, "attn", NULL, &e), LW_ERR_INVALID);
    cr_assert_eq(gpt_enable_lora(&m, 9, 1.0f, "attn", NULL, &e), LW_ERR_INVALID, "rank above d_model");
    cr_assert_eq(gpt_enable_lora(&m, 2, 0.0f, "attn", NULL, &e), LW_ERR_INVALID);
    cr_assert_eq(gpt_enable_lora(&m, 2, 1.0f, "head", NULL, &e), LW_ERR_UNSUPPORTED, "tied LM head");
    cr_assert(strstr(e.msg, "tied"), "%s", e.msg);
    cr_assert_eq(m.lora_rank, 0, "failed calls leave LoRA off");
    cr_assert_eq(gpt_enable_lora(&m, 2, 1.0f, "fcproj,attn", NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(gpt_enable_lora(&m, 2, 1.0f, "attn", NULL, &e), LW_ERR_INVALID, "only once");
    cr_assert_eq(gpt_add_class_head(&m, 2, NULL, &e), LW_ERR_INVALID, "head before LoRA");
    char s[64];
    gpt_lora_format_targets(m.lora_targets, s, sizeof s);
    cr_assert_str_eq(s, "attn,fcproj");
    cr_assert_eq(gpt_add_class_head(&m, 1, NULL, &e), LW_ERR_INVALID);
    gpt_free(&m);
}

/* Kaiming-uniform A: within +-1/sqrt(rank), spread over the range; B zeros. */
Test(ft_lora, init_ranges) {
    GptConfig c = {.n_layer = 1, .n_head = 2, .d_model = 32, .context_length = 4, .vocab_size = 20, .tie_embeddings = 1};
    Gpt m;
    LwError e = {0};
    Rng r;
    rng_seed(&r, 9);
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    cr_assert_eq(gpt_enable_lora(&m, 4, 8.0f, "fc", &r, &e), 0);
    GptTensor *a = gpt_find(&m, "h.0.mlp.c_fc.lora_A"), *b = gpt_find(&m, "h.0.mlp.c_fc.lora_B");
    float mx = 0;
    for (size_t i = 0; i < a->numel; i++) mx = fmaxf(mx, fabsf(m.params[a->offset + i]));
    cr_assert(mx <= 0.5f && mx > 0.45f, "max |A| %g for bound 1/sqrt(4)", mx);
    for (size_t i = 0; i < b->numel; i++) cr_assert_eq(m.params[b->offset + i], 0.0f);
    cr_assert_eq(a->decay, 1);
    gpt_free(&m);
}

/* ---- residual stream ---- */

Test(ft_misc, residual_stream_access) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    cr_assert_null(gpt_residual(m, 0), "no forward yet");
    int B = 2, T = 5, C = m->cfg.d_model, L = m->cfg.n_layer;
    gpt_forward(m, fm.inputs, NULL, B, T, 0, NULL);
    const float *r0 = gpt_residual(m, 0);
    const float *wte = m->params + gpt_find(m, "wte.weight")->offset, *wpe = m->params + gpt_find(m, "wpe.weight")->offset;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++)
            cr_assert_float_eq(r0[((size_t)1 * T + t) * C + i], wte[(size_t)fm.inputs[T + t] * C + i] + wpe[t * C + i],
                               1e-6);
    cr_assert_null(gpt_residual(m, L + 1));
    cr_assert_null(gpt_residual(m, -1));
    /* l = L is what ln_f normalises: recompute the first row's ln_f via the classifier with last = 0 */
    const float *rL = gpt_residual(m, L);
    cr_assert_not_null(rL);
    cr_assert(gpt_residual(m, 1) != rL && gpt_residual(m, 1) != r0);
    float keep[64];
    memcpy(keep, rL, (size_t)C * sizeof(float));
    int last[2] = {0, 0};
    gpt_forward_classify(m, fm.inputs, last, NULL, B, T, 0, NULL);
    ft_close("residual L after classify", gpt_residual(m, L), keep, (size_t)C, 0, 0);
    ftmodel_close(&fm);
}

/* ---- checkpoints of heads and adapters ---- */

static char g_ft_dir[256];

static void ft_dir_setup(void) {
    snprintf(g_ft_dir, sizeof g_ft_dir, "/tmp/llmwb-test-model-ft-%ld", (long)getpid());
    LwError e;
    cr_assert_eq(lw_mkdirs(g_ft_dir, &e), 0);
}
static void ft_dir_teardown(void) { lw_rmtree(g_ft_dir); }

static int ft_file_has(const char *path, const char *tensor) {
    StFile *f;
    LwError e;
    cr_assert_eq(st_open(&f, path, &e), 0, "%s", e.msg);
    int has = st_find(f, tensor) != NULL;
    st_close(f);
    return has;
}

Test(ft_ckpt, class_head_and_adapters_round_trip, .init = ft_dir_setup, .fini = ft_dir_teardown) {
    FtModel fm;
    ftmodel_open(&fm);
    ftmodel_lora(&fm);
    ftmodel_reserve(&fm);
    Gpt *m = &fm.m;
    size_t n = (size_t)fm.B * fm.NC;
    gpt_forward_classify(m, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL);
    float *want = ft_copy(m->class_logits, n);
    for (size_t i = 0; i < m->n_params; i++) {
        m->adam_m[i] = 0.5f + (float)(i % 7);
        m->adam_v[i] = 1.0f + (float)(i % 5);
    }
    char dir[400], p[512];
    snprintf(dir, sizeof dir, "%s/lora", g_ft_dir);
    LwError e = {0};
    TrainState st = {.step = 3, .best_val_loss = INFINITY, .last_val_loss = NAN};
    cr_assert_eq(ckpt_save(dir, m, NULL, &st, NULL, &e), 0, "%s", e.msg);
    cr_assert(lw_file_exists(lw_path_join(p, sizeof p, dir, "adapter_config.json")));
    cr_assert(ft_file_has(lw_path_join(p, sizeof p, dir, "adapter_model.safetensors"), "h.2.mlp.c_proj.lora_B"));
    cr_assert(ft_file_has(lw_path_join(p, sizeof p, dir, "adapter_model.safetensors"), "score.lora_A"));
    lw_path_join(p, sizeof p, dir, "model.safetensors");
    cr_assert(ft_file_has(p, "score.weight") && ft_file_has(p, "score.bias"));
    cr_assert(!ft_file_has(p, "h.0.attn.c_attn.lora_A"), "base weights only in model.safetensors");

    /* a zero model becomes the saved one: head + LoRA + moments */
    Gpt r = {0};
    TrainState st2;
    cr_assert_eq(ckpt_load(dir, &r, NULL, &st2, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(r.n_classes, fm.NC);
    cr_assert_eq(r.lora_rank, fm.rank);
    cr_assert_float_eq(r.lora_alpha, fm.alpha, 1e-7);
    cr_assert_eq(r.lora_targets, m->lora_targets);
    cr_assert_eq(r.n_params, m->n_params);
    cr_assert(!memcmp(r.params, m->params, m->n_params * sizeof(float)), "weights identical");
    cr_assert(!memcmp(r.adam_m, m->adam_m, m->n_params * sizeof(float)), "moments identical");
    cr_assert_eq(gpt_reserve(&r, fm.B, fm.T, &e), 0, "%s", e.msg);
    gpt_forward_classify(&r, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL);
    ft_close("reloaded logits", r.class_logits, want, n, 0, 0);
    gpt_free(&r);

    /* merged export: a plain GPT-2 (+ head) with the same function, no adapter files */
    char exp[400];
    snprintf(exp, sizeof exp, "%s/merged", g_ft_dir);
    cr_assert_eq(ckpt_save_ex(exp, m, NULL, &st, NULL, CKPT_MERGE_LORA, &e), LW_ERR_INVALID, "no state when merged");
    cr_assert_eq(ckpt_save_ex(exp, m, NULL, NULL, NULL, CKPT_MERGE_LORA, &e), 0, "%s", e.msg);
    cr_assert(!lw_file_exists(lw_path_join(p, sizeof p, exp, "adapter_config.json")));
    cr_assert(!lw_file_exists(lw_path_join(p, sizeof p, exp, "adapter_model.safetensors")));
    cr_assert_eq(m->lora_rank, fm.rank, "export does not change the model");
    Gpt x = {0};
    cr_assert_eq(ckpt_load(exp, &x, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(x.lora_rank, 0);
    cr_assert_eq(x.n_classes, fm.NC);
    cr_assert_eq(gpt_reserve(&x, fm.B, fm.T, &e), 0, "%s", e.msg);
    gpt_forward_classify(&x, fm.inputs, fm.last, NULL, fm.B, fm.T, 0, NULL);
    ft_close("merged export logits", x.class_logits, want, n, 1e-5, 1e-5);

    /* adapters into a model without LoRA: a clear error */
    cr_assert_eq(ckpt_load(dir, &x, NULL, NULL, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "LoRA"), "%s", e.msg);
    gpt_free(&x);
    free(want);
    ftmodel_close(&fm);
}

/* init_from: a classifier (head + LoRA set up first) loads a plain LM checkpoint and keeps its fresh head and
 * adapters; a mismatching class count is refused. */
Test(ft_ckpt, init_from_language_model, .init = ft_dir_setup, .fini = ft_dir_teardown) {
    GptConfig c = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 8, .vocab_size = 30, .qkv_bias = 1,
                   .tie_embeddings = 1};
    Gpt lm, cls;
    LwError e = {0};
    Rng r;
    rng_seed(&r, 8);
    cr_assert_eq(gpt_init(&lm, &c, &e), 0);
    gpt_init_weights(&lm, &r);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/lm", g_ft_dir);
    cr_assert_eq(ckpt_save(dir, &lm, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(gpt_init(&cls, &c, &e), 0);
    cr_assert_eq(gpt_add_class_head(&cls, 2, &r, &e), 0);
    cr_assert_eq(gpt_enable_lora(&cls, 2, 2.0f, "attn,fc", &r, &e), 0);
    GptTensor *sw = gpt_find(&cls, "score.weight"), *la = gpt_find(&cls, "h.1.mlp.c_fc.lora_A");
    float *head = ft_copy(cls.params + sw->offset, sw->numel), *ad = ft_copy(cls.params + la->offset, la->numel);
    cr_assert_eq(ckpt_load(dir, &cls, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert(!memcmp(cls.params, lm.params, lm.n_params * sizeof(float)), "base weights loaded");
    cr_assert(!memcmp(cls.params + sw->offset, head, sw->numel * sizeof(float)), "head kept");
    cr_assert(!memcmp(cls.params + la->offset, ad, la->numel * sizeof(float)), "adapters kept");
    /* a saved 2-class model into a 3-class one */
    snprintf(dir, sizeof dir, "%s/cls", g_ft_dir);
    cr_assert_eq(ckpt_save(dir, &cls, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    Gpt three;
    cr_assert_eq(gpt_init(&three, &c, &e), 0);
    cr_assert_eq(gpt_add_class_head(&three, 3, &r, &e), 0);
    cr_assert_eq(ckpt_load(dir, &three, NULL, NULL, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "n_classes 2"), "%s", e.msg);
    gpt_free(&three);
    free(head);
    free(ad);
    gpt_free(&cls);
    gpt_free(&lm);
}
