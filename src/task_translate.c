/* task_translate.c — translation (train.task: translate) on an encoder-decoder (ArchInfo.n_source): parallel
 * sentence pairs (translate_data.h), teacher-forced batches whose loss covers the target tokens only (the source is
 * the encoder's input, never predicted), and at each evaluation greedy (or beam, model.beam) translations of the
 * held-out split scored by corpus BLEU, chrF and exact match beside the word-by-word and copy baselines; the
 * hypotheses go to <run_dir>/hypotheses-step<N>.jsonl and the scores to <run_dir>/translate.csv. A chat reply is
 * the translation of the user's text. Also the engine.h translation calls (engine_translate, engine_gen_cross).
 *
 * Markers: <|endoftext|> is the target's begin marker (first decoder input), its end marker (last target) and the
 * source's end marker; padding is the same id, masked (source) or ignored by the loss (target). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"
#include "translate_data.h"

#define TR_EVAL_MAX 1000 /* held-out pairs translated per evaluation */
#define TR_MAX_BEAM 64

typedef struct TrState {
    TrData d;
    TaskRows rows;
    TrBaseline base;
    int *src, *src_len;     /* (B, S), (B) the batch's sources */
    FILE *csv;              /* <run_dir>/translate.csv */
} TrState;

static int tr_marker(const Engine *g) { return tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0; }

static int tr_open(Engine *g, const EngineOpenOpts *o, LwError *e) {
    Config *c = &g->cfg;
    TrState *s = g->task_state = lw_calloc(1, sizeof *s);
    TrainState st;
    int resumed, rc;
    if (!g->arch->decode_source)
        return lw_fail(e, LW_ERR_INVALID, "train.task: translate needs an encoder-decoder (model.arch: encdec), not %s",
                       c->model.arch);
    if ((rc = engine_finetune_model(g, o, &st, &resumed, e))) return rc;
    if (tok_eot(g->tok) < 0)
        return lw_fail(e, LW_ERR_INVALID, "tokenizer.kind: translate needs a tokenizer with <|endoftext|> (bytes, bpe)");
    int ctx = engine_model_info(g).context_length;
    g->B = c->train.batch_size;
    if ((rc = tr_load(&s->d, c->data.paths[0], e))) return rc;
    /* the source keeps one position for its end marker, the target one for the begin marker */
    if ((rc = tr_tokenize(&s->d, tr_encode_tok, g->tok, tr_encode_tok, g->tok, ctx - 1, ctx, c->finetune.truncate, e)))
        return rc;
    FtSplit *sp = &s->rows.split;
    if ((rc = tr_split(sp, &s->d, c->data.val_fraction, c->data.test_fraction, c->train.seed, e))) return rc;
    int *all = lw_malloc((size_t)s->d.n * sizeof(int));
    for (int i = 0; i < s->d.n; i++) all[i] = i;
    tr_batch_dims(&s->d, all, s->d.n, tr_marker(g), &g->S, &g->T);
    free(all);
    s->src = lw_malloc((size_t)g->B * g->S * sizeof(int));
    s->src_len = lw_malloc((size_t)g->B * sizeof(int));
    const int *eval_rows = sp->n_test ? sp->test : sp->val;
    int n_eval = LW_MIN(sp->n_test ? sp->n_test : sp->n_val, TR_EVAL_MAX);
    if (n_eval > 0) tr_baseline(&s->d, sp, eval_rows, n_eval, &s->base);
    if ((rc = task_rows_start(g, &s->rows, resumed ? &st : NULL, e))) return rc;
    char path[CFG_PATH_MAX + 32];
    lw_path_join(path, sizeof path, g->run_dir, "translate.csv");
    int exists = lw_file_exists(path);
    if (!(s->csv = fopen(path, resumed && exists ? "a" : "w"))) return lw_fail(e, LW_ERR_IO, "%s: cannot open for writing", path);
    if (!(resumed && exists)) fprintf(s->csv, "step,pairs,bleu,chrf,exact\n");
    lw_log(LW_LOG_INFO, "translation pairs: %d (%d train, %d val, %d test); sources up to %d tokens, targets %d", s->d.n,
           sp->n_train, sp->n_val, sp->n_test, g->S, g->T);
    if (n_eval > 0) {
        char line[SNAP_EVENT_TEXT];
        tr_baseline_format(&s->base, sp->n_test ? "test" : "val", line, sizeof line);
        engine_publish_event(g, EV_INFO, "%s", line);
    }
    return LW_OK;
}

