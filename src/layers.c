/* layers.c — GPT-2 layer kernels and their backward passes (see layers.h for shapes and contracts).
 * Letters: B batch, T time, C channels, NH heads, HS head size, V vocab, N rows. */
#include "layers.h"

#include <math.h>
#include <string.h>
#include "matmul.h"
#include "util.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* ---- small SIMD helpers ----
 * The build uses plain -O2, where GCC does not vectorize loops, so the few hot non-BLAS loops (GELU, softmax and
 * cross-entropy exponentials, AdamW, sums of squares) use GCC/Clang vector extensions: 4 floats per operation,
 * lowered to whatever the target has (an SSE register on baseline x86-64). Loads and stores go through memcpy so
 * no alignment is assumed. Each loop keeps a scalar tail that computes the same formula. */
typedef float F4 __attribute__((vector_size(16))); /* 4 lanes: one SSE/NEON register, no ABI surprises */
typedef int32_t I4 __attribute__((vector_size(16)));
#define VL 4

static inline F4 v4_load(const float *p) {
    F4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v4_store(float *p, F4 v) { memcpy(p, &v, sizeof v); }
static inline F4 v4_set(float x) { return (F4){x, x, x, x}; }
static inline float v4_hsum(F4 v) { return (v[0] + v[2]) + (v[1] + v[3]); }
static inline F4 v4_max(F4 a, F4 b) {
    I4 m = a > b;
    return (F4)((m & (I4)a) | (~m & (I4)b));
}

/* exp(x) for each lane: range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r (Cephes'
 * coefficients, about 1 ulp), scaled by 2^n through the exponent bits. NaN gives NaN. Inputs below -87.3 give 0, above 88.3
 * give 2^127-ish (the callers never pass such values except as saturating arguments). */
static inline F4 v4_exp(F4 x) {
    I4 nan = x != x; /* NaN in gives NaN out, so a diverging model stays visible */
    I4 nanbits = nan & (I4)x;
    I4 under = x < v4_set(-87.3f);
    x = v4_max(x, v4_set(-87.3f));
    x = -v4_max(-x, v4_set(-88.3f));
    F4 magic = v4_set(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    F4 t = x * v4_set(1.44269504088896341f) + magic;
    F4 n = t - magic;
    F4 r = x - n * v4_set(0.693359375f) - n * v4_set(-2.12194440e-4f);
    F4 p = v4_set(1.9875691500e-4f);
    p = p * r + v4_set(1.3981999507e-3f);
    p = p * r + v4_set(8.3334519073e-3f);
    p = p * r + v4_set(4.1665795894e-2f);
    p = p * r + v4_set(1.6666665459e-1f);
    p = p * r + v4_set(5.0000001201e-1f);
    p = p * r * r + r + v4_set(1.0f);
    I4 ni = __builtin_convertvector(n, I4);
    F4 scale = (F4)((ni + 127) << 23);
    return (F4)(((I4)(p * scale) & ~under) | nanbits);
}

/* Scalar exp matching v4_exp's formula, for loop tails. */
static inline float s_exp(float x) {
    return v4_exp(v4_set(x))[0];
}

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

void layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp, const float *weight,
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

void layernorm_backward_naive(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
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

/* The optimized LayerNorm: the same formulas 4 lanes wide (sums in 4 partial lanes), mean and variance in two
 * passes over the row as the naive twin does. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C) {
    layernorm_forward_eps(out, mean, rstd, inp, weight, bias, N, C, 1e-5f);
}

void layernorm_forward_eps(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                           const float *bias, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        int i = 0;
        F4 acc = v4_set(0.0f);
        for (; i + VL <= C; i += VL) acc += v4_load(x + i);
        float s = v4_hsum(acc);
        for (; i < C; i++) s += x[i];
        float m = s / (float)C;
        F4 vm = v4_set(m);
        acc = v4_set(0.0f);
        for (i = 0; i + VL <= C; i += VL) {
            F4 d = v4_load(x + i) - vm;
            acc += d * d;
        }
        float v = v4_hsum(acc);
        for (; i < C; i++) v += (x[i] - m) * (x[i] - m);
        float r = 1.0f / sqrtf(v / (float)C + eps);
        F4 vr = v4_set(r);
        for (i = 0; i + VL <= C; i += VL)
            v4_store(o + i, (v4_load(x + i) - vm) * vr * v4_load(weight + i) + v4_load(bias + i));
        for (; i < C; i++) o[i] = (x[i] - m) * r * weight[i] + bias[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

void layernorm_backward_dinp(float *dinp, const float *dout, const float *inp, const float *weight,
                             const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        F4 vm = v4_set(m), vr = v4_set(r), a1 = v4_set(0.0f), a2 = v4_set(0.0f);
        int i = 0;
        for (; i + VL <= C; i += VL) {
            F4 norm = (v4_load(x + i) - vm) * vr, dn = v4_load(d + i) * v4_load(weight + i);
            a1 += dn;
            a2 += dn * norm;
        }
        float sum_dn = v4_hsum(a1), sum_dn_norm = v4_hsum(a2);
        for (; i < C; i++) {
            float norm = (x[i] - m) * r, dn = d[i] * weight[i];
            sum_dn += dn;
            sum_dn_norm += dn * norm;
        }
        float mdn = sum_dn / (float)C, mdnn = sum_dn_norm / (float)C;
        F4 vmdn = v4_set(mdn), vmdnn = v4_set(mdnn);
        for (i = 0; i + VL <= C; i += VL) {
            F4 norm = (v4_load(x + i) - vm) * vr, dn = v4_load(d + i) * v4_load(weight + i);
            v4_store(dx + i, v4_load(dx + i) + vr * (dn - vmdn - norm * vmdnn));
        }
        for (; i < C; i++) {
            float norm = (x[i] - m) * r, dn = d[i] * weight[i];
            dx[i] += r * (dn - mdn - norm * mdnn);
        }
    }
}

void layernorm_backward_params(float *dweight, float *dbias, const float *dout, const float *inp, const float *mean,
                               const float *rstd, int N, int C, int c0, int c1) {
    for (int n = 0; n < N; n++) { /* rows outer: each row's slice [c0, c1) is contiguous */
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        F4 vm = v4_set(mean[n]), vr = v4_set(rstd[n]);
        int i = c0;
        for (; i + VL <= c1; i += VL) {
            F4 dv = v4_load(d + i);
            v4_store(dbias + i, v4_load(dbias + i) + dv);
            v4_store(dweight + i, v4_load(dweight + i) + dv * ((v4_load(x + i) - vm) * vr));
        }
        for (; i < c1; i++) {
            dbias[i] += d[i];
            dweight[i] += d[i] * ((x[i] - mean[n]) * rstd[n]);
        }
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
    layernorm_backward_dinp(dinp, dout, inp, weight, mean, rstd, N, C);
    layernorm_backward_params(dweight, dbias, dout, inp, mean, rstd, N, C, 0, C);
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

/* The optimized GELU uses the identity 0.5 (1 + tanh(u)) = sigmoid(2u): gelu(x) = x s with s = 1 / (1 + e^(-2u)),
 * u = sqrt(2/pi) (x + 0.044715 x^3); gelu'(x) = s + x s (1 - s) 2 du/dx. No cancellation near tanh = -1. */
static inline F4 v4_gelu_sigmoid(F4 x) {
    F4 u = v4_set(GELU_K) * (x + v4_set(GELU_A) * x * x * x);
    return v4_set(1.0f) / (v4_set(1.0f) + v4_exp(v4_set(-2.0f) * u));
}


/* ---- GELU and softmax exponentials 8 lanes wide on CPUs with AVX2 (chosen at run time; the build itself targets
 * baseline x86-64) ----
 * The same operations as the 4-lane code in the same order (the build does not contract a*b+c into FMA); tested
 * against the naive twins like the 4-lane code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LW_GELU8 1
typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
#define AVX2_FN __attribute__((target("avx2")))

#define V8(c) ((F8){0} + (c)) /* broadcast */

static inline AVX2_FN F8 v8_load(const float *p) {
    F8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline AVX2_FN void v8_store(float *p, F8 v) { memcpy(p, &v, sizeof v); }
static inline AVX2_FN F8 v8_max(F8 a, F8 b) {
    I8 m = a > b;
    return (F8)((m & (I8)a) | (~m & (I8)b));
}

/* v4_exp, 8 lanes. */
static inline AVX2_FN F8 v8_exp(F8 x) {
    I8 nan = x != x;
    I8 nanbits = nan & (I8)x;
    F8 lo = V8(-87.3f), hi = V8(88.3f);
    I8 under = x < lo;
    x = v8_max(x, lo);
    x = -v8_max(-x, -hi);
    F8 magic = V8(12582912.0f);
    F8 t = x * 1.44269504088896341f + magic;
    F8 n = t - magic;
    F8 r = x - n * 0.693359375f - n * -2.12194440e-4f;
    F8 p = V8(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    I8 ni = __builtin_convertvector(n, I8);
    F8 scale = (F8)((ni + 127) << 23);
    return (F8)(((I8)(p * scale) & ~under) | nanbits);
}

static inline AVX2_FN F8 v8_gelu_sigmoid(F8 x) {
    F8 u = GELU_K * (x + GELU_A * x * x * x);
    return 1.0f / (1.0f + v8_exp(-2.0f * u));
}

/* gelu'(x) times d, the formula of gelu_backward. */
static inline AVX2_FN F8 v8_gelu_grad(F8 x, F8 d) {
    F8 sg = v8_gelu_sigmoid(x);
    F8 du = (2.0f * GELU_K) * (1.0f + (3.0f * GELU_A) * x * x);
    return (sg + x * sg * (1.0f - sg) * du) * d;
}

/* mode 0: out = gelu(inp); 1: out += gelu'(inp) dout; 2: out = gelu'(inp) out. Returns how many were done (the
 * callers finish the tail 4 lanes wide). */
static AVX2_FN size_t gelu8(int mode, float *out, const float *inp, const float *dout, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        F8 x = v8_load(inp + i);
        if (mode == 0) v8_store(out + i, x * v8_gelu_sigmoid(x));
        else if (mode == 1) v8_store(out + i, v8_load(out + i) + v8_gelu_grad(x, v8_load(dout + i)));
        else v8_store(out + i, v8_gelu_grad(x, v8_load(out + i)));
    }
    return i;
}

/* The exponentials of a softmax row, 8 lanes at a time over the first multiple of 8: x[i] = exp(x[i] - sub) * mul
 * when write (mul 1: plain), else only summed. Returns how many were done; *sum gets their sum (of the unscaled
 * exponentials). */
static AVX2_FN size_t exp8_row(float *x, size_t n, float sub, float mul, int write, float *sum) {
    size_t i = 0;
    F8 acc = V8(0.0f), vs = V8(sub), vm = V8(mul);
    for (; i + 8 <= n; i += 8) {
        F8 e = v8_exp(v8_load(x + i) - vs);
        if (write) v8_store(x + i, mul == 1.0f ? e : e * vm);
        acc += e;
    }
    *sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    return i;
}

static int gelu8_ok(void) {
    static int ok = -1;
    if (ok < 0) ok = __builtin_cpu_supports("avx2");
    return ok;
}
#endif

void gelu_forward(float *out, const float *inp, size_t n) {
    size_t i = 0;
#ifdef LW_GELU8
    if (gelu8_ok()) i = gelu8(0, out, inp, NULL, n);
#endif
    for (; i + VL <= n; i += VL) {
        F4 x = v4_load(inp + i);
        v4_store(out + i, x * v4_gelu_sigmoid(x));
    }
    for (; i < n; i++) {
        float x = inp[i], u = GELU_K * (x + GELU_A * x * x * x);
        out[i] = x / (1.0f + s_exp(-2.0f * u));
    }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    size_t i = 0;
#ifdef LW_GELU8
    if (gelu8_ok()) i = gelu8(1, dinp, inp, dout, n);
#endif
    for (; i + VL <= n; i += VL) {
        F4 x = v4_load(inp + i);
        F4 sg = v4_gelu_sigmoid(x);
        F4 du = v4_set(2.0f * GELU_K) * (v4_set(1.0f) + v4_set(3.0f * GELU_A) * x * x);
        F4 g = sg + x * sg * (v4_set(1.0f) - sg) * du;
        v4_store(dinp + i, v4_load(dinp + i) + g * v4_load(dout + i));
    }
    for (; i < n; i++) {
        float x = inp[i], u = GELU_K * (x + GELU_A * x * x * x);
        float sg = 1.0f / (1.0f + s_exp(-2.0f * u));
        float g = sg + x * sg * (1.0f - sg) * 2.0f * GELU_K * (1.0f + 3.0f * GELU_A * x * x);
        dinp[i] += g * dout[i];
    }
}

void gelu_backward_inplace(float *d, const float *inp, size_t n) {
    size_t i = 0;
#ifdef LW_GELU8
    if (gelu8_ok()) i = gelu8(2, d, inp, NULL, n);
#endif
    for (; i + VL <= n; i += VL) {
        F4 x = v4_load(inp + i);
        F4 sg = v4_gelu_sigmoid(x);
        F4 du = v4_set(2.0f * GELU_K) * (v4_set(1.0f) + v4_set(3.0f * GELU_A) * x * x);
        v4_store(d + i, (sg + x * sg * (v4_set(1.0f) - sg) * du) * v4_load(d + i));
    }
    for (; i < n; i++) {
        float x = inp[i], u = GELU_K * (x + GELU_A * x * x * x);
        float sg = 1.0f / (1.0f + s_exp(-2.0f * u));
        d[i] = (sg + x * sg * (1.0f - sg) * 2.0f * GELU_K * (1.0f + 3.0f * GELU_A * x * x)) * d[i];
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* Four 16-bit draws per 64-bit random number: an element is dropped when its draw is below round(p * 65536),
 * so p is applied in steps of 1/65536. */
void dropout_mask(uint8_t *mask, size_t n, float p, Rng *r) {
    uint32_t thr = (uint32_t)lrintf(p * 65536.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint64_t u = rng_u64(r);
        mask[i] = (uint32_t)(u & 0xffff) >= thr;
        mask[i + 1] = (uint32_t)((u >> 16) & 0xffff) >= thr;
        mask[i + 2] = (uint32_t)((u >> 32) & 0xffff) >= thr;
        mask[i + 3] = (uint32_t)(u >> 48) >= thr;
    }
    if (i < n) {
        uint64_t u = rng_u64(r);
        for (; i < n; i++, u >>= 16) mask[i] = (uint32_t)(u & 0xffff) >= thr;
    }
}

/* The mask bytes (0/1) of 4 lanes as floats. */
static inline F4 v4_mask(const uint8_t *m) { return (F4){m[0], m[1], m[2], m[3]}; }

/* Dropped elements are multiplied by 0 (as PyTorch does), so a NaN or Inf input stays visible. */
void dropout_forward(float *out, const float *inp, const uint8_t *mask, size_t n, float p) {
    float s = 1.0f / (1.0f - p);
    size_t i = 0;
    for (; i + VL <= n; i += VL) v4_store(out + i, v4_load(inp + i) * v4_mask(mask + i) * v4_set(s));
    for (; i < n; i++) out[i] = inp[i] * (float)mask[i] * s;
}

void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, size_t n, float p) {
    float s = 1.0f / (1.0f - p);
    size_t i = 0;
    for (; i + VL <= n; i += VL)
        v4_store(dinp + i, v4_load(dinp + i) + v4_load(dout + i) * v4_mask(mask + i) * v4_set(s));
    for (; i < n; i++) dinp[i] += dout[i] * (float)mask[i] * s;
}

/* ---- attention ---- */

/* Largest of x[0..n), n >= 1. */
static float row_max(const float *x, size_t n) {
    size_t i = 0;
    float mx = x[0];
    if (n >= VL) {
        F4 m = v4_load(x);
        for (i = VL; i + VL <= n; i += VL) m = v4_max(m, v4_load(x + i));
        for (int k = 0; k < VL; k++) mx = m[k] > mx ? m[k] : mx;
    }
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

/* x[i] = exp(x[i] - sub) * mul in place when write, else only summed; returns the sum of the (unscaled)
 * exponentials. 8 lanes wide where the CPU has AVX2, then 4. */
static float row_exp_scale(float *x, size_t n, float sub, float mul, int write) {
    size_t i = 0;
    float s8 = 0.0f;
#ifdef LW_GELU8
    if (gelu8_ok()) i = exp8_row(x, n, sub, mul, write, &s8);
#endif
    F4 acc = v4_set(0.0f), vs = v4_set(sub), vm = v4_set(mul);
    for (; i + VL <= n; i += VL) {
        F4 e = v4_exp(v4_load(x + i) - vs);
        if (write) v4_store(x + i, mul == 1.0f ? e : e * vm);
        acc += e;
    }
    float s = s8 + v4_hsum(acc);
    for (; i < n; i++) {
        float e = s_exp(x[i] - sub);
        if (write) x[i] = mul == 1.0f ? e : e * mul;
        s += e;
    }
    return s;
}

/* x[i] = exp(x[i] - sub) in place when write, else only summed; returns the sum of the exponentials. */
static float row_exp_sum(float *x, size_t n, float sub, int write) { return row_exp_scale(x, n, sub, 1.0f, write); }

/* x[0..n) *= a. */
static void row_scale(float *x, size_t n, float a) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) v4_store(x + i, v4_load(x + i) * v4_set(a));
    for (; i < n; i++) x[i] *= a;
}

/* One row of the softmax backward, in place: d[j] = a[j] (d[j] - sum_k a[k] d[k]) * scale for j < n, and 0 for
 * n <= j < len (the masked keys). */
static void softmax_row_backward(float *d, const float *a, size_t n, size_t len, float scale) {
    size_t j = 0;
    F4 acc = v4_set(0.0f);
    for (; j + VL <= n; j += VL) acc += v4_load(a + j) * v4_load(d + j);
    float dot = v4_hsum(acc);
    for (; j < n; j++) dot += a[j] * d[j];
    F4 vdot = v4_set(dot), vs = v4_set(scale);
    for (j = 0; j + VL <= n; j += VL) v4_store(d + j, v4_load(a + j) * (v4_load(d + j) - vdot) * vs);
    for (; j < n; j++) d[j] = a[j] * (d[j] - dot) * scale;
    for (; j < len; j++) d[j] = 0.0f;
}

/* In place over one (T, T) block whose row i holds scaled scores for keys 0..i: causal softmax, zeros above. */
static void attention_softmax_rows(float *att, int T) {
    for (int i = 0; i < T; i++) {
        float *row = att + (size_t)i * T;
        float mx = row_max(row, (size_t)i + 1);
        float s = row_exp_sum(row, (size_t)i + 1, mx, 1);
        row_scale(row, (size_t)i + 1, 1.0f / s);
        for (int j = i + 1; j < T; j++) row[j] = 0.0f;
    }
}

void attention_forward(float *out, float *att, const float *qkv, const uint8_t *mask, float p, float *scratch,
                       int B, int T, int C, int NH) {
    attention_forward_heads(out, att, qkv, mask, p, scratch, B, T, C, NH, 0, B * NH);
}

void attention_forward_heads(float *out, float *att, const float *qkv, const uint8_t *mask, float p, float *scratch,
                             int B, int T, int C, int NH, int bh0, int bh1) {
    int HS = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)T * T;
    LW_ASSERT(0 <= bh0 && bh0 <= bh1 && bh1 <= B * NH);
    if (mask) memset(scratch, 0, TT * sizeof(float)); /* only lower triangles are written below */
    for (int bh = bh0; bh < bh1; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (size_t)b * T * C3 + (size_t)h * HS;
        const float *k = q + C;
        const float *v = q + 2 * C;
        float *a = att + ((size_t)b * NH + h) * TT;
        matmul_gemm(0, 1, T, T, HS, scale, q, C3, k, C3, 0.0f, a, T);
        attention_softmax_rows(a, T);
        const float *src = a;
        if (mask) {
            const uint8_t *mk = mask + ((size_t)b * NH + h) * TT;
            for (size_t i = 0; i < (size_t)T; i++) dropout_forward(scratch + i * T, a + i * T, mk + i * T, i + 1, p);
            src = scratch;
        }
        matmul_gemm(0, 0, T, HS, T, 1.0f, src, T, v, C3, 0.0f, out + (size_t)b * T * C + (size_t)h * HS, C);
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, const uint8_t *mask,
                        float p, float *scratch, int B, int T, int C, int NH) {
    attention_backward_heads(dqkv, dout, qkv, att, mask, p, scratch, B, T, C, NH, 0, B * NH);
}

void attention_backward_heads(float *dqkv, const float *dout, const float *qkv, const float *att,
                              const uint8_t *mask, float p, float *scratch, int B, int T, int C, int NH, int bh0,
                              int bh1) {
    int HS = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)T * T;
    float *datt = scratch, *dropped = scratch + TT;
    LW_ASSERT(0 <= bh0 && bh0 <= bh1 && bh1 <= B * NH);
    if (mask) memset(dropped, 0, TT * sizeof(float)); /* only lower triangles are written below */
    for (int bh = bh0; bh < bh1; bh++) {
        int b = bh / NH, h = bh % NH;
        size_t qo = (size_t)b * T * C3 + (size_t)h * HS;
        const float *q = qkv + qo, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + qo, *dk = dq + C, *dv = dq + 2 * C;
        const float *a = att + ((size_t)b * NH + h) * TT;
        const uint8_t *mk = mask ? mask + ((size_t)b * NH + h) * TT : NULL;
        const float *dO = dout + (size_t)b * T * C + (size_t)h * HS;
        const float *src = a;
        if (mk) {
            for (size_t i = 0; i < (size_t)T; i++) dropout_forward(dropped + i * T, a + i * T, mk + i * T, i + 1, p);
            src = dropped;
        }
        /* d(weights used) = dO v^T; dv += weights^T dO */
        matmul_gemm(0, 1, T, T, HS, 1.0f, dO, C, v, C3, 0.0f, datt, T);
        matmul_gemm(1, 0, T, HS, T, 1.0f, src, T, dO, C, 1.0f, dv, C3);
        /* back through the dropout on the weights (in place, keys 0..i of row i), then the softmax backward
         * with the 1/sqrt(HS) of the scores folded in; zero above the diagonal */
        for (size_t i = 0; i < (size_t)T; i++) {
            float *dr = datt + i * T;
            if (mk) dropout_forward(dr, dr, mk + i * T, i + 1, p);
            softmax_row_backward(dr, a + i * T, i + 1, (size_t)T, scale);
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
        float mx = row_max(row, (size_t)V);
        float s = row_exp_sum((float *)row, (size_t)V, mx, 0); /* write=0: row is only read */
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
        row_exp_scale(row, (size_t)V, lse[n], dloss, 1); /* softmax * dloss in one sweep */
        row[t] -= dloss;
    }
}

/* ---- optimizer kernels ---- */

double vec_sumsq(const float *x, size_t n) {
    double total = 0.0;
    size_t i = 0;
    while (i < n) { /* float lanes over blocks of 4096, accumulated in double */
        size_t end = n - i > 4096 ? i + 4096 : n;
        F4 acc = v4_set(0.0f);
        for (; i + VL <= end; i += VL) {
            F4 v = v4_load(x + i);
            acc += v * v;
        }
        float s = v4_hsum(acc);
        for (; i < end; i++) s += x[i] * x[i];
        total += s;
    }
    return total;
}

#if defined(__SSE__)
static inline F4 v4_sqrt(F4 x) { return (F4)_mm_sqrt_ps((__m128)x); }
#else
static inline F4 v4_sqrt(F4 x) {
    for (int k = 0; k < VL; k++) x[k] = sqrtf(x[k]);
    return x;
}
#endif

/* One AdamW sweep; zero_g also clears each gradient after reading it. */
static inline void adamw_sweep(float *p, float *g, float *m, float *v, size_t n, const AdamwCoeffs *c, int zero_g) {
    size_t i = 0;
    F4 b1 = v4_set(c->beta1), b2 = v4_set(c->beta2), omb1 = v4_set(1.0f - c->beta1), omb2 = v4_set(1.0f - c->beta2);
    F4 gs = v4_set(c->grad_scale), ss = v4_set(c->step_size), bc2 = v4_set(c->bc2_sqrt), eps = v4_set(c->eps);
    F4 dm = v4_set(c->decay_mul);
    for (; i + VL <= n; i += VL) {
        F4 gi = v4_load(g + i) * gs;
        if (zero_g) v4_store(g + i, v4_set(0.0f));
        F4 mi = b1 * v4_load(m + i) + omb1 * gi;
        F4 vi = b2 * v4_load(v + i) + omb2 * gi * gi;
        v4_store(m + i, mi);
        v4_store(v + i, vi);
        F4 denom = v4_sqrt(vi) / bc2 + eps;
        v4_store(p + i, v4_load(p + i) * dm - ss * (mi / denom));
    }
    adamw_update_naive(p + i, g + i, m + i, v + i, n - i, c);
    if (zero_g) memset(g + i, 0, (n - i) * sizeof(float));
}

void adamw_update(float *p, const float *g, float *m, float *v, size_t n, const AdamwCoeffs *c) {
    adamw_sweep(p, (float *)g, m, v, n, c, 0); /* g is only read when zero_g is 0 */
}

void adamw_update_zero(float *p, float *g, float *m, float *v, size_t n, const AdamwCoeffs *c) {
    adamw_sweep(p, g, m, v, n, c, 1);
}

void adamw_update_naive(float *p, const float *g, float *m, float *v, size_t n, const AdamwCoeffs *c) {
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * c->grad_scale;
        float mi = c->beta1 * m[i] + (1.0f - c->beta1) * gi;
        float vi = c->beta2 * v[i] + (1.0f - c->beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
        p[i] = p[i] * c->decay_mul - c->step_size * (mi / denom);
    }
}

/* ---- encoder and encoder-decoder kernels ---- */

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* erf of each lane: Abramowitz & Stegun 7.1.26, 1 - t (a1 + t (a2 + ...)) e^(-x^2) with t = 1 / (1 + p |x|), odd
 * in x (absolute error <= 1.5e-7; tested against erf in double); *ex2 gets the e^(-x^2) it computed, which the
 * GELU's backward needs too (e^(-x^2/2) at x sqrt(2)). Four lanes with v4_exp, instead of a libm erff per element
 * (a fifth of BERT's training step in a profile). */
static inline F4 v4_erf(F4 x, F4 *ex2) {
    I4 neg = x < v4_set(0.0f);
    F4 ax = v4_max(x, -x);
    F4 t = v4_set(1.0f) / (v4_set(1.0f) + v4_set(0.3275911f) * ax);
    F4 p = v4_set(1.061405429f);
    p = p * t + v4_set(-1.453152027f);
    p = p * t + v4_set(1.421413741f);
    p = p * t + v4_set(-0.284496736f);
    p = p * t + v4_set(0.254829592f);
    F4 e = v4_exp(-(ax * ax));
    *ex2 = e;
    F4 y = v4_set(1.0f) - p * t * e;
    return (F4)(((I4)y & ~neg) | ((I4)(-y) & neg));
}

/* GELU (exact form) 4 lanes: mode 0 out = gelu(x); 1 out += gelu'(x) dout. */
static inline void gelu_erf4(int mode, float *out, const float *inp, const float *dout) {
    F4 x = v4_load(inp), e;
    F4 cdf = v4_set(0.5f) * (v4_set(1.0f) + v4_erf(x * v4_set(SQRT1_2), &e)); /* e = e^(-x^2/2) */
    if (mode == 0) v4_store(out, x * cdf);
    else v4_store(out, v4_load(out) + (cdf + x * v4_set(INV_SQRT_2PI) * e) * v4_load(dout));
}

/* Both over n, the tail through a padded copy. */
static void gelu_erf_run(int mode, float *out, const float *inp, const float *dout, size_t n) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) gelu_erf4(mode, out + i, inp + i, dout ? dout + i : NULL);
    if (i == n) return;
    float o[VL] = {0}, x[VL] = {0}, d[VL] = {0};
    memcpy(x, inp + i, (n - i) * sizeof(float));
    if (dout) memcpy(d, dout + i, (n - i) * sizeof(float));
    if (mode) memcpy(o, out + i, (n - i) * sizeof(float));
    gelu_erf4(mode, o, x, d);
    memcpy(out + i, o, (n - i) * sizeof(float));
}

void gelu_erf_forward(float *out, const float *inp, size_t n) { gelu_erf_run(0, out, inp, NULL, n); }

void gelu_erf_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    gelu_erf_run(1, dinp, inp, dout, n);
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int C, int OC) {
    matmul_forward_nt(out, inp, weight, N, C, OC);
    if (!bias) return;
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * OC;
        for (int j = 0; j < OC; j++) o[j] += bias[j];
    }
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int C, int OC) {
    if (dinp || dweight) matmul_backward_nt(dinp, dweight, dout, inp, weight, N, C, OC);
    if (!dbias) return;
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * OC;
        for (int j = 0; j < OC; j++) dbias[j] += d[j];
    }
}

