/* bert.c — BERT-style encoder with the masked-LM and classification heads (see bert.h). */
#include "bert.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layers.h"
#include "optim.h"

enum { BERT_LAYER_TENSORS = 16 }; /* per encoder layer, in the order bert_init adds them */

struct BertActs {
    int maxB, maxT;
    int *ids, *segs;        /* (N) copies of the last inputs */
    uint8_t *pad;           /* (N) or unused (has_pad 0) */
    int has_pad, classify;  /* last forward: a padding mask was given; it was bert_forward_classify */
    int dropped;            /* the embedding dropout was applied */
    float *emb_sum, *emb_mean, *emb_rstd, *emb_ln, *h0; /* (N, C), (N), (N), (N, C), (N, C) after dropout */
    uint8_t *emb_drop;      /* (N, C) */
    XfAttnActs *at;         /* (L) */
    XfMlpActs *mlp;         /* (L) */
    float *fin, *fin_mean, *fin_rstd; /* pre-LN final LayerNorm (N, C), (N), (N) */
    /* MLM head on the selected rows */
    float *hsel, *ht, *hta, *hln, *hmean, *hrstd; /* (N, C) x4, (N), (N) */
    float *lse;             /* (N) */
    int *tsel;              /* (N) labels of the selected rows */
    /* classification */
    float *cls_in, *pooled; /* (B, C): h[:, 0] and tanh(pool) */
    float *cls_lse;         /* (B) */
    int *cls_labels;        /* (B) */
    /* backward */
    float *dA, *dB, *dC, *scratch;
    const float *x0, *hid;  /* the encoder's input (h0 or emb_ln) and output of the last forward */
    float *block;
    uint8_t *bytes;
};

BertConfig bert_config_default(int n_layer, int n_head, int d_model, int max_position, int vocab_size) {
    BertConfig c = {.n_layer = n_layer, .n_head = n_head, .d_model = d_model, .d_ff = 4 * d_model,
                    .max_position = max_position, .vocab_size = vocab_size, .type_vocab_size = 2, .pre_ln = 0,
                    .act = XF_ACT_GELU, .ln_eps = 1e-12f, .dropout = 0.1f, .attn_dropout = 0.1f, .n_classes = 0};
    return c;
}

/* Index of the first tensor of each part of the table. */
static int bert_emb_tensors(const BertConfig *c) { return 4 + (c->type_vocab_size > 0); }
static int bert_layer0(const BertConfig *c, int l) { return bert_emb_tensors(c) + BERT_LAYER_TENSORS * l; }
static int bert_head0(const BertConfig *c) { return bert_layer0(c, c->n_layer) + (c->pre_ln ? 2 : 0); }
static int bert_class0(const BertConfig *c) { return bert_head0(c) + 5; }

size_t bert_count_params(const BertConfig *c) {
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    size_t n = (V + (size_t)c->max_position + (size_t)c->type_vocab_size) * C + 2 * C;
    n += (size_t)c->n_layer * (4 * C * C + 4 * C + 2 * C * F + F + C + 4 * C);
    if (c->pre_ln) n += 2 * C;
    n += C * C + C + 2 * C + V;
    if (c->n_classes > 0) n += C * C + C + (size_t)c->n_classes * (C + 1);
    return n;
}

