/* task_mlm.c — masked-language modelling (train.task: mlm), BERT's pretraining objective: the corpus tokenized
 * once and cut into windows of T - 2 tokens, each row [CLS] window [SEP]; per row 15% of the ordinary positions
 * are chosen (bert_mlm_mask: 80% become [MASK], 10% a random token, 10% stay) and only they carry a loss. The
 * validation masks are drawn from a fixed seed, so every evaluation scores the same positions. Evaluation:
 * masked-token accuracy beside the unigram baseline: always answering the token most frequent among the very blanks
 * scored (the best any constant answer can do there, so the model's lead over it is not flattered). A chat
 * reply, `llmwb fill` and engine_fill fill the [MASK]s of the user's text. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "engine_impl.h"
#include "sampler.h"

#define MLM_PROB 0.15f
#define SNAP_MAX_FILL 512 /* tokens of a chat reply kept */
#define MLM_VAL_SEED 0x6d6c6d76616cULL /* the validation masks */

typedef struct MlmState {
    TokenData data;
    Loader train, val;
    int *window, *scratch;    /* (B, T - 2) loader output, (B, T) the clean rows [CLS] w [SEP] */
    int *dummy;               /* (B, T - 2) the loader's next-token targets, unused */
    int special[4];           /* never masked: [CLS] [SEP] [PAD] <|endoftext|> */
    BertMaskSpec spec;
    Rng val_rng;
    int top_id;               /* the most frequent ordinary token of the training split (reported at the start) */
    double top_share;         /* its share of the training tokens */
    long *blank_count;        /* (V) how often each token is the answer of a scored blank, in one evaluation */
    int n_masked;             /* positions of the last batch shown as [MASK] (the blanks that are scored) */
    /* the chat reply being read out (engine_fill's result): the input ids and the next position */
    FillResult reply;
    int reply_ids[SNAP_MAX_FILL], reply_n, reply_at, reply_slot;
} MlmState;

/* Token id's text for a message: newlines and tabs spelled \n and \t. */
static void mlm_token_label(const Engine *g, int id, char *out, size_t n) {
    char raw[SNAP_TOKTEXT];
    engine_token_text(g, id, raw, sizeof raw);
    size_t k = 0;
    for (const char *p = raw; *p && k + 3 < n; p++) {
        if (*p == '\n' || *p == '\t') out[k++] = '\\', out[k++] = *p == '\n' ? 'n' : 't';
        else out[k++] = *p;
    }
    out[k] = 0;
}

/* The BERT specials on g->tok (added when missing) and the masking spec over the ordinary ids below them. */
static int mlm_setup_specials(Engine *g, MlmState *s, LwError *e) {
    Tokenizer *t = g->tok;
    tok_add_bert_specials(t);
    int lo = tok_bert_special(t, TOK_CLS);
    for (int k = 0; k < TOK_N_BERT; k++) lo = LW_MIN(lo, tok_bert_special(t, k));
    if (tok_eot(t) >= 0) lo = LW_MIN(lo, tok_eot(t));
    if (tok_unk(t) >= 0) lo = LW_MIN(lo, tok_unk(t));
    if (lo < 2) return lw_fail(e, LW_ERR_INVALID, "tokenizer: no ordinary tokens below the special ones");
    s->special[0] = tok_bert_special(t, TOK_CLS);
    s->special[1] = tok_bert_special(t, TOK_SEP);
    s->special[2] = tok_bert_special(t, TOK_PAD);
    s->special[3] = tok_eot(t) >= 0 ? tok_eot(t) : s->special[2];
    s->spec = (BertMaskSpec){.prob = MLM_PROB, .mask_id = tok_bert_special(t, TOK_MASK), .rand_lo = 0,
                             .rand_hi = lo, .special = s->special, .n_special = 4};
    return LW_OK;
}

