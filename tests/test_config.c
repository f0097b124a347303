/* test_config.c — config loading (src/config.c): defaults, shipped presets, bases and overrides, every class of
 * malformed input (fixtures in tests/configs/bad/), --set, dump/load round trips, docs, and a mutation loop.
 * Runs from the repository root. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "rng.h"
#include "util.h"

/* realpath() of a file that must exist, into a static buffer. */
static const char *abs_path(const char *p) {
    static char buf[PATH_MAX];
    char *r = realpath(p, NULL);
    cr_assert_not_null(r, "realpath(%s)", p);
    snprintf(buf, sizeof buf, "%s", r);
    free(r);
    return buf;
}

static void load_ok(Config *c, const char *path) {
    LwError e = {0};
    int rc = cfg_load(c, path, &e);
    cr_assert_eq(rc, 0, "cfg_load(%s): %s", path, e.msg);
}

/* Every field that makes up the configuration (source, the file it came from, differs by design). */
static void assert_same_config(const Config *a, const Config *b, const char *what) {
    cr_assert_str_eq(a->name, b->name, "%s: name", what);
    cr_assert(memcmp(&a->model, &b->model, sizeof a->model) == 0, "%s: model differs", what);
    cr_assert(memcmp(&a->tokenizer, &b->tokenizer, sizeof a->tokenizer) == 0, "%s: tokenizer differs", what);
    cr_assert(memcmp(&a->data, &b->data, sizeof a->data) == 0, "%s: data differs", what);
    cr_assert(memcmp(&a->train, &b->train, sizeof a->train) == 0, "%s: train differs", what);
    cr_assert(memcmp(&a->finetune, &b->finetune, sizeof a->finetune) == 0, "%s: finetune differs", what);
    cr_assert(memcmp(&a->probe, &b->probe, sizeof a->probe) == 0, "%s: probe differs", what);
}

static char tmpdir[64];
static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/llmwb-cfgtest-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
    if (tmpdir[0]) lw_rmtree(tmpdir);
}

