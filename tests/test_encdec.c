/* test_encdec.c — the C encoder-decoder (src/encdec.c) against PyTorch reference files (tests/ref/encdec_*.bin,
 * written by tests/make_encdec_ref.py): logits, encoder self-attention, causal decoder self-attention and
 * cross-attention maps, the loss with source padding and ignored target positions, every gradient, the gradient
 * norm and 10 AdamW steps with clipping, for the paper's configuration (post-LN, shared vocabulary, tied output,
 * sinusoidal positions, ReLU) and the other options (pre-LN, two vocabularies, separate lm_head, learned
 * positions, GELU). Then incremental decoding: KV-cached logits and cross-attention rows equal a full forward,
 * greedy tokens are exactly those of full recomputation, beam search with width >= every prefix is exhaustive,
 * beam 1 is greedy, sampling is seeded. Dropout paths against finite differences.
 * Tolerances as tests/test_model.c (see tests/test_bert.c); k_proj biases get no real gradient (softmax ignores a
 * per-row constant) and are compared as noise. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "encdec.h"
#include "lwref.h"
#include "matmul.h"

typedef struct RefEd {
    LwRef rf;
    EncDec m;
    int B, S, T;
    int *src, *tgt, *labels;
    uint8_t *pad;
} RefEd;

static const char *const ED_REFS[] = {"tests/ref/encdec_paper.bin", "tests/ref/encdec_preln_separate.bin"};

static void refed_open(RefEd *r, const char *path) {
    matmul_set_threads(1);
    lwref_load(&r->rf, path);
    const LwRefArray *ca = lwref_get(&r->rf, "config");
    cr_assert_eq(ca->n, 19);
    const float *d = ca->data;
    int acts[3] = {XF_ACT_GELU, XF_ACT_GELU_TANH, XF_ACT_RELU};
    EncDecConfig c = {.n_enc_layer = (int)d[0], .n_dec_layer = (int)d[1], .n_head = (int)d[2], .d_model = (int)d[3],
                      .d_ff = (int)d[4], .max_src = (int)d[5], .max_tgt = (int)d[6], .src_vocab = (int)d[7],
                      .tgt_vocab = (int)d[8], .shared_vocab = (int)d[9], .tie_output = (int)d[10],
                      .learned_pos = (int)d[11], .scale_emb = (int)d[12], .pre_ln = (int)d[13], .act = acts[(int)d[14]],
                      .ln_eps = d[15], .dropout = 0.0f, .attn_dropout = 0.0f};
    r->B = (int)d[16];
    r->S = (int)d[17];
    r->T = (int)d[18];
    LwError e = {0};
    cr_assert_eq(encdec_init(&r->m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(encdec_reserve(&r->m, r->B, r->S, r->T, &e), 0, "%s", e.msg);
    cr_assert_eq(r->m.n_params, encdec_count_params(&c));
    cr_assert_eq(lwref_count_prefix(&r->rf, "param/"), r->m.n_tensors, "same tensor set as the reference");
    for (int i = 0; i < r->m.n_tensors; i++) {
        GptTensor *t = &r->m.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "param/%s", t->name);
        const LwRefArray *a = lwref_get(&r->rf, name);
        cr_assert_eq(a->ndim, t->ndim, "%s", t->name);
        for (int k = 0; k < t->ndim; k++) cr_assert_eq((int)a->dims[k], t->shape[k], "%s dim %d", t->name, k);
        memcpy(r->m.params + t->offset, a->data, t->numel * sizeof(float));
    }
    size_t Ns = (size_t)r->B * r->S, Nt = (size_t)r->B * r->T;
    r->src = lwref_ints(&r->rf, "src", Ns);
    r->tgt = lwref_ints(&r->rf, "tgt_in", Nt);
    r->labels = lwref_ints(&r->rf, "labels", Nt);
    int *p = lwref_ints(&r->rf, "src_pad", Ns);
    r->pad = malloc(Ns);
    for (size_t i = 0; i < Ns; i++) r->pad[i] = (uint8_t)p[i];
    free(p);
}

static void refed_close(RefEd *r) {
    encdec_free(&r->m);
    lwref_free(&r->rf);
    free(r->src);
    free(r->tgt);
    free(r->labels);
    free(r->pad);
}

static void check_forward_backward(const char *path) {
    RefEd r;
    refed_open(&r, path);
    EncDec *m = &r.m;
    const EncDecConfig *c = &m->cfg;
    int B = r.B, S = r.S, T = r.T, NH = c->n_head;
    float loss = encdec_forward(m, r.src, r.pad, r.tgt, r.labels, B, S, T, 1, NULL);
    float rloss = lwref_get(&r.rf, "loss")->data[0];
    cr_assert(fabsf(loss - rloss) <= 1e-5f * rloss, "%s: loss %.8f vs torch %.8f", path, loss, rloss);
    const LwRefArray *lg = lwref_get(&r.rf, "logits");
    cr_assert_eq(lg->n, (size_t)B * T * c->tgt_vocab);
    lwref_check_close("logits", m->logits, lg->data, lg->n, 1e-5, 1e-4);
    struct { const char *name; const float *c; size_t n; } maps[] = {
        {"enc_att", m->enc_att, (size_t)c->n_enc_layer * B * NH * S * S},
        {"dec_att", m->dec_att, (size_t)c->n_dec_layer * B * NH * T * T},
        {"cross_att", m->cross_att, (size_t)c->n_dec_layer * B * NH * T * S}};
    for (size_t k = 0; k < LW_ARRAY_LEN(maps); k++) {
        const LwRefArray *a = lwref_get(&r.rf, maps[k].name);
        cr_assert_eq(a->n, maps[k].n, "%s size", maps[k].name);
        lwref_check_close(maps[k].name, maps[k].c, a->data, a->n, 1e-6, 1e-4);
    }
    if (!c->pre_ln) cr_assert_eq(encdec_residual(m, 0, c->n_enc_layer), encdec_memory(m));
    cr_assert_null(encdec_residual(m, 1, c->n_dec_layer + 1));
    cr_assert_not_null(encdec_residual(m, 1, 0));
    /* the cross-attention never looks at source padding; the decoder never looks ahead */
    for (size_t i = 0; i < maps[2].n; i++) {
        int s = (int)(i % S), b = (int)(i / ((size_t)S * T * NH) % B);
        if (r.pad[b * S + s]) cr_assert_eq(m->cross_att[i], 0.0f);
    }
    for (size_t i = 0; i < maps[1].n; i++)
        if ((int)(i % T) > (int)(i / T % T)) cr_assert_eq(m->dec_att[i], 0.0f);
    encdec_zero_grad(m);
    encdec_backward(m, 1.0f);
    int nonzero = 0, noise = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const GptTensor *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "grad/%s", t->name);
        const LwRefArray *g = lwref_get(&r.rf, name);
        cr_assert_eq(g->n, t->numel);
        double mx = lwref_maxabs(g->data, g->n);
        if (strstr(t->name, "k_proj.bias")) {
            cr_assert(mx < 1e-6, "%s: reference k-bias gradient %g is not noise", name, mx);
            lwref_check_close(name, m->grads + t->offset, g->data, t->numel, 1e-6, 0.0);
            noise++;
            continue;
        }
        cr_assert(mx > 0.0, "%s: reference gradient is all zero (test would be vacuous)", name);
        nonzero++;
        lwref_check_close(name, m->grads + t->offset, g->data, t->numel, 1e-5 * mx, 1e-3);
    }
    cr_assert_eq(nonzero + noise, m->n_tensors);
    float norm = encdec_grad_norm(m), rnorm = lwref_get(&r.rf, "grad_norm")->data[0];
    cr_assert(fabsf(norm - rnorm) <= 1e-4f * rnorm, "grad norm %.7f vs torch %.7f", norm, rnorm);
    refed_close(&r);
}

