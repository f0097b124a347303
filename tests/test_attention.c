/* test_attention.c — the general multi-head attention kernel (mha_forward / mha_backward in layers.c): the
 * BLAS version against its naive twin, against the causal GPT kernel on fused qkv, and its backward against
 * central finite differences of a double-precision forward, for self-attention (fused qkv, strides 3C) and
 * cross-attention (Tq != Tk, k|v strides 2C), with causal masks, key padding and dropout on the weights.
 * FD: loss = sum_i w_i out_i in double with step 1e-6; the fp32 backward must match within 1e-3 relative +
 * 1e-4 of the largest entry. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "layers.h"
#include "matmul.h"
#include "rng.h"

static void fill(float *x, size_t n, Rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(r);
}

static void expect_close(const char *what, const float *a, const float *b, size_t n, double abs_tol, double rel) {
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)a[i] - b[i]) <= abs_tol + rel * fabs(b[i]), "%s[%zu]: %.9g vs %.9g", what, i,
                  (double)a[i], (double)b[i]);
}

/* The inputs of one case as doubles: q (B*Tq rows, ldq), k, v (B*Tk rows, ldk, ldv), written as one buffer x so
 * finite differences can walk every entry. */
typedef struct Case {
    MhaShape s;
    const uint8_t *kpad, *drop;
    double p;
    double *x;          /* q | k | v, each its own region */
    size_t nq, nk, nv;  /* floats in each region */
} Case;

static void fwd_double(const Case *c, double *out) {
    const MhaShape *s = &c->s;
    int HS = s->C / s->NH;
    const double *q = c->x, *k = c->x + c->nq, *v = c->x + c->nq + c->nk;
    double *w = malloc((size_t)s->Tk * sizeof(double));
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++)
            for (int i = 0; i < s->Tq; i++) {
                double mx = -INFINITY, sum = 0.0;
                int any = 0;
                for (int j = 0; j < s->Tk; j++) {
                    int vis = (!s->causal || j <= i + s->Tk - s->Tq) && !(c->kpad && c->kpad[b * s->Tk + j]);
                    w[j] = -INFINITY;
                    if (!vis) continue;
                    double d = 0.0;
                    for (int e = 0; e < HS; e++)
                        d += q[(size_t)(b * s->Tq + i) * s->ldq + h * HS + e] * k[(size_t)(b * s->Tk + j) * s->ldk + h * HS + e];
                    w[j] = d / sqrt((double)HS);
                    mx = fmax(mx, w[j]);
                    any = 1;
                }
                for (int j = 0; j < s->Tk; j++) {
                    w[j] = any && w[j] > -INFINITY ? exp(w[j] - mx) : 0.0;
                    sum += w[j];
                }
                for (int j = 0; j < s->Tk; j++) {
                    w[j] = sum > 0 ? w[j] / sum : 0.0;
                    if (c->drop) w[j] = c->drop[(((size_t)b * s->NH + h) * s->Tq + i) * s->Tk + j] ? w[j] / (1 - c->p) : 0;
                }
                for (int e = 0; e < HS; e++) {
                    double acc = 0.0;
                    for (int j = 0; j < s->Tk; j++) acc += w[j] * v[(size_t)(b * s->Tk + j) * s->ldv + h * HS + e];
                    out[(size_t)(b * s->Tq + i) * s->ldo + h * HS + e] = acc;
                }
            }
    free(w);
}