static void bert_add(Bert *m, size_t *off, int decay, int ndim, int s0, int s1, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void bert_add(Bert *m, size_t *off, int decay, int ndim, int s0, int s1, const char *fmt, ...) {
    GptTensor *t = &m->tensors[m->n_tensors++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = ndim > 1 ? s1 : 0;
    t->numel = (size_t)s0 * (ndim > 1 ? (size_t)s1 : 1);
    t->offset = *off;
    t->decay = decay;
    t->role = GPT_ROLE_BASE;
    t->trainable = 1;
    *off += t->numel;
}

static float *bert_alloc_floats(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0) return NULL;
    memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

int bert_init(Bert *m, const BertConfig *c, LwError *e) {
    memset(m, 0, sizeof *m);
    if (c->n_layer < 1 || c->n_head < 1 || c->d_model < 1 || c->d_ff < 1 || c->max_position < 1 || c->vocab_size < 2)
        return lw_fail(e, LW_ERR_INVALID, "bert: n_layer, n_head, d_model, d_ff, max_position must be >= 1 and "
                                          "vocab_size >= 2");
    if (c->d_model % c->n_head)
        return lw_fail(e, LW_ERR_INVALID, "bert: d_model %d is not a multiple of n_head %d", c->d_model, c->n_head);
    if (c->type_vocab_size < 0 || c->n_classes < 0 || c->n_classes == 1)
        return lw_fail(e, LW_ERR_INVALID, "bert: type_vocab_size must be >= 0 and n_classes 0 or >= 2");
    if (c->act != XF_ACT_GELU && c->act != XF_ACT_GELU_TANH)
        return lw_fail(e, LW_ERR_INVALID, "bert: act must be gelu or gelu_tanh");
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f && c->attn_dropout >= 0.0f && c->attn_dropout < 1.0f))
        return lw_fail(e, LW_ERR_INVALID, "bert: dropout must be in [0, 1)");
    if (!(c->ln_eps > 0.0f)) return lw_fail(e, LW_ERR_INVALID, "bert: ln_eps must be > 0");
    m->cfg = *c;
    int C = c->d_model, F = c->d_ff, V = c->vocab_size;
    m->tensors = lw_calloc((size_t)bert_class0(c) + 4, sizeof(GptTensor));
    size_t off = 0;
    bert_add(m, &off, 0, 2, V, C, "bert.embeddings.word_embeddings.weight");
    bert_add(m, &off, 0, 2, c->max_position, C, "bert.embeddings.position_embeddings.weight");
    if (c->type_vocab_size > 0)
        bert_add(m, &off, 0, 2, c->type_vocab_size, C, "bert.embeddings.token_type_embeddings.weight");
    bert_add(m, &off, 0, 1, C, 0, "bert.embeddings.LayerNorm.weight");
    bert_add(m, &off, 0, 1, C, 0, "bert.embeddings.LayerNorm.bias");
    for (int l = 0; l < c->n_layer; l++) {
        const char *p = "bert.encoder.layer";
        bert_add(m, &off, 1, 2, C, C, "%s.%d.attention.self.query.weight", p, l);
        bert_add(m, &off, 1, 2, C, C, "%s.%d.attention.self.key.weight", p, l);
        bert_add(m, &off, 1, 2, C, C, "%s.%d.attention.self.value.weight", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.attention.self.query.bias", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.attention.self.key.bias", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.attention.self.value.bias", p, l);
        bert_add(m, &off, 1, 2, C, C, "%s.%d.attention.output.dense.weight", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.attention.output.dense.bias", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.attention.output.LayerNorm.weight", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.attention.output.LayerNorm.bias", p, l);
        bert_add(m, &off, 1, 2, F, C, "%s.%d.intermediate.dense.weight", p, l);
        bert_add(m, &off, 0, 1, F, 0, "%s.%d.intermediate.dense.bias", p, l);
        bert_add(m, &off, 1, 2, C, F, "%s.%d.output.dense.weight", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.output.dense.bias", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.output.LayerNorm.weight", p, l);
        bert_add(m, &off, 0, 1, C, 0, "%s.%d.output.LayerNorm.bias", p, l);
    }
    if (c->pre_ln) {
        bert_add(m, &off, 0, 1, C, 0, "bert.encoder.LayerNorm.weight");
        bert_add(m, &off, 0, 1, C, 0, "bert.encoder.LayerNorm.bias");
    }
    bert_add(m, &off, 1, 2, C, C, "cls.predictions.transform.dense.weight");
    bert_add(m, &off, 0, 1, C, 0, "cls.predictions.transform.dense.bias");
    bert_add(m, &off, 0, 1, C, 0, "cls.predictions.transform.LayerNorm.weight");
    bert_add(m, &off, 0, 1, C, 0, "cls.predictions.transform.LayerNorm.bias");
    bert_add(m, &off, 0, 1, V, 0, "cls.predictions.bias");
    if (c->n_classes > 0) {
        bert_add(m, &off, 1, 2, C, C, "bert.pooler.dense.weight");
        bert_add(m, &off, 0, 1, C, 0, "bert.pooler.dense.bias");
        bert_add(m, &off, 1, 2, c->n_classes, C, "classifier.weight");
        bert_add(m, &off, 0, 1, c->n_classes, 0, "classifier.bias");
        for (int i = bert_class0(c); i < m->n_tensors; i++) m->tensors[i].role = GPT_ROLE_CLASS_HEAD;
    }
    LW_ASSERT(off == bert_count_params(c));
    m->n_params = off;
    m->params = bert_alloc_floats(off);
    m->grads = bert_alloc_floats(off);
    m->adam_m = bert_alloc_floats(off);
    m->adam_v = bert_alloc_floats(off);
    m->loss = -1.0f;
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v) {
        bert_free(m);
        return lw_fail(e, LW_ERR_NOMEM, "bert: cannot allocate %zu MiB of parameters", off * 16 / (1024 * 1024));
    }
    /* LayerNorm weights start at 1 so an uninitialised-but-loaded model is still sane */
    for (int i = 0; i < m->n_tensors; i++)
        if (strstr(m->tensors[i].name, "LayerNorm.weight"))
            for (size_t j = 0; j < m->tensors[i].numel; j++) m->params[m->tensors[i].offset + j] = 1.0f;
    return LW_OK;
}

void bert_init_weights(Bert *m, Rng *r) {
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int is_ln_w = strstr(t->name, "LayerNorm.weight") != NULL;
        for (size_t j = 0; j < t->numel; j++)
            p[j] = t->ndim == 2 ? 0.02f * rng_normal(r) : (is_ln_w ? 1.0f : 0.0f);
    }
}

