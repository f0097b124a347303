/* model.c — the GPT-2 model (the book's GPTModel): tensor table, initialisation, forward, hand-written backward,
 * AdamW, and KV-cached incremental decoding. Math kernels live in layers.c and matmul.c.
 * Letters: B batch, T time, C d_model, V vocab, L layers, NH heads, HS head size, BT = B*T rows.
 *
 * Contracts beyond model.h:
 * - gpt_forward may be called with any B <= m->B, T <= m->T; m->logits (B, T, V) and m->att (L, B, NH, T, T) are
 *   laid out contiguously for that call's B and T.
 * - gpt_backward turns m->logits into dlogits in place (the fused softmax + cross-entropy backward): read the
 *   logits before calling it. One backward per forward.
 * - When every target is GPT_IGNORE_INDEX the loss is 0 with n_loss_tokens 0 (PyTorch would give NaN), and the
 *   backward adds nothing.
 * - Dropout masks are drawn in a fixed order (embedding, then per layer: attention weights, attention residual,
 *   MLP residual), so a seeded Rng replays the same masks.
 * - One block implementation (gpt_block_forward) serves the batch forward and KV-cached decoding; only the
 *   attention step differs (causal over the batch, keeping the weights for the backward, or against the cache). */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "layers.h"
#include "matmul.h"
#include "optim.h"

/* ---- splitting row-wise kernels across threads ----
 * The BLAS runs its GEMMs on matmul_get_threads() threads; the element- and row-wise kernels between them
 * (GELU, LayerNorm, cross-entropy, attention's per-head work) would otherwise run on one core. gpt_parallel splits
 * them with lw_parallel, one contiguous part per thread. Kernels only ever write their own rows (LayerNorm's
 * backward: its own rows of dinp and its own columns of the parameter gradients), so results do not depend on the
 * split, except the order in which the partial sums of the loss are added. */
#define GPT_MAX_THREADS LW_MAX_THREADS
typedef LwRangeFn GptRangeFn;

/* lw_parallel on matmul_get_threads() parts. */
static int gpt_parallel(size_t n, size_t min_chunk, GptRangeFn fn, void *ctx) {
    return lw_parallel(matmul_get_threads(), n, min_chunk, fn, ctx);
}

typedef struct GeluJob {
    float *out;        /* forward: out; backward: dinp (or, in place, dout) */
    const float *inp;
    const float *dout; /* NULL for the forward */
    int inplace;       /* backward overwriting out = gelu'(inp) * out */
} GeluJob;

static void gpt_gelu_part(void *c, int part, size_t lo, size_t hi) {
    GeluJob *j = c;
    (void)part;
    if (j->inplace) gelu_backward_inplace(j->out + lo, j->inp + lo, hi - lo);
    else if (j->dout) gelu_backward(j->out + lo, j->inp + lo, j->dout + lo, hi - lo);
    else gelu_forward(j->out + lo, j->inp + lo, hi - lo);
}

static void gpt_gelu(float *out, const float *inp, const float *dout, size_t n) {
    GeluJob j = {out, inp, dout, 0};
    gpt_parallel(n, 16384, gpt_gelu_part, &j);
}

/* d = gelu'(inp) * d in place. */
static void gpt_gelu_backward_inplace(float *d, const float *inp, size_t n) {
    GeluJob j = {d, inp, NULL, 1};
    gpt_parallel(n, 16384, gpt_gelu_part, &j);
}

typedef struct LnJob {
    float *out, *mean, *rstd;
    const float *inp, *w, *b;
    int C;
} LnJob;

static void gpt_ln_part(void *c, int part, size_t lo, size_t hi) {
    LnJob *j = c;
    (void)part;
    size_t C = (size_t)j->C;
    layernorm_forward(j->out + lo * C, j->mean + lo, j->rstd + lo, j->inp + lo * C, j->w, j->b, (int)(hi - lo), j->C);
}

static void gpt_layernorm(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                          int N, int C) {
    LnJob j = {out, mean, rstd, inp, w, b, C};
    gpt_parallel((size_t)N, (size_t)(16384 / C + 1), gpt_ln_part, &j);
}

typedef struct LnBackJob {
    float *dinp, *dw, *db;
    const float *dout, *inp, *w, *mean, *rstd;
    int N, C;
} LnBackJob;

/* Part [lo, hi) of the rows does those rows' dinp and the matching share of the columns' dweight/dbias (columns
 * C*lo/N .. C*hi/N), so the parts write disjoint memory. */
static void gpt_ln_back_part(void *c, int part, size_t lo, size_t hi) {
    LnBackJob *j = c;
    (void)part;
    size_t C = (size_t)j->C, N = (size_t)j->N;
    layernorm_backward_dinp(j->dinp + lo * C, j->dout + lo * C, j->inp + lo * C, j->w, j->mean + lo, j->rstd + lo,
                            (int)(hi - lo), j->C);
    layernorm_backward_params(j->dw, j->db, j->dout, j->inp, j->mean, j->rstd, j->N, j->C, (int)(C * lo / N),
                              (int)(C * hi / N));
}

static void gpt_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                   const float *w, const float *mean, const float *rstd, int N, int C) {
    LnBackJob j = {dinp, dw, db, dout, inp, w, mean, rstd, N, C};
    gpt_parallel((size_t)N, (size_t)(16384 / C + 1), gpt_ln_back_part, &j);
}

typedef struct CeJob {
    float *logits, *lse;
    const int *targets;
    int V;
    float dloss;      /* backward only */
    int backward;
    double total[GPT_MAX_THREADS];
    int count[GPT_MAX_THREADS];
} CeJob;

static void gpt_ce_part(void *c, int part, size_t lo, size_t hi) {
    CeJob *j = c;
    size_t V = (size_t)j->V;
    if (j->backward)
        crossentropy_backward_inplace(j->logits + lo * V, j->lse + lo, j->targets + lo, GPT_IGNORE_INDEX,
                                      (int)(hi - lo), j->V, j->dloss);
    else
        j->total[part] = crossentropy_forward(j->lse + lo, j->logits + lo * V, j->targets + lo, GPT_IGNORE_INDEX,
                                              (int)(hi - lo), j->V, &j->count[part]);
}

/* Activation buffers for batches up to (B, T), one allocation. Per-layer arrays are laid out with the *current*
 * call's (B, T) so that e.g. m->att is a contiguous (L, B, NH, T, T) for every call. */
struct GptActs {
    int maxB, maxT;
    void *block;      /* owns everything below */
    int *inputs, *targets;        /* (B, T) copies of the last forward's batch */
    float *encoded;               /* (B, T, C) after embedding dropout */
    float *ln1, *ln1_mean, *ln1_rstd; /* (L, B, T, C), (L, B, T) x2 */
    float *qkv;                   /* (L, B, T, 3C) */
    float *atty;                  /* (L, B, T, C) attention output before c_proj */
    float *res1;                  /* (L, B, T, C) residual after the attention branch */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu;        /* (L, B, T, 4C) */
    float *res2;                  /* (L, B, T, C) block outputs */
    float *lnf, *lnf_mean, *lnf_rstd; /* (B, T, C), (B, T) x2 */
    float *logits;                /* (B, T, V); dlogits after backward */
    float *lse;                   /* (B, T) */
    float *att;                   /* (L, B, NH, T, T) */
    float *tmp;                   /* (B, T, C) projection outputs in the forward */
    /* backward scratch */
    float *dres, *dtmp, *dtmp2;   /* (B, T, C) */
    float *dbig;                  /* (B, T, 4C) */
    float *dqkv;                  /* (B, T, 3C) */
    float *att_scratch;           /* (att_parts, 2 T T): one share per attention thread */
    int att_parts;
    /* dropout masks (NULL when cfg.dropout == 0) */
    uint8_t *mask_emb;            /* (B, T, C) */
    uint8_t *mask_att;            /* (L, B, NH, T, T) */
    uint8_t *mask_ra, *mask_rm;   /* (L, B, T, C) attention and MLP residual branches */
    /* finetuning (sized for the n_classes / lora_rank at reserve time) */
    int n_classes, lora_rank;
    float *lora_xa;               /* (L*4 + 1, B, T, r): (alpha/r) x A of each adapted product (slot L*4: head) */
    float *lora_dxa;              /* (B, T, r) backward scratch */
    int *cls_last, *cls_labels;   /* (B) */
    float *cls_ln, *cls_mean, *cls_rstd; /* (B, C), (B), (B): ln_f at the selected positions */
    float *cls_dlogits;           /* (B, n_classes) */
    float *cls_dln;               /* (B, C) */
    float *cls_logits;            /* (B, n_classes): m->class_logits */
    float *sink;                  /* (4C) gradient sink for frozen LayerNorm parameters */
    /* state of the last forward */
    int B, T, has_targets, dropped, n_count;
    int classify;                 /* the last forward was gpt_forward_classify */
};

/* Pointers to one block's tensors inside params or grads. */
typedef struct LayerPtrs {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} LayerPtrs;

static int gpt_tensors_per_layer(const GptConfig *c) { return c->qkv_bias ? 12 : 11; }

