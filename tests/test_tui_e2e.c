/* test_tui_e2e.c — the real `llmwb` binary driven in tmux: keys with send-keys, screen text with capture-pane,
 * always WAITING for expected text with a deadline (poll every 50 ms, fail after ~20 s), never sleeping a fixed
 * time. Needs LLMWB_BIN (the binary) and LLMWB_ROOT (the repo root); `make test` sets both. Each test has its
 * own tmux server (-L llmwb-test-<pid>-<n>) and run directory, killed / removed in teardown. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define E2E_DEADLINE 20.0

static char g_sock[96];
static char g_sock_path[512];   /* tmux leaves its socket file behind after kill-server */
static char g_run[256];
static int g_counter;

static double e2e_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void e2e_pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int e2e_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int e2e_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* The pane's text, with its SGR escapes when escapes (capture-pane -e); a static buffer. */
static const char *e2e_capture_pane(int escapes) {
    static char buf[1 << 18];
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p %s-t e2e 2>/dev/null", g_sock, escapes ? "-e " : "");
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p) {
        n = fread(buf, 1, sizeof buf - 1, p);
        pclose(p);
    }
    buf[n] = '\0';
    return buf;
}

static const char *e2e_capture(void) { return e2e_capture_pane(0); }
static const char *e2e_capture_escapes(void) { return e2e_capture_pane(1); }

static void e2e_keys(const char *keys) { e2e_sh("tmux -L %s send-keys -t e2e %s", g_sock, keys); }
static void e2e_literal(const char *text) { e2e_sh("tmux -L %s send-keys -t e2e -l '%s'", g_sock, text); }

/* Waits until the pane contains text; returns the seconds it took, or fails the test with the screen. */
static double e2e_wait(const char *text) {
    double t0 = e2e_now();
    while (e2e_now() - t0 < E2E_DEADLINE) {
        if (strstr(e2e_capture(), text)) return e2e_now() - t0;
        e2e_pause_ms(50);
    }
    cr_assert_fail("timed out after %.0f s waiting for \"%s\"; the screen was:\n%s", E2E_DEADLINE, text, e2e_capture());
    return -1;
}

/* The training step shown in the header ("Step N/"), or -1. */
static long e2e_step(void) {
    const char *s = strstr(e2e_capture(), "Step ");
    return s ? strtol(s + 5, NULL, 10) : -1;
}

/* Waits until the step satisfies step >= min (or step == exact when exact >= 0). */
static long e2e_wait_step(long min, long exact) {
    double t0 = e2e_now();
    long st = -1;
    while (e2e_now() - t0 < E2E_DEADLINE) {
        st = e2e_step();
        if (exact >= 0 ? st == exact : st >= min) return st;
        e2e_pause_ms(50);
    }
    cr_assert_fail("timed out waiting for step %s %ld (last %ld); screen:\n%s", exact >= 0 ? "==" : ">=",
             exact >= 0 ? exact : min, st, e2e_capture());
    return -1;
}

static void e2e_start_cfg(const char *cfg) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    if (e2e_sh("tmux -V >/dev/null 2>&1") != 0) cr_skip_test("tmux is not installed");
    snprintf(g_sock, sizeof g_sock, "llmwb-test-%d-%d", (int)getpid(), ++g_counter);
    snprintf(g_run, sizeof g_run, "/tmp/llmwb-e2e-%d-%d", (int)getpid(), g_counter);
    /* the pane runs the binary, then prints its exit status and waits, so the test can see the restored shell */
    int rc = e2e_sh("tmux -L %s -f /dev/null new-session -d -s e2e -x 120 -y 36 "
                    "\"cd '%s' && env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' tui "
                    "-c %s --run-dir '%s'; echo __LLMWB_EXIT_\\$?__; sleep 120\"",
                    g_sock, root, bin, cfg, g_run);
    cr_assert_eq(rc, 0, "tmux new-session failed");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s display-message -p '#{socket_path}' 2>/dev/null", g_sock);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(g_sock_path, sizeof g_sock_path, p)) g_sock_path[0] = '\0';
        g_sock_path[strcspn(g_sock_path, "\n")] = '\0';
        pclose(p);
    }
    e2e_wait("[1]Tokenizer");
}