static void check_adamw(const char *path) {
    RefEd r;
    refed_open(&r, path);
    EncDec *m = &r.m;
    const LwRefArray *ls = lwref_get(&r.rf, "adamw_loss");
    cr_assert_eq(ls->n, 10);
    for (int step = 1; step <= 10; step++) {
        encdec_zero_grad(m);
        float loss = encdec_forward(m, r.src, r.pad, r.tgt, r.labels, r.B, r.S, r.T, 1, NULL);
        float ref = ls->data[step - 1];
        cr_assert(fabsf(loss - ref) <= 1e-4f * fabsf(ref), "%s step %d: loss %.7f vs torch %.7f", path, step, loss, ref);
        encdec_backward(m, 1.0f);
        float norm = encdec_grad_norm(m), clip = 1.0f / (norm + 1e-6f);
        encdec_adamw_step(m, 1e-3f, 0.9f, 0.98f, 1e-8f, 0.1f, step, clip < 1.0f ? clip : 1.0f);
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const GptTensor *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "final/%s", t->name);
        if (strstr(t->name, "k_proj.bias")) continue; /* rounding noise blown up by AdamW: see test_model.c */
        lwref_check_close(name, m->params + t->offset, lwref_get(&r.rf, name)->data, t->numel, 2e-5, 1e-4);
    }
    refed_close(&r);
}

