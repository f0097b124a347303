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

/* The man page spells '-' as '\-'. */
static void man_escape(const char *s, char *out, size_t n) {
    size_t k = 0;
    for (; *s && k + 3 < n; s++) {
        if (*s == '-') out[k++] = '\\';
        out[k++] = *s;
    }
    out[k] = 0;
}

/* The text from the first line starting with start up to (not including) the next line starting with one of the
 * stops after it; a malloc'd copy, or NULL when start is absent. */
static char *section(const char *doc, const char *start, const char *const *stops) {
    const char *a = NULL;
    for (const char *p = doc; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, start, strlen(start))) {
            a = p;
            break;
        }
    if (!a) return NULL;
    const char *b = a + strlen(a);
    for (const char *p = strchr(a, '\n'); p; p = strchr(p + 1, '\n'))
        for (const char *const *s = stops; *s; s++)
            if (!strncmp(p + 1, *s, strlen(*s)) && p + 1 < b) b = p + 1;
    size_t n = (size_t)(b - a);
    char *r = malloc(n + 1);
    memcpy(r, a, n);
    r[n] = 0;
    return r;
}

/* Every command listed by `llmwb --help` answers `CMD --help` and `CMD -h` (exit 0) with its own synopsis; every
 * option its help lists is in the man page's synopsis line and COMMANDS entry for that command and in the user
 * guide's section for it, and every option of the man page's synopsis line is in the command's help. */
Test(cli, every_command_helps_itself_and_agrees_with_man_page_and_guide) {
    char *top, *man, *guide;
    cr_assert_eq(run("--help", &top), 0);
    cr_assert_eq(lw_read_file("docs/llmwb.1", &man, NULL, NULL), LW_OK);
    cr_assert_eq(lw_read_file("docs/user-guide.md", &guide, NULL, NULL), LW_OK);
    const char *want_cmds[] = {"tui", "lesson", "demo", "export", "train", "generate", "chat", "merge", "classify", "fill", "translate",
                               "lens", "ablate", "heads", "tokenize", "bpe", "config", "import-gpt2"};
    int n_cmds = 0;
    for (char *line = top; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "  ", 2) || !(line[2] >= 'a' && line[2] <= 'z')) continue;
        char cmd[32];
        cr_assert_eq(sscanf(line + 2, "%31s", cmd), 1);
        n_cmds++;
        const char *full = !strcmp(cmd, "bpe") ? "bpe train" : cmd;
        char args[96], *help, *help2;
        snprintf(args, sizeof args, "%s --help", cmd);
        cr_assert_eq(run(args, &help), 0, "%s: %s", args, help);
        char want[96];
        snprintf(want, sizeof want, "usage: llmwb %s ", full);
        cr_expect(!strncmp(help, want, strlen(want)), "`llmwb %s` prints another usage: %.80s", args, help);
        snprintf(args, sizeof args, "%s -h", full);
        cr_assert_eq(run(args, &help2), 0, "%s", args);
        cr_expect_str_eq(help2, help, "-h and --help differ for %s", cmd);
        free(help2);
        snprintf(args, sizeof args, "help %s", cmd);
        cr_assert_eq(run(args, &help2), 0, "%s", args);
        cr_expect_str_eq(help2, help, "llmwb help %s differs from %s --help", cmd, cmd);
        free(help2);

        /* the man page: the synopsis line after ".B llmwb CMD" and the COMMANDS entry ".B CMD" */
        char esc[64], key[96];
        man_escape(full, esc, sizeof esc);
        snprintf(key, sizeof key, ".B llmwb %s\n", esc);
        if (!strcmp(cmd, "tui")) snprintf(key, sizeof key, ".B llmwb\n");
        char *syn = strstr(man, key);
        cr_assert(syn, "the man page's synopsis lacks %s", full);
        syn += strlen(key);
        char synline[1024];
        snprintf(synline, sizeof synline, "%.*s", (int)strcspn(syn, "\n"), syn);
        snprintf(key, sizeof key, ".TP\n.B %s\n", esc);
        const char *entry = strstr(man, key);
        cr_assert(entry, "the man page's COMMANDS lacks %s", full);
        const char *entry_end = strstr(entry + strlen(key), "\n.TP\n.B ");
        if (!entry_end) entry_end = strstr(entry, "\n.SH ");
        cr_assert(entry_end);
        /* the user guide: "### `llmwb CMD`" up to the next heading; tui's options are under "## Starting" */
        static const char *const stops[] = {"## ", "### ", NULL};
        char head[96];
        snprintf(head, sizeof head, "### `llmwb %s`", full);
        char *gsec = section(guide, !strcmp(cmd, "tui") ? "## Starting" : head, stops);
        cr_assert(gsec, "the user guide has no section %s", head);

        int n_opts = 0;
        for (char *l = help; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (strncmp(l, "  -", 3)) continue;
            /* "  -c, --config CONFIG   help": the long name */
            char *dd = strstr(l, "--");
            cr_assert(dd && dd < strchr(l, '\n'), "%s: no long option in '%.40s'", cmd, l);
            char opt[48];
            snprintf(opt, sizeof opt, "%.*s", (int)strcspn(dd, " \n"), dd);
            n_opts++;
            if (!strcmp(opt, "--help")) continue;
            char mopt[96], malias[16] = "", gopt[64];
            man_escape(opt, mopt, sizeof mopt);
            if (l[3] != '-') { /* "  -c, --config": the synopsis may use the short form */
                char alias[4] = {'-', l[3], 0, 0};
                man_escape(alias, malias, sizeof malias);
                strcat(malias, "\\fR");
            }
            cr_expect(strstr(synline, mopt) || (malias[0] && strstr(synline, malias)),
                      "the man page's synopsis of %s lacks %s", full, opt);
            const char *hit = strstr(entry, mopt);
            cr_expect(hit && hit < entry_end, "the man page's entry for %s lacks %s", full, opt);
            snprintf(gopt, sizeof gopt, "`%s", opt);
            cr_expect(strstr(gsec, gopt), "the user guide's section for %s lacks %s", full, opt);
        }
        cr_expect_gt(n_opts, 1, "%s --help lists no options", cmd);
        /* the reverse: every \-\-option of the man page's synopsis line is in the help */
        for (char *p = strstr(synline, "\\-\\-"); p; p = strstr(p + 4, "\\-\\-")) {
            char opt[48];
            size_t k = 0;
            for (const char *q = p; *q && k + 1 < sizeof opt; q++) {
                if (q[0] == '\\' && q[1] == '-') q++;
                else if (!(*q >= 'a' && *q <= 'z')) break;
                opt[k++] = *q;
            }
            opt[k] = 0;
            char needle[64];
            snprintf(needle, sizeof needle, "%s ", opt);
            cr_expect(strstr(help, needle) || strstr(help, opt), "%s: the man page has %s, --help does not", cmd,
                      opt);
        }
        free(gsec);
        free(help);
    }
    cr_expect_eq(n_cmds, (int)(sizeof want_cmds / sizeof *want_cmds), "llmwb --help lists %d commands", n_cmds);
    for (size_t i = 0; i < sizeof want_cmds / sizeof *want_cmds; i++) {
        char w[48];
        snprintf(w, sizeof w, "\n  %s ", want_cmds[i]);
        cr_expect(strstr(top, w), "llmwb --help does not list %s", want_cmds[i]);
    }
    free(guide);
    free(man);
    free(top);
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
    cr_assert(strstr(out, "training default: 23,296 parameters (23,296 trainable), 1 layers"), "%s", out);
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

