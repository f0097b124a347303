/* test_bert.c — the C BERT (src/bert.c) against PyTorch reference files (tests/ref/bert_*.bin, written by
 * tests/make_bert_ref.py): MLM logits on every row, attention weights, the MLM loss over labelled rows with the
 * padding mask and segments, every gradient, gradient norm, 10 AdamW steps with clipping; the [CLS] classifier's
 * logits, loss and gradients; and the MLM masking (bit-exact against the script's re-implementation on the same
 * xoshiro256** stream, its statistics, determinism).
 *
 * Tolerances (fp32 on both sides, OpenBLAS on one thread), as tests/test_model.c:
 *   logits |c - r| <= 1e-5 + 1e-4 |r|; attention 1e-6 + 1e-4 |r|; loss relative 1e-5; grad norm relative 1e-4
 *   gradients per tensor |c - r| <= 1e-3 |r| + 1e-5 max|r|; AdamW losses relative 1e-4, final weights
 *   2e-5 + 1e-4 |r| except the key biases (softmax ignores a per-row constant: their true gradient is 0 and both
 *   sides hold rounding noise that AdamW's m / sqrt(v) amplifies to +-lr per step). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bert.h"
#include "lwref.h"
#include "matmul.h"

typedef struct RefBert {
    LwRef rf;
    Bert m;
    int B, T;
    int *ids, *segs, *labels, *cls_labels;
    uint8_t *pad;
} RefBert;

static void refbert_open(RefBert *rb, const char *path) {
    matmul_set_threads(1);
    lwref_load(&rb->rf, path);
    const LwRefArray *c = lwref_get(&rb->rf, "config");
    cr_assert_eq(c->n, 13);
    const float *d = c->data;
    BertConfig bc = {.n_layer = (int)d[0], .n_head = (int)d[1], .d_model = (int)d[2], .d_ff = (int)d[3],
                     .max_position = (int)d[4], .vocab_size = (int)d[5], .type_vocab_size = (int)d[6],
                     .pre_ln = (int)d[7], .act = (int)d[8] ? XF_ACT_GELU_TANH : XF_ACT_GELU, .ln_eps = d[9],
                     .dropout = 0.0f, .attn_dropout = 0.0f, .n_classes = (int)d[10]};
    rb->B = (int)d[11];
    rb->T = (int)d[12];
    LwError e = {0};
    cr_assert_eq(bert_init(&rb->m, &bc, &e), 0, "%s", e.msg);
    cr_assert_eq(bert_reserve(&rb->m, rb->B, rb->T, &e), 0, "%s", e.msg);
    cr_assert_eq(rb->m.n_params, bert_count_params(&bc));
    cr_assert_eq(lwref_count_prefix(&rb->rf, "param/"), rb->m.n_tensors, "same tensor set as the reference");
    for (int i = 0; i < rb->m.n_tensors; i++) {
        GptTensor *t = &rb->m.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "param/%s", t->name);
        const LwRefArray *a = lwref_get(&rb->rf, name);
        cr_assert_eq(a->ndim, t->ndim, "%s", t->name);
        for (int k = 0; k < t->ndim; k++) cr_assert_eq((int)a->dims[k], t->shape[k], "%s dim %d", t->name, k);
        memcpy(rb->m.params + t->offset, a->data, t->numel * sizeof(float));
    }
    size_t N = (size_t)rb->B * rb->T;
    rb->ids = lwref_ints(&rb->rf, "inputs", N);
    rb->segs = lwref_ints(&rb->rf, "segments", N);
    rb->labels = lwref_ints(&rb->rf, "labels", N);
    rb->cls_labels = lwref_ints(&rb->rf, "cls_labels", (size_t)rb->B);
    int *p = lwref_ints(&rb->rf, "pad", N);
    rb->pad = malloc(N);
    for (size_t i = 0; i < N; i++) rb->pad[i] = (uint8_t)p[i];
    free(p);
}

static void refbert_close(RefBert *rb) {
    bert_free(&rb->m);
    lwref_free(&rb->rf);
    free(rb->ids);
    free(rb->segs);
    free(rb->labels);
    free(rb->cls_labels);
    free(rb->pad);
}

static const char *const BERT_REFS[] = {"tests/ref/bert_postln_seg_cls.bin", "tests/ref/bert_preln_tanh_nh4.bin"};

/* Gradients of every tensor against prefix/<name>; tensors the loss does not reach must be exactly 0. */
static void check_grads(const RefBert *rb, const char *prefix) {
    const Bert *m = &rb->m;
    int nonzero = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const GptTensor *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%s/%s", prefix, t->name);
        const LwRefArray *g = lwref_get(&rb->rf, name);
        cr_assert_eq(g->n, t->numel);
        double mx = lwref_maxabs(g->data, g->n);
        if (strstr(t->name, "attention.self.key.bias")) {
            /* softmax ignores a per-row constant: the true gradient is 0, both sides hold rounding noise */
            cr_assert(mx < 1e-6, "%s: reference key-bias gradient %g is not noise", name, mx);
            lwref_check_close(name, m->grads + t->offset, g->data, t->numel, 1e-6, 0.0);
            continue;
        }
        nonzero += mx > 0.0;
        lwref_check_close(name, m->grads + t->offset, g->data, t->numel, 1e-5 * mx, 1e-3);
    }
    cr_assert(nonzero >= m->n_tensors - 5 - m->cfg.n_layer, "%s: too few nonzero reference gradients (%d)", prefix, nonzero);
}

