/* matmul.h — every matrix product of the model, forward and backward, through cblas_sgemm (matmul.c is the
 * only file that includes <cblas.h>). Each optimized kernel has a naive reference beside it (*_naive) that the
 * tests compare against. Matrices are row-major float32.
 * Letters: N rows (B*T), C input features, OC output features.
 * Kernels are pure: no allocation, no logging; backward passes *accumulate* into every output they are given. */
#ifndef LLMWB_MATMUL_H
#define LLMWB_MATMUL_H

/* Threads OpenBLAS may use (wraps openblas_set_num_threads); n <= 0 means all cores. */
void matmul_set_threads(int n);
int matmul_get_threads(void);
/* The OpenBLAS core in use ("SkylakeX", "Haswell", "Prescott", ...) and its build string
 * ("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64"); static strings. */
const char *matmul_blas_core(void);
const char *matmul_blas_config(void);

/* Conv1D layout (HF GPT-2): out (N, OC) = inp (N, C) @ weight (C, OC) + bias (OC). bias may be NULL.
 * out is overwritten. */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC);
void matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int N, int C,
                          int OC);
/* Backward of matmul_forward, accumulating: dinp (N, C) += dout @ weight^T; dweight (C, OC) += inp^T @ dout;
 * dbias (OC) += column sums of dout. Any of dinp, dweight, dbias may be NULL (skipped). */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC);
void matmul_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int N, int C, int OC);

/* Linear layout (the LM head, weight (OC, C) = wte (V, C)): out (N, OC) = inp (N, C) @ weight^T, overwritten. */
void matmul_forward_nt(float *out, const float *inp, const float *weight, int N, int C, int OC);
void matmul_forward_nt_naive(float *out, const float *inp, const float *weight, int N, int C, int OC);
/* Its backward, accumulating: dinp (N, C) += dout @ weight; dweight (OC, C) += dout^T @ inp. Either may be NULL. */
void matmul_backward_nt(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                        int N, int C, int OC);
void matmul_backward_nt_naive(float *dinp, float *dweight, const float *dout, const float *inp,
                              const float *weight, int N, int C, int OC);

/* General strided product (sgemm; sgemv when M == 1) for attention's per-(b, h) QK^T and AV, reading heads in place inside (B, T, 3C) and
 * (B, T, C) buffers through leading dimensions:
 *   c (M, N; row stride ldc) = alpha * op(a) @ op(b) + beta * c
 * where op(a) is (M, K) — a (M, K; lda) or, if ta, a^T of a (K, M; lda) — and op(b) is (K, N) — b (K, N; ldb) or,
 * if tb, b^T of b (N, K; ldb). beta 0 overwrites c (its old contents are ignored, even NaN). */
void matmul_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc);
void matmul_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                       int ldb, float beta, float *c, int ldc);

#endif