Test(cli, train_bert_then_fill_the_mask) {
    char dir[] = "/tmp/llmwb-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char args[1024], *out;
    snprintf(args, sizeof args,
             "train -c configs/bert-tiny.yaml --steps 4 --run-dir %s/run --set data.max_chars=40000 --set "
             "tokenizer.vocab_size=300 --set model.n_layer=1 --set model.d_model=32 --set model.n_head=2 --set "
             "model.context_length=32 --set train.batch_size=2 --set train.eval_every=2 --set train.threads=1",
             dir);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "unigram baseline"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "fill --ckpt %s/run/latest --top-k 3 'a _ man, a [MASK]'", dir);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "[MASK] 1") && strstr(out, "[MASK] 2") && !strstr(out, "[MASK] 3"), "%s", out);
    int pct = 0;
    for (const char *p = out; (p = strchr(p, '%')); p++) pct++;
    cr_assert_eq(pct, 6, "3 candidates with a probability for each mask: %s", out);
    free(out);
    snprintf(args, sizeof args, "fill --ckpt %s/run/latest 'no blank'", dir);
    cr_assert_eq(run(args, &out), 2, "%s", out);
    cr_assert(strstr(out, "[MASK]") && count_lines(out) == 1, "%s", out);
    free(out);
    cr_assert_eq(run("fill --ckpt /nonexistent/ckpt 'a _'", &out), 2, "%s", out);
    free(out);
    char p[512];
    snprintf(p, sizeof p, "%s/run/latest/config.json", dir);
    char *js;
    cr_assert_eq(lw_read_file(p, &js, NULL, NULL), LW_OK);
    cr_assert(strstr(js, "\"model_type\":\t\"bert\""), "%s", js);
    free(js);
    lw_rmtree(dir);
}

