/* blas.h — choosing OpenBLAS's compute core at startup, and naming the one in use.
 *
 * OpenBLAS picks its kernels (its "core") from the CPU model when the library loads. On a CPU model it does not
 * know (many cloud VMs and containers report a generic one) it falls back to Prescott (SSE3) kernels, 3-5x slower
 * than the AVX2 or AVX-512 ones the CPU runs. The only way to change the core is the environment variable
 * OPENBLAS_CORETYPE, read when the library loads, so blas_startup() — the first call of main() — re-executes the
 * program once with it set when a faster core is known to work here:
 *
 *   1. LLMWB_BLAS_AUTO=0 (or off/no/false): do nothing. A user's own OPENBLAS_CORETYPE: do nothing (it wins).
 *      LLMWB_BLAS_CHOSEN set: this process is the re-executed one: do nothing (the loop guard).
 *   2. The core OpenBLAS picked is as new as the CPU's instruction set (cpuid: AVX-512, AVX2 + FMA, AVX): nothing.
 *   3. Otherwise the verdict cached for this machine (CPU model + library build) is used, or, the first time, each
 *      candidate core the CPU can run (Cooperlake, SkylakeX, Haswell, Sandybridge; plus the library's own pick) is
 *      tried in a child process (this program run with LLMWB_BLAS_PROBE=1 and OPENBLAS_CORETYPE=candidate): it
 *      must report that core, pass blas_selftest() and its one-thread sgemm GFLOP/s are measured. A crashed child (an
 *      illegal instruction) or a failed test rules the core out. The fastest passing core wins (a later candidate
 *      must beat an earlier one by 15%, so noise does not flip the choice); the verdict is written atomically to
 *      $XDG_CACHE_HOME/llmwb/blas-core (default ~/.cache/llmwb/blas-core), one "key<TAB>core" line per machine,
 *      so later starts cost one file read and one exec.
 *   4. The program re-executes itself (/proc/self/exe, same argv) with OPENBLAS_CORETYPE and LLMWB_BLAS_CHOSEN set
 *      to the winner. If that exec fails, it simply continues on the library's core.
 * The same re-execution (also when the core stays; LLMWB_BLAS_CHOSEN is then "default") sets
 * OPENBLAS_THREAD_TIMEOUT=4 unless the user set it: OpenBLAS's idle workers then sleep at once instead of spinning
 * for ~0.1 s after every product against our own threads (measured 1.2-2x faster default-preset steps on a shared
 * 2-core machine). LLMWB_BLAS_AUTO=0 turns that off too.
 * LLMWB_BLAS_AUTO=force re-measures now even over OPENBLAS_CORETYPE or an up-to-date core (and rewrites the cache).
 * Nothing here prints: blas_describe() says what is in use; the caller prints it. */
#ifndef LLMWB_BLAS_H
#define LLMWB_BLAS_H

#include <stddef.h>

/* What the CPU offers, from cpuid (and xgetbv: the OS must save the wider registers). */
enum { BLAS_ISA_SSE = 0, BLAS_ISA_AVX = 1, BLAS_ISA_AVX2 = 2, BLAS_ISA_AVX512 = 3 };
typedef struct BlasCpu {
    int isa;          /* BLAS_ISA_*: AVX2 means AVX2 + FMA; AVX512 means F, CD, BW, DQ and VL */
    int bf16;         /* AVX512_BF16 (what OpenBLAS's Cooperlake core adds) */
    char model[128];  /* brand string, family, model, stepping: part of the cache key */
} BlasCpu;
void blas_cpu_detect(BlasCpu *cpu);

/* The instruction set an OpenBLAS core name needs (case-insensitive: "SkylakeX" -> BLAS_ISA_AVX512, "Haswell" ->
 * AVX2, "Sandybridge" -> AVX); BLAS_ISA_SSE for older or unknown names. */
int blas_core_isa(const char *core);

/* The environment the decision reads (NULL = unset). */
typedef struct BlasEnv {
    const char *coretype; /* OPENBLAS_CORETYPE */
    const char *autosel;  /* LLMWB_BLAS_AUTO */
    const char *chosen;   /* LLMWB_BLAS_CHOSEN */
} BlasEnv;

enum { BLAS_STAY = 0, BLAS_REEXEC = 1, BLAS_PROBE = 2 };
typedef struct BlasChoice {
    int action;           /* BLAS_STAY: run as is; BLAS_REEXEC: re-execute with core; BLAS_PROBE: measure first */
    char core[32];        /* BLAS_REEXEC: the core to use */
    const char *reason;   /* one phrase, for LLMWB_DEBUG and the tests */
} BlasChoice;

/* The pure decision of steps 1-3: current is the core OpenBLAS picked, cached the verdict cached for this machine
 * (NULL: none; "default": the library's own core measured fastest; else a core name). */
void blas_decide(const char *current, const BlasCpu *cpu, const char *cached, const BlasEnv *env, BlasChoice *out);

/* The candidate cores cpu can run, best first, into out (up to max); only those newer than current unless all.
 * Returns how many. */
int blas_candidates(const char *current, const BlasCpu *cpu, int all, const char **out, int max);

/* A matrix product with matmul_gemm's contract (matmul.h). */
typedef void (*BlasGemmFn)(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                           int ldb, float beta, float *c, int ldc);
/* Checks gemm on GPT-shaped products (rows x d_model x 3 d_model, odd edges, a single row) in all four transpose
 * modes with alpha 0.75, beta 1 and padded rows, every entry against a double-precision reference (and the
 * padding untouched). Returns 0 when it passes, else nonzero with why filled ("ok" then). A few milliseconds. */
int blas_selftest(BlasGemmFn gemm, char *why, size_t n);

/* Call first in main(). Returns -1 to go on (possibly after having re-executed the process: then this is the new
 * one). Returns >= 0 when this process is a probe child (LLMWB_BLAS_PROBE=1): main must print line and return the
 * status at once. */
int blas_startup(char **argv, char *line, size_t n);

/* "OpenBLAS 0.3.21 SkylakeX, 2 threads"; " (auto)" after the core when blas_startup chose it. threads <= 0: the
 * number the BLAS uses now. */
void blas_describe(int threads, char *buf, size_t n);

#endif
