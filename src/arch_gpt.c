/* arch_gpt.c — GPT-2 (the book's GPTModel, model.c) behind the architecture table (arch.h).
 * A thin adapter: model.c holds the math, checkpoint.c the Hugging Face GPT-2 directory layout. The handle is a
 * GptModel, which remembers which head the last forward computed so backward and the output getters pick the
 * matching one. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "checkpoint.h"
#include "layers.h"
#include "matmul.h"
#include "model.h"

_Static_assert(ARCH_IGNORE_INDEX == GPT_IGNORE_INDEX, "one ignore index");

typedef struct GptModel {
    Gpt gpt;                /* first: a handle is also a Gpt * (tests/test_inspect.c loads reference weights so) */
    ArchHead head;          /* of the last forward */
} GptModel;
_Static_assert(offsetof(GptModel, gpt) == 0, "a handle is a Gpt *");

static GptConfig gpt_config_of(const ModelCfg *mc, int vocab) {
    GptConfig gc = {.n_layer = mc->n_layer, .n_head = mc->n_head, .d_model = mc->d_model,
                    .context_length = mc->context_length, .vocab_size = vocab, .dropout = mc->dropout,
                    .qkv_bias = mc->qkv_bias, .tie_embeddings = mc->tie_embeddings,
                    .bidirectional = mc->attention == ATTN_BIDIRECTIONAL};
    return gc;
}

static int gpt_op_create(void **out, const ModelCfg *mc, int vocab_size, LwError *e) {
    GptModel *w = lw_calloc(1, sizeof *w);
    GptConfig gc = gpt_config_of(mc, vocab_size);
    int rc = gpt_init(&w->gpt, &gc, e);
    if (rc) {
        free(w);
        *out = NULL;
        return rc;
    }
    *out = w;
    return LW_OK;
}

static void gpt_op_init_weights(void *m, Rng *r) { gpt_init_weights(&((GptModel *)m)->gpt, r); }

static void gpt_op_destroy(void *m) {
    if (!m) return;
    gpt_free(&((GptModel *)m)->gpt);
    free(m);
}

static int gpt_op_reserve(void *m, int B, int T, int S, LwError *e) {
    (void)S;
    return gpt_reserve(&((GptModel *)m)->gpt, B, T, e);
}

static void gpt_op_info(const void *m, ArchInfo *o) {
    const Gpt *g = &((const GptModel *)m)->gpt;
    size_t n_train = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].trainable) n_train += g->tensors[i].numel;
    *o = (ArchInfo){.n_params = g->n_params, .n_trainable = n_train, .vocab_size = g->cfg.vocab_size, .n_layer = g->cfg.n_layer,
                    .n_head = g->cfg.n_head, .d_model = g->cfg.d_model, .context_length = g->cfg.context_length,
                    .n_classes = g->n_classes, .lora_rank = g->lora_rank, .causal = !g->cfg.bidirectional,
                    .n_source = 0};
}

static void gpt_op_set_dropout(void *m, float p) { ((GptModel *)m)->gpt.cfg.dropout = p; }

static void gpt_op_to_config(const void *m, ModelCfg *o) {
    const GptConfig *c = &((const GptModel *)m)->gpt.cfg;
    o->n_layer = c->n_layer;
    o->n_head = c->n_head;
    o->d_model = c->d_model;
    o->context_length = c->context_length;
    o->vocab_size = c->vocab_size;
    o->qkv_bias = c->qkv_bias;
    o->tie_embeddings = c->tie_embeddings;
    o->attention = c->bidirectional ? ATTN_BIDIRECTIONAL : ATTN_CAUSAL;
}

static int gpt_op_save(const void *m, const char *dir, const Tokenizer *tok, const TrainState *st,
                       const char *config_yaml, int flags, LwError *e) {
    return ckpt_save_ex(dir, &((const GptModel *)m)->gpt, tok, st, config_yaml, flags, e);
}