Test(cli, import_gpt2_from_a_hugging_face_directory) {
    char dir[] = "/tmp/llmwb-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char args[512], *out;
    /* tests/ref/hf-tiny: a tiny GPT-2 in Hugging Face's layout written by tests/make_hf_tiny.py (PyTorch) */
    snprintf(args, sizeof args, "import-gpt2 tests/ref/hf-tiny --out %s/ck", dir);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "36,096 parameters, 2 layers, 2 heads, d_model 32, context 32, vocab 300"), "%s", out);
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

Test(cli, options_of_another_command_and_help_values_are_told_apart) {
    char *out;
    cr_assert_eq(run("train -c configs/default.yaml --ckpt x", &out), 2);
    cr_assert(strstr(out, "option '--ckpt' does not apply"), "%s", out);
    cr_assert(strstr(out, "see llmwb train --help"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    free(out);
    /* "--help" as the value of --prompt is a prompt, not a request for help */
    cr_assert_eq(run("generate --prompt --help", &out), 2);
    cr_assert(strstr(out, "--ckpt DIR is required"), "%s", out);
    free(out);
    /* tui, lesson and demo parse their options in ui/: an error names the command it came from */
    cr_assert_eq(run("demo --bogus", &out), 2);
    cr_assert(strstr(out, "llmwb demo: unknown option '--bogus' (see llmwb demo --help)"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    free(out);
    cr_assert_eq(run("help frobnicate", &out), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
    free(out);
}

Test(cli, classify_refuses_empty_and_blank_text) {
    const char *cases[] = {"classify --ckpt tests/ref/hf-tiny ''", "classify --ckpt tests/ref/hf-tiny '  \t '"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out;
        cr_assert_eq(run(cases[i], &out), 2, "%s: %s", cases[i], out);
        cr_assert(strstr(out, "TEXT is empty"), "%s", out);
        cr_assert_eq(count_lines(out), 1, "%s", out);
        free(out);
    }
}

/* Not a Hugging Face GPT-2 directory: one line that says what it is and what is expected. */
Test(cli, import_gpt2_names_the_layout_it_found) {
    char dir[] = "/tmp/llmwb-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char p[512], args[600], *out;
    snprintf(p, sizeof p, "%s/124M", dir); /* the book's download: OpenAI's TensorFlow checkpoint */
    cr_assert_eq(lw_mkdirs(p, NULL), LW_OK);
    const char *tf[] = {"checkpoint", "hparams.json", "model.ckpt.index", "model.ckpt.meta",
                        "model.ckpt.data-00000-of-00001", "encoder.json", "vocab.bpe"};
    for (size_t i = 0; i < sizeof tf / sizeof *tf; i++) {
        char f[600];
        snprintf(f, sizeof f, "%s/%s", p, tf[i]);
        cr_assert_eq(lw_write_file_atomic(f, "x", 1, NULL), LW_OK);
    }
    snprintf(args, sizeof args, "import-gpt2 %s", p);
    cr_assert_eq(run(args, &out), 2, "%s", out);
    cr_assert(strstr(out, "TensorFlow"), "%s", out);
    cr_assert(strstr(out, "expected a Hugging Face GPT-2 directory: config.json + model.safetensors"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/model.pth", dir); /* the book's torch.save */
    cr_assert_eq(lw_write_file_atomic(p, "x", 1, NULL), LW_OK);
    snprintf(args, sizeof args, "import-gpt2 %s", p);
    cr_assert_eq(run(args, &out), 2, "%s", out);
    cr_assert(strstr(out, "PyTorch"), "%s", out);
    cr_assert(strstr(out, "config.json + model.safetensors"), "%s", out);
    cr_assert(strstr(out, "scripts/book_pth_to_hf.py"), "the fix is named: %s", out);
    free(out);
    snprintf(args, sizeof args, "import-gpt2 %s/missing", dir);
    cr_assert_eq(run(args, &out), 2, "%s", out);
    cr_assert(strstr(out, "no such directory; expected a Hugging Face GPT-2 directory"), "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/empty", dir);
    cr_assert_eq(lw_mkdirs(p, NULL), LW_OK);
    snprintf(args, sizeof args, "generate --ckpt %s --prompt x", p);
    cr_assert_eq(run(args, &out), 2, "%s", out);
    cr_assert(strstr(out, "no config.json or model.safetensors"), "%s", out);
    free(out);
    lw_rmtree(dir);
}

/* chat: a banner; /help, /reset, /exit are commands; an unknown /word gets a hint and is not sent. */
Test(cli, chat_banner_and_slash_commands) {
    char *out;
    cr_assert_eq(run("chat --ckpt tests/ref/hf-tiny --max-tokens 6 --seed 7 < /dev/null", &out), 0, "%s", out);
    free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'ab\\n/help\\n/frob\\nab\\n/reset\\nab\\n/exit\\nab\\n' | %s chat --ckpt tests/ref/hf-tiny "
             "--max-tokens 6 --seed 7 2>/dev/null",
             bin());
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char lines[32][512];
    int n = 0;
    while (n < 32 && fgets(lines[n], sizeof lines[n], p)) n++;
    cr_assert_eq(pclose(p), 0);
    /* reply 1, 4 lines of /help, the hint, reply 2, the reset note, reply 3 (= reply 1), nothing after /exit */
    cr_assert_eq(n, 9, "%d lines", n);
    cr_expect(strstr(lines[1], "/help"), "%s", lines[1]);
    cr_expect(strstr(lines[2], "/reset"), "%s", lines[2]);
    cr_expect(strstr(lines[3], "/exit"), "%s", lines[3]);
    cr_expect(strstr(lines[5], "unknown command '/frob'"), "%s", lines[5]);
    cr_expect(strstr(lines[7], "reset"), "%s", lines[7]);
    cr_expect_str_eq(lines[8], lines[0], "after /reset the first reply comes again");
    /* the banner goes to stderr: model, checkpoint, how to quit */
    snprintf(cmd, sizeof cmd, "chat --ckpt tests/ref/hf-tiny < /dev/null");
    cr_assert_eq(run(cmd, &out), 0);
    cr_expect(strstr(out, "llmwb chat: a GPT of 36,096 parameters, 2 layers, from tests/ref/hf-tiny"), "%s", out);
    cr_expect(strstr(out, "/exit or Ctrl-D quits"), "%s", out);
    free(out);
}

/* generate --echo prints the prompt before exactly the continuation --no-echo prints. */
Test(cli, generate_echoes_the_prompt_on_request) {
    char *with, *without, *plain;
    cr_assert_eq(run("generate --ckpt tests/ref/hf-tiny --prompt 'ab' --max-tokens 5 --temperature 0 --echo", &with),
                 0, "%s", with);
    cr_assert_eq(run("generate --ckpt tests/ref/hf-tiny --prompt 'ab' --max-tokens 5 --temperature 0 --no-echo",
                     &without), 0, "%s", without);
    /* in a pipe the default is no echo */
    cr_assert_eq(run("generate --ckpt tests/ref/hf-tiny --prompt 'ab' --max-tokens 5 --temperature 0", &plain), 0);
    /* the warning about raw bytes comes first in both (2>&1) */
    const char *w = strstr(with, "\n"), *wo = strstr(without, "\n");
    cr_assert(w && wo);
    cr_expect(!strncmp(w + 1, "ab", 2), "%s", with);
    cr_expect_str_eq(w + 3, wo + 1, "echo adds the prompt and nothing else");
    cr_expect_str_eq(plain, without);
    free(with);
    free(without);
    free(plain);
}

/* Config errors that name the fix: finetuning before pretraining; a headerless SMS file. */
Test(cli, config_errors_name_the_fix) {
    char *out;
    cr_assert_eq(run("config -c configs/finetune-sentiment.yaml --set finetune.init_from=/tmp/llmwb-none/runs/default/latest --check", &out), 2);
    cr_assert(strstr(out, "pretrain first: `llmwb train -c configs/default.yaml`"), "%s", out);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    free(out);
    const char *sms = "config -c configs/finetune-sentiment.yaml --set finetune.init_from= "
                      "--set data.paths=tests/data/finetune/SMSSpamCollection";
    char args[600];
    snprintf(args, sizeof args, "%s --check", sms);
    cr_assert_eq(run(args, &out), 2);
    cr_assert(strstr(out, "finetune.tsv_columns: label,text"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "%s --set finetune.tsv_columns=label,text --check", sms);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    free(out);
    snprintf(args, sizeof args, "%s --set finetune.tsv_columns=label,body --check", sms);
    cr_assert_eq(run(args, &out), 2, "%s", out);
    cr_assert(strstr(out, "finetune.tsv_columns"), "%s", out);
    free(out);
}
