/* test_arch.c — the architecture and task tables (arch.h, task.h): every registered table is complete, names and
 * checkpoints find their table, train.task and finetune.mode agree, and GPT through its table computes exactly
 * (bit for bit) what model.c computes when called directly: the table is an adapter, not a second model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "engine_impl.h"
#include "model.h"

Test(arch, every_architecture_table_is_complete_and_found_by_name) {
    cr_assert_gt(arch_count, 0);
    for (int i = 0; i < arch_count; i++) {
        const ArchOps *a = arch_list[i];
        cr_assert(a->name && a->hf_model_type && a->summary, "table %d: names", i);
        cr_assert_eq(arch_find(a->name), a, "%s", a->name);
        cr_assert(a->create && a->init_weights && a->destroy && a->reserve && a->info && a->set_dropout &&
                      a->to_config && a->save && a->load && a->forward && a->backward && a->logits &&
                      a->class_logits && a->zero_grad && a->grad_norm && a->adamw_step && a->pool_position &&
                      a->add_class_head && a->set_trainable && a->probe && a->token_embedding,
                  "%s: a required op is NULL", a->name);
        int dec = !!a->decode_open + !!a->decode_close + !!a->decode_reset + !!a->decode_len + !!a->decode_step;
        cr_assert(dec == 0 || dec == 5, "%s: decode ops are all there or none", a->name);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(arch_list[j]->hf_model_type, a->hf_model_type, "two tables read model_type %s",
                              a->hf_model_type);
    }
    cr_assert_null(arch_find("transformer-xl"));
    cr_assert_null(arch_find(NULL));
}

/* A fresh model of every architecture trains all its parameters, and says so (the Train screen's count). */
Test(arch, a_fresh_model_counts_every_parameter_trainable) {
    for (int i = 0; i < arch_count; i++) {
        const ArchOps *a = arch_list[i];
        ModelCfg mc = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 12, .tie_embeddings = 1};
        void *m = NULL;
        LwError e = {0};
        cr_assert_eq(a->create(&m, &mc, 40, &e), LW_OK, "%s: %s", a->name, e.msg);
        ArchInfo in;
        a->info(m, &in);
        cr_assert_gt(in.n_params, 0, "%s", a->name);
        cr_assert_eq(in.n_trainable, in.n_params, "%s: %zu of %zu parameters trainable", a->name, in.n_trainable,
                     in.n_params);
        a->destroy(m);
    }
}

Test(arch, every_task_table_is_complete_and_found_by_name) {
    for (int i = 0; i < task_count; i++) {
        const TaskOps *t = task_list[i];
        cr_assert_eq(task_find(t->name), t, "%s", t->name);
        cr_assert(t->open && t->close && t->next_batch && t->rewind_val && t->n_val_batches && t->window_start &&
                      t->loader_state && t->reply_begin,
                  "%s: a required op is NULL", t->name);
        for (int j = 0; j < i; j++)
            cr_assert(t->ft_mode == FT_NONE || task_list[j]->ft_mode != t->ft_mode,
                      "two tasks claim finetune.mode %d", t->ft_mode);
    }
    cr_assert_eq(task_list[0], &task_lm, "finetune.mode none means lm: the first task without a mode");
    cr_assert_null(task_find("auto"));
}

Test(arch, train_task_and_finetune_mode_name_one_task) {
    Config c;
    cfg_defaults(&c);
    cr_assert_str_eq(c.train.task, "auto");
    cr_assert_eq(task_for_config(&c), &task_lm);
    c.finetune.mode = FT_CLASSIFY;
    cr_assert_eq(task_for_config(&c), &task_classify);
    c.finetune.mode = FT_INSTRUCT;
    cr_assert_eq(task_for_config(&c), &task_instruct);
    c.finetune.mode = FT_NONE;
    LwError e = {0};
    cr_assert_eq(cfg_set(&c, "train.task=classify", &e), LW_OK, "%s", e.msg);
    cr_assert_eq(task_for_config(&c), &task_classify);
    cr_assert_neq(cfg_set(&c, "train.task=regress", &e), LW_OK);
    cr_assert(strstr(e.msg, "train.task"), "%s", e.msg);
    /* contradicting keys are a clear error naming both */
    cr_assert_eq(cfg_set(&c, "train.task=lm", &e), LW_OK, "%s", e.msg);
    c.finetune.mode = FT_INSTRUCT;
    cr_assert_neq(cfg_validate(&c, &e), LW_OK);
    cr_assert(strstr(e.msg, "train.task") && strstr(e.msg, "finetune.mode"), "%s", e.msg);
    /* a checkpoint: its metadata, or a class head */
    CkptFinetune meta = {.mode = FT_INSTRUCT};
    cr_assert_eq(task_for_checkpoint(&meta, 0, 1), &task_instruct);
    meta.mode = FT_NONE;
    cr_assert_eq(task_for_checkpoint(&meta, 0, 1), &task_lm);
    cr_assert_eq(task_for_checkpoint(&meta, 3, 1), &task_classify);
}