Test(encdec_ref, forward_backward_paper) { check_forward_backward(ED_REFS[0]); }
Test(encdec_ref, forward_backward_preln_separate) { check_forward_backward(ED_REFS[1]); }
Test(encdec_ref, adamw_paper) { check_adamw(ED_REFS[0]); }
Test(encdec_ref, adamw_preln_separate) { check_adamw(ED_REFS[1]); }

/* ---- incremental decoding ---- */

/* Greedy decoding of source row 0 (its unpadded part) two ways: KV cache, and a full forward over the whole
 * prefix at every step; logits, cross-attention rows and tokens must agree. */
static void check_cached_decode(const char *path) {
    RefEd r;
    refed_open(&r, path);
    EncDec *m = &r.m;
    const EncDecConfig *c = &m->cfg;
    int S = r.S, Vt = c->tgt_vocab, NH = c->n_head, Ld = c->n_dec_layer, steps = c->max_tgt, bos = 1;
    while (S > 1 && r.pad[S - 1]) S--;
    LwError e = {0};
    cr_assert_eq(encdec_reserve(m, 1, S, steps, &e), 0, "%s", e.msg);
    EncDecCache *kv = encdec_cache_open(m, 1, S, steps);
    encdec_cache_start(m, kv, r.src, S);
    int *prefix = malloc((size_t)(steps + 1) * sizeof(int));
    float *lk = malloc((size_t)Vt * sizeof(float)), *xa = malloc((size_t)Ld * NH * S * sizeof(float));
    prefix[0] = bos;
    for (int t = 0; t < steps; t++) {
        cr_assert_eq(encdec_cache_step(m, kv, 0, prefix[t], lk, xa), 0);
        cr_assert_eq(encdec_cache_len(kv, 0), t + 1);
        encdec_forward(m, r.src, NULL, prefix, NULL, 1, S, t + 1, 0, NULL);
        const float *full = m->logits + (size_t)t * Vt;
        for (int v = 0; v < Vt; v++)
            cr_assert(fabsf(lk[v] - full[v]) <= 1e-5f * (1.0f + fabsf(full[v])), "step %d logit %d: %g vs %g", t, v,
                      (double)lk[v], (double)full[v]);
        for (int l = 0; l < Ld; l++)
            for (int h = 0; h < NH; h++)
                for (int s = 0; s < S; s++) {
                    float want = m->cross_att[((((size_t)l * NH + h) * (t + 1)) + t) * S + s];
                    cr_assert(fabsf(xa[((size_t)l * NH + h) * S + s] - want) <= 1e-6f + 1e-4f * want, "cross row");
                }
        int a = 0, b = 0;
        for (int v = 1; v < Vt; v++) {
            if (lk[v] > lk[a]) a = v;
            if (full[v] > full[b]) b = v;
        }
        cr_assert_eq(a, b, "step %d: cached greedy token %d, full recomputation %d", t, a, b);
        prefix[t + 1] = a;
    }
    cr_assert_eq(encdec_cache_step(m, kv, 0, 2, lk, NULL), -1, "a full cache refuses another token");
    /* encdec_generate greedy gives the same tokens */
    int toks[64];
    EncDecHyp h = {.tokens = toks};
    EncDecGen g = {.bos = bos, .eos = -1, .max_len = steps, .temperature = 0.0f, .beam = 1};
    cr_assert_eq(encdec_generate(m, kv, r.src, S, &g, NULL, &h), 1);
    cr_assert_eq(h.len, steps);
    for (int t = 0; t < steps; t++) cr_assert_eq(toks[t], prefix[t + 1], "generate token %d", t);
    free(prefix);
    free(lk);
    free(xa);
    encdec_cache_close(kv);
    refed_close(&r);
}

