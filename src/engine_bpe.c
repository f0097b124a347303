/* engine_bpe.c — the engine's tokenizer: the run's BPE vocabulary (trained on the corpus, cached in the run
 * directory, reused while the text and size are unchanged), a checkpoint's tokenizer, the merge-by-merge trainer of
 * the Tokenizer screen, and the token queries of engine.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "engine_impl.h"

/* ---------------------------------------------------------------- the run's tokenizer */

/* The run's BPE vocabulary: reused from <run_dir>/tokenizer when it was trained on the same text and size,
 * trained (and saved) otherwise. */
static int setup_bpe_tokenizer(Engine *g, const char *text, size_t len, const EngineOpenOpts *o, LwError *e) {
    char dir[CFG_PATH_MAX + 32], stamp_path[CFG_PATH_MAX + 64], stamp[128];
    snprintf(dir, sizeof dir, "%s/tokenizer", g->run_dir);
    snprintf(stamp_path, sizeof stamp_path, "%s/llmwb-source.txt", dir);
    uint64_t h = lw_hash64(text, len, LW_HASH_INIT);
    snprintf(stamp, sizeof stamp, "bpe %d %016llx %zu\n", g->cfg.tokenizer.vocab_size, (unsigned long long)h, len);
    char *old = NULL;
    if (lw_read_file(stamp_path, &old, NULL, NULL) == LW_OK) {
        int same = !strcmp(old, stamp);
        free(old);
        if (same && tok_load_dir(&g->tok, dir, NULL) == LW_OK) {
            lw_log(LW_LOG_INFO, "tokenizer: reusing %s (%d tokens)", dir, tok_vocab_size(g->tok));
            return LW_OK;
        }
    }
    BpeTrainer *b;
    int rc = bpe_trainer_open(&b, text, len, g->cfg.tokenizer.vocab_size, e);
    if (rc) return rc;
    int target = g->cfg.tokenizer.vocab_size - 257;
    BpeStepInfo info;
    double last = 0;
    while (bpe_trainer_step(b, &info) == 1) {
        if (engine_aborted(g)) {
            bpe_trainer_close(b);
            return lw_fail(e, LW_ERR_ABORTED, "interrupted while training the tokenizer");
        }
        double now = lw_now();
        if (now - last > 0.05) {
            last = now;
            engine_progress(o, "training tokenizer (BPE merges)", bpe_trainer_n_merges(b), target);
        }
    }
    engine_progress(o, "training tokenizer (BPE merges)", target, target);
    g->tok = bpe_trainer_build(b);
    bpe_trainer_close(b);
    if ((rc = lw_mkdirs(dir, e)) || (rc = tok_save_dir(g->tok, dir, e)) ||
        (rc = lw_write_file_atomic(stamp_path, stamp, strlen(stamp), e)))
        return rc;
    return LW_OK;
}

static int setup_tokenizer_kind(Engine *g, const EngineOpenOpts *o, LwError *e) {
    const Config *c = &g->cfg;
    switch (c->tokenizer.kind) {
    case TOK_GPT2:
        if (!c->tokenizer.path[0]) return lw_fail(e, LW_ERR_INVALID, "tokenizer.path: the GPT-2 tokenizer needs a directory with encoder.json and vocab.bpe");
        return tok_load_dir(&g->tok, c->tokenizer.path, e);
    case TOK_BYTES:
        g->tok = tok_new_bytes();
        return LW_OK;
    case TOK_BPE:
    case TOK_WORDS: {
        char *text;
        size_t len;
        int rc = data_load_text(c, &text, &len, e);
        if (rc) return rc;
        if (c->tokenizer.kind == TOK_WORDS) rc = tok_new_words(&g->tok, text, len, e);
        else rc = setup_bpe_tokenizer(g, text, len, o, e);
        free(text);
        return rc;
    }
    }
    return lw_fail(e, LW_ERR_INVALID, "tokenizer.kind: unknown kind");
}

/* The tokenizer.kind's tokenizer; an encoder's (model.arch bert, model.attention bidirectional) with BERT's special
 * tokens, whatever its task: its inputs are [CLS] text [SEP]. */
int engine_setup_tokenizer(Engine *g, const EngineOpenOpts *o, LwError *e) {
    int rc = setup_tokenizer_kind(g, o, e);
    if (!rc && (g->arch == &arch_bert || g->cfg.model.attention == ATTN_BIDIRECTIONAL)) tok_add_bert_specials(g->tok);
    return rc;
}

/* After loading a checkpoint's weights: its tokenizer if it has one; for a bare Hugging Face GPT-2 directory
 * (V = 50257) the shipped GPT-2 vocabulary; otherwise raw bytes with a warning. */
