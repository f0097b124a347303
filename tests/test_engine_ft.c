/* test_engine_ft.c — finetuning through the engine: a tiny model pretrained here, then finetuned as a classifier
 * and on instructions; baselines, evaluations, exact resume, and inference from the finetuned checkpoints. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "engine.h"

static char root[256];
static char pre[512]; /* the pretrained checkpoint */

static void base_config(Config *c, const char *sub) {
    cfg_defaults(c);
    snprintf(c->data.paths[0], sizeof c->data.paths[0], "corpora/austen_prideprejudice.txt");
    c->data.n_paths = 1;
    c->data.max_chars = 60000;
    c->tokenizer.vocab_size = 300;
    c->model.vocab_size = 300;
    c->model.n_layer = 2;
    c->model.n_head = 2;
    c->model.d_model = 32;
    c->model.context_length = 48;
    c->train.batch_size = 4;
    c->train.steps = 200;
    c->train.warmup = 2;
    c->train.eval_every = 0;
    c->train.sample_every = 0;
    c->train.checkpoint_every = 0;
    c->train.threads = 1;
    c->probe.snapshot_every = 0;
    snprintf(c->name, sizeof c->name, "%s", sub);
    snprintf(c->train.run_dir, sizeof c->train.run_dir, "%s/%s", root, sub);
}

static Engine *open_ok(const Config *c, const EngineOpenOpts *o) {
    LwError e = {0};
    Engine *g = NULL;
    cr_assert_eq(engine_open(&g, c, o, &e), LW_OK, "engine_open: %s", e.msg);
    return g;
}