static void write_text(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* ---------------------------------------------------------------------------------------------------------- */

Test(cfg_defaults, tiny_default_run) {
    Config c;
    cfg_defaults(&c);
    cr_assert_str_eq(c.name, "default");
    cr_assert_str_eq(c.source, "");
    cr_assert_eq(c.model.n_layer, 4);
    cr_assert_eq(c.model.n_head, 4);
    cr_assert_eq(c.model.d_model, 128);
    cr_assert_eq(c.model.context_length, 64);
    cr_assert_eq(c.model.vocab_size, 1024);
    cr_assert_float_eq(c.model.dropout, 0.0f, 1e-9);
    cr_assert_eq(c.model.qkv_bias, 0);
    cr_assert_eq(c.model.tie_embeddings, 1);
    cr_assert_eq(c.tokenizer.kind, TOK_BPE);
    cr_assert_eq(c.tokenizer.vocab_size, 1024);
    cr_assert_str_eq(c.tokenizer.path, "");
    cr_assert_eq(c.data.n_paths, 1);
    cr_assert_str_eq(c.data.paths[0], "corpora/austen_prideprejudice.txt");
    cr_assert_float_eq(c.data.val_fraction, 0.1f, 1e-7);
    cr_assert_float_eq(c.data.test_fraction, 0.1f, 1e-7);
    cr_assert_eq(c.data.stride, 0);
    cr_assert_eq(c.data.max_chars, 0);
    cr_assert_eq(c.train.batch_size, 16);
    cr_assert_eq(c.train.grad_accum, 1);
    cr_assert_eq(c.train.steps, 3000);
    cr_assert_float_eq(c.train.epochs, 0.0f, 1e-9);
    cr_assert_float_eq(c.train.lr, 3e-3f, 1e-9);
    cr_assert_float_eq(c.train.min_lr, 3e-4f, 1e-9);
    cr_assert_eq(c.train.warmup, 50);
    cr_assert_float_eq(c.train.weight_decay, 0.1f, 1e-7);
    cr_assert_float_eq(c.train.grad_clip, 1.0f, 1e-7);
    cr_assert_eq(c.train.eval_every, 50);
    cr_assert_eq(c.train.eval_batches, 8);
    cr_assert_eq(c.train.sample_every, 200);
    cr_assert_str_eq(c.train.sample_prompt, "It is a truth");
    cr_assert_eq(c.train.sample_tokens, 40);
    cr_assert_eq(c.train.checkpoint_every, 500);
    cr_assert_eq(c.train.seed, 123);
    cr_assert_eq(c.train.threads, 0);
    cr_assert_str_eq(c.train.run_dir, "");
    cr_assert_eq(c.finetune.mode, FT_NONE);
    cr_assert_str_eq(c.finetune.init_from, "");
    cr_assert_eq(c.finetune.n_labels, 0);
    cr_assert_eq(c.finetune.balance, 0);
    cr_assert_eq(c.finetune.trainable, FT_TRAIN_LAST_BLOCKS);
    cr_assert_eq(c.finetune.train_last_blocks, 1);
    cr_assert_str_eq(c.finetune.template_name, "alpaca");
    cr_assert_eq(c.finetune.mask_prompt, 0);
    cr_assert_eq(c.finetune.truncate, 1);
    cr_assert_eq(c.finetune.lora_rank, 0);
    cr_assert_float_eq(c.finetune.lora_alpha, 16.0f, 1e-7);
    cr_assert_str_eq(c.finetune.lora_targets, "attn,proj,fc,fcproj");
    cr_assert_str_eq(c.probe.text, "It is a truth universally acknowledged, that a single man");
    cr_assert_eq(c.probe.snapshot_every, 25);
}

Test(cfg_defaults, validate_from_repo_root) {
    Config c;
    LwError e = {0};
    cfg_defaults(&c);
    cr_assert_eq(cfg_validate(&c, &e), 0, "%s", e.msg);
}

Test(cfg_defaults, model_presets) {
    ModelCfg m;
    memset(&m, 0, sizeof m);
    cr_assert_eq(cfg_model_preset("gpt2-small", &m), 0);
    cr_assert_str_eq(m.preset, "gpt2-small");
    cr_assert_eq(m.n_layer, 12);
    cr_assert_eq(m.n_head, 12);
    cr_assert_eq(m.d_model, 768);
    cr_assert_eq(m.context_length, 1024);
    cr_assert_eq(m.vocab_size, 50257);
    cr_assert_float_eq(m.dropout, 0.1f, 1e-7);
    cr_assert_eq(m.qkv_bias, 0);
    static const struct { const char *name; int l, h, d; } sizes[] = {
        {"tiny", 4, 4, 128}, {"gpt2-medium", 24, 16, 1024}, {"gpt2-large", 36, 20, 1280}, {"gpt2-xl", 48, 25, 1600}};
    for (size_t i = 0; i < LW_ARRAY_LEN(sizes); i++) {
        cr_assert_eq(cfg_model_preset(sizes[i].name, &m), 0, "%s", sizes[i].name);
        cr_assert_eq(m.n_layer, sizes[i].l, "%s", sizes[i].name);
        cr_assert_eq(m.n_head, sizes[i].h, "%s", sizes[i].name);
        cr_assert_eq(m.d_model, sizes[i].d, "%s", sizes[i].name);
        cr_assert_eq(m.d_model % m.n_head, 0, "%s", sizes[i].name);
    }
    Config c;
    cfg_defaults(&c);
    cfg_model_preset("tiny", &m);
    cr_assert_eq(m.context_length, c.model.context_length);
    cr_assert_eq(m.vocab_size, c.model.vocab_size);
    cr_assert_neq(cfg_model_preset("gpt3", &m), 0);
    cr_assert_neq(cfg_model_preset("", &m), 0);
}

/* ---------------------------------------------------------------------------------------------------------- */

Test(cfg_presets, every_shipped_preset_loads_and_validates) {
    DIR *d = opendir("configs");
    cr_assert_not_null(d, "run the tests from the repository root");
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "configs/%s", de->d_name);
        Config c;
        LwError e = {0};
        cr_assert_eq(cfg_load(&c, path, &e), 0, "%s: %s", path, e.msg);
        if (c.finetune.init_from[0] && access(c.finetune.init_from, F_OK) != 0) {
            /* finetuning presets start from a run the user makes first (runs/default/latest): until it exists,
             * validation must say so, and nothing else may be wrong */
            cr_assert_neq(cfg_validate(&c, &e), 0, "%s: a missing init_from must fail validation", path);
            cr_assert(strstr(e.msg, "finetune.init_from"), "%s: %s", path, e.msg);
            c.finetune.init_from[0] = 0;
        }
        cr_assert_eq(cfg_validate(&c, &e), 0, "%s: %s", path, e.msg);
        cr_assert_str_eq(c.source, path);
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(l - 5), de->d_name);
        cr_assert_str_eq(c.name, stem, "%s: name", path);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 6, "expected default, gpt2-{small,medium,large,xl} and tiny-words");
}

Test(cfg_presets, default_yaml_equals_builtin_defaults) {
    /* configs/default.yaml spells the defaults out; only the data path differs (resolved to absolute). */
    Config file, def;
    load_ok(&file, "configs/default.yaml");
    cfg_defaults(&def);
    cr_assert_str_eq(file.data.paths[0], abs_path("corpora/austen_prideprejudice.txt"));
    memset(&file.data.paths, 0, sizeof file.data.paths);
    memset(&def.data.paths, 0, sizeof def.data.paths);
    assert_same_config(&file, &def, "default.yaml vs cfg_defaults");
}