static void e2e_start(void) { e2e_start_cfg("tests/tui_scripts/e2e.yaml"); }

static void e2e_stop(void) {
    if (g_sock[0]) e2e_sh("tmux -L %s kill-server >/dev/null 2>&1", g_sock);
    if (g_sock_path[0] && strstr(g_sock_path, "llmwb-test-")) e2e_sh("rm -f '%s'", g_sock_path);
    if (g_run[0]) e2e_sh("rm -rf '%s'", g_run);
    g_sock[0] = g_run[0] = g_sock_path[0] = '\0';
}

TestSuite(tui_e2e, .init = e2e_start, .fini = e2e_stop, .timeout = 120);

Test(tui_e2e, screens_training_pause_step_and_quit) {
    e2e_wait("compression");                     /* the engine is open, the Tokenizer screen drew */
    e2e_keys("2");
    e2e_wait("wte row (token)");
    e2e_keys("3");
    e2e_wait("snapshot 1/");
    e2e_keys("4");
    e2e_wait("Loss  train:");
    e2e_keys("5");
    e2e_wait("Next-token probabilities");
    e2e_keys("Escape");                         /* leave the chat input line */
    e2e_wait("controls: t k p n");
    e2e_keys("4");
    e2e_wait("Loss  train:");
    cr_assert_eq(e2e_step(), 0);

    /* run: the step counter increases */
    e2e_keys("Space");
    e2e_wait_step(3, -1);
    /* key latency while training: switch screens and time until the new screen shows */
    double lat1 = (e2e_keys("2"), e2e_wait("wte row (token)"));
    double lat2 = (e2e_keys("4"), e2e_wait("Loss  train:"));
    cr_log_info("key latency while training: %.0f ms and %.0f ms (send-keys to capture)", 1e3 * lat1, 1e3 * lat2);
    fprintf(stderr, "tui_e2e: key latency while training: %.0f ms, %.0f ms\n", 1e3 * lat1, 1e3 * lat2);
    cr_expect_lt(lat1, 1.0, "a key is handled promptly while training");

    /* pause: the counter stops */
    e2e_keys("Space");
    e2e_wait("PAUSED");
    long paused = e2e_wait_step(0, -1);
    for (int i = 0; i < 6; i++) {               /* stays put for a while (polled, not slept) */
        e2e_pause_ms(50);
        long now = e2e_step();
        if (now != paused) paused = now, i = 0;  /* a step in flight when Space arrived may still land */
    }
    long stable = e2e_step();
    cr_assert_eq(stable, paused);

    /* single step: +1 */
    e2e_keys("s");
    e2e_wait_step(0, stable + 1);
    e2e_pause_ms(200);
    cr_assert_eq(e2e_step(), stable + 1, "one step only");

    /* quit with unsaved training asks first; n quits without saving and restores the terminal */
    e2e_keys("q");
    e2e_wait("save before quit? [y/n/c]");
    e2e_keys("c");
    e2e_wait("Loss  train:");
    cr_assert_null(strstr(e2e_capture(), "save before quit?"), "c cancels");
    e2e_keys("q");
    e2e_wait("save before quit?");
    e2e_keys("n");
    e2e_wait("__LLMWB_EXIT_0__");
    cr_assert_null(strstr(e2e_capture(), "[1]Tokenizer"), "the TUI is gone from the screen");
}

