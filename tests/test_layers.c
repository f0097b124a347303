/* test_layers.c — the layer and matmul kernels: each optimized kernel against its naive reference, and each
 * backward against central finite differences of a double-precision reference forward (tiny shapes).
 * FD side: loss(x) = sum_i w_i f(x)_i in double with step 1e-6; the fp32 backward gets dout = w and must match
 * within 1e-3 relative + 1e-4 of the largest gradient entry. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "layers.h"
#include "matmul.h"
#include "rng.h"
#include "util.h"

#define FD_H 1e-6

static void fill(float *x, size_t n, Rng *r, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static void expect_close(const char *what, const float *a, const float *b, size_t n, double abs_tol, double rel_tol) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        cr_assert(d <= abs_tol + rel_tol * fabs(b[i]), "%s[%zu]: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
    }
}

/* Compares an fp32 gradient with a double one: |g - fd| <= 1e-3 |fd| + 1e-4 max|fd|, and requires a nonzero
 * reference so the check cannot pass vacuously. */
static void expect_grad(const char *what, const float *g, const double *fd, size_t n) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(fd[i]));
    cr_assert(mx > 1e-6, "%s: reference gradient is zero", what);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(g[i] - fd[i]) <= 1e-3 * fabs(fd[i]) + 1e-4 * mx, "%s[%zu]: backward %.9g vs FD %.9g", what,
                  i, (double)g[i], fd[i]);
}

/* A double forward under test: writes out from the inputs held in ctx. */
typedef void (*FwdFn)(void *ctx, double *out);

/* Central differences of sum(w * out) w.r.t. every entry of x (a double array the forward reads). */
static void fd_grad(FwdFn fwd, void *ctx, double *x, size_t nx, const double *w, size_t nout, double *grad) {
    double *out = malloc(nout * sizeof(double));
    for (size_t i = 0; i < nx; i++) {
        double keep = x[i];
        x[i] = keep + FD_H;
        fwd(ctx, out);
        double lp = 0.0;
        for (size_t j = 0; j < nout; j++) lp += w[j] * out[j];
        x[i] = keep - FD_H;
        fwd(ctx, out);
        double lm = 0.0;
        for (size_t j = 0; j < nout; j++) lm += w[j] * out[j];
        x[i] = keep;
        grad[i] = (lp - lm) / (2.0 * FD_H);
    }
    free(out);
}

/* ---- matmul: optimized vs naive ---- */

Test(layers_matmul, forward_backward_vs_naive) {
    Rng r;
    rng_seed(&r, 1);
    int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 48, 144}};
    for (size_t s = 0; s < LW_ARRAY_LEN(shapes); s++) {
        int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        size_t nin = (size_t)N * C, nw = (size_t)C * OC, nout = (size_t)N * OC;
        float *inp = malloc(nin * 4), *w = malloc(nw * 4), *b = malloc(OC * 4), *dout = malloc(nout * 4);
        float *o1 = malloc(nout * 4), *o2 = malloc(nout * 4);
        fill(inp, nin, &r, 1.0f);
        fill(w, nw, &r, 1.0f);
        fill(b, OC, &r, 1.0f);
        fill(dout, nout, &r, 1.0f);
        matmul_forward(o1, inp, w, b, N, C, OC);
        matmul_forward_naive(o2, inp, w, b, N, C, OC);
        expect_close("forward", o1, o2, nout, 1e-5, 1e-4);
        matmul_forward(o1, inp, w, NULL, N, C, OC);
        matmul_forward_naive(o2, inp, w, NULL, N, C, OC);
        expect_close("forward nobias", o1, o2, nout, 1e-5, 1e-4);
        /* backward accumulates: start both from the same nonzero values */
        float *di1 = malloc(nin * 4), *di2 = malloc(nin * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
        float *db1 = malloc(OC * 4), *db2 = malloc(OC * 4);
        fill(di1, nin, &r, 1.0f);
        memcpy(di2, di1, nin * 4);
        fill(dw1, nw, &r, 1.0f);
        memcpy(dw2, dw1, nw * 4);
        fill(db1, OC, &r, 1.0f);
        memcpy(db2, db1, OC * 4);
        matmul_backward(di1, dw1, db1, dout, inp, w, N, C, OC);
        matmul_backward_naive(di2, dw2, db2, dout, inp, w, N, C, OC);
        expect_close("dinp", di1, di2, nin, 1e-4, 1e-4);
        expect_close("dweight", dw1, dw2, nw, 1e-4, 1e-4);
        expect_close("dbias", db1, db2, OC, 1e-4, 1e-4);
        /* Linear layout: weight (OC, C) */
        float *wt = malloc(nw * 4);
        fill(wt, nw, &r, 1.0f);
        matmul_forward_nt(o1, inp, wt, N, C, OC);
        matmul_forward_nt_naive(o2, inp, wt, N, C, OC);
        expect_close("forward_nt", o1, o2, nout, 1e-5, 1e-4);
        memcpy(di2, di1, nin * 4);
        memcpy(dw2, dw1, nw * 4);
        matmul_backward_nt(di1, dw1, dout, inp, wt, N, C, OC);
        matmul_backward_nt_naive(di2, dw2, dout, inp, wt, N, C, OC);
        expect_close("dinp_nt", di1, di2, nin, 1e-4, 1e-4);
        expect_close("dweight_nt", dw1, dw2, nw, 1e-4, 1e-4);
        free(inp); free(w); free(b); free(dout); free(o1); free(o2); free(di1); free(di2);
        free(dw1); free(dw2); free(db1); free(db2); free(wt);
    }
}