Test(cfg_presets, gpt2_small_is_the_book_124m) {
    Config c;
    load_ok(&c, "configs/gpt2-small.yaml");
    cr_assert_str_eq(c.model.preset, "gpt2-small");
    cr_assert_eq(c.model.n_layer, 12);
    cr_assert_eq(c.model.n_head, 12);
    cr_assert_eq(c.model.d_model, 768);
    cr_assert_eq(c.model.context_length, 1024);
    cr_assert_eq(c.model.vocab_size, 50257);
    cr_assert_float_eq(c.model.dropout, 0.1f, 1e-7);
    cr_assert_eq(c.model.qkv_bias, 0);
    cr_assert_eq(c.tokenizer.kind, TOK_GPT2);
    cr_assert_str_eq(c.tokenizer.path, abs_path("corpora/gpt2"), "default GPT-2 tokenizer dir next to configs/");
    cr_assert_float_eq(c.train.lr, 4e-4f, 1e-10);
    cr_assert_float_eq(c.train.weight_decay, 0.1f, 1e-7);
    cr_assert_eq(c.train.batch_size, 2);
    cr_assert_float_eq(c.train.epochs, 10.0f, 1e-7);
    cr_assert_eq(c.train.eval_every, 5);
    cr_assert_eq(c.train.eval_batches, 5);
    cr_assert_eq(c.train.seed, 123);
    /* inherited from default.yaml through base: */
    cr_assert_str_eq(c.probe.text, "It is a truth universally acknowledged, that a single man");
}

Test(cfg_presets, larger_gpt2_presets_inherit_gpt2_small) {
    static const struct { const char *file; int l, h, d; } p[] = {
        {"configs/gpt2-medium.yaml", 24, 16, 1024},
        {"configs/gpt2-large.yaml", 36, 20, 1280},
        {"configs/gpt2-xl.yaml", 48, 25, 1600},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(p); i++) {
        Config c;
        load_ok(&c, p[i].file);
        cr_assert_eq(c.model.n_layer, p[i].l, "%s", p[i].file);
        cr_assert_eq(c.model.n_head, p[i].h, "%s", p[i].file);
        cr_assert_eq(c.model.d_model, p[i].d, "%s", p[i].file);
        cr_assert_eq(c.model.vocab_size, 50257, "%s", p[i].file);
        cr_assert_eq(c.tokenizer.kind, TOK_GPT2, "%s", p[i].file);
        cr_assert_float_eq(c.train.lr, 4e-4f, 1e-10, "%s", p[i].file);
        cr_assert_eq(c.train.batch_size, 2, "%s", p[i].file);
    }
}

Test(cfg_presets, tiny_words) {
    Config c;
    load_ok(&c, "configs/tiny-words.yaml");
    cr_assert_eq(c.tokenizer.kind, TOK_WORDS);
    cr_assert_eq(c.model.vocab_size, c.tokenizer.vocab_size, "model.vocab_size follows the tokenizer");
    cr_assert_eq(c.model.n_layer, 4);
    cr_assert_eq(c.data.n_paths, 1);
    cr_assert_str_eq(c.data.paths[0], abs_path("corpora/wells_war_of_the_worlds.txt"));
}

/* ---------------------------------------------------------------------------------------------------------- */

Test(cfg_base, child_overrides_base) {
    Config c;
    load_ok(&c, "tests/configs/good/child.yaml");
    cr_assert_str_eq(c.name, "child", "name comes from the file loaded, not the base");
    cr_assert_eq(c.model.n_layer, 2, "overridden");
    cr_assert_eq(c.model.n_head, 4, "from the base");
    cr_assert_float_eq(c.train.lr, 1e-3f, 1e-10);
    cr_assert_float_eq(c.train.min_lr, 3e-4f, 1e-10, "from the base");
    cr_assert_eq(c.train.seed, UINT64_MAX);
    cr_assert_eq(c.data.n_paths, 1, "a single string is a list of one");
    cr_assert_str_eq(c.data.paths[0], abs_path("corpora/austen_emma.txt"), "resolved against the file's dir");
}

Test(cfg_base, preset_name_next_to_file_and_two_levels) {
    Config c;
    load_ok(&c, "tests/configs/good/grandchild.yaml"); /* base: child -> child.yaml -> configs/default.yaml */
    cr_assert_str_eq(c.name, "grand");
    cr_assert_eq(c.train.steps, 10);
    cr_assert_eq(c.model.n_layer, 2, "from child");
    cr_assert_eq(c.train.warmup, 50, "from default");
    cr_assert_eq(c.finetune.n_labels, 2);
    cr_assert_str_eq(c.finetune.labels[0], "pos");
    cr_assert_str_eq(c.finetune.labels[1], "neg");
}

Test(cfg_base, explicit_model_keys_beat_the_preset_in_any_order) {
    Config c;
    load_ok(&c, "tests/configs/good/preset_order.yaml");
    cr_assert_str_eq(c.model.preset, "gpt2-medium");
    cr_assert_eq(c.model.n_layer, 3, "n_layer is written before the preset but wins");
    cr_assert_eq(c.model.n_head, 16);
    cr_assert_eq(c.model.d_model, 1024);
    cr_assert_float_eq(c.model.dropout, 0.0f, 1e-9);
    cr_assert_eq(c.model.vocab_size, 1024, "tokenizer is bpe 1024: the vocabulary follows it, not the preset");
}

