/* arch_gpt.c — GPT-2 (the book's GPTModel, model.c) behind the architecture table (arch.h).
 * A thin adapter: model.c holds the math, checkpoint.c the Hugging Face GPT-2 directory layout. The handle is a
 * GptModel, which remembers which head the last forward computed so backward and the output getters pick the
 * matching one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "checkpoint.h"
#include "model.h"

_Static_assert(ARCH_IGNORE_INDEX == GPT_IGNORE_INDEX, "one ignore index");

typedef struct GptModel {
    Gpt gpt;
    ArchHead head;          /* of the last forward */
} GptModel;

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
                                        .n_logits = (size_t)b->T * m->cfg.vocab_size});
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
};