Test(tui_e2e, tokenizer_forward_and_back) {
    e2e_wait("BPE merges 0/");
    e2e_keys("s");
    e2e_wait("BPE merges 1/");
    e2e_wait("last merge #0");
    e2e_keys("Right");
    e2e_wait("BPE merges 2/");
    e2e_keys("Left");
    e2e_wait("BPE merges 1/");
    e2e_keys("Left");
    e2e_wait("BPE merges 0/");
    /* jump to merge 5 and back to 0 */
    e2e_keys("g 5 Enter");
    e2e_wait("BPE merges 5/");
    e2e_keys("g 0 Enter");
    e2e_wait("BPE merges 0/");
    /* encode mode shows tokens and ids, and the word's merges */
    e2e_keys("e");
    e2e_wait("Encode (model tokenizer)");
    e2e_literal("the truth");
    e2e_wait("Merges applied to");
    e2e_keys("Escape");
    e2e_wait("Corpus (tokens");
    e2e_keys("q");
    e2e_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e, chat_reply) {
    e2e_wait("compression");
    e2e_keys("5");
    e2e_wait("Next-token probabilities");
    e2e_literal("It is a truth");
    e2e_keys("Enter");
    e2e_wait("you: It is a truth");
    e2e_wait("reply:");                         /* status line once the reply ended */
    cr_assert_not_null(strstr(e2e_capture(), "model: "));
    cr_assert_null(strstr(e2e_capture(), "(after the first reply token)"), "probability bars are shown");
    e2e_keys("F10");
    e2e_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e, resize_too_small_and_back) {
    e2e_wait("compression");
    e2e_sh("tmux -L %s resize-window -t e2e -x 60 -y 20", g_sock);
    e2e_wait("terminal too small: need 80");
    e2e_wait("have 60");
    e2e_sh("tmux -L %s resize-window -t e2e -x 120 -y 36", g_sock);
    e2e_wait("[1]Tokenizer");
    e2e_wait("F10Quit");
    cr_assert_null(strstr(e2e_capture(), "terminal too small"));
    e2e_keys("?");
    e2e_wait("Global keys");
    e2e_keys("Escape");
    e2e_wait("press ? for help");
    e2e_keys("q");
    e2e_wait("__LLMWB_EXIT_0__");
}

Test(tui_e2e, ctrl_c_restores_the_terminal) {
    e2e_wait("compression");
    e2e_keys("4 Space");
    e2e_wait_step(1, -1);
    e2e_keys("C-c");                            /* SIGINT while training: quit at once, no prompt */
    e2e_wait("__LLMWB_EXIT_130__");
    cr_assert_null(strstr(e2e_capture(), "[1]Tokenizer"));
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
    int rc = e2e_sh("rm -rf '%s' && mkdir -p '%s' && cd '%s' && LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' tui "
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
    e2e_sh("rm -rf '%s'", dir);
}

Test(tui_script, bad_script_fails_cleanly) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/llmwb-script-bad-%d", (int)getpid());
    e2e_sh("rm -rf '%s' && mkdir -p '%s' && printf 'key NoSuchKey\\n' > '%s/s.txt'", dir, dir, dir);
    int rc = e2e_sh("cd '%s' && '%s' tui -c tests/tui_scripts/e2e.yaml --run-dir '%s/run' --script '%s/s.txt' "
                    "--dump-dir '%s' 2>'%s/err.txt'", root, bin, dir, dir, dir, dir);
    cr_assert_neq(rc, 0, "an unknown key name fails the script");
    char path[256];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    const char *err = e2e_slurp(path);
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "unknown key 'NoSuchKey'"), "stderr: %s", err);
    rc = e2e_sh("'%s' tui --no-such-option >/dev/null 2>&1", bin);
    cr_assert_neq(rc, 0, "an unknown option is a usage error");
    e2e_sh("rm -rf '%s'", dir);
}

/* `/` search on the Tokenizer: the match count in the status line, the matched bytes drawn in the highlight
 * style (dark theme: background 220, or its RGB in truecolor), n / N with wrapping, no match, Esc. */
