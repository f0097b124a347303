/* arch_encdec.c — the encoder-decoder Transformer of "Attention Is All You Need" (encdec.c) behind the architecture
 * table (arch.h). A thin adapter: encdec.c holds the math; this file maps ModelCfg onto EncDecConfig, the
 * ArchBatch's source lengths onto a padding mask, and writes the checkpoint directory (docs/formats.md):
 *   config.json          model_type "llmwb_encdec" and the sizes/choices below
 *   model.safetensors    the BART/Marian tensor names of encdec.h, F32
 *   vocab.json, ...      the tokenizer (tok_save_dir), when one is given
 *   optimizer.safetensors, trainer_state.json   as for GPT (training state only)
 * The probe publishes three kinds of map: encoder self-attention over the probe sentence as the source
 * (bidirectional, p->att), decoder self-attention over the model's own greedy translation (causal, p->dec_att)
 * and the cross-attention of each target token over the source words (p->cross_att: the alignment).
 * Letters as in encdec.h: S source, T target, C d_model, Le / Ld encoder / decoder layers, NH heads. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "bpe.h"
#include "checkpoint.h"
#include "encdec.h"
#include "safetensors.h"

#define ED_MODEL_TYPE "llmwb_encdec"
#define ED_MAX_BEAM 16 /* widest beam (model.beam, llmwb translate --beam) */

typedef struct EdModel {
    EncDec ed;
    uint8_t *pad;           /* (B, S) source padding mask of the last forward, from src_lengths */
    int maxB, maxS;
    int beam;               /* model.beam */
    float length_penalty;   /* model.length_penalty */
} EdModel;

/* The decoder state: one source, beam 0 for step-wise decoding, every beam for decode_beam. */
typedef struct EdKv {
    EncDecCache *c;
    int n_beams, max_T;
    int *src, S;            /* (max_src) the source of decode_source; S = 0 before one */
    float *cross;           /* (Ld, NH, max_src) the last step's cross-attention weights */
} EdKv;

static EncDecConfig ed_config_of(const ModelCfg *mc, int vocab) {
    EncDecConfig c = encdec_config_default(mc->n_layer, mc->n_head, mc->d_model, mc->context_length, vocab);
    if (mc->encoder_layers > 0) c.n_enc_layer = mc->encoder_layers;
    if (mc->decoder_layers > 0) c.n_dec_layer = mc->decoder_layers;
    if (mc->d_ff > 0) c.d_ff = mc->d_ff;
    c.learned_pos = mc->positions == 1;
    c.pre_ln = mc->layer_norm == NORM_PRE;
    c.shared_vocab = mc->shared_vocab;
    c.tie_output = mc->tie_embeddings;
    c.dropout = mc->dropout;
    c.attn_dropout = mc->dropout;
    return c;
}

static EdModel *ed_wrap(int beam, float length_penalty) {
    EdModel *w = lw_calloc(1, sizeof *w);
    w->beam = LW_MAX(1, LW_MIN(beam, ED_MAX_BEAM));
    w->length_penalty = length_penalty;
    return w;
}

static int ed_op_create(void **out, const ModelCfg *mc, int vocab_size, LwError *e) {
    EncDecConfig c = ed_config_of(mc, vocab_size);
    EdModel *w = ed_wrap(mc->beam, mc->length_penalty);
    int rc = encdec_init(&w->ed, &c, e);
    if (rc) {
        free(w);
        *out = NULL;
        return rc;
    }
    *out = w;
    return LW_OK;
}

static void ed_op_init_weights(void *m, Rng *r) { encdec_init_weights(&((EdModel *)m)->ed, r); }

static void ed_op_destroy(void *m) {
    if (!m) return;
    EdModel *w = m;
    encdec_free(&w->ed);
    free(w->pad);
    free(w);
}

static int ed_op_reserve(void *m, int B, int T, int S, LwError *e) {
    EdModel *w = m;
    if (S <= 0) S = T;
    if (S > w->ed.cfg.max_src || T > w->ed.cfg.max_tgt)
        return lw_fail(e, LW_ERR_INVALID, "model.context_length: %d source / %d target positions, asked for %d / %d",
                       w->ed.cfg.max_src, w->ed.cfg.max_tgt, S, T);
    int rc = encdec_reserve(&w->ed, B, S, T, e);
    if (rc) return rc;
    free(w->pad);
    w->pad = lw_calloc((size_t)B * S, 1);
    w->maxB = B, w->maxS = S;
    return LW_OK;
}