static void gpt_layer_ptrs(const Gpt *m, float *base, int l, LayerPtrs *p) {
    const GptTensor *t = m->tensors + 2 + (size_t)l * gpt_tensors_per_layer(&m->cfg);
    int i = 0;
    p->ln1w = base + t[i++].offset;
    p->ln1b = base + t[i++].offset;
    p->qkvw = base + t[i++].offset;
    p->qkvb = m->cfg.qkv_bias ? base + t[i++].offset : NULL;
    p->attprojw = base + t[i++].offset;
    p->attprojb = base + t[i++].offset;
    p->ln2w = base + t[i++].offset;
    p->ln2b = base + t[i++].offset;
    p->fcw = base + t[i++].offset;
    p->fcb = base + t[i++].offset;
    p->fcprojw = base + t[i++].offset;
    p->fcprojb = base + t[i++].offset;
}

/* Index of ln_f.weight in the table; ln_f.bias follows, then lm_head.weight if untied. */
static int gpt_lnf_index(const Gpt *m) { return 2 + m->cfg.n_layer * gpt_tensors_per_layer(&m->cfg); }

/* The tensors around the blocks, by name, inside params (gpt_outer_ptrs) or grads (gpt_outer_grads: NULL for
 * frozen tensors), as llm.c names them. */
typedef struct GptOuter {
    float *wte;          /* (V, C) token embedding */
    float *wpe;          /* (maxT, C) position embedding */
    float *lnfw, *lnfb;  /* (C) final LayerNorm */
    float *head;         /* (V, C) LM head: lm_head.weight, or wte when tied */
    float *scorew;       /* (n_classes, C) class head, NULL without one */
    float *scoreb;       /* (n_classes) */
} GptOuter;

/* Table index of each GptOuter tensor (-1: absent). */
static void gpt_outer_index(const Gpt *m, int idx[7]) {
    int fi = gpt_lnf_index(m), hi = m->n_base_tensors;
    idx[0] = 0, idx[1] = 1, idx[2] = fi, idx[3] = fi + 1, idx[4] = m->cfg.tie_embeddings ? 0 : fi + 2;
    idx[5] = m->n_classes ? hi : -1, idx[6] = m->n_classes ? hi + 1 : -1;
}

static void gpt_outer_ptrs(const Gpt *m, float *base, GptOuter *p) {
    int idx[7];
    gpt_outer_index(m, idx);
    float **f[7] = {&p->wte, &p->wpe, &p->lnfw, &p->lnfb, &p->head, &p->scorew, &p->scoreb};
    for (int k = 0; k < 7; k++) *f[k] = idx[k] >= 0 ? base + m->tensors[idx[k]].offset : NULL;
}

size_t gpt_count_params(const GptConfig *c) {
    size_t C = (size_t)c->d_model, V = (size_t)c->vocab_size;
    size_t per = 2 * C + C * 3 * C + (c->qkv_bias ? 3 * C : 0) + C * C + C + 2 * C + C * 4 * C + 4 * C + 4 * C * C + C;
    size_t n = V * C + (size_t)c->context_length * C + (size_t)c->n_layer * per + 2 * C;
    if (!c->tie_embeddings) n += V * C;
    return n;
}

static void *gpt_alloc_floats(size_t n) {
    void *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

static void gpt_add_tensor(Gpt *m, size_t *off, const char *name, int ndim, int s0, int s1, int decay) {
    GptTensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = ndim == 2 ? s1 : 0;
    t->numel = (size_t)s0 * (ndim == 2 ? (size_t)s1 : 1);
    t->offset = *off;
    t->decay = decay;
    t->role = GPT_ROLE_BASE;
    t->trainable = 1;
    *off += t->numel;
}

int gpt_init(Gpt *m, const GptConfig *c, LwError *e) {
    memset(m, 0, sizeof *m);
    if (c->n_layer <= 0 || c->n_head <= 0 || c->d_model <= 0 || c->context_length <= 0 || c->vocab_size <= 0)
        return lw_fail(e, LW_ERR_INVALID, "model: n_layer, n_head, d_model, context_length, vocab_size must be > 0");
    if (c->d_model % c->n_head)
        return lw_fail(e, LW_ERR_INVALID, "model: d_model %d is not a multiple of n_head %d", c->d_model, c->n_head);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return lw_fail(e, LW_ERR_INVALID, "model: dropout %g is not in [0, 1)", (double)c->dropout);
    m->cfg = *c;
    int L = c->n_layer, C = c->d_model, V = c->vocab_size;
    int max_tensors = 2 + L * 12 + 3;
    m->tensors = lw_calloc((size_t)max_tensors, sizeof(GptTensor));
    size_t off = 0;
    char name[64];
    gpt_add_tensor(m, &off, "wte.weight", 2, V, C, 0);
    gpt_add_tensor(m, &off, "wpe.weight", 2, c->context_length, C, 0);
    for (int l = 0; l < L; l++) {
#define ADD(suffix, nd, s0, s1, dec)                                                                             \
    do {                                                                                                         \
        snprintf(name, sizeof name, "h.%d.%s", l, suffix);                                                       \
        gpt_add_tensor(m, &off, name, nd, s0, s1, dec);                                                          \
    } while (0)
        ADD("ln_1.weight", 1, C, 0, 0);
        ADD("ln_1.bias", 1, C, 0, 0);
        ADD("attn.c_attn.weight", 2, C, 3 * C, 1);
        if (c->qkv_bias) ADD("attn.c_attn.bias", 1, 3 * C, 0, 0);
        ADD("attn.c_proj.weight", 2, C, C, 1);
        ADD("attn.c_proj.bias", 1, C, 0, 0);
        ADD("ln_2.weight", 1, C, 0, 0);
        ADD("ln_2.bias", 1, C, 0, 0);
        ADD("mlp.c_fc.weight", 2, C, 4 * C, 1);
        ADD("mlp.c_fc.bias", 1, 4 * C, 0, 0);
        ADD("mlp.c_proj.weight", 2, 4 * C, C, 1);
        ADD("mlp.c_proj.bias", 1, C, 0, 0);
#undef ADD
    }
    gpt_add_tensor(m, &off, "ln_f.weight", 1, C, 0, 0);
    gpt_add_tensor(m, &off, "ln_f.bias", 1, C, 0, 0);
    if (!c->tie_embeddings) gpt_add_tensor(m, &off, "lm_head.weight", 2, V, C, 1);
    m->n_params = off;
    m->n_base_tensors = m->n_tensors;
    LW_ASSERT(off == gpt_count_params(c));
    m->params = gpt_alloc_floats(off);
    m->grads = gpt_alloc_floats(off);
    m->adam_m = gpt_alloc_floats(off);
    m->adam_v = gpt_alloc_floats(off);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v) {
        size_t mb = off * 16 / (1024 * 1024);
        gpt_free(m);
        return lw_fail(e, LW_ERR_NOMEM, "model: cannot allocate %zu MiB for parameters, gradients and moments", mb);
    }
    memset(m->params, 0, off * sizeof(float));
    memset(m->grads, 0, off * sizeof(float));
    memset(m->adam_m, 0, off * sizeof(float));
    memset(m->adam_v, 0, off * sizeof(float));
    m->loss = -1.0f;
    return LW_OK;
}

void gpt_init_weights(Gpt *m, Rng *r) {
    float resid_std = 0.02f / sqrtf(2.0f * (float)m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        size_t len = strlen(t->name);
        if (t->ndim == 2) {
            int resid = len > 13 && strcmp(t->name + len - 13, "c_proj.weight") == 0;
            float std = resid ? resid_std : 0.02f;
            for (size_t j = 0; j < t->numel; j++) p[j] = std * rng_normal(r);
        } else {
            int ln_weight = strstr(t->name, "ln_") && strcmp(t->name + len - 6, "weight") == 0;
            for (size_t j = 0; j < t->numel; j++) p[j] = ln_weight ? 1.0f : 0.0f;
        }
    }
}

void gpt_free(Gpt *m) {
    if (m->acts) free(m->acts->block);
    free(m->acts);
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    memset(m, 0, sizeof *m);
}