Test(tui_e2e, tokenizer_search) {
    e2e_wait("[PAUSED]");                        /* the BPE trainer holds the corpus excerpt */
    e2e_keys("/");
    e2e_literal("Bennet");
    e2e_keys("Enter");
    e2e_wait("match 1/9 for 'Bennet'");          /* 9 in the first 6000 bytes of Pride and Prejudice */
    const char *esc = e2e_capture_escapes();
    cr_assert(strstr(esc, "220mBennet") || strstr(esc, "255;215;0mBennet"),
              "the match is highlighted; the screen was:\n%s", e2e_capture());
    e2e_keys("n");
    e2e_wait("match 2/9 for 'Bennet'");
    e2e_keys("N");
    e2e_wait("match 1/9 for 'Bennet'");
    e2e_keys("N");
    e2e_wait("match 9/9 for 'Bennet' (search wrapped)");
    /* the 9th is far down the excerpt: the pane scrolled to it */
    cr_assert(strstr(e2e_capture_escapes(), "220mBennet") || strstr(e2e_capture_escapes(), "255;215;0mBennet"),
              "the 9th match is visible and highlighted:\n%s", e2e_capture());
    /* a missing word says so */
    e2e_keys("/");
    e2e_literal("zzqq");
    e2e_keys("Enter");
    e2e_wait("no match for 'zzqq'");
    /* Esc cancels the prompt without searching */
    e2e_keys("/");
    e2e_literal("abc");
    e2e_wait(" /abc");                           /* the prompt on the status line */
    e2e_keys("Escape");
    double t0 = e2e_now();
    while (strstr(e2e_capture(), " /abc") && e2e_now() - t0 < E2E_DEADLINE) e2e_pause_ms(50);
    cr_assert_null(strstr(e2e_capture(), " /abc"), "Esc closes the prompt:\n%s", e2e_capture());
    cr_assert_null(strstr(e2e_capture(), "no match for 'abc'"), "Esc does not search");
    e2e_keys("q");
    e2e_wait("__LLMWB_EXIT_0__");
}

/* ---- an encoder-decoder (model.arch: encdec, train.task: translate) ---- */
static void e2e_start_translate(void) { e2e_start_cfg("tests/tui_scripts/translate.yaml"); }

TestSuite(tui_translate, .init = e2e_start_translate, .fini = e2e_stop, .timeout = 120);

Test(tui_translate, attention_shows_the_three_kinds_of_map) {
    e2e_keys("3");
    e2e_wait("x: encoder self-attention (bidirectional: full squares)");
    e2e_keys("x");
    e2e_wait("x: decoder self-attention (causal)");
    e2e_keys("x");
    e2e_wait("x: cross-attention: target rows x source columns (the alignment)");
    e2e_wait("* = the source token weighed most");
    cr_assert_not_null(strstr(e2e_capture(), "⋅do"), "the source tokens (\"the young dog\") head the columns");
    e2e_keys("x");
    e2e_wait("x: encoder self-attention");
    e2e_keys("F10");
    e2e_wait("__LLMWB_EXIT_0__");
}

Test(tui_translate, chat_becomes_translate_with_cross_attention) {
    e2e_keys("5");
    e2e_wait("(after the first translated token)");
    cr_assert_not_null(strstr(e2e_capture(), "0 (greedy)"), "a translator decodes greedily by default");
    e2e_literal("the dog eats");
    e2e_keys("Enter");
    e2e_wait("source: the dog eats");
    e2e_wait("reply:");
    const char *s = e2e_capture();
    cr_assert_not_null(strstr(s, "translation: "), "%s", s);
    cr_assert_not_null(strstr(s, "Cross-attention of"), "%s", s);
    cr_assert_not_null(strstr(s, "Alignment (target <- source)"), "%s", s);
    cr_assert_not_null(strstr(s, "eats"), "the source tokens label the bars");
    e2e_keys("F10");
    e2e_wait("__LLMWB_EXIT_0__");
}