static void write_config_json(const char *dir, const char *json) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    LwError e = {0};
    cr_assert_eq(lw_write_file_atomic(path, json, strlen(json), &e), LW_OK, "%s", e.msg);
}

Test(arch, a_checkpoint_names_its_architecture_by_model_type) {
    char dir[] = "/tmp/llmwb-test-arch-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const ArchOps *a = NULL;
    LwError e = {0};
    cr_assert_eq(arch_for_checkpoint(dir, &a, &e), LW_OK, "no config.json: the loader reports it");
    cr_assert_eq(a, &arch_gpt);
    write_config_json(dir, "{\"model_type\": \"gpt2\", \"n_layer\": 1}");
    cr_assert_eq(arch_for_checkpoint(dir, &a, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(a, &arch_gpt);
    write_config_json(dir, "{\"n_layer\": 1}");
    cr_assert_eq(arch_for_checkpoint(dir, &a, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(a, &arch_gpt, "no model_type: GPT-2 (old checkpoints)");
    write_config_json(dir, "{\"model_type\": \"reformer\"}");
    cr_assert_eq(arch_for_checkpoint(dir, &a, &e), LW_ERR_UNSUPPORTED);
    cr_assert(strstr(e.msg, "config.json") && strstr(e.msg, "model_type") && strstr(e.msg, "reformer") &&
                  strstr(e.msg, "gpt2"),
              "%s", e.msg);
    lw_rmtree(dir);
}

/* ---- GPT through the table == model.c called directly ---- */

enum { B = 2, T = 7, V = 37 };

static ModelCfg small_cfg(void) {
    ModelCfg mc = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 12, .vocab_size = V,
                   .dropout = 0.1f, .qkv_bias = 1, .tie_embeddings = 0};
    snprintf(mc.arch, sizeof mc.arch, "gpt");
    return mc;
}

static void batch_ids(int *inputs, int *targets) {
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < B * T; i++) {
        inputs[i] = (int)(rng_u64(&r) % V);
        targets[i] = i % 5 == 4 ? ARCH_IGNORE_INDEX : (int)(rng_u64(&r) % V);
    }
}

/* The same model twice: through the table (*m) and directly (d), same initialisation. */
static void twins(void **m, Gpt *d) {
    ModelCfg mc = small_cfg();
    LwError e = {0};
    cr_assert_eq(arch_gpt.create(m, &mc, V, &e), LW_OK, "%s", e.msg);
    GptConfig gc = {.n_layer = mc.n_layer, .n_head = mc.n_head, .d_model = mc.d_model,
                    .context_length = mc.context_length, .vocab_size = V, .dropout = mc.dropout,
                    .qkv_bias = mc.qkv_bias, .tie_embeddings = mc.tie_embeddings};
    cr_assert_eq(gpt_init(d, &gc, &e), LW_OK, "%s", e.msg);
    Rng r1, r2;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    arch_gpt.init_weights(*m, &r1);
    gpt_init_weights(d, &r2);
}

Test(arch, gpt_table_lm_step_is_bit_identical_to_model_c) {
    void *m = NULL;
    Gpt d;
    twins(&m, &d);
    LwError e = {0};
    cr_assert_eq(arch_gpt.reserve(m, B, T, 0, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(gpt_reserve(&d, B, T, &e), LW_OK, "%s", e.msg);
    int inputs[B * T], targets[B * T];
    batch_ids(inputs, targets);
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = B, .T = T, .inputs = inputs, .targets = targets};
    for (int step = 1; step <= 3; step++) {
        Rng r1, r2; /* dropout masks drawn alike */
        rng_seed(&r1, 100 + step);
        rng_seed(&r2, 100 + step);
        arch_gpt.zero_grad(m);
        gpt_zero_grad(&d);
        float l1 = arch_gpt.forward(m, &b, 1, &r1), l2 = gpt_forward(&d, inputs, targets, B, T, 1, &r2);
        cr_assert_eq(memcmp(&l1, &l2, sizeof l1), 0, "step %d: loss %.9g vs %.9g", step, l1, l2);
        cr_assert_eq(memcmp(arch_gpt.logits(m), d.logits, sizeof(float) * B * T * V), 0, "step %d: logits", step);
        cr_assert_null(arch_gpt.class_logits(m));
        arch_gpt.backward(m, 0.5f);
        gpt_backward(&d, 0.5f);
        float n1 = arch_gpt.grad_norm(m), n2 = gpt_grad_norm(&d);
        cr_assert_eq(memcmp(&n1, &n2, sizeof n1), 0, "step %d: gradient norm", step);
        ArchAdamW p = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .t = step,
                       .grad_scale = 0.7f};
        arch_gpt.adamw_step(m, &p);
        gpt_adamw_step(&d, p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.t, p.grad_scale);
    }
    ArchInfo mi;
    arch_gpt.info(m, &mi);
    cr_assert_eq(mi.n_params, d.n_params);
    cr_assert(mi.causal && !mi.n_source && mi.vocab_size == V && mi.n_layer == 2);
    const float *wte_t = arch_gpt.token_embedding(m), *wte_d = d.params + gpt_find(&d, "wte.weight")->offset;
    cr_assert_eq(memcmp(wte_t, wte_d, sizeof(float) * V * 16), 0, "weights after 3 AdamW steps");
    /* the decoder gives the full forward's last-position logits */
    void *kv = arch_gpt.decode_open(m, 0);
    float out[V];
    cr_assert_eq(arch_gpt.decode_step(m, kv, inputs, T, out), 0);
    cr_assert_eq(arch_gpt.decode_len(kv), T);
    ArchBatch one = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = inputs};
    cr_assert_float_eq(arch_gpt.forward(m, &one, 0, NULL), -1.0f, 0, "no targets: no loss");
    const float *full = arch_gpt.logits(m) + (size_t)(T - 1) * V;
    for (int v = 0; v < V; v++) cr_assert_float_eq(out[v], full[v], 1e-5f * (1 + fabsf(full[v])), "logit %d", v);
    arch_gpt.decode_reset(kv);
    cr_assert_eq(arch_gpt.decode_len(kv), 0);
    arch_gpt.decode_close(kv);
    arch_gpt.destroy(m);
    gpt_free(&d);
}

Test(arch, gpt_table_class_head_is_bit_identical_to_model_c) {
    void *m = NULL;
    Gpt d;
    twins(&m, &d);
    LwError e = {0};
    Rng h1, h2;
    rng_seed(&h1, 5);
    rng_seed(&h2, 5);
    cr_assert_eq(arch_gpt.add_class_head(m, 3, &h1, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(gpt_add_class_head(&d, 3, &h2, &e), LW_OK, "%s", e.msg);
    arch_gpt.set_trainable(m, GPT_TRAIN_LAST_BLOCKS, 1);
    gpt_set_trainable(&d, GPT_TRAIN_LAST_BLOCKS, 1);
    cr_assert_eq(arch_gpt.reserve(m, B, T, 0, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(gpt_reserve(&d, B, T, &e), LW_OK, "%s", e.msg);
    int inputs[B * T], targets[B * T], len[B] = {T, 4}, pool[B], labels[B] = {2, 0};
    batch_ids(inputs, targets);
    for (int b = 0; b < B; b++) pool[b] = arch_gpt.pool_position(m, len[b]);
    cr_assert(pool[0] == T - 1 && pool[1] == 3, "GPT pools the last real token");
    ArchBatch bt = {.head = ARCH_HEAD_CLASS, .B = B, .T = T, .inputs = inputs, .lengths = len, .pool = pool,
                    .labels = labels};
    Rng r1, r2;
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    arch_gpt.zero_grad(m);
    gpt_zero_grad(&d);
    float l1 = arch_gpt.forward(m, &bt, 1, &r1), l2 = gpt_forward_classify(&d, inputs, pool, labels, B, T, 1, &r2);
    cr_assert_eq(memcmp(&l1, &l2, sizeof l1), 0, "loss %.9g vs %.9g", l1, l2);
    cr_assert_eq(memcmp(arch_gpt.class_logits(m), d.class_logits, sizeof(float) * B * 3), 0, "class logits");
    cr_assert_null(arch_gpt.logits(m));
    arch_gpt.backward(m, 1.0f);
    gpt_backward_classify(&d, 1.0f);
    float n1 = arch_gpt.grad_norm(m), n2 = gpt_grad_norm(&d);
    cr_assert(n1 > 0 && memcmp(&n1, &n2, sizeof n1) == 0, "gradient norm %g vs %g", n1, n2);
    ArchInfo mi;
    arch_gpt.info(m, &mi);
    cr_assert_eq(mi.n_classes, 3);
    arch_gpt.destroy(m);
    gpt_free(&d);
}