/* Number of keys 0..n-1 query i may look at before padding: all Tk, or up to i + (Tk - Tq) when causal. */
static int mha_visible(const MhaShape *s, int i) {
    if (!s->causal) return s->Tk;
    int n = i + (s->Tk - s->Tq) + 1;
    return n < 0 ? 0 : (n > s->Tk ? s->Tk : n);
}

/* In place over one (Tq, Tk) block of scaled scores: masked softmax per row (hidden keys 0). */
static void mha_softmax_rows(float *a, const uint8_t *kpad, const MhaShape *s) {
    for (int i = 0; i < s->Tq; i++) {
        float *row = a + (size_t)i * s->Tk;
        int n = mha_visible(s, i), seen = 0;
        for (int j = n; j < s->Tk; j++) row[j] = 0.0f;
        for (int j = 0; j < n; j++) {
            if (kpad && kpad[j]) row[j] = -INFINITY;
            else seen++;
        }
        if (!seen) {
            memset(row, 0, (size_t)n * sizeof(float));
            continue;
        }
        float mx = row_max(row, (size_t)n);
        float sum = row_exp_sum(row, (size_t)n, mx, 1);
        row_scale(row, (size_t)n, 1.0f / sum);
    }
}

void mha_forward(float *out, float *att, const float *q, const float *k, const float *v, const uint8_t *kpad,
                 const uint8_t *drop, float p, float *scratch, const MhaShape *s) {
    mha_forward_heads(out, att, q, k, v, kpad, drop, p, scratch, s, 0, s->B * s->NH);
}

