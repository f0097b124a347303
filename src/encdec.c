/* encdec.c — the encoder-decoder Transformer (see encdec.h). */
#include "encdec.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layers.h"
#include "optim.h"
#include "sampler.h"

enum { ED_ENC_LAYER = 16, ED_DEC_LAYER = 26 }; /* tensors per layer, in the order encdec_init adds them */

/* The saved activations of one stack (encoder: self + MLP; decoder: self + cross + MLP) over N = B*Tq rows. */
typedef struct EdStack {
    int L, cross;
    float *emb;                   /* (N, C) scaled embedding + position */
    float *x0;                    /* (N, C) after dropout (= emb without) */
    uint8_t *emb_drop;            /* (N, C) */
    int dropped;
    XfAttnActs *self, *xatt;      /* (L) each; xatt only for the decoder */
    XfMlpActs *mlp;               /* (L) */
    float *fin, *fin_mean, *fin_rstd; /* pre-LN final LayerNorm */
    const float *out;             /* the stack's output of the last forward */
} EdStack;

struct EncDecActs {
    int maxB, maxS, maxT;
    EdStack enc, dec;
    int *src, *tgt, *labels;      /* copies: (Ns), (Nt), (Nt) */
    uint8_t *src_pad;             /* (Ns) */
    int has_pad;
    float *lse;                   /* (Nt) */
    float *dA, *dB, *dmem, *scratch;
    float *block;
    uint8_t *bytes;
    void *ptrs;                   /* the XfAttnActs / XfMlpActs arrays */
};

EncDecConfig encdec_config_default(int n_layer, int n_head, int d_model, int max_len, int vocab) {
    EncDecConfig c = {.n_enc_layer = n_layer, .n_dec_layer = n_layer, .n_head = n_head, .d_model = d_model,
                      .d_ff = 4 * d_model, .max_src = max_len, .max_tgt = max_len, .src_vocab = vocab,
                      .tgt_vocab = vocab, .shared_vocab = 1, .tie_output = 1, .learned_pos = 0, .scale_emb = 1,
                      .pre_ln = 0, .act = XF_ACT_RELU, .ln_eps = 1e-5f, .dropout = 0.1f, .attn_dropout = 0.0f};
    return c;
}

/* ---- the tensor table ---- */

static int ed_n_emb(const EncDecConfig *c) { return (c->shared_vocab ? 1 : 2) + (c->learned_pos ? 2 : 0); }
static int ed_src_emb(const EncDecConfig *c) { (void)c; return 0; }
static int ed_tgt_emb(const EncDecConfig *c) { return c->shared_vocab ? 0 : 1; }
static int ed_src_pos(const EncDecConfig *c) { return c->shared_vocab ? 1 : 2; }
static int ed_enc0(const EncDecConfig *c, int l) { return ed_n_emb(c) + ED_ENC_LAYER * l; }
static int ed_enc_fin(const EncDecConfig *c) { return ed_enc0(c, c->n_enc_layer); }
static int ed_dec0(const EncDecConfig *c, int l) {
    return ed_enc_fin(c) + (c->pre_ln ? 2 : 0) + ED_DEC_LAYER * l;
}
static int ed_dec_fin(const EncDecConfig *c) { return ed_dec0(c, c->n_dec_layer); }
static int ed_head(const EncDecConfig *c) { return c->tie_output ? ed_tgt_emb(c) : ed_dec_fin(c) + (c->pre_ln ? 2 : 0); }
static int ed_n_tensors(const EncDecConfig *c) {
    return ed_dec_fin(c) + (c->pre_ln ? 2 : 0) + (c->tie_output ? 0 : 1);
}

size_t encdec_count_params(const EncDecConfig *c) {
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff;
    size_t n = (size_t)c->src_vocab * C + (c->shared_vocab ? 0 : (size_t)c->tgt_vocab * C);
    if (c->learned_pos) n += (size_t)(c->max_src + c->max_tgt) * C;
    size_t attn = 4 * C * C + 4 * C + 2 * C, mlp = 2 * C * F + F + C + 2 * C;
    n += (size_t)c->n_enc_layer * (attn + mlp) + (size_t)c->n_dec_layer * (2 * attn + mlp);
    if (c->pre_ln) n += 4 * C;
    if (!c->tie_output) n += (size_t)c->tgt_vocab * C;
    return n;
}