Test(layers_matmul, strided_gemm_vs_naive) {
    Rng r;
    rng_seed(&r, 2);
    int N = 7, K = 5, ld = 13; /* leading dimensions wider than the matrices, as in (B, T, 3C) */
    float a[13 * 13], b[13 * 13], c1[13 * 13], c2[13 * 13];
    for (int M = 1; M <= 9; M += 8) /* M = 1 takes the matrix-vector path */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                fill(a, LW_ARRAY_LEN(a), &r, 1.0f);
                fill(b, LW_ARRAY_LEN(b), &r, 1.0f);
                fill(c1, LW_ARRAY_LEN(c1), &r, 1.0f);
                memcpy(c2, c1, sizeof c1);
                if (!beta) c1[0] = c2[0] = NAN; /* beta 0 must ignore old contents */
                matmul_gemm(ta, tb, M, N, K, 0.5f, a, ld, b, ld, (float)beta, c1, ld);
                matmul_gemm_naive(ta, tb, M, N, K, 0.5f, a, ld, b, ld, (float)beta, c2, ld);
                expect_close("gemm", c1, c2, LW_ARRAY_LEN(c1), 1e-5, 1e-4);
            }
}

/* ---- matmul backward vs finite differences ---- */

typedef struct { double *inp, *w, *b; int N, C, OC, nt; } MmCtx;

static void mm_fwd(void *vctx, double *out) {
    MmCtx *c = vctx;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->OC; o++) {
            double s = c->b ? c->b[o] : 0.0;
            for (int i = 0; i < c->C; i++)
                s += c->inp[n * c->C + i] * (c->nt ? c->w[o * c->C + i] : c->w[i * c->OC + o]);
            out[n * c->OC + o] = s;
        }
}

Test(layers_matmul, backward_vs_finite_differences) {
    Rng r;
    rng_seed(&r, 3);
    int N = 4, C = 3, OC = 5;
    for (int nt = 0; nt < 2; nt++) {
        float inp[12], w[15], b[5], dout[20];
        fill(inp, 12, &r, 1.0f);
        fill(w, 15, &r, 1.0f);
        fill(b, 5, &r, 1.0f);
        fill(dout, 20, &r, 1.0f);
        float di[12] = {0}, dw[15] = {0}, db[5] = {0};
        if (nt) matmul_backward_nt(di, dw, dout, inp, w, N, C, OC);
        else matmul_backward(di, dw, db, dout, inp, w, N, C, OC);
        MmCtx ctx = {to_double(inp, 12), to_double(w, 15), nt ? NULL : to_double(b, 5), N, C, OC, nt};
        double *wd = to_double(dout, 20), g[15];
        fd_grad(mm_fwd, &ctx, ctx.inp, 12, wd, 20, g);
        expect_grad("dinp", di, g, 12);
        fd_grad(mm_fwd, &ctx, ctx.w, 15, wd, 20, g);
        expect_grad("dweight", dw, g, 15);
        if (!nt) {
            fd_grad(mm_fwd, &ctx, ctx.b, 5, wd, 20, g);
            expect_grad("dbias", db, g, 5);
        }
        free(ctx.inp); free(ctx.w); free(ctx.b); free(wd);
    }
}

/* ---- encoder ---- */

typedef struct { const int *inp; double *wte, *wpe; int B, T, C; } EncCtx;

static void enc_fwd(void *vctx, double *out) {
    EncCtx *c = vctx;
    for (int bt = 0; bt < c->B * c->T; bt++)
        for (int i = 0; i < c->C; i++)
            out[bt * c->C + i] = c->wte[c->inp[bt] * c->C + i] + c->wpe[(bt % c->T) * c->C + i];
}