static int gpt_op_load(void **m, const char *dir, Tokenizer **tok, TrainState *st, int flags, LwError *e) {
    if (*m) return ckpt_load_ex(dir, &((GptModel *)*m)->gpt, tok, st, NULL, flags, e);
    GptConfig gc;
    int rc = ckpt_read_config(dir, &gc, e);
    if (rc) return rc;
    GptModel *w = lw_calloc(1, sizeof *w);
    *m = w; /* the caller destroys it, also on failure */
    return ckpt_load_ex(dir, &w->gpt, tok, st, NULL, flags, e);
}

static float gpt_op_forward(void *m, const ArchBatch *b, int training, Rng *r) {
    GptModel *w = m;
    LW_ASSERT(!b->src);
    w->head = b->head;
    if (b->head == ARCH_HEAD_CLASS)
        return gpt_forward_classify(&w->gpt, b->inputs, b->pool, b->labels, b->B, b->T, training, r);
    return gpt_forward(&w->gpt, b->inputs, b->targets, b->B, b->T, training, r);
}

static void gpt_op_backward(void *m, float loss_scale) {
    GptModel *w = m;
    if (w->head == ARCH_HEAD_CLASS) gpt_backward_classify(&w->gpt, loss_scale);
    else gpt_backward(&w->gpt, loss_scale);
}

static const float *gpt_op_logits(const void *m) {
    const GptModel *w = m;
    return w->head == ARCH_HEAD_LM ? w->gpt.logits : NULL;
}

static const float *gpt_op_class_logits(const void *m) {
    const GptModel *w = m;
    return w->head == ARCH_HEAD_CLASS ? w->gpt.class_logits : NULL;
}

static void gpt_op_zero_grad(void *m) { gpt_zero_grad(&((GptModel *)m)->gpt); }
static float gpt_op_grad_norm(const void *m) { return gpt_grad_norm(&((const GptModel *)m)->gpt); }

static void gpt_op_adamw_step(void *m, const ArchAdamW *p) {
    gpt_adamw_step(&((GptModel *)m)->gpt, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->t, p->grad_scale);
}

static void gpt_op_params(void *m, ArchParams *o) {
    Gpt *g = &((GptModel *)m)->gpt;
    *o = (ArchParams){.tensors = g->tensors, .n_tensors = g->n_tensors, .params = g->params, .grads = g->grads,
                      .n_params = g->n_params};
}

/* Block l's tensors and adapters ("h.l.") are final after block l's backward; the embeddings (wte is also a tied
 * head) when the backward returns; everything else (ln_f, lm_head, the class head, the head's adapter) first. */
static int gpt_op_grad_stage(const void *m, int i) {
    const Gpt *g = &((const GptModel *)m)->gpt;
    const char *name = g->tensors[i].name;
    if (!strcmp(name, "wte.weight") || !strcmp(name, "wpe.weight")) return -1;
    if (name[0] == 'h' && name[1] == '.') return atoi(name + 2);
    return g->cfg.n_layer;
}

static void gpt_op_set_grad_hook(void *m, ArchGradHook fn, void *ctx) {
    Gpt *g = &((GptModel *)m)->gpt;
    g->grad_hook = fn;
    g->grad_hook_ctx = ctx;
}

/* Causal attention: the last real token has seen the whole row (the book's classifier reads it). */
static int gpt_op_pool_position(const void *m, int len) {
    (void)m;
    return len - 1;
}

static int gpt_op_add_class_head(void *m, int n_classes, Rng *r, LwError *e) {
    return gpt_add_class_head(&((GptModel *)m)->gpt, n_classes, r, e);
}

static void gpt_op_set_trainable(void *m, int mode, int last_blocks) {
    gpt_set_trainable(&((GptModel *)m)->gpt, mode, last_blocks);
}

static int gpt_op_enable_lora(void *m, int rank, float alpha, const char *targets, Rng *r, LwError *e) {
    return gpt_enable_lora(&((GptModel *)m)->gpt, rank, alpha, targets, r, e);
}

static const float *gpt_probe_residual(const void *m, int l) { return gpt_residual(m, l); }
static const float *gpt_probe_gelu(const void *m, int l, size_t *n) { return gpt_gelu_input(m, l, n); }