static void ed_op_info(const void *m, ArchInfo *o) {
    const EncDec *d = &((const EdModel *)m)->ed;
    size_t n_train = 0;
    for (int i = 0; i < d->n_tensors; i++)
        if (d->tensors[i].trainable) n_train += d->tensors[i].numel;
    /* n_layer: the encoder's, whose maps the Attention screen draws first */
    *o = (ArchInfo){.n_params = d->n_params, .n_trainable = n_train, .vocab_size = d->cfg.tgt_vocab, .n_layer = d->cfg.n_enc_layer,
                    .n_head = d->cfg.n_head, .d_model = d->cfg.d_model,
                    .context_length = LW_MIN(d->cfg.max_src, d->cfg.max_tgt), .causal = 1, .n_source = 1,
                    .n_dec_layer = d->cfg.n_dec_layer};
}

static void ed_op_set_dropout(void *m, float p) {
    EncDec *d = &((EdModel *)m)->ed;
    d->cfg.dropout = p;
    d->cfg.attn_dropout = p;
}

static void ed_op_to_config(const void *m, ModelCfg *o) {
    const EdModel *w = m;
    const EncDecConfig *c = &w->ed.cfg;
    o->n_layer = c->n_enc_layer;
    o->encoder_layers = c->n_enc_layer;
    o->decoder_layers = c->n_dec_layer;
    o->n_head = c->n_head;
    o->d_model = c->d_model;
    o->d_ff = c->d_ff;
    o->context_length = LW_MIN(c->max_src, c->max_tgt);
    o->vocab_size = c->tgt_vocab;
    o->positions = c->learned_pos;
    o->layer_norm = c->pre_ln ? NORM_PRE : NORM_POST;
    o->shared_vocab = c->shared_vocab;
    o->tie_embeddings = c->tie_output;
    o->dropout = c->dropout;
    o->beam = w->beam;
    o->length_penalty = w->length_penalty;
}

/* ---------------------------------------------------------------- checkpoints */

static cJSON *ed_config_json(const EdModel *w) {
    const EncDecConfig *c = &w->ed.cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_type", ED_MODEL_TYPE);
    cJSON_AddNumberToObject(o, "encoder_layers", c->n_enc_layer);
    cJSON_AddNumberToObject(o, "decoder_layers", c->n_dec_layer);
    cJSON_AddNumberToObject(o, "encoder_attention_heads", c->n_head);
    cJSON_AddNumberToObject(o, "decoder_attention_heads", c->n_head);
    cJSON_AddNumberToObject(o, "d_model", c->d_model);
    cJSON_AddNumberToObject(o, "encoder_ffn_dim", c->d_ff);
    cJSON_AddNumberToObject(o, "decoder_ffn_dim", c->d_ff);
    cJSON_AddNumberToObject(o, "max_source_positions", c->max_src);
    cJSON_AddNumberToObject(o, "max_target_positions", c->max_tgt);
    cJSON_AddNumberToObject(o, "vocab_size", c->tgt_vocab);
    cJSON_AddNumberToObject(o, "source_vocab_size", c->src_vocab);
    cJSON_AddBoolToObject(o, "share_encoder_decoder_embeddings", c->shared_vocab);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_output);
    cJSON_AddBoolToObject(o, "scale_embedding", c->scale_emb);
    cJSON_AddBoolToObject(o, "normalize_before", c->pre_ln);
    cJSON_AddStringToObject(o, "positions", c->learned_pos ? "learned" : "sinusoidal");
    cJSON_AddStringToObject(o, "activation_function",
                            c->act == XF_ACT_RELU ? "relu" : c->act == XF_ACT_GELU ? "gelu" : "gelu_new");
    cJSON_AddNumberToObject(o, "layer_norm_eps", c->ln_eps);
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    cJSON_AddNumberToObject(o, "attention_dropout", c->attn_dropout);
    cJSON_AddNumberToObject(o, "num_beams", w->beam);
    cJSON_AddNumberToObject(o, "length_penalty", w->length_penalty);
    return o;
}