static int tr_open_inference(Engine *g, LwError *e) {
    (void)e;
    g->task_state = lw_calloc(1, sizeof(TrState));
    return LW_OK;
}

static void tr_close(Engine *g) {
    TrState *s = g->task_state;
    if (!s) return;
    tr_free(&s->d);
    task_rows_free(&s->rows);
    if (s->csv) fclose(s->csv);
    free(s->src);
    free(s->src_len);
    free(s);
    g->task_state = NULL;
}

static long tr_next_batch(Engine *g, int val) {
    TrState *s = g->task_state;
    int S, T, mk = tr_marker(g);
    task_rows_next(g, &s->rows, val);
    tr_batch_dims(&s->d, s->rows.rows, g->B, mk, &S, &T);
    tr_batch(&s->d, s->rows.rows, g->B, S, T, mk, mk, mk, mk, s->src, s->src_len, g->inputs, g->targets);
    g->batch = (ArchBatch){.head = ARCH_HEAD_LM, .B = g->B, .T = T, .inputs = g->inputs, .targets = g->targets,
                           .S = S, .src = s->src, .src_lengths = s->src_len};
    return (long)g->B * T;
}

static void tr_rewind_val(Engine *g) { task_rows_rewind_val(&((TrState *)g->task_state)->rows); }

static int tr_n_val_batches(const Engine *g) { return task_rows_n_val_batches(g, &((const TrState *)g->task_state)->rows); }

/* ---------------------------------------------------------------- translating */

/* The source ids of text with the end marker, into src (at most max); returns S (0: empty or too long). */
static int tr_source_ids(Engine *g, const char *text, int *src, int max) {
    IntVec ids = {0};
    tok_encode(g->tok, text, strlen(text), 0, &ids);
    int S = (int)LW_MIN(ids.len, (size_t)max - 1);
    memcpy(src, ids.data, (size_t)S * sizeof(int));
    src[S++] = tr_marker(g);
    ivec_free(&ids);
    return S;
}

/* Up to max_hyps translations of src (S ids) best first, as text (malloc'd, caller frees) with their scores:
 * greedy for beam 1, else beam search. Returns how many (0 if the source does not fit). */
static int tr_translate_ids(Engine *g, const int *src, int S, int beam, float len_alpha, int max_len, char **out,
                            float *scores, int max_hyps) {
    int mk = tr_marker(g), V = engine_model_info(g).vocab_size;
    if (!g->kv || g->arch->decode_source(g->model, g->kv, src, S)) return 0;
    max_len = LW_MAX(1, max_len);
    if (beam > 1 && g->arch->decode_beam) {
        ArchHyp h[TR_MAX_BEAM];
        int W = LW_MIN(beam, TR_MAX_BEAM);
        int *toks = lw_malloc((size_t)W * max_len * sizeof(int));
        for (int i = 0; i < W; i++) h[i].tokens = toks + (size_t)i * max_len;
        ArchBeam bp = {.bos = mk, .eos = mk, .max_len = max_len, .beam = W, .len_alpha = len_alpha};
        int n = LW_MIN(g->arch->decode_beam(g->model, g->kv, &bp, h, W), max_hyps);
        for (int i = 0; i < n; i++) {
            int len = h[i].len && h[i].tokens[h[i].len - 1] == mk ? h[i].len - 1 : h[i].len;
            out[i] = tok_decode(g->tok, h[i].tokens, (size_t)len, NULL);
            if (scores) scores[i] = h[i].score;
        }
        free(toks);
        return n;
    }
    g->arch->decode_reset(g->kv);
    IntVec ids = {0};
    int tok = mk;
    for (int i = 0; i < max_len; i++) {
        if (g->arch->decode_step(g->model, g->kv, &tok, 1, g->gen_logits)) break;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (g->gen_logits[v] > g->gen_logits[best]) best = v;
        if (best == mk) break;
        ivec_push(&ids, best);
        tok = best;
    }
    out[0] = tok_decode(g->tok, ids.data, ids.len, NULL);
    if (scores) scores[0] = 0;
    ivec_free(&ids);
    return 1;
}

