/* arch_bert.c — a BERT-style encoder (bert.c) behind the architecture table (arch.h): bidirectional
 * self-attention with the key padding mask, the masked-LM head tied to the word embedding (ARCH_HEAD_LM), the
 * [CLS] pooler + classifier (ARCH_HEAD_CLASS, pool position 0), AdamW, and checkpoints in Hugging Face's BERT
 * layout: config.json with model_type "bert" (BertConfig keys, ours under "llmwb"), model.safetensors with
 * BertForMaskedLM names (bert.h lists them; the tied cls.predictions.decoder.* are not stored), the optimizer
 * moments and trainer state as for GPT (checkpoint.h: ckpt_save_table). BERT does not generate: no decode_*.
 *
 * A training forward with targets runs the MLM head only on the labelled rows (bert.h: mlm_rows_only, BERT's
 * gather of the masked positions); logits() is then NULL. Any other forward runs it on every row: (B, T, V). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "bert.h"
#include "bpe.h"

typedef struct BertModel {
    Bert bert;
    ArchHead head;          /* of the last forward */
    uint8_t *pad;           /* (maxB, maxT) key padding mask built from ArchBatch.lengths */
    int maxB, maxT;
} BertModel;

static int bert_op_create(void **out, const ModelCfg *mc, int vocab_size, LwError *e) {
    BertModel *w = lw_calloc(1, sizeof *w);
    BertConfig bc = bert_config_default(mc->n_layer, mc->n_head, mc->d_model, mc->context_length, vocab_size);
    bc.dropout = bc.attn_dropout = mc->dropout;
    bc.pre_ln = mc->layer_norm == NORM_PRE;
    int rc = bert_init(&w->bert, &bc, e);
    if (rc) {
        free(w);
        *out = NULL;
        return rc;
    }
    *out = w;
    return LW_OK;
}

static void bert_op_init_weights(void *m, Rng *r) { bert_init_weights(&((BertModel *)m)->bert, r); }

static void bert_op_destroy(void *m) {
    if (!m) return;
    BertModel *w = m;
    bert_free(&w->bert);
    free(w->pad);
    free(w);
}

static int bert_op_reserve(void *m, int B, int T, int S, LwError *e) {
    (void)S;
    BertModel *w = m;
    if (T > w->bert.cfg.max_position)
        return lw_fail(e, LW_ERR_INVALID, "model.context_length: a row of %d tokens is longer than BERT's %d positions",
                       T, w->bert.cfg.max_position);
    int rc = bert_reserve(&w->bert, B, T, e);
    if (rc) return rc;
    free(w->pad);
    w->pad = lw_calloc((size_t)B * T, 1);
    w->maxB = B, w->maxT = T;
    return LW_OK;
}

static void bert_op_info(const void *m, ArchInfo *o) {
    const Bert *b = &((const BertModel *)m)->bert;
    const BertConfig *c = &b->cfg;
    size_t n_train = 0;
    for (int i = 0; i < b->n_tensors; i++)
        if (b->tensors[i].trainable) n_train += b->tensors[i].numel;
    *o = (ArchInfo){.n_params = b->n_params, .n_trainable = n_train, .vocab_size = c->vocab_size,
                    .n_layer = c->n_layer, .n_head = c->n_head, .d_model = c->d_model,
                    .context_length = c->max_position, .n_classes = c->n_classes, .lora_rank = 0, .causal = 0,
                    .n_source = 0};
}

static void bert_op_set_dropout(void *m, float p) {
    BertConfig *c = &((BertModel *)m)->bert.cfg;
    c->dropout = c->attn_dropout = p;
}

static void bert_op_to_config(const void *m, ModelCfg *o) {
    const BertConfig *c = &((const BertModel *)m)->bert.cfg;
    o->n_layer = c->n_layer;
    o->n_head = c->n_head;
    o->d_model = c->d_model;
    o->context_length = c->max_position;
    o->vocab_size = c->vocab_size;
    o->qkv_bias = 1;
    o->tie_embeddings = 1;
    o->layer_norm = c->pre_ln ? NORM_PRE : NORM_POST;
}

/* ---------------------------------------------------------------- checkpoints */

static CkptTable bert_table(const Bert *b) {
    return (CkptTable){.tensors = b->tensors, .n_tensors = b->n_tensors, .params = b->params, .adam_m = b->adam_m,
                       .adam_v = b->adam_v};
}

/* config.json: Hugging Face BertConfig keys (BertForMaskedLM, or BertForSequenceClassification with a class head),
 * the special-token ids when the tokenizer has them, and our own keys under "llmwb". */