typedef struct EdSave {
    const EdModel *w;
    const Tokenizer *tok;
    const TrainState *st;
    const char *yaml;
} EdSave;

static int ed_write_tensors(const EncDec *d, const char *path, const float *data, const char *prefix, LwError *e) {
    StEntry *ent = lw_calloc((size_t)d->n_tensors, sizeof *ent);
    char (*names)[96] = lw_calloc((size_t)d->n_tensors, sizeof *names);
    for (int i = 0; i < d->n_tensors; i++) {
        const GptTensor *t = &d->tensors[i];
        snprintf(names[i], sizeof names[i], "%s%s", prefix, t->name);
        ent[i] = (StEntry){.name = names[i], .ndim = t->ndim, .data = data + t->offset};
        for (int k = 0; k < t->ndim; k++) ent[i].shape[k] = t->shape[k];
    }
    static const char *const META[] = {"format", "pt", "producer", "llmwb"};
    int rc = st_write(path, ent, d->n_tensors, META, 2, e);
    free(names);
    free(ent);
    return rc;
}

static int ed_save_fill(const char *tmp, void *ud, LwError *e) {
    const EdSave *a = ud;
    const EncDec *d = &a->w->ed;
    char path[CFG_PATH_MAX + 64];
    cJSON *cfg = ed_config_json(a->w);
    char *s = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    StrBuf b = {0};
    sb_adds(&b, s);
    sb_adds(&b, "\n");
    cJSON_free(s);
    char *js = sb_take(&b);
    int rc = lw_write_file_atomic(lw_path_join(path, sizeof path, tmp, "config.json"), js, strlen(js), e);
    free(js);
    if (!rc) rc = ed_write_tensors(d, lw_path_join(path, sizeof path, tmp, "model.safetensors"), d->params, "", e);
    if (!rc && a->st) {
        /* the two AdamW moments in one file, "adam_m.<name>" then "adam_v.<name>" */
        int n = d->n_tensors;
        StEntry *ent = lw_calloc((size_t)2 * n, sizeof *ent);
        char (*names)[96] = lw_calloc((size_t)2 * n, sizeof *names);
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < n; i++) {
                const GptTensor *t = &d->tensors[i];
                snprintf(names[k * n + i], sizeof names[0], "%s.%s", k ? "adam_v" : "adam_m", t->name);
                ent[k * n + i] = (StEntry){.name = names[k * n + i], .ndim = t->ndim,
                                           .data = (k ? d->adam_v : d->adam_m) + t->offset};
                for (int j = 0; j < t->ndim; j++) ent[k * n + i].shape[j] = t->shape[j];
            }
        static const char *const OMETA[] = {"format", "llmwb-adamw", "producer", "llmwb"};
        rc = st_write(lw_path_join(path, sizeof path, tmp, "optimizer.safetensors"), ent, 2 * n, OMETA, 2, e);
        free(names);
        free(ent);
        if (!rc) rc = ckpt_write_state(tmp, a->st, a->yaml, e);
    }
    if (!rc && a->tok) rc = tok_save_dir(a->tok, tmp, e);
    return rc;
}

static int ed_op_save(const void *m, const char *dir, const Tokenizer *tok, const TrainState *st,
                      const char *config_yaml, int flags, LwError *e) {
    (void)flags; /* no adapters to merge */
    EdSave a = {m, tok, st, config_yaml};
    return ckpt_write_dir(dir, ed_save_fill, &a, e);
}

/* An integer key of config.json in [lo, hi]; error names the file and key. */
static int ed_json_int(const cJSON *o, const char *path, const char *key, int lo, int hi, int *out, LwError *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: expected an integer in [%d, %d]", path, key, lo, hi);
    *out = (int)v->valuedouble;
    return LW_OK;
}