static void bert_free_acts(Bert *m) {
    if (!m->acts) return;
    free(m->acts->block);
    free(m->acts->bytes);
    free(m->acts->at);
    free(m->acts->mlp);
    free(m->acts->ids);
    free(m->acts);
    m->acts = NULL;
}

void bert_free(Bert *m) {
    bert_free_acts(m);
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    memset(m, 0, sizeof *m);
}

GptTensor *bert_find(const Bert *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* Pointers of layer l's sublayers into base (params or grads). */
static void bert_layer_views(const Bert *m, float *base, int l, XfAttn *a, XfMlp *f) {
    const GptTensor *t = m->tensors + bert_layer0(&m->cfg, l);
    *a = (XfAttn){.wq = base + t[0].offset, .bq = base + t[3].offset, .wo = base + t[6].offset,
                  .bo = base + t[7].offset, .ln_w = base + t[8].offset, .ln_b = base + t[9].offset};
    *f = (XfMlp){.w1 = base + t[10].offset, .b1 = base + t[11].offset, .w2 = base + t[12].offset,
                 .b2 = base + t[13].offset, .ln_w = base + t[14].offset, .ln_b = base + t[15].offset};
}

static XfCfg bert_xf(const BertConfig *c) {
    return (XfCfg){.C = c->d_model, .NH = c->n_head, .F = c->d_ff, .pre_ln = c->pre_ln, .act = c->act,
                   .ln_eps = c->ln_eps, .p_hidden = c->dropout, .p_att = c->attn_dropout};
}

/* Carves n floats off *p. */
static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += n;
    return r;
}
static uint8_t *carve_u8(uint8_t **p, size_t n) {
    uint8_t *r = *p;
    *p += n;
    return r;
}