static void ed_add(EncDec *m, size_t *off, int decay, int ndim, int s0, int s1, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void ed_add(EncDec *m, size_t *off, int decay, int ndim, int s0, int s1, const char *fmt, ...) {
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

/* q, k, v weights, their biases, the output projection and the LayerNorm of one attention named p (10 tensors). */
static void ed_add_attn(EncDec *m, size_t *off, const char *p, const char *ln) {
    int C = m->cfg.d_model;
    const char *qkv[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) ed_add(m, off, 1, 2, C, C, "%s.%s_proj.weight", p, qkv[i]);
    for (int i = 0; i < 3; i++) ed_add(m, off, 0, 1, C, 0, "%s.%s_proj.bias", p, qkv[i]);
    ed_add(m, off, 1, 2, C, C, "%s.out_proj.weight", p);
    ed_add(m, off, 0, 1, C, 0, "%s.out_proj.bias", p);
    ed_add(m, off, 0, 1, C, 0, "%s.weight", ln);
    ed_add(m, off, 0, 1, C, 0, "%s.bias", ln);
}

static void ed_add_mlp(EncDec *m, size_t *off, const char *p) {
    int C = m->cfg.d_model, F = m->cfg.d_ff;
    ed_add(m, off, 1, 2, F, C, "%s.fc1.weight", p);
    ed_add(m, off, 0, 1, F, 0, "%s.fc1.bias", p);
    ed_add(m, off, 1, 2, C, F, "%s.fc2.weight", p);
    ed_add(m, off, 0, 1, C, 0, "%s.fc2.bias", p);
    ed_add(m, off, 0, 1, C, 0, "%s.final_layer_norm.weight", p);
    ed_add(m, off, 0, 1, C, 0, "%s.final_layer_norm.bias", p);
}

static float *ed_alloc_floats(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0) return NULL;
    memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

int encdec_init(EncDec *m, const EncDecConfig *c, LwError *e) {
    memset(m, 0, sizeof *m);
    if (c->n_enc_layer < 1 || c->n_dec_layer < 1 || c->n_head < 1 || c->d_model < 1 || c->d_ff < 1 ||
        c->max_src < 1 || c->max_tgt < 1 || c->src_vocab < 2 || c->tgt_vocab < 2)
        return lw_fail(e, LW_ERR_INVALID, "encdec: layers, n_head, d_model, d_ff, max_src, max_tgt must be >= 1 "
                                          "and vocabularies >= 2");
    if (c->d_model % c->n_head)
        return lw_fail(e, LW_ERR_INVALID, "encdec: d_model %d is not a multiple of n_head %d", c->d_model, c->n_head);
    if (!c->learned_pos && c->d_model % 2)
        return lw_fail(e, LW_ERR_INVALID, "encdec: sinusoidal positions need an even d_model (%d)", c->d_model);
    if (c->shared_vocab && c->src_vocab != c->tgt_vocab)
        return lw_fail(e, LW_ERR_INVALID, "encdec: a shared vocabulary needs src_vocab == tgt_vocab (%d, %d)",
                       c->src_vocab, c->tgt_vocab);
    if (c->act != XF_ACT_RELU && c->act != XF_ACT_GELU && c->act != XF_ACT_GELU_TANH)
        return lw_fail(e, LW_ERR_INVALID, "encdec: act must be relu, gelu or gelu_tanh");
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f && c->attn_dropout >= 0.0f && c->attn_dropout < 1.0f))
        return lw_fail(e, LW_ERR_INVALID, "encdec: dropout must be in [0, 1)");
    if (!(c->ln_eps > 0.0f)) return lw_fail(e, LW_ERR_INVALID, "encdec: ln_eps must be > 0");
    m->cfg = *c;
    int C = c->d_model;
    m->tensors = lw_calloc((size_t)ed_n_tensors(c), sizeof(GptTensor));
    size_t off = 0;
    char p[96], ln[112];
    if (c->shared_vocab) {
        ed_add(m, &off, 0, 2, c->src_vocab, C, "model.shared.weight");
    } else {
        ed_add(m, &off, 0, 2, c->src_vocab, C, "model.encoder.embed_tokens.weight");
        ed_add(m, &off, 0, 2, c->tgt_vocab, C, "model.decoder.embed_tokens.weight");
    }
    if (c->learned_pos) {
        ed_add(m, &off, 0, 2, c->max_src, C, "model.encoder.embed_positions.weight");
        ed_add(m, &off, 0, 2, c->max_tgt, C, "model.decoder.embed_positions.weight");
    }
    for (int l = 0; l < c->n_enc_layer; l++) {
        snprintf(p, sizeof p, "model.encoder.layers.%d.self_attn", l);
        snprintf(ln, sizeof ln, "model.encoder.layers.%d.self_attn_layer_norm", l);
        ed_add_attn(m, &off, p, ln);
        snprintf(p, sizeof p, "model.encoder.layers.%d", l);
        ed_add_mlp(m, &off, p);
    }
    if (c->pre_ln) {
        ed_add(m, &off, 0, 1, C, 0, "model.encoder.layer_norm.weight");
        ed_add(m, &off, 0, 1, C, 0, "model.encoder.layer_norm.bias");
    }
    for (int l = 0; l < c->n_dec_layer; l++) {
        snprintf(p, sizeof p, "model.decoder.layers.%d.self_attn", l);
        snprintf(ln, sizeof ln, "model.decoder.layers.%d.self_attn_layer_norm", l);
        ed_add_attn(m, &off, p, ln);
        snprintf(p, sizeof p, "model.decoder.layers.%d.encoder_attn", l);
        snprintf(ln, sizeof ln, "model.decoder.layers.%d.encoder_attn_layer_norm", l);
        ed_add_attn(m, &off, p, ln);
        snprintf(p, sizeof p, "model.decoder.layers.%d", l);
        ed_add_mlp(m, &off, p);
    }
    if (c->pre_ln) {
        ed_add(m, &off, 0, 1, C, 0, "model.decoder.layer_norm.weight");
        ed_add(m, &off, 0, 1, C, 0, "model.decoder.layer_norm.bias");
    }
    if (!c->tie_output) ed_add(m, &off, 1, 2, c->tgt_vocab, C, "lm_head.weight");
    LW_ASSERT(m->n_tensors == ed_n_tensors(c) && off == encdec_count_params(c));
    m->n_params = off;
    m->params = ed_alloc_floats(off);
    m->grads = ed_alloc_floats(off);
    m->adam_m = ed_alloc_floats(off);
    m->adam_v = ed_alloc_floats(off);
    m->loss = -1.0f;
    if (!c->learned_pos) {
        int P = LW_MAX(c->max_src, c->max_tgt);
        m->pos_table = ed_alloc_floats((size_t)P * C);
        /* PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(...), in double */
        for (int t = 0; m->pos_table && t < P; t++)
            for (int i = 0; i < C; i += 2) {
                double ang = t / pow(10000.0, (double)i / C);
                m->pos_table[(size_t)t * C + i] = (float)sin(ang);
                m->pos_table[(size_t)t * C + i + 1] = (float)cos(ang);
            }
    }
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || (!c->learned_pos && !m->pos_table)) {
        encdec_free(m);
        return lw_fail(e, LW_ERR_NOMEM, "encdec: cannot allocate %zu MiB of parameters", off * 16 / (1024 * 1024));
    }
    for (int i = 0; i < m->n_tensors; i++) /* LayerNorm weights 1 */
        if (strstr(m->tensors[i].name, "norm.weight"))
            for (size_t j = 0; j < m->tensors[i].numel; j++) m->params[m->tensors[i].offset + j] = 1.0f;
    return LW_OK;
}