void mha_forward_heads(float *out, float *att, const float *q, const float *k, const float *v, const uint8_t *kpad,
                       const uint8_t *drop, float p, float *scratch, const MhaShape *s, int bh0, int bh1) {
    int Tq = s->Tq, Tk = s->Tk, HS = s->C / s->NH;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)Tq * Tk;
    for (int bh = bh0; bh < bh1; bh++) {
        int b = bh / s->NH, h = bh % s->NH;
        const float *qb = q + (size_t)b * Tq * s->ldq + (size_t)h * HS;
        const float *kb = k + (size_t)b * Tk * s->ldk + (size_t)h * HS;
        const float *vb = v + (size_t)b * Tk * s->ldv + (size_t)h * HS;
        float *a = att + ((size_t)b * s->NH + h) * TT;
        matmul_gemm(0, 1, Tq, Tk, HS, scale, qb, s->ldq, kb, s->ldk, 0.0f, a, Tk);
        mha_softmax_rows(a, kpad ? kpad + (size_t)b * Tk : NULL, s);
        const float *src = a;
        if (drop) {
            dropout_forward(scratch, a, drop + ((size_t)b * s->NH + h) * TT, TT, p);
            src = scratch;
        }
        matmul_gemm(0, 0, Tq, HS, Tk, 1.0f, src, Tk, vb, s->ldv, 0.0f, out + (size_t)b * Tq * s->ldo + (size_t)h * HS,
                    s->ldo);
    }
}

