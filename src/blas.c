/* blas.c — OpenBLAS core selection at startup (see blas.h for the rules), the sgemm self-test, and the
 * "OpenBLAS 0.3.21 SkylakeX, 2 threads" line. The library itself is reached only through matmul.h. */
#include "blas.h"
#include "engine.h" /* engine_blas_describe */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include "matmul.h"
#include "rng.h"
#include "util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BLAS_X86 1
#endif

extern char **environ;

/* ---- cores ---- */

/* OpenBLAS core names (as openblas_get_corename spells them), the instruction set each needs, and whether it is
 * a candidate worth measuring (in preference order: the best first). Cores not listed count as BLAS_ISA_SSE. */
typedef struct BlasCore {
    const char *name;
    int isa;
    int bf16;      /* needs AVX512_BF16 */
    int candidate;
} BlasCore;

static const BlasCore blas_cores[] = {
    {"Cooperlake", BLAS_ISA_AVX512, 1, 1},
    {"SkylakeX", BLAS_ISA_AVX512, 0, 1},
    {"SapphireRapids", BLAS_ISA_AVX512, 1, 0},
    {"Haswell", BLAS_ISA_AVX2, 0, 1},
    {"Zen", BLAS_ISA_AVX2, 0, 0},
    {"Sandybridge", BLAS_ISA_AVX, 0, 1},
    {"Bulldozer", BLAS_ISA_AVX, 0, 0},
    {"Piledriver", BLAS_ISA_AVX, 0, 0},
    {"Steamroller", BLAS_ISA_AVX, 0, 0},
    {"Excavator", BLAS_ISA_AVX, 0, 0},
};

int blas_core_isa(const char *core) {
    for (size_t i = 0; core && i < LW_ARRAY_LEN(blas_cores); i++)
        if (!strcasecmp(core, blas_cores[i].name)) return blas_cores[i].isa;
    return BLAS_ISA_SSE;
}

static int blas_core_runs(const BlasCore *c, const BlasCpu *cpu) { return c->isa <= cpu->isa && (!c->bf16 || cpu->bf16); }

int blas_candidates(const char *current, const BlasCpu *cpu, int all, const char **out, int max) {
    int n = 0, cur = all ? -1 : blas_core_isa(current);
    for (size_t i = 0; i < LW_ARRAY_LEN(blas_cores) && n < max; i++) {
        const BlasCore *c = &blas_cores[i];
        if (c->candidate && c->isa > cur && blas_core_runs(c, cpu)) out[n++] = c->name;
    }
    return n;
}

/* ---- cpuid ---- */

#ifdef BLAS_X86
static uint64_t blas_xgetbv(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

void blas_cpu_detect(BlasCpu *cpu) {
    memset(cpu, 0, sizeof *cpu);
    snprintf(cpu->model, sizeof cpu->model, "unknown cpu");
#ifdef BLAS_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned fam = (a >> 8) & 15, model = (a >> 4) & 15, step = a & 15;
    if (fam == 15) fam += (a >> 20) & 255;
    if (fam >= 6) model |= ((a >> 16) & 15) << 4;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    uint64_t xcr0 = osxsave ? blas_xgetbv() : 0;
    int ymm = (xcr0 & 6) == 6, zmm = ymm && (xcr0 & 0xe0) == 0xe0;
    unsigned b7 = 0, a71 = 0;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b7, c, d);
        __cpuid_count(7, 1, a71, b, c, d);
    }
    int avx2 = (b7 >> 5) & 1;
    unsigned need512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31); /* F DQ CD BW VL */
    if (avx && ymm) cpu->isa = BLAS_ISA_AVX;
    if (cpu->isa == BLAS_ISA_AVX && avx2 && fma) cpu->isa = BLAS_ISA_AVX2;
    if (cpu->isa == BLAS_ISA_AVX2 && zmm && (b7 & need512) == need512) cpu->isa = BLAS_ISA_AVX512;
    cpu->bf16 = cpu->isa == BLAS_ISA_AVX512 && ((a71 >> 5) & 1);
    char brand[49] = "";
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
        unsigned *w = (unsigned *)brand;
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &w[4 * i], &w[4 * i + 1], &w[4 * i + 2], &w[4 * i + 3]);
        brand[48] = 0;
    }
    char *s = brand;
    while (*s == ' ') s++;
    snprintf(cpu->model, sizeof cpu->model, "%s family %u model %u stepping %u", *s ? s : "x86", fam, model, step);
