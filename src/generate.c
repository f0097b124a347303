/* generate.c — generation on the architecture's incremental decoder (ArchOps.decode_*): sampling one token at a
 * time for the Chat screen, `llmwb generate` and the tasks' samples and evaluations; classifier inference. What a
 * reply is belongs to the task (TaskOps.reply_begin). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"
#include "sampler.h"

void engine_alloc_generation(Engine *g) {
    ArchInfo mi = engine_model_info(g);
    int V = mi.vocab_size;
    g->kv = g->arch->decode_open ? g->arch->decode_open(g->model, mi.context_length) : NULL;
    g->gen_logits = lw_malloc((size_t)V * sizeof(float));
    g->gen_scratch = lw_malloc((size_t)V * sizeof(float));
    g->gen_idx = lw_malloc((size_t)V * sizeof(int));
    g->gen_hist = lw_malloc((size_t)LW_MAX(g->T, 1) * sizeof(int));
    g->gen_done = 1;
}

void engine_free_generation(Engine *g) {
    if (g->kv) g->arch->decode_close(g->kv);
    g->kv = NULL;
    free(g->gen_logits);
    free(g->gen_scratch);
    free(g->gen_idx);
    free(g->gen_hist);
}

/* Without the cache: the logits of the last of the gen_len tokens so far, from the batch forward over all of them.
 * Returns nonzero when the sequence no longer fits the reserved length. */
static int gen_recompute(Engine *g) {
    if (g->gen_len < 1 || g->gen_len > g->T) return 1;
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = g->gen_len, .inputs = g->gen_hist};
    g->arch->forward(g->model, &b, 0, NULL);
    int V = engine_model_info(g).vocab_size;
    memcpy(g->gen_logits, g->arch->logits(g->model) + (size_t)(g->gen_len - 1) * V, (size_t)V * sizeof(float));
    return 0;
}

void engine_sample_defaults(SampleParams *p) {
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 1.0f;
    p->max_tokens = 100;
    p->seed = 123;
    p->stop_at_eot = 1;
}

/* Starts generation after the token ids (the last context-1 of them). */
int engine_gen_begin_ids(Engine *g, const int *ids, size_t n, const SampleParams *p, LwError *e) {
    int eot = tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0;
    if (n == 0) ids = &eot, n = 1;
    int ctx = engine_model_info(g).context_length;
    if (!g->kv) return lw_fail(e, LW_ERR_UNSUPPORTED, "model.arch %s does not generate text", g->arch->name);
    if (p->no_cache && engine_model_info(g).n_source)
        return lw_fail(e, LW_ERR_UNSUPPORTED, "generation without the KV cache: not for an encoder-decoder yet");
    size_t keep = LW_MIN(n, (size_t)(ctx - 1));
    g->arch->decode_reset(g->kv);
    if (p->no_cache) {
        keep = LW_MIN(keep, (size_t)g->T - 1);
        memcpy(g->gen_hist, ids + n - keep, keep * sizeof(int));
        g->gen_len = (int)keep;
        gen_recompute(g);
    } else if (g->arch->decode_step(g->model, g->kv, ids + n - keep, (int)keep, g->gen_logits)) {
        return lw_fail(e, LW_ERR_INVALID, "the prompt does not fit the context of %d tokens", ctx);
    }
    g->gen = *p;
    rng_seed(&g->gen_rng, p->seed);
    g->gen_count = 0;
    g->gen_pending = -1;
    g->gen_done = 0;
    return LW_OK;
}

int engine_n_classes(const Engine *g) { return engine_model_info(g).n_classes; }

const char *engine_class_name(const Engine *g, int i) {
    return i >= 0 && i < g->ft_meta.n_labels ? g->ft_meta.labels[i] : "";
}

int engine_classify(Engine *g, const char *text, float *probs, int max, LwError *e) {
    int K = engine_model_info(g).n_classes;
    if (K <= 0) return -lw_fail(e, LW_ERR_INVALID, "this model is not a classifier (finetune.mode is not classify)");
    IntVec ids = {0};
    int cls = tok_bert_special(g->tok, TOK_CLS), sep = tok_bert_special(g->tok, TOK_SEP);
    int wrap = !engine_model_info(g).causal && cls >= 0; /* an encoder reads [CLS] text [SEP] (task_classify.c) */
    if (wrap) ivec_push(&ids, cls);
    tok_encode(g->tok, text, strlen(text), 0, &ids);
    if (wrap && ids.len > (size_t)g->T - 1) ids.len = (size_t)g->T - 1;
    if (wrap) ivec_push(&ids, sep);
    if (ids.len == 0) ivec_push(&ids, tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0);
    int T = (int)LW_MIN(ids.len, (size_t)g->T); /* the book keeps the first tokens */
    int last = g->arch->pool_position(g->model, T);
    ArchBatch b = {.head = ARCH_HEAD_CLASS, .B = 1, .T = T, .inputs = ids.data, .pool = &last};
    g->arch->forward(g->model, &b, 0, NULL);
    ivec_free(&ids);
    float z[CFG_MAX_LABELS];
    memcpy(z, g->arch->class_logits(g->model), (size_t)K * sizeof(float));
    sampler_softmax(z, K, 1.0f);
    for (int k = 0; k < K && k < max; k++) probs[k] = z[k];
    return K;
}