Test(layers_encoder, forward_and_backward) {
    Rng r;
    rng_seed(&r, 4);
    enum { B = 2, T = 3, C = 4, V = 5 };
    int inp[B * T] = {1, 4, 1, 0, 1, 3}; /* repeated ids: gradients must add up */
    float wte[V * C], wpe[T * C], out[B * T * C], dout[B * T * C], dwte[V * C] = {0}, dwpe[T * C] = {0};
    fill(wte, V * C, &r, 1.0f);
    fill(wpe, T * C, &r, 1.0f);
    fill(dout, B * T * C, &r, 1.0f);
    encoder_forward(out, inp, wte, wpe, B, T, C);
    EncCtx ctx = {inp, to_double(wte, V * C), to_double(wpe, T * C), B, T, C};
    double ref[B * T * C];
    enc_fwd(&ctx, ref);
    for (int i = 0; i < B * T * C; i++) cr_assert_float_eq(out[i], ref[i], 1e-6);
    encoder_backward(dwte, dwpe, dout, inp, B, T, C);
    double *wd = to_double(dout, B * T * C), g[V * C];
    fd_grad(enc_fwd, &ctx, ctx.wte, V * C, wd, B * T * C, g);
    /* token 2 never appears: its gradient is exactly zero, the rest must match */
    for (int i = 0; i < C; i++) cr_assert_eq(dwte[2 * C + i], 0.0f);
    expect_grad("dwte", dwte, g, V * C);
    fd_grad(enc_fwd, &ctx, ctx.wpe, T * C, wd, B * T * C, g);
    expect_grad("dwpe", dwpe, g, T * C);
    free(ctx.wte); free(ctx.wpe); free(wd);
}

/* ---- layernorm ---- */

typedef struct { double *inp, *w, *b; int N, C; } LnCtx;

static void ln_fwd(void *vctx, double *out) {
    LnCtx *c = vctx;
    for (int n = 0; n < c->N; n++) {
        const double *x = c->inp + n * c->C;
        double m = 0.0, v = 0.0;
        for (int i = 0; i < c->C; i++) m += x[i];
        m /= c->C;
        for (int i = 0; i < c->C; i++) v += (x[i] - m) * (x[i] - m);
        v /= c->C;
        double rs = 1.0 / sqrt(v + 1e-5);
        for (int i = 0; i < c->C; i++) out[n * c->C + i] = (x[i] - m) * rs * c->w[i] + c->b[i];
    }
}

Test(layers_layernorm, forward_and_backward) {
    Rng r;
    rng_seed(&r, 5);
    enum { N = 3, C = 7 };
    float inp[N * C], w[C], b[C], out[N * C], mean[N], rstd[N], dout[N * C];
    fill(inp, N * C, &r, 2.0f);
    for (int i = 0; i < N * C; i++) inp[i] += 1.5f; /* nonzero mean */
    fill(w, C, &r, 1.0f);
    fill(b, C, &r, 1.0f);
    fill(dout, N * C, &r, 1.0f);
    layernorm_forward(out, mean, rstd, inp, w, b, N, C);
    LnCtx ctx = {to_double(inp, N * C), to_double(w, C), to_double(b, C), N, C};
    double ref[N * C];
    ln_fwd(&ctx, ref);
    for (int i = 0; i < N * C; i++) cr_assert(fabs(out[i] - ref[i]) < 1e-5, "out[%d] %g vs %g", i, out[i], ref[i]);
    float di[N * C] = {0}, dw[C] = {0}, db[C] = {0};
    layernorm_backward(di, dw, db, dout, inp, w, mean, rstd, N, C);
    double *wd = to_double(dout, N * C), g[N * C];
    fd_grad(ln_fwd, &ctx, ctx.inp, N * C, wd, N * C, g);
    expect_grad("dinp", di, g, N * C);
    fd_grad(ln_fwd, &ctx, ctx.w, C, wd, N * C, g);
    expect_grad("dweight", dw, g, C);
    fd_grad(ln_fwd, &ctx, ctx.b, C, wd, N * C, g);
    expect_grad("dbias", db, g, C);
    free(ctx.inp); free(ctx.w); free(ctx.b); free(wd);
}

/* ---- gelu ---- */

typedef struct { double *x; int n; } GeluCtx;

static void gelu_fwd_d(void *vctx, double *out) {
    GeluCtx *c = vctx;
    for (int i = 0; i < c->n; i++) {
        double x = c->x[i];
        out[i] = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    }
}