/* Runs one case: separate buffers for q, k, v (rows of width ldq, ldk, ldv; only the head columns are used). */
static void run_case(MhaShape s, int pad_keys, int with_drop, int do_fd, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    size_t nq = (size_t)s.B * s.Tq * s.ldq, nk = (size_t)s.B * s.Tk * s.ldk, nv = (size_t)s.B * s.Tk * s.ldv;
    size_t no = (size_t)s.B * s.Tq * s.ldo, na = (size_t)s.B * s.NH * s.Tq * s.Tk;
    float *x = malloc((nq + nk + nv) * 4), *q = x, *k = x + nq, *v = x + nq + nk;
    fill(x, nq + nk + nv, &r);
    float *o1 = calloc(no, 4), *o2 = calloc(no, 4), *a1 = malloc(na * 4), *a2 = malloc(na * 4), *dout = malloc(no * 4);
    float *g1 = calloc(nq + nk + nv, 4), *g2 = calloc(nq + nk + nv, 4);
    float *scratch = malloc(2 * (size_t)s.Tq * s.Tk * 4);
    fill(dout, no, &r);
    uint8_t *kpad = NULL, *drop = NULL;
    float p = 0.25f;
    if (pad_keys) { /* right padding of different lengths, plus one hole in the middle of batch 0 */
        kpad = calloc((size_t)s.B * s.Tk, 1);
        for (int b = 0; b < s.B; b++)
            for (int j = s.Tk - 1 - b; j < s.Tk; j++) kpad[b * s.Tk + j] = 1;
        kpad[1] = 1;
    }
    if (with_drop) {
        drop = malloc(na);
        dropout_mask(drop, na, p, &r);
    }
    mha_forward(o1, a1, q, k, v, kpad, drop, p, scratch, &s);
    mha_forward_naive(o2, a2, q, k, v, kpad, drop, p, &s);
    expect_close("out", o1, o2, no, 1e-5, 1e-4);
    expect_close("att", a1, a2, na, 1e-6, 1e-4);
    for (int bh = 0; bh < s.B * s.NH; bh++)
        for (int i = 0; i < s.Tq; i++) {
            double sum = 0.0;
            for (int j = 0; j < s.Tk; j++) {
                float w = a1[((size_t)bh * s.Tq + i) * s.Tk + j];
                int b = bh / s.NH;
                if ((s.causal && j > i + s.Tk - s.Tq) || (kpad && kpad[b * s.Tk + j])) cr_assert_eq(w, 0.0f);
                sum += w;
            }
            cr_assert(fabs(sum - 1.0) < 1e-5, "row sums to %g", sum);
        }
    mha_backward(g1, g1 + nq, g1 + nq + nk, dout, q, k, v, a1, drop, p, scratch, &s);
    mha_backward_naive(g2, g2 + nq, g2 + nq + nk, dout, q, k, v, a2, drop, p, &s);
    expect_close("grad", g1, g2, nq + nk + nv, 1e-5, 1e-4);
    { /* the (batch, head) pairs in uneven shares with their own scratch, as threads run them: the same bits */
        int n = s.B * s.NH, cut[4] = {0, n / 3, n / 3 + (n > 1), n};
        float *o3 = calloc(no, 4), *a3 = malloc(na * 4), *g3 = calloc(nq + nk + nv, 4);
        for (int sh = 0; sh < 3; sh++) {
            float *sc = malloc(2 * (size_t)s.Tq * s.Tk * 4);
            memset(sc, 0xff, 2 * (size_t)s.Tq * s.Tk * 4);
            mha_forward_heads(o3, a3, q, k, v, kpad, drop, p, sc, &s, cut[sh], cut[sh + 1]);
            mha_backward_heads(g3, g3 + nq, g3 + nq + nk, dout, q, k, v, a1, drop, p, sc, &s, cut[sh], cut[sh + 1]);
            free(sc);
        }
        cr_assert_eq(memcmp(o1, o3, no * 4), 0, "out in shares");
        cr_assert_eq(memcmp(a1, a3, na * 4), 0, "att in shares");
        cr_assert_eq(memcmp(g1, g3, (nq + nk + nv) * 4), 0, "grad in shares");
        int blas = matmul_get_threads(); /* on real threads */
        matmul_set_threads(3);
        float *sc = malloc(3 * 2 * (size_t)s.Tq * s.Tk * 4);
        memset(g3, 0, (nq + nk + nv) * 4);
        mha_forward_threads(o3, a3, q, k, v, kpad, drop, p, sc, 3, &s);
        mha_backward_threads(g3, g3 + nq, g3 + nq + nk, dout, q, k, v, a1, drop, p, sc, 3, &s);
        matmul_set_threads(blas);
        free(sc);
        cr_assert_eq(memcmp(o1, o3, no * 4), 0, "out on threads");
        cr_assert_eq(memcmp(a1, a3, na * 4), 0, "att on threads");
        cr_assert_eq(memcmp(g1, g3, (nq + nk + nv) * 4), 0, "grad on threads");
        free(o3); free(a3); free(g3);
    }
    if (do_fd) {
        Case c = {s, kpad, drop, p, malloc((nq + nk + nv) * sizeof(double)), nq, nk, nv};
        for (size_t i = 0; i < nq + nk + nv; i++) c.x[i] = x[i];
        double *out = calloc(no, sizeof(double)), *fd = malloc((nq + nk + nv) * sizeof(double)), mx = 0.0;
        fwd_double(&c, out);
        for (size_t i = 0; i < no; i++) cr_assert(fabs(out[i] - o1[i]) < 1e-5, "out vs double [%zu]", i);
        for (size_t i = 0; i < nq + nk + nv; i++) {
            double keep = c.x[i], lp = 0.0, lm = 0.0;
            c.x[i] = keep + 1e-6;
            fwd_double(&c, out);
            for (size_t j = 0; j < no; j++) lp += dout[j] * out[j];
            c.x[i] = keep - 1e-6;
            fwd_double(&c, out);
            for (size_t j = 0; j < no; j++) lm += dout[j] * out[j];
            c.x[i] = keep;
            fd[i] = (lp - lm) / 2e-6;
            mx = fmax(mx, fabs(fd[i]));
        }
        cr_assert(mx > 1e-3, "reference gradient is zero");
        for (size_t i = 0; i < nq + nk + nv; i++)
            cr_assert(fabs(g1[i] - fd[i]) <= 1e-3 * fabs(fd[i]) + 1e-4 * mx, "grad[%zu]: %.9g vs FD %.9g", i,
                      (double)g1[i], fd[i]);
        free(c.x);
        free(out);
        free(fd);
    }
    free(x); free(o1); free(o2); free(a1); free(a2); free(dout); free(g1); free(g2); free(scratch);
    free(kpad); free(drop);
}

