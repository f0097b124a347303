/* test_tui_e2e.c — the real `llmwb` binary driven in tmux (tests/tmuxh.h): keys with send-keys, screen text with
 * capture-pane, always WAITING for expected text with a deadline (poll every 50 ms, fail after ~20 s), never
 * sleeping a fixed time. Needs LLMWB_BIN (the binary) and LLMWB_ROOT (the repo root); `make test` sets both. Each
 * test has its own tmux server (-L llmwb-test-<pid>-<n>) and run directory, killed / removed in teardown. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmuxh.h"

static void e2e_start(void) {
    tm_prepare();
    tm_launch_tui(120, 36, "", "tests/tui_scripts/e2e.yaml", tm_run_dir());
    tm_wait("[1]Tokenizer");
}

TestSuite(tui_e2e, .init = e2e_start, .fini = tm_stop, .timeout = 120);

Test(tui_e2e, screens_training_pause_step_and_quit) {
    tm_wait("compression");                      /* the engine is open, the Tokenizer screen drew */
    tm_keys("2");
    tm_wait("wte row (token)");
    tm_keys("3");
    tm_wait("snapshot 1/");
    tm_keys("4");
    tm_wait("Loss  train:");
    tm_keys("5");
    tm_wait("Next-token probabilities");
    tm_keys("Escape");                          /* leave the chat input line */
    tm_wait("controls: t k p n");
    tm_keys("4");
    tm_wait("Loss  train:");
    cr_assert_eq(tm_step(), 0);

    /* run: the step counter increases */
    tm_keys("Space");
    tm_wait_step(3, -1);
    /* key latency while training: switch screens and time until the new screen shows */
    double lat1 = (tm_keys("2"), tm_wait("wte row (token)"));
    double lat2 = (tm_keys("4"), tm_wait("Loss  train:"));
    cr_log_info("key latency while training: %.0f ms and %.0f ms (send-keys to capture)", 1e3 * lat1, 1e3 * lat2);
    fprintf(stderr, "tui_e2e: key latency while training: %.0f ms, %.0f ms\n", 1e3 * lat1, 1e3 * lat2);
    cr_expect_lt(lat1, 1.0, "a key is handled promptly while training");

    /* pause: the counter stops */
    tm_keys("Space");
    tm_wait("PAUSED");
    long paused = tm_wait_step(0, -1);
    for (int i = 0; i < 6; i++) {               /* stays put for a while (polled, not slept) */
        tm_pause_ms(50);
        long now = tm_step();
        if (now != paused) paused = now, i = 0;  /* a step in flight when Space arrived may still land */
    }
    long stable = tm_step();
    cr_assert_eq(stable, paused);

    /* single step: +1 */
    tm_keys("s");
    tm_wait_step(0, stable + 1);
    tm_pause_ms(200);
    cr_assert_eq(tm_step(), stable + 1, "one step only");

    /* quit with unsaved training asks first; n quits without saving and restores the terminal */
    tm_keys("q");
    tm_wait("save before quit? [y/n/c]");
    tm_keys("c");
    tm_wait("Loss  train:");                    /* drawn beside the prompt too: wait for the prompt to go */
    for (double t0 = tm_now(); strstr(tm_capture(), "save before quit?") && tm_now() - t0 < TM_DEADLINE;)
        tm_pause_ms(50);
    cr_assert_null(strstr(tm_capture(), "save before quit?"), "c cancels");
    tm_keys("q");
    tm_wait("save before quit?");
    tm_keys("n");
    tm_wait("__LLMWB_EXIT_0__");
    cr_assert_null(strstr(tm_capture(), "[1]Tokenizer"), "the TUI is gone from the screen");
}

Test(tui_e2e, tokenizer_forward_and_back) {
    tm_wait("BPE merges 0/");
    tm_keys("s");
    tm_wait("BPE merges 1/");
    tm_wait("last merge #0");
    tm_keys("Right");
    tm_wait("BPE merges 2/");
    tm_keys("Left");
    tm_wait("BPE merges 1/");
    tm_keys("Left");
    tm_wait("BPE merges 0/");
    /* jump to merge 5 and back to 0 */
    tm_keys("g 5 Enter");
    tm_wait("BPE merges 5/");
    tm_keys("g 0 Enter");
    tm_wait("BPE merges 0/");
    /* encode mode shows tokens and ids, and the word's merges */
    tm_keys("e");
    tm_wait("Encode (model tokenizer)");
    tm_literal("the truth");
    tm_wait("Merges applied to");
    tm_keys("Escape");
    tm_wait("Corpus (tokens");
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e, chat_reply) {
    tm_wait("compression");
    tm_keys("5");
    tm_wait("Next-token probabilities");
    tm_literal("It is a truth");
    tm_keys("Enter");
    tm_wait("you: It is a truth");
    tm_wait("reply:");                          /* status line once the reply ended */
    cr_assert_not_null(strstr(tm_capture(), "model: "));
    cr_assert_null(strstr(tm_capture(), "(after the first reply token)"), "probability bars are shown");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e, resize_too_small_and_back) {
    tm_wait("compression");
    tm_sh("tmux -L %s resize-window -t " TM_SESSION " -x 60 -y 20", tm_server());
    tm_wait("terminal too small: need 80");
    tm_wait("have 60");
    tm_sh("tmux -L %s resize-window -t " TM_SESSION " -x 120 -y 36", tm_server());
    tm_wait("[1]Tokenizer");
    tm_wait("F10Quit");
    cr_assert_null(strstr(tm_capture(), "terminal too small"));
    tm_keys("?");
    tm_wait("Global keys");
    tm_keys("Escape");
    tm_wait("press ? for help");
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e, ctrl_c_restores_the_terminal) {
    tm_wait("compression");
    tm_keys("4 Space");
    tm_wait_step(1, -1);
    tm_keys("C-c");                             /* SIGINT while training: quit at once, no prompt */
    tm_wait("__LLMWB_EXIT_130__");
    cr_assert_null(strstr(tm_capture(), "[1]Tokenizer"));
}