Test(layers_gelu, optimized_vs_naive_and_double) {
    enum { N = 4001 };
    float *x = malloc(N * 4), *a = malloc(N * 4), *b = malloc(N * 4), *d = malloc(N * 4);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * i / (N - 1); /* includes the saturated tails */
    gelu_forward(a, x, N);
    gelu_forward_naive(b, x, N);
    expect_close("gelu", a, b, N, 1e-6, 1e-5);
    GeluCtx ctx = {to_double(x, N), N};
    double *ref = malloc(N * sizeof(double));
    gelu_fwd_d(&ctx, ref);
    for (int i = 0; i < N; i++) cr_assert(fabs(a[i] - ref[i]) <= 1e-6 + 1e-5 * fabs(ref[i]), "gelu(%g)", x[i]);
    for (int i = 0; i < N; i++) d[i] = 1.0f + 0.001f * i;
    memset(a, 0, N * 4);
    memset(b, 0, N * 4);
    gelu_backward(a, x, d, N);
    gelu_backward_naive(b, x, d, N);
    /* abs 5e-6: where tanh saturates to -1 in fp32 (x < -4.5) the naive form returns exactly 0 while the optimized
     * sigmoid form keeps the true tail (|gelu'| < 1e-6 there, times dout <= 5) */
    expect_close("gelu backward", a, b, N, 5e-6, 1e-5);
    gelu_forward(a, x, N); /* in place is allowed */
    memcpy(b, x, N * 4);
    gelu_forward(b, b, N);
    expect_close("gelu in place", b, a, N, 0.0, 0.0);
    free(x); free(a); free(b); free(d); free(ctx.x); free(ref);
}

Test(layers_gelu, backward_vs_finite_differences) {
    Rng r;
    rng_seed(&r, 6);
    enum { N = 40 };
    float x[N], dout[N], dx[N];
    fill(x, N, &r, 2.0f);
    fill(dout, N, &r, 1.0f);
    for (int i = 0; i < N; i++) dx[i] = 0.5f; /* accumulates onto what is there */
    gelu_backward(dx, x, dout, N);
    for (int i = 0; i < N; i++) dx[i] -= 0.5f;
    GeluCtx ctx = {to_double(x, N), N};
    double *wd = to_double(dout, N), g[N];
    fd_grad(gelu_fwd_d, &ctx, ctx.x, N, wd, N, g);
    expect_grad("gelu dx", dx, g, N);
    free(ctx.x); free(wd);
}

/* ---- residual and dropout ---- */

Test(layers_dropout, p_zero_is_identity_and_residual_adds) {
    Rng r;
    rng_seed(&r, 7);
    enum { N = 1000 };
    float x[N], y[N], d[N];
    uint8_t mask[N];
    fill(x, N, &r, 1.0f);
    dropout_mask(mask, N, 0.0f, &r);
    dropout_forward(y, x, mask, N, 0.0f);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], x[i]);
    memset(d, 0, sizeof d);
    dropout_backward(d, x, mask, N, 0.0f);
    for (int i = 0; i < N; i++) cr_assert_eq(d[i], x[i]);
    residual_forward(y, x, d, N);
    for (int i = 0; i < N; i++) cr_assert_eq(y[i], 2.0f * x[i]);
}

Test(layers_dropout, scales_and_same_seed_same_mask) {
    Rng r1, r2;
    enum { N = 20000 };
    static float x[N], y[N], d[N];
    static uint8_t m1[N], m2[N];
    float p = 0.25f;
    rng_seed(&r1, 11);
    for (int i = 0; i < N; i++) x[i] = 1.0f + (float)(i % 7);
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    dropout_mask(m1, N, p, &r1);
    dropout_mask(m2, N, p, &r2);
    cr_assert(memcmp(m1, m2, N) == 0, "same seed gives the same mask");
    dropout_mask(m2, N, p, &r2);
    cr_assert(memcmp(m1, m2, N) != 0, "the next draw differs");
    dropout_forward(y, x, m1, N, p);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        if (m1[i]) {
            kept++;
            cr_assert_float_eq(y[i], x[i] / (1.0f - p), 1e-6f * y[i]);
        } else {
            cr_assert_eq(y[i], 0.0f);
        }
    }
    double frac = (double)kept / N; /* 1-p = 0.75; 5 sigma of a binomial is ~0.015 */
    cr_assert(fabs(frac - 0.75) < 0.015, "kept fraction %g", frac);
    for (int i = 0; i < N; i++) d[i] = 1.0f;
    dropout_backward(d, x, m1, N, p); /* accumulates onto 1 */
    for (int i = 0; i < N; i++) cr_assert_float_eq(d[i], m1[i] ? 1.0f + x[i] / 0.75f : 1.0f, 1e-5f * d[i]);
}

/* ---- attention ---- */

typedef struct { double *qkv; const uint8_t *mask; double p; int B, T, C, NH; } AttCtx;