Test(attention_mha, self_bidirectional_padded_vs_naive_and_fd) {
    matmul_set_threads(1);
    run_case((MhaShape){.B = 2, .Tq = 5, .Tk = 5, .C = 8, .NH = 2, .ldq = 8, .ldk = 8, .ldv = 8, .ldo = 8}, 1, 0, 1, 1);
    run_case((MhaShape){.B = 2, .Tq = 5, .Tk = 5, .C = 8, .NH = 2, .ldq = 8, .ldk = 8, .ldv = 8, .ldo = 8}, 1, 1, 1, 2);
}

Test(attention_mha, causal_and_cross_vs_naive_and_fd) {
    matmul_set_threads(1);
    run_case((MhaShape){.B = 2, .Tq = 4, .Tk = 4, .C = 6, .NH = 3, .ldq = 6, .ldk = 6, .ldv = 6, .ldo = 6, .causal = 1}, 0, 0, 1, 3);
    /* cross-attention: 3 queries over 6 padded keys, k and v rows wider than C (as in a fused k|v buffer) */
    run_case((MhaShape){.B = 2, .Tq = 3, .Tk = 6, .C = 8, .NH = 2, .ldq = 8, .ldk = 16, .ldv = 16, .ldo = 8}, 1, 0, 1, 4);
    /* the last 2 of 5 positions against a causal cache (incremental decoding), output rows strided */
    run_case((MhaShape){.B = 1, .Tq = 2, .Tk = 5, .C = 8, .NH = 2, .ldq = 24, .ldk = 24, .ldv = 24, .ldo = 10, .causal = 1}, 0, 1, 1, 5);
}