int bert_reserve(Bert *m, int B, int T, LwError *e) {
    const BertConfig *c = &m->cfg;
    if (B < 1 || T < 1 || T > c->max_position)
        return lw_fail(e, LW_ERR_INVALID, "bert: batch %dx%d does not fit max_position %d", B, T, c->max_position);
    bert_free_acts(m);
    BertActs *a = lw_calloc(1, sizeof *a);
    m->acts = a;
    a->maxB = B;
    a->maxT = T;
    int L = c->n_layer, NH = c->n_head;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size, N = (size_t)B * T;
    size_t TT = (size_t)NH * B * T * T, K = (size_t)(c->n_classes > 0 ? c->n_classes : 0);
    XfCfg xc = bert_xf(c);
    size_t per_layer = (3 * C + 3 * C + 2) * N + (2 + 2 * F + 2 * C) * N; /* attn: ln q y r + stats; mlp */
    size_t nf = 3 * N * C + 2 * N + (size_t)L * per_layer + (size_t)L * TT + N * C + 2 * N /* fin */
                + 4 * N * C + 2 * N + N * V + N /* head */ + 2 * (size_t)B * C + B + (size_t)B * K
                + 3 * N * C + xf_scratch_floats(&xc, (int)N, (int)N, T, T);
    size_t nb = N + N * C + (size_t)L * (TT + 2 * N * C); /* dropout masks always: set_dropout may come later */
    a->block = bert_alloc_floats(nf);
    a->bytes = lw_calloc(nb, 1);
    a->at = lw_calloc((size_t)L, sizeof(XfAttnActs));
    a->mlp = lw_calloc((size_t)L, sizeof(XfMlpActs));
    a->ids = lw_calloc(4 * N + (size_t)B, sizeof(int));
    if (!a->block) return lw_fail(e, LW_ERR_NOMEM, "bert: cannot allocate %zu MiB of activations", nf * 4 >> 20);
    a->segs = a->ids + N;
    a->tsel = a->segs + N;
    m->rows = a->tsel + N;
    a->cls_labels = m->rows + N;
    float *p = a->block;
    uint8_t *q = a->bytes;
    a->pad = carve_u8(&q, N);
    a->emb_sum = carve(&p, N * C);
    a->emb_mean = carve(&p, N);
    a->emb_rstd = carve(&p, N);
    a->emb_ln = carve(&p, N * C);
    a->h0 = carve(&p, N * C);
    a->emb_drop = carve_u8(&q, N * C);
    m->att = carve(&p, (size_t)L * TT);
    for (int l = 0; l < L; l++) {
        XfAttnActs *at = &a->at[l];
        at->ln = carve(&p, N * C);
        at->mean = carve(&p, N);
        at->rstd = carve(&p, N);
        at->q = carve(&p, 3 * N * C);
        at->y = carve(&p, N * C);
        at->r = carve(&p, N * C);
        XfMlpActs *f = &a->mlp[l];
        f->ln = carve(&p, N * C);
        f->mean = carve(&p, N);
        f->rstd = carve(&p, N);
        f->h = carve(&p, N * F);
        f->ha = carve(&p, N * F);
        f->r = carve(&p, N * C);
        at->drop_att = carve_u8(&q, TT);
        at->drop_r = carve_u8(&q, N * C);
        f->drop_r = carve_u8(&q, N * C);
    }
    a->fin = carve(&p, N * C);
    a->fin_mean = carve(&p, N);
    a->fin_rstd = carve(&p, N);
    a->hsel = carve(&p, N * C);
    a->ht = carve(&p, N * C);
    a->hta = carve(&p, N * C);
    a->hln = carve(&p, N * C);
    a->hmean = carve(&p, N);
    a->hrstd = carve(&p, N);
    m->logits = carve(&p, N * V);
    a->lse = carve(&p, N);
    a->cls_in = carve(&p, (size_t)B * C);
    a->pooled = carve(&p, (size_t)B * C);
    a->cls_lse = carve(&p, (size_t)B);
    m->class_logits = carve(&p, (size_t)B * K);
    a->dA = carve(&p, N * C);
    a->dB = carve(&p, N * C);
    a->dC = carve(&p, N * C);
    a->scratch = carve(&p, xf_scratch_floats(&xc, (int)N, (int)N, T, T));
    LW_ASSERT((size_t)(p - a->block) == nf && (size_t)(q - a->bytes) == nb);
    return LW_OK;
}

#define P(i) (m->params + m->tensors[i].offset)
#define G(i) (m->grads + m->tensors[i].offset)