/* ---- scripted mode (--script): the same loop, headless, writing screen text for golden comparisons ---- */

static char *e2e_slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

Test(tui_script, tour_dumps_every_screen, .timeout = 120) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/llmwb-script-%d", (int)getpid());
    int rc = tm_sh("rm -rf '%s' && mkdir -p '%s' && cd '%s' && LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' tui "
                   "-c tests/tui_scripts/e2e.yaml --run-dir '%s/run' --script tests/tui_scripts/tour.txt "
                   "--dump-dir '%s' 2>'%s/stderr.txt'",
                   dir, dir, root, bin, dir, dir, dir);
    char path[256];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    const char *err = e2e_slurp(path);
    cr_assert_eq(rc, 0, "the tour script failed: %s", err ? err : "");
    static const struct { const char *file, *text; } want[] = {
        {"tokenizer", "BPE merges 3/"},       {"tokenizer", "last merge #2"},
        {"tokenizer-encode", "Merges applied to"}, {"train", "Loss  train:"},
        {"train", "PAUSED"},                  {"embed", "wte row (token)"},
        {"embed", "Nearest by cosine"},       {"attention", "LIVE"},
        {"attention", "H1"},                  {"attention-zoom", "-> key 0"},
        {"chat", "you: It is a truth"},       {"chat", "model: "},
        {"help", "Global keys"},              {"too-small", "terminal too small: need 80\xc3\x97" "24, have 60\xc3\x97" "20"},
        {"frames", "draw_avg_ms"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.txt", dir, want[i].file);
        const char *t = e2e_slurp(path);
        cr_assert_not_null(t, "%s was not written", path);
        cr_assert_not_null(strstr(t, want[i].text), "%s lacks \"%s\":\n%s", path, want[i].text, t);
    }
    /* every dump is exactly 36 lines of at most 120 columns (the virtual screen) */
    snprintf(path, sizeof path, "%s/train.txt", dir);
    const char *t = e2e_slurp(path);
    int lines = 0;
    for (const char *p = t; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 36, "train.txt has %d lines", lines);
    tm_sh("rm -rf '%s'", dir);
}

Test(tui_script, bad_script_fails_cleanly) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/llmwb-script-bad-%d", (int)getpid());
    tm_sh("rm -rf '%s' && mkdir -p '%s' && printf 'key NoSuchKey\\n' > '%s/s.txt'", dir, dir, dir);
    int rc = tm_sh("cd '%s' && '%s' tui -c tests/tui_scripts/e2e.yaml --run-dir '%s/run' --script '%s/s.txt' "
                   "--dump-dir '%s' 2>'%s/err.txt'", root, bin, dir, dir, dir, dir);
    cr_assert_neq(rc, 0, "an unknown key name fails the script");
    char path[256];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    const char *err = e2e_slurp(path);
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "unknown key 'NoSuchKey'"), "stderr: %s", err);
    rc = tm_sh("'%s' tui --no-such-option >/dev/null 2>&1", bin);
    cr_assert_neq(rc, 0, "an unknown option is a usage error");
    tm_sh("rm -rf '%s'", dir);
}

/* `/` search on the Tokenizer: the match count in the status line, the matched bytes drawn in the highlight
 * style (dark theme: background 220, or its RGB in truecolor), n / N with wrapping, no match, Esc. */
Test(tui_e2e, tokenizer_search) {
    tm_wait("[PAUSED]");                         /* the BPE trainer holds the corpus excerpt */
    tm_keys("/");
    tm_literal("Bennet");
    tm_keys("Enter");
    tm_wait("match 1/9 for 'Bennet'");           /* 9 in the first 6000 bytes of Pride and Prejudice */
    const char *esc = tm_capture_escapes();
    cr_assert(strstr(esc, "220mBennet") || strstr(esc, "255;215;0mBennet"),
              "the match is highlighted; the screen was:\n%s", tm_capture());
    tm_keys("n");
    tm_wait("match 2/9 for 'Bennet'");
    tm_keys("N");
    tm_wait("match 1/9 for 'Bennet'");
    tm_keys("N");
    tm_wait("match 9/9 for 'Bennet' (search wrapped)");
    /* the 9th is far down the excerpt: the pane scrolled to it */
    cr_assert(strstr(tm_capture_escapes(), "220mBennet") || strstr(tm_capture_escapes(), "255;215;0mBennet"),
              "the 9th match is visible and highlighted:\n%s", tm_capture());
    /* a missing word says so */
    tm_keys("/");
    tm_literal("zzqq");
    tm_keys("Enter");
    tm_wait("no match for 'zzqq'");
    /* Esc cancels the prompt without searching */
    tm_keys("/");
    tm_literal("abc");
    tm_wait(" /abc");                            /* the prompt on the status line */
    tm_keys("Escape");
    double t0 = tm_now();
    while (strstr(tm_capture(), " /abc") && tm_now() - t0 < TM_DEADLINE) tm_pause_ms(50);
    cr_assert_null(strstr(tm_capture(), " /abc"), "Esc closes the prompt:\n%s", tm_capture());
    cr_assert_null(strstr(tm_capture(), "no match for 'abc'"), "Esc does not search");
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
}

