/* test_golden.c — the GPT path does not change by a bit: the fixed-seed 50-step run of tests/golden/gpt-50/
 * (BPE training, batches, dropout, forward, backward, clipping, AdamW, evaluation, sampling, the checkpoint) gives
 * the committed metrics.csv columns and checkpoint bytes. It runs the real binary (LLMWB_BIN) on one thread with
 * OpenBLAS's Prescott core, the one core every x86-64 CPU runs, so the products are summed in one order whatever
 * the machine; elsewhere (no Prescott core) it is skipped. When a change of the numbers is meant, regenerate with
 * tests/golden/make-gpt-50.sh and say why in the commit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define GOLDEN "tests/golden/gpt-50"

/* Runs cmd through the shell; stdout+stderr into a malloc'd string; returns the exit status. */
static int sh(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    StrBuf b = {0};
    char buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, p)) > 0) sb_add(&b, buf, r);
    int st = pclose(p);
    *out = sb_take(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(golden, gpt_50_step_run_is_byte_identical_to_the_committed_golden, .timeout = 120) {
    const char *bin = getenv("LLMWB_BIN");
    if (!bin) cr_skip_test("LLMWB_BIN is not set (run through make test)");
    char run[] = "/tmp/llmwb-golden-XXXXXX", cmd[2048], *out;
    cr_assert_not_null(mkdtemp(run));
    snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=Prescott LLMWB_BLAS_AUTO=0 %s train -c " GOLDEN "/config.yaml "
             "--run-dir %s/run 2>&1 </dev/null", bin, run);
    int rc = sh(cmd, &out);
    cr_assert_eq(rc, 0, "the golden run failed:\n%s", out);
    if (!strstr(out, "Prescott, 1 thread")) {
        lw_rmtree(run);
        cr_skip_test("OpenBLAS has no Prescott core here (%.80s): the golden holds for x86-64 only", out);
    }
    free(out);
    /* the columns of metrics.csv that do not depend on the clock */
    snprintf(cmd, sizeof cmd, "cut -d, -f1-6 %s/run/metrics.csv | diff " GOLDEN "/metrics.csv - 2>&1", run);
    rc = sh(cmd, &out);
    cr_expect_eq(rc, 0, "metrics.csv differs from the golden (< golden, > now):\n%.2000s", out);
    free(out);
    char root[1024];
    cr_assert_not_null(getcwd(root, sizeof root));
    snprintf(cmd, sizeof cmd, "cd %s/run && sha256sum -c %s/" GOLDEN "/checkpoint.sha256 2>&1", run, root);
    rc = sh(cmd, &out);
    cr_expect_eq(rc, 0, "the checkpoint or the samples differ from the golden:\n%s", out);
    free(out);
    lw_rmtree(run);
}
