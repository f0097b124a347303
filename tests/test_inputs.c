/* test_inputs.c — hostile inputs (issue 10) and `config --check` collecting every error (issue 9): deeply nested
 * YAML refused before libyaml does quadratic work, things that are not files (directories, FIFOs, symlink loops)
 * named for what they are, tokenizer files of the wrong shape, an empty lessons directory, and key scripts with
 * out-of-bounds numbers, long lines and unknown words. Inputs live in tests/inputs/ and tests/configs/bad/ (or are
 * built here when they are large or not plain files). Runs from the repository root. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "config.h"
#include "finetune.h"
#include "lesson.h"
#include "script.h"
#include "testbin.h"
#include "util.h"

static char g_tmp[128];

static void tmp_make(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/llmwb-inputs-%d", (int)getpid());
    lw_rmtree(g_tmp);
    cr_assert_eq(mkdir(g_tmp, 0700), 0);
}
static void tmp_remove(void) { lw_rmtree(g_tmp); }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *repeat(const char *unit, int n, const char *tail) {
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = lw_malloc(ul * (size_t)n + tl + 1);
    for (int i = 0; i < n; i++) memcpy(s + ul * (size_t)i, unit, ul);
    memcpy(s + ul * (size_t)n, tail, tl + 1);
    return s;
}

/* ---- YAML: nesting and node count are bounded before the document is built ---- */

TestSuite(inputs_yaml, .timeout = 20);

Test(inputs_yaml, deep_nesting_fails_at_once_naming_the_place) {
    /* 100,000 levels: minutes in libyaml's document loader before the bound; must now take milliseconds */
    static const struct { const char *unit, *tail, *at; } cases[] = {
        {"[", "", "deep.yaml:1:17:"},
        {"{", "", "deep.yaml:1:17:"},
        {"- ", "x\n", "deep.yaml:1:33:"},
        {"{a: ", "1", "deep.yaml:1:65:"},
        {"model: [", "", "deep.yaml:1:"},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(cases); i++) {
        char *text = repeat(cases[i].unit, 100000, cases[i].tail);
        Config c;
        LwError e = {0};
        double t0 = now_s();
        int rc = cfg_load_text(&c, "deep.yaml", text, strlen(text), &e);
        double dt = now_s() - t0;
        free(text);
        cr_assert_eq(rc, LW_ERR_PARSE, "case %zu: %s", i, e.msg);
        cr_expect(strncmp(e.msg, cases[i].at, strlen(cases[i].at)) == 0, "case %zu: '%s' should start with '%s'", i,
                  e.msg, cases[i].at);
        cr_expect(strstr(e.msg, "nested more than 16 levels"), "case %zu: %s", i, e.msg);
        cr_expect_lt(dt, 1.0, "case %zu took %.2f s", i, dt);
    }
}

Test(inputs_yaml, deep_block_mapping_file) {
    Config c;
    LwError e = {0};
    cr_assert_eq(cfg_load(&c, "tests/configs/bad/deep_block.yaml", &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "tests/configs/bad/deep_block.yaml:17:33: nested more than 16 levels"), "%s", e.msg);
}

Test(inputs_yaml, too_many_nodes) {
    char *text = repeat("a, ", 20000, "a]\n");
    char *full = lw_malloc(strlen(text) + 32);
    sprintf(full, "data:\n  paths: [%s", text);
    free(text);
    Config c;
    LwError e = {0};
    cr_assert_eq(cfg_load_text(&c, "many.yaml", full, strlen(full), &e), LW_ERR_PARSE);
    free(full);
    cr_assert(strstr(e.msg, "many.yaml:2:") && strstr(e.msg, "more than 10000 YAML nodes"), "%s", e.msg);
}

Test(inputs_yaml, ordinary_configs_are_within_the_bounds) {
    const char *text = "model:\n  n_layer: 2\ndata:\n  paths: [a.txt, b.txt]\n";
    Config c;
    LwError e = {0};
    cr_assert_eq(cfg_load_text(&c, "ok.yaml", text, strlen(text), &e), 0, "%s", e.msg);
    cr_assert_eq(c.model.n_layer, 2);
    cr_assert_eq(c.data.n_paths, 2);
}

/* ---- config --check: every error, each its own line with file:line:col ---- */

typedef struct Msgs {
    char m[32][LW_ERRLEN];
    int n;
} Msgs;

static void collect(void *ud, const char *msg) {
    Msgs *ms = ud;
    cr_assert_null(strchr(msg, '\n'), "one line: %s", msg);
    if (ms->n < 32) snprintf(ms->m[ms->n++], LW_ERRLEN, "%s", msg);
}

