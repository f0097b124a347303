/* test_tui_watch.c — `llmwb tui --watch` as a person uses it, with the real binary in tmux (the helpers of
 * test_tui_e2e.c: send-keys, capture-pane, always waiting for text with a deadline): a headless `llmwb train` in
 * the background, watched live (the step and the curve advance, keys that would change the run say read-only,
 * the run's end is said, chat and attention on its files), a second run overlaid for comparison, a trainer killed
 * without an end line, and a resumed run whose loss curve starts at step 1, not empty (issue 9).
 * Needs LLMWB_BIN and LLMWB_ROOT (`make test` sets both). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W_DEADLINE 30.0

static char g_sock[96], g_sock_path[512], g_root[256], g_run[300], g_run2[300];
static long g_trainer;          /* pid of the background `llmwb train`, 0 = none */
static int g_counter;

static double w_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void w_pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int w_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int w_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *w_capture(void) {
    static char buf[1 << 18];
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p -t w 2>/dev/null", g_sock);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p) {
        n = fread(buf, 1, sizeof buf - 1, p);
        pclose(p);
    }
    buf[n] = '\0';
    return buf;
}

static void w_keys(const char *keys) { w_sh("tmux -L %s send-keys -t w %s", g_sock, keys); }
static void w_literal(const char *text) { w_sh("tmux -L %s send-keys -t w -l '%s'", g_sock, text); }

static void w_wait(const char *text) {
    double t0 = w_now();
    while (w_now() - t0 < W_DEADLINE) {
        if (strstr(w_capture(), text)) return;
        w_pause_ms(50);
    }
    cr_assert_fail("timed out after %.0f s waiting for \"%s\"; the screen was:\n%s", W_DEADLINE, text, w_capture());
}

/* The step in the header ("Step N/"), or -1. */
static long w_step(void) {
    const char *s = strstr(w_capture(), "Step ");
    return s ? strtol(s + 5, NULL, 10) : -1;
}

static long w_wait_step(long min) {
    double t0 = w_now();
    long st = -1;
    while (w_now() - t0 < W_DEADLINE) {
        if ((st = w_step()) >= min) return st;
        w_pause_ms(50);
    }
    cr_assert_fail("timed out waiting for step >= %ld (last %ld); screen:\n%s", min, st, w_capture());
    return -1;
}

/* `llmwb ARGS` in a 120x36 tmux pane from the repo root; after it exits the pane says __LLMWB_EXIT_<status>__. */
static void w_launch(const char *args) {
    int rc = w_sh("tmux -L %s -f /dev/null new-session -d -s w -x 120 -y 36 "
                  "\"cd '%s' && env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' %s; "
                  "echo __LLMWB_EXIT_\\$?__; sleep 120\"",
                  g_sock, getenv("LLMWB_ROOT"), getenv("LLMWB_BIN"), args);
    cr_assert_eq(rc, 0, "tmux new-session failed");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s display-message -p '#{socket_path}' 2>/dev/null", g_sock);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(g_sock_path, sizeof g_sock_path, p)) g_sock_path[0] = '\0';
        g_sock_path[strcspn(g_sock_path, "\n")] = '\0';
        pclose(p);
    }
}

/* A headless `llmwb train` of the e2e config into dir, to step steps. */
static void w_train(const char *dir, long steps) {
    int rc = w_sh("cd '%s' && '%s' train -c tests/tui_scripts/e2e.yaml --run-dir '%s' --steps %ld >'%s.log' 2>&1",
                  getenv("LLMWB_ROOT"), getenv("LLMWB_BIN"), dir, steps, dir);
    cr_assert_eq(rc, 0, "llmwb train failed: see %s.log", dir);
}

/* Starts the trainer in the background and remembers its pid. */
static void w_train_background(const char *dir) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { '%s' train -c tests/tui_scripts/e2e.yaml --run-dir '%s' --steps 1000000 >'%s.log' 2>&1 & "
             "echo $!; }",
             getenv("LLMWB_ROOT"), getenv("LLMWB_BIN"), dir, dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    if (fscanf(p, "%ld", &g_trainer) != 1) g_trainer = 0;
    pclose(p);
    cr_assert(g_trainer > 0, "could not start llmwb train");
}

static void w_setup(void) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    if (w_sh("tmux -V >/dev/null 2>&1") != 0) cr_skip_test("tmux is not installed");
    snprintf(g_sock, sizeof g_sock, "llmwb-watch-%d-%d", (int)getpid(), ++g_counter);
    snprintf(g_root, sizeof g_root, "/tmp/llmwb-watch-%d-%d", (int)getpid(), g_counter);
    w_sh("rm -rf '%s' && mkdir -p '%s'", g_root, g_root);
    snprintf(g_run, sizeof g_run, "%s/a", g_root);
    snprintf(g_run2, sizeof g_run2, "%s/b", g_root);
    g_trainer = 0;
}