int engine_checkpoint_tokenizer(Engine *g, const char *dir, LwError *e) {
    int rc, V = engine_model_info(g).vocab_size;
    if (!g->tok) {
        if (V != 50257) {
            if (V < 257)
                return lw_fail(e, LW_ERR_INVALID, "%s: no tokenizer files (vocab.json + merges.txt) in the checkpoint", dir);
            lw_log(LW_LOG_WARN, "%s: no tokenizer files (vocab.json + merges.txt): text is shown as raw bytes", dir);
            g->tok = tok_new_bytes();
        }
        char cfgdir[CFG_PATH_MAX + 8];
        snprintf(cfgdir, sizeof cfgdir, "%s", g->cfg.tokenizer.path);
        const char *dirs[] = {cfgdir, "corpora/gpt2", LLMWB_SHARE "/corpora/gpt2"};
        for (size_t i = 0; i < LW_ARRAY_LEN(dirs) && !g->tok; i++) /* GPT-2's own vocabulary */
            if (dirs[i][0] && lw_is_dir(dirs[i]) && (rc = tok_load_dir(&g->tok, dirs[i], e))) return rc;
        if (!g->tok) return lw_fail(e, LW_ERR_IO, "%s: no tokenizer files, and the shipped GPT-2 vocabulary was not found", dir);
    }
    if (tok_vocab_size(g->tok) > V)
        return lw_fail(e, LW_ERR_INVALID, "%s: tokenizer has %d tokens but the model only %d", dir,
                       tok_vocab_size(g->tok), V);
    return LW_OK;
}

/* ---------------------------------------------------------------- BPE trainer (Tokenizer screen) */

int engine_bpe_begin(Engine *g, size_t max_bytes, int target_vocab, LwError *e) {
    char *text;
    size_t len;
    int rc = data_load_text(&g->cfg, &text, &len, e);
    if (rc) return rc;
    if (len > max_bytes) {
        len = max_bytes;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--; /* whole characters */
    }
    BpeTrainer *b;
    rc = bpe_trainer_open(&b, text, len, target_vocab, e);
    free(text);
    if (rc) return rc;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) bpe_trainer_close(g->bpe);
    g->bpe = b;
    g->bpe_target = target_vocab;
    g->bpe_last_valid = 0;
    g->seq++;
    pthread_mutex_unlock(&g->mu);
    return LW_OK;
}

int engine_bpe_step(Engine *g) {
    if (!g->bpe) return 0;
    pthread_mutex_lock(&g->mu);
    int r = bpe_trainer_step(g->bpe, &g->bpe_last);
    if (r == 1) g->bpe_last_valid = 1, g->seq++;
    pthread_mutex_unlock(&g->mu);
    return r;
}