GptTensor *gpt_find(const Gpt *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* Carves n elements of size sz (64-byte aligned) from a bump pointer; with base NULL only counts. */
static void *gpt_carve(char *base, size_t *off, size_t n, size_t sz) {
    void *p = base ? base + *off : NULL;
    *off += (n * sz + 63) / 64 * 64;
    return p;
}

static size_t gpt_acts_layout(GptActs *a, char *base, const Gpt *m, int B, int T) {
    const GptConfig *c = &m->cfg;
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, V = (size_t)c->vocab_size, NH = (size_t)c->n_head;
    size_t BT = (size_t)B * T, TT = (size_t)T * T, f = sizeof(float), off = 0;
    a->inputs = gpt_carve(base, &off, BT, sizeof(int));
    a->targets = gpt_carve(base, &off, BT, sizeof(int));
    a->encoded = gpt_carve(base, &off, BT * C, f);
    a->ln1 = gpt_carve(base, &off, L * BT * C, f);
    a->ln1_mean = gpt_carve(base, &off, L * BT, f);
    a->ln1_rstd = gpt_carve(base, &off, L * BT, f);
    a->qkv = gpt_carve(base, &off, L * BT * 3 * C, f);
    a->atty = gpt_carve(base, &off, L * BT * C, f);
    a->res1 = gpt_carve(base, &off, L * BT * C, f);
    a->ln2 = gpt_carve(base, &off, L * BT * C, f);
    a->ln2_mean = gpt_carve(base, &off, L * BT, f);
    a->ln2_rstd = gpt_carve(base, &off, L * BT, f);
    a->fch = gpt_carve(base, &off, L * BT * 4 * C, f);
    a->fch_gelu = gpt_carve(base, &off, L * BT * 4 * C, f);
    a->res2 = gpt_carve(base, &off, L * BT * C, f);
    a->lnf = gpt_carve(base, &off, BT * C, f);
    a->lnf_mean = gpt_carve(base, &off, BT, f);
    a->lnf_rstd = gpt_carve(base, &off, BT, f);
    a->logits = gpt_carve(base, &off, BT * V, f);
    a->lse = gpt_carve(base, &off, BT, f);
    a->att = gpt_carve(base, &off, L * B * NH * TT, f);
    a->tmp = gpt_carve(base, &off, BT * C, f);
    a->dres = gpt_carve(base, &off, BT * C, f);
    a->dtmp = gpt_carve(base, &off, BT * C, f);
    a->dtmp2 = gpt_carve(base, &off, BT * C, f);
    a->dbig = gpt_carve(base, &off, BT * 4 * C, f);
    a->dqkv = gpt_carve(base, &off, BT * 3 * C, f);
    a->att_parts = LW_MAX(1, LW_MIN(matmul_get_threads(), GPT_MAX_THREADS));
    a->att_scratch = gpt_carve(base, &off, (size_t)a->att_parts * 2 * TT, f);
    size_t R = (size_t)m->lora_rank, NC = (size_t)m->n_classes;
    a->n_classes = m->n_classes;
    a->lora_rank = m->lora_rank;
    a->lora_xa = R ? gpt_carve(base, &off, (L * 4 + 1) * BT * R, f) : NULL;
    a->lora_dxa = R ? gpt_carve(base, &off, BT * R, f) : NULL;
    a->cls_last = gpt_carve(base, &off, (size_t)B, sizeof(int));
    a->cls_labels = gpt_carve(base, &off, (size_t)B, sizeof(int));
    a->cls_ln = gpt_carve(base, &off, (size_t)B * C, f);
    a->cls_mean = gpt_carve(base, &off, (size_t)B, f);
    a->cls_rstd = gpt_carve(base, &off, (size_t)B, f);
    a->cls_dlogits = gpt_carve(base, &off, (size_t)B * (NC ? NC : 1), f);
    a->cls_dln = gpt_carve(base, &off, (size_t)B * C, f);
    a->cls_logits = gpt_carve(base, &off, (size_t)B * (NC ? NC : 1), f);
    a->sink = gpt_carve(base, &off, 4 * C, f);
    if (c->dropout > 0.0f) {
        a->mask_emb = gpt_carve(base, &off, BT * C, 1);
        a->mask_att = gpt_carve(base, &off, L * B * NH * TT, 1);
        a->mask_ra = gpt_carve(base, &off, L * BT * C, 1);
        a->mask_rm = gpt_carve(base, &off, L * BT * C, 1);
    } else {
        a->mask_emb = a->mask_att = a->mask_ra = a->mask_rm = NULL;
    }
    return off;
}

int gpt_reserve(Gpt *m, int B, int T, LwError *e) {
    if (B <= 0 || T <= 0 || T > m->cfg.context_length)
        return lw_fail(e, LW_ERR_INVALID, "model: cannot reserve B=%d T=%d (context_length %d)", B, T,
                       m->cfg.context_length);
    if (m->acts) {
        free(m->acts->block);
        free(m->acts);
        m->acts = NULL;
        m->logits = m->att = NULL;
        m->class_logits = NULL;
        m->B = m->T = 0;
    }
    GptActs *a = lw_calloc(1, sizeof *a);
    size_t bytes = gpt_acts_layout(a, NULL, m, B, T);
    void *block = NULL;
    if (posix_memalign(&block, 64, bytes) != 0) {
        free(a);
        return lw_fail(e, LW_ERR_NOMEM, "model: cannot allocate %zu MiB of activations for B=%d T=%d",
                       bytes / (1024 * 1024), B, T);
    }
    memset(block, 0, bytes);
    gpt_acts_layout(a, block, m, B, T);
    a->block = block;
    a->maxB = B;
    a->maxT = T;
    m->acts = a;
    m->B = B;
    m->T = T;
    m->logits = a->logits;
    m->att = a->att;
    m->class_logits = m->n_classes ? a->cls_logits : NULL;
    return LW_OK;
}

/* ---- LoRA and trainable-set helpers ---- */

/* Adapter slots per block, in table order; the head's adapter comes after all blocks. */
static const int LORA_BITS[4] = {GPT_LORA_ATTN, GPT_LORA_PROJ, GPT_LORA_FC, GPT_LORA_FCPROJ};

static int gpt_lora_slot(int bit) {
    for (int k = 0; k < 4; k++)
        if (LORA_BITS[k] == bit) return k;
    return 4;
}

/* Index of the lora_A tensor of block l's product `bit` (l = -1 with GPT_LORA_HEAD: the head), or -1 if that product
 * has no adapter. lora_B is the next tensor. */
static int gpt_lora_index(const Gpt *m, int l, int bit) {
    if (!m->lora_rank || !(m->lora_targets & bit)) return -1;
    int per = 0, before = 0;
    for (int k = 0; k < 4; k++)
        if (m->lora_targets & LORA_BITS[k]) {
            if (LORA_BITS[k] < bit) before++;
            per++;
        }
    int first = m->n_base_tensors + (m->n_classes ? 2 : 0);
    if (bit == GPT_LORA_HEAD) return first + 2 * per * m->cfg.n_layer;
    return first + 2 * (per * l + before);
}

/* Gradient pointer of tensor i, or NULL when it is frozen. */
static float *gpt_gptr(const Gpt *m, int i) {
    return m->tensors[i].trainable ? m->grads + m->tensors[i].offset : NULL;
}

/* xa slot of an adapted product: (BT, r) floats inside a->lora_xa. */
static float *gpt_lora_xa(const Gpt *m, int l, int bit) {
    size_t BT = (size_t)m->acts->B * m->acts->T, R = (size_t)m->lora_rank;
    size_t slot = bit == GPT_LORA_HEAD ? (size_t)m->cfg.n_layer * 4 : (size_t)l * 4 + (size_t)gpt_lora_slot(bit);
    return m->acts->lora_xa + slot * BT * R;
}

/* out (N, OC) += (alpha/r) (inp A) B for the adapter of (l, bit), if any; saves (alpha/r) inp A into xa.
 * xa NULL: scratch (the KV cache) — then it must hold N * r floats. */
static void gpt_lora_forward(const Gpt *m, int l, int bit, float *out, const float *inp, int N, int IC, int OC,
                             float *xa) {
    int ia = gpt_lora_index(m, l, bit);
    if (ia < 0) return;
    int R = m->lora_rank;
    float s = m->lora_alpha / (float)R;
    const float *A = m->params + m->tensors[ia].offset, *Bm = m->params + m->tensors[ia + 1].offset;
    if (!xa) xa = gpt_lora_xa(m, l, bit);
    matmul_gemm(0, 0, N, R, IC, s, inp, IC, A, R, 0.0f, xa, R);
    matmul_gemm(0, 0, N, OC, R, 1.0f, xa, R, Bm, OC, 1.0f, out, OC);
}

/* Backward of gpt_lora_forward, accumulating: dB += xa^T dout; dxa = s dout B^T; dA += inp^T dxa;
 * dinp += dxa A^T (dinp may be NULL). */
static void gpt_lora_backward(Gpt *m, int l, int bit, float *dinp, const float *dout, const float *inp, int N, int IC,
                              int OC) {
    int ia = gpt_lora_index(m, l, bit);
    if (ia < 0) return;
    int R = m->lora_rank;
    float s = m->lora_alpha / (float)R;
    const float *A = m->params + m->tensors[ia].offset, *Bm = m->params + m->tensors[ia + 1].offset;
    float *dA = gpt_gptr(m, ia), *dB = gpt_gptr(m, ia + 1), *dxa = m->acts->lora_dxa;
    const float *xa = gpt_lora_xa(m, l, bit);
    if (dB) matmul_gemm(1, 0, R, OC, N, 1.0f, xa, R, dout, OC, 1.0f, dB, OC);
    matmul_gemm(0, 1, N, R, OC, s, dout, OC, Bm, OC, 0.0f, dxa, R);
    if (dA) matmul_gemm(1, 0, IC, R, N, 1.0f, inp, IC, dxa, R, 1.0f, dA, R);
    if (dinp) matmul_gemm(0, 1, N, IC, R, 1.0f, dxa, R, A, R, 1.0f, dinp, IC);
}

/* Self-attention of qkv (B, T, 3C) into out (B, T, C): causal (attention_forward) unless the model is
 * bidirectional (the general kernel with no mask); att (B, NH, T, T) as both save it. Split across the threads
 * (layers.h), each on its own share of scratch (parts shares of 2 T T floats). */
static void gpt_attention_forward(const Gpt *m, float *out, float *att, const float *qkv, const uint8_t *drop,
                                  float p, float *scratch, int parts, int B, int T) {
    int C = m->cfg.d_model, NH = m->cfg.n_head;
    if (!m->cfg.bidirectional) {
        attention_forward_threads(out, att, qkv, drop, p, scratch, parts, B, T, C, NH);
        return;
    }
    MhaShape s = {.B = B, .Tq = T, .Tk = T, .C = C, .NH = NH, .ldq = 3 * C, .ldk = 3 * C, .ldv = 3 * C, .ldo = C,
                  .causal = 0};
    mha_forward_threads(out, att, qkv, qkv + C, qkv + 2 * C, NULL, drop, p, scratch, parts, &s);
}

static void gpt_attention_backward(const Gpt *m, float *dqkv, const float *dout, const float *qkv, const float *att,
                                   const uint8_t *drop, float p, float *scratch, int parts, int B, int T) {
    int C = m->cfg.d_model, NH = m->cfg.n_head;
    if (!m->cfg.bidirectional) {
        attention_backward_threads(dqkv, dout, qkv, att, drop, p, scratch, parts, B, T, C, NH);
        return;
    }
    MhaShape s = {.B = B, .Tq = T, .Tk = T, .C = C, .NH = NH, .ldq = 3 * C, .ldk = 3 * C, .ldv = 3 * C, .ldo = C,
                  .causal = 0};
    mha_backward_threads(dqkv, dqkv + C, dqkv + 2 * C, dout, qkv, qkv + C, qkv + 2 * C, att, drop, p, scratch, parts,
                         &s);
}

/* A Conv1D product of block l with its adapter: out = inp W + b [+ LoRA]; xa as gpt_lora_forward. */
static void gpt_linear_forward(const Gpt *m, int l, int bit, float *out, const float *inp, const float *w,
                               const float *b, int N, int IC, int OC, float *xa) {
    matmul_forward(out, inp, w, b, N, IC, OC);
    gpt_lora_forward(m, l, bit, out, inp, N, IC, OC, xa);
}

static void gpt_linear_backward(Gpt *m, int l, int bit, float *dinp, float *dw, float *db, const float *dout,
                                const float *inp, const float *w, int N, int IC, int OC) {
    matmul_backward(dinp, dw, db, dout, inp, w, N, IC, OC);
    gpt_lora_backward(m, l, bit, dinp, dout, inp, N, IC, OC);
}

/* Layer of a tensor name "h.N....", or -2 for wte/wpe, -3 for anything else (ln_f, heads). Adapters of the head
 * count as -3. */
static int gpt_tensor_layer(const char *name) {
    if (!strcmp(name, "wte.weight") || !strcmp(name, "wpe.weight")) return -2;
    if (name[0] == 'h' && name[1] == '.') return atoi(name + 2);
    return -3;
}

/* The lowest block the backward must visit so every trainable tensor gets its gradient: -1 when an embedding
 * trains (then the encoder backward runs too), L when no block tensor trains. */
static int gpt_backward_floor(const Gpt *m) {
    int L = m->cfg.n_layer, floor = L;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!m->tensors[i].trainable) continue;
        int l = gpt_tensor_layer(m->tensors[i].name);
        if (l == -2) return -1;
        if (l >= 0 && l < floor) floor = l;
    }
    return floor;
}