static char *bert_config_json(const Bert *b, const Tokenizer *tok) {
    const BertConfig *c = &b->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(c->n_classes ? "BertForSequenceClassification" : "BertForMaskedLM"));
    cJSON_AddStringToObject(o, "model_type", "bert");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", c->d_model);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layer);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->n_head);
    cJSON_AddNumberToObject(o, "intermediate_size", c->d_ff);
    cJSON_AddStringToObject(o, "hidden_act", c->act == XF_ACT_GELU ? "gelu" : "gelu_new");
    cJSON_AddNumberToObject(o, "hidden_dropout_prob", c->dropout);
    cJSON_AddNumberToObject(o, "attention_probs_dropout_prob", c->attn_dropout);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position);
    cJSON_AddNumberToObject(o, "type_vocab_size", c->type_vocab_size);
    cJSON_AddNumberToObject(o, "initializer_range", 0.02);
    char eps[32];
    snprintf(eps, sizeof eps, "%.6g", c->ln_eps); /* 1e-12, not the float's 9.99999996e-13 */
    cJSON_AddNumberToObject(o, "layer_norm_eps", strtod(eps, NULL));
    cJSON_AddStringToObject(o, "position_embedding_type", "absolute");
    cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    if (tok && tok_bert_special(tok, TOK_PAD) >= 0) {
        cJSON_AddNumberToObject(o, "pad_token_id", tok_bert_special(tok, TOK_PAD));
        cJSON_AddNumberToObject(o, "cls_token_id", tok_bert_special(tok, TOK_CLS));
        cJSON_AddNumberToObject(o, "sep_token_id", tok_bert_special(tok, TOK_SEP));
        cJSON_AddNumberToObject(o, "mask_token_id", tok_bert_special(tok, TOK_MASK));
    }
    if (c->n_classes) cJSON_AddNumberToObject(o, "num_labels", c->n_classes);
    cJSON *l = cJSON_AddObjectToObject(o, "llmwb");
    cJSON_AddNumberToObject(l, "n_classes", c->n_classes);
    cJSON_AddBoolToObject(l, "pre_ln", c->pre_ln);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    size_t n = strlen(s);
    char *t = lw_malloc(n + 2);
    memcpy(t, s, n);
    t[n] = '\n', t[n + 1] = 0;
    cJSON_free(s);
    return t;
}

static int bert_op_save(const void *m, const char *dir, const Tokenizer *tok, const TrainState *st,
                        const char *config_yaml, int flags, LwError *e) {
    const Bert *b = &((const BertModel *)m)->bert;
    if ((flags & CKPT_MERGE_LORA) && st)
        return lw_fail(e, LW_ERR_INVALID, "%s: a merged export carries no training state", dir);
    char *json = bert_config_json(b, tok);
    CkptTable tb = bert_table(b);
    int rc = ckpt_save_table(dir, json, &tb, tok, st, config_yaml, e);
    free(json);
    return rc;
}

/* An integer key of config.json in [lo, hi]; def when absent and def >= 0, else an error naming it. */
static int bert_json_int(const cJSON *o, const char *path, const char *key, int lo, int hi, int def, int *out,
                         LwError *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v && def >= 0) {
        *out = def;
        return LW_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valueint < lo || v->valueint > hi)
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: %s", path, key, v ? "expected an integer in range" : "missing");
    *out = v->valueint;
    return LW_OK;
}