void mha_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                  const float *v, const float *att, const uint8_t *drop, float p, float *scratch,
                  const MhaShape *s) {
    mha_backward_heads(dq, dk, dv, dout, q, k, v, att, drop, p, scratch, s, 0, s->B * s->NH);
}

void mha_backward_heads(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *att, const uint8_t *drop, float p, float *scratch,
                        const MhaShape *s, int bh0, int bh1) {
    int Tq = s->Tq, Tk = s->Tk, HS = s->C / s->NH;
    float scale = 1.0f / sqrtf((float)HS);
    size_t TT = (size_t)Tq * Tk;
    float *datt = scratch, *dropped = scratch + TT;
    for (int bh = bh0; bh < bh1; bh++) {
        int b = bh / s->NH, h = bh % s->NH;
        size_t qo = (size_t)b * Tq * s->ldq + (size_t)h * HS, ko = (size_t)b * Tk * s->ldk + (size_t)h * HS;
        size_t vo = (size_t)b * Tk * s->ldv + (size_t)h * HS;
        const float *a = att + ((size_t)b * s->NH + h) * TT;
        const uint8_t *mk = drop ? drop + ((size_t)b * s->NH + h) * TT : NULL;
        const float *dO = dout + (size_t)b * Tq * s->ldo + (size_t)h * HS;
        const float *src = a;
        if (mk) {
            dropout_forward(dropped, a, mk, TT, p);
            src = dropped;
        }
        /* d(weights used) = dO v^T; dv += weights^T dO */
        matmul_gemm(0, 1, Tq, Tk, HS, 1.0f, dO, s->ldo, v + vo, s->ldv, 0.0f, datt, Tk);
        matmul_gemm(1, 0, Tk, HS, Tq, 1.0f, src, Tk, dO, s->ldo, 1.0f, dv + vo, s->ldv);
        /* through the dropout, then the softmax (hidden keys have weight 0, so they get 0), scale folded in */
        if (mk) dropout_forward(datt, datt, mk, TT, p);
        for (int i = 0; i < Tq; i++) {
            int n = mha_visible(s, i);
            softmax_row_backward(datt + (size_t)i * Tk, a + (size_t)i * Tk, (size_t)n, (size_t)Tk, scale);
        }
        /* scores = q k^T: dq += dS k; dk += dS^T q */
        matmul_gemm(0, 0, Tq, HS, Tk, 1.0f, datt, Tk, k + ko, s->ldk, 1.0f, dq + qo, s->ldq);
        matmul_gemm(1, 0, Tk, HS, Tq, 1.0f, datt, Tk, q + qo, s->ldq, 1.0f, dk + ko, s->ldk);
    }
}

