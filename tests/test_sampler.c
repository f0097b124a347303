/* test_sampler.c — next-token selection: greedy, top-k, top-p, temperature, sampling frequencies, ties. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "rng.h"
#include "sampler.h"

#define V 50

static void random_logits(float *x, int n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) x[i] = 3.0f * rng_normal(&r);
}

Test(sampler, greedy_is_argmax_and_draws_nothing) {
    for (uint64_t s = 1; s <= 20; s++) {
        float x[V], y[V];
        random_logits(x, V, s);
        memcpy(y, x, sizeof x);
        int want = 0;
        for (int i = 1; i < V; i++)
            if (x[i] > x[want]) want = i;
        Rng r, r0;
        rng_seed(&r, 7);
        r0 = r;
        int got = sampler_next(y, V, 0.0f, 0, 1.0f, &r, NULL, NULL);
        cr_assert_eq(got, want, "seed %llu", (unsigned long long)s);
        cr_assert_eq(sampler_argmax(x, V), want);
        cr_assert(memcmp(&r, &r0, sizeof r) == 0, "greedy must not consume randomness");
        for (int i = 0; i < V; i++) cr_assert_float_eq(y[i], i == want ? 1.0f : 0.0f, 0.0f);
    }
}

Test(sampler, top_k_1_and_tiny_top_p_are_greedy) {
    float scratch[V];
    int idx[V];
    Rng r;
    rng_seed(&r, 99);
    for (uint64_t s = 1; s <= 30; s++) {
        float x[V], y[V];
        random_logits(x, V, s);
        int want = sampler_argmax(x, V);
        memcpy(y, x, sizeof x);
        cr_assert_eq(sampler_next(y, V, 1.0f, 1, 1.0f, &r, scratch, idx), want);
        memcpy(y, x, sizeof x);
        cr_assert_eq(sampler_next(y, V, 1.5f, 0, 1e-6f, &r, scratch, idx), want);
        cr_assert_float_eq(y[want], 1.0f, 1e-6f);
    }
}

Test(sampler, argmax_ties_and_nan) {
    float x[5] = {1.0f, 3.0f, 3.0f, -2.0f, 3.0f};
    cr_assert_eq(sampler_argmax(x, 5), 1);
    float y[4] = {NAN, 0.5f, NAN, 2.0f};
    cr_assert_eq(sampler_argmax(y, 4), 3);
    float z[3] = {-INFINITY, -INFINITY, -5.0f};
    cr_assert_eq(sampler_argmax(z, 3), 2);
}

Test(sampler, top_k_keeps_k_largest_and_ties) {
    float x[8] = {0.1f, 5.0f, -1.0f, 3.0f, 3.0f, 4.0f, -7.0f, 2.0f};
    float s[8];
    float y[8];
    memcpy(y, x, sizeof x);
    sampler_top_k(y, 8, 3, s);
    /* 5, 4, 3 (and the tied 3) survive */
    int kept = 0;
    for (int i = 0; i < 8; i++) {
        if (isinf(y[i])) cr_assert(x[i] < 3.0f, "dropped %d (%g)", i, x[i]);
        else {
            kept++;
            cr_assert_float_eq(y[i], x[i], 0.0f);
        }
    }
    cr_assert_eq(kept, 4, "ties with the k-th value are kept (book semantics): kept %d", kept);
    memcpy(y, x, sizeof x);
    sampler_top_k(y, 8, 2, s);
    for (int i = 0; i < 8; i++) cr_assert_eq(!isinf(y[i]), i == 1 || i == 5, "k=2 index %d", i);
    memcpy(y, x, sizeof x);
    sampler_top_k(y, 8, 0, s);
    cr_assert(memcmp(x, y, sizeof x) == 0, "k=0 is off");
}

Test(sampler, top_k_on_a_large_random_row) {
    enum { N = 5000, K = 37 };
    static float x[N], y[N], s[N];
    random_logits(x, N, 12345);
    memcpy(y, x, sizeof x);
    sampler_top_k(y, N, K, s);
    int kept = 0;
    float min_kept = INFINITY, max_dropped = -INFINITY;
    for (int i = 0; i < N; i++) {
        if (isinf(y[i])) max_dropped = fmaxf(max_dropped, x[i]);
        else {
            kept++;
            min_kept = fminf(min_kept, x[i]);
        }
    }
    cr_assert_eq(kept, K);
    cr_assert(min_kept > max_dropped);
}

Test(sampler, softmax_and_temperature) {
    float x[4] = {1.0f, 2.0f, 0.5f, -1.0f};
    float a[4], b[4];
    memcpy(a, x, sizeof x);
    sampler_softmax(a, 4, 2.0f);
    for (int i = 0; i < 4; i++) b[i] = x[i] / 2.0f;
    sampler_softmax(b, 4, 1.0f);
    double sum = 0, z = 0;
    for (int i = 0; i < 4; i++) z += exp(x[i] / 2.0);
    for (int i = 0; i < 4; i++) {
        cr_assert_float_eq(a[i], b[i], 1e-6f);
        cr_assert_float_eq(a[i], (float)(exp(x[i] / 2.0) / z), 1e-6f);
        sum += a[i];
    }
    cr_assert_float_eq(sum, 1.0, 1e-6);
    /* lower temperature sharpens, higher flattens */
    float lo[4], hi[4], one[4];
    memcpy(lo, x, sizeof x);
    memcpy(hi, x, sizeof x);
    memcpy(one, x, sizeof x);
    sampler_softmax(lo, 4, 0.25f);
    sampler_softmax(one, 4, 1.0f);
    sampler_softmax(hi, 4, 4.0f);
    cr_assert(lo[1] > one[1] && one[1] > hi[1]);
    cr_assert(lo[3] < one[3] && one[3] < hi[3]);
    /* huge logits stay finite; -inf gets zero */
    float big[3] = {1000.0f, 999.0f, -INFINITY};
    sampler_softmax(big, 3, 1.0f);
    cr_assert_float_eq(big[0], (float)(1.0 / (1.0 + exp(-1.0))), 1e-6f);
    cr_assert_eq(big[2], 0.0f);
}