#endif
    for (char *p = cpu->model; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r') *p = ' ';
}

/* ---- the decision ---- */

static int blas_env_off(const char *v) {
    return v && (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false"));
}

void blas_decide(const char *current, const BlasCpu *cpu, const char *cached, const BlasEnv *env, BlasChoice *out) {
    memset(out, 0, sizeof *out);
    int force = env->autosel && !strcasecmp(env->autosel, "force");
    if (blas_env_off(env->autosel)) {
        out->reason = "turned off by LLMWB_BLAS_AUTO";
        return;
    }
    if (env->chosen && env->chosen[0]) {
        out->reason = "already re-executed with the chosen core";
        return;
    }
    if (env->coretype && env->coretype[0] && !force) {
        out->reason = "OPENBLAS_CORETYPE set by the user";
        return;
    }
    if (force) {
        out->action = BLAS_PROBE;
        out->reason = "LLMWB_BLAS_AUTO=force";
        return;
    }
    const char *cands[8];
    if (blas_candidates(current, cpu, 0, cands, (int)LW_ARRAY_LEN(cands)) == 0) {
        out->reason = "the library's core is as new as the CPU";
        return;
    }
    if (!cached) {
        out->action = BLAS_PROBE;
        out->reason = "no verdict cached for this machine";
        return;
    }
    if (!strcmp(cached, "default")) {
        out->reason = "measured before: the library's own core is the fastest that works";
        return;
    }
    int isa = blas_core_isa(cached);
    if (isa == BLAS_ISA_SSE || isa > cpu->isa || isa <= blas_core_isa(current)) {
        out->action = BLAS_PROBE;
        out->reason = "the cached verdict does not fit this machine";
        return;
    }
    out->action = BLAS_REEXEC;
    snprintf(out->core, sizeof out->core, "%s", cached);
    out->reason = "verdict cached for this machine";
}

/* ---- the self-test ---- */

/* Shapes (M, N, K) like the model's: rows x d_model -> 3 d_model, odd edges that leave partial tiles, one row
 * (the decoding path). */
static const int blas_test_shapes[][3] = {{48, 144, 96}, {37, 67, 131}, {1, 200, 96}};

/* Entry (i, j) of alpha op(a) op(b) + beta c0, in double. */
static double blas_ref_entry(int ta, int tb, int i, int j, int K, float alpha, const float *a, int lda,
                             const float *b, int ldb, float beta, const float *c0, int ldc, double *mag) {
    double s = 0.0, m = 0.0;
    for (int k = 0; k < K; k++) {
        double av = ta ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k];
        double bv = tb ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j];
        s += av * bv;
        m += fabs(av * bv);
    }
    double cv = c0[(size_t)i * ldc + j];
    *mag = fabs(alpha) * m + fabs(beta * cv);
    return alpha * s + beta * cv;
}

static int blas_test_one(BlasGemmFn gemm, int ta, int tb, int M, int N, int K, Rng *r, float *buf, char *why,
                         size_t n) {
    /* a is op(a) (M, K) stored as (M, K) or (K, M); b likewise; c (M, N) with a row stride larger than N */
    int lda = ta ? M + 3 : K + 3, ldb = tb ? K + 1 : N + 1, ldc = N + 2;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *a = buf, *b = a + na, *c = b + nb, *c0 = c + nc;
    for (size_t i = 0; i < na; i++) a[i] = rng_uniform(r) * 2.0f - 1.0f;
    for (size_t i = 0; i < nb; i++) b[i] = rng_uniform(r) * 2.0f - 1.0f;
    for (size_t i = 0; i < nc; i++) c0[i] = c[i] = rng_uniform(r) * 2.0f - 1.0f;
    float alpha = 0.75f, beta = 1.0f;
    gemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    const double tol = 2e-5; /* relative to the sum of the terms' magnitudes */
    for (int i = 0; i < M; i++) /* the padding after each row must be untouched */
        for (int j = N; j < ldc; j++)
            if (c[(size_t)i * ldc + j] != c0[(size_t)i * ldc + j]) {
                snprintf(why, n, "sgemm %c%c %dx%dx%d wrote outside the product (row %d, column %d)", ta ? 'T' : 'N',
                         tb ? 'T' : 'N', M, N, K, i, j);
                return 1;
            }
    /* every entry against the double product; float rounding stays far below the tolerance */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double mag, ref = blas_ref_entry(ta, tb, i, j, K, alpha, a, lda, b, ldb, beta, c0, ldc, &mag);
            double got = c[(size_t)i * ldc + j];
            if (!(fabs(got - ref) <= tol * mag + 1e-6)) {
                snprintf(why, n, "sgemm %c%c %dx%dx%d: entry (%d, %d) is %g, should be %g", ta ? 'T' : 'N',
                         tb ? 'T' : 'N', M, N, K, i, j, got, ref);
                return 1;
            }
        }
    return 0;
}

