/* test_blas.c — the BLAS core choice (blas.h): the pure decision over core name, CPU, cache and environment; the
 * sgemm self-test passing the real and naive products and rejecting wrong ones; and the real binary probing,
 * caching and re-executing (LLMWB_BLAS_AUTO=force, a private cache directory). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blas.h"
#include "matmul.h"
#include "testbin.h"
#include "util.h"

static BlasCpu cpu_of(int isa, int bf16) {
    BlasCpu c = {.isa = isa, .bf16 = bf16};
    snprintf(c.model, sizeof c.model, "test cpu");
    return c;
}

static BlasChoice decide(const char *current, int isa, const char *cached, const char *coretype, const char *autosel,
                         const char *chosen) {
    BlasCpu cpu = cpu_of(isa, 0);
    BlasEnv env = {coretype, autosel, chosen};
    BlasChoice ch;
    blas_decide(current, &cpu, cached, &env, &ch);
    cr_assert_not_null(ch.reason);
    return ch;
}

TestSuite(blas, .timeout = 60);

Test(blas, core_names_map_to_instruction_sets) {
    cr_expect_eq(blas_core_isa("SkylakeX"), BLAS_ISA_AVX512);
    cr_expect_eq(blas_core_isa("skylakex"), BLAS_ISA_AVX512);
    cr_expect_eq(blas_core_isa("Cooperlake"), BLAS_ISA_AVX512);
    cr_expect_eq(blas_core_isa("Haswell"), BLAS_ISA_AVX2);
    cr_expect_eq(blas_core_isa("Zen"), BLAS_ISA_AVX2);
    cr_expect_eq(blas_core_isa("Sandybridge"), BLAS_ISA_AVX);
    cr_expect_eq(blas_core_isa("Prescott"), BLAS_ISA_SSE);
    cr_expect_eq(blas_core_isa("Nehalem"), BLAS_ISA_SSE);
    cr_expect_eq(blas_core_isa(NULL), BLAS_ISA_SSE);
}

Test(blas, candidates_are_newer_cores_the_cpu_runs_best_first) {
    const char *c[8];
    BlasCpu avx2 = cpu_of(BLAS_ISA_AVX2, 0), avx512 = cpu_of(BLAS_ISA_AVX512, 0), bf16 = cpu_of(BLAS_ISA_AVX512, 1);
    cr_assert_eq(blas_candidates("Prescott", &avx2, 0, c, 8), 2);
    cr_expect_str_eq(c[0], "Haswell");
    cr_expect_str_eq(c[1], "Sandybridge");
    cr_assert_eq(blas_candidates("Prescott", &avx512, 0, c, 8), 3); /* no Cooperlake without AVX512_BF16 */
    cr_expect_str_eq(c[0], "SkylakeX");
    cr_assert_eq(blas_candidates("Haswell", &bf16, 0, c, 8), 2);
    cr_expect_str_eq(c[0], "Cooperlake");
    cr_expect_str_eq(c[1], "SkylakeX");
    cr_expect_eq(blas_candidates("SkylakeX", &avx512, 0, c, 8), 0);
    cr_expect_eq(blas_candidates("SkylakeX", &avx512, 1, c, 8), 3); /* all: what force measures */
    BlasCpu sse = cpu_of(BLAS_ISA_SSE, 0);
    cr_expect_eq(blas_candidates("Prescott", &sse, 0, c, 8), 0);
}

