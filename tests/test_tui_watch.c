/* test_tui_watch.c — `llmwb tui --watch` as a person uses it, with the real binary in tmux (the harness of
 * tests/tmuxh.h: send-keys, capture-pane, always waiting for text with a deadline): a headless `llmwb train` in
 * the background, watched live (the step and the curve advance, keys that would change the run say read-only,
 * the run's end is said, chat and attention on its files), a second run overlaid for comparison, a trainer killed
 * without an end line, and a resumed run whose loss curve starts at step 1, not empty (issue 9).
 * Needs LLMWB_BIN and LLMWB_ROOT (`make test` sets both). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tmuxh.h"

#define W_DEADLINE 30.0

static char g_run[300], g_run2[300];   /* runs A and B, in the harness's run directory */
static long g_trainer;          /* pid of the background `llmwb train`, 0 = none */

/* Waits up to W_DEADLINE seconds for text on the screen / for the header's step to reach min, or fails the test. */
static void w_wait(const char *text) { tm_wait_for(text, W_DEADLINE); }
static long w_wait_step(long min) { return tm_wait_step_for(min, -1, W_DEADLINE); }

/* `llmwb ARGS` in a 120x36 tmux pane from the repo root; after it exits the pane says __LLMWB_EXIT_<status>__. */
static void w_launch(const char *args) { tm_launch(120, 36, "", args); }

/* A headless `llmwb train` of the e2e config into dir, to step steps. */
static void w_train(const char *dir, long steps) {
    int rc = tm_sh("cd '%s' && '%s' train -c tests/tui_scripts/e2e.yaml --run-dir '%s' --steps %ld >'%s.log' 2>&1",
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
    tm_prepare();
    tm_sh("rm -rf '%s' && mkdir -p '%s'", tm_run_dir(), tm_run_dir());
    snprintf(g_run, sizeof g_run, "%s/a", tm_run_dir());
    snprintf(g_run2, sizeof g_run2, "%s/b", tm_run_dir());
    g_trainer = 0;
}

static void w_teardown(void) {
    if (g_trainer > 0) kill((pid_t)g_trainer, SIGKILL);
    g_trainer = 0;
    tm_stop();
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
    cr_assert_null(strstr(tm_capture(), "ENDED"), "still running:\n%s", tm_capture());
    /* keys that would change the run */
    snprintf(want, sizeof want, "read-only: watching %s", g_run);
    tm_keys("Space");
    w_wait(want);
    tm_keys("Escape");
    tm_keys("S");
    w_wait(want);
    /* Ctrl-C to the trainer: it saves and writes its end line; the watcher says so and loads the checkpoint */
    kill((pid_t)g_trainer, SIGINT);
    w_wait("run ended: training stopped at step");
    w_wait("ENDED");
    w_wait("(chat uses it)");
    g_trainer = 0;
    /* the attention maps replayed from the run's snapshots, the chat on its checkpoint */
    tm_keys("3");
    w_wait("snapshot ");
    tm_keys("5");
    w_wait("Next-token probabilities");
    tm_literal("It is a truth");
    tm_keys("Enter");
    w_wait("you: It is a truth");
    w_wait("reply:");
    tm_keys("F10");
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
    tm_keys("q");
    w_wait("__LLMWB_EXIT_0__");
}

Test(tui_watch, a_resumed_run_shows_its_curve_from_step_one_and_compares_with_another) {
    w_train(g_run, 40);
    w_train(g_run2, 20);
    tm_launch_tui(120, 36, "", "tests/tui_scripts/e2e.yaml", g_run);
    w_wait("holds a checkpoint at step 40");
    tm_keys("r");
    w_wait("resuming");
    tm_keys("4");
    w_wait("\xe2\x97\x82train");
    cr_assert_null(strstr(tm_capture(), "No steps yet"), "the curve is not empty:\n%s", tm_capture());
    cr_assert_not_null(strstr(tm_capture(), "\xe2\x94\x94" "1\xe2\x94\x80"), "the x axis starts at step 1:\n%s",
                       tm_capture());
    /* c: another run's curve on the same plot */
    tm_keys("c");
    w_wait("compare with run:");
    tm_literal(g_run2);
    tm_keys("Enter");
    w_wait("A a (train, val)   B b (train)");
    w_wait("\xe2\x97\x82" "B");
    tm_keys("C");
    w_wait("compared runs removed");
    cr_assert_null(strstr(tm_capture(), "B b (train)"), "the legend went:\n%s", tm_capture());
    tm_keys("q");
    w_wait("__LLMWB_EXIT_0__");
}

Test(tui_watch, bad_usage_is_exit_2) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' tui --watch '%s' -c configs/default.yaml >/dev/null 2>&1", getenv("LLMWB_BIN"), g_run);
    cr_assert_eq(WEXITSTATUS(tm_sh("%s", cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' tui --watch >/dev/null 2>&1", getenv("LLMWB_BIN"));
    cr_assert_eq(WEXITSTATUS(tm_sh("%s", cmd)), 2);
}