int blas_selftest(BlasGemmFn gemm, char *why, size_t n) {
    size_t most = 0;
    for (size_t s = 0; s < LW_ARRAY_LEN(blas_test_shapes); s++) {
        size_t M = (size_t)blas_test_shapes[s][0], N = (size_t)blas_test_shapes[s][1], K = (size_t)blas_test_shapes[s][2];
        size_t need = (M + 3) * (K + 3) + (K + 1) * (N + 1) + (N + 1) * (K + 1) + 2 * M * (N + 2);
        most = LW_MAX(most, need);
    }
    float *buf = lw_malloc(most * sizeof(float));
    Rng r;
    rng_seed(&r, 20240611);
    int rc = 0;
    for (size_t s = 0; s < LW_ARRAY_LEN(blas_test_shapes) && !rc; s++)
        for (int mode = 0; mode < 4 && !rc; mode++)
            rc = blas_test_one(gemm, mode >> 1, mode & 1, blas_test_shapes[s][0], blas_test_shapes[s][1],
                               blas_test_shapes[s][2], &r, buf, why, n);
    free(buf);
    if (!rc) snprintf(why, n, "ok");
    return rc;
}

/* ---- the probe child ---- */

static double blas_measure_gflops(void) {
    enum { M = 256, N = 768, K = 768 };
    float *a = lw_malloc((size_t)(M * K + K * N + M * N) * sizeof(float));
    float *b = a + M * K, *c = b + K * N;
    for (size_t i = 0; i < (size_t)(M * K + K * N); i++) a[i] = (float)(i % 17) * 0.01f - 0.08f;
    double best = 1e30;
    for (int rep = 0; rep < 9; rep++) { /* the first run warms up; the best of the rest */
        double t0 = lw_now();
        matmul_gemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double dt = lw_now() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    free(a);
    return 2.0 * M * N * K / best / 1e9;
}

/* Runs in the child: "ok CORE GFLOPS" or "fail REASON". */
static int blas_probe_child(char *line, size_t n) {
    alarm(20); /* a kernel that hangs must not hang the parent */
    const char *want = getenv("OPENBLAS_CORETYPE"), *core = matmul_blas_core();
    if (want && want[0] && strcasecmp(want, core)) {
        snprintf(line, n, "fail the library runs %s, not %s", core, want);
        return 0;
    }
    char why[200];
    if (blas_selftest(matmul_gemm, why, sizeof why)) {
        snprintf(line, n, "fail %s", why);
        return 0;
    }
    snprintf(line, n, "ok %s %.1f", core, blas_measure_gflops());
    return 0;
}

/* Runs this program as a probe child with OPENBLAS_CORETYPE=core (NULL: unset); returns its GFLOP/s, or -1 when
 * the core does not work here. */
static double blas_probe(const char *core) {
    size_t ne = 0;
    while (environ[ne]) ne++;
    char **envp = lw_malloc((ne + 4) * sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) && strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) &&
            strncmp(environ[i], "LLMWB_BLAS_", 11))
            envp[k++] = environ[i];
    char ct[64], probe[] = "LLMWB_BLAS_PROBE=1", one[] = "OPENBLAS_NUM_THREADS=1";
    envp[k++] = probe;
    envp[k++] = one; /* the kernels' own speed: one thread is less disturbed by whatever else runs */
    if (core) {
        snprintf(ct, sizeof ct, "OPENBLAS_CORETYPE=%s", core);
        envp[k++] = ct;
    }
    envp[k] = NULL;
    int fd[2];
    double result = -1.0;
    if (pipe(fd)) {
        free(envp);
        return -1.0;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char arg0[] = "llmwb-blas-probe", *argv[] = {arg0, NULL};
    pid_t pid;
    int st = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    free(envp);
    if (st == 0) {
        char out[256];
        size_t len = 0;
        ssize_t got;
        while (len + 1 < sizeof out && ((got = read(fd[0], out + len, sizeof out - 1 - len)) > 0 || (got < 0 && errno == EINTR)))
            if (got > 0) len += (size_t)got;
        out[len] = 0;
        out[strcspn(out, "\n")] = 0;
        int ws = 0;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
        char name[64];
        double gf;
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && sscanf(out, "ok %63s %lf", name, &gf) == 2 && gf > 0) result = gf;
        lw_log(LW_LOG_DEBUG, "blas: probe %s: %s", core ? core : "(library default)",
               WIFSIGNALED(ws) ? strsignal(WTERMSIG(ws)) : out);
    }
    close(fd[0]);
    return result;
}