Test(attention_mha, larger_vs_naive) {
    run_case((MhaShape){.B = 2, .Tq = 33, .Tk = 41, .C = 48, .NH = 4, .ldq = 48, .ldk = 96, .ldv = 96, .ldo = 48}, 1, 1, 0, 6);
    run_case((MhaShape){.B = 1, .Tq = 64, .Tk = 64, .C = 64, .NH = 2, .ldq = 192, .ldk = 192, .ldv = 192, .ldo = 64, .causal = 1}, 0, 0, 0, 7);
}

/* On fused qkv with a causal mask and no padding it is the GPT kernel. */
Test(attention_mha, fused_causal_equals_gpt_attention) {
    int B = 2, T = 9, C = 16, NH = 4;
    Rng r;
    rng_seed(&r, 8);
    size_t nqkv = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    float *qkv = malloc(nqkv * 4), *o1 = malloc(no * 4), *o2 = malloc(no * 4), *a1 = malloc(na * 4), *a2 = malloc(na * 4);
    float *sc = malloc(2 * (size_t)T * T * 4), *dout = malloc(no * 4), *g1 = calloc(nqkv, 4), *g2 = calloc(nqkv, 4);
    fill(qkv, nqkv, &r);
    fill(dout, no, &r);
    MhaShape s = {.B = B, .Tq = T, .Tk = T, .C = C, .NH = NH, .ldq = 3 * C, .ldk = 3 * C, .ldv = 3 * C, .ldo = C, .causal = 1};
    mha_forward(o1, a1, qkv, qkv + C, qkv + 2 * C, NULL, NULL, 0.0f, sc, &s);
    attention_forward(o2, a2, qkv, NULL, 0.0f, sc, B, T, C, NH);
    expect_close("out", o1, o2, no, 1e-6, 1e-5);
    expect_close("att", a1, a2, na, 1e-7, 1e-5);
    mha_backward(g1, g1 + C, g1 + 2 * C, dout, qkv, qkv + C, qkv + 2 * C, a1, NULL, 0.0f, sc, &s);
    attention_backward(g2, dout, qkv, a2, NULL, 0.0f, sc, B, T, C, NH);
    expect_close("dqkv", g1, g2, nqkv, 1e-6, 1e-5);
    free(qkv); free(o1); free(o2); free(a1); free(a2); free(sc); free(dout); free(g1); free(g2);
}

Test(attention_mha, query_with_no_visible_key_gets_zeros) {
    MhaShape s = {.B = 1, .Tq = 2, .Tk = 3, .C = 4, .NH = 1, .ldq = 4, .ldk = 4, .ldv = 4, .ldo = 4};
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8}, kv[12] = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, out[8], att[6], sc[12];
    uint8_t kpad[3] = {1, 1, 1};
    mha_forward(out, att, q, kv, kv, kpad, NULL, 0.0f, sc, &s);
    for (int i = 0; i < 8; i++) cr_assert_eq(out[i], 0.0f);
    for (int i = 0; i < 6; i++) cr_assert_eq(att[i], 0.0f);
    float dq[8] = {0}, dk[12] = {0}, dv[12] = {0}, dout[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    mha_backward(dq, dk, dv, dout, q, kv, kv, att, NULL, 0.0f, sc, &s);
    for (int i = 0; i < 8; i++) cr_assert_eq(dq[i], 0.0f);
    for (int i = 0; i < 12; i++) cr_assert(dk[i] == 0.0f && dv[i] == 0.0f);
}

/* The exact GELU's vector erf against erf in double over [-12, 12] (both directions, every tail length), with NaN
 * passed through. */