Test(blas, decision_table) {
    /* an old core on a new CPU, nothing cached: measure */
    BlasChoice ch = decide("Prescott", BLAS_ISA_AVX512, NULL, NULL, NULL, NULL);
    cr_expect_eq(ch.action, BLAS_PROBE);
    /* cached verdict: re-execute with it, no measuring */
    ch = decide("Prescott", BLAS_ISA_AVX512, "SkylakeX", NULL, NULL, NULL);
    cr_expect_eq(ch.action, BLAS_REEXEC);
    cr_expect_str_eq(ch.core, "SkylakeX");
    ch = decide("Prescott", BLAS_ISA_AVX2, "Haswell", NULL, "1", NULL);
    cr_expect_eq(ch.action, BLAS_REEXEC);
    cr_expect_str_eq(ch.core, "Haswell");
    /* cached "the library's own core is best": stay */
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, "default", NULL, NULL, NULL).action, BLAS_STAY);
    /* a cached core this CPU cannot run (or no better than the current): measure again */
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX2, "SkylakeX", NULL, NULL, NULL).action, BLAS_PROBE);
    cr_expect_eq(decide("Sandybridge", BLAS_ISA_AVX2, "Sandybridge", NULL, NULL, NULL).action, BLAS_PROBE);
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX2, "garbage", NULL, NULL, NULL).action, BLAS_PROBE);
    /* the library's core is as new as the CPU: stay, whatever the cache says */
    cr_expect_eq(decide("SkylakeX", BLAS_ISA_AVX512, NULL, NULL, NULL, NULL).action, BLAS_STAY);
    cr_expect_eq(decide("Cooperlake", BLAS_ISA_AVX512, "Haswell", NULL, NULL, NULL).action, BLAS_STAY);
    cr_expect_eq(decide("Haswell", BLAS_ISA_AVX2, NULL, NULL, NULL, NULL).action, BLAS_STAY);
    cr_expect_eq(decide("Prescott", BLAS_ISA_SSE, NULL, NULL, NULL, NULL).action, BLAS_STAY);
    /* the user's own OPENBLAS_CORETYPE always wins */
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, "SkylakeX", "Prescott", NULL, NULL).action, BLAS_STAY);
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, NULL, "Haswell", NULL, NULL).action, BLAS_STAY);
    /* LLMWB_BLAS_AUTO=0 turns it off */
    const char *offs[] = {"0", "off", "no", "false", "OFF"};
    for (size_t i = 0; i < LW_ARRAY_LEN(offs); i++) {
        cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, NULL, NULL, offs[i], NULL).action, BLAS_STAY, "%s", offs[i]);
        cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, "SkylakeX", NULL, offs[i], NULL).action, BLAS_STAY);
    }
    /* the loop guard: a re-executed process never re-executes again, even when forced */
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, "SkylakeX", "SkylakeX", NULL, "SkylakeX").action, BLAS_STAY);
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, NULL, NULL, "force", "SkylakeX").action, BLAS_STAY);
    /* force measures again, over the cache, an up-to-date core and the user's core */
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, "SkylakeX", NULL, "force", NULL).action, BLAS_PROBE);
    cr_expect_eq(decide("SkylakeX", BLAS_ISA_AVX512, NULL, NULL, "force", NULL).action, BLAS_PROBE);
    cr_expect_eq(decide("Prescott", BLAS_ISA_AVX512, NULL, "Prescott", "force", NULL).action, BLAS_PROBE);
}

/* ---- the self-test against wrong products ---- */

static void gemm_off_by_one_entry(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
                                  const float *b, int ldb, float beta, float *c, int ldc) {
    matmul_gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    c[(size_t)(M / 2) * ldc + N / 3] += 1e-2f; /* one entry of one product slightly wrong */
}

static void gemm_nt_stride_bug(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc) {
    /* a kernel that mishandles one transpose mode: in NT it steps through b with the wrong row stride */
    if (!ta && tb && ldb > K) ldb--;
    matmul_gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void gemm_forgets_beta(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
                              const float *b, int ldb, float beta, float *c, int ldc) {
    matmul_gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, 0.0f, c, ldc); /* overwrites instead of accumulating */
    (void)beta;
}

static void gemm_drops_last_k(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
                              const float *b, int ldb, float beta, float *c, int ldc) {
    matmul_gemm(ta, tb, M, N, K - 1, alpha, a, lda, b, ldb, beta, c, ldc); /* an edge-tile bug */
}

static void gemm_spills_past_n(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
                               const float *b, int ldb, float beta, float *c, int ldc) {
    matmul_gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    if (ldc > N) c[N] = 0.0f; /* writes the padding after row 0 */
}

static void gemm_wrong_last_row(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
                                const float *b, int ldb, float beta, float *c, int ldc) {
    matmul_gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    if (M > 1) /* row M-1 comes out 0.1% too large */
        for (int j = 1; j < N - 1; j++) c[(size_t)(M - 1) * ldc + j] *= 1.001f;
}

Test(blas, selftest_passes_the_real_and_the_naive_product) {
    char why[256];
    cr_expect_eq(blas_selftest(matmul_gemm, why, sizeof why), 0, "%s", why);
    cr_expect_str_eq(why, "ok");
    cr_expect_eq(blas_selftest(matmul_gemm_naive, why, sizeof why), 0, "%s", why);
}