/* ---- the cache ---- */

static int blas_cache_path(char *out, size_t n) {
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && x[0] == '/') snprintf(out, n, "%s/llmwb/blas-core", x);
    else if (h && h[0]) snprintf(out, n, "%s/.cache/llmwb/blas-core", h);
    else return 1;
    return 0;
}

static void blas_cache_key(const BlasCpu *cpu, char *out, size_t n) {
    snprintf(out, n, "%s | %s", cpu->model, matmul_blas_config());
    for (char *p = out; *p; p++)
        if (*p == '\t' || *p == '\n') *p = ' ';
}

/* The verdict for key into out; returns 1 when found. */
static int blas_cache_get(const char *path, const char *key, char *out, size_t n) {
    char *data = NULL;
    size_t len;
    if (lw_read_file(path, &data, &len, NULL)) return 0;
    int found = 0;
    size_t kl = strlen(key);
    for (char *l = data; *l && !found;) {
        char *end = strchr(l, '\n');
        if (end) *end = 0;
        if (!strncmp(l, key, kl) && l[kl] == '\t' && l[kl + 1]) {
            snprintf(out, n, "%s", l + kl + 1);
            found = 1;
        }
        l = end ? end + 1 : l + strlen(l);
    }
    free(data);
    return found;
}

/* Replaces (or adds) key's line, atomically. */
static void blas_cache_put(const char *path, const char *key, const char *verdict) {
    char dir[1024];
    lw_dirname(dir, sizeof dir, path);
    if (lw_mkdirs(dir, NULL)) return;
    char *data = NULL;
    size_t len = 0, kl = strlen(key);
    StrBuf sb = {0};
    if (!lw_read_file(path, &data, &len, NULL)) {
        for (char *l = data; *l;) {
            char *end = strchr(l, '\n');
            size_t ll = end ? (size_t)(end - l) : strlen(l);
            if (ll && !(!strncmp(l, key, kl) && l[kl] == '\t')) {
                sb_add(&sb, l, ll);
                sb_adds(&sb, "\n");
            }
            l += ll + (end ? 1 : 0);
        }
        free(data);
    }
    sb_adds(&sb, key);
    sb_adds(&sb, "\t");
    sb_adds(&sb, verdict);
    sb_adds(&sb, "\n");
    char *s = sb_take(&sb);
    LwError e = {0};
    if (lw_write_file_atomic(path, s, strlen(s), &e)) lw_log(LW_LOG_DEBUG, "blas: %s", e.msg);
    free(s);
}

/* ---- startup ---- */