/* ---- labels, errors, the chat loader, wrapping, keys and the demo, each at the size it was reported at ---- */

TestSuite(tui_e2e_more, .init = tm_prepare, .fini = tm_stop, .timeout = 150);

/* Runs a key script headless (tui --script) with the e2e config in run dir `run`, dumps into tm_run_dir(). */
static void e2e_script(const char *run, const char *script) {
    char path[512];
    snprintf(path, sizeof path, "%s/script.txt", tm_run_dir());
    tm_sh("mkdir -p '%s' && printf '%%s' '%s' > '%s'", tm_run_dir(), script, path);
    int rc = tm_sh("cd '%s' && '%s' tui -c tests/tui_scripts/e2e.yaml --run-dir '%s' --script '%s' --dump-dir '%s' "
                   "2>'%s/script-err.txt'",
                   getenv("LLMWB_ROOT"), getenv("LLMWB_BIN"), run, path, tm_run_dir(), tm_run_dir());
    snprintf(path, sizeof path, "%s/script-err.txt", tm_run_dir());
    const char *err = e2e_slurp(path);
    cr_assert_eq(rc, 0, "the script failed: %s", err ? err : "");
}

Test(tui_e2e_more, checkpoint_labels_and_the_classifier_chat) {
    /* a language model saved at step 3, then a classifier finetuned from it saved at step 2 */
    char run[400], path[600];
    snprintf(run, sizeof run, "%s/src", tm_run_dir());
    e2e_script(run, "timeout 60\nkey 4\nwait-text No steps yet\nkey s\nkey s\nkey s\nwait-steps 3\nkey S\n"
                    "wait-text /latest (step 3)\ndump saved-lm\ndemo-finetune\nwait-text naive Bayes\nkey s\nkey s\n"
                    "wait-steps 2\nkey S\nwait-text finetune/latest (step 2)\ndump saved-cls\nquit\n");
    snprintf(path, sizeof path, "%s/saved-lm.txt", tm_run_dir());
    char want[600];
    snprintf(want, sizeof want, "checkpoint saved to %s/latest (step 3)", run);
    const char *t = e2e_slurp(path);
    cr_assert(t && strstr(t, want), "S names the directory it wrote:\n%s", t ? t : "");
    cr_assert(strstr(t, "(all trainable)"), "the parameter count says what trains:\n%s", t);
    /* llmwb export titles the attention picture with the checkpoint's step */
    char out[500];
    snprintf(out, sizeof out, "%s/exports", tm_run_dir());
    cr_assert_eq(tm_sh("cd '%s' && '%s' export --run '%s' --out '%s' >/dev/null 2>&1", getenv("LLMWB_ROOT"),
                       getenv("LLMWB_BIN"), run, out), 0);
    snprintf(path, sizeof path, "%s/attention.svg", out);
    t = e2e_slurp(path);
    cr_assert(t && strstr(t, "all layers x heads, step 3</text>"), "the picture's step:\n%.300s", t ? t : "");

    /* tui --ckpt: the checkpoint's step and state on every screen, not "Step 0/0 DONE" */
    char args[700];
    snprintf(args, sizeof args, "tui --ckpt '%s/latest'", run);
    tm_launch(80, 24, "", args);
    tm_wait("Step 3  CHECKPOINT");
    tm_keys("Escape 4");
    tm_wait("Checkpoint at step 3");
    cr_assert_null(strstr(tm_capture(), "No steps yet"), "%s", tm_capture());
    cr_assert_null(strstr(tm_capture(), "DONE"));
    tm_keys("3");
    tm_wait("LIVE  step 3 ");
    /* the loader: load the classifier, then type at once (the 'o' of "wonderful" is text, not the loader) */
    tm_keys("5");
    tm_wait("Next-token probabilities");
    tm_keys("Escape o");
    tm_wait("load checkpoint");
    snprintf(path, sizeof path, "%s/finetune/latest", run);
    tm_literal(path);
    tm_keys("Enter");
    tm_wait("Step 2  CHECKPOINT");
    tm_literal("A wonderful film");
    tm_wait("> A wonderful film");
    cr_assert_null(strstr(tm_capture(), "load checkpoint ("), "the loader stays closed:\n%s", tm_capture());
    tm_keys("Enter");
    tm_wait("predicted: ");
    const char *s = tm_capture();
    cr_assert(strstr(s, "Class probabilities") && strstr(s, "you: A wonderful film"), "%s", s);
    cr_assert_null(strstr(s, "temperature"), "a classifier has no sampling controls:\n%s", s);
    cr_assert_null(strstr(s, "Next-token"), "nor a next-token note:\n%s", s);
    tm_keys("Escape q");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e_more, finetuning_before_pretraining_stays_on_screen) {
    tm_launch(80, 24, "", "tui -c tests/tui_scripts/e2e-no-pretrained.yaml");
    tm_wait("NO ENGINE");
    /* the whole message, wrapped at 80 columns: the path it names ends on a later row */
    tm_wait("no-such-pretrained-run-for-the-tui-test/latest");
    tm_wait("finetune.init_from");
    tm_keys("Space");
    tm_wait("not ready yet (it failed to open)");
    cr_assert_null(strstr(tm_capture(), "Step 0"), "nothing runs in its place:\n%s", tm_capture());
    tm_keys("4");
    tm_wait("no-such-pretrained-run-for-the-tui-test/latest");    /* on every screen, until quit */
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
}