static int mlm_open(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    MlmState *s = g->task_state = lw_calloc(1, sizeof *s);
    int rc;
    if ((rc = engine_setup_tokenizer(g, o, e)) || (rc = mlm_setup_specials(g, s, e))) return rc;
    int V = tok_vocab_size(g->tok);
    c->model.vocab_size = V;
    engine_progress(o, "tokenizing the corpus", 0, 1);
    if ((rc = data_build(&s->data, c, g->tok, g->run_dir, e))) return rc;
    engine_progress(o, "tokenizing the corpus", 1, 1);
    g->B = c->train.batch_size;
    g->T = c->data.window > 0 ? LW_MIN(c->data.window, c->model.context_length) : c->model.context_length;
    if (g->T < 4) return lw_fail(e, LW_ERR_INVALID, "data.window: mlm rows need at least 4 tokens ([CLS] w [SEP])");
    int W = g->T - 2;
    if ((rc = loader_init(&s->train, s->data.train, s->data.n_train, g->B, W, c->data.stride, c->train.seed, 1, e)))
        return rc;
    g->has_val = s->data.n_val > 0;
    if (g->has_val && (rc = loader_init(&s->val, s->data.val, s->data.n_val, g->B, W, 0, c->train.seed, 0, e)))
        return rc;
    g->total_steps = engine_total_steps(g, (double)loader_n_batches(&s->train));
    s->window = lw_malloc((size_t)g->B * W * sizeof(int));
    s->dummy = lw_malloc((size_t)g->B * W * sizeof(int));
    s->scratch = lw_malloc((size_t)g->B * g->T * sizeof(int));

    /* the unigram baseline: the most frequent ordinary token of the training split */
    long *count = lw_calloc((size_t)V, sizeof(long));
    for (size_t i = 0; i < s->data.n_train; i++) count[s->data.train[i]]++;
    s->top_id = 0;
    for (int v = 0; v < s->spec.rand_hi; v++)
        if (count[v] > count[s->top_id]) s->top_id = v;
    s->top_share = s->data.n_train ? (double)count[s->top_id] / (double)s->data.n_train : 0;
    free(count);
    s->blank_count = lw_calloc((size_t)V, sizeof(long));

    rng_seed(&g->rng, c->train.seed);
    int resumed = 0;
    if (o && o->resume_dir) {
        TrainState st;
        if ((rc = g->arch->load(&g->model, o->resume_dir, NULL, &st, g->ckpt_flags, e))) return rc;
        ArchInfo mi = engine_model_info(g);
        if (mi.vocab_size != V || mi.n_layer != c->model.n_layer || mi.d_model != c->model.d_model)
            return lw_fail(e, LW_ERR_INVALID, "%s: the checkpoint model (%d layers, d_model %d, vocab %d) does not fit "
                           "the config (%d, %d, %d)", o->resume_dir, mi.n_layer, mi.d_model, mi.vocab_size,
                           c->model.n_layer, c->model.d_model, V);
        engine_restore_state(g, &st);
        if ((rc = loader_restore(&s->train, &st.loader, e))) return rc;
        resumed = 1;
    } else if (c->finetune.init_from[0]) {
        if ((rc = g->arch->create(&g->model, &c->model, V, e)) ||
            (rc = g->arch->load(&g->model, c->finetune.init_from, NULL, NULL, g->ckpt_flags, e)))
            return rc;
    } else if ((rc = engine_fresh_model(g, V, e))) {
        return rc;
    }
    if (engine_model_info(g).causal)
        lw_log(LW_LOG_WARN, "train.task mlm on a causal model: a masked position sees only the tokens before it");
    char top[64];
    mlm_token_label(g, s->top_id, top, sizeof top);
    engine_publish_event(g, EV_INFO, "unigram baseline (always \"%s\"): %.1f%% of the training tokens", top,
                         100 * s->top_share);
    return engine_start_run(g, resumed, e);
}

static void mlm_close(Engine *g) {
    MlmState *s = g->task_state;
    if (!s) return;
    loader_free(&s->train);
    loader_free(&s->val);
    data_free(&s->data);
    free(s->window);
    free(s->dummy);
    free(s->scratch);
    free(s->blank_count);
    free(s);
    g->task_state = NULL;
}