/* Embeddings and the encoder stack over (B, T); leaves the output in a->hid. */
static void bert_encode(Bert *m, const int *ids, const int *segments, const uint8_t *pad, int B, int T,
                        int training, Rng *r) {
    const BertConfig *c = &m->cfg;
    BertActs *a = m->acts;
    LW_ASSERT(a && B <= a->maxB && T <= a->maxT);
    int C = c->d_model, N = B * T, L = c->n_layer, S = c->type_vocab_size;
    size_t NC = (size_t)N * C;
    m->B = B;
    m->T = T;
    Rng *dr = training ? r : NULL;
    for (int i = 0; i < N; i++) {
        LW_ASSERT(ids[i] >= 0 && ids[i] < c->vocab_size);
        a->ids[i] = ids[i];
        a->segs[i] = segments ? segments[i] : 0;
        LW_ASSERT(S == 0 ? a->segs[i] == 0 : a->segs[i] >= 0 && a->segs[i] < S);
    }
    a->has_pad = pad != NULL;
    if (pad) memcpy(a->pad, pad, (size_t)N);
    encoder_forward(a->emb_sum, a->ids, P(0), P(1), B, T, C);
    if (S > 0)
        for (int i = 0; i < N; i++) {
            const float *te = P(2) + (size_t)a->segs[i] * C;
            float *o = a->emb_sum + (size_t)i * C;
            for (int j = 0; j < C; j++) o[j] += te[j];
        }
    int ln = bert_emb_tensors(c) - 2;
    layernorm_forward_eps(a->emb_ln, a->emb_mean, a->emb_rstd, a->emb_sum, P(ln), P(ln + 1), N, C, c->ln_eps);
    a->dropped = dr && c->dropout > 0.0f;
    a->x0 = a->emb_ln;
    if (a->dropped) {
        dropout_mask(a->emb_drop, NC, c->dropout, dr);
        dropout_forward(a->h0, a->emb_ln, a->emb_drop, NC, c->dropout);
        a->x0 = a->h0;
    }
    XfCfg xc = bert_xf(c);
    const float *x = a->x0;
    size_t TT = (size_t)B * c->n_head * T * T;
    for (int l = 0; l < L; l++) {
        XfAttn w;
        XfMlp f;
        bert_layer_views(m, m->params, l, &w, &f);
        a->at[l].att = m->att + (size_t)l * TT;
        xf_attn_forward(&xc, &w, &a->at[l], x, NULL, a->has_pad ? a->pad : NULL, 0, B, T, T, dr, a->scratch);
        x = xf_attn_out(&xc, &a->at[l]);
        xf_mlp_forward(&xc, &f, &a->mlp[l], x, N, dr);
        x = xf_mlp_out(&xc, &a->mlp[l]);
    }
    if (c->pre_ln) {
        int fl = bert_layer0(c, L);
        layernorm_forward_eps(a->fin, a->fin_mean, a->fin_rstd, x, P(fl), P(fl + 1), N, C, c->ln_eps);
        x = a->fin;
    }
    a->hid = x;
}

/* Backward of bert_encode from dA = d(loss)/d(hid) (N, C); a->dA is consumed. */
static void bert_encode_backward(Bert *m) {
    const BertConfig *c = &m->cfg;
    BertActs *a = m->acts;
    int B = m->B, T = m->T, C = c->d_model, N = B * T, L = c->n_layer;
    size_t NC = (size_t)N * C;
    float *da = a->dA, *db = a->dB, *t;
    XfCfg xc = bert_xf(c);
#define SWAP() (t = da, da = db, db = t)
    if (c->pre_ln) {
        int fl = bert_layer0(c, L);
        memset(db, 0, NC * sizeof(float));
        layernorm_backward(db, G(fl), G(fl + 1), da, xf_mlp_out(&xc, &a->mlp[L - 1]), P(fl), a->fin_mean,
                           a->fin_rstd, N, C);
        SWAP();
    }
    for (int l = L - 1; l >= 0; l--) {
        XfAttn w, gw;
        XfMlp f, gf;
        bert_layer_views(m, m->params, l, &w, &f);
        bert_layer_views(m, m->grads, l, &gw, &gf);
        memset(db, 0, NC * sizeof(float));
        xf_mlp_backward(&xc, &f, &gf, &a->mlp[l], xf_attn_out(&xc, &a->at[l]), db, da, N, a->scratch);
        SWAP();
        const float *xin = l == 0 ? a->x0 : xf_mlp_out(&xc, &a->mlp[l - 1]);
        memset(db, 0, NC * sizeof(float));
        xf_attn_backward(&xc, &w, &gw, &a->at[l], xin, NULL, 0, db, NULL, da, B, T, T, a->scratch);
        SWAP();
    }
    if (a->dropped) {
        memset(db, 0, NC * sizeof(float));
        dropout_backward(db, da, a->emb_drop, NC, c->dropout);
        SWAP();
    }
#undef SWAP
    int ln = bert_emb_tensors(c) - 2;
    memset(db, 0, NC * sizeof(float));
    layernorm_backward(db, G(ln), G(ln + 1), da, a->emb_sum, P(ln), a->emb_mean, a->emb_rstd, N, C);
    encoder_backward(G(0), G(1), db, a->ids, B, T, C);
    if (c->type_vocab_size > 0)
        for (int i = 0; i < N; i++) {
            float *g = G(2) + (size_t)a->segs[i] * C;
            const float *d = db + (size_t)i * C;
            for (int j = 0; j < C; j++) g[j] += d[j];
        }
}