/* NO_COLOR: the texts say what is drawn; Home/End as tmux sends them (\e[1~ \e[4~) stay on the screen; tokens/s
 * is 0 while paused. */
Test(tui_e2e_more, no_color_home_end_and_paused_rate) {
    tm_launch_tui(120, 36, "NO_COLOR=1", "tests/tui_scripts/e2e.yaml", tm_run_dir());
    tm_wait("bytes/token");
    tm_wait("tokens alternate reverse");
    cr_assert_null(strstr(tm_capture(), "cycling colours"));
    tm_keys("4");
    tm_wait("Loss  train:");
    tm_keys("Home");
    tm_keys("End");
    tm_pause_ms(300);
    cr_assert(strstr(tm_capture(), "Loss  train:") && !strstr(tm_capture(), "BPE merges"),
              "Home/End do not switch screens:\n%s", tm_capture());
    cr_assert(strstr(tm_capture(), "tokens/s    0 (not training)"));
    tm_keys("Space");
    tm_wait_step(3, -1);
    tm_keys("Space");
    tm_wait("PAUSED");
    tm_wait(" 0 tok/s");
    tm_wait("tokens/s    0 (not training)");
    /* attention in monochrome: the legend and hatched (masked) cells, zoom labels */
    tm_keys("3");
    tm_wait("masked (the future)");
    cr_assert(strstr(tm_capture(), "\xe2\x95\xb1"), "masked cells hatched:\n%s", tm_capture());
    tm_keys("Enter");
    tm_wait("query 0 ");
    cr_assert(strstr(tm_line_starting(" 1 "), "\xe2\x95\xb1"), "zoom rows hatched right of the diagonal:\n%s",
              tm_capture());
    tm_keys("z");
    tm_wait("large view (z returns)");
    tm_wait("weight 0 ");
    tm_keys("z Escape q");
    tm_wait("save before quit?");
    tm_keys("n");
    tm_wait("__LLMWB_EXIT_0__");
}

/* At 80x24 the merge log keeps its counts whole (the occurrences of the last merge appear in its row); +/- set
 * the merge speed, and at 10 merges/s the run can be watched. */
Test(tui_e2e_more, merge_log_numbers_and_speed_at_80x24) {
    tm_launch_tui(80, 24, "", "tests/tui_scripts/e2e.yaml", tm_run_dir());
    tm_wait("[PAUSED]");
    tm_keys("s s s");
    tm_wait("BPE merges 3/");
    const char *last = tm_line_with("last merge #2:");
    const char *occ = strstr(last, "(");
    cr_assert_not_null(occ, "%s", tm_capture());
    long count = strtol(occ + 1, NULL, 10);
    cr_assert_gt(count, 99, "a count of several digits: %ld", count);
    char num[32];
    snprintf(num, sizeof num, " %ld ", count);
    const char *row = tm_line_with("\xe2\x94\x82>2 ");    /* the log's cursor row "│>2 ..." */
    cr_assert(strstr(row, num), "the merge log row holds the whole count %ld: \"%s\"\n%s", count, row, tm_capture());
    tm_keys("+");
    tm_wait("merge speed: 50 merges/s");
    tm_keys("- -");
    tm_wait("merge speed: 10 merges/s");
    tm_keys("Space");
    tm_wait("[RUN]");
    cr_assert_null(strstr(tm_capture(), "merge speed:"), "the last key's message went with the next key");
    const char *info = tm_line_with("BPE merges ");
    long done = strtol(strstr(info, "BPE merges ") + 11, NULL, 10);
    cr_assert_lt(done, 40, "10 merges/s: still running after the first frames (%ld merges)", done);
    tm_wait("BPE merges 63/63");
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
}