static void tr_settings(const Engine *g, int *beam, float *alpha) {
    *beam = 1, *alpha = 1.0f;
    if (g->arch->decode_settings) g->arch->decode_settings(g->model, beam, alpha);
}

/* The held-out split (test, else val) translated and scored; hypotheses-step<N>.jsonl, a row of translate.csv and
 * an EV_EVAL event with the baseline beside it. */
static int tr_evaluate(Engine *g, LwError *e) {
    TrState *s = g->task_state;
    const FtSplit *sp = &s->rows.split;
    const int *rows = sp->n_test ? sp->test : sp->val;
    int n = LW_MIN(sp->n_test ? sp->n_test : sp->n_val, TR_EVAL_MAX);
    if (n <= 0) return LW_OK;
    int beam;
    float alpha;
    tr_settings(g, &beam, &alpha);
    char **hyps = lw_calloc((size_t)n, sizeof(char *));
    int *src = lw_malloc((size_t)g->S * sizeof(int));
    int rc = LW_OK;
    for (int i = 0; i < n; i++) {
        if (engine_aborted(g)) {
            rc = lw_fail(e, LW_ERR_ABORTED, "evaluation interrupted");
            break;
        }
        const TrPair *x = &s->d.ex[rows[i]];
        int S = LW_MIN(x->n_src, g->S - 1);
        memcpy(src, x->src_ids, (size_t)S * sizeof(int));
        src[S++] = tr_marker(g);
        tr_translate_ids(g, src, S, beam, alpha, x->n_tgt + 8, &hyps[i], NULL, 1);
    }
    if (rc == LW_OK) {
        char name[64], path[CFG_PATH_MAX + 64];
        snprintf(name, sizeof name, "hypotheses-step%ld.jsonl", g->step);
        lw_path_join(path, sizeof path, g->run_dir, name);
        TrScore sc;
        rc = tr_write_hypotheses(path, &s->d, rows, (const char *const *)hyps, n, &sc, e);
        if (rc == LW_OK) {
            if (s->csv) {
                fprintf(s->csv, "%ld,%d,%.2f,%.2f,%.2f\n", g->step, sc.n, sc.bleu, sc.chrf, 100.0 * sc.n_exact / sc.n);
                fflush(s->csv);
            }
            engine_publish_event(g, EV_EVAL,
                                 "%s on %d %s pairs: BLEU %.1f chrF %.1f exact %.1f%% (word-by-word BLEU %.1f chrF "
                                 "%.1f exact %.1f%%; copy BLEU %.1f); %s",
                                 g->step == 0 ? "before training" : "translation eval", sc.n,
                                 sp->n_test ? "test" : "val", sc.bleu, sc.chrf, 100.0 * sc.n_exact / sc.n,
                                 s->base.word.bleu, s->base.word.chrf, 100.0 * s->base.word.n_exact / LW_MAX(1, s->base.word.n),
                                 s->base.copy.bleu, path);
        }
    }
    for (int i = 0; i < n; i++) free(hyps[i]);
    free(hyps);
    free(src);
    return rc;
}

/* A validation pair (or a training one without a val split) translated greedily: "source → hypothesis". */
static int tr_sample(Engine *g, const SampleParams *spar, char *text, size_t n) {
    (void)spar;
    TrState *s = g->task_state;
    const FtSplit *sp = &s->rows.split;
    const int *rows = sp->n_val ? sp->val : sp->train;
    int nrows = sp->n_val ? sp->n_val : sp->n_train;
    const TrPair *x = &s->d.ex[rows[(g->step / LW_MAX(1, g->cfg.train.sample_every)) % LW_MAX(1, nrows)]];
    int *src = lw_malloc((size_t)g->S * sizeof(int));
    int S = LW_MIN(x->n_src, g->S - 1);
    memcpy(src, x->src_ids, (size_t)S * sizeof(int));
    src[S++] = tr_marker(g);
    char *hyp = NULL;
    int got = tr_translate_ids(g, src, S, 1, 1.0f, x->n_tgt + 8, &hyp, NULL, 1);
    free(src);
    if (got) snprintf(text, n, "%s → %s", x->source, hyp);
    free(hyp);
    return got;
}