static void setup(void) {
    snprintf(root, sizeof root, "/tmp/llmwb-test-ft-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(root));
    Config c;
    base_config(&c, "pre");
    Engine *g = open_ok(&c, NULL);
    LwError e;
    for (int i = 0; i < 20; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    snprintf(pre, sizeof pre, "%s/pre/latest", root);
}
static void teardown(void) { lw_rmtree(root); }

static void classify_config(Config *c, const char *sub) {
    base_config(c, sub);
    c->finetune.mode = FT_CLASSIFY;
    snprintf(c->finetune.init_from, sizeof c->finetune.init_from, "%s", pre);
    snprintf(c->data.paths[0], sizeof c->data.paths[0], "corpora/classify/uci_sentiment_sentences.tsv");
    c->data.val_fraction = 0.1f;
    c->data.test_fraction = 0.2f;
    c->finetune.balance = 1;
    c->finetune.trainable = FT_TRAIN_ALL;
    c->model.dropout = 0.1f;
    c->train.eval_every = 5;
    c->train.eval_batches = 2;
}

TestSuite(engine_ft, .init = setup, .fini = teardown, .timeout = 180);

Test(engine_ft, classifier_trains_reports_baseline_and_round_trips) {
    Config c;
    classify_config(&c, "cls");
    Engine *g = open_ok(&c, NULL);
    cr_assert_eq(engine_n_classes(g), 2);
    cr_assert_str_eq(engine_class_name(g, 0), "neg");
    cr_assert_str_eq(engine_class_name(g, 1), "pos");
    LwError e;
    for (int i = 0; i < 10; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    EngineEvent ev[32];
    int n = engine_get_events(g, 0, ev, 32), saw_nb = 0, saw_acc = 0, saw_val = 0;
    for (int i = 0; i < n; i++) {
        saw_nb |= strstr(ev[i].text, "naive-Bayes baseline") != NULL;
        saw_acc |= strstr(ev[i].text, "accuracy train") != NULL; /* before finetuning, at step 0 */
        saw_val |= strstr(ev[i].text, "val accuracy") != NULL;
    }
    cr_assert(saw_nb && saw_acc && saw_val, "events lack the baseline, the step-0 accuracy or an eval");
    float p[4];
    cr_assert_eq(engine_classify(g, "A wonderful, moving film.", p, 4, &e), 2, "%s", e.msg);
    cr_assert(fabsf(p[0] + p[1] - 1) < 1e-5);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);

    /* the checkpoint knows it is a classifier and gives the same probabilities */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/cls/latest", root);
    CkptFinetune meta;
    cr_assert_eq(ckpt_read_finetune(dir, &meta, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(meta.mode, FT_CLASSIFY);
    cr_assert_eq(meta.n_labels, 2);
    Config d;
    cfg_defaults(&d);
    EngineOpenOpts o = {.ckpt_dir = dir};
    g = open_ok(&d, &o);
    cr_assert_eq(engine_n_classes(g), 2);
    float q[4];
    cr_assert_eq(engine_classify(g, "A wonderful, moving film.", q, 4, &e), 2, "%s", e.msg);
    cr_assert_float_eq(q[0], p[0], 1e-6);
    SampleParams sp;
    engine_sample_defaults(&sp);
    cr_assert_eq(engine_gen_begin(g, "A wonderful, moving film.", &sp, &e), LW_OK, "%s", e.msg);
    GenToken t;
    cr_assert_eq(engine_gen_next(g, &t), 1);
    cr_assert(strstr(t.text, "neg (") || strstr(t.text, "pos ("), "%s", t.text);
    cr_assert_eq(t.n_top, 2);
    cr_assert_eq(engine_gen_next(g, &t), 0);
    engine_close(g);
}

Test(engine_ft, classifier_resume_is_exact) {
    Config c;
    classify_config(&c, "clsw");
    c.train.eval_every = 0;
    Engine *g = open_ok(&c, NULL);
    LwError e;
    TrainSnapshot ts;
    float whole[12];
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
        engine_get_train(g, &ts);
        whole[i] = ts.train_loss;
    }
    engine_close(g);
    classify_config(&c, "clss");
    c.train.eval_every = 0;
    g = open_ok(&c, NULL);
    for (int i = 0; i < 6; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/clss/latest", root);
    EngineOpenOpts o = {.resume_dir = dir};
    g = open_ok(&c, &o);
    for (int i = 6; i < 12; i++) {
        cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
        engine_get_train(g, &ts);
        cr_assert_eq(ts.train_loss, whole[i], "step %d: %.9g vs %.9g", i + 1, ts.train_loss, whole[i]);
    }
    engine_close(g);
}

Test(engine_ft, instruction_tuning_scores_and_templates) {
    Config c;
    base_config(&c, "ins");
    c.finetune.mode = FT_INSTRUCT;
    snprintf(c.finetune.init_from, sizeof c.finetune.init_from, "%s", pre);
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "corpora/instruct/tasks_test.jsonl");
    c.data.val_fraction = 0.05f;
    c.data.test_fraction = 0.02f;
    snprintf(c.finetune.template_name, sizeof c.finetune.template_name, "phi3");
    c.finetune.mask_prompt = 1;
    c.train.eval_every = 5;
    c.train.eval_batches = 2;
    c.train.steps = 8;
    Engine *g = open_ok(&c, NULL);
    LwError e;
    int rc;
    while ((rc = engine_train_step(g, &e)) == LW_OK) {}
    cr_assert_eq(rc, LW_ERR_INVALID, "training ends at train.steps: %s", e.msg);
    TrainSnapshot ts;
    engine_get_train(g, &ts);
    cr_assert_eq(ts.step, 8);
    cr_assert_eq(ts.state, ENGINE_DONE);
    cr_assert(isfinite(ts.val_loss));
    char path[700];
    snprintf(path, sizeof path, "%s/ins/responses-step0.jsonl", root);
    cr_assert(lw_file_exists(path), "no baseline responses at %s", path);
    snprintf(path, sizeof path, "%s/ins/responses-step8.jsonl", root);
    cr_assert(lw_file_exists(path), "no final responses at %s", path);
    char *text;
    cr_assert_eq(lw_read_file(path, &text, NULL, &e), LW_OK);
    cr_assert(strstr(text, "\"expected\"") && strstr(text, "\"exact\""), "%.200s", text);
    free(text);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/ins/latest", root);
    CkptFinetune meta;
    cr_assert_eq(ckpt_read_finetune(dir, &meta, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(meta.mode, FT_INSTRUCT);
    cr_assert_str_eq(meta.template_name, "phi3");
}

Test(engine_ft, bad_finetune_inputs_are_clear_errors) {
    Config c;
    classify_config(&c, "bad");
    snprintf(c.finetune.init_from, sizeof c.finetune.init_from, "%s/nonexistent", root);
    LwError e = {0};
    Engine *g = NULL;
    cr_assert_neq(engine_open(&g, &c, NULL, &e), LW_OK);
    cr_assert_null(g);
    cr_assert(strstr(e.msg, "nonexistent"), "%s", e.msg);
    classify_config(&c, "bad2");
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "corpora/instruct/tasks_test.jsonl");
    cr_assert_neq(engine_open(&g, &c, NULL, &e), LW_OK);
    cr_assert(strstr(e.msg, "tasks_test.jsonl"), "%s", e.msg);
}

Test(engine_ft, lora_trains_adapters_only_and_merges) {
    Config c;
    classify_config(&c, "lora");
    c.finetune.lora_rank = 4;
    c.finetune.lora_alpha = 8;
    c.train.eval_every = 0;
    Engine *g = open_ok(&c, NULL);
    TrainSnapshot ts;
    engine_get_train(g, &ts);
    LwError e;
    for (int i = 0; i < 6; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    float p[4];
    cr_assert_eq(engine_classify(g, "Terrible service, never again.", p, 4, &e), 2, "%s", e.msg);
    cr_assert_eq(engine_save(g, NULL, &e), LW_OK, "%s", e.msg);
    char merged[600], dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/lora/latest", root);
    snprintf(merged, sizeof merged, "%s/lora-merged", root);
    cr_assert_eq(engine_save_merged(g, merged, &e), LW_OK, "%s", e.msg);
    engine_close(g);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    cr_assert(lw_file_exists(path), "adapters are stored separately");
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", merged);
    cr_assert(!lw_file_exists(path), "a merged export has no adapters");

    /* the pretrained body is unchanged by adapter-only training: compare a base tensor with init_from's */
    Gpt a = {0}, b = {0};
    cr_assert_eq(ckpt_load(pre, &a, NULL, NULL, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(ckpt_load(dir, &b, NULL, NULL, NULL, &e), LW_OK, "%s", e.msg);
    GptTensor *ta = gpt_find(&a, "h.0.attn.c_attn.weight"), *tb = gpt_find(&b, "h.0.attn.c_attn.weight");
    cr_assert(ta && tb);
    cr_assert_arr_eq(a.params + ta->offset, b.params + tb->offset, ta->numel * sizeof(float));
    cr_assert_eq(b.lora_rank, 4);
    /* the trainable count the CLI prints beside the total: the adapters and the new class head, nothing else */
    long want = 0;
    for (int i = 0; i < b.n_tensors; i++)
        if (b.tensors[i].role != GPT_ROLE_BASE) want += (long)b.tensors[i].numel;
    cr_assert_eq(ts.n_trainable, want, "trainable %ld, adapters + head %ld", ts.n_trainable, want);
    cr_assert_eq(ts.n_params, (long)b.n_params);
    cr_assert_lt(ts.n_trainable * 5, ts.n_params, "LoRA trains a small part: %ld of %ld", ts.n_trainable,
                 ts.n_params);
    gpt_free(&a);
    gpt_free(&b);

    /* the merged export classifies as the adapted model did */
    Config d;
    cfg_defaults(&d);
    EngineOpenOpts o = {.ckpt_dir = merged};
    g = open_ok(&d, &o);
    float q[4];
    cr_assert_eq(engine_classify(g, "Terrible service, never again.", q, 4, &e), 2, "%s", e.msg);
    cr_assert_float_eq(q[0], p[0], 1e-4);
    engine_close(g);
}

Test(engine_ft, classifier_from_a_hugging_face_gpt2_directory) {
    /* the book's path with imported weights: init_from a HF GPT-2 directory (tests/ref/hf-tiny, written by
     * tests/make_hf_tiny.py in HF's layout; it has no tokenizer files, so raw bytes stand in) */
    Config c;
    classify_config(&c, "hf");
    snprintf(c.finetune.init_from, sizeof c.finetune.init_from, "tests/ref/hf-tiny");
    c.finetune.trainable = FT_TRAIN_LAST_BLOCKS;
    c.finetune.train_last_blocks = 1;
    c.model.context_length = 32;
    c.train.eval_every = 0;
    Engine *g = open_ok(&c, NULL);
    TrainSnapshot ts;
    engine_get_train(g, &ts);
    cr_assert_eq(ts.n_layer, 2);
    cr_assert_eq(ts.d_model, 32);
    cr_assert_eq(engine_n_classes(g), 2);
    LwError e;
    for (int i = 0; i < 4; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    engine_get_train(g, &ts);
    cr_assert(isfinite(ts.train_loss));
    engine_close(g);
}

/* train.task names the task as finetune.mode did: the same run, bit for bit, and the same checkpoint metadata. */
Test(engine_ft, train_task_classify_is_finetune_mode_classify) {
    Config a, b;
    classify_config(&a, "by-mode");
    classify_config(&b, "by-task");
    b.finetune.mode = FT_NONE;
    snprintf(b.train.task, sizeof b.train.task, "classify");
    LwError e;
    cr_assert_eq(cfg_validate(&b, &e), LW_OK, "%s", e.msg);
    Engine *ga = open_ok(&a, NULL), *gb = open_ok(&b, NULL);
    cr_assert_eq(engine_config(gb)->finetune.mode, FT_CLASSIFY, "the effective config says what trains");
    cr_assert_eq(engine_n_classes(gb), 2);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(engine_train_step(ga, &e), LW_OK, "%s", e.msg);
        cr_assert_eq(engine_train_step(gb, &e), LW_OK, "%s", e.msg);
        TrainSnapshot sa, sb;
        engine_get_train(ga, &sa);
        engine_get_train(gb, &sb);
        cr_assert_eq(memcmp(&sa.train_loss, &sb.train_loss, sizeof(float)), 0, "step %d: %.9g vs %.9g", i + 1,
                     sa.train_loss, sb.train_loss);
        cr_assert_eq(memcmp(&sa.grad_norm, &sb.grad_norm, sizeof(float)), 0, "step %d: gradient norm", i + 1);
    }
    cr_assert_eq(engine_save(gb, NULL, &e), LW_OK, "%s", e.msg);
    engine_close(ga);
    engine_close(gb);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/by-task/latest", root);
    CkptFinetune meta;
    cr_assert_eq(ckpt_read_finetune(dir, &meta, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(meta.mode, FT_CLASSIFY);
    cr_assert_eq(meta.n_labels, 2);
}