/* ---- attention split across threads ----
 * The (batch, head) pairs go to up to `parts` threads in contiguous shares (lw_parallel), each with its own share
 * of scratch. The per-head products are too small for the BLAS to thread well (at T = 64 it does not thread them at
 * all), so during the split it runs one thread inside each of ours. */
typedef struct AttJob {
    int backward;
    const MhaShape *s;                     /* NULL: the causal GPT kernel on fused qkv */
    float *out, *att, *dq, *dk, *dv;       /* forward: out, att; backward: dq, dk, dv (dq = dqkv for GPT's) */
    const float *q, *k, *v, *dout, *saved; /* GPT's: q = qkv; backward: dout and the saved weights */
    const uint8_t *kpad, *drop;
    float p, *scratch;
    size_t share;                          /* floats of scratch per part */
    int B, T, C, NH;                       /* GPT's */
} AttJob;

static void att_part(void *ctx, int part, size_t lo, size_t hi) {
    AttJob *j = ctx;
    float *sc = j->scratch + (size_t)part * j->share;
    int b0 = (int)lo, b1 = (int)hi;
    if (!j->s && !j->backward)
        attention_forward_heads(j->out, j->att, j->q, j->drop, j->p, sc, j->B, j->T, j->C, j->NH, b0, b1);
    else if (!j->s)
        attention_backward_heads(j->dq, j->dout, j->q, j->saved, j->drop, j->p, sc, j->B, j->T, j->C, j->NH, b0, b1);
    else if (!j->backward)
        mha_forward_heads(j->out, j->att, j->q, j->k, j->v, j->kpad, j->drop, j->p, sc, j->s, b0, b1);
    else
        mha_backward_heads(j->dq, j->dk, j->dv, j->dout, j->q, j->k, j->v, j->saved, j->drop, j->p, sc, j->s, b0, b1);
}

