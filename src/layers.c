/* layers.c — GPT-2 layer kernels and their backward passes (see layers.h for shapes and contracts).
 * Letters: B batch, T time, C channels, NH heads, HS head size, V vocab, N rows. */
#include "layers.h"

#include <math.h>
#include <string.h>
#include "matmul.h"
#include "util.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *we = wte + (size_t)inp[b * T + t] * C;
            const float *pe = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = we[i] + pe[i];
        }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dwe = dwte + (size_t)inp[b * T + t] * C;
            float *dpe = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) {
                dwe[i] += d[i];
                dpe[i] += d[i];
            }
        }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float s = 0.0f;
        for (int i = 0; i < C; i++) s += x[i];
        float m = s / (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        float r = 1.0f / sqrtf(v / (float)C + 1e-5f);
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * r * weight[i] + bias[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        /* dnorm = d * w; dx = r * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) */
        float sum_dn = 0.0f, sum_dn_norm = 0.0f;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * r;
            float dn = d[i] * weight[i];
            sum_dn += dn;
            sum_dn_norm += dn * norm;
        }
        float mdn = sum_dn / (float)C, mdnn = sum_dn_norm / (float)C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * r;
            float dn = d[i] * weight[i];
            dbias[i] += d[i];
            dweight[i] += d[i] * norm;
            dx[i] += r * (dn - mdn - norm * mdnn);
        }
    }
}

void gelu_forward_naive(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_A * x * x * x)));
    }
}

void gelu_backward_naive(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + GELU_A * x * x * x);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        dinp[i] += g * dout[i];
    }
}

void gelu_forward(float *out, const float *inp, size_t n) { gelu_forward_naive(out, inp, n); }

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    gelu_backward_naive(dinp, inp, dout, n);
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void dropout_mask(uint8_t *mask, size_t n, float p, Rng *r) {
    for (size_t i = 0; i < n; i++) mask[i] = rng_uniform(r) >= p;
}

void dropout_forward(float *out, const float *inp, const uint8_t *mask, size_t n, float p) {
    float s = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) out[i] = mask[i] ? inp[i] * s : 0.0f;
}

void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, size_t n, float p) {
    float s = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) dinp[i] += mask[i] ? dout[i] * s : 0.0f;
}

/* ---- attention ---- */

/* In place over one (T, T) block whose row i holds scaled scores for keys 0..i: causal softmax, zeros above. */
static void attention_softmax_rows(float *att, int T) {
    for (int i = 0; i < T; i++) {
        float *row = att + (size_t)i * T;
        float mx = row[0];
        for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        float s = 0.0f;
        for (int j = 0; j <= i; j++) {
            row[j] = expf(row[j] - mx);
            s += row[j];
        }
        float inv = 1.0f / s;
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
}

void attention_forward(float *out, float *att, const float *qkv, const uint8_t *mask, float p, float *scratch,
                       int B, int T, int C, int NH) {
    int HS = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)T * T;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * C3 + (size_t)h * HS;
            const float *k = q + C;
            const float *v = q + 2 * C;
            float *a = att + ((size_t)b * NH + h) * TT;
            matmul_gemm(0, 1, T, T, HS, scale, q, C3, k, C3, 0.0f, a, T);
            attention_softmax_rows(a, T);
            const float *src = a;
            if (mask) {
                dropout_forward(scratch, a, mask + ((size_t)b * NH + h) * TT, TT, p);
                src = scratch;
            }
            matmul_gemm(0, 0, T, HS, T, 1.0f, src, T, v, C3, 0.0f, out + (size_t)b * T * C + (size_t)h * HS, C);
        }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, const uint8_t *mask,
                        float p, float *scratch, int B, int T, int C, int NH) {
    int HS = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)T * T;
    float *datt = scratch, *dropped = scratch + TT;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            size_t qo = (size_t)b * T * C3 + (size_t)h * HS;
            const float *q = qkv + qo, *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + qo, *dk = dq + C, *dv = dq + 2 * C;
            const float *a = att + ((size_t)b * NH + h) * TT;
            const uint8_t *mk = mask ? mask + ((size_t)b * NH + h) * TT : NULL;
            const float *dO = dout + (size_t)b * T * C + (size_t)h * HS;
            const float *src = a;
            if (mk) {
                dropout_forward(dropped, a, mk, TT, p);
                src = dropped;
            }
            /* d(weights used) = dO v^T; dv += weights^T dO */
            matmul_gemm(0, 1, T, T, HS, 1.0f, dO, C, v, C3, 0.0f, datt, T);
            matmul_gemm(1, 0, T, HS, T, 1.0f, src, T, dO, C, 1.0f, dv, C3);
            if (mk) {
                float s = 1.0f / (1.0f - p);
                for (size_t i = 0; i < TT; i++) datt[i] = mk[i] ? datt[i] * s : 0.0f;
            }
            /* softmax backward (rows), with the 1/sqrt(HS) of the scores folded in; zero above the diagonal */
            for (int i = 0; i < T; i++) {
                const float *ar = a + (size_t)i * T;
                float *dr = datt + (size_t)i * T;
                float dot = 0.0f;
                for (int j = 0; j <= i; j++) dot += ar[j] * dr[j];
                for (int j = 0; j <= i; j++) dr[j] = ar[j] * (dr[j] - dot) * scale;
                for (int j = i + 1; j < T; j++) dr[j] = 0.0f;
            }
            /* scores = q k^T: dq += dS k; dk += dS^T q */
            matmul_gemm(0, 0, T, HS, T, 1.0f, datt, T, k, C3, 1.0f, dq, C3);
            matmul_gemm(1, 0, T, HS, T, 1.0f, datt, T, q, C3, 1.0f, dk, C3);
        }
}