void encdec_init_weights(EncDec *m, Rng *r) {
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int emb = strstr(t->name, "embed") != NULL || strstr(t->name, "shared") != NULL;
        int lnw = strstr(t->name, "norm.weight") != NULL;
        float a = t->ndim == 2 ? sqrtf(6.0f / (float)(t->shape[0] + t->shape[1])) : 0.0f;
        float sd = 1.0f / sqrtf((float)m->cfg.d_model);
        for (size_t j = 0; j < t->numel; j++) {
            if (t->ndim == 1) p[j] = lnw ? 1.0f : 0.0f;
            else if (emb) p[j] = sd * rng_normal(r);
            else p[j] = a * (2.0f * rng_uniform(r) - 1.0f);
        }
    }
}

static void ed_free_acts(EncDec *m) {
    if (!m->acts) return;
    free(m->acts->block);
    free(m->acts->bytes);
    free(m->acts->ptrs);
    free(m->acts->src);
    free(m->acts);
    m->acts = NULL;
}

void encdec_free(EncDec *m) {
    ed_free_acts(m);
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->pos_table);
    memset(m, 0, sizeof *m);
}

GptTensor *encdec_find(const EncDec *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

static XfCfg ed_xf(const EncDecConfig *c) {
    return (XfCfg){.C = c->d_model, .NH = c->n_head, .F = c->d_ff, .pre_ln = c->pre_ln, .act = c->act,
                   .ln_eps = c->ln_eps, .p_hidden = c->dropout, .p_att = c->attn_dropout};
}

/* Views of one attention (10 tensors from index t0) and one MLP (6 tensors) into base. */
static XfAttn ed_attn_view(const EncDec *m, float *base, int t0, int cross) {
    const GptTensor *t = m->tensors + t0;
    XfAttn a = {.wq = base + t[0].offset, .bq = base + t[3].offset, .wo = base + t[6].offset,
                .bo = base + t[7].offset, .ln_w = base + t[8].offset, .ln_b = base + t[9].offset};
    if (cross) {
        a.wkv = base + t[1].offset;
        a.bkv = base + t[4].offset;
    }
    return a;
}
static XfMlp ed_mlp_view(const EncDec *m, float *base, int t0) {
    const GptTensor *t = m->tensors + t0;
    return (XfMlp){.w1 = base + t[0].offset, .b1 = base + t[1].offset, .w2 = base + t[2].offset,
                   .b2 = base + t[3].offset, .ln_w = base + t[4].offset, .ln_b = base + t[5].offset};
}

/* ---- activations ---- */

typedef struct Carver {
    float *f;
    uint8_t *b;
    size_t nf, nb; /* counted when f/b are NULL (sizing pass) */
} Carver;

static float *cf(Carver *k, size_t n) {
    float *r = k->f ? k->f + k->nf : NULL;
    k->nf += n;
    return r;
}
static uint8_t *cb(Carver *k, size_t n) {
    uint8_t *r = k->b ? k->b + k->nb : NULL;
    k->nb += n;
    return r;
}

/* Carves one stack over N rows of Tq per batch element (M memory rows of Tk for the decoder's cross-attention).
 * Attention weights are not carved here: their pointers are set per forward. */
static void ed_stack_carve(Carver *k, EdStack *s, const EncDecConfig *c, int L, int cross, size_t N, size_t M,
                           size_t maxTT_self, size_t maxTT_cross, int drop) {
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff;
    s->L = L;
    s->cross = cross;
    s->emb = cf(k, N * C);
    s->x0 = cf(k, N * C);
    s->emb_drop = drop ? cb(k, N * C) : NULL;
    for (int l = 0; l < L; l++) {
        for (int part = 0; part < 1 + cross; part++) {
            XfAttnActs *a = part ? &s->xatt[l] : &s->self[l];
            a->ln = cf(k, N * C);
            a->mean = cf(k, N);
            a->rstd = cf(k, N);
            a->q = cf(k, (part ? 1 : 3) * N * C);
            a->kv = part ? cf(k, 2 * M * C) : NULL;
            a->y = cf(k, N * C);
            a->r = cf(k, N * C);
            a->drop_att = drop ? cb(k, part ? maxTT_cross : maxTT_self) : NULL;
            a->drop_r = drop ? cb(k, N * C) : NULL;
        }
        XfMlpActs *f = &s->mlp[l];
        f->ln = cf(k, N * C);
        f->mean = cf(k, N);
        f->rstd = cf(k, N);
        f->h = cf(k, N * F);
        f->ha = cf(k, N * F);
        f->r = cf(k, N * C);
        f->drop_r = drop ? cb(k, N * C) : NULL;
    }
    s->fin = cf(k, N * C);
    s->fin_mean = cf(k, N);
    s->fin_rstd = cf(k, N);
}

int encdec_reserve(EncDec *m, int B, int S, int T, LwError *e) {
    const EncDecConfig *c = &m->cfg;
    if (B < 1 || S < 1 || T < 1 || S > c->max_src || T > c->max_tgt)
        return lw_fail(e, LW_ERR_INVALID, "encdec: batch %d x (%d, %d) does not fit max_src %d / max_tgt %d", B, S,
                       T, c->max_src, c->max_tgt);
    ed_free_acts(m);
    EncDecActs *a = lw_calloc(1, sizeof *a);
    m->acts = a;
    a->maxB = B;
    a->maxS = S;
    a->maxT = T;
    int Le = c->n_enc_layer, Ld = c->n_dec_layer, NH = c->n_head;
    size_t C = (size_t)c->d_model, Ns = (size_t)B * S, Nt = (size_t)B * T, Vt = (size_t)c->tgt_vocab;
    size_t TTe = (size_t)B * NH * S * S, TTd = (size_t)B * NH * T * T, TTx = (size_t)B * NH * T * S;
    int drop = 1; /* dropout masks always: the rate may be raised after reserving */
    a->ptrs = lw_calloc((size_t)(2 * Le + 3 * Ld), sizeof(XfAttnActs) > sizeof(XfMlpActs) ? sizeof(XfAttnActs)
                                                                                          : sizeof(XfMlpActs));
    XfAttnActs *ap = a->ptrs;
    a->enc.self = ap;
    a->dec.self = ap + Le;
    a->dec.xatt = ap + Le + Ld;
    XfMlpActs *mp = (XfMlpActs *)(ap + Le + 2 * Ld);
    a->enc.mlp = mp;
    a->dec.mlp = mp + Le;
    XfCfg xc = ed_xf(c);
    /* M: the keys' rows, Ns for cross-attention but Nt for the decoder's self-attention (targets longer than
     * sources put its backward's head scratch past an Ns-sized area) */
    size_t sc = xf_scratch_floats(&xc, (int)LW_MAX(Ns, Nt), (int)LW_MAX(Ns, Nt), LW_MAX(S, T), LW_MAX(S, T));
    for (int pass = 0; pass < 2; pass++) {
        Carver k = {pass ? a->block : NULL, pass ? a->bytes : NULL, 0, 0};
        ed_stack_carve(&k, &a->enc, c, Le, 0, Ns, Ns, TTe, 0, drop);
        ed_stack_carve(&k, &a->dec, c, Ld, 1, Nt, Ns, TTd, TTx, drop);
        float *att = cf(&k, (size_t)Le * TTe + (size_t)Ld * (TTd + TTx));
        float *lg = cf(&k, Nt * Vt);
        a->lse = cf(&k, Nt);
        a->dA = cf(&k, LW_MAX(Ns, Nt) * C);
        a->dB = cf(&k, LW_MAX(Ns, Nt) * C);
        a->dmem = cf(&k, Ns * C);
        a->scratch = cf(&k, sc);
        a->src_pad = cb(&k, Ns);
        if (!pass) {
            a->block = ed_alloc_floats(k.nf);
            a->bytes = lw_calloc(k.nb + 1, 1);
            if (!a->block) {
                ed_free_acts(m);
                return lw_fail(e, LW_ERR_NOMEM, "encdec: cannot allocate %zu MiB of activations", k.nf * 4 >> 20);
            }
        } else {
            m->enc_att = att;
            m->dec_att = att + (size_t)Le * TTe;
            m->cross_att = m->dec_att + (size_t)Ld * TTd;
            m->logits = lg;
        }
    }
    a->src = lw_calloc(Ns + 2 * Nt, sizeof(int));
    a->tgt = a->src + Ns;
    a->labels = a->tgt + Nt;
    return LW_OK;
}

/* ---- forward and backward ---- */

/* out (B*T, C) = E[ids] * scale + pos[t]. */
static void ed_embed(float *out, const int *ids, const float *E, const float *pos, int B, int T, int C, float scale) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *we = E + (size_t)ids[b * T + t] * C, *pe = pos + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = we[i] * scale + pe[i];
        }
}