static void att_run(AttJob *j, int parts, int n_pairs) {
    int nt = LW_MIN(matmul_get_threads(), parts);
    if (nt <= 1 || n_pairs < 2) {
        att_part(j, 0, 0, (size_t)n_pairs);
        return;
    }
    int blas = matmul_get_threads();
    matmul_set_threads(1);
    lw_parallel(nt, (size_t)n_pairs, 1, att_part, j);
    matmul_set_threads(blas);
}

void attention_forward_threads(float *out, float *att, const float *qkv, const uint8_t *mask, float p,
                               float *scratch, int parts, int B, int T, int C, int NH) {
    AttJob j = {.out = out, .att = att, .q = qkv, .drop = mask, .p = p, .scratch = scratch,
                .share = 2 * (size_t)T * T, .B = B, .T = T, .C = C, .NH = NH};
    att_run(&j, parts, B * NH);
}

void attention_backward_threads(float *dqkv, const float *dout, const float *qkv, const float *att,
                                const uint8_t *mask, float p, float *scratch, int parts, int B, int T, int C,
                                int NH) {
    AttJob j = {.backward = 1, .dq = dqkv, .dout = dout, .q = qkv, .saved = att, .drop = mask, .p = p,
                .scratch = scratch, .share = 2 * (size_t)T * T, .B = B, .T = T, .C = C, .NH = NH};
    att_run(&j, parts, B * NH);
}