/* Gradient pointers of block l's tensors, NULL for frozen ones. */
static void gpt_layer_grads(const Gpt *m, int l, LayerPtrs *p) {
    int i = 2 + l * gpt_tensors_per_layer(&m->cfg);
    p->ln1w = gpt_gptr(m, i++);
    p->ln1b = gpt_gptr(m, i++);
    p->qkvw = gpt_gptr(m, i++);
    p->qkvb = m->cfg.qkv_bias ? gpt_gptr(m, i++) : NULL;
    p->attprojw = gpt_gptr(m, i++);
    p->attprojb = gpt_gptr(m, i++);
    p->ln2w = gpt_gptr(m, i++);
    p->ln2b = gpt_gptr(m, i++);
    p->fcw = gpt_gptr(m, i++);
    p->fcb = gpt_gptr(m, i++);
    p->fcprojw = gpt_gptr(m, i++);
    p->fcprojb = gpt_gptr(m, i++);
}

static void gpt_outer_grads(const Gpt *m, GptOuter *p) {
    int idx[7];
    gpt_outer_index(m, idx);
    float **f[7] = {&p->wte, &p->wpe, &p->lnfw, &p->lnfb, &p->head, &p->scorew, &p->scoreb};
    for (int k = 0; k < 7; k++) *f[k] = idx[k] >= 0 ? gpt_gptr(m, idx[k]) : NULL;
}

/* ---- one transformer block, shared by the batch forward and KV-cached decoding ---- */

/* Where block l reads and writes for N rows. The batch forward points these into the per-layer activations it
 * keeps for the backward; decoding points them at scratch and works in place (ln1 == ln2, fch == fchg,
 * x == res1 == res2). */
typedef struct GptBlockIO {
    const float *x;                   /* (N, C) block input */
    float *ln1, *ln1_mean, *ln1_rstd; /* (N, C), (N), (N) */
    float *qkv;                       /* (N, 3C) */
    float *atty;                      /* (N, C) attention output before c_proj */
    float *res1;                      /* (N, C) residual after the attention branch */
    float *ln2, *ln2_mean, *ln2_rstd; /* (N, C), (N), (N) */
    float *fch, *fchg;                /* (N, 4C) before and after GELU */
    float *res2;                      /* (N, C) block output */
    float *tmp;                       /* (N, C) projection output */
    float *xa;                        /* LoRA x A scratch (N * r), NULL: the activation slots the backward reads */
    uint8_t *mask_ra, *mask_rm;       /* (N, C) residual dropout masks drawn here from r; NULL: no dropout */
    float p;                          /* dropout rate */
    Rng *r;
    int threaded;                     /* LayerNorm and GELU split over threads (batch) or not (decoding) */
} GptBlockIO;

/* The attention of block l: atty (N, C) from qkv (N, 3C); causal over a batch, or against the KV cache. */
typedef void (*GptAttnFn)(void *ctx, int l, const float *qkv, float *atty);

static void gpt_block_layernorm(const GptBlockIO *io, float *out, float *mean, float *rstd, const float *inp,
                                const float *w, const float *b, int N, int C) {
    if (io->threaded) gpt_layernorm(out, mean, rstd, inp, w, b, N, C);
    else layernorm_forward(out, mean, rstd, inp, w, b, N, C);
}

/* x -> res1 = x + drop(attproj(attention(c_attn(ln_1(x))))) -> res2 = res1 + drop(fcproj(gelu(fc(ln_2(res1))))).
 * Dropout masks are drawn in the order attention (by attn), attention residual, MLP residual. */
static void gpt_block_forward(const Gpt *m, int l, int N, const GptBlockIO *io, GptAttnFn attn, void *ctx) {
    LayerPtrs w;
    gpt_layer_ptrs(m, m->params, l, &w);
    int C = m->cfg.d_model;
    size_t NC = (size_t)N * C;
    gpt_block_layernorm(io, io->ln1, io->ln1_mean, io->ln1_rstd, io->x, w.ln1w, w.ln1b, N, C);
    gpt_linear_forward(m, l, GPT_LORA_ATTN, io->qkv, io->ln1, w.qkvw, w.qkvb, N, C, 3 * C, io->xa);
    attn(ctx, l, io->qkv, io->atty);
    gpt_linear_forward(m, l, GPT_LORA_PROJ, io->tmp, io->atty, w.attprojw, w.attprojb, N, C, C, io->xa);
    if (io->mask_ra) {
        dropout_mask(io->mask_ra, NC, io->p, io->r);
        dropout_forward(io->tmp, io->tmp, io->mask_ra, NC, io->p);
    }
    residual_forward(io->res1, io->x, io->tmp, NC);
    gpt_block_layernorm(io, io->ln2, io->ln2_mean, io->ln2_rstd, io->res1, w.ln2w, w.ln2b, N, C);
    gpt_linear_forward(m, l, GPT_LORA_FC, io->fch, io->ln2, w.fcw, w.fcb, N, C, 4 * C, io->xa);
    if (io->threaded) gpt_gelu(io->fchg, io->fch, NULL, NC * 4);
    else gelu_forward(io->fchg, io->fch, NC * 4);
    gpt_linear_forward(m, l, GPT_LORA_FCPROJ, io->tmp, io->fchg, w.fcprojw, w.fcprojb, N, 4 * C, C, io->xa);
    if (io->mask_rm) {
        dropout_mask(io->mask_rm, NC, io->p, io->r);
        dropout_forward(io->tmp, io->tmp, io->mask_rm, NC, io->p);
    }
    residual_forward(io->res2, io->res1, io->tmp, NC);
}

/* ---- forward ---- */

/* Self-attention over the batch (causal, or bidirectional for model.attention), keeping the weights (and the
 * dropout mask) for the backward. */
typedef struct GptBatchAttn {
    const Gpt *m;
    GptActs *a;
    int B, T, NH, C, drop;
    float p;
    Rng *r;
} GptBatchAttn;

static void gpt_batch_attention(void *ctx, int l, const float *qkv, float *atty) {
    GptBatchAttn *b = ctx;
    size_t BTT = (size_t)b->B * b->NH * b->T * b->T;
    float *att = b->a->att + (size_t)l * BTT;
    uint8_t *matt = b->drop ? b->a->mask_att + (size_t)l * BTT : NULL;
    if (b->drop) dropout_mask(matt, BTT, b->p, b->r);
    gpt_attention_forward(b->m, atty, att, qkv, matt, b->p, b->a->att_scratch, b->a->att_parts, b->B, b->T);
}