int engine_gen_begin(Engine *g, const char *prompt, const SampleParams *p, LwError *e) {
    if (!g->model) /* a watched run that has no checkpoint yet */
        return lw_fail(e, LW_ERR_INVALID, "no checkpoint in %s/latest yet: chat opens on it once the trainer saves one",
                       g->run_dir);
    return g->task->reply_begin(g, prompt, p, e);
}

int engine_gen_begin_text(Engine *g, const char *prompt, const SampleParams *p, LwError *e) {
    IntVec ids = {0};
    tok_encode(g->tok, prompt, strlen(prompt), 1, &ids);
    int rc = engine_gen_begin_ids(g, ids.data, ids.len, p, e);
    ivec_free(&ids);
    return rc;
}

void engine_gen_answer(Engine *g, const GenToken *t) {
    g->gen_answer = *t;
    g->gen_done = 0;
    g->gen_pending = -2; /* marks the pending answer */
}

void engine_gen_task_reply(Engine *g) {
    g->gen_done = 0;
    g->gen_pending = -3; /* marks the task's reply */
}

size_t engine_gen_collect(Engine *g, char *text, size_t len, size_t n) {
    GenToken t;
    while (engine_gen_next(g, &t) > 0) {
        size_t l = strlen(t.text);
        if (len + l + 1 >= n) break;
        memcpy(text + len, t.text, l + 1);
        len += l;
    }
    return len;
}

int engine_gen_next(Engine *g, GenToken *out) {
    if (g->gen_done) return 0;
    if (g->gen_pending == -2) {
        *out = g->gen_answer;
        g->gen_done = 1;
        return 1;
    }
    if (g->gen_pending == -3) {
        int r = g->task->reply_next ? g->task->reply_next(g, out) : 0;
        if (r <= 0) g->gen_done = 1;
        return r;
    }
    if (g->gen_count >= g->gen.max_tokens) {
        g->gen_done = 1;
        return 0;
    }
    ArchInfo mi = engine_model_info(g);
    int V = mi.vocab_size;
    if (g->gen_pending >= 0 && g->gen.no_cache) {
        if (g->gen_len >= g->T || g->gen_len >= mi.context_length) {
            g->gen_done = 1;
            return 0;
        }
        g->gen_hist[g->gen_len++] = g->gen_pending;
        gen_recompute(g);
    } else if (g->gen_pending >= 0) {
        if (g->arch->decode_len(g->kv) >= mi.context_length ||
            g->arch->decode_step(g->model, g->kv, &g->gen_pending, 1, g->gen_logits)) {
            g->gen_done = 1;
            return 0;
        }
    }
    /* Tokens the tokenizer does not know (a model vocab padded past the tokenizer's) are never sampled. */
    int tv = tok_vocab_size(g->tok);
    for (int v = tv; v < V; v++) g->gen_logits[v] = -INFINITY;
    float temp = g->gen.temperature;
    /* the distribution shown in the bars: after temperature (greedy shows temperature 1) */
    memcpy(g->gen_scratch, g->gen_logits, (size_t)V * sizeof(float));
    sampler_softmax(g->gen_scratch, V, temp > 0 ? temp : 1.0f);
    out->n_top = sampler_top_n(g->gen_scratch, V, SNAP_TOPK, out->top_ids, out->top_probs);
    int id = sampler_next(g->gen_logits, V, temp, g->gen.top_k, g->gen.top_p, &g->gen_rng, g->gen_scratch, g->gen_idx);
    out->id = id;
    /* as tok_decode would join it to the prompt and the tokens before (a words tokenizer's space) */
    out->text[0] = ' ';
    int sp = tok_space_before(g->tok, id);
    engine_token_text(g, id, out->text + sp, sizeof out->text - (size_t)sp);
    g->gen_count++;
    g->gen_pending = id;
    if (g->gen.stop_at_eot && id == tok_eot(g->tok)) {
        g->gen_done = 1;
        out->text[0] = 0;
        return 0;
    }
    return 1;
}

