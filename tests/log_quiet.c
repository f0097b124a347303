/* log_quiet.c — keeps the engine's log lines out of `make test`'s output. Passing tests provoke errors and
 * warnings on purpose (a diverging run, a truncated dataset, a missing tokenizer); printed, they read as failures.
 * Every test process starts with a hook that drops them; a test that checks a message installs its own hook
 * (lw_set_log). LLMWB_TEST_LOG=1 prints them all, each marked as coming from a test. */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static void log_drop(void *ud, int level, const char *msg) {
    (void)ud;
    (void)level;
    (void)msg;
}

static void log_marked(void *ud, int level, const char *msg) {
    static const char *const names[] = {"debug", "info", "warning", "error"};
    (void)ud;
    fprintf(stderr, "[test log] %s: %s\n", names[level & 3], msg);
}

__attribute__((constructor)) static void log_quiet_install(void) {
    const char *v = getenv("LLMWB_TEST_LOG");
    lw_set_log(v && *v && *v != '0' ? log_marked : log_drop, NULL);
}