static void gpt_op_probe(void *mm, const ArchBatch *b, ProbeSnapshot *p) {
    GptModel *w = mm;
    LW_ASSERT(b->B == 1 && !b->src);
    Gpt *m = &w->gpt;
    gpt_forward(m, b->inputs, NULL, 1, b->T, 0, NULL);
    w->head = ARCH_HEAD_LM;
    /* m->att is (L, B, NH, T, T) with B = 1 */
    arch_probe_fill(p, &(ArchProbeFill){.att = m->att, .wte = m->params + gpt_find(m, "wte.weight")->offset,
                                        .wpe = m->params + gpt_find(m, "wpe.weight")->offset, .ids = b->inputs,
                                        .T = b->T, .L = m->cfg.n_layer, .NH = m->cfg.n_head, .C = m->cfg.d_model,
                                        .residual = gpt_probe_residual, .m = m, .logits = m->logits,
                                        .n_logits = (size_t)b->T * m->cfg.vocab_size, .gelu_input = gpt_probe_gelu});
}

static const float *gpt_op_token_embedding(const void *m) {
    const Gpt *g = &((const GptModel *)m)->gpt;
    return g->params + gpt_find(g, "wte.weight")->offset;
}

static void *gpt_op_decode_open(const void *m, int max_T) { return gpt_kv_open(&((const GptModel *)m)->gpt, max_T); }
static void gpt_op_decode_close(void *kv) { gpt_kv_close(kv); }
static void gpt_op_decode_reset(void *kv) { gpt_kv_reset(kv); }
static int gpt_op_decode_len(const void *kv) { return gpt_kv_len(kv); }

static int gpt_op_decode_step(void *m, void *kv, const int *tokens, int n, float *logits) {
    return gpt_kv_forward(&((GptModel *)m)->gpt, kv, tokens, n, logits);
}

/* The logit lens: ln_f, then the LM head, on the residual stream after layer l of row 0 (T positions). */
static void gpt_op_lens_logits(void *mm, int l, int T, float *out) {
    Gpt *m = &((GptModel *)mm)->gpt;
    int C = m->cfg.d_model, V = m->cfg.vocab_size;
    const float *r = gpt_residual(m, l);
    LW_ASSERT(r && T >= 1 && T <= m->T);
    const GptTensor *lnw = gpt_find(m, "ln_f.weight"), *lnb = gpt_find(m, "ln_f.bias");
    const GptTensor *head = gpt_find(m, m->cfg.tie_embeddings ? "wte.weight" : "lm_head.weight");
    float *ln = lw_malloc((size_t)T * C * sizeof(float)), *stat = lw_malloc(2 * (size_t)T * sizeof(float));
    layernorm_forward(ln, stat, stat + T, r, m->params + lnw->offset, m->params + lnb->offset, T, C);
    matmul_forward_nt(out, ln, m->params + head->offset, T, C, V);
    free(ln);
    free(stat);
}

/* Zeroing head h's rows of c_proj's weight (Conv1D (in, out): rows h*HS.. take that head's context vector), and
 * of its LoRA A (in, r) when c_proj has an adapter, is zeroing the head's output before the projection; the rows
 * are kept aside and put back after the forward. Mean ablation zeroes the same rows and adds to c_proj's bias what
 * they made of the head's mean context vector over b (a first, plain forward gives it): through the weight,
 * mean . W[rows], and through the adapter, s * (mean . A[rows]) . B. */
