/* test_optim.c — the shared optimizer (optim.c): threaded zero_grad, gradient norm and AdamW over a tensor table
 * against a one-thread reference built from the naive kernel (adamw_update_naive, a double sum of squares), the
 * gradients cleared by the AdamW sweep, frozen tensors left alone (or cleared with zero_frozen), and the models'
 * "gradients are zero" flag cleared by every backward.
 * Tolerances: AdamW |c - r| <= 1e-7 + 1e-6 |r| (the naive twin has the same float formula); norm relative 1e-6. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layers.h"
#include "matmul.h"
#include "model.h"
#include "optim.h"
#include "rng.h"

enum { NT = 4 };
/* sizes that do not fall on the threads' part boundaries or the vector width */
static const size_t SIZES[NT] = {100003, 70001, 9, 90001};
static const int TRAINABLE[NT] = {1, 0, 1, 1}, DECAY[NT] = {1, 1, 0, 0};

typedef struct Fixture {
    GptTensor t[NT];
    size_t n;
    float *p, *g, *m, *v;
    int grads_zero;
} Fixture;

static void fixture_make(Fixture *f, int seed) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < NT; i++) {
        f->t[i] = (GptTensor){.ndim = 1, .offset = f->n, .numel = SIZES[i], .decay = DECAY[i],
                              .trainable = TRAINABLE[i]};
        snprintf(f->t[i].name, sizeof f->t[i].name, "t%d", i);
        f->n += SIZES[i];
    }
    f->p = malloc(f->n * 4);
    f->g = malloc(f->n * 4);
    f->m = malloc(f->n * 4);
    f->v = malloc(f->n * 4);
    Rng r;
    rng_seed(&r, (uint64_t)seed);
    for (size_t i = 0; i < f->n; i++) {
        f->p[i] = rng_normal(&r);
        f->g[i] = rng_normal(&r);
        f->m[i] = 0.1f * rng_normal(&r);
        f->v[i] = 0.01f * fabsf(rng_normal(&r));
    }
}

static void fixture_free(Fixture *f) {
    free(f->p);
    free(f->g);
    free(f->m);
    free(f->v);
}

static OptimTable fixture_table(Fixture *f, int zero_frozen) {
    return (OptimTable){.tensors = f->t, .n_tensors = NT, .n_params = f->n, .params = f->p, .grads = f->g,
                        .m = f->m, .v = f->v, .zero_frozen = zero_frozen, .grads_zero = &f->grads_zero};
}

static void expect_close(const char *what, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)a[i] - b[i]) <= 1e-7 + 1e-6 * fabs(b[i]), "%s[%zu]: %.9g vs %.9g", what, i,
                  (double)a[i], (double)b[i]);
}

Test(optim, threaded_norm_and_adamw_vs_one_thread_naive) {
    for (int zero_frozen = 0; zero_frozen <= 1; zero_frozen++) {
        Fixture f, ref;
        fixture_make(&f, 5);
        fixture_make(&ref, 5);
        matmul_set_threads(3);
        OptimTable t = fixture_table(&f, zero_frozen);
        double want = 0.0;
        for (int i = 0; i < NT; i++)
            for (size_t k = 0; TRAINABLE[i] && k < SIZES[i]; k++) want += (double)ref.g[f.t[i].offset + k] * ref.g[f.t[i].offset + k];
        float norm = optim_grad_norm(&t);
        cr_assert(fabs(norm - sqrt(want)) <= 1e-6 * sqrt(want), "norm %.9g vs %.9g", (double)norm, sqrt(want));
        float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;
        int step = 3;
        optim_adamw_step(&t, lr, b1, b2, eps, wd, step, scale);
        AdamwCoeffs c = {.beta1 = b1, .beta2 = b2, .eps = eps, .grad_scale = scale};
        c.step_size = (float)(lr / (1.0 - pow(b1, step)));
        c.bc2_sqrt = (float)sqrt(1.0 - pow(b2, step));
        for (int i = 0; i < NT; i++) {
            size_t o = f.t[i].offset, n = SIZES[i];
            if (TRAINABLE[i]) {
                c.decay_mul = DECAY[i] ? (float)(1.0 - (double)lr * wd) : 1.0f;
                adamw_update_naive(ref.p + o, ref.g + o, ref.m + o, ref.v + o, n, &c);
                expect_close("p", f.p + o, ref.p + o, n);
                expect_close("m", f.m + o, ref.m + o, n);
                expect_close("v", f.v + o, ref.v + o, n);
                for (size_t k = 0; k < n; k++) cr_assert_eq(f.g[o + k], 0.0f, "t%d: gradient %zu not cleared", i, k);
            } else { /* frozen: parameters and moments bit-identical; the gradient cleared only with zero_frozen */
                cr_assert_eq(memcmp(f.p + o, ref.p + o, n * 4), 0);
                cr_assert_eq(memcmp(f.m + o, ref.m + o, n * 4), 0);
                cr_assert_eq(memcmp(f.v + o, ref.v + o, n * 4), 0);
                for (size_t k = 0; k < n; k++)
                    cr_assert_eq(f.g[o + k], zero_frozen ? 0.0f : ref.g[o + k], "frozen gradient %zu", k);
            }
        }
        cr_assert_eq(f.grads_zero, 1);
        fixture_free(&f);
        fixture_free(&ref);
    }
    matmul_set_threads(1);
}