/* Measures the library's own core and every candidate; returns the winner (NULL: the library's own core). */
static const char *blas_choose(const char *current, const BlasCpu *cpu, int all) {
    const char *cands[8];
    int nc = blas_candidates(current, cpu, all, cands, (int)LW_ARRAY_LEN(cands));
    const char *best = NULL;
    double best_gf = -1.0;
    for (int i = 0; i <= nc; i++) { /* the candidates best first, then the library's own pick */
        const char *core = i < nc ? cands[i] : NULL;
        double gf = blas_probe(core);
        if (gf > 0 && (best_gf < 0 || gf > 1.15 * best_gf)) {
            best = core;
            best_gf = gf;
        }
    }
    return best;
}

int blas_startup(char **argv, char *line, size_t n) {
    if (getenv("LLMWB_BLAS_PROBE")) return blas_probe_child(line, n);
    BlasEnv env = {getenv("OPENBLAS_CORETYPE"), getenv("LLMWB_BLAS_AUTO"), getenv("LLMWB_BLAS_CHOSEN")};
    BlasCpu cpu;
    blas_cpu_detect(&cpu);
    const char *current = matmul_blas_core();
    BlasChoice ch;
    blas_decide(current, &cpu, NULL, &env, &ch);
    char path[1024], key[512], cached[64];
    int have_path = blas_cache_path(path, sizeof path) == 0;
    blas_cache_key(&cpu, key, sizeof key);
    int force = env.autosel && !strcasecmp(env.autosel, "force");
    if (ch.action == BLAS_PROBE && !force && have_path && blas_cache_get(path, key, cached, sizeof cached))
        blas_decide(current, &cpu, cached, &env, &ch);
    lw_log(LW_LOG_DEBUG, "blas: library core %s, cpu %s (isa %d): %s", current, cpu.model, cpu.isa, ch.reason);
    /* OpenBLAS's idle workers spin on sched_yield for 2^28 cycles (~0.1 s) after each call before they sleep,
     * taking the core from our own threads (GELU, LayerNorm, AdamW between the products) and from everything
     * else on the machine; OPENBLAS_THREAD_TIMEOUT=4 makes them sleep at once (a wake-up costs microseconds). */
    int want_timeout = !blas_env_off(env.autosel) && !(env.chosen && env.chosen[0]) && !getenv("OPENBLAS_THREAD_TIMEOUT");
    if (ch.action == BLAS_PROBE) {
        const char *best = blas_choose(current, &cpu, force);
        if (have_path) blas_cache_put(path, key, best ? best : "default");
        if (best) {
            ch.action = BLAS_REEXEC;
            snprintf(ch.core, sizeof ch.core, "%s", best);
        }
    }
    if ((ch.action != BLAS_REEXEC && !want_timeout) || !argv || !argv[0]) return -1;
    if (ch.action == BLAS_REEXEC) setenv("OPENBLAS_CORETYPE", ch.core, 1);
    setenv("LLMWB_BLAS_CHOSEN", ch.action == BLAS_REEXEC ? ch.core : "default", 1);
    if (want_timeout) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    /* the binary's own path, not /proc/self/exe: the process keeps its name (ps, pgrep -x llmwb) */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = 0;
        execv(self, argv);
    } else {
        execv("/proc/self/exe", argv);
    }
    lw_log(LW_LOG_DEBUG, "blas: cannot re-execute: %s", strerror(errno));
    unsetenv("LLMWB_BLAS_CHOSEN");
    if (want_timeout) unsetenv("OPENBLAS_THREAD_TIMEOUT");
    if (env.coretype) setenv("OPENBLAS_CORETYPE", env.coretype, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    return -1;
}

void blas_describe(int threads, char *buf, size_t n) {
    const char *cfg = matmul_blas_config(), *core = matmul_blas_core(), *chosen = getenv("LLMWB_BLAS_CHOSEN");
    char ver[32] = "";
    if (sscanf(cfg, "OpenBLAS %31s", ver) != 1) ver[0] = 0;
    if (threads <= 0) threads = matmul_get_threads();
    int autosel = chosen && !strcasecmp(chosen, core);
    snprintf(buf, n, "OpenBLAS%s%s %s%s, %d thread%s", ver[0] ? " " : "", ver, core, autosel ? " (auto)" : "", threads,
             threads == 1 ? "" : "s");
}

void engine_blas_describe(char *buf, size_t n) { blas_describe(0, buf, n); }
