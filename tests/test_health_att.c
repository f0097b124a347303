/* test_health_att.c — the Health screen's saturation columns: attention_saturation (inspect.h) on hand-built maps
 * whose answers are known and against a naive count on random ones; arch_probe_fill's GELU count on known inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
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

/* arch_probe_fill's GELU saturation from an architecture's gelu_input: block 1 has 3 of 8 inputs below -3 (one
 * exactly -3, which is not below), block 2 none; without gelu_input nothing is measured. */
static const float G1[8] = {-5, -3.01f, -3, -2, 0, 1, -10, 4}, G2[4] = {-2.9f, 0, 1, 2};
static const float *fake_gelu(const void *m, int l, size_t *n) {
    (void)m;
    *n = l == 1 ? 8 : 4;
    return l == 1 ? G1 : G2;
}
static const float *fake_residual(const void *m, int l) {
    (void)m, (void)l;
    return NULL;
}

Test(health_att, probe_fill_counts_gelu_inputs_below_minus_3) {
    enum { PT = 2, PC = 2, PL = 2, PNH = 1 };
    static float att[PL * PNH * PT * PT], wte[4 * PC], logits[PT * 4];
    static float tok[PT * PC], pos[PT * PC], am[PL + 1], as[PL + 1];
    int ids[PT] = {1, 2};
    ProbeSnapshot p;
    memset(&p, 0, sizeof p);
    p.att = att, p.tok_emb = tok, p.pos_emb = pos, p.act_mean = am, p.act_std = as;
    ArchProbeFill f = {.att = att, .wte = wte, .ids = ids, .T = PT, .L = PL, .NH = PNH, .C = PC,
                       .residual = fake_residual, .logits = logits, .n_logits = PT * 4, .gelu_input = fake_gelu};
    arch_probe_fill(&p, &f);
    cr_assert_eq(p.n_gelu, 2);
    cr_assert_float_eq(p.gelu_dead[0], 3.0f / 8.0f, 1e-6, "%f", p.gelu_dead[0]);
    cr_assert_float_eq(p.gelu_dead[1], 0.0f, 1e-6);
    f.gelu_input = NULL;
    arch_probe_fill(&p, &f);
    cr_assert_eq(p.n_gelu, 0, "not measured without gelu_input");
}