/* At 80x24 the transcript breaks lines between words: every word of a long prompt is whole on screen. */
Test(tui_e2e_more, chat_wraps_at_words_at_80x24) {
    tm_launch_tui(80, 24, "", "tests/tui_scripts/e2e.yaml", tm_run_dir());
    tm_wait("bytes/token");
    tm_keys("5");
    tm_wait("Next-token probabilities");
    static const char *words[] = {"alphabet", "bravery", "charlie", "delta", "echoing", "foxtrot", "golfing",
                                  "hotels", "indiana", "juliett", "kilogram", "limabean", "mikado", "november",
                                  "oscars", "papaya", "quebec", "romeo", "sierra", "tangoing", "uniform",
                                  "victorian", "whiskey", "xrays"};
    char prompt[512] = "";
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        snprintf(prompt + strlen(prompt), sizeof prompt - strlen(prompt), "%s%s", i ? " " : "", words[i]);
    tm_literal(prompt);
    tm_keys("Enter");
    tm_wait("you: alphabet");
    tm_wait("xrays");
    const char *s = tm_capture();
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_assert(strstr(s, words[i]), "\"%s\" is broken across rows:\n%s", words[i], s);
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

/* The demo on a 100x30 terminal, played by hand (Space at each pause, and a second Space while it plays, which
 * must not pause the script's training), gives the same run as `demo --headless` (150x42): the same losses of all
 * four trainings, the same classifier accuracies and translation scores, and the same chat reply. The presenter
 * presses Space only when "demo paused" shows: a warning logged while a stage opens its model (the classifier's
 * "texts ... were truncated") once hid it, in the frames where the warning and the worker's "opened" message
 * arrived together (issue 9). */
Test(tui_e2e_more, demo_is_the_same_at_any_size_and_pace, .timeout = 480) {
    char r1[400], d1[400], r2[400];
    snprintf(r1, sizeof r1, "%s/headless", tm_run_dir());
    snprintf(d1, sizeof d1, "%s/dumps", tm_run_dir());
    snprintf(r2, sizeof r2, "%s/interactive", tm_run_dir());
    int rc = tm_sh("cd '%s' && '%s' demo --headless --seed 123 --run-dir '%s' --dump-dir '%s' >/dev/null 2>&1",
                   getenv("LLMWB_ROOT"), getenv("LLMWB_BIN"), r1, d1);
    cr_assert_eq(rc, 0);
    char args[512];
    snprintf(args, sizeof args, "demo --seed 123 --run-dir '%s'", r2);
    tm_launch(100, 30, "", args);
    char reply[256] = "";
    double t0 = tm_now();
    int pauses = 0, extra = 0;
    static char before[1 << 18];
    while (!strstr(tm_capture(), "the demo is over") && tm_now() - t0 < 420) {
        if (!extra && strstr(tm_capture(), "step 3/11") && strstr(tm_capture(), "State RUN")) {
            tm_keys("Space");                    /* while the script trains: must not pause it */
            extra = 1;
        }
        if (strstr(tm_capture(), "demo paused")) {
            const char *m = strstr(tm_capture(), "step 5/11");
            if (m && !reply[0]) snprintf(reply, sizeof reply, "%s", tm_line_with("model: "));
            snprintf(before, sizeof before, "%s", tm_capture());
            tm_keys("Space");
            for (double t1 = tm_now(); !strcmp(tm_capture(), before) && tm_now() - t1 < TM_DEADLINE;)
                tm_pause_ms(50);                 /* the script went on */
            pauses++;
        }
        tm_pause_ms(100);
    }
    cr_assert(extra, "a Space was pressed while stage 3 trained");
    cr_assert(strstr(tm_capture(), "the demo is over"), "the demo ended (%d pauses):\n%s", pauses, tm_capture());
    tm_keys("q");
    /* the same numbers: losses (not the wall-clock columns), accuracies, the reply */
    static const char *files[] = {"metrics.csv",         "finetune/metrics.csv",  "finetune/classify-step150.txt",
                                  "bert/metrics.csv",    "translate/metrics.csv", "translate/translate.csv",
                                  "translate/hypotheses-step400.jsonl"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p1[600], p2[600];
        snprintf(p1, sizeof p1, "%s/%s", r1, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", r2, files[i]);
        rc = tm_sh("bash -c \"cmp -s <(cut -d, -f1-4 '%s') <(cut -d, -f1-4 '%s')\"", p1, p2);
        cr_assert_eq(rc, 0, "%s differs between the headless and the interactive demo", files[i]);
    }
    char p[600];
    snprintf(p, sizeof p, "%s/stage5-chat.txt", d1);
    const char *h = e2e_slurp(p);
    cr_assert_not_null(h);
    const char *hm = strstr(h, "model: ");
    cr_assert(hm && reply[0], "the reply was seen (%s)", reply);
    char hr[64] = "", ir[64] = "";
    sscanf(hm, "model: %63[^\xe2\n]", hr);
    const char *im = strstr(reply, "model: ");
    cr_assert_not_null(im);
    sscanf(im, "model: %63[^\xe2\n]", ir);
    /* the first row of the reply (the widths differ, so compare what both rows hold) */
    for (char *q = hr + strlen(hr); q > hr && q[-1] == ' ';) *--q = '\0';
    for (char *q = ir + strlen(ir); q > ir && q[-1] == ' ';) *--q = '\0';
    size_t n = strlen(hr) < strlen(ir) ? strlen(hr) : strlen(ir);
    cr_assert_gt(n, 0, "a reply: \"%s\" / \"%s\"", hr, ir);
    cr_assert_eq(strncmp(hr, ir, n), 0, "the same chat reply: \"%s\" headless, \"%s\" interactive", hr, ir);
}

/* ---- flow control and the other ending signals (issue 10) ---- */

/* Ctrl-S is a key, not XOFF: the screen keeps updating while training runs (it froze with IXON left on). */
Test(tui_e2e, ctrl_s_does_not_freeze_the_screen) {
    tm_wait("compression");
    tm_keys("4 Space");
    long before = tm_wait_step(1, -1);
    tm_keys("C-s");
    tm_wait_step(before + 20, -1);              /* fails (frozen output) while the tty's flow control is on */
    tm_keys("C-q Space");
    tm_wait("PAUSED");
    tm_keys("q");
    tm_wait("save before quit?");
    tm_keys("n");
    tm_wait("__LLMWB_EXIT_0__");
}

/* The llmwb process in the pane (the pane's shell runs it as its child). */
static int e2e_llmwb_pid(void) {
    char cmd[256], buf[64];
    snprintf(cmd, sizeof cmd, "pgrep -P \"$(tmux -L %s display-message -p -t " TM_SESSION " '#{pane_pid}')\" -x llmwb",
             tm_server());
    FILE *p = popen(cmd, "r");
    int pid = 0;
    if (p) {
        if (fgets(buf, sizeof buf, p)) pid = atoi(buf);
        pclose(p);
    }
    cr_assert_gt(pid, 0, "no llmwb process in the pane");
    return pid;
}

/* A signal while unsaved training exists: the terminal is restored, a checkpoint is written, the exit status is
 * 128 + the signal. */
static void e2e_signal_saves(const char *how, const char *exit_text) {
    tm_wait("compression");
    tm_keys("4 Space");
    tm_wait_step(3, -1);
    if (!strcmp(how, "C-\\\\")) tm_keys("'C-\\'");
    else tm_sh("kill -%s %d", how, e2e_llmwb_pid());
    tm_wait(exit_text);
    const char *scr = tm_capture();
    cr_assert_null(strstr(scr, "[1]Tokenizer"), "the TUI is gone from the screen:\n%s", scr);
    cr_assert_not_null(strstr(scr, "saving the unsaved training first"), "%s", scr);
    char path[512];
    snprintf(path, sizeof path, "%s/latest/model.safetensors", tm_run_dir());
    cr_assert_eq(access(path, R_OK), 0, "no checkpoint at %s; the screen:\n%s", path, scr);
}

Test(tui_e2e, sighup_restores_and_saves) { e2e_signal_saves("HUP", "__LLMWB_EXIT_129__"); }
Test(tui_e2e, sigquit_key_restores_and_saves) { e2e_signal_saves("C-\\\\", "__LLMWB_EXIT_131__"); }
Test(tui_e2e, sigterm_restores_and_saves) { e2e_signal_saves("TERM", "__LLMWB_EXIT_143__"); }

/* ---- BERT (tests/tui_scripts/e2e-bert.yaml: a tiny encoder trained with train.task mlm) ---- */

/* Starts the TUI on config (relative to the repo root) at 120x36 in a fresh tmux server. */
static void e2e_start_config(const char *config) {
    tm_prepare();
    tm_launch_tui(120, 36, "", config, tm_run_dir());
    tm_wait("[1]Tokenizer");
}

static void e2e_start_bert(void) { e2e_start_config("tests/tui_scripts/e2e-bert.yaml"); }

TestSuite(tui_e2e_bert, .init = e2e_start_bert, .fini = tm_stop, .timeout = 120);

Test(tui_e2e_bert, attention_maps_are_full_squares_with_the_special_tokens_labelled) {
    tm_wait("compression");
    tm_keys("4");
    tm_wait("Masked-token accuracy (MLM)");
    tm_wait("unigram baseline (always");           /* the evaluation before the first step */
    tm_keys("3");
    tm_wait("bidirectional");                      /* the header names the kind of map */
    tm_keys("Enter");                              /* zoom: the token labels of the probe */
    tm_wait("[CLS]");
    tm_wait("[MASK]");
    tm_wait("[SEP]");
    /* the query cursor on the first token: a weight on a key to its right is shown (no masked half) */
    tm_keys("Right"), tm_wait("-> key 1"), tm_keys("Right"), tm_wait("-> key 2"), tm_keys("Right");
    tm_wait("query 0 \"[CLS]\" -> key 3");
    const char *s = tm_capture();
    cr_assert_null(strstr(s, "masked: the future"), "no key is masked in a bidirectional map:\n%s", s);
    cr_assert_null(strstr(s, "weight 0.0000 "), "[CLS] attends to a key on its right:\n%s", s);
}

Test(tui_e2e_bert, chat_fills_the_mask_and_enter_writes_a_candidate_in) {
    tm_wait("compression");
    tm_keys("5");
    tm_wait("Fill the mask");
    tm_wait("type a sentence with [MASK]");
    tm_literal("It is a _ of");
    tm_keys("Enter");
    tm_wait("filled: 1 mask");
    tm_wait("[MASK] 1 of 1");
    cr_assert(strstr(tm_capture(), "%"), "candidate bars with probabilities");
    tm_keys("Escape");                             /* control keys: the candidate cursor */
    tm_wait("Up/Down choose, Enter fills it in");
    tm_keys("Down Enter");
    tm_wait("filled in \"");
    const char *s = tm_capture(), *line = strstr(s, "> It is a");
    cr_assert_not_null(line, "the sentence is back on the input line:\n%s", s);
    cr_assert_null(strstr(line, " _ of"), "the blank is filled:\n%s", s);
    tm_keys("Enter");                              /* sent again: no mask left is a clear message */
    tm_wait("no [MASK] in the text");
}

/* ---- an encoder-decoder (model.arch: encdec, train.task: translate) ---- */
static void e2e_start_translate(void) { e2e_start_config("tests/tui_scripts/translate.yaml"); }

TestSuite(tui_translate, .init = e2e_start_translate, .fini = tm_stop, .timeout = 120);

Test(tui_translate, attention_shows_the_three_kinds_of_map) {
    tm_keys("3");
    tm_wait("x: encoder self-attention (bidirectional: full squares)");
    tm_keys("x");
    tm_wait("x: decoder self-attention (causal)");
    tm_keys("x");
    tm_wait("x: cross-attention: target rows x source columns (the alignment)");
    tm_wait("* = the source token weighed most");
    cr_assert_not_null(strstr(tm_capture(), "⋅do"), "the source tokens (\"the young dog\") head the columns");
    tm_keys("x");
    tm_wait("x: encoder self-attention");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_translate, chat_becomes_translate_with_cross_attention) {
    tm_keys("5");
    tm_wait("(after the first translated token)");
    cr_assert_not_null(strstr(tm_capture(), "0 (greedy)"), "a translator decodes greedily by default");
    tm_literal("the dog eats");
    tm_keys("Enter");
    tm_wait("source: the dog eats");
    tm_wait("reply:");
    const char *s = tm_capture();
    cr_assert_not_null(strstr(s, "translation: "), "%s", s);
    cr_assert_not_null(strstr(s, "Cross-attention of"), "%s", s);
    cr_assert_not_null(strstr(s, "Alignment (target <- source)"), "%s", s);
    cr_assert_not_null(strstr(s, "eats"), "the source tokens label the bars");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

/* ---- the screens at 80x24 and the figures of each kind of model (issues 9, 12, 13) ---- */

/* Starts the TUI on config at 80x24 (a 25-row tmux window: its status bar takes a row). */
static void e2e_start_80(const char *config) {
    tm_prepare();
    tm_launch_tui(80, 25, "", config, tm_run_dir());
    tm_wait("[1]Tokenizer");
}

static void e2e_start_80_gpt(void) { e2e_start_80("tests/tui_scripts/e2e.yaml"); }

TestSuite(tui_80x24, .init = e2e_start_80_gpt, .fini = tm_stop, .timeout = 120);

Test(tui_80x24, attention_header_legend_and_hint_fit_whole) {
    tm_wait("bytes/token");                          /* the engine is open (the 80-column form of the header) */
    cr_assert_null(strstr(tm_capture(), "terminal too small"), "the pane is 80x24:\n%s", tm_capture());
    tm_keys("3");
    tm_wait("snapshot 1/1");
    /* the header keeps every figure whole: the residual spread's two numbers are its last words */
    const char *h = tm_line_with("LIVE  step 0");
    const char *rs = strstr(h, "resid std ");
    cr_assert_not_null(rs, "the header names the residual spread: [%s]", h);
    float s0, s1;
    char end[8] = "";
    cr_assert_eq(sscanf(rs, "resid std %f->%f%7s", &s0, &s1, end), 2, "two whole numbers end the header: [%s]", h);
    cr_assert_not_null(strstr(h, "layer 0 head 0"), "[%s]", h);
    cr_assert_not_null(strstr(h, "causal"), "[%s]", h);
    /* the legend and the layer window share their row without touching */
    const char *lg = tm_line_with("weight 0 ");
    cr_assert_not_null(strstr(lg, "masked (the future)     layers 0-0 of 2 (PgUp/PgDn)"), "[%s]", lg);
    tm_keys("NPage");
    tm_wait("layers 1-1 of 2 (PgUp/PgDn)");
    tm_wait("layer 1 head 0");
    /* the hint: whole fields only, no cut */
    const char *hint = tm_line_with("Up/Down select a tile");
    cr_assert_str_eq(hint, "Up/Down select a tile, Enter zooms, a avg, <- -> scrub, o knocks the head out");
    cr_assert_null(strstr(tm_capture(), "\xe2\x80\xa6"), "nothing is cut on this screen:\n%s", tm_capture());
    /* the zoom: the cursor's weight whole, its hint narrowed to fit */
    tm_keys("Enter");
    tm_wait("query 0 \"I\" -> key 0 \"I\": weight 1.0000");    /* a causal first row: all on itself */
    const char *zh = tm_line_with("arrows move the cursor");
    cr_assert_str_eq(zh, "arrows move the cursor, , . scrub snapshots, Esc/Enter back to the grid");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_80x24, tokenizer_lists_the_special_tokens_with_their_ids) {
    tm_wait("Special tokens (model vocabulary)");
    /* e2e.yaml: 256 bytes + 63 merges, then <|endoftext|> */
    const char *l = tm_line_with("<|endoftext|>");
    cr_assert_not_null(strstr(l, "<|endoftext|> 319 between documents"), "[%s]", l);
    tm_keys("e");                                   /* encode mode: the special's text is its id */
    tm_wait("Encode (model tokenizer)");
    tm_literal("<|endoftext|>");
    tm_wait("1 tokens, 13 bytes");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

static void e2e_start_80_bert(void) { e2e_start_80("tests/tui_scripts/e2e-bert.yaml"); }

TestSuite(tui_80x24_bert, .init = e2e_start_80_bert, .fini = tm_stop, .timeout = 120);

Test(tui_80x24_bert, tokenizer_lists_bert_specials_and_attention_hides_nothing) {
    tm_wait("Special tokens (model vocabulary)");
    /* BERT's four appended after <|endoftext|> (319), lowest id first, each labelled with its role */
    static const char *const rows[] = {"<|endoftext|> 319 between documents", "[CLS]         320 starts every input",
                                       "[SEP]         321 ends a sentence", "[MASK]        322 hides a token",
                                       "[PAD]         323 fills short rows"};
    const char *prev = NULL, *s = tm_capture();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *at = strstr(s, rows[i]);
        cr_assert_not_null(at, "no \"%s\" row; the screen:\n%s", rows[i], s);
        cr_assert(!prev || at > prev, "rows in id order:\n%s", s);
        prev = at;
    }
    tm_keys("3");
    tm_wait("bidirectional");
    const char *lg = tm_line_with("weight 0 ");
    cr_assert_null(strstr(lg, "masked"), "a bidirectional map hides nothing: no hatch in its legend [%s]", lg);
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}

static void e2e_start_80_translate(void) { e2e_start_80("tests/tui_scripts/translate.yaml"); }

TestSuite(tui_80x24_translate, .init = e2e_start_80_translate, .fini = tm_stop, .timeout = 120);

Test(tui_80x24_translate, train_shows_bleu_chrf_exact_beside_the_word_by_word_baseline) {
    tm_wait("Special tokens (model vocabulary)");
    cr_assert_not_null(strstr(tm_line_with("<|endoftext|>"), "begin, end and pad"), "the translate task's marker");
    tm_keys("4");
    tm_wait("Translation on ");                     /* the held-out split named, from the baseline at open */
    const char *base = tm_line_with("word-by-word");
    float wb, wc;
    const char *w = strstr(base, "BLEU ");
    cr_assert(w && sscanf(w, "BLEU %f chrF %f", &wb, &wc) == 2, "the baseline's BLEU and chrF: [%s]", base);
    cr_assert(wb >= 0 && wb <= 100 && wc >= 0 && wc <= 100, "[%s]", base);
    tm_keys("s");                                   /* the first step: the evaluation before training */
    tm_wait("step 0: BLEU ");
    const char *ev = tm_line_with("step 0: BLEU ");
    float b, c, x;
    cr_assert_eq(sscanf(strstr(ev, "step 0: BLEU "), "step 0: BLEU %f chrF %f exact %f%%", &b, &c, &x), 3, "[%s]", ev);
    cr_assert(b >= 0 && b <= 100 && c >= 0 && c <= 100 && x >= 0 && x <= 100, "[%s]", ev);
    /* the stats column: the latest BLEU beside the baseline's */
    char want[64];
    snprintf(want, sizeof want, "(word-by-word %.1f)", wb);
    const char *st = tm_line_with(want);
    cr_assert_not_null(strstr(st, "BLEU "), "[%s]", st);
    tm_keys("F10");
    tm_wait("save before quit?");
    tm_keys("n");
    tm_wait("__LLMWB_EXIT_0__");
}

Test(tui_80x24_translate, chat_lists_the_beam_candidates_with_their_scores) {
    tm_keys("5");
    tm_wait("(w) beam width   1 (greedy)");            /* model.beam of the config: 1 */
    tm_keys("Escape");
    tm_wait("controls: t k p n w select");
    tm_keys("w + +");
    tm_wait("beam width 3: beam search");
    tm_wait("(w) beam width   3 (beam)");
    tm_keys("i");
    tm_literal("the dog");
    tm_keys("Enter");
    tm_wait("source: the dog");
    tm_wait("reply: beam search,");
    tm_wait("beam candidates (width 3, score = sum log");
    tm_wait("Beam candidates (width 3)");
    /* the transcript's candidates: numbered from 1, best (highest, <= 0) score first, at most the width */
    const char *s = tm_capture();
    float prev = 1;
    int n = 0;
    for (int i = 1; i <= 4; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "  %2d. ", i);
        const char *at = strstr(s, tag);
        if (!at) break;
        float sc;
        cr_assert_eq(sscanf(at + strlen(tag), "%f", &sc), 1, "a score after \"%s\":\n%s", tag, s);
        cr_assert(sc <= 0.0f, "a log-probability score: %f\n%s", sc, s);
        cr_assert(sc <= prev, "best first: %f after %f\n%s", sc, prev, s);
        prev = sc, n++;
    }
    cr_assert(n >= 1 && n <= 3, "1 to 3 candidates, got %d:\n%s", n, s);
    /* width 1 again: the streamed greedy translation with its cross-attention */
    tm_keys("Escape w - -");
    tm_wait("(w) beam width   1 (greedy)");
    tm_keys("i");
    tm_literal("the cat");
    tm_keys("Enter");
    tm_wait("source: the cat");
    tm_wait("reply:");
    tm_wait("Cross-attention of");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_0__");
}