static int has_msg(const Msgs *ms, const char *prefix, const char *needle) {
    for (int i = 0; i < ms->n; i++)
        if (!strncmp(ms->m[i], prefix, strlen(prefix)) && strstr(ms->m[i], needle)) return 1;
    return 0;
}

static void dump_msgs(const Msgs *ms) {
    for (int i = 0; i < ms->n; i++) fprintf(stderr, "  %s\n", ms->m[i]);
}

Test(inputs_check, every_error_in_one_run) {
    const char *f = "tests/configs/bad/many_errors.yaml";
    static const struct { const char *at, *what; } want[] = {
        {":3:12: ", "model.n_layer: expected an integer, got 'abc'"},
        {":4:3: ", "model.n_heads: unknown key (did you mean 'n_head'?)"},
        {":7:7: ", "train.lr: expected a number, got 'fast'"},
        {":8:15: ", "train.batch_size: must be between 1 and 65536"},
        {":9:1: ", "trian: unknown section (did you mean 'train'?)"},
        {":5:12: ", "model.d_model: 130 is not divisible by model.n_head (4)"},
        {":12:10: ", "data.paths: no such file"},
    };
    Msgs ms = {0};
    int n = cfg_check(f, NULL, 0, collect, &ms);
    if (n != (int)LW_ARRAY_LEN(want)) dump_msgs(&ms);
    cr_assert_eq(n, (int)LW_ARRAY_LEN(want), "%d errors", n);
    for (size_t i = 0; i < LW_ARRAY_LEN(want); i++) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s%s", f, want[i].at);
        if (!has_msg(&ms, prefix, want[i].what)) dump_msgs(&ms);
        cr_expect(has_msg(&ms, prefix, want[i].what), "no '%s%s'", prefix, want[i].what);
    }
    /* the loader used by train stops at the first, as before */
    Config c;
    LwError e = {0};
    cr_assert_neq(cfg_load(&c, f, &e), 0);
    cr_assert(strstr(e.msg, ":3:12: model.n_layer"), "%s", e.msg);
}

Test(inputs_check, overrides_and_bases_are_checked_too) {
    const char *sets[] = {"train.steps=-1", "model.bogus=1", "train.lr=1e-3"};
    Msgs ms = {0};
    int n = cfg_check("tests/configs/bad/base_has_error.yaml", sets, 3, collect, &ms);
    cr_assert_eq(n, 3, "%d errors", n);
    cr_assert(has_msg(&ms, "", "unknown_key.yaml:3:3: model.n_heads: unknown key"), "the base's error");
    cr_assert(has_msg(&ms, "--set 'train.steps=-1'", "must be between 0 and"));
    cr_assert(has_msg(&ms, "--set 'model.bogus=1'", "model.bogus: unknown key"));
    ms.n = 0;
    cr_assert_eq(cfg_check("configs/default.yaml", NULL, 0, collect, &ms), 0, "%s", ms.m[0]);
    ms.n = 0;
    cr_assert_eq(cfg_check("tests/configs/bad/syntax.yaml", NULL, 0, collect, &ms), 1, "a syntax error ends its file");
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

Test(inputs_check, cli_prints_one_line_per_error_and_exits_2) {
    char out[8192];
    cr_assert_eq(tb_run_llmwb("config -c tests/configs/bad/many_errors.yaml --check", out, sizeof out), 2, "%s", out);
    cr_assert_eq(count_lines(out), 7, "%s", out);
    cr_assert(strstr(out, "llmwb: tests/configs/bad/many_errors.yaml:9:1: trian: unknown section"), "%s", out);
    cr_assert_eq(tb_run_llmwb("config -c configs/default.yaml --check", out, sizeof out), 0, "%s", out);
}

/* ---- things that are not regular files ---- */

TestSuite(inputs_files, .init = tmp_make, .fini = tmp_remove, .timeout = 20);

Test(inputs_files, fifo_directory_and_symlink_loop_are_named) {
    char fifo[256], dir[256], loop[256];
    snprintf(fifo, sizeof fifo, "%s/fifo.txt", g_tmp);
    snprintf(dir, sizeof dir, "%s/dir.txt", g_tmp);
    snprintf(loop, sizeof loop, "%s/loop.txt", g_tmp);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(symlink("loop.txt", loop), 0);
    static const struct { const char *what; } kinds[] = {{"a FIFO"}, {"a directory"}, {"a symlink loop"}};
    const char *paths[] = {fifo, dir, loop};
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(lw_file_problem(paths[i]), kinds[i].what);
        char *d;
        size_t n;
        LwError e = {0};
        double t0 = now_s();
        cr_assert_eq(lw_read_file(paths[i], &d, &n, &e), LW_ERR_IO);
        cr_assert_lt(now_s() - t0, 1.0, "a FIFO must not block the reader");
        cr_assert(strstr(e.msg, paths[i]) && strstr(e.msg, kinds[i].what), "%s", e.msg);
        /* the config's data path */
        Config c;
        cfg_defaults(&c);
        char set[400];
        snprintf(set, sizeof set, "data.paths=%s", paths[i]);
        cr_assert_eq(cfg_set(&c, set, &e), 0, "%s", e.msg);
        cr_assert_neq(cfg_validate(&c, &e), 0);
        cr_assert(strstr(e.msg, kinds[i].what) && !strstr(e.msg, "no such file"), "%s", e.msg);
        /* a config file */
        cr_assert_neq(cfg_load(&c, paths[i], &e), 0);
        cr_assert(strstr(e.msg, kinds[i].what), "%s", e.msg);
    }
    cr_assert_str_eq(lw_file_problem("/no/such/file"), "no such file");
    cr_assert_null(lw_file_problem("configs/default.yaml"));
}