static void w_teardown(void) {
    if (g_trainer > 0) kill((pid_t)g_trainer, SIGKILL);
    g_trainer = 0;
    if (g_sock[0]) w_sh("tmux -L %s kill-server >/dev/null 2>&1", g_sock);
    if (g_sock_path[0] && strstr(g_sock_path, "llmwb-watch-")) w_sh("rm -f '%s'", g_sock_path);
    if (g_root[0]) w_sh("rm -rf '%s'", g_root);
    g_sock[0] = g_root[0] = g_sock_path[0] = '\0';
}

TestSuite(tui_watch, .init = w_setup, .fini = w_teardown, .timeout = 150);

Test(tui_watch, a_headless_run_live_then_its_end_chat_and_attention) {
    char args[600], want[700];
    snprintf(args, sizeof args, "tui --watch '%s'", g_run);
    w_launch(args);
    w_wait("Waiting for the run to watch"); /* the trainer has not made its directory yet */
    w_train_background(g_run);
    w_wait("WATCHING");
    long s1 = w_wait_step(1);
    w_wait("\xe2\x97\x82train"); /* the curve, labelled at its end */
    w_wait_step(s1 + 20);        /* it follows the file as it grows */
    cr_assert_null(strstr(w_capture(), "ENDED"), "still running:\n%s", w_capture());
    /* keys that would change the run */
    snprintf(want, sizeof want, "read-only: watching %s", g_run);
    w_keys("Space");
    w_wait(want);
    w_keys("Escape");
    w_keys("S");
    w_wait(want);
    /* Ctrl-C to the trainer: it saves and writes its end line; the watcher says so and loads the checkpoint */
    kill((pid_t)g_trainer, SIGINT);
    w_wait("run ended: training stopped at step");
    w_wait("ENDED");
    w_wait("(chat uses it)");
    g_trainer = 0;
    /* the attention maps replayed from the run's snapshots, the chat on its checkpoint */
    w_keys("3");
    w_wait("snapshot ");
    w_keys("5");
    w_wait("Next-token probabilities");
    w_literal("It is a truth");
    w_keys("Enter");
    w_wait("you: It is a truth");
    w_wait("reply:");
    w_keys("F10");
    w_wait("__LLMWB_EXIT_0__");
}

Test(tui_watch, two_runs_overlaid_and_a_killed_trainer) {
    w_train(g_run2, 60); /* B: a finished run */
    w_train_background(g_run);
    char args[800];
    snprintf(args, sizeof args, "tui --watch '%s' --watch '%s'", g_run, g_run2);
    w_launch(args);
    w_wait("WATCHING");
    w_wait("A a (train, val)   B b (train)"); /* the legend names the runs (their directories' names) */
    w_wait("\xe2\x97\x82" "B");   /* and its curve is labelled at its end */
    w_wait_step(1);
    kill((pid_t)g_trainer, SIGKILL); /* no end line: the watcher notices the process is gone */
    g_trainer = 0;
    w_wait("gone without an end line");
    w_wait("ENDED");
    w_keys("q");
    w_wait("__LLMWB_EXIT_0__");
}

Test(tui_watch, a_resumed_run_shows_its_curve_from_step_one_and_compares_with_another) {
    w_train(g_run, 40);
    w_train(g_run2, 20);
    char args[600];
    snprintf(args, sizeof args, "tui -c tests/tui_scripts/e2e.yaml --run-dir '%s'", g_run);
    w_launch(args);
    w_wait("holds a checkpoint at step 40");
    w_keys("r");
    w_wait("resuming");
    w_keys("4");
    w_wait("\xe2\x97\x82train");
    cr_assert_null(strstr(w_capture(), "No steps yet"), "the curve is not empty:\n%s", w_capture());
    cr_assert_not_null(strstr(w_capture(), "\xe2\x94\x94" "1\xe2\x94\x80"), "the x axis starts at step 1:\n%s",
                       w_capture());
    /* c: another run's curve on the same plot */
    w_keys("c");
    w_wait("compare with run:");
    w_literal(g_run2);
    w_keys("Enter");
    w_wait("A a (train, val)   B b (train)");
    w_wait("\xe2\x97\x82" "B");
    w_keys("C");
    w_wait("compared runs removed");
    cr_assert_null(strstr(w_capture(), "B b (train)"), "the legend went:\n%s", w_capture());
    w_keys("q");
    w_wait("__LLMWB_EXIT_0__");
}

Test(tui_watch, bad_usage_is_exit_2) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' tui --watch '%s' -c configs/default.yaml >/dev/null 2>&1", getenv("LLMWB_BIN"), g_run);
    cr_assert_eq(WEXITSTATUS(w_sh("%s", cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' tui --watch >/dev/null 2>&1", getenv("LLMWB_BIN"));
    cr_assert_eq(WEXITSTATUS(w_sh("%s", cmd)), 2);
}