static void ed_embed_backward(float *dE, float *dpos, const float *d, const int *ids, int B, int T, int C,
                              float scale) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *g = d + ((size_t)b * T + t) * C;
            float *de = dE + (size_t)ids[b * T + t] * C;
            for (int i = 0; i < C; i++) de[i] += scale * g[i];
            if (dpos)
                for (int i = 0; i < C; i++) dpos[(size_t)t * C + i] += g[i];
        }
}

static float ed_scale(const EncDecConfig *c) { return c->scale_emb ? sqrtf((float)c->d_model) : 1.0f; }

/* Embedding (+ dropout) of one side into s->x0. side 0 source, 1 target. */
static void ed_stack_embed(const EncDec *m, EdStack *s, const int *ids, int B, int T, int side, Rng *r) {
    const EncDecConfig *c = &m->cfg;
    int C = c->d_model;
    const float *E = m->params + m->tensors[side ? ed_tgt_emb(c) : ed_src_emb(c)].offset;
    const float *pos = c->learned_pos ? m->params + m->tensors[ed_src_pos(c) + side].offset : m->pos_table;
    ed_embed(s->emb, ids, E, pos, B, T, C, ed_scale(c));
    size_t n = (size_t)B * T * C;
    s->dropped = r && c->dropout > 0.0f;
    if (s->dropped) {
        dropout_mask(s->emb_drop, n, c->dropout, r);
        dropout_forward(s->x0, s->emb, s->emb_drop, n, c->dropout);
    } else {
        memcpy(s->x0, s->emb, n * sizeof(float));
    }
}

/* The encoder over src (B, S): embedding, layers, final LN; sets s->out. att: (Le, B, NH, S, S). */
static void ed_encode(const EncDec *m, EdStack *s, const int *src, const uint8_t *pad, int B, int S, Rng *r,
                      float *att, float *scratch) {
    const EncDecConfig *c = &m->cfg;
    XfCfg xc = ed_xf(c);
    ed_stack_embed(m, s, src, B, S, 0, r);
    const float *x = s->x0;
    size_t TT = (size_t)B * c->n_head * S * S;
    for (int l = 0; l < c->n_enc_layer; l++) {
        XfAttn w = ed_attn_view(m, m->params, ed_enc0(c, l), 0);
        XfMlp f = ed_mlp_view(m, m->params, ed_enc0(c, l) + 10);
        s->self[l].att = att + (size_t)l * TT;
        xf_attn_forward(&xc, &w, &s->self[l], x, NULL, pad, 0, B, S, S, r, scratch);
        x = xf_attn_out(&xc, &s->self[l]);
        xf_mlp_forward(&xc, &f, &s->mlp[l], x, B * S, r);
        x = xf_mlp_out(&xc, &s->mlp[l]);
    }
    if (c->pre_ln) {
        const float *w = m->params + m->tensors[ed_enc_fin(c)].offset, *b = m->params + m->tensors[ed_enc_fin(c) + 1].offset;
        layernorm_forward_eps(s->fin, s->fin_mean, s->fin_rstd, x, w, b, B * S, c->d_model, c->ln_eps);
        x = s->fin;
    }
    s->out = x;
}