Test(inputs_files, tokenizer_file_that_is_a_directory) {
    char p[256];
    snprintf(p, sizeof p, "%s/encoder.json", g_tmp);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/vocab.bpe", g_tmp);
    FILE *f = fopen(p, "w");
    fclose(f);
    Tokenizer *t;
    LwError e = {0};
    cr_assert_neq(tok_load_dir(&t, g_tmp, &e), 0);
    cr_assert(strstr(e.msg, "encoder.json: is a directory, not a tokenizer file"), "%s", e.msg);
}

Test(inputs_files, lesson_that_is_a_fifo_and_an_empty_lessons_directory) {
    Course c;
    char err[1200], p[256];
    /* empty: used to call qsort(NULL, 0, ...), undefined behaviour (UBSan in make asan) */
    cr_assert_neq(course_load_dir(&c, g_tmp, NULL, err, sizeof err), 0);
    cr_assert(strstr(err, "no lesson files"), "%s", err);
    snprintf(p, sizeof p, "%s/01-fifo.md", g_tmp);
    cr_assert_eq(mkfifo(p, 0600), 0);
    double t0 = now_s();
    cr_assert_neq(course_load_dir(&c, g_tmp, NULL, err, sizeof err), 0);
    cr_assert_lt(now_s() - t0, 1.0);
    cr_assert(strstr(err, "01-fifo.md: is a FIFO"), "%s", err);
}

/* ---- tokenizer files of the wrong shape ---- */

Test(inputs_tok, encoder_json_of_the_wrong_type) {
    Tokenizer *t;
    LwError e = {0};
    cr_assert_eq(tok_load_gpt2(&t, "tests/inputs/encoder_array.json", "corpora/gpt2/vocab.bpe", &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "tests/inputs/encoder_array.json: expected a JSON object of token ids"), "%s", e.msg);
    cr_assert(strstr(e.msg, "got an array") && !strstr(e.msg, "-1"), "%s", e.msg);
    cr_assert_eq(tok_load_gpt2(&t, "tests/inputs/encoder_string.json", "corpora/gpt2/vocab.bpe", &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "got a string"), "%s", e.msg);
    cr_assert_eq(tok_load_gpt2(&t, "tests/inputs/script_bad_key.txt", "corpora/gpt2/vocab.bpe", &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "not valid JSON (error near byte 0)"), "%s", e.msg);
}

Test(inputs_tok, empty_or_cut_vocab_bpe_is_refused) {
    Tokenizer *t;
    LwError e = {0};
    cr_assert_eq(tok_load_gpt2(&t, "corpora/gpt2/encoder.json", "tests/inputs/empty_vocab.bpe", &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "tests/inputs/empty_vocab.bpe: no merges (an empty file?), so 50000 tokens"), "%s", e.msg);
    cr_assert_eq(tok_load_gpt2(&t, "corpora/gpt2/encoder.json", "tests/inputs/cut_vocab.bpe", &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "no merge makes 49999 of the tokens"), "%s", e.msg);
    cr_assert_eq(tok_load_gpt2(&t, "corpora/gpt2/encoder.json", "corpora/gpt2/vocab.bpe", &e), 0, "%s", e.msg);
    cr_assert_eq(tok_n_merges(t), 50000);
    tok_free(t);
}

/* ---- key scripts ---- */