Test(cfg_base, vocab_follows_tokenizer_across_bases) {
    Config c;
    load_ok(&c, "tests/configs/good/child_of_gpt2.yaml");
    cr_assert_eq(c.model.n_layer, 12);
    cr_assert_eq(c.tokenizer.kind, TOK_BPE);
    cr_assert_eq(c.model.vocab_size, 4096);
    LwError e = {0};
    cr_assert_eq(cfg_validate(&c, &e), 0, "%s", e.msg);
}

Test(cfg_base, classify_run_validates) {
    Config c;
    LwError e = {0};
    load_ok(&c, "tests/configs/good/classify.yaml");
    cr_assert_eq(c.finetune.mode, FT_CLASSIFY);
    cr_assert_eq(c.finetune.n_labels, 2);
    cr_assert_eq(c.finetune.lora_rank, 8);
    cr_assert_eq(c.finetune.train_last_blocks, 2);
    cr_assert_float_eq(c.data.test_fraction, 0.2f, 1e-7);
    cr_assert_eq(cfg_validate(&c, &e), 0, "%s", e.msg);
}

Test(cfg_base, unusual_but_valid_yaml) {
    Config c;
    load_ok(&c, "tests/configs/good/quirks.yaml");
    cr_assert_str_eq(c.name, "quirky run: \"x\"\tnew");
    cr_assert_eq(c.model.n_layer, 2);
    cr_assert_eq(c.model.d_model, 64);
    cr_assert_eq(c.data.n_paths, 2);
    cr_assert_str_eq(c.train.sample_prompt, "Über — naïve “quotes”");
    cr_assert_eq(c.train.eval_batches, 30, "an alias reads the anchored value");
    cr_assert_float_eq(c.train.epochs, 1.5f, 1e-7);
    cr_assert_eq(c.finetune.n_labels, 1);
    cr_assert_eq(c.finetune.balance, 1);
    cr_assert_str_eq(c.finetune.lora_targets, "attn, head");
}

/* ---------------------------------------------------------------------------------------------------------- */

typedef struct BadCase {
    const char *file;    /* under tests/configs/bad/ */
    const char *where;   /* expected "file:line:col" suffix right after the path */
    const char *needle1; /* substrings the message must contain */
    const char *needle2;
} BadCase;

static const BadCase bad_cases[] = {
    {"unknown_key.yaml", ":3:3:", "model.n_heads: unknown key", "did you mean 'n_head'?"},
    {"unknown_section.yaml", ":3:1:", "trian: unknown section", "did you mean 'train'?"},
    {"key_outside_section.yaml", ":3:1:", "lr: unknown section", "'train.lr'"},
    {"bad_int.yaml", ":4:15:", "train.batch_size:", "expected an integer, got 'abc'"},
    {"int_given_float.yaml", ":2:10:", "train.steps:", "expected an integer, got '10.5'"},
    {"bad_float.yaml", ":2:7:", "train.lr:", "expected a number, got 'fast'"},
    {"bad_bool.yaml", ":2:13:", "model.qkv_bias:", "expected true or false"},
    {"out_of_range.yaml", ":3:12:", "model.n_layer:", "between 1 and 256"},
    {"bad_enum.yaml", ":3:9:", "tokenizer.kind:", "bpe, gpt2, bytes, words"},
    {"syntax.yaml", ":4:6:", "YAML syntax error", "flow sequence at line 3"},
    {"tabs.yaml", ":3:1:", "tabs are not allowed", "spaces"},
    {"duplicate.yaml", ":4:3:", "train.lr: duplicate key", "line 2"},
    {"empty.yaml", ":1:1:", "empty", NULL},
    {"comments_only.yaml", ":1:1:", "empty", NULL},
    {"bad_utf8.yaml", ":2:13:", "not valid UTF-8", "0xe9"},
    {"not_mapping.yaml", ":1:1:", "top level must be a mapping", "got a list"},
    {"section_scalar.yaml", ":1:8:", "model: expected a mapping", NULL},
    {"missing_base.yaml", ":1:7:", "base: no such preset or file 'no-such-preset'", NULL},
    {"list_of_maps.yaml", ":4:7:", "data.paths:", "list of strings"},
    {"lora_targets.yaml", ":3:17:", "finetune.lora_targets:", "'mlp'"},
};