static void check_mlm(const char *path) {
    RefBert rb;
    refbert_open(&rb, path);
    Bert *m = &rb.m;
    int B = rb.B, T = rb.T, V = m->cfg.vocab_size, L = m->cfg.n_layer, NH = m->cfg.n_head;
    /* without labels: the head on every row */
    cr_assert_eq(bert_forward(m, rb.ids, rb.segs, rb.pad, NULL, B, T, 0, NULL), -1.0f);
    cr_assert_eq(m->n_rows, B * T);
    const LwRefArray *lg = lwref_get(&rb.rf, "logits");
    cr_assert_eq(lg->n, (size_t)B * T * V);
    lwref_check_close("logits", m->logits, lg->data, lg->n, 1e-5, 1e-4);
    const LwRefArray *at = lwref_get(&rb.rf, "att");
    cr_assert_eq(at->n, (size_t)L * B * NH * T * T);
    lwref_check_close("att", m->att, at->data, at->n, 1e-6, 1e-4);
    cr_assert_not_null(bert_residual(m, 0));
    cr_assert_null(bert_residual(m, L + 1));
    if (!m->cfg.pre_ln) cr_assert_eq(bert_residual(m, L), bert_hidden(m), "post-LN: the last layer's output is the encoder's");
    /* padding keys get weight 0 in every map */
    for (int l = 0; l < L; l++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < T; j++)
                if (rb.pad[b * T + j])
                    for (int h = 0; h < NH; h++)
                        for (int i = 0; i < T; i++)
                            cr_assert_eq(m->att[((((size_t)l * B + b) * NH + h) * T + i) * T + j], 0.0f);
    /* with labels: the mean loss over the labelled rows; the head on every row, or only on the labelled ones */
    int kept = 0;
    for (int i = 0; i < B * T; i++) kept += rb.labels[i] != GPT_IGNORE_INDEX;
    for (int rows_only = 0; rows_only <= 1; rows_only++) {
        m->mlm_rows_only = rows_only;
        float loss = bert_forward(m, rb.ids, rb.segs, rb.pad, rb.labels, B, T, 1, NULL);
        float rloss = lwref_get(&rb.rf, "loss")->data[0];
        cr_assert(fabsf(loss - rloss) <= 1e-5f * rloss, "%s: loss %.8f vs torch %.8f", path, loss, rloss);
        cr_assert_eq(m->n_loss_tokens, kept);
        cr_assert_eq(m->n_rows, rows_only ? kept : B * T);
        for (int r = 0; r < m->n_rows; r++) { /* the head's rows are the same logits as above */
            if (rows_only) cr_assert_neq(rb.labels[m->rows[r]], GPT_IGNORE_INDEX);
            lwref_check_close("selected logits", m->logits + (size_t)r * V, lg->data + (size_t)m->rows[r] * V,
                              (size_t)V, 1e-5, 1e-4);
        }
        bert_zero_grad(m);
        bert_backward(m, 1.0f);
        check_grads(&rb, "grad");
        float norm = bert_grad_norm(m), rnorm = lwref_get(&rb.rf, "grad_norm")->data[0];
        cr_assert(fabsf(norm - rnorm) <= 1e-4f * rnorm, "grad norm %.7f vs torch %.7f", norm, rnorm);
    }
    refbert_close(&rb);
}

