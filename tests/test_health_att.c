/* test_health_att.c — attention_saturation (inspect.h), the Health screen's saturated-attention column, on
 * hand-built maps whose answers are known, and against a naive count on random ones. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"

enum { L = 3, NH = 2, T = 5 };

static float *att_at(float *att, int l, int h, int t) { return att + (((size_t)l * NH + h) * T + t) * T; }

Test(health_att, one_hot_uniform_and_mixed_layers) {
    static float att[L * NH * T * T];
    memset(att, 0, sizeof att);
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
            att_at(att, 0, h, t)[0] = 1;                                   /* layer 0: one-hot on the first key */
            for (int j = 0; j <= t; j++) att_at(att, 1, h, t)[j] = 1.0f / (float)(t + 1); /* layer 1: uniform */
            float top = h == 0 ? 0.96f : 0.94f;                            /* layer 2: head 0 saturated, head 1 not */
            float *r = att_at(att, 2, h, t);
            if (t == 0) { r[0] = 1; continue; }
            r[t] = top;
            for (int j = 0; j < t; j++) r[j] = (1 - top) / (float)t;
        }
    float out[L];
    attention_saturation(att, L, NH, T, 1, HEALTH_ATT_SATURATED, out);
    cr_assert_float_eq(out[0], 1.0f, 1e-6, "one-hot everywhere: %f", out[0]);
    cr_assert_float_eq(out[1], 0.0f, 1e-6, "uniform rows: %f", out[1]);
    cr_assert_float_eq(out[2], 0.5f, 1e-6, "one head of two: %f", out[2]);
    /* bidirectional: the first row counts too (it sees every key); layer 1's row 0 (all on key 0) is one-hot there */
    attention_saturation(att, L, NH, T, 0, HEALTH_ATT_SATURATED, out);
    cr_assert_float_eq(out[0], 1.0f, 1e-6);
    cr_assert_float_eq(out[1], 2.0f / 10.0f, 1e-6, "row 0 of each head: %f", out[1]);
    cr_assert_float_eq(out[2], 6.0f / 10.0f, 1e-6, "head 0's five rows and head 1's first: %f", out[2]);
}

/* Random softmax rows, some sharpened: the share of rows with a weight >= 0.95 counted naively, key by key. */
Test(health_att, agrees_with_a_naive_count_on_random_maps) {
    static float att[L * NH * T * T];
    unsigned s = 7;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                float *r = att_at(att, l, h, t), sum = 0, sharp = (float)(l * 4 + h * 3);
                for (int j = 0; j <= t; j++) {
                    s = s * 1103515245u + 12345u;
                    r[j] = expf(sharp * (float)((s >> 8) & 0xffff) / 65535.0f);
                    sum += r[j];
                }
                for (int j = 0; j <= t; j++) r[j] /= sum;
                for (int j = t + 1; j < T; j++) r[j] = 0;
            }
    float out[L];
    attention_saturation(att, L, NH, T, 1, HEALTH_ATT_SATURATED, out);
    for (int l = 0; l < L; l++) {
        int rows = 0, sat = 0;
        for (int h = 0; h < NH; h++)
            for (int t = 1; t < T; t++) {
                rows++;
                int any = 0;
                for (int j = 0; j <= t; j++) any |= att_at(att, l, h, t)[j] >= 0.95f;
                sat += any;
            }
        cr_assert_float_eq(out[l], (float)sat / (float)rows, 1e-6, "layer %d: %f vs %d/%d", l, out[l], sat, rows);
    }
}