/* dir/config.json into c (BertConfig keys; HF defaults for the optional ones). */
static int bert_read_config(const char *dir, BertConfig *c, LwError *e) {
    char path[CFG_PATH_MAX + 32];
    lw_path_join(path, sizeof path, dir, "config.json");
    void *root;
    int rc = ckpt_read_json(path, &root, e);
    if (rc) return rc;
    const cJSON *o = root;
    int L = 0, NH = 0, C = 0, P = 0, V = 0, F = 0, S = 0, K = 0, pre = 0;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "llmwb");
    if (!(rc = bert_json_int(o, path, "num_hidden_layers", 1, 1024, -1, &L, e)) &&
        !(rc = bert_json_int(o, path, "num_attention_heads", 1, 1024, -1, &NH, e)) &&
        !(rc = bert_json_int(o, path, "hidden_size", 1, 1 << 16, -1, &C, e)) &&
        !(rc = bert_json_int(o, path, "max_position_embeddings", 1, 1 << 20, -1, &P, e)) &&
        !(rc = bert_json_int(o, path, "vocab_size", 2, 1 << 24, -1, &V, e)) &&
        !(rc = bert_json_int(o, path, "intermediate_size", 1, 1 << 20, 4 * C, &F, e)) &&
        !(rc = bert_json_int(o, path, "type_vocab_size", 0, 1 << 10, 2, &S, e)) &&
        !(rc = bert_json_int(o, path, "num_labels", 0, CFG_MAX_LABELS, 0, &K, e)) && cJSON_IsObject(l)) {
        rc = bert_json_int(l, path, "n_classes", 0, CFG_MAX_LABELS, K, &K, e);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(l, "pre_ln");
        pre = cJSON_IsTrue(p);
    }
    if (!rc) {
        *c = bert_config_default(L, NH, C, P, V);
        c->d_ff = F;
        c->type_vocab_size = S;
        c->pre_ln = pre;
        c->n_classes = K == 1 ? 0 : K; /* HF's num_labels defaults to 2 without a head; ours says n_classes */
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
        if (cJSON_IsString(act) && strcmp(act->valuestring, "gelu") != 0) {
            if (!strcmp(act->valuestring, "gelu_new") || !strcmp(act->valuestring, "gelu_pytorch_tanh"))
                c->act = XF_ACT_GELU_TANH;
            else rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: hidden_act: \"%s\" is not supported (gelu, gelu_new)", path,
                              act->valuestring);
        }
        const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_eps");
        if (cJSON_IsNumber(eps) && eps->valuedouble > 0) c->ln_eps = (float)eps->valuedouble;
        const cJSON *hd = cJSON_GetObjectItemCaseSensitive(o, "hidden_dropout_prob");
        if (cJSON_IsNumber(hd)) c->dropout = (float)hd->valuedouble;
        const cJSON *ad = cJSON_GetObjectItemCaseSensitive(o, "attention_probs_dropout_prob");
        if (cJSON_IsNumber(ad)) c->attn_dropout = (float)ad->valuedouble;
    }
    cJSON_Delete(root);
    return rc;
}

static int bert_op_load(void **m, const char *dir, Tokenizer **tok, TrainState *st, int flags, LwError *e) {
    BertConfig fc;
    int rc = bert_read_config(dir, &fc, e);
    if (rc) return rc;
    BertModel *w = *m;
    if (!w) {
        w = lw_calloc(1, sizeof *w);
        *m = w; /* the caller destroys it, also on failure */
        if ((rc = bert_init(&w->bert, &fc, e))) return rc;
    } else {
        const BertConfig *h = &w->bert.cfg;
        if (h->n_layer != fc.n_layer || h->n_head != fc.n_head || h->d_model != fc.d_model ||
            h->vocab_size != fc.vocab_size || h->max_position != fc.max_position)
            return lw_fail(e, LW_ERR_INVALID, "%s/config.json: %d layers, %d heads, hidden %d, vocab %d, %d positions "
                           "but the model has %d, %d, %d, %d, %d", dir, fc.n_layer, fc.n_head, fc.d_model,
                           fc.vocab_size, fc.max_position, h->n_layer, h->n_head, h->d_model, h->vocab_size,
                           h->max_position);
        if (fc.n_classes && h->n_classes != fc.n_classes)
            return lw_fail(e, LW_ERR_INVALID, "%s/config.json: llmwb.n_classes %d but the model has %d classes", dir,
                           fc.n_classes, h->n_classes);
    }
    /* a model with a fresh class head loading an MLM checkpoint (finetuning init_from) keeps its head */
    Bert *b = &w->bert;
    CkptTable tb = bert_table(b);
    if (b->cfg.n_classes && !fc.n_classes) {
        for (int i = 0; i < b->n_tensors; i++)
            if (b->tensors[i].role == GPT_ROLE_CLASS_HEAD) {
                tb.n_tensors = i;
                break;
            }
        if (st) return lw_fail(e, LW_ERR_INVALID, "%s: has no class head to resume", dir);
    }
    return ckpt_load_table(dir, &tb, tok, st, flags, e);
}

/* ---------------------------------------------------------------- training */

/* The key padding mask of b (NULL when every position is real). */
static const uint8_t *bert_pad(BertModel *w, const ArchBatch *b) {
    if (!b->lengths) return NULL;
    LW_ASSERT(b->B <= w->maxB && b->T <= w->maxT);
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->T; t++) w->pad[(size_t)r * b->T + t] = t >= b->lengths[r];
    return w->pad;
}

static float bert_op_forward(void *m, const ArchBatch *b, int training, Rng *r) {
    BertModel *w = m;
    LW_ASSERT(!b->src);
    w->head = b->head;
    const uint8_t *pad = bert_pad(w, b);
    if (b->head == ARCH_HEAD_CLASS) {
        for (int i = 0; b->pool && i < b->B; i++) LW_ASSERT(b->pool[i] == 0); /* the [CLS] position */
        return bert_forward_classify(&w->bert, b->inputs, NULL, pad, b->labels, b->B, b->T, training, r);
    }
    w->bert.mlm_rows_only = training && b->targets;
    return bert_forward(&w->bert, b->inputs, NULL, pad, b->targets, b->B, b->T, training, r);
}