Test(sampler, top_p_keeps_smallest_nucleus) {
    int idx[4];
    float p[4] = {0.15f, 0.5f, 0.05f, 0.3f};
    sampler_top_p(p, 4, 0.75f, idx);
    cr_assert_float_eq(p[1], 0.5f / 0.8f, 1e-6f);
    cr_assert_float_eq(p[3], 0.3f / 0.8f, 1e-6f);
    cr_assert_eq(p[0], 0.0f);
    cr_assert_eq(p[2], 0.0f);
    float q[4] = {0.15f, 0.5f, 0.05f, 0.3f};
    sampler_top_p(q, 4, 0.85f, idx);
    cr_assert(q[0] > 0.0f && q[2] == 0.0f);
    float r[4] = {0.15f, 0.5f, 0.05f, 0.3f};
    sampler_top_p(r, 4, 1.0f, idx);
    cr_assert_float_eq(r[2], 0.05f, 0.0f);
    /* ties at the boundary go to the lower id */
    float t[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    sampler_top_p(t, 4, 0.4f, idx);
    cr_assert_float_eq(t[0], 0.5f, 1e-6f);
    cr_assert_float_eq(t[1], 0.5f, 1e-6f);
    cr_assert_eq(t[2], 0.0f);
    cr_assert_eq(t[3], 0.0f);
}

/* Frequencies of many draws at temperature 1 match softmax: Pearson chi-square with 7 degrees of freedom
 * (critical value 24.3 at p = 0.001), fixed seed so the test is deterministic. */
Test(sampler, draws_follow_softmax) {
    enum { K = 8, DRAWS = 40000 };
    const float logits[K] = {0.0f, 1.0f, -0.5f, 2.0f, 0.3f, -1.0f, 1.5f, 0.7f};
    float p[K];
    memcpy(p, logits, sizeof p);
    sampler_softmax(p, K, 1.0f);
    long count[K] = {0};
    Rng r;
    rng_seed(&r, 2024);
    for (int i = 0; i < DRAWS; i++) {
        float x[K];
        memcpy(x, logits, sizeof x);
        int id = sampler_next(x, K, 1.0f, 0, 1.0f, &r, NULL, NULL);
        cr_assert(id >= 0 && id < K);
        count[id]++;
    }
    double chi2 = 0.0;
    for (int i = 0; i < K; i++) {
        double expct = (double)p[i] * DRAWS;
        chi2 += (count[i] - expct) * (count[i] - expct) / expct;
    }
    cr_assert(chi2 < 24.3, "chi-square %.2f", chi2);
    /* at temperature 2 the frequencies follow softmax(x/2) instead: the top token is drawn less often */
    long top_t2 = 0;
    for (int i = 0; i < DRAWS; i++) {
        float x[K];
        memcpy(x, logits, sizeof x);
        top_t2 += sampler_next(x, K, 2.0f, 0, 1.0f, &r, NULL, NULL) == 3;
    }
    float p2[K];
    memcpy(p2, logits, sizeof p2);
    sampler_softmax(p2, K, 2.0f);
    double sd = sqrt(p2[3] * (1 - p2[3]) * DRAWS);
    cr_assert(fabs(top_t2 - p2[3] * DRAWS) < 4 * sd, "top token %ld times, expected %.0f", top_t2, p2[3] * DRAWS);
    cr_assert(top_t2 < count[3]);
}

Test(sampler, top_k_draws_stay_in_top_k) {
    float base[V], scratch[V];
    random_logits(base, V, 5);
    float sorted[V];
    memcpy(sorted, base, sizeof base);
    /* the 5th largest */
    for (int i = 0; i < 5; i++) {
        int m = i;
        for (int j = i + 1; j < V; j++)
            if (sorted[j] > sorted[m]) m = j;
        float t = sorted[i];
        sorted[i] = sorted[m];
        sorted[m] = t;
    }
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < 2000; i++) {
        float x[V];
        memcpy(x, base, sizeof x);
        int id = sampler_next(x, V, 1.0f, 5, 1.0f, &r, scratch, NULL);
        cr_assert(base[id] >= sorted[4], "drew %d outside the top 5", id);
    }
}

Test(sampler, top_n_orders_probabilities) {
    float p[6] = {0.1f, 0.3f, 0.05f, 0.3f, 0.2f, 0.05f};
    int ids[4];
    float v[4];
    cr_assert_eq(sampler_top_n(p, 6, 4, ids, v), 4);
    int want[4] = {1, 3, 4, 0};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ids[i], want[i], "rank %d: %d", i, ids[i]);
        cr_assert_float_eq(v[i], p[want[i]], 0.0f);
    }
    int ids2[10];
    float v2[10];
    cr_assert_eq(sampler_top_n(p, 6, 10, ids2, v2), 6);
    cr_assert_eq(ids2[5], 5);
}

Test(sampler, draw_never_picks_zero_probability) {
    float p[5] = {0.0f, 0.5f, 0.0f, 0.5f, 0.0f};
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < 5000; i++) {
        int id = sampler_draw(p, 5, &r);
        cr_assert(id == 1 || id == 3);
    }
}