static void check_adamw(const char *path) {
    RefBert rb;
    refbert_open(&rb, path);
    Bert *m = &rb.m;
    const LwRefArray *ls = lwref_get(&rb.rf, "adamw_loss");
    cr_assert_eq(ls->n, 10);
    for (int step = 1; step <= 10; step++) {
        bert_zero_grad(m);
        float loss = bert_forward(m, rb.ids, rb.segs, rb.pad, rb.labels, rb.B, rb.T, 1, NULL);
        float r = ls->data[step - 1];
        cr_assert(fabsf(loss - r) <= 1e-4f * fabsf(r), "%s step %d: loss %.7f vs torch %.7f", path, step, loss, r);
        bert_backward(m, 1.0f);
        float norm = bert_grad_norm(m), clip = 1.0f / (norm + 1e-6f); /* clip_grad_norm_(params, 1.0) */
        bert_adamw_step(m, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step, clip < 1.0f ? clip : 1.0f);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const GptTensor *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "final/%s", t->name);
        if (strstr(t->name, "attention.self.key.bias")) continue; /* see the tolerances above */
        lwref_check_close(name, m->params + t->offset, lwref_get(&rb.rf, name)->data, t->numel, 2e-5, 1e-4);
    }
    refbert_close(&rb);
}

Test(bert_ref, mlm_forward_backward_postln_segments) { check_mlm(BERT_REFS[0]); }
Test(bert_ref, mlm_forward_backward_preln_tanh_nh4) { check_mlm(BERT_REFS[1]); }
Test(bert_ref, adamw_postln_segments) { check_adamw(BERT_REFS[0]); }
Test(bert_ref, adamw_preln_tanh_nh4) { check_adamw(BERT_REFS[1]); }

/* A model built without the class head (as from an MLM checkpoint) gets it with bert_add_class_head: same
 * results once its weights are the reference's, and the freezing modes touch only what they name. */