static void att_fwd_d(void *vctx, double *out) {
    AttCtx *c = vctx;
    int HS = c->C / c->NH, C3 = 3 * c->C, T = c->T;
    double *w = malloc((size_t)T * sizeof(double));
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->NH; h++)
            for (int i = 0; i < T; i++) {
                const double *q = c->qkv + (b * T + i) * C3 + h * HS;
                double mx = -INFINITY, s = 0.0;
                for (int j = 0; j <= i; j++) {
                    const double *k = c->qkv + (b * T + j) * C3 + c->C + h * HS;
                    double d = 0.0;
                    for (int e = 0; e < HS; e++) d += q[e] * k[e];
                    w[j] = d / sqrt((double)HS);
                    mx = fmax(mx, w[j]);
                }
                for (int j = 0; j <= i; j++) s += (w[j] = exp(w[j] - mx));
                for (int j = 0; j <= i; j++) {
                    w[j] /= s;
                    if (c->mask) w[j] = c->mask[((b * c->NH + h) * T + i) * T + j] ? w[j] / (1.0 - c->p) : 0.0;
                }
                for (int e = 0; e < HS; e++) {
                    double acc = 0.0;
                    for (int j = 0; j <= i; j++) acc += w[j] * c->qkv[(b * T + j) * C3 + 2 * c->C + h * HS + e];
                    out[(b * T + i) * c->C + h * HS + e] = acc;
                }
            }
    free(w);
}

static void attention_case(int B, int T, int C, int NH, int with_dropout, int do_fd) {
    Rng r;
    rng_seed(&r, 100 + T + with_dropout);
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, natt = (size_t)B * NH * T * T;
    float *qkv = malloc(nqkv * 4), *o1 = malloc(nout * 4), *o2 = malloc(nout * 4), *a1 = malloc(natt * 4);
    float *a2 = malloc(natt * 4), *scratch = malloc(2 * (size_t)T * T * 4), *dout = malloc(nout * 4);
    float *d1 = calloc(nqkv, 4), *d2 = calloc(nqkv, 4);
    uint8_t *mask = NULL;
    float p = 0.3f;
    fill(qkv, nqkv, &r, 1.0f);
    fill(dout, nout, &r, 1.0f);
    if (with_dropout) {
        mask = malloc(natt);
        dropout_mask(mask, natt, p, &r);
    }
    attention_forward(o1, a1, qkv, mask, p, scratch, B, T, C, NH);
    attention_forward_naive(o2, a2, qkv, mask, p, B, T, C, NH);
    expect_close("att out", o1, o2, nout, 1e-5, 1e-4);
    expect_close("att weights", a1, a2, natt, 1e-6, 1e-4);
    for (int bh = 0; bh < B * NH; bh++) /* causal: zero above the diagonal, rows sum to 1 */
        for (int i = 0; i < T; i++) {
            double s = 0.0;
            for (int j = 0; j < T; j++) {
                float v = a1[((size_t)bh * T + i) * T + j];
                if (j > i) cr_assert_eq(v, 0.0f);
                s += v;
            }
            cr_assert(fabs(s - 1.0) < 1e-5);
        }
    attention_backward(d1, dout, qkv, a1, mask, p, scratch, B, T, C, NH);
    attention_backward_naive(d2, dout, qkv, a2, mask, p, B, T, C, NH);
    expect_close("att dqkv", d1, d2, nqkv, 1e-5, 1e-4);
    { /* the (batch, head) pairs in uneven shares, each with its own scratch (as the threads run them): the same
       * bits as one call */
        int n = B * NH, cut[4] = {0, n / 3, n / 3 + (n > 1), n};
        memset(o2, 0xff, nout * 4);
        memset(a2, 0xff, natt * 4);
        memset(d2, 0, nqkv * 4);
        for (int s = 0; s < 3; s++) {
            float *sc = malloc(2 * (size_t)T * T * 4);
            memset(sc, 0xff, 2 * (size_t)T * T * 4); /* scratch holds garbage: the kernel must not read it */
            attention_forward_heads(o2, a2, qkv, mask, p, sc, B, T, C, NH, cut[s], cut[s + 1]);
            attention_backward_heads(d2, dout, qkv, a1, mask, p, sc, B, T, C, NH, cut[s], cut[s + 1]);
            free(sc);
        }
        cr_assert_eq(memcmp(o1, o2, nout * 4), 0, "att out in shares");
        cr_assert_eq(memcmp(a1, a2, natt * 4), 0, "att weights in shares");
        cr_assert_eq(memcmp(d1, d2, nqkv * 4), 0, "att dqkv in shares");
        /* and on real threads (3 of them, the BLAS on one meanwhile and on 3 again after) */
        int blas = matmul_get_threads();
        matmul_set_threads(3);
        float *sc = malloc(3 * 2 * (size_t)T * T * 4);
        memset(d2, 0, nqkv * 4);
        attention_forward_threads(o2, a2, qkv, mask, p, sc, 3, B, T, C, NH);
        attention_backward_threads(d2, dout, qkv, a1, mask, p, sc, 3, B, T, C, NH);
        cr_assert_eq(matmul_get_threads(), 3, "BLAS threads restored");
        matmul_set_threads(blas);
        cr_assert_eq(memcmp(o1, o2, nout * 4), 0, "att out on threads");
        cr_assert_eq(memcmp(a1, a2, natt * 4), 0, "att weights on threads");
        cr_assert_eq(memcmp(d1, d2, nqkv * 4), 0, "att dqkv on threads");
        free(sc);
    }
    if (do_fd) {
        AttCtx ctx = {to_double(qkv, nqkv), mask, p, B, T, C, NH};
        double *wd = to_double(dout, nout), *g = malloc(nqkv * sizeof(double));
        fd_grad(att_fwd_d, &ctx, ctx.qkv, nqkv, wd, nout, g);
        double *ref = malloc(nout * sizeof(double));
        att_fwd_d(&ctx, ref);
        for (size_t i = 0; i < nout; i++) cr_assert(fabs(o1[i] - ref[i]) < 1e-5, "att vs double %zu", i);
        expect_grad("att dqkv vs FD", d1, g, nqkv);
        free(ctx.qkv); free(wd); free(g); free(ref);
    }
    free(qkv); free(o1); free(o2); free(a1); free(a2); free(scratch); free(dout); free(d1); free(d2); free(mask);
}