float encdec_forward(EncDec *m, const int *src, const uint8_t *src_pad, const int *tgt_in, const int *labels,
                     int B, int S, int T, int training, Rng *r) {
    const EncDecConfig *c = &m->cfg;
    EncDecActs *a = m->acts;
    LW_ASSERT(a && B <= a->maxB && S <= a->maxS && T <= a->maxT);
    Rng *dr = training ? r : NULL;
    m->B = B;
    m->S = S;
    m->T = T;
    int C = c->d_model, Ns = B * S, Nt = B * T, Vt = c->tgt_vocab, Ld = c->n_dec_layer;
    for (int i = 0; i < Ns; i++) {
        LW_ASSERT(src[i] >= 0 && src[i] < c->src_vocab);
        a->src[i] = src[i];
    }
    for (int i = 0; i < Nt; i++) {
        LW_ASSERT(tgt_in[i] >= 0 && tgt_in[i] < Vt);
        a->tgt[i] = tgt_in[i];
        a->labels[i] = labels ? labels[i] : GPT_IGNORE_INDEX;
    }
    a->has_pad = src_pad != NULL;
    if (src_pad) memcpy(a->src_pad, src_pad, (size_t)Ns);
    const uint8_t *pad = a->has_pad ? a->src_pad : NULL;
    ed_encode(m, &a->enc, a->src, pad, B, S, dr, m->enc_att, a->scratch);
    const float *mem = a->enc.out;
    XfCfg xc = ed_xf(c);
    EdStack *s = &a->dec;
    ed_stack_embed(m, s, a->tgt, B, T, 1, dr);
    const float *x = s->x0;
    size_t TTd = (size_t)B * c->n_head * T * T, TTx = (size_t)B * c->n_head * T * S;
    /* the maps are laid out for this call's (B, S, T): cross_att follows dec_att */
    m->cross_att = m->dec_att + (size_t)Ld * TTd;
    for (int l = 0; l < Ld; l++) {
        int t0 = ed_dec0(c, l);
        XfAttn ws = ed_attn_view(m, m->params, t0, 0), wx = ed_attn_view(m, m->params, t0 + 10, 1);
        XfMlp f = ed_mlp_view(m, m->params, t0 + 20);
        s->self[l].att = m->dec_att + (size_t)l * TTd;
        s->xatt[l].att = m->cross_att + (size_t)l * TTx;
        xf_attn_forward(&xc, &ws, &s->self[l], x, NULL, NULL, 1, B, T, T, dr, a->scratch);
        x = xf_attn_out(&xc, &s->self[l]);
        xf_attn_forward(&xc, &wx, &s->xatt[l], x, mem, pad, 0, B, T, S, dr, a->scratch);
        x = xf_attn_out(&xc, &s->xatt[l]);
        xf_mlp_forward(&xc, &f, &s->mlp[l], x, Nt, dr);
        x = xf_mlp_out(&xc, &s->mlp[l]);
    }
    if (c->pre_ln) {
        int fi = ed_dec_fin(c);
        layernorm_forward_eps(s->fin, s->fin_mean, s->fin_rstd, x, m->params + m->tensors[fi].offset,
                              m->params + m->tensors[fi + 1].offset, Nt, C, c->ln_eps);
        x = s->fin;
    }
    s->out = x;
    linear_forward(m->logits, x, m->params + m->tensors[ed_head(c)].offset, NULL, Nt, C, Vt);
    m->loss = -1.0f;
    m->n_loss_tokens = 0;
    if (!labels) return -1.0f;
    int count = 0;
    double total = crossentropy_forward(a->lse, m->logits, a->labels, GPT_IGNORE_INDEX, Nt, Vt, &count);
    m->n_loss_tokens = count;
    m->loss = count ? (float)(total / count) : 0.0f;
    return m->loss;
}

/* Backward through one stack from da = d(out) (N, C); accumulates into dmem for the decoder's cross-attention
 * and the embedding gradients of its side. da and db are (N, C) work buffers (da is consumed). */
static void ed_stack_backward(EncDec *m, EdStack *s, int side, float *da, float *db, float *dmem, int B, int Tq,
                              int Tk) {
    const EncDecConfig *c = &m->cfg;
    EncDecActs *a = m->acts;
    XfCfg xc = ed_xf(c);
    int C = c->d_model, N = B * Tq, L = s->L;
    size_t NC = (size_t)N * C;
    float *t;
#define SWAP() (t = da, da = db, db = t)
    if (c->pre_ln) {
        int fi = side ? ed_dec_fin(c) : ed_enc_fin(c);
        memset(db, 0, NC * sizeof(float));
        layernorm_backward(db, m->grads + m->tensors[fi].offset, m->grads + m->tensors[fi + 1].offset, da,
                           xf_mlp_out(&xc, &s->mlp[L - 1]), m->params + m->tensors[fi].offset, s->fin_mean,
                           s->fin_rstd, N, C);
        SWAP();
    }
    for (int l = L - 1; l >= 0; l--) {
        int t0 = side ? ed_dec0(c, l) : ed_enc0(c, l), mo = side ? 20 : 10;
        XfMlp f = ed_mlp_view(m, m->params, t0 + mo), gf = ed_mlp_view(m, m->grads, t0 + mo);
        const float *mlp_in = side ? xf_attn_out(&xc, &s->xatt[l]) : xf_attn_out(&xc, &s->self[l]);
        memset(db, 0, NC * sizeof(float));
        xf_mlp_backward(&xc, &f, &gf, &s->mlp[l], mlp_in, db, da, N, a->scratch);
        SWAP();
        if (side) {
            XfAttn w = ed_attn_view(m, m->params, t0 + 10, 1), g = ed_attn_view(m, m->grads, t0 + 10, 1);
            memset(db, 0, NC * sizeof(float));
            xf_attn_backward(&xc, &w, &g, &s->xatt[l], xf_attn_out(&xc, &s->self[l]), a->enc.out, 0, db, dmem, da,
                             B, Tq, Tk, a->scratch);
            SWAP();
        }
        XfAttn w = ed_attn_view(m, m->params, t0, 0), g = ed_attn_view(m, m->grads, t0, 0);
        const float *xin = l == 0 ? s->x0 : xf_mlp_out(&xc, &s->mlp[l - 1]);
        memset(db, 0, NC * sizeof(float));
        xf_attn_backward(&xc, &w, &g, &s->self[l], xin, NULL, side, db, NULL, da, B, Tq, Tq, a->scratch);
        SWAP();
    }
    if (s->dropped) {
        memset(db, 0, NC * sizeof(float));
        dropout_backward(db, da, s->emb_drop, NC, c->dropout);
        SWAP();
    }
#undef SWAP
    float *dE = m->grads + m->tensors[side ? ed_tgt_emb(c) : ed_src_emb(c)].offset;
    float *dpos = c->learned_pos ? m->grads + m->tensors[ed_src_pos(c) + side].offset : NULL;
    ed_embed_backward(dE, dpos, da, side ? a->tgt : a->src, B, Tq, C, ed_scale(c));
}