Test(cfg_errors, each_malformed_class_names_file_line_col_and_key) {
    for (size_t i = 0; i < LW_ARRAY_LEN(bad_cases); i++) {
        const BadCase *b = &bad_cases[i];
        char path[256], prefix[300];
        snprintf(path, sizeof path, "tests/configs/bad/%s", b->file);
        snprintf(prefix, sizeof prefix, "%s%s ", path, b->where);
        Config c, before;
        cfg_defaults(&c);
        c.train.steps = 777; /* a marker: a failed load must leave c untouched */
        memcpy(&before, &c, sizeof c);
        LwError e = {0};
        int rc = cfg_load(&c, path, &e);
        cr_assert_neq(rc, 0, "%s should fail", path);
        cr_assert_eq(e.code, rc);
        cr_expect(strncmp(e.msg, prefix, strlen(prefix)) == 0, "%s: message '%s' should start with '%s'", b->file,
                  e.msg, prefix);
        cr_expect_not_null(strstr(e.msg, b->needle1), "%s: '%s' lacks '%s'", b->file, e.msg, b->needle1);
        if (b->needle2) cr_expect_not_null(strstr(e.msg, b->needle2), "%s: '%s' lacks '%s'", b->file, e.msg, b->needle2);
        cr_expect_null(strchr(e.msg, '\n'), "one line");
        cr_expect(memcmp(&c, &before, sizeof c) == 0, "%s: c was modified", b->file);
    }
}

Test(cfg_errors, base_cycle) {
    Config c;
    LwError e = {0};
    cr_assert_neq(cfg_load(&c, "tests/configs/bad/cycle_a.yaml", &e), 0);
    cr_assert_not_null(strstr(e.msg, "cycle_b.yaml:1:7: base: cycle"), "%s", e.msg);
    cr_assert_not_null(strstr(e.msg, "cycle_a.yaml"), "%s", e.msg);
}

Test(cfg_errors, error_inside_a_base_names_the_base_file) {
    Config c;
    LwError e = {0};
    cr_assert_neq(cfg_load(&c, "tests/configs/bad/base_has_error.yaml", &e), 0);
    cr_assert_not_null(strstr(e.msg, "unknown_key.yaml:3:3: model.n_heads: unknown key"), "%s", e.msg);
}

Test(cfg_errors, missing_file) {
    Config c;
    LwError e = {0};
    cr_assert_eq(cfg_load(&c, "tests/configs/no_such.yaml", &e), LW_ERR_IO);
    cr_assert_not_null(strstr(e.msg, "tests/configs/no_such.yaml"), "%s", e.msg);
    cr_assert_neq(cfg_load(&c, "tests/configs", &e), 0, "a directory is not a config");
}

Test(cfg_errors, validate_cross_field) {
    static const struct { const char *file, *needle1, *needle2; } v[] = {
        {"v_heads.yaml", "model.d_model: 130 is not divisible by model.n_head (4)", NULL},
        {"v_missing_data.yaml", "data.paths: no such file", "no_such_novel.txt"},
        {"v_gpt2_vocab.yaml", "model.vocab_size: must be 50257", "got 32000"},
        {"v_lora_rank.yaml", "finetune.lora_rank: 128 exceeds model.d_model (64)", NULL},
        {"v_classify_no_data.yaml", "data.paths: no data files", "classify"},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(v); i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/configs/bad/%s", v[i].file);
        Config c;
        load_ok(&c, path);
        LwError e = {0};
        cr_assert_neq(cfg_validate(&c, &e), 0, "%s should not validate", path);
        cr_expect(strncmp(e.msg, path, strlen(path)) == 0, "'%s' should name %s", e.msg, path);
        cr_expect_not_null(strstr(e.msg, v[i].needle1), "'%s' lacks '%s'", e.msg, v[i].needle1);
        if (v[i].needle2) cr_expect_not_null(strstr(e.msg, v[i].needle2), "'%s' lacks '%s'", e.msg, v[i].needle2);
    }
}

Test(cfg_errors, validate_other_combinations) {
    Config c;
    LwError e = {0};
    cfg_defaults(&c);
    c.train.min_lr = 1.0f;
    cr_assert_neq(cfg_validate(&c, &e), 0);
    cr_assert_not_null(strstr(e.msg, "train.min_lr"), "%s", e.msg);
    cfg_defaults(&c);
    c.train.steps = 0;
    cr_assert_neq(cfg_validate(&c, &e), 0, "neither steps nor epochs");
    cfg_defaults(&c);
    cr_assert_eq(cfg_set(&c, "data.paths=corpora/classify/uci_sentiment_sentences.tsv", &e), 0, "%s", e.msg);
    c.finetune.mode = FT_CLASSIFY;
    c.finetune.train_last_blocks = 9;
    cr_assert_neq(cfg_validate(&c, &e), 0);
    cr_assert_not_null(strstr(e.msg, "finetune.train_last_blocks"), "%s", e.msg);
    cfg_defaults(&c);
    c.tokenizer.vocab_size = 2048; /* model.vocab_size stays 1024: too small */
    cr_assert_neq(cfg_validate(&c, &e), 0);
    cr_assert_not_null(strstr(e.msg, "model.vocab_size"), "%s", e.msg);
    cfg_defaults(&c);
    c.finetune.mode = FT_INSTRUCT; /* the default novel left in data.paths */
    cr_assert_neq(cfg_validate(&c, &e), 0);
    cr_assert_not_null(strstr(e.msg, "data.paths: finetune.mode instruct needs an Alpaca JSON"), "%s", e.msg);
    cr_assert_eq(cfg_set(&c, "data.paths=corpora/classify/uci_sentiment_sentences.tsv", &e), 0, "%s", e.msg);
    cr_assert_neq(cfg_validate(&c, &e), 0, "a TSV is not an instruction set");
    cr_assert_eq(cfg_set(&c, "finetune.mode=classify", &e), 0, "%s", e.msg);
    cr_assert_eq(cfg_validate(&c, &e), 0, "%s", e.msg);
    cfg_defaults(&c);
    snprintf(c.finetune.init_from, sizeof c.finetune.init_from, "runs/no-such-checkpoint");
    cr_assert_neq(cfg_validate(&c, &e), 0);
    cr_assert_not_null(strstr(e.msg, "finetune.init_from"), "%s", e.msg);
}