/* Embedding and blocks; returns the final residual (B, T, C) (before ln_f). */
static const float *gpt_forward_body(Gpt *m, const int *inputs, int B, int T, int training, Rng *r) {
    GptActs *a = m->acts;
    LW_ASSERT(a && B > 0 && T > 0 && B <= a->maxB && T <= a->maxT);
    LW_ASSERT(a->lora_rank == m->lora_rank && a->n_classes == m->n_classes); /* reserve after finetuning setup */
    const GptConfig *c = &m->cfg;
    int L = c->n_layer, C = c->d_model, V = c->vocab_size, NH = c->n_head;
    size_t BT = (size_t)B * T;
    float p = c->dropout;
    int drop = training && p > 0.0f;
    LW_ASSERT(!drop || (r && a->mask_emb));
    for (size_t i = 0; i < BT; i++) LW_ASSERT(inputs[i] >= 0 && inputs[i] < V);
    memcpy(a->inputs, inputs, BT * sizeof(int));
    a->B = B;
    a->T = T;
    a->dropped = drop;
    a->has_targets = 0;
    a->classify = 0;

    float *P = m->params;
    GptOuter w0;
    gpt_outer_ptrs(m, P, &w0);
    encoder_forward(a->encoded, inputs, w0.wte, w0.wpe, B, T, C);
    if (drop) {
        dropout_mask(a->mask_emb, BT * C, p, r);
        dropout_forward(a->encoded, a->encoded, a->mask_emb, BT * C, p);
    }
    const float *x = a->encoded;
    GptBatchAttn ctx = {.m = m, .a = a, .B = B, .T = T, .NH = NH, .C = C, .drop = drop, .p = p, .r = r};
    for (int l = 0; l < L; l++) {
        size_t o1 = (size_t)l * BT, oc = o1 * C;
        GptBlockIO io = {.x = x, .ln1 = a->ln1 + oc, .ln1_mean = a->ln1_mean + o1, .ln1_rstd = a->ln1_rstd + o1,
                         .qkv = a->qkv + oc * 3, .atty = a->atty + oc, .res1 = a->res1 + oc, .ln2 = a->ln2 + oc,
                         .ln2_mean = a->ln2_mean + o1, .ln2_rstd = a->ln2_rstd + o1, .fch = a->fch + oc * 4,
                         .fchg = a->fch_gelu + oc * 4, .res2 = a->res2 + oc, .tmp = a->tmp, .xa = NULL,
                         .mask_ra = drop ? a->mask_ra + oc : NULL, .mask_rm = drop ? a->mask_rm + oc : NULL,
                         .p = p, .r = r, .threaded = 1};
        gpt_block_forward(m, l, (int)BT, &io, gpt_batch_attention, &ctx);
        x = io.res2;
    }
    return x;
}

float gpt_forward(Gpt *m, const int *inputs, const int *targets, int B, int T, int training, Rng *r) {
    const float *x = gpt_forward_body(m, inputs, B, T, training, r);
    GptActs *a = m->acts;
    const GptConfig *c = &m->cfg;
    int C = c->d_model, V = c->vocab_size;
    size_t BT = (size_t)B * T;
    float *P = m->params;
    GptOuter w;
    gpt_outer_ptrs(m, P, &w);
    gpt_layernorm(a->lnf, a->lnf_mean, a->lnf_rstd, x, w.lnfw, w.lnfb, (int)BT, C);
    matmul_forward_nt(a->logits, a->lnf, w.head, (int)BT, C, V);
    if (!m->n_classes) gpt_lora_forward(m, -1, GPT_LORA_HEAD, a->logits, a->lnf, (int)BT, C, V, NULL);
    a->has_targets = targets != NULL;
    if (!targets) {
        m->loss = -1.0f;
        m->n_loss_tokens = 0;
        return -1.0f;
    }
    memcpy(a->targets, targets, BT * sizeof(int));
    CeJob ce = {.logits = a->logits, .lse = a->lse, .targets = a->targets, .V = V};
    int parts = gpt_parallel(BT, 8, gpt_ce_part, &ce);
    int count = 0;
    double total = 0.0;
    for (int t = 0; t < parts; t++) {
        total += ce.total[t];
        count += ce.count[t];
    }
    a->n_count = count;
    m->n_loss_tokens = count;
    m->loss = count > 0 ? (float)(total / count) : 0.0f;
    return m->loss;
}

float gpt_forward_classify(Gpt *m, const int *inputs, const int *last, const int *labels, int B, int T,
                           int training, Rng *r) {
    LW_ASSERT(m->n_classes > 0);
    const float *x = gpt_forward_body(m, inputs, B, T, training, r);
    GptActs *a = m->acts;
    int C = m->cfg.d_model, NC = m->n_classes;
    float *P = m->params;
    GptOuter w;
    gpt_outer_ptrs(m, P, &w);
    for (int b = 0; b < B; b++) {
        LW_ASSERT(last[b] >= 0 && last[b] < T);
        a->cls_last[b] = last[b];
        layernorm_forward(a->cls_ln + (size_t)b * C, a->cls_mean + b, a->cls_rstd + b,
                          x + ((size_t)b * T + (size_t)last[b]) * C, w.lnfw, w.lnfb, 1, C);
    }
    float *lg = a->cls_logits;
    matmul_forward_nt(lg, a->cls_ln, w.scorew, B, C, NC);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < NC; k++) lg[(size_t)b * NC + k] += w.scoreb[k];
    gpt_lora_forward(m, -1, GPT_LORA_HEAD, lg, a->cls_ln, B, C, NC, NULL);
    a->classify = 1;
    if (!labels) {
        m->loss = -1.0f;
        m->n_loss_tokens = 0;
        return -1.0f;
    }
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        LW_ASSERT(labels[b] >= 0 && labels[b] < NC);
        a->cls_labels[b] = labels[b];
        const float *row = lg + (size_t)b * NC;
        float mx = row[0];
        for (int k = 1; k < NC; k++) mx = row[k] > mx ? row[k] : mx;
        double se = 0.0;
        for (int k = 0; k < NC; k++) se += exp((double)row[k] - mx);
        total += (double)mx + log(se) - row[labels[b]];
    }
    a->has_targets = 1;
    a->n_count = B;
    m->n_loss_tokens = B;
    m->loss = (float)(total / B);
    return m->loss;
}

/* ---- backward ---- */

/* dwte[inp] += dout, dwpe[t] += dout for whichever of the two is not NULL. */
static void gpt_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T, int C) {
    if (dwte && dwpe) {
        encoder_backward(dwte, dwpe, dout, inp, B, T, C);
        return;
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dst = dwte ? dwte + (size_t)inp[b * T + t] * C : dwpe ? dwpe + (size_t)t * C : NULL;
            if (!dst) return;
            for (int i = 0; i < C; i++) dst[i] += d[i];
        }
}

/* Blocks L-1 .. floor (and the encoder when floor is -1), from a->dres = d loss / d final residual. */
static void gpt_backward_body(Gpt *m, int floor) {
    GptActs *a = m->acts;
    const GptConfig *c = &m->cfg;
    int L = c->n_layer, C = c->d_model, NH = c->n_head, B = a->B, T = a->T;
    size_t BT = (size_t)B * T, TT = (size_t)T * T, BTC = BT * C;
    float p = c->dropout;
    int drop = a->dropped;
    float *P = m->params, *S = a->sink;

    for (int l = L - 1; l >= (floor < 0 ? 0 : floor); l--) {
        LayerPtrs w, dw;
        gpt_layer_ptrs(m, P, l, &w);
        gpt_layer_grads(m, l, &dw); /* NULL for frozen tensors: matmuls skip them, LayerNorm writes the sink */
        size_t o1 = (size_t)l * BT, oc = o1 * C;
        const float *x = l == 0 ? a->encoded : a->res2 + (size_t)(l - 1) * BTC;
        const float *ln1 = a->ln1 + oc, *qkv = a->qkv + oc * 3, *atty = a->atty + oc, *res1 = a->res1 + oc;
        const float *ln2 = a->ln2 + oc, *fch = a->fch + oc * 4, *fchg = a->fch_gelu + oc * 4;
        const float *att = a->att + (size_t)l * B * NH * TT;
        const uint8_t *matt = drop ? a->mask_att + (size_t)l * B * NH * TT : NULL;

        /* The gradients of this block, named for what they hold (GptActs' backward scratch, reused per block):
         * dresidual (B,T,C) d loss/d residual stream, d res2 on entry and d x on exit; dbranch (B,T,C) d of a
         * branch output before its dropout; dfchg (B,T,4C) d of the MLP hidden after GELU, then (in place) before;
         * dln2, dln1 (B,T,C) d of the LayerNorm outputs; datty (B,T,C) d attention output; dqkv (B,T,3C). */
        float *dresidual = a->dres, *dbranch = a->dtmp, *dfchg = a->dbig, *dln2 = a->dtmp2;
        float *datty = a->dtmp2, *dqkv = a->dqkv, *dln1 = a->dtmp;

        /* MLP branch: res2 = res1 + drop(fcproj(gelu(fc(ln2(res1))))) */
        const float *dproj = dresidual;
        if (drop) {
            memset(dbranch, 0, BTC * sizeof(float));
            dropout_backward(dbranch, dresidual, a->mask_rm + oc, BTC, p);
            dproj = dbranch;
        }
        memset(dfchg, 0, BT * 4 * C * sizeof(float));
        gpt_linear_backward(m, l, GPT_LORA_FCPROJ, dfchg, dw.fcprojw, dw.fcprojb, dproj, fchg, w.fcprojw, (int)BT,
                            4 * C, C);
        gpt_gelu_backward_inplace(dfchg, fch, BT * 4 * C); /* in place: dfchg now holds d of the hidden before GELU */
        const float *dfch = dfchg;
        memset(dln2, 0, BTC * sizeof(float));
        gpt_linear_backward(m, l, GPT_LORA_FC, dln2, dw.fcw, dw.fcb, dfch, ln2, w.fcw, (int)BT, C, 4 * C);
        gpt_layernorm_backward(dresidual, dw.ln2w ? dw.ln2w : S, dw.ln2b ? dw.ln2b : S, dln2, res1, w.ln2w,
                               a->ln2_mean + o1, a->ln2_rstd + o1, (int)BT, C);

        /* attention branch: res1 = x + drop(attproj(attention(qkv(ln1(x))))) */
        dproj = dresidual;
        if (drop) {
            memset(dbranch, 0, BTC * sizeof(float));
            dropout_backward(dbranch, dresidual, a->mask_ra + oc, BTC, p);
            dproj = dbranch;
        }
        memset(datty, 0, BTC * sizeof(float));
        gpt_linear_backward(m, l, GPT_LORA_PROJ, datty, dw.attprojw, dw.attprojb, dproj, atty, w.attprojw, (int)BT,
                            C, C);
        memset(dqkv, 0, BT * 3 * C * sizeof(float));
        gpt_attention_backward(m, dqkv, datty, qkv, att, matt, p, a->att_scratch, a->att_parts, B, T);
        memset(dln1, 0, BTC * sizeof(float)); /* dbranch is consumed: dln1 takes its buffer */
        gpt_linear_backward(m, l, GPT_LORA_ATTN, dln1, dw.qkvw, dw.qkvb, dqkv, ln1, w.qkvw, (int)BT, C, 3 * C);
        gpt_layernorm_backward(dresidual, dw.ln1w ? dw.ln1w : S, dw.ln1b ? dw.ln1b : S, dln1, x, w.ln1w,
                               a->ln1_mean + o1, a->ln1_rstd + o1, (int)BT, C);

        if (m->grad_hook) m->grad_hook(m->grad_hook_ctx, l);
    }
    if (floor >= 0) return;
    const float *demb = a->dres;
    if (drop) {
        memset(a->dtmp, 0, BTC * sizeof(float));
        dropout_backward(a->dtmp, a->dres, a->mask_emb, BTC, p);
        demb = a->dtmp;
    }
    GptOuter dw0;
    gpt_outer_grads(m, &dw0);
    gpt_encoder_backward(dw0.wte, dw0.wpe, demb, a->inputs, B, T, C);
}