Test(layers_attention, vs_naive_and_finite_differences) {
    matmul_set_threads(1);
    attention_case(2, 5, 8, 2, 0, 1);
    attention_case(2, 5, 8, 2, 1, 1);
    attention_case(1, 4, 12, 3, 0, 1);
}

Test(layers_attention, larger_vs_naive) {
    attention_case(2, 37, 48, 4, 0, 0);
    attention_case(1, 64, 64, 2, 1, 0);
}

/* ---- softmax + cross-entropy ---- */

typedef struct { double *logits; const int *targets; int N, V; } CeCtx;

/* One output per row: the row's loss (0 for ignored rows). */
static void ce_fwd_d(void *vctx, double *out) {
    CeCtx *c = vctx;
    for (int n = 0; n < c->N; n++) {
        const double *row = c->logits + n * c->V;
        double mx = row[0], s = 0.0;
        for (int i = 1; i < c->V; i++) mx = fmax(mx, row[i]);
        for (int i = 0; i < c->V; i++) s += exp(row[i] - mx);
        out[n] = c->targets[n] == -100 ? 0.0 : mx + log(s) - row[c->targets[n]];
    }
}

Test(layers_crossentropy, forward_and_fused_backward) {
    Rng r;
    rng_seed(&r, 8);
    enum { N = 5, V = 9 };
    int targets[N] = {3, -100, 0, 8, 3};
    float logits[N * V], lse[N];
    fill(logits, N * V, &r, 3.0f);
    logits[7] = 80.0f; /* large logits must not overflow */
    int count = 0;
    double total = crossentropy_forward(lse, logits, targets, -100, N, V, &count);
    CeCtx ctx = {to_double(logits, N * V), targets, N, V};
    double rows[N], want = 0.0;
    ce_fwd_d(&ctx, rows);
    for (int n = 0; n < N; n++) want += rows[n];
    cr_assert_eq(count, 4);
    cr_assert(fabs(total - want) < 1e-5 * fabs(want), "loss %g vs %g", total, want);
    /* mean over kept rows: d(total/count)/d(row loss) = 1/count */
    double w[N];
    for (int n = 0; n < N; n++) w[n] = 1.0 / count;
    double g[N * V];
    fd_grad(ce_fwd_d, &ctx, ctx.logits, N * V, w, N, g);
    crossentropy_backward_inplace(logits, lse, targets, -100, N, V, 1.0f / count);
    expect_grad("dlogits", logits, g, N * V);
    for (int i = 0; i < V; i++) cr_assert_eq(logits[V + i], 0.0f, "ignored row has zero gradient");
    free(ctx.logits);
}

/* Every row length mixes the wide exponentials (8 lanes on AVX2, else 4) and the scalar tail: lse and the fused
 * softmax * dloss against double for V = 1..41. */
Test(layers_crossentropy, all_lengths_vs_double) {
    enum { VMAX = 41 };
    Rng r;
    rng_seed(&r, 12);
    for (int V = 1; V <= VMAX; V++) {
        float logits[2 * VMAX], lse[2];
        fill(logits, 2 * (size_t)V, &r, 4.0f);
        int targets[2] = {V - 1, V / 2}, count = 0;
        crossentropy_forward(lse, logits, targets, -100, 2, V, &count);
        cr_assert_eq(count, 2);
        double want_lse[2];
        for (int n = 0; n < 2; n++) {
            double mx = -INFINITY, s = 0.0;
            for (int i = 0; i < V; i++) mx = fmax(mx, logits[n * V + i]);
            for (int i = 0; i < V; i++) s += exp(logits[n * V + i] - mx);
            want_lse[n] = mx + log(s);
            cr_assert(fabs(lse[n] - want_lse[n]) <= 1e-5 * (1.0 + fabs(want_lse[n])), "V %d lse %.9g vs %.9g", V,
                      (double)lse[n], want_lse[n]);
        }
        float keep[2 * VMAX];
        memcpy(keep, logits, sizeof keep);
        crossentropy_backward_inplace(logits, lse, targets, -100, 2, V, 0.5f);
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < V; i++) {
                double want = 0.5 * (exp(keep[n * V + i] - want_lse[n]) - (i == targets[n]));
                cr_assert(fabs(logits[n * V + i] - want) <= 1e-6, "V %d d[%d][%d] %.9g vs %.9g", V, n, i,
                          (double)logits[n * V + i], want);
            }
    }
}