int engine_bpe_back(Engine *g) {
    if (!g->bpe) return 0;
    pthread_mutex_lock(&g->mu);
    int r = bpe_trainer_back(g->bpe);
    if (r == 1) {
        g->seq++;
        g->bpe_last_valid = 0;
        int n = bpe_trainer_n_merges(g->bpe);
        if (n > 0) {
            BpeStepInfo *li = &g->bpe_last;
            li->rank = n - 1;
            bpe_trainer_merge(g->bpe, n - 1, &li->left, &li->right, &li->count);
            li->new_id = 256 + n - 1;
            li->n_top = 0;
            g->bpe_last_valid = 1;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

int engine_bpe_goto(Engine *g, int n) {
    if (!g->bpe) return 0;
    int moved = 0;
    while (bpe_trainer_n_merges(g->bpe) < n && engine_bpe_step(g) == 1) moved++;
    while (bpe_trainer_n_merges(g->bpe) > n && engine_bpe_back(g) == 1) moved++;
    return moved;
}

/* Printable text of a trainer token into buf. */
static void bpe_text(const BpeTrainer *b, int id, char *buf, size_t n) {
    int len = 0;
    const unsigned char *s = bpe_trainer_token_bytes(b, id, &len);
    size_t k = LW_MIN((size_t)(len > 0 ? len : 0), n - 1);
    if (s) memcpy(buf, s, k);
    buf[k] = 0;
}

void engine_get_bpe(Engine *g, BpeSnapshot *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&g->mu);
    BpeTrainer *b = g->bpe;
    if (b) {
        out->active = 1;
        out->n_merges = bpe_trainer_n_merges(b);
        out->target_merges = g->bpe_target - 257;
        out->vocab_size = 256 + out->n_merges + 1;
        size_t tl = 0;
        bpe_trainer_text(b, &tl);
        out->n_bytes = (long)tl;
        out->n_tokens = bpe_trainer_n_tokens(b);
        out->compression = out->n_tokens > 0 ? (double)out->n_bytes / out->n_tokens : 0;
        out->done = out->n_merges >= out->target_merges;
        if (out->n_merges > 0 && g->bpe_last_valid) {
            const BpeStepInfo *li = &g->bpe_last;
            out->last = (BpeMergeRow){.rank = li->rank, .left = li->left, .right = li->right, .new_id = li->new_id,
                                      .count = li->count};
            bpe_text(b, li->new_id, out->last.text, sizeof out->last.text);
        }
        int left[SNAP_TOPK], right[SNAP_TOPK];
        long count[SNAP_TOPK];
        out->n_top = bpe_trainer_top(b, SNAP_TOPK, left, right, count);
        if (out->n_top == 0) out->done = 1;
        for (int i = 0; i < out->n_top; i++) {
            BpePairRow *r = &out->top[i];
            r->left = left[i], r->right = right[i], r->count = count[i];
            char a[SNAP_TOKTEXT], c[SNAP_TOKTEXT];
            bpe_text(b, left[i], a, sizeof a);
            bpe_text(b, right[i], c, sizeof c);
            size_t la = strlen(a), lc = LW_MIN(strlen(c), sizeof r->text - 1 - la);
            memcpy(r->text, a, la);
            memcpy(r->text + la, c, lc);
            r->text[la + lc] = 0;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

int engine_get_bpe_merges(Engine *g, int from, BpeMergeRow *out, int max) {
    int k = 0;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) {
        int n = bpe_trainer_n_merges(g->bpe);
        for (int r = from < 0 ? 0 : from; r < n && k < max; r++, k++) {
            BpeMergeRow *row = &out[k];
            row->rank = r;
            bpe_trainer_merge(g->bpe, r, &row->left, &row->right, &row->count);
            row->new_id = 256 + r;
            bpe_text(g->bpe, row->new_id, row->text, sizeof row->text);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return k;
}

size_t engine_get_bpe_text(Engine *g, char *buf, size_t n) {
    size_t len = 0;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) {
        const char *text = bpe_trainer_text(g->bpe, &len);
        size_t k = LW_MIN(len, n ? n - 1 : 0);
        if (n) {
            memcpy(buf, text, k);
            buf[k] = 0;
        }
    } else if (n) {
        buf[0] = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return len;
}

int engine_get_bpe_segments(Engine *g, long off, long len, BpeSegment *out, int max) {
    if (max <= 0) return 0;
    long *starts = lw_malloc((size_t)max * sizeof *starts);
    int *lens = lw_malloc((size_t)max * sizeof *lens), *ids = lw_malloc((size_t)max * sizeof *ids);
    int *jm = lw_malloc((size_t)max * sizeof *jm);
    int n = 0;
    pthread_mutex_lock(&g->mu);
    if (g->bpe) n = bpe_trainer_segments(g->bpe, off, len, starts, lens, ids, jm, max);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < n; i++) out[i] = (BpeSegment){.start = starts[i], .len = lens[i], .id = ids[i], .just_merged = jm[i]};
    free(starts), free(lens), free(ids), free(jm);
    return n;
}

/* ---------------------------------------------------------------- tokenizer queries */

int engine_vocab_size(const Engine *g) { return tok_vocab_size(g->tok); }
int engine_eot_id(const Engine *g) { return tok_eot(g->tok); }

int engine_special_tokens(const Engine *g, SpecialToken *out, int max) {
    static const char *const bert_role[TOK_N_BERT] = {
        [TOK_CLS] = "starts every input", [TOK_SEP] = "ends a sentence", [TOK_MASK] = "hides a token",
        [TOK_PAD] = "fills short rows"};
    int ids[2 + TOK_N_BERT], n = 0;
    const char *roles[2 + TOK_N_BERT];
    if (tok_eot(g->tok) >= 0)
        ids[n] = tok_eot(g->tok), roles[n++] = g->task && g->task->eot_role ? g->task->eot_role : "end of text";
    if (tok_unk(g->tok) >= 0) ids[n] = tok_unk(g->tok), roles[n++] = "unknown words";
    for (int k = 0; k < TOK_N_BERT; k++)
        if (tok_bert_special(g->tok, k) >= 0) ids[n] = tok_bert_special(g->tok, k), roles[n++] = bert_role[k];
    for (int i = 1; i < n; i++)   /* lowest id first */
        for (int j = i; j > 0 && ids[j] < ids[j - 1]; j--) {
            int t = ids[j];
            const char *r = roles[j];
            ids[j] = ids[j - 1], roles[j] = roles[j - 1], ids[j - 1] = t, roles[j - 1] = r;
        }
    n = LW_MIN(n, max);
    for (int i = 0; i < n; i++) {
        out[i].id = ids[i];
        engine_token_text(g, ids[i], out[i].text, sizeof out[i].text);
        snprintf(out[i].role, sizeof out[i].role, "%s", roles[i]);
    }
    return n;
}

int engine_encode(const Engine *g, const char *text, int *ids, int max) {
    IntVec v = {0};
    tok_encode(g->tok, text, strlen(text), 1, &v);
    int n = (int)v.len;
    if (ids && max > 0 && n > 0) memcpy(ids, v.data, (size_t)LW_MIN(n, max) * sizeof(int));
    ivec_free(&v);
    return n;
}

int engine_token_text(const Engine *g, int id, char *buf, size_t n) {
    int len = 0;
    const unsigned char *b = tok_bytes(g->tok, id, &len);
    if (!b) len = 0;
    size_t k = LW_MIN((size_t)len, n ? n - 1 : 0);
    if (n) {
        if (k) memcpy(buf, b, k);
        buf[k] = 0;
    }
    return (int)k;
}

int engine_encode_trace(const Engine *g, const char *word, EncodeTrace *out) {
    return tok_encode_trace(g->tok, word, strlen(word), out);
}