static long mlm_next_batch(Engine *g, int val) {
    MlmState *s = g->task_state;
    int B = g->B, T = g->T, W = T - 2;
    loader_next(val ? &s->val : &s->train, s->window, s->dummy);
    for (int b = 0; b < B; b++) {
        int *row = s->scratch + (size_t)b * T;
        row[0] = s->special[0];
        memcpy(row + 1, s->window + (size_t)b * W, (size_t)W * sizeof(int));
        row[T - 1] = s->special[1];
    }
    bert_mlm_mask(g->inputs, g->targets, s->scratch, B, T, &s->spec, val ? &s->val_rng : &g->rng, s->dummy);
    s->n_masked = 0;
    for (int i = 0; i < B * T; i++) s->n_masked += g->inputs[i] == s->spec.mask_id;
    g->batch = (ArchBatch){.head = ARCH_HEAD_LM, .B = B, .T = T, .inputs = g->inputs, .targets = g->targets};
    return (long)B * T;
}

static void mlm_rewind_val(Engine *g) {
    MlmState *s = g->task_state;
    loader_reset(&s->val);
    rng_seed(&s->val_rng, g->cfg.train.seed ^ MLM_VAL_SEED);
}

static int mlm_n_val_batches(const Engine *g) { return (int)loader_n_batches(&((const MlmState *)g->task_state)->val); }

/* [MASK] positions of the last (validation) batch whose most probable token is the original one; with blanks,
 * each one's answer is also counted there. Only the blanks count: at the 10% of chosen positions left unchanged the
 * answer is in the input, and copying it is no evidence of reading the context. */
static int mlm_count_correct(const Engine *g, long *blanks) {
    const MlmState *s = g->task_state;
    const float *z = g->arch->logits(g->model);
    int V = engine_model_info(g).vocab_size, ok = 0;
    size_t N = (size_t)g->batch.B * g->batch.T;
    for (size_t i = 0; i < N; i++) {
        int y = g->batch.targets[i];
        if (y == ARCH_IGNORE_INDEX || g->batch.inputs[i] != s->spec.mask_id) continue;
        if (blanks) blanks[y]++;
        const float *row = z + i * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        ok += best == y;
    }
    return ok;
}

static int mlm_val_correct(const Engine *g) { return g->arch->logits(g->model) ? mlm_count_correct(g, NULL) : 0; }
static int mlm_val_count(const Engine *g) { return ((const MlmState *)g->task_state)->n_masked; }

/* Masked-token accuracy on the validation batches of engine_evaluate beside the unigram baseline on the same
 * blanks (the answer most frequent among them); written to <run_dir>/mlm-step<N>.txt and published. */
static int mlm_evaluate(Engine *g, LwError *e) {
    MlmState *s = g->task_state;
    if (!g->has_val) return LW_OK;
    int nb = LW_MIN(g->cfg.train.eval_batches > 0 ? g->cfg.train.eval_batches : 1, mlm_n_val_batches(g));
    mlm_rewind_val(g);
    int V = engine_model_info(g).vocab_size;
    long ok = 0, n = 0;
    double loss = 0;
    memset(s->blank_count, 0, (size_t)V * sizeof(long));
    for (int i = 0; i < nb; i++) {
        if (engine_aborted(g)) return lw_fail(e, LW_ERR_ABORTED, "evaluation interrupted");
        mlm_next_batch(g, 1);
        loss += g->arch->forward(g->model, &g->batch, 0, NULL);
        ok += mlm_count_correct(g, s->blank_count);
        n += s->n_masked;
    }
    int top = 0; /* the unigram baseline: always answering the most frequent answer of these blanks */
    for (int v = 1; v < V; v++)
        if (s->blank_count[v] > s->blank_count[top]) top = v;
    long base = s->blank_count[top];
    double acc = n ? 100.0 * ok / n : 0, bacc = n ? 100.0 * base / n : 0;
    char top_text[64], name[64], path[CFG_PATH_MAX + 64];
    mlm_token_label(g, top, top_text, sizeof top_text);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f, "step %ld\n[MASK] positions scored: %ld (%d validation batches)\nMLM loss: %.4f\n", g->step, n, nb,
            nb ? loss / nb : 0);
    fprintf(f, "masked-token accuracy: %.2f%%\nunigram baseline (always \"%s\"): %.2f%%\n", acc, top_text, bacc);
    fclose(f);
    snprintf(name, sizeof name, "mlm-step%ld.txt", g->step);
    int rc = lw_write_file_atomic(lw_path_join(path, sizeof path, g->run_dir, name), text, len, e);
    free(text);
    if (rc) return rc;
    engine_publish_event(g, EV_EVAL, "masked accuracy %.1f%%, unigram baseline %.1f%% (always \"%s\"), MLM loss %.4f",
                         acc, bacc, top_text, nb ? loss / nb : 0);
    return LW_OK;
}