/* ---- optimizer kernels ---- */

Test(layers_optim, adamw_update_vs_naive_and_sumsq) {
    Rng r;
    rng_seed(&r, 9);
    enum { N = 1003 }; /* not a multiple of the vector width: the tail runs too */
    static float p1[N], p2[N], g[N], m1[N], m2[N], v1[N], v2[N];
    fill(p1, N, &r, 1.0f);
    static float p0[N];
    memcpy(p0, p1, sizeof p1);
    fill(g, N, &r, 1.0f);
    fill(m1, N, &r, 0.1f);
    for (int i = 0; i < N; i++) v1[i] = 0.01f * fabsf(rng_normal(&r));
    memcpy(p2, p1, sizeof p1);
    memcpy(m2, m1, sizeof m1);
    memcpy(v2, v1, sizeof v1);
    AdamwCoeffs c = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .grad_scale = 0.5f, .step_size = 1e-3f / 0.19f,
                     .bc2_sqrt = sqrtf(1.0f - 0.95f * 0.95f * 0.95f), .decay_mul = 1.0f - 1e-4f};
    adamw_update(p1, g, m1, v1, N, &c);
    adamw_update_naive(p2, g, m2, v2, N, &c);
    expect_close("p", p1, p2, N, 1e-7, 1e-6);
    expect_close("m", m1, m2, N, 0.0, 1e-6);
    expect_close("v", v1, v2, N, 0.0, 1e-6);
    for (int i = 0; i < N; i++) cr_assert(p1[i] != p0[i], "p[%d] did not move", i);
    double want = 0.0;
    for (int i = 0; i < N; i++) want += (double)g[i] * g[i];
    cr_assert(fabs(vec_sumsq(g, N) - want) < 1e-6 * want);
    /* the fused sweep: the same update, and the gradients are 0 after it */
    static float p3[N], m3[N], v3[N], g3[N];
    memcpy(p3, p0, sizeof p0);
    memcpy(p1, p0, sizeof p0);
    memcpy(m3, m2, sizeof m2);
    memcpy(m1, m2, sizeof m2);
    memcpy(v3, v2, sizeof v2);
    memcpy(v1, v2, sizeof v2);
    memcpy(g3, g, sizeof g);
    adamw_update_zero(p3, g3, m3, v3, N, &c);
    adamw_update_naive(p1, g, m1, v1, N, &c);
    expect_close("fused p", p3, p1, N, 1e-7, 1e-6);
    expect_close("fused m", m3, m1, N, 0.0, 1e-6);
    expect_close("fused v", v3, v1, N, 0.0, 1e-6);
    for (int i = 0; i < N; i++) cr_assert_eq(g3[i], 0.0f, "g[%d] not cleared", i);
}

/* A diverging model must stay visible: NaN inputs give NaN through the vectorized exponentials. */
Test(layers_nan, propagates_through_gelu_and_crossentropy) {
    float x[9] = {0.5f, -1.0f, NAN, 2.0f, 0.1f, 0.2f, 0.3f, NAN, -0.4f}, y[9];
    gelu_forward(y, x, 9);
    cr_assert(isnan(y[2]) && isnan(y[7]));
    cr_assert(isfinite(y[0]) && isfinite(y[8]));
    float logits[2 * 9], lse[2];
    for (int i = 0; i < 9; i++) {
        logits[i] = 0.1f * i;
        logits[9 + i] = 0.1f * i;
    }
    logits[9 + 5] = NAN; /* not the target of row 1 */
    int targets[2] = {1, 2}, count = 0;
    double total = crossentropy_forward(lse, logits, targets, -100, 2, 9, &count);
    cr_assert(isfinite(lse[0]));
    cr_assert(isnan(lse[1]) && isnan(total), "lse %g total %g", (double)lse[1], total);
}

/* ---- optimized LayerNorm and in-place GELU backward against their naive twins ---- */