Test(blas, selftest_rejects_wrong_products) {
    struct {
        BlasGemmFn fn;
        const char *what;
    } bad[] = {{gemm_off_by_one_entry, "entry"}, {gemm_nt_stride_bug, "NT"}, {gemm_forgets_beta, "entry"},
               {gemm_drops_last_k, "entry"}, {gemm_spills_past_n, "outside"}, {gemm_wrong_last_row, "entry"}};
    for (size_t i = 0; i < LW_ARRAY_LEN(bad); i++) {
        char why[256] = "";
        cr_expect_neq(blas_selftest(bad[i].fn, why, sizeof why), 0, "wrong product %zu passed", i);
        cr_expect(strstr(why, bad[i].what), "case %zu: %s", i, why);
    }
}

Test(blas, describe_names_library_core_and_threads) {
    char buf[128];
    blas_describe(3, buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, " %s", matmul_blas_core());
    cr_expect(!strncmp(buf, "OpenBLAS ", 9), "%s", buf);
    cr_expect(strstr(buf, want), "%s", buf);
    cr_expect(strstr(buf, ", 3 threads"), "%s", buf);
    blas_describe(1, buf, sizeof buf);
    cr_expect(strstr(buf, ", 1 thread") && !strstr(buf, "threads"), "%s", buf);
}

/* ---- the real binary ---- */

Test(blas, binary_probes_caches_and_reexecutes) {
    const char *bin = getenv("LLMWB_BIN");
    if (!bin) cr_skip_test("LLMWB_BIN is not set (run through make test)");
    char dir[] = "/tmp/llmwb-blas-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024], out[1024], out2[1024];
    /* a probe child reports its core, passes the self-test and measures */
    snprintf(cmd, sizeof cmd, "LLMWB_BLAS_PROBE=1 %s 2>&1", bin); /* the core this process runs */
    cr_assert_eq(tb_run_sh(cmd, out, sizeof out), 0, "%s", out);
    char core[64];
    double gf = 0;
    cr_assert_eq(sscanf(out, "ok %63s %lf", core, &gf), 2, "%s", out);
    cr_expect_str_eq(core, matmul_blas_core());
    cr_expect_gt(gf, 0.0);
    /* a probe child asked for a core the library does not run refuses */
    snprintf(cmd, sizeof cmd, "LLMWB_BLAS_PROBE=1 OPENBLAS_CORETYPE=NoSuchCore %s 2>&1", bin);
    cr_assert_eq(tb_run_sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(!strncmp(out, "fail the library runs", 21), "%s", out);
    /* forced: measures every candidate, writes the cache, re-executes with the winner */
    snprintf(cmd, sizeof cmd, "env -u LLMWB_BLAS_CHOSEN XDG_CACHE_HOME=%s LLMWB_BLAS_AUTO=force %s --version 2>&1", dir,
             bin);
    cr_assert_eq(tb_run_sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "OpenBLAS "), "%s", out);
    char path[512], *cache = NULL;
    snprintf(path, sizeof path, "%s/llmwb/blas-core", dir);
    cr_assert_eq(lw_read_file(path, &cache, NULL, NULL), LW_OK, "no cache written");
    char *tab = strchr(cache, '\t');
    cr_assert_not_null(tab, "%s", cache);
    cr_expect(strstr(cache, "OpenBLAS "), "the key names the library: %s", cache);
    char verdict[64];
    cr_assert_eq(sscanf(tab + 1, "%63s", verdict), 1);
    if (strcmp(verdict, "default")) { /* a chosen core runs, marked (auto) */
        char want[96];
        snprintf(want, sizeof want, "%s (auto)", verdict);
        cr_expect(strstr(out, want), "verdict %s, but: %s", verdict, out);
    }
    /* the user's own core wins over everything */
    snprintf(cmd, sizeof cmd, "env -u LLMWB_BLAS_CHOSEN XDG_CACHE_HOME=%s OPENBLAS_CORETYPE=Prescott %s --version 2>&1",
             dir, bin);
    cr_assert_eq(tb_run_sh(cmd, out2, sizeof out2), 0, "%s", out2);
    cr_expect(strstr(out2, "Prescott,"), "%s", out2);
    cr_expect(!strstr(out2, "(auto)"), "%s", out2);
    free(cache);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