void encdec_backward(EncDec *m, float loss_scale) {
    const EncDecConfig *c = &m->cfg;
    EncDecActs *a = m->acts;
    LW_ASSERT(a && m->loss >= 0.0f);
    if (m->n_loss_tokens == 0) return;
    m->grads_zero = 0;
    int B = m->B, S = m->S, T = m->T, C = c->d_model, Nt = B * T, Vt = c->tgt_vocab;
    crossentropy_backward_inplace(m->logits, a->lse, a->labels, GPT_IGNORE_INDEX, Nt, Vt,
                                  loss_scale / (float)m->n_loss_tokens);
    int h = ed_head(c);
    memset(a->dA, 0, (size_t)Nt * C * sizeof(float));
    linear_backward(a->dA, m->grads + m->tensors[h].offset, NULL, m->logits, a->dec.out,
                    m->params + m->tensors[h].offset, Nt, C, Vt);
    m->loss = -1.0f; /* the logits were consumed */
    memset(a->dmem, 0, (size_t)B * S * C * sizeof(float));
    ed_stack_backward(m, &a->dec, 1, a->dA, a->dB, a->dmem, B, T, S);
    memcpy(a->dA, a->dmem, (size_t)B * S * C * sizeof(float));
    ed_stack_backward(m, &a->enc, 0, a->dA, a->dB, NULL, B, S, S);
}

const float *encdec_residual(const EncDec *m, int side, int l) {
    const EdStack *s = m->acts ? (side ? &m->acts->dec : &m->acts->enc) : NULL;
    if (!s || !s->out || l < 0 || l > s->L) return NULL;
    if (l == 0) return s->x0;
    XfCfg xc = ed_xf(&m->cfg);
    return xf_mlp_out(&xc, &s->mlp[l - 1]);
}

const float *encdec_memory(const EncDec *m) { return m->acts ? m->acts->enc.out : NULL; }

/* The optimizer's view (optim.h): the backward writes every tensor's gradient, frozen ones too, so zero_grad
 * clears them all. */
static OptimTable encdec_optim(EncDec *m) {
    return (OptimTable){.tensors = m->tensors, .n_tensors = m->n_tensors, .n_params = m->n_params,
                        .params = m->params, .grads = m->grads, .m = m->adam_m, .v = m->adam_v, .zero_frozen = 1,
                        .grads_zero = &m->grads_zero};
}

void encdec_zero_grad(EncDec *m) {
    OptimTable t = encdec_optim(m);
    optim_zero_grad(&t);
}

float encdec_grad_norm(const EncDec *m) {
    OptimTable t = encdec_optim((EncDec *)m); /* only read */
    return optim_grad_norm(&t);
}