void gpt_backward(Gpt *m, float loss_scale) {
    GptActs *a = m->acts;
    LW_ASSERT(a && a->has_targets && !a->classify);
    a->has_targets = 0; /* the logits are consumed below: one backward per forward */
    m->grads_zero = 0;
    if (a->n_count == 0) return;
    const GptConfig *c = &m->cfg;
    int L = c->n_layer, C = c->d_model, V = c->vocab_size;
    size_t BT = (size_t)a->B * a->T, BTC = BT * C;
    float *P = m->params;
    int floor = gpt_backward_floor(m);
    GptOuter w, dw;
    gpt_outer_ptrs(m, P, &w);
    gpt_outer_grads(m, &dw);
    int lnf_train = dw.lnfw || dw.lnfb;

    /* LM head: dlogits in place, then dlnf = dlogits @ Wh, dWh += dlogits^T @ lnf */
    CeJob ce = {.logits = a->logits, .lse = a->lse, .targets = a->targets, .V = V,
                .dloss = loss_scale / (float)a->n_count, .backward = 1};
    gpt_parallel(BT, 8, gpt_ce_part, &ce);
    int below = floor < L || lnf_train; /* anything under the head to differentiate */
    memset(a->dtmp, 0, BTC * sizeof(float));
    matmul_backward_nt(below ? a->dtmp : NULL, dw.head, a->logits, a->lnf, w.head, (int)BT, C, V);
    if (!m->n_classes) gpt_lora_backward(m, -1, GPT_LORA_HEAD, below ? a->dtmp : NULL, a->logits, a->lnf, (int)BT, C, V);
    if (!below) return;
    const float *xL = a->res2 + (size_t)(L - 1) * BTC;
    memset(a->dres, 0, BTC * sizeof(float));
    gpt_layernorm_backward(a->dres, dw.lnfw ? dw.lnfw : a->sink, dw.lnfb ? dw.lnfb : a->sink, a->dtmp, xL, w.lnfw,
                           a->lnf_mean, a->lnf_rstd, (int)BT, C);
    if (m->grad_hook) m->grad_hook(m->grad_hook_ctx, L);
    gpt_backward_body(m, floor);
}

void gpt_backward_classify(Gpt *m, float loss_scale) {
    GptActs *a = m->acts;
    LW_ASSERT(a && a->has_targets && a->classify);
    a->has_targets = 0;
    m->grads_zero = 0;
    const GptConfig *c = &m->cfg;
    int L = c->n_layer, C = c->d_model, B = a->B, T = a->T, NC = m->n_classes;
    size_t BTC = (size_t)B * T * C;
    float *P = m->params;
    int floor = gpt_backward_floor(m);
    GptOuter w, dw;
    gpt_outer_ptrs(m, P, &w);
    gpt_outer_grads(m, &dw);
    int below = floor < L || dw.lnfw || dw.lnfb;

    /* dlogits = loss_scale/B (softmax - onehot) */
    float *dl = a->cls_dlogits;
    for (int b = 0; b < B; b++) {
        const float *row = a->cls_logits + (size_t)b * NC;
        float *d = dl + (size_t)b * NC;
        float mx = row[0];
        for (int k = 1; k < NC; k++) mx = row[k] > mx ? row[k] : mx;
        double se = 0.0;
        for (int k = 0; k < NC; k++) se += exp((double)row[k] - mx);
        for (int k = 0; k < NC; k++) {
            double pk = exp((double)row[k] - mx) / se;
            d[k] = (float)((pk - (k == a->cls_labels[b])) * (double)loss_scale / B);
        }
    }
    memset(a->cls_dln, 0, (size_t)B * C * sizeof(float));
    matmul_backward_nt(below ? a->cls_dln : NULL, dw.scorew, dl, a->cls_ln, w.scorew, B, C, NC);
    if (dw.scoreb)
        for (int b = 0; b < B; b++)
            for (int k = 0; k < NC; k++) dw.scoreb[k] += dl[(size_t)b * NC + k];
    gpt_lora_backward(m, -1, GPT_LORA_HEAD, below ? a->cls_dln : NULL, dl, a->cls_ln, B, C, NC);
    if (!below) return;
    /* ln_f at the selected positions only; every other position of dres stays 0 */
    const float *xL = a->res2 + (size_t)(L - 1) * BTC;
    memset(a->dres, 0, BTC * sizeof(float));
    for (int b = 0; b < B; b++) {
        size_t row = ((size_t)b * T + (size_t)a->cls_last[b]) * C;
        layernorm_backward(a->dres + row, dw.lnfw ? dw.lnfw : a->sink, dw.lnfb ? dw.lnfb : a->sink,
                           a->cls_dln + (size_t)b * C, xL + row, w.lnfw, a->cls_mean + b, a->cls_rstd + b, 1, C);
    }
    if (m->grad_hook) m->grad_hook(m->grad_hook_ctx, L);
    if (floor < L) gpt_backward_body(m, floor);
}

/* The optimizer's view of the model (optim.h): only trainable tensors' gradients are ever written (frozen ones
 * go to the sink or are skipped), so only those are cleared. */
static OptimTable gpt_optim(Gpt *m) {
    return (OptimTable){.tensors = m->tensors, .n_tensors = m->n_tensors, .n_params = m->n_params,
                        .params = m->params, .grads = m->grads, .m = m->adam_m, .v = m->adam_v,
                        .grads_zero = &m->grads_zero};
}

void gpt_zero_grad(Gpt *m) {
    OptimTable t = gpt_optim(m);
    optim_zero_grad(&t);
}

float gpt_grad_norm(const Gpt *m) {
    OptimTable t = gpt_optim((Gpt *)m); /* only read */
    return optim_grad_norm(&t);
}