const float *bert_hidden(const Bert *m) { return m->acts ? m->acts->hid : NULL; }

float bert_forward(Bert *m, const int *ids, const int *segments, const uint8_t *pad, const int *labels, int B,
                   int T, int training, Rng *r) {
    const BertConfig *c = &m->cfg;
    bert_encode(m, ids, segments, pad, B, T, training, r);
    BertActs *a = m->acts;
    a->classify = 0;
    int C = c->d_model, V = c->vocab_size, N = B * T, n = 0;
    for (int i = 0; i < N; i++) {
        if (m->mlm_rows_only && labels && labels[i] == GPT_IGNORE_INDEX) continue;
        m->rows[n] = i;
        a->tsel[n] = labels ? labels[i] : GPT_IGNORE_INDEX;
        memcpy(a->hsel + (size_t)n * C, a->hid + (size_t)i * C, (size_t)C * sizeof(float));
        n++;
    }
    m->n_rows = n;
    int h = bert_head0(c);
    linear_forward(a->ht, a->hsel, P(h), P(h + 1), n, C, C);
    xf_act_forward(c->act, a->hta, a->ht, (size_t)n * C);
    layernorm_forward_eps(a->hln, a->hmean, a->hrstd, a->hta, P(h + 2), P(h + 3), n, C, c->ln_eps);
    linear_forward(m->logits, a->hln, P(0), P(h + 4), n, C, V);
    m->n_loss_tokens = 0;
    m->loss = -1.0f;
    if (!labels) return -1.0f;
    int count = 0;
    double total = crossentropy_forward(a->lse, m->logits, a->tsel, GPT_IGNORE_INDEX, n, V, &count);
    m->n_loss_tokens = count;
    m->loss = count ? (float)(total / count) : 0.0f;
    return m->loss;
}

void bert_backward(Bert *m, float loss_scale) {
    const BertConfig *c = &m->cfg;
    BertActs *a = m->acts;
    LW_ASSERT(a && !a->classify && m->loss >= 0.0f);
    if (m->n_loss_tokens == 0) return;
    m->grads_zero = 0;
    int C = c->d_model, V = c->vocab_size, n = m->n_rows, h = bert_head0(c);
    size_t nC = (size_t)n * C;
    crossentropy_backward_inplace(m->logits, a->lse, a->tsel, GPT_IGNORE_INDEX, n, V,
                                  loss_scale / (float)m->n_loss_tokens);
    memset(a->dC, 0, nC * sizeof(float));
    linear_backward(a->dC, G(0), G(h + 4), m->logits, a->hln, P(0), n, C, V);
    memset(a->dB, 0, nC * sizeof(float));
    layernorm_backward(a->dB, G(h + 2), G(h + 3), a->dC, a->hta, P(h + 2), a->hmean, a->hrstd, n, C);
    memset(a->dC, 0, nC * sizeof(float));
    xf_act_backward(c->act, a->dC, a->ht, a->dB, nC);
    memset(a->dB, 0, nC * sizeof(float));
    linear_backward(a->dB, G(h), G(h + 1), a->dC, a->hsel, P(h), n, C, C);
    memset(a->dA, 0, (size_t)m->B * m->T * C * sizeof(float));
    for (int i = 0; i < n; i++) memcpy(a->dA + (size_t)m->rows[i] * C, a->dB + (size_t)i * C, (size_t)C * sizeof(float));
    m->loss = -1.0f; /* the logits were consumed */
    bert_encode_backward(m);
}