static long mlm_window_start(const Engine *g) { return ((const MlmState *)g->task_state)->train.last_start; }

static void mlm_loader_state(const Engine *g, LoaderState *out) {
    loader_state(&((const MlmState *)g->task_state)->train, out);
}

/* ---------------------------------------------------------------- filling masks */

/* text with every "_" that stands alone (between spaces or punctuation) spelled [MASK], into out (n bytes). */
static void mlm_expand_blanks(const char *text, char *out, size_t n) {
    size_t k = 0;
    for (size_t i = 0; text[i] && k + 8 < n; i++) {
        int alone = text[i] == '_' && (i == 0 || !isalnum((unsigned char)text[i - 1])) &&
                    !isalnum((unsigned char)text[i + 1]) && text[i + 1] != '_';
        if (alone) {
            if (i > 0 && text[i - 1] == ' ' && k > 0 && out[k - 1] == ' ') k--; /* "a _ b": the mask takes the space */
            memcpy(out + k, i > 0 && text[i - 1] == ' ' ? " [MASK]" : "[MASK]", 7);
            k += i > 0 && text[i - 1] == ' ' ? 7 : 6;
        } else {
            out[k++] = text[i];
        }
    }
    out[k] = 0;
}

int engine_fill(Engine *g, const char *text, int top_k, FillResult *out, LwError *e) {
    memset(out, 0, sizeof *out);
    int mask = tok_bert_special(g->tok, TOK_MASK), cls = tok_bert_special(g->tok, TOK_CLS),
        sep = tok_bert_special(g->tok, TOK_SEP);
    if (mask < 0 || g->task != &task_mlm)
        return lw_fail(e, LW_ERR_INVALID, "this model does not fill masks: a checkpoint trained with train.task: mlm "
                       "(model.arch: bert) does");
    char *spelled = lw_malloc(strlen(text) * 7 + 8);
    mlm_expand_blanks(text, spelled, strlen(text) * 7 + 8);
    IntVec ids = {0};
    ivec_push(&ids, cls);
    tok_encode(g->tok, spelled, strlen(spelled), 1, &ids);
    free(spelled);
    ivec_push(&ids, sep);
    int T = (int)ids.len;
    if (T > g->T) {
        ivec_free(&ids);
        return lw_fail(e, LW_ERR_INVALID, "the text is %d tokens with [CLS] and [SEP]; this model reads at most %d", T,
                       g->T);
    }
    int n_mask = 0;
    for (int t = 0; t < T; t++) n_mask += ids.data[t] == mask;
    if (!n_mask) {
        ivec_free(&ids);
        return lw_fail(e, LW_ERR_INVALID, "no [MASK] in the text: write [MASK] (or _) where a word is missing");
    }
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = ids.data};
    g->arch->forward(g->model, &b, 0, NULL);
    const float *z = g->arch->logits(g->model);
    ArchInfo mi = engine_model_info(g);
    int V = mi.vocab_size, k = LW_MAX(1, LW_MIN(top_k, SNAP_TOPK));
    int ordinary = ((const MlmState *)g->task_state)->spec.rand_hi;
    float *p = lw_malloc((size_t)V * sizeof(float));
    StrBuf filled = {0};
    for (int t = 1; t < T - 1; t++) {
        int id = ids.data[t];
        if (id == mask && out->n_slots < FILL_MAX_SLOTS) {
            FillSlot *s = &out->slots[out->n_slots++];
            memcpy(p, z + (size_t)t * V, (size_t)V * sizeof(float));
            for (int v = ordinary; v < V; v++) p[v] = -INFINITY; /* a blank is a word: never a special token */
            sampler_softmax(p, V, 1.0f);
            s->pos = t;
            s->n = sampler_top_n(p, V, k, s->ids, s->probs);
            for (int i = 0; i < s->n; i++) engine_token_text(g, s->ids[i], s->text[i], sizeof s->text[i]);
            id = s->ids[0];
        }
        char piece[SNAP_TOKTEXT];
        engine_token_text(g, id, piece, sizeof piece);
        sb_adds(&filled, piece);
    }
    MlmState *ms = g->task_state;
    ms->reply_n = LW_MIN(T, SNAP_MAX_FILL);
    memcpy(ms->reply_ids, ids.data, (size_t)ms->reply_n * sizeof(int));
    char *whole = sb_take(&filled);
    snprintf(out->filled, sizeof out->filled, "%s", whole);
    free(whole);
    out->n_tokens = T;
    free(p);
    ivec_free(&ids);
    return LW_OK;
}