Test(bert_ref, class_head_added_later_and_freezing) {
    RefBert rb;
    refbert_open(&rb, BERT_REFS[0]);
    Bert *full = &rb.m, m;
    BertConfig c = full->cfg;
    int K = c.n_classes;
    c.n_classes = 0;
    LwError e = {0};
    cr_assert_eq(bert_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(bert_reserve(&m, rb.B, rb.T, &e), 0);
    memcpy(m.params, full->params, m.n_params * sizeof(float)); /* the class tensors come last */
    Rng r;
    rng_seed(&r, 1);
    cr_assert_eq(bert_add_class_head(&m, K, &r, &e), 0, "%s", e.msg);
    cr_assert_eq(bert_add_class_head(&m, K, &r, &e), LW_ERR_INVALID, "a second head is refused");
    cr_assert_eq(m.n_params, full->n_params);
    cr_assert_eq(m.n_tensors, full->n_tensors);
    for (int i = 0; i < m.n_tensors; i++) {
        cr_assert_str_eq(m.tensors[i].name, full->tensors[i].name);
        cr_assert_eq(m.tensors[i].offset, full->tensors[i].offset);
    }
    memcpy(m.params, full->params, m.n_params * sizeof(float));
    float l1 = bert_forward_classify(&m, rb.ids, rb.segs, rb.pad, rb.cls_labels, rb.B, rb.T, 1, NULL);
    float l2 = lwref_get(&rb.rf, "cls_loss")->data[0];
    cr_assert(fabsf(l1 - l2) <= 1e-5f * l2, "cls loss %.8f vs torch %.8f", l1, l2);
    /* freezing: head only, then the last block + head */
    for (int mode = GPT_TRAIN_HEAD; mode <= GPT_TRAIN_LAST_BLOCKS; mode++) {
        bert_set_trainable(&m, mode, 1);
        float *before = malloc(m.n_params * sizeof(float));
        memcpy(before, m.params, m.n_params * sizeof(float));
        bert_forward_classify(&m, rb.ids, rb.segs, rb.pad, rb.cls_labels, rb.B, rb.T, 1, NULL);
        bert_zero_grad(&m);
        bert_backward_classify(&m, 1.0f);
        bert_adamw_step(&m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 1, 1.0f);
        for (int i = 0; i < m.n_tensors; i++) {
            const GptTensor *t = &m.tensors[i];
            int changed = memcmp(before + t->offset, m.params + t->offset, t->numel * sizeof(float)) != 0;
            int want = t->role == GPT_ROLE_CLASS_HEAD ||
                       (mode == GPT_TRAIN_LAST_BLOCKS && strncmp(t->name, "bert.encoder.layer.1.", 21) == 0);
            if (strstr(t->name, "key.bias")) continue; /* a zero-gradient tensor may or may not move */
            cr_assert_eq(changed, want, "mode %d: %s %s", mode, t->name, changed ? "changed" : "did not change");
            cr_assert_eq(t->trainable, want, "mode %d: %s trainable", mode, t->name);
        }
        free(before);
    }
    bert_set_trainable(&m, GPT_TRAIN_ALL, 0);
    for (int i = 0; i < m.n_tensors; i++) cr_assert(m.tensors[i].trainable);
    bert_free(&m);
    refbert_close(&rb);
}

Test(bert_ref, classifier_cls_pooler) {
    RefBert rb;
    refbert_open(&rb, BERT_REFS[0]);
    Bert *m = &rb.m;
    int K = m->cfg.n_classes;
    cr_assert_eq(K, 3);
    float loss = bert_forward_classify(m, rb.ids, rb.segs, rb.pad, rb.cls_labels, rb.B, rb.T, 1, NULL);
    float rloss = lwref_get(&rb.rf, "cls_loss")->data[0];
    cr_assert(fabsf(loss - rloss) <= 1e-5f * rloss, "cls loss %.8f vs torch %.8f", loss, rloss);
    lwref_check_close("cls_logits", m->class_logits, lwref_get(&rb.rf, "cls_logits")->data, (size_t)rb.B * K, 1e-5,
                      1e-4);
    bert_zero_grad(m);
    bert_backward_classify(m, 1.0f);
    check_grads(&rb, "cls_grad");
    refbert_close(&rb);
}

/* ---- the masked-LM masking ---- */

static BertMaskSpec spec_of(const LwRefArray *s, int *special) {
    int ns = (int)s->n - 5;
    for (int i = 0; i < ns; i++) special[i] = (int)s->data[5 + i];
    return (BertMaskSpec){.prob = s->data[1], .mask_id = (int)s->data[2], .rand_lo = (int)s->data[3],
                          .rand_hi = (int)s->data[4], .special = special, .n_special = ns};
}

Test(bert_mask, same_as_the_reference_stream) {
    for (size_t f = 0; f < LW_ARRAY_LEN(BERT_REFS); f++) {
        LwRef rf;
        lwref_load(&rf, BERT_REFS[f]);
        const LwRefArray *s = lwref_get(&rf, "mask_spec"), *tk = lwref_get(&rf, "mask_tokens");
        int special[8], B = (int)tk->dims[0], T = (int)tk->dims[1];
        BertMaskSpec spec = spec_of(s, special);
        int *tok = lwref_ints(&rf, "mask_tokens", (size_t)B * T), *want_in = lwref_ints(&rf, "mask_inputs", (size_t)B * T);
        int *want_lab = lwref_ints(&rf, "mask_labels", (size_t)B * T);
        int *in = malloc((size_t)B * T * sizeof(int)), *lab = malloc((size_t)B * T * sizeof(int)), scratch[64];
        Rng r;
        rng_seed(&r, (uint64_t)s->data[0]);
        int n = bert_mlm_mask(in, lab, tok, B, T, &spec, &r, scratch);
        int want_n = 0;
        for (int i = 0; i < B * T; i++) {
            cr_assert_eq(in[i], want_in[i], "input %d: %d vs reference %d", i, in[i], want_in[i]);
            cr_assert_eq(lab[i], want_lab[i], "label %d: %d vs reference %d", i, lab[i], want_lab[i]);
            want_n += want_lab[i] != GPT_IGNORE_INDEX;
        }
        cr_assert_eq(n, want_n);
        cr_assert(n >= B, "at least one position per sequence");
        free(tok); free(want_in); free(want_lab); free(in); free(lab);
        lwref_free(&rf);
    }
}

Test(bert_mask, statistics_determinism_and_specials) {
    enum { B = 400, T = 64, V = 1000, CLS = 1, SEP = 2, MASK = 3, PAD = 0 };
    int special[3] = {PAD, CLS, SEP};
    BertMaskSpec spec = {.prob = 0.15f, .mask_id = MASK, .rand_lo = 4, .rand_hi = V, .special = special, .n_special = 3};
    int *tok = malloc(B * T * sizeof(int)), *in = malloc(B * T * sizeof(int)), *lab = malloc(B * T * sizeof(int));
    int *in2 = malloc(B * T * sizeof(int)), *lab2 = malloc(B * T * sizeof(int)), scratch[T];
    Rng r;
    rng_seed(&r, 5);
    for (int b = 0; b < B; b++) {
        int len = T - (b % 20); /* [CLS] text [SEP] [PAD]... */
        for (int t = 0; t < T; t++) tok[b * T + t] = t == 0 ? CLS : t == len - 1 ? SEP : t >= len ? PAD : 4 + (int)rng_below(&r, V - 4);
    }
    Rng r1, r2;
    rng_seed(&r1, 42);
    rng_seed(&r2, 42);
    int n = bert_mlm_mask(in, lab, tok, B, T, &spec, &r1, scratch);
    cr_assert_eq(bert_mlm_mask(in2, lab2, tok, B, T, &spec, &r2, scratch), n);
    cr_assert(memcmp(in, in2, B * T * sizeof(int)) == 0 && memcmp(lab, lab2, B * T * sizeof(int)) == 0,
              "same seed, same masking");
    rng_seed(&r2, 43);
    bert_mlm_mask(in2, lab2, tok, B, T, &spec, &r2, scratch);
    cr_assert(memcmp(lab, lab2, B * T * sizeof(int)) != 0, "another seed, another masking");
    long eligible = 0, chosen = 0, masked = 0, random = 0, same = 0;
    for (int b = 0; b < B; b++) {
        int el = 0, ch = 0;
        for (int t = 0; t < T; t++) {
            int i = b * T + t, sp = tok[i] == PAD || tok[i] == CLS || tok[i] == SEP;
            el += !sp;
            if (lab[i] == GPT_IGNORE_INDEX) {
                cr_assert_eq(in[i], tok[i], "unchosen positions are unchanged");
                continue;
            }
            cr_assert(!sp, "a special token was chosen");
            cr_assert_eq(lab[i], tok[i], "the label is the original token");
            ch++;
            if (in[i] == MASK) masked++;
            else if (in[i] == tok[i]) same++;
            else {
                cr_assert(in[i] >= 4 && in[i] < V);
                random++;
            }
        }
        cr_assert_eq(ch, (int)floor(0.15 * el + 0.5), "row %d: %d of %d chosen", b, ch, el);
        eligible += el;
        chosen += ch;
    }
    cr_assert_eq(chosen, n);
    double fm = (double)masked / chosen, fr = (double)random / chosen, fs = (double)same / chosen;
    /* about 3500 chosen: 4 sigma of the 80/10/10 split is ~0.027 and ~0.02 */
    cr_assert(fabs(fm - 0.8) < 0.027, "masked fraction %g", fm);
    cr_assert(fabs(fr - 0.1) < 0.02, "random fraction %g (a random pick may equal the token: counted as same)", fr);
    cr_assert(fabs(fs - 0.1) < 0.02, "unchanged fraction %g", fs);
    cr_assert(fabs((double)chosen / eligible - 0.15) < 0.01);
    free(tok); free(in); free(lab); free(in2); free(lab2);
}

/* With dropout, a training forward and its backward agree with finite differences of the same masks (the Rng is
 * reseeded for every forward), so the dropout paths of every sublayer are checked too. */
Test(bert_dropout, backward_matches_finite_differences) {
    BertConfig c = bert_config_default(2, 2, 8, 8, 11);
    c.d_ff = 12;
    c.dropout = 0.2f;
    c.attn_dropout = 0.3f;
    c.n_classes = 0;
    for (int pre = 0; pre <= 1; pre++) {
        c.pre_ln = pre;
        c.ln_eps = 1e-5f;
        Bert m;
        LwError e = {0};
        cr_assert_eq(bert_init(&m, &c, &e), 0, "%s", e.msg);
        cr_assert_eq(bert_reserve(&m, 2, 6, &e), 0);
        Rng r;
        rng_seed(&r, 3);
        for (size_t i = 0; i < m.n_params; i++) m.params[i] = 0.3f * rng_normal(&r);
        int ids[12] = {1, 5, 7, 3, 9, 2, 1, 4, 4, 10, 0, 0}, labels[12];
        uint8_t pad[12] = {0};
        pad[10] = pad[11] = 1;
        for (int i = 0; i < 12; i++) labels[i] = i % 3 == 1 ? (i * 7) % 11 : GPT_IGNORE_INDEX;
        rng_seed(&r, 99);
        bert_forward(&m, ids, NULL, pad, labels, 2, 6, 1, &r);
        bert_zero_grad(&m);
        bert_backward(&m, 1.0f);
        /* a few entries of several tensors, in double-step central differences of the fp32 loss */
        const char *names[] = {"bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.1.output.dense.weight",
                               "bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.attention.output.LayerNorm.bias"};
        for (size_t k = 0; k < LW_ARRAY_LEN(names); k++) {
            GptTensor *t = bert_find(&m, names[k]);
            cr_assert_not_null(t);
            for (size_t j = 0; j < t->numel; j += t->numel / 5 + 1) {
                float *p = m.params + t->offset + j, keep = *p, h = 1e-2f;
                *p = keep + h;
                rng_seed(&r, 99);
                double lp = bert_forward(&m, ids, NULL, pad, labels, 2, 6, 1, &r);
                *p = keep - h;
                rng_seed(&r, 99);
                double lm = bert_forward(&m, ids, NULL, pad, labels, 2, 6, 1, &r);
                *p = keep;
                double fd = (lp - lm) / (2.0 * h), g = m.grads[t->offset + j];
                cr_assert(fabs(g - fd) <= 2e-2 * fabs(fd) + 2e-3, "pre_ln %d %s[%zu]: backward %g vs FD %g", pre,
                          names[k], j, g, fd);
            }
        }
        bert_free(&m);
    }
}

Test(bert_params, table_count_and_errors) {
    BertConfig c = bert_config_default(2, 4, 16, 32, 100);
    c.n_classes = 2;
    Bert m;
    LwError e = {0};
    cr_assert_eq(bert_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(m.n_params, bert_count_params(&c));
    size_t sum = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        cr_assert_eq(m.tensors[i].offset, sum, "contiguous in table order");
        sum += m.tensors[i].numel;
    }
    GptTensor *q = bert_find(&m, "bert.encoder.layer.1.attention.self.query.weight");
    GptTensor *k = bert_find(&m, "bert.encoder.layer.1.attention.self.key.weight");
    GptTensor *v = bert_find(&m, "bert.encoder.layer.1.attention.self.value.weight");
    cr_assert(q && k && v && k->offset == q->offset + 256 && v->offset == k->offset + 256, "q, k, v adjacent");
    cr_assert_eq(bert_find(&m, "bert.encoder.layer.0.intermediate.dense.weight")->shape[0], 64);
    cr_assert_eq(bert_find(&m, "bert.embeddings.word_embeddings.weight")->decay, 0);
    cr_assert_eq(bert_find(&m, "classifier.weight")->shape[0], 2);
    cr_assert_eq(bert_find(&m, "cls.predictions.bias")->numel, 100);
    cr_assert_null(bert_find(&m, "bert.encoder.LayerNorm.weight"));
    /* BERT-base: 109,514,298 parameters in BertForMaskedLM without the pooler (HF reports 109,514,298 with the
     * decoder tied: 30522 vocab, 512 positions, 2 segments, 12 x 768, 3072) */
    BertConfig base = bert_config_default(12, 12, 768, 512, 30522);
    cr_assert_eq(bert_count_params(&base), (size_t)109514298);
    Rng r;
    rng_seed(&r, 1);
    bert_init_weights(&m, &r);
    cr_assert_eq(m.params[bert_find(&m, "bert.embeddings.LayerNorm.weight")->offset], 1.0f);
    cr_assert_eq(m.params[bert_find(&m, "cls.predictions.bias")->offset], 0.0f);
    cr_assert_eq(bert_reserve(&m, 2, 33, &e), LW_ERR_INVALID, "T beyond max_position");
    bert_free(&m);
    c.n_head = 5;
    cr_assert_eq(bert_init(&m, &c, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "n_head") != NULL, "%s", e.msg);
}