Test(attention_mha, gelu_erf_matches_erf_in_double) {
    enum { N = 24001 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float)), *d = calloc(N, sizeof(float));
    float *one = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1), one[i] = 1.0f;
    gelu_erf_forward(y, x, N);
    gelu_erf_backward(d, x, one, N);
    double worst_f = 0, worst_b = 0;
    for (int i = 0; i < N; i++) {
        double xi = x[i], cdf = 0.5 * (1.0 + erf(xi / sqrt(2.0)));
        double f = xi * cdf, g = cdf + xi * exp(-0.5 * xi * xi) / sqrt(2.0 * M_PI);
        worst_f = fmax(worst_f, fabs(y[i] - f) / (1.0 + fabs(xi)));
        worst_b = fmax(worst_b, fabs(d[i] - g) / (1.0 + fabs(xi)));
    }
    cr_assert(worst_f < 4e-7, "forward: worst error %.3g (relative to 1 + |x|)", worst_f);
    cr_assert(worst_b < 6e-7, "backward: worst error %.3g (relative to 1 + |x|)", worst_b);
    for (size_t n = 1; n <= 7; n++) { /* tails: the same values as the full run */
        float t[7], g2[7] = {0};
        gelu_erf_forward(t, x + 1000, n);
        gelu_erf_backward(g2, x + 1000, one, n);
        for (size_t i = 0; i < n; i++) cr_assert(t[i] == y[1000 + i] && g2[i] == d[1000 + i], "n %zu lane %zu", n, i);
    }
    float nan_in[1] = {NAN}, nan_out[1];
    gelu_erf_forward(nan_out, nan_in, 1);
    cr_assert(isnan(nan_out[0]), "NaN stays visible");
    free(x), free(y), free(d), free(one);
}

/* Exact GELU and the Linear-layout product with bias. */
Test(attention_mha, gelu_erf_and_linear) {
    float x[5] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f}, y[5], d[5] = {0};
    gelu_erf_forward(y, x, 5);
    for (int i = 0; i < 5; i++) {
        double want = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        cr_assert(fabs(y[i] - want) < 1e-6, "gelu(%g) = %g, want %g", (double)x[i], (double)y[i], want);
        double h = 1e-3, fd = (0.5 * (x[i] + h) * (1 + erf((x[i] + h) / sqrt(2.0))) -
                               0.5 * (x[i] - h) * (1 + erf((x[i] - h) / sqrt(2.0)))) / (2 * h);
        float one = 1.0f;
        gelu_erf_backward(&d[i], &x[i], &one, 1);
        cr_assert(fabs(d[i] - fd) < 1e-4, "gelu'(%g) = %g, FD %g", (double)x[i], (double)d[i], fd);
    }
    float in[4] = {1, 2, 3, 4}, w[6] = {1, 0, -1, 2, 1, 0}, b[3] = {10, 20, 30}, out[6];
    linear_forward(out, in, w, b, 2, 2, 3); /* in (2, 2) @ w (3, 2)^T + b */
    float expect[6] = {11, 23, 31, 13, 25, 33};
    for (int i = 0; i < 6; i++) cr_assert_eq(out[i], expect[i], "linear [%d] = %g", i, (double)out[i]);
    float dout[6] = {1, 0, 0, 0, 1, 1}, din[4] = {0}, dw[6] = {0}, db[3] = {0};
    linear_backward(din, dw, db, dout, in, w, 2, 2, 3);
    float edin[4] = {1, 0, 0, 2}, edw[6] = {1, 2, 3, 4, 3, 4}, edb[3] = {1, 1, 1};
    for (int i = 0; i < 4; i++) cr_assert_eq(din[i], edin[i], "dinp [%d]", i);
    for (int i = 0; i < 6; i++) cr_assert_eq(dw[i], edw[i], "dweight [%d]", i);
    for (int i = 0; i < 3; i++) cr_assert_eq(db[i], edb[i], "dbias [%d]", i);
}