float bert_forward_classify(Bert *m, const int *ids, const int *segments, const uint8_t *pad, const int *labels,
                            int B, int T, int training, Rng *r) {
    const BertConfig *c = &m->cfg;
    LW_ASSERT(c->n_classes > 0);
    bert_encode(m, ids, segments, pad, B, T, training, r);
    BertActs *a = m->acts;
    a->classify = 1;
    int C = c->d_model, K = c->n_classes, k0 = bert_class0(c);
    for (int b = 0; b < B; b++)
        memcpy(a->cls_in + (size_t)b * C, a->hid + (size_t)b * T * C, (size_t)C * sizeof(float));
    linear_forward(a->pooled, a->cls_in, P(k0), P(k0 + 1), B, C, C);
    for (size_t i = 0; i < (size_t)B * C; i++) a->pooled[i] = tanhf(a->pooled[i]);
    linear_forward(m->class_logits, a->pooled, P(k0 + 2), P(k0 + 3), B, C, K);
    m->loss = -1.0f;
    m->n_loss_tokens = 0;
    if (!labels) return -1.0f;
    memcpy(a->cls_labels, labels, (size_t)B * sizeof(int));
    int count = 0;
    double total = crossentropy_forward(a->cls_lse, m->class_logits, a->cls_labels, GPT_IGNORE_INDEX, B, K, &count);
    m->n_loss_tokens = count;
    m->loss = count ? (float)(total / count) : 0.0f;
    return m->loss;
}

void bert_backward_classify(Bert *m, float loss_scale) {
    const BertConfig *c = &m->cfg;
    BertActs *a = m->acts;
    LW_ASSERT(a && a->classify && m->loss >= 0.0f);
    if (m->n_loss_tokens == 0) return;
    m->grads_zero = 0;
    int B = m->B, T = m->T, C = c->d_model, K = c->n_classes, k0 = bert_class0(c);
    size_t BC = (size_t)B * C;
    crossentropy_backward_inplace(m->class_logits, a->cls_lse, a->cls_labels, GPT_IGNORE_INDEX, B, K,
                                  loss_scale / (float)m->n_loss_tokens);
    memset(a->dC, 0, BC * sizeof(float));
    linear_backward(a->dC, G(k0 + 2), G(k0 + 3), m->class_logits, a->pooled, P(k0 + 2), B, C, K);
    for (size_t i = 0; i < BC; i++) a->dC[i] *= 1.0f - a->pooled[i] * a->pooled[i];
    memset(a->dB, 0, BC * sizeof(float));
    linear_backward(a->dB, G(k0), G(k0 + 1), a->dC, a->cls_in, P(k0), B, C, C);
    memset(a->dA, 0, (size_t)B * T * C * sizeof(float));
    for (int b = 0; b < B; b++) memcpy(a->dA + (size_t)b * T * C, a->dB + (size_t)b * C, (size_t)C * sizeof(float));
    m->loss = -1.0f;
    bert_encode_backward(m);
}

/* The optimizer's view (optim.h): the backward writes every tensor's gradient, frozen ones too, so zero_grad
 * clears them all. */
static OptimTable bert_optim(Bert *m) {
    return (OptimTable){.tensors = m->tensors, .n_tensors = m->n_tensors, .n_params = m->n_params,
                        .params = m->params, .grads = m->grads, .m = m->adam_m, .v = m->adam_v, .zero_frozen = 1,
                        .grads_zero = &m->grads_zero};
}

void bert_zero_grad(Bert *m) {
    OptimTable t = bert_optim(m);
    optim_zero_grad(&t);
}

float bert_grad_norm(const Bert *m) {
    OptimTable t = bert_optim((Bert *)m); /* only read */
    return optim_grad_norm(&t);
}