void mha_forward_threads(float *out, float *att, const float *q, const float *k, const float *v,
                         const uint8_t *kpad, const uint8_t *drop, float p, float *scratch, int parts,
                         const MhaShape *s) {
    AttJob j = {.s = s, .out = out, .att = att, .q = q, .k = k, .v = v, .kpad = kpad, .drop = drop, .p = p,
                .scratch = scratch, .share = 2 * (size_t)s->Tq * s->Tk};
    att_run(&j, parts, s->B * s->NH);
}

void mha_backward_threads(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                          const float *v, const float *att, const uint8_t *drop, float p, float *scratch, int parts,
                          const MhaShape *s) {
    AttJob j = {.backward = 1, .s = s, .dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v,
                .saved = att, .drop = drop, .p = p, .scratch = scratch, .share = 2 * (size_t)s->Tq * s->Tk};
    att_run(&j, parts, s->B * s->NH);
}

/* Whether key j is visible to query i of batch b. */
static int mha_sees(const MhaShape *s, const uint8_t *kpad, int b, int i, int j) {
    return j < mha_visible(s, i) && !(kpad && kpad[(size_t)b * s->Tk + j]);
}

void mha_forward_naive(float *out, float *att, const float *q, const float *k, const float *v, const uint8_t *kpad,
                       const uint8_t *drop, float p, const MhaShape *s) {
    int HS = s->C / s->NH, Tq = s->Tq, Tk = s->Tk;
    double scale = 1.0 / sqrt((double)HS);
    float ds = 1.0f / (1.0f - p);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++)
            for (int i = 0; i < Tq; i++) {
                const float *qi = q + ((size_t)b * Tq + i) * s->ldq + (size_t)h * HS;
                float *a = att + (((size_t)b * s->NH + h) * Tq + i) * Tk;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < Tk; j++) {
                    a[j] = 0.0f;
                    if (!mha_sees(s, kpad, b, i, j)) continue;
                    const float *kj = k + ((size_t)b * Tk + j) * s->ldk + (size_t)h * HS;
                    double d = 0.0;
                    for (int c = 0; c < HS; c++) d += (double)qi[c] * kj[c];
                    a[j] = (float)(d * scale);
                    if (a[j] > mx) mx = a[j];
                }
                for (int j = 0; j < Tk; j++)
                    if (mha_sees(s, kpad, b, i, j)) sum += exp(a[j] - mx);
                for (int j = 0; j < Tk; j++) a[j] = mha_sees(s, kpad, b, i, j) ? (float)(exp(a[j] - mx) / sum) : 0.0f;
                const uint8_t *mk = drop ? drop + (((size_t)b * s->NH + h) * Tq + i) * Tk : NULL;
                float *o = out + ((size_t)b * Tq + i) * s->ldo + (size_t)h * HS;
                for (int c = 0; c < HS; c++) {
                    double acc = 0.0;
                    for (int j = 0; j < Tk; j++) {
                        float w = mk ? (mk[j] ? a[j] * ds : 0.0f) : a[j];
                        acc += (double)w * v[((size_t)b * Tk + j) * s->ldv + (size_t)h * HS + c];
                    }
                    o[c] = (float)acc;
                }
            }
}