Test(encdec_decode, kv_cache_equals_full_recomputation_paper) { check_cached_decode(ED_REFS[0]); }
Test(encdec_decode, kv_cache_equals_full_recomputation_preln) { check_cached_decode(ED_REFS[1]); }

/* log p(seq | src) by full forwards (teacher forcing on bos + seq). */
static double seq_logprob(EncDec *m, const int *src, int S, const int *seq, int n, int bos) {
    int in[8];
    in[0] = bos;
    for (int i = 0; i + 1 < n; i++) in[i + 1] = seq[i];
    encdec_forward(m, src, NULL, in, NULL, 1, S, n, 0, NULL);
    int V = m->cfg.tgt_vocab;
    double lp = 0.0;
    for (int t = 0; t < n; t++) {
        const float *row = m->logits + (size_t)t * V;
        double mx = row[0], s = 0.0;
        for (int v = 1; v < V; v++) mx = fmax(mx, row[v]);
        for (int v = 0; v < V; v++) s += exp(row[v] - mx);
        lp += row[seq[t]] - mx - log(s);
    }
    return lp;
}

Test(encdec_decode, beam_search_exhaustive_greedy_and_sampling) {
    matmul_set_threads(1);
    enum { V = 5, L = 3, BOS = 0, EOS = 1, S = 4, W = 25 };
    EncDecConfig c = encdec_config_default(1, 2, 8, 8, V);
    c.dropout = 0.0f;
    EncDec m;
    LwError e = {0};
    cr_assert_eq(encdec_init(&m, &c, &e), 0, "%s", e.msg);
    Rng r;
    rng_seed(&r, 21);
    encdec_init_weights(&m, &r);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 3.0f; /* peaked distributions: beams matter */
    cr_assert_eq(encdec_reserve(&m, 1, S, L, &e), 0);
    int src[S] = {2, 3, 4, 2};
    /* exhaustive best under sum log p: sequences of length <= L that end in EOS, or of length L */
    double best = -INFINITY;
    int best_seq[L], best_n = 0, seq[L];
    for (int n = 1; n <= L; n++) {
        int total = 1;
        for (int i = 0; i < n; i++) total *= V;
        for (int code = 0; code < total; code++) {
            int x = code, ok = 1;
            for (int i = 0; i < n; i++, x /= V) seq[i] = x % V;
            for (int i = 0; i + 1 < n; i++) ok &= seq[i] != EOS;
            if (n < L) ok &= seq[n - 1] == EOS;
            if (!ok) continue;
            double lp = seq_logprob(&m, src, S, seq, n, BOS);
            if (lp > best) {
                best = lp;
                best_n = n;
                memcpy(best_seq, seq, sizeof seq);
            }
        }
    }
    EncDecCache *kv = encdec_cache_open(&m, W, S, L);
    int buf[W][L];
    EncDecHyp hyps[W];
    for (int i = 0; i < W; i++) hyps[i].tokens = buf[i];
    EncDecGen g = {.bos = BOS, .eos = EOS, .max_len = L, .beam = W, .len_alpha = 0.0f};
    int nh = encdec_generate(&m, kv, src, S, &g, NULL, hyps);
    cr_assert(nh >= 1);
    cr_assert_eq(hyps[0].len, best_n, "beam length %d, exhaustive %d", hyps[0].len, best_n);
    for (int i = 0; i < best_n; i++) cr_assert_eq(hyps[0].tokens[i], best_seq[i]);
    cr_assert(fabs(hyps[0].logprob - best) < 1e-4, "beam log p %g, exhaustive %g", (double)hyps[0].logprob, best);
    for (int i = 1; i < nh; i++) cr_assert(hyps[i].score <= hyps[i - 1].score, "best first");
    for (int i = 0; i < nh; i++) /* every reported score is the sequence's true log-probability */
        cr_assert(fabs(hyps[i].logprob - seq_logprob(&m, src, S, hyps[i].tokens, hyps[i].len, BOS)) < 1e-4);
    /* length normalisation: the score is logprob / len^alpha */
    g.len_alpha = 1.0f;
    nh = encdec_generate(&m, kv, src, S, &g, NULL, hyps);
    for (int i = 0; i < nh; i++) cr_assert(fabsf(hyps[i].score - hyps[i].logprob / (float)hyps[i].len) < 1e-5f);
    /* beam 1 is greedy */
    int gt[L], bt[L];
    EncDecHyp gh = {.tokens = gt}, bh = {.tokens = bt};
    EncDecGen gg = {.bos = BOS, .eos = EOS, .max_len = L, .beam = 1};
    cr_assert_eq(encdec_generate(&m, kv, src, S, &gg, NULL, &gh), 1);
    int tok = BOS, n = 0;
    for (int t = 0; t < L; t++) { /* greedy by full recomputation */
        int in[L + 1];
        in[0] = BOS;
        memcpy(in + 1, bt, (size_t)n * sizeof(int));
        encdec_forward(&m, src, NULL, in, NULL, 1, S, n + 1, 0, NULL);
        const float *row = m.logits + (size_t)n * V;
        tok = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[tok]) tok = v;
        bt[n++] = tok;
        if (tok == EOS) break;
    }
    cr_assert_eq(gh.len, n);
    for (int i = 0; i < n; i++) cr_assert_eq(gt[i], bt[i]);
    (void)bh;
    /* sampling: same seed, same tokens; all in range */
    EncDecGen sg = {.bos = BOS, .eos = EOS, .max_len = L, .temperature = 1.5f, .top_k = 3, .top_p = 0.9f, .beam = 1};
    int s1[L], s2[L];
    EncDecHyp h1 = {.tokens = s1}, h2 = {.tokens = s2};
    Rng r1, r2;
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    encdec_generate(&m, kv, src, S, &sg, &r1, &h1);
    encdec_generate(&m, kv, src, S, &sg, &r2, &h2);
    cr_assert_eq(h1.len, h2.len);
    for (int i = 0; i < h1.len; i++) cr_assert(s1[i] == s2[i] && s1[i] >= 0 && s1[i] < V);
    encdec_cache_close(kv);
    encdec_free(&m);
}