static float gpt_op_forward_ablated(void *mm, const ArchBatch *b, const unsigned char *knock) {
    GptModel *w = mm;
    Gpt *m = &w->gpt;
    int L = m->cfg.n_layer, NH = m->cfg.n_head, C = m->cfg.d_model, HS = C / NH;
    LW_ASSERT(b->head == ARCH_HEAD_LM && b->targets && !b->src);
    w->head = ARCH_HEAD_LM;
    float *mean = NULL, *bias_kept = NULL; /* (L, NH, HS) mean context vectors; (L, C) c_proj biases */
    for (int i = 0; i < L * NH && !mean; i++)
        if (knock[i] == ARCH_KNOCK_MEAN) {
            mean = lw_calloc((size_t)L * C, sizeof(float));
            bias_kept = lw_malloc((size_t)L * C * sizeof(float));
        }
    if (mean) {
        gpt_forward(m, b->inputs, b->targets, b->B, b->T, 0, NULL);
        size_t N = (size_t)b->B * b->T;
        for (int l = 0; l < L; l++) {
            const float *y = gpt_attn_out(m, l);
            for (size_t n = 0; n < N; n++)
                for (int c = 0; c < C; c++) mean[(size_t)l * C + c] += y[n * C + c];
            for (int c = 0; c < C; c++) mean[(size_t)l * C + c] /= (float)N;
        }
    }
    size_t kept = 0;
    float *save = NULL;
    for (int pass = 0; pass < 2; pass++) { /* pass 0: save and zero (and move the means into the bias); 1: restore */
        size_t at = 0;
        for (int l = 0; l < L; l++) {
            char name[64];
            float *bias = NULL;
            int means = 0;
            for (int h = 0; h < NH; h++) means |= knock[l * NH + h] == ARCH_KNOCK_MEAN;
            if (means) {
                snprintf(name, sizeof name, "h.%d.attn.c_proj.bias", l);
                const GptTensor *bt = gpt_find(m, name);
                LW_ASSERT(bt);
                bias = m->params + bt->offset;
                if (pass == 0) memcpy(bias_kept + (size_t)l * C, bias, (size_t)C * sizeof(float));
                else memcpy(bias, bias_kept + (size_t)l * C, (size_t)C * sizeof(float));
            }
            for (int k = 0; k < 2; k++) {
                snprintf(name, sizeof name, k ? "h.%d.attn.c_proj.lora_A" : "h.%d.attn.c_proj.weight", l);
                const GptTensor *t = gpt_find(m, name);
                if (!t) continue;
                const GptTensor *lb = NULL;
                if (k) {
                    snprintf(name, sizeof name, "h.%d.attn.c_proj.lora_B", l);
                    lb = gpt_find(m, name);
                    LW_ASSERT(lb && m->lora_rank > 0);
                }
                size_t cols = (size_t)t->shape[1];
                for (int h = 0; h < NH; h++) {
                    if (!knock[l * NH + h]) continue;
                    float *rows = m->params + t->offset + (size_t)h * HS * cols;
                    size_t n = (size_t)HS * cols;
                    if (pass == 0) {
                        if (knock[l * NH + h] == ARCH_KNOCK_MEAN) { /* what the rows made of the mean, into the bias */
                            const float *mu = mean + (size_t)l * C + (size_t)h * HS;
                            float *u = lw_calloc(cols, sizeof(float)); /* mu . rows: (C) or, through A, (r) */
                            for (int i = 0; i < HS; i++)
                                for (size_t c = 0; c < cols; c++) u[c] += mu[i] * rows[(size_t)i * cols + c];
                            if (!k) {
                                for (int c = 0; c < C; c++) bias[c] += u[c];
                            } else {
                                const float *B = m->params + lb->offset; /* (r, C) */
                                float s = m->lora_alpha / (float)m->lora_rank;
                                for (size_t j = 0; j < cols; j++)
                                    for (int c = 0; c < C; c++) bias[c] += s * u[j] * B[j * (size_t)C + c];
                            }
                            free(u);
                        }
                        if (at + n > kept) save = lw_realloc(save, (kept = 2 * (at + n)) * sizeof(float));
                        memcpy(save + at, rows, n * sizeof(float));
                        memset(rows, 0, n * sizeof(float));
                    } else {
                        memcpy(rows, save + at, n * sizeof(float));
                    }
                    at += n;
                }
            }
        }
        if (pass == 0) m->loss = gpt_forward(m, b->inputs, b->targets, b->B, b->T, 0, NULL);
    }
    free(save);
    free(mean);
    free(bias_kept);
    return m->loss;
}