void encdec_adamw_step(EncDec *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                       float grad_scale) {
    OptimTable o = encdec_optim(m);
    optim_adamw_step(&o, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
}

/* ---- incremental decoding ---- */

struct EncDecCache {
    int n_beams, max_S, max_T, S, C, Ld;
    int *ints;                    /* the one allocation behind every int array below */
    int *len, *len2;              /* (n_beams) */
    float *self_kv, *spare;       /* (n_beams, Ld, max_T, 2C) each: k | v rows of the decoder self-attention */
    float *cross_kv;              /* (Ld, max_S, 2C) */
    EdStack enc;                  /* the encoder over one source */
    void *ptrs;
    float *enc_att, *scratch;     /* (Le, NH, max_S, max_S), encoder scratch */
    float *x, *y, *work;          /* rows (C) and xf_step_floats */
    float *block;
    /* generation */
    float *logits, *row, *sc;     /* (n_beams, Vt), (Vt), (Vt) */
    int *idx, *toks, *toks2, *last, *parent, *cand_tok, *cand_par; /* (Vt), (n_beams, max_T) x2, (n_beams) x2, (n^2) x2 */
    float *cand_lp, *cand_sc, *beam_lp, *beam_lp2;
};

EncDecCache *encdec_cache_open(const EncDec *m, int n_beams, int max_S, int max_T) {
    const EncDecConfig *c = &m->cfg;
    LW_ASSERT(n_beams >= 1 && max_S >= 1 && max_S <= c->max_src && max_T >= 1 && max_T <= c->max_tgt);
    EncDecCache *kv = lw_calloc(1, sizeof *kv);
    kv->n_beams = n_beams;
    kv->max_S = max_S;
    kv->max_T = max_T;
    kv->C = c->d_model;
    kv->Ld = c->n_dec_layer;
    int Le = c->n_enc_layer, Ld = c->n_dec_layer, W = n_beams;
    size_t C = (size_t)c->d_model, Vt = (size_t)c->tgt_vocab, NW = (size_t)W * W;
    XfCfg xc = ed_xf(c);
    kv->ptrs = lw_calloc((size_t)Le, sizeof(XfAttnActs) + sizeof(XfMlpActs));
    kv->enc.self = kv->ptrs;
    kv->enc.mlp = (XfMlpActs *)(kv->enc.self + Le);
    size_t self = (size_t)W * Ld * max_T * 2 * C;
    for (int pass = 0; pass < 2; pass++) {
        Carver k = {pass ? kv->block : NULL, NULL, 0, 0};
        ed_stack_carve(&k, &kv->enc, c, Le, 0, (size_t)max_S, (size_t)max_S, 0, 0, 0);
        kv->self_kv = cf(&k, self);
        kv->spare = cf(&k, self);
        kv->cross_kv = cf(&k, (size_t)Ld * max_S * 2 * C);
        kv->enc_att = cf(&k, (size_t)Le * c->n_head * max_S * max_S);
        kv->scratch = cf(&k, xf_scratch_floats(&xc, max_S, max_S, max_S, max_S));
        kv->x = cf(&k, C);
        kv->y = cf(&k, C);
        kv->work = cf(&k, xf_step_floats(&xc, LW_MAX(max_S, max_T)));
        kv->logits = cf(&k, (size_t)W * Vt);
        kv->row = cf(&k, Vt);
        kv->sc = cf(&k, Vt);
        kv->cand_lp = cf(&k, NW);
        kv->cand_sc = cf(&k, NW);
        kv->beam_lp = cf(&k, (size_t)W);
        kv->beam_lp2 = cf(&k, (size_t)W);
        if (!pass) kv->block = ed_alloc_floats(k.nf);
        LW_ASSERT(kv->block);
    }
    kv->ints = lw_calloc((size_t)(4 * W + Vt + 2 * (size_t)W * max_T + 2 * NW), sizeof(int));
    kv->len = kv->ints;
    kv->len2 = kv->len + W;
    kv->last = kv->len2 + W;
    kv->parent = kv->last + W;
    kv->idx = kv->parent + W;
    kv->toks = kv->idx + Vt;
    kv->toks2 = kv->toks + (size_t)W * max_T;
    kv->cand_tok = kv->toks2 + (size_t)W * max_T;
    kv->cand_par = kv->cand_tok + NW;
    return kv;
}

void encdec_cache_close(EncDecCache *kv) {
    if (!kv) return;
    free(kv->block);
    free(kv->ptrs);
    free(kv->ints);
    free(kv);
}

int encdec_cache_len(const EncDecCache *kv, int beam) { return kv->len[beam]; }

void encdec_cache_rewind(EncDecCache *kv) { memset(kv->len, 0, (size_t)kv->n_beams * sizeof(int)); }

const float *encdec_cache_enc_att(const EncDecCache *kv) { return kv->enc_att; }

void encdec_cache_start(EncDec *m, EncDecCache *kv, const int *src, int S) {
    const EncDecConfig *c = &m->cfg;
    LW_ASSERT(S >= 1 && S <= kv->max_S);
    XfCfg xc = ed_xf(c);
    ed_encode(m, &kv->enc, src, NULL, 1, S, NULL, kv->enc_att, kv->scratch);
    for (int l = 0; l < c->n_dec_layer; l++) {
        XfAttn wx = ed_attn_view(m, m->params, ed_dec0(c, l) + 10, 1);
        xf_cross_kv(&xc, &wx, kv->cross_kv + (size_t)l * kv->max_S * 2 * c->d_model, kv->enc.out, S);
    }
    kv->S = S;
    memset(kv->len, 0, (size_t)kv->n_beams * sizeof(int));
}

int encdec_cache_step(EncDec *m, EncDecCache *kv, int beam, int token, float *logits, float *cross_att) {
    const EncDecConfig *c = &m->cfg;
    LW_ASSERT(beam >= 0 && beam < kv->n_beams && token >= 0 && token < c->tgt_vocab);
    int C = c->d_model, Ld = c->n_dec_layer, t = kv->len[beam];
    if (t >= kv->max_T) return -1;
    XfCfg xc = ed_xf(c);
    const float *E = m->params + m->tensors[ed_tgt_emb(c)].offset;
    const float *pos = c->learned_pos ? m->params + m->tensors[ed_src_pos(c) + 1].offset : m->pos_table;
    ed_embed(kv->x, &token, E, pos + (size_t)t * C, 1, 1, C, ed_scale(c));
    float *x = kv->x, *y = kv->y, *tmp;
    for (int l = 0; l < Ld; l++) {
        int t0 = ed_dec0(c, l);
        XfAttn ws = ed_attn_view(m, m->params, t0, 0), wx = ed_attn_view(m, m->params, t0 + 10, 1);
        XfMlp f = ed_mlp_view(m, m->params, t0 + 20);
        float *cache = kv->self_kv + ((size_t)beam * Ld + l) * kv->max_T * 2 * C;
        xf_attn_step_self(&xc, &ws, y, x, cache, t, NULL, kv->work);
        tmp = x, x = y, y = tmp;
        xf_attn_step_cross(&xc, &wx, y, x, kv->cross_kv + (size_t)l * kv->max_S * 2 * C, kv->S, NULL,
                           cross_att ? cross_att + (size_t)l * c->n_head * kv->S : NULL, kv->work);
        tmp = x, x = y, y = tmp;
        xf_mlp_step(&xc, &f, y, x, kv->work);
        tmp = x, x = y, y = tmp;
    }
    if (c->pre_ln) {
        int fi = ed_dec_fin(c);
        float st[2];
        layernorm_forward_eps(y, st, st + 1, x, m->params + m->tensors[fi].offset, m->params + m->tensors[fi + 1].offset,
                              1, C, c->ln_eps);
        x = y;
    }
    linear_forward(logits, x, m->params + m->tensors[ed_head(c)].offset, NULL, 1, C, c->tgt_vocab);
    kv->len[beam] = t + 1;
    return 0;
}

void encdec_cache_reorder(EncDecCache *kv, const int *parent, int n) {
    int C = kv->C, Ld = kv->Ld;
    size_t per = (size_t)kv->max_T * 2 * C;
    for (int i = 0; i < n; i++) {
        int p = parent[i];
        LW_ASSERT(p >= 0 && p < kv->n_beams);
        for (int l = 0; l < Ld; l++)
            memcpy(kv->spare + ((size_t)i * Ld + l) * per, kv->self_kv + ((size_t)p * Ld + l) * per,
                   (size_t)kv->len[p] * 2 * C * sizeof(float));
        kv->len2[i] = kv->len[p];
    }
    for (int i = n; i < kv->n_beams; i++) kv->len2[i] = 0;
    float *t = kv->self_kv;
    kv->self_kv = kv->spare;
    kv->spare = t;
    int *tl = kv->len;
    kv->len = kv->len2;
    kv->len2 = tl;
}

/* In place: row = log_softmax(row) (V). */
static void ed_log_softmax(float *row, int V) {
    float mx = row[sampler_argmax(row, V)];
    double s = 0.0;
    for (int i = 0; i < V; i++) s += exp((double)row[i] - mx);
    float lse = mx + (float)log(s);
    for (int i = 0; i < V; i++) row[i] -= lse;
}

static float ed_norm_score(float logprob, int len, float alpha) {
    return alpha == 0.0f ? logprob : logprob / powf((float)(len > 0 ? len : 1), alpha);
}

/* Adds a finished hypothesis to hyps[0..*n) (capacity cap), keeping the cap best by score. */
static void ed_add_hyp(EncDecHyp *hyps, int *n, int cap, const int *toks, int len, float lp, float alpha) {
    float sc = ed_norm_score(lp, len, alpha);
    int at = *n;
    if (*n == cap) { /* replace the worst if this one is better */
        at = 0;
        for (int i = 1; i < cap; i++)
            if (hyps[i].score < hyps[at].score) at = i;
        if (!(sc > hyps[at].score)) return;
    } else {
        (*n)++;
    }
    memcpy(hyps[at].tokens, toks, (size_t)len * sizeof(int));
    hyps[at].len = len;
    hyps[at].logprob = lp;
    hyps[at].score = sc;
}

static int ed_greedy(EncDec *m, EncDecCache *kv, const EncDecGen *g, Rng *r, EncDecHyp *h) {
    int V = m->cfg.tgt_vocab, tok = g->bos;
    float lp = 0.0f;
    h->len = 0;
    for (int i = 0; i < g->max_len; i++) {
        if (encdec_cache_step(m, kv, 0, tok, kv->logits, NULL)) break;
        memcpy(kv->row, kv->logits, (size_t)V * sizeof(float));
        int next = g->temperature > 0.0f
                       ? sampler_next(kv->row, V, g->temperature, g->top_k, g->top_p, r, kv->sc, kv->idx)
                       : sampler_argmax(kv->logits, V);
        ed_log_softmax(kv->logits, V);
        lp += kv->logits[next];
        h->tokens[h->len++] = next;
        if (next == g->eos) break;
        tok = next;
    }
    h->logprob = lp;
    h->score = ed_norm_score(lp, h->len, g->len_alpha);
    return 1;
}

int encdec_generate(EncDec *m, EncDecCache *kv, const int *src, int S, const EncDecGen *g, Rng *r,
                    EncDecHyp *hyps) {
    int W = g->beam > 1 ? g->beam : 1, V = m->cfg.tgt_vocab, T = kv->max_T;
    LW_ASSERT(W <= kv->n_beams && g->max_len <= T && g->max_len >= 1);
    LW_ASSERT(g->temperature <= 0.0f || W > 1 || r);
    encdec_cache_start(m, kv, src, S);
    if (W == 1) return ed_greedy(m, kv, g, r, hyps);
    int n_alive = 1, n_done = 0;
    kv->last[0] = g->bos;
    kv->beam_lp[0] = 0.0f;
    for (int i = 0; i < g->max_len && n_alive > 0; i++) {
        int nc = 0;
        for (int j = 0; j < n_alive; j++) {
            float *row = kv->logits + (size_t)j * V;
            encdec_cache_step(m, kv, j, kv->last[j], row, NULL);
            ed_log_softmax(row, V);
            int got = sampler_top_n(row, V, W, kv->cand_tok + nc, kv->cand_lp + nc);
            for (int k = 0; k < got; k++) {
                kv->cand_par[nc + k] = j;
                kv->cand_sc[nc + k] = kv->beam_lp[j] + kv->cand_lp[nc + k];
            }
            nc += got;
        }
        /* candidates by total log-probability, best first (stable insertion sort: nc <= W^2) */
        for (int a = 1; a < nc; a++)
            for (int b = a; b > 0 && kv->cand_sc[b] > kv->cand_sc[b - 1]; b--) {
                float fs = kv->cand_sc[b]; kv->cand_sc[b] = kv->cand_sc[b - 1]; kv->cand_sc[b - 1] = fs;
                int it = kv->cand_tok[b]; kv->cand_tok[b] = kv->cand_tok[b - 1]; kv->cand_tok[b - 1] = it;
                int ip = kv->cand_par[b]; kv->cand_par[b] = kv->cand_par[b - 1]; kv->cand_par[b - 1] = ip;
            }
        int n_new = 0;
        for (int k = 0; k < nc && n_new < W; k++) {
            int p = kv->cand_par[k], tok = kv->cand_tok[k];
            int *dst = kv->toks2 + (size_t)n_new * T;
            memcpy(dst, kv->toks + (size_t)p * T, (size_t)i * sizeof(int));
            dst[i] = tok;
            if (tok == g->eos || i + 1 == g->max_len) {
                ed_add_hyp(hyps, &n_done, W, dst, i + 1, kv->cand_sc[k], g->len_alpha);
                continue;
            }
            kv->parent[n_new] = p;
            kv->last[n_new] = tok;
            kv->beam_lp2[n_new] = kv->cand_sc[k];
            n_new++;
        }
        encdec_cache_reorder(kv, kv->parent, n_new);
        int *tt = kv->toks;
        kv->toks = kv->toks2;
        kv->toks2 = tt;
        float *tl = kv->beam_lp;
        kv->beam_lp = kv->beam_lp2;
        kv->beam_lp2 = tl;
        n_alive = n_new;
        /* done when W hypotheses are finished and no live beam can still beat the worst of them (exact for
         * len_alpha 0, where a longer continuation only loses log-probability) */
        if (n_done == W && n_alive > 0) {
            float worst = hyps[0].score, best_alive = -INFINITY;
            for (int k = 1; k < n_done; k++) worst = fminf(worst, hyps[k].score);
            for (int k = 0; k < n_alive; k++) best_alive = fmaxf(best_alive, ed_norm_score(kv->beam_lp[k], i + 1, g->len_alpha));
            if (best_alive <= worst) break;
        }
    }
    /* best first */
    for (int a = 1; a < n_done; a++)
        for (int b = a; b > 0 && hyps[b].score > hyps[b - 1].score; b--) {
            EncDecHyp t = hyps[b];
            hyps[b] = hyps[b - 1];
            hyps[b - 1] = t;
        }
    return n_done;
}