static long tr_window_start(const Engine *g) { return ((const TrState *)g->task_state)->rows.rows[0]; }

static void tr_loader_state(const Engine *g, LoaderState *out) {
    task_rows_loader_state(&((const TrState *)g->task_state)->rows, out);
}

static int tr_save_meta(const Engine *g, const char *dir, LwError *e) {
    CkptFinetune meta = g->ft_meta;
    meta.mode = FT_NONE;
    snprintf(meta.task, sizeof meta.task, "translate");
    return ckpt_write_finetune(dir, &meta, e);
}

/* The chat reply: the translation of the user's text, token by token (engine_gen_next, engine_gen_cross). */
static int tr_reply_begin(Engine *g, const char *text, const SampleParams *p, LwError *e) {
    ArchInfo mi = engine_model_info(g);
    int *src = lw_malloc((size_t)mi.context_length * sizeof(int));
    int S = tr_source_ids(g, text, src, mi.context_length);
    int rc = !g->kv || g->arch->decode_source(g->model, g->kv, src, S);
    free(src);
    if (rc) return lw_fail(e, LW_ERR_INVALID, "the sentence does not fit the encoder's %d positions", mi.context_length);
    int bos = tr_marker(g);
    SampleParams q = *p;
    q.stop_at_eot = 1;
    return engine_gen_begin_ids(g, &bos, 1, &q, e);
}

const TaskOps task_translate = {
    .name = "translate",
    .ft_mode = FT_NONE,
    .eot_role = "begin, end and pad",
    .summary = "translation: source/target pairs (TSV or JSONL), loss on the target, BLEU/chrF/exact on held-out pairs",
    .open = tr_open,
    .open_inference = tr_open_inference,
    .close = tr_close,
    .next_batch = tr_next_batch,
    .rewind_val = tr_rewind_val,
    .n_val_batches = tr_n_val_batches,
    .val_correct = NULL,
    .evaluate = tr_evaluate,
    .sample = tr_sample,
    .window_start = tr_window_start,
    .loader_state = tr_loader_state,
    .save_meta = tr_save_meta,
    .reply_begin = tr_reply_begin,
};

/* ---------------------------------------------------------------- engine.h: translation */

int engine_is_translator(const Engine *g) { return engine_model_info(g).n_source > 0; }

int engine_translate(Engine *g, const char *text, int beam, char **out, float *scores, int max, LwError *e) {
    if (!engine_is_translator(g))
        return -lw_fail(e, LW_ERR_INVALID, "this model is not an encoder-decoder (model.arch: encdec): nothing to translate");
    int cfg_beam;
    float alpha;
    tr_settings(g, &cfg_beam, &alpha);
    if (beam <= 0) beam = cfg_beam;
    ArchInfo mi = engine_model_info(g);
    int *src = lw_malloc((size_t)mi.context_length * sizeof(int));
    int S = tr_source_ids(g, text, src, mi.context_length);
    int n = tr_translate_ids(g, src, S, beam, alpha, mi.context_length, out, scores, max);
    free(src);
    if (n == 0) return -lw_fail(e, LW_ERR_INVALID, "the sentence does not fit the encoder's %d positions", mi.context_length);
    return n;
}

int engine_gen_cross(Engine *g, float *row, int max) {
    int S = 0;
    const float *x = g->kv && g->arch->decode_cross ? g->arch->decode_cross(g->kv, &S) : NULL;
    if (!x || S <= 0) return 0;
    ArchInfo mi = engine_model_info(g);
    int NH = mi.n_head, L = mi.n_dec_layer, n = LW_MIN(S, max);
    /* the last decoder layer, averaged over its heads */
    const float *last = x + (size_t)(L - 1) * NH * S;
    for (int s = 0; s < n; s++) {
        float sum = 0;
        for (int h = 0; h < NH; h++) sum += last[(size_t)h * S + s];
        row[s] = sum / NH;
    }
    return n;
}

int engine_source_tokens(Engine *g, const char *text, int *ids, int max) {
    ArchInfo mi = engine_model_info(g);
    int cap = LW_MIN(max, mi.context_length);
    return cap > 0 ? tr_source_ids(g, text, ids, cap) : 0;
}