/* A chat reply: the text with each [MASK] filled by its best candidate, read out token by token
 * (mlm_reply_next); a filled mask's GenToken carries its candidates. */
static int mlm_reply_begin(Engine *g, const char *text, const SampleParams *p, LwError *e) {
    (void)p;
    MlmState *s = g->task_state;
    int rc = engine_fill(g, text, SNAP_TOPK, &s->reply, e);
    if (rc) return rc;
    s->reply_at = 1; /* after [CLS] */
    s->reply_slot = 0;
    engine_gen_task_reply(g);
    return LW_OK;
}

static int mlm_reply_next(Engine *g, GenToken *out) {
    MlmState *s = g->task_state;
    if (s->reply_at >= s->reply_n - 1) return 0; /* [SEP] */
    memset(out, 0, sizeof *out);
    int t = s->reply_at++;
    out->id = s->reply_ids[t];
    if (s->reply_slot < s->reply.n_slots && s->reply.slots[s->reply_slot].pos == t) {
        const FillSlot *sl = &s->reply.slots[s->reply_slot++];
        out->id = sl->ids[0];
        out->n_top = sl->n;
        memcpy(out->top_ids, sl->ids, sizeof out->top_ids);
        memcpy(out->top_probs, sl->probs, sizeof out->top_probs);
    }
    engine_token_text(g, out->id, out->text, sizeof out->text);
    return 1;
}

/* An inference checkpoint: the masking spec from its tokenizer (no data). */
static int mlm_open_inference(Engine *g, LwError *e) {
    MlmState *s = g->task_state = lw_calloc(1, sizeof *s);
    if (tok_bert_special(g->tok, TOK_MASK) < 0)
        return lw_fail(e, LW_ERR_INVALID, "the checkpoint's tokenizer has no [MASK] token (vocab.json)");
    return mlm_setup_specials(g, s, e);
}

const TaskOps task_mlm = {
    .name = "mlm",
    .ft_mode = FT_NONE,
    .eot_role = "between documents",
    .summary = "masked language modelling (BERT): 15% of the tokens hidden, each predicted from both sides",
    .open = mlm_open,
    .open_inference = mlm_open_inference,
    .close = mlm_close,
    .next_batch = mlm_next_batch,
    .rewind_val = mlm_rewind_val,
    .n_val_batches = mlm_n_val_batches,
    .val_correct = mlm_val_correct,
    .val_count = mlm_val_count,
    .evaluate = mlm_evaluate,
    .sample = NULL,
    .window_start = mlm_window_start,
    .loader_state = mlm_loader_state,
    .save_meta = NULL,
    .reply_begin = mlm_reply_begin,
    .reply_next = mlm_reply_next,
};
