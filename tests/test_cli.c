/* test_cli.c — the headless CLI as a script uses it: exit codes, one-line errors, --help agreeing with the man
 * page, tokenize, and a train → generate round trip. Needs LLMWB_BIN (set by `make test`). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static const char *bin(void) {
    const char *b = getenv("LLMWB_BIN");
    if (!b) cr_skip_test("LLMWB_BIN is not set (run through make test)");
    return b;
}

/* Runs `LLMWB_BIN args` through the shell; captures stdout+stderr into out (malloc'd); returns the exit status. */
static int run(const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1 </dev/null", bin(), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TestSuite(cli, .timeout = 120);

Test(cli, help_lists_every_command_of_the_man_page) {
    char *out;
    cr_assert_eq(run("--help", &out), 0);
    char *man;
    cr_assert_eq(lw_read_file("docs/llmwb.1", &man, NULL, NULL), LW_OK);
    const char *cmds[] = {"tui", "train", "generate", "chat", "merge", "classify", "translate", "tokenize", "bpe train", "config", "import-gpt2"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[64];
        snprintf(want, sizeof want, "  %s ", cmds[i]);
        cr_expect(strstr(out, want), "--help does not list '%s'", cmds[i]);
        char manwant[64];
        snprintf(manwant, sizeof manwant, ".B llmwb %s", cmds[i]);
        if (strcmp(cmds[i], "tui") && strcmp(cmds[i], "import-gpt2")) cr_expect(strstr(man, manwant), "the man page does not list '%s'", cmds[i]);
        if (!strcmp(cmds[i], "import-gpt2")) cr_expect(strstr(man, ".B llmwb import\\-gpt2"));
    }
    const char *opts[] = {"--steps", "--resume", "--run-dir", "--set", "--ckpt", "--prompt", "--temperature",
                          "--top-k", "--top-p", "--max-tokens", "--seed", "--ids", "--vocab", "--color", "--check",
                          "--dump", "--docs", "--out", "--no-mouse", "--theme", "--script", "--train",
                          "--beam", "--align"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        cr_expect(strstr(out, opts[i]), "--help lacks %s", opts[i]);
        char esc[64];
        size_t k = 0;
        for (const char *p = opts[i]; *p && k < sizeof esc - 2; p++) {
            if (*p == '-') esc[k++] = '\\';
            esc[k++] = *p;
        }
        esc[k] = 0;
        cr_expect(strstr(man, esc), "the man page lacks %s", opts[i]);
    }
    free(man);
    free(out);
}

Test(cli, unknown_command_and_option_exit_2) {
    char *out;
    cr_assert_eq(run("frobnicate", &out), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
    cr_assert_eq(count_lines(out), 1);
    free(out);
    cr_assert_eq(run("train -c configs/default.yaml --bogus", &out), 2);
    cr_assert(strstr(out, "unknown option '--bogus'"), "%s", out);
    free(out);
    cr_assert_eq(run("generate --ckpt /nonexistent/ckpt --prompt hi", &out), 2);
    cr_assert(strstr(out, "/nonexistent/ckpt"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    free(out);
}

Test(cli, bad_config_names_file_line_column_and_key) {
    char dir[] = "/tmp/llmwb-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "model:\n  n_layer: 2\n  n_heads: 4\n");
    fclose(f);
    char args[512], *out;
    snprintf(args, sizeof args, "config -c %s --check", path);
    cr_assert_eq(run(args, &out), 2);
    char want[300];
    snprintf(want, sizeof want, "%s:3:3:", path);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert(strstr(out, "n_head"), "no suggestion: %s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    free(out);
    snprintf(args, sizeof args, "train -c %s", path);
    cr_assert_eq(run(args, &out), 2);
    free(out);
    lw_rmtree(dir);
}

Test(cli, tokenize_gpt2_ids) {
    char *out;
    cr_assert_eq(run("tokenize --vocab gpt2 --ids 'Hello, do you like tea? <|endoftext|> In the sunlit terracesof someunknownPlace.'", &out), 0);
    cr_assert_str_eq(out, "15496 11 466 345 588 8887 30 220 50256 554 262 4252 18250 8812 2114 1659 617 34680 27271 13\n");
    free(out);
    cr_assert_eq(run("tokenize --vocab gpt2 'hello world'", &out), 0);
    cr_assert(strstr(out, "31373 995"), "%s", out);
    cr_assert(strstr(out, "2 tokens"), "%s", out);
    free(out);
}

Test(cli, train_then_generate) {
    char dir[] = "/tmp/llmwb-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char args[1024], *out;
    snprintf(args, sizeof args,
             "train -c configs/default.yaml --steps 6 --run-dir %s/run --set data.max_chars=40000 --set "
             "tokenizer.vocab_size=300 --set model.n_layer=1 --set model.d_model=32 --set model.n_head=2 --set "
             "model.context_length=32 --set train.batch_size=2 --set train.eval_every=3 --set train.threads=1",
             dir);
    int rc = run(args, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "checkpoint in"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "generate --ckpt %s/run/latest --prompt 'It is' --max-tokens 5 --ids --seed 1", dir);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    int n = 0;
    for (char *p = strtok(out, " \n"); p; p = strtok(NULL, " \n")) {
        char *end;
        long id = strtol(p, &end, 10);
        cr_assert(*end == 0 && id >= 0 && id < 300, "bad id '%s'", p);
        n++;
    }
    cr_assert(n >= 1 && n <= 5, "%d ids", n);
    free(out);
    /* the checkpoint is a Hugging Face GPT-2 directory */
    const char *files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors",
                           "trainer_state.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/run/latest/%s", dir, files[i]);
        cr_expect(lw_file_exists(p), "missing %s", p);
    }
    lw_rmtree(dir);
}

Test(cli, import_gpt2_from_a_hugging_face_directory) {
    char dir[] = "/tmp/llmwb-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char args[512], *out;
    /* tests/ref/hf-tiny: a tiny GPT-2 in Hugging Face's layout written by tests/make_hf_tiny.py (PyTorch) */
    snprintf(args, sizeof args, "import-gpt2 tests/ref/hf-tiny --out %s/ck", dir);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "36096 parameters, 2 layers, 2 heads, d_model 32, context 32, vocab 300"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "generate --ckpt %s/ck --prompt 'ab' --max-tokens 4 --ids --temperature 0", dir);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_assert(strlen(out) > 1, "%s", out);
    free(out);
    cr_assert_eq(run("import-gpt2 tests/vectors", &out), 2);
    cr_assert(strstr(out, "tests/vectors"), "%s", out);
    free(out);
    lw_rmtree(dir);
}