static int ed_json_bool(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static double ed_json_num(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* dir/config.json into c (and the decoding choices). */
static int ed_read_config(const char *dir, EncDecConfig *c, int *beam, float *lp, LwError *e) {
    char path[CFG_PATH_MAX + 32], *text = NULL;
    size_t len = 0;
    int rc = lw_read_file(lw_path_join(path, sizeof path, dir, "config.json"), &text, &len, e);
    if (rc) return rc;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return lw_fail(e, LW_ERR_PARSE, "%s: malformed JSON", path);
    }
    *c = encdec_config_default(1, 1, 2, 2, 2);
    if ((rc = ed_json_int(o, path, "encoder_layers", 1, 256, &c->n_enc_layer, e)) ||
        (rc = ed_json_int(o, path, "decoder_layers", 1, 256, &c->n_dec_layer, e)) ||
        (rc = ed_json_int(o, path, "encoder_attention_heads", 1, 256, &c->n_head, e)) ||
        (rc = ed_json_int(o, path, "d_model", 1, 16384, &c->d_model, e)) ||
        (rc = ed_json_int(o, path, "encoder_ffn_dim", 1, 1 << 20, &c->d_ff, e)) ||
        (rc = ed_json_int(o, path, "max_source_positions", 1, 65536, &c->max_src, e)) ||
        (rc = ed_json_int(o, path, "max_target_positions", 1, 65536, &c->max_tgt, e)) ||
        (rc = ed_json_int(o, path, "vocab_size", 2, 1 << 24, &c->tgt_vocab, e))) {
        cJSON_Delete(o);
        return rc;
    }
    c->src_vocab = c->tgt_vocab;
    if (cJSON_GetObjectItemCaseSensitive(o, "source_vocab_size") &&
        (rc = ed_json_int(o, path, "source_vocab_size", 2, 1 << 24, &c->src_vocab, e))) {
        cJSON_Delete(o);
        return rc;
    }
    c->shared_vocab = ed_json_bool(o, "share_encoder_decoder_embeddings", 1);
    c->tie_output = ed_json_bool(o, "tie_word_embeddings", 1);
    c->scale_emb = ed_json_bool(o, "scale_embedding", 1);
    c->pre_ln = ed_json_bool(o, "normalize_before", 0);
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(o, "positions");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "activation_function");
    c->learned_pos = cJSON_IsString(pos) && !strcmp(pos->valuestring, "learned");
    if (cJSON_IsString(act))
        c->act = !strcmp(act->valuestring, "gelu") ? XF_ACT_GELU : !strcmp(act->valuestring, "gelu_new") ? XF_ACT_GELU_TANH : XF_ACT_RELU;
    c->ln_eps = (float)ed_json_num(o, "layer_norm_eps", 1e-5);
    c->dropout = (float)ed_json_num(o, "dropout", 0.1);
    c->attn_dropout = (float)ed_json_num(o, "attention_dropout", 0.0);
    *beam = (int)ed_json_num(o, "num_beams", 1);
    *lp = (float)ed_json_num(o, "length_penalty", 1.0);
    cJSON_Delete(o);
    return LW_OK;
}

/* Reads the tensors named prefix + table name of the open file f into dst (shapes must match). */
static int ed_read_tensors(const EncDec *d, StFile *f, float *dst, const char *prefix, LwError *e) {
    int rc = LW_OK;
    for (int i = 0; i < d->n_tensors && !rc; i++) {
        const GptTensor *t = &d->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        const StTensor *ft = st_find(f, name);
        if (!ft) return lw_fail(e, LW_ERR_INVALID, "%s: missing tensor %s", st_path(f), name);
        int same = ft->ndim == t->ndim;
        for (int k = 0; same && k < t->ndim; k++) same = ft->shape[k] == t->shape[k];
        if (!same)
            return lw_fail(e, LW_ERR_INVALID, "%s: %s has a shape other than the model's (%d x %d)", st_path(f), name,
                           t->shape[0], t->ndim > 1 ? t->shape[1] : 1);
        rc = st_read_f32(f, ft, dst + t->offset, e);
    }
    return rc;
}

/* path's tensors: the model's (prefixes[0] into dsts[0], ...) and nothing else. */
static int ed_read_file(const EncDec *d, const char *path, int n, const char *const *prefixes, float *const *dsts,
                        LwError *e) {
    StFile *f;
    int rc = st_open(&f, path, e);
    if (rc) return rc;
    for (int k = 0; k < n && !rc; k++) rc = ed_read_tensors(d, f, dsts[k], prefixes[k], e);
    if (!rc && st_count(f) != n * d->n_tensors)
        rc = lw_fail(e, LW_ERR_INVALID, "%s: %d tensors, but the model has %d (not this config.json's model)", path,
                     st_count(f), n * d->n_tensors);
    st_close(f);
    return rc;
}

