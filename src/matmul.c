/* matmul.c — the model's matrix products over cblas_sgemm (cblas_sgemv for single-row products), with naive
 * references (double accumulators). The only file that includes <cblas.h>. */
#include "matmul.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

void matmul_set_threads(int n) {
    if (n > 0) openblas_set_num_threads(n);
    else openblas_set_num_threads(openblas_get_num_procs());
}

int matmul_get_threads(void) { return openblas_get_num_threads(); }

const char *matmul_blas_core(void) { return openblas_get_corename(); }

const char *matmul_blas_config(void) { return openblas_get_config(); }

void matmul_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* sgemm with K=0 scales c by beta; make beta 0 a clean overwrite */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return;
    }
    if (M == 1) {
        /* One output row (KV-cache decoding): a matrix-vector product. OpenBLAS's sgemm packs all of b even for a
         * single row, which made decoding several times slower than sgemv reading b once.
         * c^T (N) = op(b)^T (N, K) @ op(a)^T (K); row 0 of op(a) is a (stride 1) or a's first column (stride lda). */
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        if (tb) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, b, ldb, a, ta ? lda : 1, beta, c, 1);
        else cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, b, ldb, a, ta ? lda : 1, beta, c, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

void matmul_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                       int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                float av = ta ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k];
                float bv = tb ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j];
                s += (double)av * bv;
            }
            float *cp = &c[(size_t)i * ldc + j];
            *cp = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cp));
        }
    }
}

/* ---- Conv1D layout: weight (C, OC) ---- */

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC) {
    if (bias) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
    }
    matmul_gemm(0, 0, N, OC, C, 1.0f, inp, C, weight, OC, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_forward_naive(float *out, const float *inp, const float *weight, const float *bias, int N, int C,
                          int OC) {
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int i = 0; i < C; i++) s += (double)inp[(size_t)n * C + i] * weight[(size_t)i * OC + o];
            out[(size_t)n * OC + o] = (float)s;
        }
    }
}

/* Column sums of dout (N, OC) added to dbias (OC); rows outer so the inner loop is contiguous. */
static void matmul_bias_backward(float *dbias, const float *dout, int N, int OC) {
    for (int n = 0; n < N; n++) {
        const float *row = dout + (size_t)n * OC;
        for (int o = 0; o < OC; o++) dbias[o] += row[o];
    }
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC) {
    if (dinp) matmul_gemm(0, 1, N, C, OC, 1.0f, dout, OC, weight, OC, 1.0f, dinp, C);
    if (dweight) matmul_gemm(1, 0, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f, dweight, OC);
    if (dbias) matmul_bias_backward(dbias, dout, N, OC);
}

void matmul_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int N, int C, int OC) {
    if (dinp) {
        for (int n = 0; n < N; n++)
            for (int i = 0; i < C; i++) {
                double s = 0.0;
                for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * weight[(size_t)i * OC + o];
                dinp[(size_t)n * C + i] += (float)s;
            }
    }
    if (dweight) {
        for (int i = 0; i < C; i++)
            for (int o = 0; o < OC; o++) {
                double s = 0.0;
                for (int n = 0; n < N; n++) s += (double)inp[(size_t)n * C + i] * dout[(size_t)n * OC + o];
                dweight[(size_t)i * OC + o] += (float)s;
            }
    }
    if (dbias) {
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            dbias[o] += (float)s;
        }
    }
}

/* ---- Linear layout: weight (OC, C) ---- */

void matmul_forward_nt(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    matmul_gemm(0, 1, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
}

void matmul_forward_nt_naive(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int i = 0; i < C; i++) s += (double)inp[(size_t)n * C + i] * weight[(size_t)o * C + i];
            out[(size_t)n * OC + o] = (float)s;
        }
}

void matmul_backward_nt(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                        int N, int C, int OC) {
    if (dinp) matmul_gemm(0, 0, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight) matmul_gemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
}

void matmul_backward_nt_naive(float *dinp, float *dweight, const float *dout, const float *inp,
                              const float *weight, int N, int C, int OC) {
    if (dinp) {
        for (int n = 0; n < N; n++)
            for (int i = 0; i < C; i++) {
                double s = 0.0;
                for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * weight[(size_t)o * C + i];
                dinp[(size_t)n * C + i] += (float)s;
            }
    }
    if (dweight) {
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < C; i++) {
                double s = 0.0;
                for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * OC + o] * inp[(size_t)n * C + i];
                dweight[(size_t)o * C + i] += (float)s;
            }
    }
}