/* Dropout everywhere: the backward of a training forward matches finite differences with the same masks. */
Test(encdec_dropout, backward_matches_finite_differences) {
    EncDecConfig c = encdec_config_default(1, 2, 8, 6, 9);
    c.d_ff = 12;
    c.dropout = 0.2f;
    c.attn_dropout = 0.25f;
    for (int pre = 0; pre <= 1; pre++) {
        c.pre_ln = pre;
        c.learned_pos = pre;
        EncDec m;
        LwError e = {0};
        cr_assert_eq(encdec_init(&m, &c, &e), 0, "%s", e.msg);
        cr_assert_eq(encdec_reserve(&m, 2, 5, 4, &e), 0);
        Rng r;
        rng_seed(&r, 4);
        for (size_t i = 0; i < m.n_params; i++) m.params[i] = 0.3f * rng_normal(&r);
        int src[10] = {2, 3, 4, 5, 6, 7, 8, 2, 0, 0}, tgt[8] = {1, 3, 5, 7, 1, 2, 4, 0}, lab[8] = {3, 5, 7, 2, 2, 4, 6, -100};
        uint8_t pad[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
        rng_seed(&r, 77);
        encdec_forward(&m, src, pad, tgt, lab, 2, 5, 4, 1, &r);
        encdec_zero_grad(&m);
        encdec_backward(&m, 1.0f);
        const char *names[] = {"model.encoder.layers.0.self_attn.q_proj.weight", "model.decoder.layers.0.encoder_attn.v_proj.weight",
                               "model.decoder.layers.0.fc2.weight", "model.shared.weight",
                               "model.decoder.layers.0.encoder_attn_layer_norm.weight"};
        for (size_t k = 0; k < LW_ARRAY_LEN(names); k++) {
            GptTensor *t = encdec_find(&m, names[k]);
            cr_assert_not_null(t, "%s", names[k]);
            for (size_t j = 0; j < t->numel; j += t->numel / 5 + 1) {
                float *p = m.params + t->offset + j, keep = *p, h = 1e-2f;
                *p = keep + h;
                rng_seed(&r, 77);
                double lp = encdec_forward(&m, src, pad, tgt, lab, 2, 5, 4, 1, &r);
                *p = keep - h;
                rng_seed(&r, 77);
                double lm = encdec_forward(&m, src, pad, tgt, lab, 2, 5, 4, 1, &r);
                *p = keep;
                double fd = (lp - lm) / (2.0 * h), g = m.grads[t->offset + j];
                cr_assert(fabs(g - fd) <= 2e-2 * fabs(fd) + 2e-3, "pre_ln %d %s[%zu]: backward %g vs FD %g", pre,
                          names[k], j, g, fd);
            }
        }
        encdec_free(&m);
    }
}

Test(encdec_params, table_count_and_errors) {
    EncDecConfig c = encdec_config_default(2, 4, 16, 10, 50);
    EncDec m;
    LwError e = {0};
    cr_assert_eq(encdec_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(m.n_params, encdec_count_params(&c));
    cr_assert_not_null(encdec_find(&m, "model.shared.weight"));
    cr_assert_null(encdec_find(&m, "lm_head.weight"));
    cr_assert_null(encdec_find(&m, "model.encoder.embed_positions.weight"));
    GptTensor *k = encdec_find(&m, "model.decoder.layers.1.encoder_attn.k_proj.weight");
    GptTensor *v = encdec_find(&m, "model.decoder.layers.1.encoder_attn.v_proj.weight");
    cr_assert(k && v && v->offset == k->offset + 256, "cross k, v adjacent");
    cr_assert_eq(m.pos_table[1], 1.0f, "PE(0, 1) = cos 0");
    cr_assert(fabsf(m.pos_table[16] - sinf(1.0f)) < 1e-6f, "PE(1, 0) = sin 1");
    /* the paper's base model: 6+6 layers, 512, 2048, 8 heads, shared 37000 BPE: about 63M parameters (the paper's
     * 65M counts the positional table and a separate pre-softmax bias in some implementations) */
    EncDecConfig base = encdec_config_default(6, 8, 512, 256, 37000);
    size_t n = encdec_count_params(&base);
    cr_assert(n > 60000000 && n < 66000000, "base model %zu parameters", n);
    encdec_free(&m);
    c.shared_vocab = 0;
    c.tgt_vocab = 30;
    c.tie_output = 0;
    c.learned_pos = 1;
    c.pre_ln = 1;
    cr_assert_eq(encdec_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(encdec_find(&m, "lm_head.weight")->shape[0], 30);
    cr_assert_eq(encdec_find(&m, "lm_head.weight")->decay, 1);
    cr_assert_not_null(encdec_find(&m, "model.decoder.layer_norm.weight"));
    cr_assert_eq(m.n_params, encdec_count_params(&c));
    cr_assert_eq(encdec_reserve(&m, 1, 11, 5, &e), LW_ERR_INVALID);
    encdec_free(&m);
    c.shared_vocab = 1;
    cr_assert_eq(encdec_init(&m, &c, &e), LW_ERR_INVALID, "shared vocabulary with different sizes");
    cr_assert(strstr(e.msg, "shared") != NULL, "%s", e.msg);
}