static int ed_op_load(void **m, const char *dir, Tokenizer **tok, TrainState *st, int flags, LwError *e) {
    EncDecConfig c;
    int beam = 1, rc;
    float lp = 1.0f;
    if (tok) *tok = NULL;
    if ((rc = ed_read_config(dir, &c, &beam, &lp, e))) return rc;
    EdModel *w = *m;
    if (!w) {
        w = ed_wrap(beam, lp);
        *m = w; /* the caller destroys it, also on failure */
        if ((rc = encdec_init(&w->ed, &c, e))) return rc;
    } else if (encdec_count_params(&c) != w->ed.n_params || c.n_enc_layer != w->ed.cfg.n_enc_layer ||
               c.n_dec_layer != w->ed.cfg.n_dec_layer || c.d_model != w->ed.cfg.d_model) {
        return lw_fail(e, LW_ERR_INVALID, "%s/config.json: %d+%d layers, d_model %d, %zu parameters but the model "
                                          "has %d+%d, %d, %zu",
                       dir, c.n_enc_layer, c.n_dec_layer, c.d_model, encdec_count_params(&c), w->ed.cfg.n_enc_layer,
                       w->ed.cfg.n_dec_layer, w->ed.cfg.d_model, w->ed.n_params);
    }
    char path[CFG_PATH_MAX + 64];
    if (st && !ckpt_has_state(dir))
        return lw_fail(e, LW_ERR_INVALID, "%s: not a resumable checkpoint (no trainer_state.json)", dir);
    static const char *const WEIGHTS[] = {""}, *const MOMENTS[] = {"adam_m.", "adam_v."};
    float *const wd[] = {w->ed.params}, *const md[] = {w->ed.adam_m, w->ed.adam_v};
    int strict = !(flags & CKPT_ALLOW_NONFINITE);
    const GptTensor *ts = w->ed.tensors;
    int nt = w->ed.n_tensors;
    if ((rc = ed_read_file(&w->ed, lw_path_join(path, sizeof path, dir, "model.safetensors"), 1, WEIGHTS, wd, e)))
        return rc;
    if (strict && (rc = ckpt_check_finite(dir, ts, nt, w->ed.params, 0, e))) return rc;
    if (st) {
        if ((rc = ckpt_read_state(dir, st, NULL, e))) return rc;
        if ((rc = ed_read_file(&w->ed, lw_path_join(path, sizeof path, dir, "optimizer.safetensors"), 2, MOMENTS, md, e)))
            return rc;
        if (strict && ((rc = ckpt_check_finite(dir, ts, nt, w->ed.adam_m, 1, e)) ||
                       (rc = ckpt_check_finite(dir, ts, nt, w->ed.adam_v, 2, e))))
            return rc;
    }
    if (tok && lw_file_exists(lw_path_join(path, sizeof path, dir, "vocab.json")) && (rc = tok_load_dir(tok, dir, e)))
        return rc;
    return LW_OK;
}

/* ---------------------------------------------------------------- training */

/* The padding mask of b's sources (nonzero = padding), or NULL when every row is full. */
static const uint8_t *ed_pad_mask(EdModel *w, const ArchBatch *b) {
    if (!b->src_lengths) return NULL;
    LW_ASSERT(b->B <= w->maxB && b->S <= w->maxS);
    int any = 0;
    for (int i = 0; i < b->B; i++)
        for (int s = 0; s < b->S; s++) any |= w->pad[(size_t)i * b->S + s] = s >= b->src_lengths[i];
    return any ? w->pad : NULL;
}

static float ed_op_forward(void *m, const ArchBatch *b, int training, Rng *r) {
    EdModel *w = m;
    LW_ASSERT(b->head == ARCH_HEAD_LM && b->src && b->S >= 1);
    return encdec_forward(&w->ed, b->src, ed_pad_mask(w, b), b->inputs, b->targets, b->B, b->S, b->T, training, r);
}

static void ed_op_backward(void *m, float loss_scale) { encdec_backward(&((EdModel *)m)->ed, loss_scale); }
static const float *ed_op_logits(const void *m) { return ((const EdModel *)m)->ed.logits; }
static const float *ed_op_class_logits(const void *m) {
    (void)m;
    return NULL;
}
static void ed_op_zero_grad(void *m) { encdec_zero_grad(&((EdModel *)m)->ed); }
static float ed_op_grad_norm(const void *m) { return encdec_grad_norm(&((const EdModel *)m)->ed); }