Test(optim, zero_grad_clears_what_the_backward_writes) {
    for (int zero_frozen = 0; zero_frozen <= 1; zero_frozen++) {
        Fixture f;
        fixture_make(&f, 6);
        matmul_set_threads(2);
        OptimTable t = fixture_table(&f, zero_frozen);
        float frozen0 = f.g[f.t[1].offset];
        optim_zero_grad(&t);
        cr_assert_eq(f.grads_zero, 1);
        for (int i = 0; i < NT; i++)
            for (size_t k = 0; k < SIZES[i]; k++) {
                float g = f.g[f.t[i].offset + k];
                if (TRAINABLE[i] || zero_frozen) cr_assert_eq(g, 0.0f, "t%d[%zu]", i, k);
                else if (k == 0) cr_assert_eq(g, frozen0, "frozen gradient touched");
            }
        cr_assert_eq(optim_grad_norm(&t), 0.0f);
        fixture_free(&f);
    }
    matmul_set_threads(1);
}

/* The model side of the contract: AdamW leaves the gradients zero and says so; a backward says they are not, and
 * zero_grad then really clears them (training two steps in a row equals zero_grad + step twice). */
Test(optim, gpt_backward_clears_the_flag) {
    GptConfig cfg = {.n_layer = 1, .n_head = 2, .d_model = 8, .context_length = 8, .vocab_size = 11,
                     .tie_embeddings = 1};
    Gpt m;
    LwError e = {0};
    cr_assert_eq(gpt_init(&m, &cfg, &e), 0, "%s", e.msg);
    cr_assert_eq(gpt_reserve(&m, 2, 4, &e), 0, "%s", e.msg);
    Rng r;
    rng_seed(&r, 3);
    gpt_init_weights(&m, &r);
    int in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {2, 3, 4, 5, 6, 7, 8, 9};
    gpt_zero_grad(&m);
    cr_assert_eq(m.grads_zero, 1);
    gpt_forward(&m, in, tg, 2, 4, 1, &r);
    gpt_backward(&m, 1.0f);
    cr_assert_eq(m.grads_zero, 0);
    float n1 = gpt_grad_norm(&m);
    cr_assert(n1 > 0.0f);
    gpt_adamw_step(&m, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 1.0f);
    cr_assert_eq(m.grads_zero, 1);
    cr_assert_eq(gpt_grad_norm(&m), 0.0f, "AdamW left gradients behind");
    /* a backward without zero_grad in between accumulates onto zeros: the same gradient as after zero_grad */
    gpt_forward(&m, in, tg, 2, 4, 1, &r);
    gpt_backward(&m, 1.0f);
    float *g1 = malloc(m.n_params * 4);
    memcpy(g1, m.grads, m.n_params * 4);
    gpt_zero_grad(&m);
    cr_assert_eq(gpt_grad_norm(&m), 0.0f, "zero_grad after a backward must clear");
    gpt_forward(&m, in, tg, 2, 4, 1, &r);
    gpt_backward(&m, 1.0f);
    cr_assert_eq(memcmp(g1, m.grads, m.n_params * 4), 0);
    free(g1);
    gpt_free(&m);
}