void mha_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                        const float *v, const float *att, const uint8_t *drop, float p, const MhaShape *s) {
    int HS = s->C / s->NH, Tq = s->Tq, Tk = s->Tk;
    double scale = 1.0 / sqrt((double)HS);
    float ds = 1.0f / (1.0f - p);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++)
            for (int i = 0; i < Tq; i++) {
                const float *a = att + (((size_t)b * s->NH + h) * Tq + i) * Tk;
                const uint8_t *mk = drop ? drop + (((size_t)b * s->NH + h) * Tq + i) * Tk : NULL;
                const float *dO = dout + ((size_t)b * Tq + i) * s->ldo + (size_t)h * HS;
                const float *qi = q + ((size_t)b * Tq + i) * s->ldq + (size_t)h * HS;
                float *dqi = dq + ((size_t)b * Tq + i) * s->ldq + (size_t)h * HS;
                double dot = 0.0;
                for (int j = 0; j < Tk; j++) {
                    const float *vj = v + ((size_t)b * Tk + j) * s->ldv + (size_t)h * HS;
                    double g = 0.0;
                    for (int c = 0; c < HS; c++) g += (double)dO[c] * vj[c];
                    if (mk) g = mk[j] ? g * ds : 0.0;
                    dot += g * a[j];
                }
                for (int j = 0; j < Tk; j++) {
                    const float *vj = v + ((size_t)b * Tk + j) * s->ldv + (size_t)h * HS;
                    const float *kj = k + ((size_t)b * Tk + j) * s->ldk + (size_t)h * HS;
                    float *dkj = dk + ((size_t)b * Tk + j) * s->ldk + (size_t)h * HS;
                    float *dvj = dv + ((size_t)b * Tk + j) * s->ldv + (size_t)h * HS;
                    double g = 0.0, w = a[j];
                    for (int c = 0; c < HS; c++) g += (double)dO[c] * vj[c];
                    if (mk) {
                        g = mk[j] ? g * ds : 0.0;
                        w = mk[j] ? w * ds : 0.0;
                    }
                    double dsc = a[j] * (g - dot) * scale;
                    for (int c = 0; c < HS; c++) {
                        dvj[c] += (float)(w * dO[c]);
                        dqi[c] += (float)(dsc * kj[c]);
                        dkj[c] += (float)(dsc * qi[c]);
                    }
                }
            }
}