/* The group of a tensor for layer_health: 0 embeddings, 1 + N for "h.N....", L + 1 for ln_f and the heads. */
static int gpt_health_group(const GptTensor *t, int L) {
    if (!strncmp(t->name, "h.", 2)) return 1 + atoi(t->name + 2);
    if (!strcmp(t->name, "wte.weight") || !strcmp(t->name, "wpe.weight")) return 0;
    return L + 1;
}

/* The AdamW step of gpt_adamw_step, computed without applying it: w' = w (1 - lr wd) - step_size m'/(sqrt(v')/bc2 +
 * eps), so the change is w' - w. */
static void gpt_op_layer_health(const void *mm, const ArchAdamW *p, double *grad2, double *weight2, double *update2) {
    const Gpt *m = &((const GptModel *)mm)->gpt;
    int L = m->cfg.n_layer;
    for (int k = 0; k < L + 2; k++) grad2[k] = weight2[k] = update2[k] = 0;
    double step_size = p->lr / (1.0 - pow((double)p->beta1, p->t)), bc2 = sqrt(1.0 - pow((double)p->beta2, p->t));
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const GptTensor *t = &m->tensors[ti];
        if (!t->trainable) continue;
        int k = LW_MIN(LW_MAX(gpt_health_group(t, L), 0), L + 1);
        double decay = t->decay ? (double)p->lr * p->weight_decay : 0.0, sg = 0, sw = 0, su = 0;
        const float *w = m->params + t->offset, *g = m->grads + t->offset, *am = m->adam_m + t->offset,
                    *av = m->adam_v + t->offset;
        for (size_t i = 0; i < t->numel; i++) {
            double gi = (double)g[i] * p->grad_scale;
            double mi = p->beta1 * (double)am[i] + (1.0 - p->beta1) * gi;
            double vi = p->beta2 * (double)av[i] + (1.0 - p->beta2) * gi * gi;
            double du = -decay * w[i] - step_size * mi / (sqrt(vi) / bc2 + p->eps);
            sg += gi * gi, sw += (double)w[i] * w[i], su += du * du;
        }
        grad2[k] += sg, weight2[k] += sw, update2[k] += su;
    }
}

const ArchOps arch_gpt = {
    .name = "gpt",
    .hf_model_type = "gpt2",
    .summary = "GPT-2: decoder only, causal self-attention, pre-LayerNorm blocks (the book's GPTModel)",
    .create = gpt_op_create,
    .init_weights = gpt_op_init_weights,
    .destroy = gpt_op_destroy,
    .reserve = gpt_op_reserve,
    .info = gpt_op_info,
    .set_dropout = gpt_op_set_dropout,
    .to_config = gpt_op_to_config,
    .save = gpt_op_save,
    .load = gpt_op_load,
    .forward = gpt_op_forward,
    .backward = gpt_op_backward,
    .logits = gpt_op_logits,
    .class_logits = gpt_op_class_logits,
    .zero_grad = gpt_op_zero_grad,
    .grad_norm = gpt_op_grad_norm,
    .adamw_step = gpt_op_adamw_step,
    .params = gpt_op_params,
    .grad_stage = gpt_op_grad_stage,
    .set_grad_hook = gpt_op_set_grad_hook,
    .pool_position = gpt_op_pool_position,
    .add_class_head = gpt_op_add_class_head,
    .set_trainable = gpt_op_set_trainable,
    .enable_lora = gpt_op_enable_lora,
    .map_kind = ARCH_MAP_CAUSAL,
    .probe = gpt_op_probe,
    .token_embedding = gpt_op_token_embedding,
    .decode_open = gpt_op_decode_open,
    .decode_close = gpt_op_decode_close,
    .decode_reset = gpt_op_decode_reset,
    .decode_len = gpt_op_decode_len,
    .decode_source = NULL,
    .decode_step = gpt_op_decode_step,
    .decode_copy = NULL, /* greedy and sampled decoding only */
    .lens_logits = gpt_op_lens_logits,
    .forward_ablated = gpt_op_forward_ablated,
    .layer_health = gpt_op_layer_health,
};