void bert_adamw_step(Bert *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                     float grad_scale) {
    OptimTable o = bert_optim(m);
    optim_adamw_step(&o, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
}

int bert_mlm_mask(int *inputs, int *labels, const int *tokens, int B, int T, const BertMaskSpec *spec, Rng *r,
                  int *scratch) {
    int total = 0;
    LW_ASSERT(spec->rand_hi > spec->rand_lo);
    for (int b = 0; b < B; b++) {
        const int *tok = tokens + (size_t)b * T;
        int *in = inputs + (size_t)b * T, *lab = labels + (size_t)b * T, ne = 0;
        for (int t = 0; t < T; t++) {
            int special = 0;
            for (int s = 0; s < spec->n_special; s++) special |= tok[t] == spec->special[s];
            if (!special) scratch[ne++] = t;
            lab[t] = GPT_IGNORE_INDEX;
            in[t] = tok[t];
        }
        if (ne == 0) continue;
        int n = (int)floor((double)spec->prob * ne + 0.5);
        if (n < 1) n = 1;
        if (n > ne) n = ne;
        for (int i = 0; i < n; i++) { /* partial Fisher-Yates: scratch[0..n) are the chosen positions */
            int j = i + (int)rng_below(r, (uint32_t)(ne - i));
            int keep = scratch[i];
            scratch[i] = scratch[j];
            scratch[j] = keep;
            int t = scratch[i];
            lab[t] = tok[t];
            float u = rng_uniform(r);
            if (u < 0.8f) in[t] = spec->mask_id;
            else if (u < 0.9f) in[t] = spec->rand_lo + (int)rng_below(r, (uint32_t)(spec->rand_hi - spec->rand_lo));
        }
        total += n;
    }
    return total;
}

const float *bert_residual(const Bert *m, int l) {
    if (!m->acts || !m->acts->hid || l < 0 || l > m->cfg.n_layer) return NULL;
    if (l == 0) return m->acts->x0;
    XfCfg xc = bert_xf(&m->cfg);
    return xf_mlp_out(&xc, &m->acts->mlp[l - 1]);
}

int bert_add_class_head(Bert *m, int n_classes, Rng *r, LwError *e) {
    if (n_classes < 2) return lw_fail(e, LW_ERR_INVALID, "bert: a class head needs at least 2 classes (got %d)", n_classes);
    if (m->cfg.n_classes > 0) return lw_fail(e, LW_ERR_INVALID, "bert: the model already has a class head");
    BertConfig c = m->cfg;
    c.n_classes = n_classes;
    size_t old = m->n_params, n = bert_count_params(&c);
    float *blk[4] = {bert_alloc_floats(n), bert_alloc_floats(n), bert_alloc_floats(n), bert_alloc_floats(n)};
    float **cur[4] = {&m->params, &m->grads, &m->adam_m, &m->adam_v};
    if (!blk[0] || !blk[1] || !blk[2] || !blk[3]) {
        for (int k = 0; k < 4; k++) free(blk[k]);
        return lw_fail(e, LW_ERR_NOMEM, "bert: cannot allocate the class head");
    }
    for (int k = 0; k < 4; k++) {
        memcpy(blk[k], *cur[k], old * sizeof(float));
        free(*cur[k]);
        *cur[k] = blk[k];
    }
    m->cfg = c;
    int C = c.d_model;
    size_t off = old;
    LW_ASSERT(m->n_tensors == bert_class0(&c)); /* bert_init left room for these four */
    bert_add(m, &off, 1, 2, C, C, "bert.pooler.dense.weight");
    bert_add(m, &off, 0, 1, C, 0, "bert.pooler.dense.bias");
    bert_add(m, &off, 1, 2, n_classes, C, "classifier.weight");
    bert_add(m, &off, 0, 1, n_classes, 0, "classifier.bias");
    LW_ASSERT(off == n);
    m->n_params = n;
    for (int i = bert_class0(&c); i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        t->role = GPT_ROLE_CLASS_HEAD;
        if (t->ndim == 2 && r)
            for (size_t j = 0; j < t->numel; j++) m->params[t->offset + j] = 0.02f * rng_normal(r);
    }
    if (m->acts) return bert_reserve(m, m->acts->maxB, m->acts->maxT, e);
    return LW_OK;
}

void bert_set_trainable(Bert *m, int mode, int last_blocks) {
    const BertConfig *c = &m->cfg;
    int L = c->n_layer, k = last_blocks < 0 ? 0 : (last_blocks > L ? L : last_blocks);
    int head0 = c->n_classes > 0 ? bert_class0(c) : bert_head0(c);
    int head1 = c->n_classes > 0 ? m->n_tensors : bert_class0(c);
    int first = mode == GPT_TRAIN_ALL ? 0 : mode == GPT_TRAIN_LAST_BLOCKS ? bert_layer0(c, L - k) : head0;
    for (int i = 0; i < m->n_tensors; i++) {
        int in_head = i >= head0 && i < head1;
        int in_tail = i >= first && i < bert_head0(c); /* the last blocks and the pre-LN final LayerNorm */
        m->tensors[i].trainable = mode == GPT_TRAIN_ALL || in_head || (mode == GPT_TRAIN_LAST_BLOCKS && in_tail);
    }
}