void attention_forward_naive(float *out, float *att, const float *qkv, const uint8_t *mask, float p, int B, int T,
                             int C, int NH) {
    int HS = C / NH, C3 = 3 * C;
    double scale = 1.0 / sqrt((double)HS);
    float ds = 1.0f / (1.0f - p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * C3 + (size_t)h * HS;
                float *a = att + (((size_t)b * NH + h) * T + i) * T;
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    if (j > i) {
                        a[j] = 0.0f;
                        continue;
                    }
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + (size_t)h * HS;
                    double s = 0.0;
                    for (int d = 0; d < HS; d++) s += (double)q[d] * k[d];
                    a[j] = (float)(s * scale);
                    if (a[j] > mx) mx = a[j];
                }
                double sum = 0.0;
                for (int j = 0; j <= i; j++) sum += exp(a[j] - mx);
                for (int j = 0; j <= i; j++) a[j] = (float)(exp(a[j] - mx) / sum);
                const uint8_t *mk = mask ? mask + (((size_t)b * NH + h) * T + i) * T : NULL;
                float *o = out + ((size_t)b * T + i) * C + (size_t)h * HS;
                for (int d = 0; d < HS; d++) {
                    double s = 0.0;
                    for (int j = 0; j <= i; j++) {
                        float w = mk ? (mk[j] ? a[j] * ds : 0.0f) : a[j];
                        s += (double)w * qkv[((size_t)b * T + j) * C3 + 2 * C + (size_t)h * HS + d];
                    }
                    o[d] = (float)s;
                }
            }
}

void attention_backward_naive(float *dqkv, const float *dout, const float *qkv, const float *att,
                              const uint8_t *mask, float p, int B, int T, int C, int NH) {
    int HS = C / NH, C3 = 3 * C;
    double scale = 1.0 / sqrt((double)HS);
    float ds = 1.0f / (1.0f - p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const float *a = att + (((size_t)b * NH + h) * T + i) * T;
                const uint8_t *mk = mask ? mask + (((size_t)b * NH + h) * T + i) * T : NULL;
                const float *dO = dout + ((size_t)b * T + i) * C + (size_t)h * HS;
                const float *q = qkv + ((size_t)b * T + i) * C3 + (size_t)h * HS;
                float *dq = dqkv + ((size_t)b * T + i) * C3 + (size_t)h * HS;
                /* dA[j] = dO . v_j (times dropout), then softmax backward */
                double dot = 0.0;
                for (int j = 0; j <= i; j++) {
                    const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + (size_t)h * HS;
                    double s = 0.0;
                    for (int d = 0; d < HS; d++) s += (double)dO[d] * v[d];
                    if (mk) s = mk[j] ? s * ds : 0.0;
                    dot += s * a[j];
                }
                for (int j = 0; j <= i; j++) {
                    const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + (size_t)h * HS;
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + (size_t)h * HS;
                    float *dk = dqkv + ((size_t)b * T + j) * C3 + C + (size_t)h * HS;
                    float *dv = dqkv + ((size_t)b * T + j) * C3 + 2 * C + (size_t)h * HS;
                    double s = 0.0;
                    for (int d = 0; d < HS; d++) s += (double)dO[d] * v[d];
                    double w = a[j];
                    if (mk) {
                        s = mk[j] ? s * ds : 0.0;
                        w = mk[j] ? w * ds : 0.0;
                    }
                    double dsc = a[j] * (s - dot) * scale;
                    for (int d = 0; d < HS; d++) {
                        dv[d] += (float)(w * dO[d]);
                        dq[d] += (float)(dsc * k[d]);
                        dk[d] += (float)(dsc * q[d]);
                    }
                }
            }
}

/* ---- softmax + cross-entropy ---- */

double crossentropy_forward(float *lse, const float *logits, const int *targets, int ignore_index, int N, int V,
                            int *count) {
    double total = 0.0;
    int cnt = 0;
    for (int n = 0; n < N; n++) {
        const float *row = logits + (size_t)n * V;
        float mx = row[0];
        for (int i = 1; i < V; i++) mx = row[i] > mx ? row[i] : mx;
        float s = 0.0f;
        for (int i = 0; i < V; i++) s += expf(row[i] - mx);
        lse[n] = mx + logf(s);
        int t = targets[n];
        if (t == ignore_index) continue;
        LW_ASSERT(t >= 0 && t < V);
        total += (double)lse[n] - row[t];
        cnt++;
    }
    *count = cnt;
    return total;
}

void crossentropy_backward_inplace(float *logits, const float *lse, const int *targets, int ignore_index, int N,
                                   int V, float dloss) {
    for (int n = 0; n < N; n++) {
        float *row = logits + (size_t)n * V;
        int t = targets[n];
        if (t == ignore_index) {
            memset(row, 0, (size_t)V * sizeof(float));
            continue;
        }
        float l = lse[n];
        for (int i = 0; i < V; i++) row[i] = dloss * expf(row[i] - l);
        row[t] -= dloss;
    }
}