Test(layers_layernorm, optimized_vs_naive_and_split_halves) {
    Rng r;
    rng_seed(&r, 77);
    enum { N = 9, C = 131 }; /* C not a multiple of the vector width */
    float *inp = malloc(N * C * 4), *w = malloc(C * 4), *b = malloc(C * 4), *dout = malloc(N * C * 4);
    fill(inp, N * C, &r, 3.0f);
    for (int i = 0; i < N * C; i++) inp[i] += 2.0f;
    fill(w, C, &r, 1.0f);
    fill(b, C, &r, 1.0f);
    fill(dout, N * C, &r, 1.0f);
    float *o1 = malloc(N * C * 4), *o2 = malloc(N * C * 4), m1[N], m2[N], r1[N], r2[N];
    layernorm_forward(o1, m1, r1, inp, w, b, N, C);
    layernorm_forward_naive(o2, m2, r2, inp, w, b, N, C);
    expect_close("ln out", o1, o2, N * C, 1e-5, 1e-5);
    expect_close("ln mean", m1, m2, N, 1e-6, 1e-5);
    expect_close("ln rstd", r1, r2, N, 1e-6, 1e-5);
    /* backward accumulates: start from nonzero gradients */
    float *d1 = malloc(N * C * 4), *d2 = malloc(N * C * 4), *d3 = malloc(N * C * 4);
    float dw1[C], dw2[C], dw3[C], db1[C], db2[C], db3[C];
    fill(d1, N * C, &r, 1.0f);
    memcpy(d2, d1, N * C * 4);
    memcpy(d3, d1, N * C * 4);
    for (int i = 0; i < C; i++) dw1[i] = dw2[i] = dw3[i] = 0.5f, db1[i] = db2[i] = db3[i] = -0.25f;
    layernorm_backward(d1, dw1, db1, dout, inp, w, m2, r2, N, C);
    layernorm_backward_naive(d2, dw2, db2, dout, inp, w, m2, r2, N, C);
    expect_close("ln dinp", d1, d2, N * C, 1e-5, 1e-4);
    expect_close("ln dweight", dw1, dw2, C, 1e-5, 1e-4);
    expect_close("ln dbias", db1, db2, C, 1e-5, 1e-4);
    /* the halves as the threads split them: rows in two parts, columns in three odd ranges */
    layernorm_backward_dinp(d3, dout, inp, w, m2, r2, 4, C);
    layernorm_backward_dinp(d3 + 4 * C, dout + 4 * C, inp + 4 * C, w, m2 + 4, r2 + 4, N - 4, C);
    layernorm_backward_params(dw3, db3, dout, inp, m2, r2, N, C, 0, 37);
    layernorm_backward_params(dw3, db3, dout, inp, m2, r2, N, C, 37, 38);
    layernorm_backward_params(dw3, db3, dout, inp, m2, r2, N, C, 38, C);
    expect_close("ln split dinp", d3, d1, N * C, 0.0, 0.0);
    expect_close("ln split dweight", dw3, dw1, C, 1e-6, 1e-6);
    expect_close("ln split dbias", db3, db1, C, 1e-6, 1e-6);
    free(inp); free(w); free(b); free(dout); free(o1); free(o2); free(d1); free(d2); free(d3);
}

Test(layers_gelu, backward_in_place_vs_naive) {
    enum { N = 4003 };
    float *x = malloc(N * 4), *d = malloc(N * 4), *ref = calloc(N, 4);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * i / (N - 1), d[i] = 0.5f - 0.0007f * i;
    gelu_backward_naive(ref, x, d, N);
    gelu_backward_inplace(d, x, N);
    expect_close("gelu backward in place", d, ref, N, 5e-6, 1e-5);
    free(x); free(d); free(ref);
}

Test(layers_gelu, all_lengths_agree_with_the_scalar_tail) {
    /* every start and length mixes the wide loop (8 lanes on AVX2, else 4) and the scalar tail: each element must
     * come out the same whichever path computed it */
    enum { N = 67 };
    float x[N], ref[N], d[N], a[N], g[N], gi[N];
    for (int i = 0; i < N; i++) x[i] = -9.0f + 0.27f * i, d[i] = 1.0f - 0.01f * i;
    for (int i = 0; i < N; i++) gelu_forward(ref + i, x + i, 1); /* scalar path */
    for (int i = 0; i < N; i++) {
        g[i] = 0.0f;
        gelu_backward(g + i, x + i, d + i, 1);
    }
    for (int len = 1; len <= N; len += 5) {
        gelu_forward(a, x, (size_t)len);
        float acc[N] = {0};
        gelu_backward(acc, x, d, (size_t)len);
        memcpy(gi, d, sizeof d);
        gelu_backward_inplace(gi, x, (size_t)len);
        for (int i = 0; i < len; i++) {
            cr_assert(fabsf(a[i] - ref[i]) <= 1e-6f * (1.0f + fabsf(ref[i])), "len %d gelu[%d]", len, i);
            cr_assert(fabsf(acc[i] - g[i]) <= 1e-6f * (1.0f + fabsf(g[i])), "len %d gelu'[%d]", len, i);
            cr_assert_eq(acc[i], gi[i], "len %d in place [%d]", len, i);
        }
    }
}