Test(inputs_script, bad_scripts_name_file_line_and_column) {
    static const struct { const char *file, *at, *what; } cases[] = {
        {"script_huge_resize.txt", ":3:8: ", "resize: width and height must be between 1 and 1000"},
        {"script_huge_frames.txt", ":1:14: ", "sleep-frames: must be between 0 and 100000"},
        {"script_nan_timeout.txt", ":1:9: ", "timeout: expected seconds, got 'nan'"},
        {"script_inf_timeout.txt", ":1:9: ", "timeout: expected seconds, got 'inf'"},
        {"script_bad_key.txt", ":2:5: ", "unknown key 'NoSuchKey'"},
        {"script_bad_number.txt", ":1:12: ", "wait-steps: expected a whole number, got '12abc'"},
        {"script_long_line.txt", ":1:1024: ", "line longer than 1023 bytes"},
        {"script_unknown_command.txt", ":2:1: ", "unknown command 'frobnicate'"},
        {"script_dump_path.txt", ":1:6: ", "dump: needs a file name (no '/'"},
        {"script_quit_arg.txt", ":1:6: ", "quit: takes no argument"},
        {"script_nul.txt", ":1:7: ", "NUL byte"},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(cases); i++) {
        char path[256], prefix[300], err[1200];
        snprintf(path, sizeof path, "tests/inputs/%s", cases[i].file);
        snprintf(prefix, sizeof prefix, "%s%s%s", path, cases[i].at, cases[i].what);
        Script sc;
        cr_expect_neq(script_load(&sc, path, err, sizeof err), 0, "%s should fail", path);
        cr_expect(strncmp(err, prefix, strlen(prefix)) == 0, "'%s' should start with '%s'", err, prefix);
        cr_expect_eq(sc.n, 0);
    }
    Script sc;
    char err[1200];
    cr_assert_neq(script_load(&sc, "tests/inputs", err, sizeof err), 0, "a directory is not a script");
    cr_assert(strstr(err, "tests/inputs: is a directory"), "%s", err);
}

Test(inputs_script, the_shipped_scripts_parse) {
    Script sc;
    char err[1200];
    cr_assert_eq(script_load(&sc, "tests/tui_scripts/tour.txt", err, sizeof err), 0, "%s", err);
    cr_assert_gt(sc.n, 20);
    int resizes = 0;
    for (int i = 0; i < sc.n; i++)
        if (sc.cmds[i].op == SC_RESIZE) {
            resizes++;
            cr_assert(sc.cmds[i].n >= 60 && sc.cmds[i].m >= 20);
        }
    cr_assert_eq(resizes, 2);
    script_free(&sc);
    const char *t = "  # comment\n\nkey C-n\ntype  two spaces kept \ntimeout 2.5\r\nresize 80 24\n";
    cr_assert_eq(script_parse(&sc, "mem", t, strlen(t), err, sizeof err), 0, "%s", err);
    cr_assert_eq(sc.n, 4);
    cr_assert_eq(sc.cmds[0].n, 14);
    cr_assert_str_eq(sc.cmds[1].text, "two spaces kept ");
    cr_assert_float_eq(sc.cmds[2].secs, 2.5, 1e-9);
    cr_assert_eq(sc.cmds[3].line, 6);
    script_free(&sc);
}

Test(inputs_script, cli_exits_2_naming_the_file) {
    char out[4096];
    cr_assert_eq(tb_run_llmwb("tui -c tests/tui_scripts/e2e.yaml --script tests/inputs/script_huge_resize.txt", out,
                         sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "tests/inputs/script_huge_resize.txt:3:8: resize"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    cr_assert_eq(tb_run_llmwb("tui -c tests/tui_scripts/e2e.yaml --script tests/inputs", out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "is a directory"), "%s", out);
}

/* ---- inputs found by the fuzz targets (tests/fuzz/), kept as regression tests ---- */

Test(inputs_fuzz, tsv_text_that_makes_no_tokens) {
    /* NUL bytes end the text column early: no tokens, and cls_load copied from a NULL vector (UBSan) */
    Tokenizer *tok = tok_new_bytes();
    FinetuneCfg ft;
    memset(&ft, 0, sizeof ft);
    ft.truncate = 1;
    snprintf(ft.labels[0], sizeof ft.labels[0], "neg");
    snprintf(ft.labels[1], sizeof ft.labels[1], "pos");
    ft.n_labels = 2;
    ClsData d;
    LwError e = {0};
    int rc = cls_load(&d, "tests/inputs/fuzz_tsv_no_tokens.tsv", &ft, tok, 2, &e);
    cr_assert_neq(rc, 0, "a text with no tokens is an error");
    cr_assert(strstr(e.msg, "tests/inputs/fuzz_tsv_no_tokens.tsv:"), "%s", e.msg);
    tok_free(tok);
}