static void bert_op_backward(void *m, float loss_scale) {
    BertModel *w = m;
    if (w->head == ARCH_HEAD_CLASS) bert_backward_classify(&w->bert, loss_scale);
    else bert_backward(&w->bert, loss_scale);
}

static const float *bert_op_logits(const void *m) {
    const BertModel *w = m;
    return w->head == ARCH_HEAD_LM && w->bert.n_rows == w->bert.B * w->bert.T ? w->bert.logits : NULL;
}

static const float *bert_op_class_logits(const void *m) {
    const BertModel *w = m;
    return w->head == ARCH_HEAD_CLASS ? w->bert.class_logits : NULL;
}

static void bert_op_zero_grad(void *m) { bert_zero_grad(&((BertModel *)m)->bert); }
static float bert_op_grad_norm(const void *m) { return bert_grad_norm(&((const BertModel *)m)->bert); }

static void bert_op_params(void *m, ArchParams *o) {
    Bert *x = &((BertModel *)m)->bert;
    *o = (ArchParams){.tensors = x->tensors, .n_tensors = x->n_tensors, .params = x->params, .grads = x->grads,
                      .n_params = x->n_params};
}

static void bert_op_adamw_step(void *m, const ArchAdamW *p) {
    bert_adamw_step(&((BertModel *)m)->bert, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->t, p->grad_scale);
}

/* Bidirectional attention: the first token ([CLS]) has seen the whole row (BERT's pooler reads it). */
static int bert_op_pool_position(const void *m, int len) {
    (void)m, (void)len;
    return 0;
}

static int bert_op_add_class_head(void *m, int n_classes, Rng *r, LwError *e) {
    return bert_add_class_head(&((BertModel *)m)->bert, n_classes, r, e);
}

static void bert_op_set_trainable(void *m, int mode, int last_blocks) {
    bert_set_trainable(&((BertModel *)m)->bert, mode, last_blocks);
}

/* ---------------------------------------------------------------- probe */

static const float *bert_probe_residual(const void *m, int l) { return bert_residual(m, l); }

static void bert_op_probe(void *mm, const ArchBatch *b, ProbeSnapshot *p) {
    BertModel *w = mm;
    Bert *m = &w->bert;
    m->mlm_rows_only = 0;
    bert_forward(m, b->inputs, NULL, NULL, NULL, 1, b->T, 0, NULL);
    w->head = ARCH_HEAD_LM;
    arch_probe_fill(p, &(ArchProbeFill){
        .att = m->att, /* (L, 1, NH, T, T): full squares */
        .wte = m->params + bert_find(m, "bert.embeddings.word_embeddings.weight")->offset,
        .wpe = m->params + bert_find(m, "bert.embeddings.position_embeddings.weight")->offset, .ids = b->inputs,
        .T = b->T, .L = m->cfg.n_layer, .NH = m->cfg.n_head, .C = m->cfg.d_model, .residual = bert_probe_residual,
        .m = m, .logits = m->logits, .n_logits = (size_t)b->T * m->cfg.vocab_size});
}

static const float *bert_op_token_embedding(const void *m) {
    const Bert *b = &((const BertModel *)m)->bert;
    return b->params + bert_find(b, "bert.embeddings.word_embeddings.weight")->offset;
}

const ArchOps arch_bert = {
    .name = "bert",
    .hf_model_type = "bert",
    .summary = "BERT: encoder only, bidirectional self-attention, post-LayerNorm blocks, masked-LM head, [CLS] pooler",
    .create = bert_op_create,
    .init_weights = bert_op_init_weights,
    .destroy = bert_op_destroy,
    .reserve = bert_op_reserve,
    .info = bert_op_info,
    .set_dropout = bert_op_set_dropout,
    .to_config = bert_op_to_config,
    .save = bert_op_save,
    .load = bert_op_load,
    .forward = bert_op_forward,
    .backward = bert_op_backward,
    .logits = bert_op_logits,
    .class_logits = bert_op_class_logits,
    .zero_grad = bert_op_zero_grad,
    .grad_norm = bert_op_grad_norm,
    .adamw_step = bert_op_adamw_step,
    .params = bert_op_params,
    .grad_stage = NULL, /* one allreduce after the backward */
    .set_grad_hook = NULL,
    .pool_position = bert_op_pool_position,
    .add_class_head = bert_op_add_class_head,
    .set_trainable = bert_op_set_trainable,
    .enable_lora = NULL,
    .map_kind = ARCH_MAP_BIDIRECTIONAL,
    .probe = bert_op_probe,
    .token_embedding = bert_op_token_embedding,
};
