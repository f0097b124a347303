/* testbin.c — see testbin.h. */
#include "testbin.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int tb_run_sh(const char *cmd, char *out, size_t n) {
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t len = fread(out, 1, n - 1, p);
    out[len] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int tb_run_llmwb(const char *args, char *out, size_t n) {
    const char *bin = getenv("LLMWB_BIN");
    if (!bin) cr_skip_test("LLMWB_BIN is not set (run through make test)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1 </dev/null", bin, args);
    return tb_run_sh(cmd, out, n);
}