static void ed_op_params(void *m, ArchParams *o) {
    EncDec *x = &((EdModel *)m)->ed;
    *o = (ArchParams){.tensors = x->tensors, .n_tensors = x->n_tensors, .params = x->params, .grads = x->grads,
                      .n_params = x->n_params};
}

static void ed_op_adamw_step(void *m, const ArchAdamW *p) {
    encdec_adamw_step(&((EdModel *)m)->ed, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->t, p->grad_scale);
}

static int ed_op_pool_position(const void *m, int len) {
    (void)m, (void)len;
    return 0;
}

static int ed_op_add_class_head(void *m, int n_classes, Rng *r, LwError *e) {
    (void)m, (void)n_classes, (void)r;
    return lw_fail(e, LW_ERR_UNSUPPORTED, "model.arch encdec has no class head (train.task: classify needs gpt)");
}

/* Every tensor trains (finetuning subsets are GPT's). */
static void ed_op_set_trainable(void *m, int mode, int last_blocks) { (void)m, (void)mode, (void)last_blocks; }

/* ---------------------------------------------------------------- incremental decoding */

static void *ed_op_decode_open(const void *m, int max_T) {
    const EdModel *w = m;
    const EncDecConfig *c = &w->ed.cfg;
    EdKv *kv = lw_calloc(1, sizeof *kv);
    kv->n_beams = ED_MAX_BEAM; /* any width up to it: model.beam or llmwb translate --beam */
    kv->max_T = LW_MAX(1, LW_MIN(max_T, c->max_tgt));
    kv->c = encdec_cache_open(&w->ed, kv->n_beams, c->max_src, kv->max_T);
    kv->src = lw_calloc((size_t)c->max_src, sizeof(int));
    kv->cross = lw_calloc((size_t)c->n_dec_layer * c->n_head * c->max_src, sizeof(float));
    return kv;
}

static void ed_op_decode_close(void *p) {
    EdKv *kv = p;
    if (!kv) return;
    encdec_cache_close(kv->c);
    free(kv->src);
    free(kv->cross);
    free(kv);
}

/* The source stays: a new target over the same source (decode_source replaces it). */
static void ed_op_decode_reset(void *p) { encdec_cache_rewind(((EdKv *)p)->c); }
static int ed_op_decode_len(const void *p) { return encdec_cache_len(((const EdKv *)p)->c, 0); }

static int ed_op_decode_source(void *m, void *p, const int *src, int S) {
    EdKv *kv = p;
    EdModel *w = m;
    if (S < 1 || S > w->ed.cfg.max_src) return -1;
    memcpy(kv->src, src, (size_t)S * sizeof(int));
    kv->S = S;
    encdec_cache_start(&w->ed, kv->c, src, S);
    return 0;
}

static int ed_op_decode_step(void *m, void *p, const int *tokens, int n, float *logits) {
    EdKv *kv = p;
    EdModel *w = m;
    if (kv->S < 1 || encdec_cache_len(kv->c, 0) + n > kv->max_T) return -1;
    for (int i = 0; i < n; i++)
        if (encdec_cache_step(&w->ed, kv->c, 0, tokens[i], logits, kv->cross)) return -1;
    return 0;
}

static const float *ed_op_decode_cross(const void *p, int *S) {
    const EdKv *kv = p;
    *S = kv->S;
    return kv->cross;
}

static int ed_op_decode_beam(void *m, void *p, const ArchBeam *bp, ArchHyp *hyps, int max_hyps) {
    EdKv *kv = p;
    EdModel *w = m;
    if (kv->S < 1) return 0;
    int W = LW_MAX(1, LW_MIN(bp->beam, kv->n_beams));
    EncDecGen g = {.bos = bp->bos, .eos = bp->eos, .max_len = LW_MAX(1, LW_MIN(bp->max_len, kv->max_T)),
                   .beam = W, .len_alpha = bp->len_alpha};
    EncDecHyp h[ED_MAX_BEAM];
    int *toks = lw_malloc((size_t)W * g.max_len * sizeof(int));
    for (int i = 0; i < W; i++) h[i].tokens = toks + (size_t)i * g.max_len;
    int n = encdec_generate(&w->ed, kv->c, kv->src, kv->S, &g, NULL, h);
    n = LW_MIN(n, max_hyps);
    for (int i = 0; i < n; i++) {
        hyps[i].len = LW_MIN(h[i].len, bp->max_len);
        memcpy(hyps[i].tokens, h[i].tokens, (size_t)hyps[i].len * sizeof(int));
        hyps[i].logprob = h[i].logprob;
        hyps[i].score = h[i].score;
    }
    free(toks);
    return n;
}