void gpt_adamw_step(Gpt *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                    float grad_scale) {
    OptimTable o = gpt_optim(m);
    optim_adamw_step(&o, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
}

/* ---- finetuning setup: class head, trainable sets, LoRA ---- */

/* Grows the tensor table by n_new entries and params/grads/moments by extra floats (new floats zero), keeping every
 * value. Setup time only. */
static int gpt_grow(Gpt *m, int n_new, size_t extra, LwError *e) {
    size_t n = m->n_params + extra;
    float *blk[4] = {gpt_alloc_floats(n), gpt_alloc_floats(n), gpt_alloc_floats(n), gpt_alloc_floats(n)};
    float **old[4] = {&m->params, &m->grads, &m->adam_m, &m->adam_v};
    if (!blk[0] || !blk[1] || !blk[2] || !blk[3]) {
        for (int k = 0; k < 4; k++) free(blk[k]);
        return lw_fail(e, LW_ERR_NOMEM, "model: cannot allocate %zu MiB for finetuning parameters",
                       n * 16 / (1024 * 1024));
    }
    for (int k = 0; k < 4; k++) {
        memcpy(blk[k], *old[k], m->n_params * sizeof(float));
        memset(blk[k] + m->n_params, 0, extra * sizeof(float));
        free(*old[k]);
        *old[k] = blk[k];
    }
    GptTensor *t = lw_calloc((size_t)(m->n_tensors + n_new), sizeof(GptTensor));
    memcpy(t, m->tensors, (size_t)m->n_tensors * sizeof(GptTensor));
    free(m->tensors);
    m->tensors = t;
    return LW_OK;
}

/* Re-reserves the activations for the same (B, T) after the table changed (no-op before the first reserve). */
static int gpt_rereserve(Gpt *m, LwError *e) {
    if (!m->acts) return LW_OK;
    return gpt_reserve(m, m->acts->maxB, m->acts->maxT, e);
}

int gpt_add_class_head(Gpt *m, int n_classes, Rng *r, LwError *e) {
    if (n_classes < 2) return lw_fail(e, LW_ERR_INVALID, "model: a classification head needs >= 2 classes, got %d",
                                      n_classes);
    if (m->n_classes) return lw_fail(e, LW_ERR_INVALID, "model: the classification head was already added");
    if (m->lora_rank) return lw_fail(e, LW_ERR_INVALID, "model: add the classification head before enabling LoRA");
    int C = m->cfg.d_model;
    size_t off = m->n_params, extra = (size_t)n_classes * C + (size_t)n_classes;
    int rc = gpt_grow(m, 2, extra, e);
    if (rc) return rc;
    gpt_add_tensor(m, &off, "score.weight", 2, n_classes, C, 1);
    gpt_add_tensor(m, &off, "score.bias", 1, n_classes, 0, 0);
    m->tensors[m->n_tensors - 2].role = m->tensors[m->n_tensors - 1].role = GPT_ROLE_CLASS_HEAD;
    m->n_params = off;
    m->n_classes = n_classes;
    float *w = m->params + m->tensors[m->n_tensors - 2].offset;
    for (size_t i = 0; i < (size_t)n_classes * C; i++) w[i] = r ? 0.02f * rng_normal(r) : 0.0f;
    return gpt_rereserve(m, e);
}

static void gpt_set_one(Gpt *m, GptTensor *t, int on) {
    if (t->trainable && !on) memset(m->grads + t->offset, 0, t->numel * sizeof(float)); /* no stale gradients */
    t->trainable = on;
}

void gpt_set_trainable(Gpt *m, int mode, int last_blocks) {
    int L = m->cfg.n_layer;
    if (last_blocks < 0) last_blocks = 0;
    if (last_blocks > L) last_blocks = L;
    int head_lora = m->lora_rank && (m->lora_targets & GPT_LORA_HEAD);
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        int on;
        if (m->lora_rank) {
            on = t->role == GPT_ROLE_LORA || (t->role == GPT_ROLE_CLASS_HEAD && !head_lora);
        } else if (mode == GPT_TRAIN_ALL) {
            on = 1;
        } else {
            int is_head = m->n_classes ? t->role == GPT_ROLE_CLASS_HEAD
                                       : !strcmp(t->name, m->cfg.tie_embeddings ? "wte.weight" : "lm_head.weight");
            int layer = gpt_tensor_layer(t->name);
            on = is_head;
            if (mode == GPT_TRAIN_LAST_BLOCKS)
                on |= (layer >= L - last_blocks) || !strcmp(t->name, "ln_f.weight") || !strcmp(t->name, "ln_f.bias");
        }
        gpt_set_one(m, t, on);
    }
}

int gpt_lora_parse_targets(const char *targets, int *bits, LwError *e) {
    static const struct {
        const char *name;
        int bit;
    } NAMES[] = {{"attn", GPT_LORA_ATTN}, {"proj", GPT_LORA_PROJ}, {"fc", GPT_LORA_FC},
                 {"fcproj", GPT_LORA_FCPROJ}, {"head", GPT_LORA_HEAD}};
    *bits = 0;
    const char *p = targets ? targets : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        size_t n = strcspn(p, ", \t");
        int bit = 0;
        for (size_t k = 0; k < LW_ARRAY_LEN(NAMES); k++)
            if (strlen(NAMES[k].name) == n && !strncmp(p, NAMES[k].name, n)) bit = NAMES[k].bit;
        if (!bit)
            return lw_fail(e, LW_ERR_INVALID,
                           "lora targets: unknown target '%.*s' (expected attn, proj, fc, fcproj, head)", (int)n, p);
        *bits |= bit;
        p += n;
    }
    if (!*bits) return lw_fail(e, LW_ERR_INVALID, "lora targets: empty (expected attn, proj, fc, fcproj, head)");
    return LW_OK;
}

void gpt_lora_format_targets(int bits, char *out, size_t n) {
    static const char *const NAMES[] = {"attn", "proj", "fc", "fcproj", "head"};
    size_t k = 0;
    if (n) out[0] = '\0';
    for (int i = 0; i < 5 && k < n; i++)
        if (bits & (1 << i)) k += (size_t)snprintf(out + k, n - k, "%s%s", k ? "," : "", NAMES[i]);
}

/* (in, out) of block product `bit`, or of the head. */
static void gpt_lora_dims(const Gpt *m, int bit, int *in, int *out) {
    int C = m->cfg.d_model;
    *in = bit == GPT_LORA_FCPROJ ? 4 * C : C;
    *out = bit == GPT_LORA_ATTN ? 3 * C : bit == GPT_LORA_FC ? 4 * C : bit == GPT_LORA_HEAD
                                                                     ? (m->n_classes ? m->n_classes : m->cfg.vocab_size)
                                                                     : C;
}

static const char *gpt_lora_module(int bit) {
    return bit == GPT_LORA_ATTN ? "attn.c_attn" : bit == GPT_LORA_PROJ ? "attn.c_proj"
                                              : bit == GPT_LORA_FC     ? "mlp.c_fc"
                                                                       : "mlp.c_proj";
}

int gpt_enable_lora(Gpt *m, int rank, float alpha, const char *targets, Rng *r, LwError *e) {
    int bits, rc;
    if ((rc = gpt_lora_parse_targets(targets, &bits, e))) return rc;
    if (m->lora_rank) return lw_fail(e, LW_ERR_INVALID, "model: LoRA is already enabled");
    if (rank < 1 || rank > m->cfg.d_model)
        return lw_fail(e, LW_ERR_INVALID, "lora rank: %d is not in [1, d_model=%d]", rank, m->cfg.d_model);
    if (!(alpha > 0.0f)) return lw_fail(e, LW_ERR_INVALID, "lora alpha: %g must be > 0", (double)alpha);
    if ((bits & GPT_LORA_HEAD) && !m->n_classes && m->cfg.tie_embeddings)
        return lw_fail(e, LW_ERR_UNSUPPORTED,
                       "lora targets: 'head' on a tied LM head (wte) cannot be merged without changing the embedding; "
                       "untie it or drop 'head'");
    int L = m->cfg.n_layer, n_new = 0;
    size_t extra = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t off = m->n_params;
        if (pass == 1) {
            if ((rc = gpt_grow(m, n_new, extra, e))) return rc;
        }
        for (int l = 0; l <= L; l++) {
            for (int k = 0; k < 5; k++) {
                int bit = k < 4 ? LORA_BITS[k] : GPT_LORA_HEAD;
                if (!(bits & bit) || (l == L) != (bit == GPT_LORA_HEAD)) continue;
                int in, out;
                gpt_lora_dims(m, bit, &in, &out);
                if (pass == 0) {
                    n_new += 2;
                    extra += (size_t)rank * (size_t)(in + out);
                    continue;
                }
                char base[48], name[64];
                if (bit == GPT_LORA_HEAD) snprintf(base, sizeof base, "%s", m->n_classes ? "score" : "lm_head");
                else snprintf(base, sizeof base, "h.%d.%s", l, gpt_lora_module(bit));
                snprintf(name, sizeof name, "%s.lora_A", base);
                gpt_add_tensor(m, &off, name, 2, in, rank, 1);
                m->tensors[m->n_tensors - 1].role = GPT_ROLE_LORA;
                float *A = m->params + m->tensors[m->n_tensors - 1].offset, bound = 1.0f / sqrtf((float)rank);
                for (size_t i = 0; i < (size_t)in * rank; i++) A[i] = r ? bound * (2.0f * rng_uniform(r) - 1.0f) : 0.0f;
                snprintf(name, sizeof name, "%s.lora_B", base);
                gpt_add_tensor(m, &off, name, 2, rank, out, 1);
                m->tensors[m->n_tensors - 1].role = GPT_ROLE_LORA;
            }
        }
        if (pass == 1) m->n_params = off;
    }
    m->lora_rank = rank;
    m->lora_alpha = alpha;
    m->lora_targets = bits;
    gpt_set_trainable(m, GPT_TRAIN_ALL, 0);
    return gpt_rereserve(m, e);
}

/* The adapter of base tensor t: block l and product bit, or l = -1 for the head; 0 if t is not adaptable. */
static int gpt_lora_of(const Gpt *m, const GptTensor *t, int *l, int *bit) {
    if (t->role == GPT_ROLE_LORA || t->ndim != 2) return 0;
    if (!strcmp(t->name, m->n_classes ? "score.weight" : "lm_head.weight")) {
        *l = -1;
        *bit = GPT_LORA_HEAD;
        return 1;
    }
    int layer = gpt_tensor_layer(t->name);
    if (layer < 0) return 0;
    const char *dot = strchr(t->name + 2, '.');
    for (int k = 0; k < 4 && dot; k++) {
        char want[48];
        snprintf(want, sizeof want, ".%s.weight", gpt_lora_module(LORA_BITS[k]));
        if (!strcmp(dot, want)) {
            *l = layer;
            *bit = LORA_BITS[k];
            return 1;
        }
    }
    return 0;
}