/* ---------------------------------------------------------------------------------------------------------- */

Test(cfg_set, applies_with_the_same_checks) {
    Config c;
    LwError e = {0};
    load_ok(&c, "configs/default.yaml");
    cr_assert_eq(cfg_set(&c, "train.lr=0.001", &e), 0, "%s", e.msg);
    cr_assert_float_eq(c.train.lr, 1e-3f, 1e-10);
    cr_assert_eq(cfg_set(&c, "model.n_layer = 6", &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.n_layer, 6);
    cr_assert_eq(cfg_set(&c, "name=my run", &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.name, "my run");
    cr_assert_eq(cfg_set(&c, "finetune.labels=pos,neg", &e), 0, "%s", e.msg);
    cr_assert_eq(c.finetune.n_labels, 2);
    cr_assert_str_eq(c.finetune.labels[1], "neg");
    cr_assert_eq(cfg_set(&c, "data.paths=[corpora/austen_emma.txt, corpora/melville_moby_dick.txt]", &e), 0, "%s",
                 e.msg);
    cr_assert_eq(c.data.n_paths, 2);
    cr_assert_str_eq(c.data.paths[1], abs_path("corpora/melville_moby_dick.txt"), "--set paths: relative to cwd");
    cr_assert_eq(cfg_set(&c, "train.sample_prompt=Once upon: a time", &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.train.sample_prompt, "Once upon: a time");
    cr_assert_eq(cfg_set(&c, "train.sample_prompt=\"  spaced \"", &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.train.sample_prompt, "  spaced ", "one pair of quotes is stripped");
    /* the vocabulary follows the tokenizer through --set too */
    cr_assert_eq(cfg_set(&c, "tokenizer.kind=gpt2", &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.vocab_size, 50257);
    cr_assert_str_eq(c.tokenizer.path, abs_path("corpora/gpt2"));
    cr_assert_eq(cfg_set(&c, "tokenizer.kind=bytes", &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.vocab_size, 257);
    cr_assert_eq(cfg_set(&c, "model.preset=gpt2-large", &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.n_layer, 36);
    cr_assert_eq(c.model.vocab_size, 257, "preset dims, vocabulary from the tokenizer");
    cr_assert_eq(cfg_validate(&c, &e), 0, "%s", e.msg);
}

Test(cfg_set, errors_name_the_assignment) {
    static const struct { const char *set, *needle; } v[] = {
        {"train.lr=abc", "--set 'train.lr=abc': train.lr: expected a number, got 'abc'"},
        {"train.lr=-1", "train.lr: must be between"},
        {"model.n_heads=3", "did you mean 'n_head'?"},
        {"modle.n_head=3", "modle: unknown section (did you mean 'model'?)"},
        {"lr=3", "did you mean 'train.lr'?"},
        {"train.lr", "expected section.key=value"},
        {"tokenizer.kind=spm", "bpe, gpt2, bytes, words"},
        {"finetune.labels=a,b,a", "duplicate entry 'a'"},
        {"train.seed=-5", "train.seed"},
        {"base=gpt2-small", "cannot be changed with --set"},
        {"model.qkv_bias=2", "expected true or false"},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(v); i++) {
        Config c, before;
        LwError e = {0};
        cfg_defaults(&c);
        memcpy(&before, &c, sizeof c);
        cr_assert_neq(cfg_set(&c, v[i].set, &e), 0, "%s should fail", v[i].set);
        cr_expect_not_null(strstr(e.msg, v[i].needle), "'%s' lacks '%s'", e.msg, v[i].needle);
        char quoted[128];
        snprintf(quoted, sizeof quoted, "'%s'", v[i].set);
        cr_expect_not_null(strstr(e.msg, quoted), "'%s' should name the assignment", e.msg);
        cr_expect(memcmp(&c, &before, sizeof c) == 0, "%s: c modified on error", v[i].set);
    }
}

/* One key says where the LayerNorm goes for every architecture; model.norm, its old name for encdec, is still read
 * because every checkpoint written before stores both keys (layer_norm auto and norm post for gpt and bert). */
Test(cfg_set, layer_norm_is_one_key_and_model_norm_its_old_name, .init = make_tmpdir, .fini = remove_tmpdir) {
    Config c;
    LwError e = {0};
    load_ok(&c, "configs/transformer-translate.yaml");
    cr_assert_eq(c.model.layer_norm, NORM_POST, "encdec names post");
    cr_assert_eq(cfg_set(&c, "model.layer_norm=pre", &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.layer_norm, NORM_PRE);
    cr_assert_eq(cfg_set(&c, "model.norm=post", &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.layer_norm, NORM_POST, "the old name sets the key on encdec");
    cr_assert_eq(c.model.old_norm, NORM_AUTO, "and is consumed");
    cr_assert_eq(cfg_validate(&c, &e), 0, "%s", e.msg);
    cr_assert_neq(cfg_set(&c, "model.norm=sideways", &e), 0);
    cr_assert_not_null(strstr(e.msg, "auto, post, pre"), "%s", e.msg);
    /* the dump and the reference hold the new name only */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_dump(&c, f);
    fclose(f);
    cr_assert_not_null(strstr(text, "\n  layer_norm: post\n"), "%s", text);
    cr_assert_null(strstr(text, "\n  norm:"), "the old name is not written");
    free(text);
    text = NULL;
    f = open_memstream(&text, &len);
    cfg_write_docs(f);
    fclose(f);
    cr_assert_null(strstr(text, "| `norm` |"), "the old name is not documented as a key");
    free(text);
    /* checkpoints written before: an encdec one keeps its pre-LN, a gpt or bert one ignores norm: post */
    static const struct { const char *yaml; int want; } old[] = {
        {"model:\n  arch: encdec\n  layer_norm: auto\n  norm: pre\ntrain:\n  task: translate\n", NORM_PRE},
        {"model:\n  arch: encdec\n  layer_norm: auto\n  norm: post\ntrain:\n  task: translate\n", NORM_POST},
        {"model:\n  arch: gpt\n  layer_norm: auto\n  norm: post\n", NORM_AUTO},
        {"model:\n  arch: bert\n  layer_norm: pre\n  norm: post\ntrain:\n  task: mlm\n", NORM_PRE},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(old); i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/old%zu.yaml", tmpdir, i);
        write_text(path, old[i].yaml, strlen(old[i].yaml));
        load_ok(&c, path);
        cr_assert_eq(c.model.layer_norm, old[i].want, "%s", old[i].yaml);
        cr_assert_eq(c.model.old_norm, NORM_AUTO);
    }
    /* post is for the post-LN architectures only */
    cfg_defaults(&c);
    cr_assert_eq(cfg_set(&c, "model.layer_norm=post", &e), 0, "%s", e.msg);
    cr_assert_neq(cfg_validate(&c, &e), 0);
    cr_assert_not_null(strstr(e.msg, "model.layer_norm: post is for model.arch bert and encdec"), "%s", e.msg);
}

/* ---------------------------------------------------------------------------------------------------------- */

static void roundtrip(const Config *c, const char *what) {
    char path[128];
    snprintf(path, sizeof path, "%s/dump.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cfg_dump(c, f);
    fclose(f);
    Config back;
    LwError e = {0};
    cr_assert_eq(cfg_load(&back, path, &e), 0, "%s: reloading the dump: %s", what, e.msg);
    assert_same_config(c, &back, what);
}

Test(cfg_dump, dump_load_roundtrip, .init = make_tmpdir, .fini = remove_tmpdir) {
    const char *files[] = {"configs/default.yaml",         "configs/gpt2-small.yaml",
                           "configs/gpt2-xl.yaml",         "configs/tiny-words.yaml",
                           "tests/configs/good/child.yaml", "tests/configs/good/grandchild.yaml",
                           "tests/configs/good/quirks.yaml", "tests/configs/good/preset_order.yaml",
                           "tests/configs/good/classify.yaml"};
    for (size_t i = 0; i < LW_ARRAY_LEN(files); i++) {
        Config c;
        load_ok(&c, files[i]);
        roundtrip(&c, files[i]);
    }
    /* odd values survive: every float bit, control characters, quotes, the largest seed */
    Config c;
    LwError e = {0};
    load_ok(&c, "configs/default.yaml");
    c.train.lr = 1.0f / 3.0f;
    c.model.dropout = 0.123456789f;
    c.train.seed = UINT64_MAX;
    memset(c.probe.text, 0, sizeof c.probe.text); /* the loader zero-fills strings; so must we */
    snprintf(c.probe.text, sizeof c.probe.text, "a\"b\\c\td\ne\x01 f: [g] #h");
    cr_assert_eq(cfg_set(&c, "finetune.mode=instruct", &e), 0, "%s", e.msg);
    cr_assert_eq(cfg_set(&c, "finetune.template=phi3", &e), 0, "%s", e.msg);
    roundtrip(&c, "odd values");
}

Test(cfg_dump, defaults_dump_has_absolute_paths, .init = make_tmpdir, .fini = remove_tmpdir) {
    Config c, back;
    LwError e = {0};
    cfg_defaults(&c);
    char path[128];
    snprintf(path, sizeof path, "%s/defaults.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    cfg_dump(&c, f);
    fclose(f);
    cr_assert_eq(cfg_load(&back, path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(back.data.paths[0], abs_path("corpora/austen_prideprejudice.txt"));
    cr_assert_eq(cfg_validate(&back, &e), 0, "%s", e.msg);
    cr_assert_str_eq(back.name, "default");
}

Test(cfg_dump, docs_cover_the_schema_and_match_the_committed_file) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_write_docs(f);
    fclose(f);
    const char *needles[] = {"## `model`", "## `tokenizer`", "## `data`", "## `train`", "## `finetune`",
                             "## `probe`", "| `n_head` | integer | `4` | 1 to 256 |", "| `kind` | one of | `bpe` |",
                             "| `lora_targets` |", "| `snapshot_every` |", "| `base` |", "`gpt2-xl`",
                             "must be 50257", "did you mean"};
    for (size_t i = 0; i < LW_ARRAY_LEN(needles); i++)
        cr_expect_not_null(strstr(buf, needles[i]), "docs lack '%s'", needles[i]);
    char *committed = NULL;
    size_t clen = 0;
    LwError e = {0};
    cr_assert_eq(lw_read_file("docs/config.md", &committed, &clen, &e), 0, "%s", e.msg);
    cr_expect(clen == len && memcmp(committed, buf, len) == 0,
              "docs/config.md is stale: regenerate it with cfg_write_docs (llmwb config --docs > docs/config.md)");
    free(committed);
    free(buf);
}

/* ---------------------------------------------------------------------------------------------------------- */

/* Loads text from a scratch file; must either succeed or fail with a one-line message, never crash. */
static void load_mutant(const char *text, size_t len, int *n_ok, int *n_err) {
    char path[128];
    snprintf(path, sizeof path, "%s/m.yaml", tmpdir);
    write_text(path, text, len);
    Config c;
    LwError e = {0};
    if (cfg_load(&c, path, &e) == 0) {
        (*n_ok)++;
        cfg_validate(&c, &e);
        char *out = NULL;
        size_t olen = 0;
        FILE *f = open_memstream(&out, &olen);
        cfg_dump(&c, f);
        fclose(f);
        free(out);
    } else {
        (*n_err)++;
        cr_assert_neq(e.msg[0], 0, "empty error message");
        cr_assert_null(strchr(e.msg, '\n'), "multi-line message: %s", e.msg);
        cr_assert(strncmp(e.msg, path, strlen(path)) == 0, "message does not name the file: %s", e.msg);
    }
}

Test(cfg_fuzz, truncations_and_mutations_never_crash, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 60) {
    const char *sources[] = {"configs/default.yaml", "tests/configs/good/quirks.yaml"};
    int n_ok = 0, n_err = 0;
    Rng rng;
    rng_seed(&rng, 42);
    static const char special[] = ":-[]{},#&*!|>'\"%@`\t\n \\?~0123456789.e\xc3\xa9\xff";
    for (size_t s = 0; s < LW_ARRAY_LEN(sources); s++) {
        char *text;
        size_t len;
        LwError e = {0};
        cr_assert_eq(lw_read_file(sources[s], &text, &len, &e), 0, "%s", e.msg);
        /* quirks.yaml's relative paths point into the repo; make them fail harmlessly from /tmp */
        for (size_t cut = 0; cut <= len; cut += 7) load_mutant(text, cut, &n_ok, &n_err);
        char *m = lw_malloc(len + 64);
        for (int it = 0; it < 1500; it++) {
            memcpy(m, text, len);
            size_t mlen = len;
            int edits = 1 + (int)rng_below(&rng, 3);
            for (int k = 0; k < edits && mlen > 2; k++) {
                size_t pos = rng_below(&rng, (uint32_t)mlen);
                switch (rng_below(&rng, 4)) {
                case 0: m[pos] = special[rng_below(&rng, sizeof special - 1)]; break;       /* replace */
                case 1:                                                                    /* delete a span */
                {
                    size_t want = (size_t)rng_below(&rng, 12) + 1; /* LW_MIN evaluates twice */
                    size_t n = LW_MIN(mlen - pos, want);
                    memmove(m + pos, m + pos + n, mlen - pos - n);
                    mlen -= n;
                    break;
                }
                case 2:                                                                    /* insert */
                    if (mlen + 1 < len + 64) {
                        memmove(m + pos + 1, m + pos, mlen - pos);
                        m[pos] = special[rng_below(&rng, sizeof special - 1)];
                        mlen++;
                    }
                    break;
                default: m[pos] ^= (char)(1u << rng_below(&rng, 8)); break;                /* bit flip */
                }
            }
            load_mutant(m, mlen, &n_ok, &n_err);
        }
        free(m);
        free(text);
    }
    /* the loop must exercise both outcomes, or it tests nothing */
    cr_assert_gt(n_ok, 50, "ok=%d err=%d", n_ok, n_err);
    cr_assert_gt(n_err, 500, "ok=%d err=%d", n_ok, n_err);
}