static void ed_op_decode_settings(const void *m, int *beam, float *len_alpha) {
    const EdModel *w = m;
    *beam = w->beam;
    *len_alpha = w->length_penalty;
}

/* ---------------------------------------------------------------- probe */

static const float *ed_probe_residual(const void *m, int l) { return encdec_residual(m, 0, l); }

/* b->src (S) is the probe sentence; b->inputs (T) the decoder input (BOS + the model's translation, probe.c). */
static void ed_op_probe(void *mm, const ArchBatch *b, ProbeSnapshot *p) {
    EdModel *w = mm;
    EncDec *m = &w->ed;
    const EncDecConfig *c = &m->cfg;
    LW_ASSERT(b->B == 1 && b->src);
    int S = b->S, T = b->T, Ld = c->n_dec_layer, NH = c->n_head;
    encdec_forward(m, b->src, NULL, b->inputs, NULL, 1, S, T, 0, NULL);
    if (p->dec_att) memcpy(p->dec_att, m->dec_att, (size_t)Ld * NH * T * T * sizeof(float));
    if (p->cross_att) memcpy(p->cross_att, m->cross_att, (size_t)Ld * NH * T * S * sizeof(float));
    /* p->att: the encoder's (Le, NH, S, S); p->T is S here (probe.c sized it so); the source (or shared) embedding */
    arch_probe_fill(p, &(ArchProbeFill){.att = m->enc_att, .wte = m->params + m->tensors[0].offset,
                                        .wpe = m->pos_table, .ids = b->src, .T = S, .L = c->n_enc_layer, .NH = NH,
                                        .C = c->d_model, .residual = ed_probe_residual, .m = m, .logits = m->logits,
                                        .n_logits = (size_t)T * c->tgt_vocab});
}

static const float *ed_op_token_embedding(const void *m) {
    const EncDec *d = &((const EdModel *)m)->ed;
    return d->params + d->tensors[0].offset;
}

const ArchOps arch_encdec = {
    .name = "encdec",
    .hf_model_type = ED_MODEL_TYPE,
    .summary = "the original Transformer: encoder (bidirectional) + decoder (causal, cross-attention), for translate",
    .create = ed_op_create,
    .init_weights = ed_op_init_weights,
    .destroy = ed_op_destroy,
    .reserve = ed_op_reserve,
    .info = ed_op_info,
    .set_dropout = ed_op_set_dropout,
    .to_config = ed_op_to_config,
    .save = ed_op_save,
    .load = ed_op_load,
    .forward = ed_op_forward,
    .backward = ed_op_backward,
    .logits = ed_op_logits,
    .class_logits = ed_op_class_logits,
    .zero_grad = ed_op_zero_grad,
    .grad_norm = ed_op_grad_norm,
    .adamw_step = ed_op_adamw_step,
    .params = ed_op_params,
    .grad_stage = NULL, /* one allreduce after the backward */
    .set_grad_hook = NULL,
    .pool_position = ed_op_pool_position,
    .add_class_head = ed_op_add_class_head,
    .set_trainable = ed_op_set_trainable,
    .enable_lora = NULL,
    .map_kind = ARCH_MAP_BIDIRECTIONAL,
    .probe = ed_op_probe,
    .token_embedding = ed_op_token_embedding,
    .decode_open = ed_op_decode_open,
    .decode_close = ed_op_decode_close,
    .decode_reset = ed_op_decode_reset,
    .decode_len = ed_op_decode_len,
    .decode_source = ed_op_decode_source,
    .decode_step = ed_op_decode_step,
    .decode_copy = NULL,
    .decode_beam = ed_op_decode_beam,
    .decode_cross = ed_op_decode_cross,
    .decode_settings = ed_op_decode_settings,
};