int gpt_lora_add_delta(const Gpt *m, const GptTensor *t, float *w) {
    int l, bit;
    if (!gpt_lora_of(m, t, &l, &bit)) return 0;
    int ia = gpt_lora_index(m, l, bit);
    if (ia < 0) return 0;
    int in, out, R = m->lora_rank;
    gpt_lora_dims(m, bit, &in, &out);
    float s = m->lora_alpha / (float)R;
    const float *A = m->params + m->tensors[ia].offset, *Bm = m->params + m->tensors[ia + 1].offset;
    if (bit == GPT_LORA_HEAD) /* Linear layout (out, in): W += s (A B)^T = s B^T A^T */
        matmul_gemm(1, 1, out, in, R, s, Bm, out, A, R, 1.0f, w, in);
    else /* Conv1D layout (in, out) */
        matmul_gemm(0, 0, in, out, R, s, A, R, Bm, out, 1.0f, w, out);
    return 1;
}

void gpt_merge_lora(Gpt *m) {
    if (!m->lora_rank) return;
    for (int i = 0; i < m->n_tensors; i++) {
        GptTensor *t = &m->tensors[i];
        if (t->role != GPT_ROLE_LORA) gpt_lora_add_delta(m, t, m->params + t->offset);
    }
    int keep = 0;
    while (keep < m->n_tensors && m->tensors[keep].role != GPT_ROLE_LORA) keep++;
    if (keep < m->n_tensors) m->n_params = m->tensors[keep].offset; /* the adapters were the tail */
    m->n_tensors = keep;
    m->lora_rank = 0;
    m->lora_alpha = 0.0f;
    m->lora_targets = 0;
    gpt_set_trainable(m, GPT_TRAIN_ALL, 0);
    LwError e;
    gpt_rereserve(m, &e); /* smaller than before: only fails if memory is exhausted */
}

const float *gpt_residual(const Gpt *m, int l) {
    const GptActs *a = m->acts;
    if (!a || a->B == 0 || l < 0 || l > m->cfg.n_layer) return NULL;
    if (l == 0) return a->encoded;
    return a->res2 + (size_t)(l - 1) * a->B * a->T * m->cfg.d_model;
}

const float *gpt_attn_out(const Gpt *m, int l) {
    const GptActs *a = m->acts;
    if (!a || a->B == 0 || l < 0 || l >= m->cfg.n_layer) return NULL;
    return a->atty + (size_t)l * a->B * a->T * m->cfg.d_model;
}

const float *gpt_gelu_input(const Gpt *m, int l, size_t *n) {
    const GptActs *a = m->acts;
    *n = 0;
    if (!a || a->B == 0 || l < 1 || l > m->cfg.n_layer) return NULL;
    size_t bt4c = (size_t)a->B * a->T * 4 * m->cfg.d_model;
    *n = bt4c;
    return a->fch + (size_t)(l - 1) * bt4c;
}

/* ---- KV cache ---- */

struct GptKvCache {
    GptConfig cfg;
    int max_T, len;
    float *k, *v;                  /* (L, max_T, C) each */
    float *x, *ln, *qkv, *atty, *tmp, *fch; /* (max_T, C) / (max_T, 3C) / (max_T, 4C) scratch for n new tokens */
    float *scores;                 /* (max_T, max_T) */
    float *xa;                     /* (max_T, C): LoRA x A scratch (rank <= C) */
    float *mean, *rstd;            /* (max_T) */
};

GptKvCache *gpt_kv_open(const Gpt *m, int max_T) {
    const GptConfig *c = &m->cfg;
    if (max_T <= 0 || max_T > c->context_length) max_T = c->context_length;
    GptKvCache *kv = lw_calloc(1, sizeof *kv);
    kv->cfg = *c;
    kv->max_T = max_T;
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, T = (size_t)max_T;
    kv->k = lw_malloc(L * T * C * sizeof(float));
    kv->v = lw_malloc(L * T * C * sizeof(float));
    kv->x = lw_malloc(T * C * sizeof(float));
    kv->ln = lw_malloc(T * C * sizeof(float));
    kv->qkv = lw_malloc(T * 3 * C * sizeof(float));
    kv->atty = lw_malloc(T * C * sizeof(float));
    kv->tmp = lw_malloc(T * C * sizeof(float));
    kv->fch = lw_malloc(T * 4 * C * sizeof(float));
    kv->scores = lw_malloc(T * T * sizeof(float));
    kv->xa = lw_malloc(T * C * sizeof(float));
    kv->mean = lw_malloc(T * sizeof(float));
    kv->rstd = lw_malloc(T * sizeof(float));
    return kv;
}

void gpt_kv_close(GptKvCache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->x);
    free(kv->ln);
    free(kv->qkv);
    free(kv->atty);
    free(kv->tmp);
    free(kv->fch);
    free(kv->scores);
    free(kv->xa);
    free(kv->mean);
    free(kv->rstd);
    free(kv);
}

void gpt_kv_reset(GptKvCache *kv) { kv->len = 0; }

int gpt_kv_len(const GptKvCache *kv) { return kv->len; }

/* Attention of n new tokens against the cache: their keys and values are appended at positions p0..p0+n-1,
 * and row i attends to keys 0..p0+i. */
typedef struct GptKvAttn {
    GptKvCache *kv;
    int p0, n, NH, C;
    float scale;
} GptKvAttn;

static void gpt_kv_attention(void *ctx, int l, const float *qkv, float *atty) {
    GptKvAttn *c = ctx;
    GptKvCache *kv = c->kv;
    int n = c->n, p0 = c->p0, C = c->C, C3 = 3 * C, NH = c->NH, HS = C / NH, S = p0 + n; /* keys 0..S-1 */
    float *kc = kv->k + (size_t)l * kv->max_T * C, *vc = kv->v + (size_t)l * kv->max_T * C;
    for (int i = 0; i < n; i++) {
        memcpy(kc + (size_t)(p0 + i) * C, qkv + (size_t)i * C3 + C, (size_t)C * sizeof(float));
        memcpy(vc + (size_t)(p0 + i) * C, qkv + (size_t)i * C3 + 2 * C, (size_t)C * sizeof(float));
    }
    for (int h = 0; h < NH; h++) {
        /* scores (n, S) = q_h k_h^T * scale; row i sees keys 0..p0+i */
        matmul_gemm(0, 1, n, S, HS, c->scale, qkv + (size_t)h * HS, C3, kc + (size_t)h * HS, C, 0.0f, kv->scores, S);
        for (int i = 0; i < n; i++) {
            float *row = kv->scores + (size_t)i * S;
            int last = p0 + i;
            float mx = row[0];
            for (int j = 1; j <= last; j++) mx = row[j] > mx ? row[j] : mx;
            float s = 0.0f;
            for (int j = 0; j <= last; j++) {
                row[j] = expf(row[j] - mx);
                s += row[j];
            }
            float inv = 1.0f / s;
            for (int j = 0; j <= last; j++) row[j] *= inv;
            for (int j = last + 1; j < S; j++) row[j] = 0.0f;
        }
        matmul_gemm(0, 0, n, HS, S, 1.0f, kv->scores, S, vc + (size_t)h * HS, C, 0.0f, atty + (size_t)h * HS, C);
    }
}

int gpt_kv_forward(Gpt *m, GptKvCache *kv, const int *tokens, int n, float *out_logits) {
    const GptConfig *c = &m->cfg;
    LW_ASSERT(kv->cfg.n_layer == c->n_layer && kv->cfg.d_model == c->d_model && n > 0);
    if (kv->len + n > kv->max_T) return 1;
    int L = c->n_layer, C = c->d_model, V = c->vocab_size, NH = c->n_head, HS = C / NH;
    int p0 = kv->len, S = p0 + n; /* keys 0..S-1 */
    float scale = 1.0f / sqrtf((float)HS);
    float *P = m->params;
    GptOuter w0;
    gpt_outer_ptrs(m, P, &w0);
    const float *wte = w0.wte, *wpe = w0.wpe;
    for (int i = 0; i < n; i++) {
        LW_ASSERT(tokens[i] >= 0 && tokens[i] < V);
        for (int j = 0; j < C; j++)
            kv->x[(size_t)i * C + j] = wte[(size_t)tokens[i] * C + j] + wpe[(size_t)(p0 + i) * C + j];
    }
    GptKvAttn ctx = {.kv = kv, .p0 = p0, .n = n, .NH = NH, .C = C, .scale = scale};
    for (int l = 0; l < L; l++) {
        GptBlockIO io = {.x = kv->x, .ln1 = kv->ln, .ln1_mean = kv->mean, .ln1_rstd = kv->rstd, .qkv = kv->qkv,
                         .atty = kv->atty, .res1 = kv->x, .ln2 = kv->ln, .ln2_mean = kv->mean, .ln2_rstd = kv->rstd,
                         .fch = kv->fch, .fchg = kv->fch, .res2 = kv->x, .tmp = kv->tmp, .xa = kv->xa,
                         .threaded = 0};
        gpt_block_forward(m, l, n, &io, gpt_kv_attention, &ctx);
    }
    const float *last = kv->x + (size_t)(n - 1) * C;
    layernorm_forward(kv->ln, kv->mean, kv->rstd, last, w0.lnfw, w0.lnfb, 1, C);
    matmul_forward_nt(out_logits, kv->ln, w0.head, 1, C, V);
    if (!m->n_classes) gpt_lora_forward(m, -1, GPT_LORA_HEAD, out_logits, kv->ln, 1, C, V, kv->xa);
    kv->len = S;
    return 0;
}
