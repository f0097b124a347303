/* inspect.c — the logit lens and head ablation (inspect.h) on the engine's model, through the architecture's
 * lens_logits and forward_ablated ops. Letters: L layers, NH heads, T positions, V vocabulary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"
#include "sampler.h"

/* Whether the model has the op (have_op) and predicts next tokens (causal); else the error naming what is missing. */
static int inspect_check(const Engine *g, int have_op, const char *what, LwError *e) {
    if (!have_op)
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: not available for model.arch %s yet (GPT models have it)", what,
                       g->arch->name);
    if (!engine_model_info(g).causal)
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: this model attends both ways (mlm): it does not predict next tokens",
                       what);
    return LW_OK;
}

/* text's tokens, cut to max; *n their count. */
static int *inspect_encode(const Engine *g, const char *text, int max, int *n) {
    int all = engine_encode(g, text, NULL, 0);
    int *ids = lw_malloc((size_t)LW_MAX(all, 1) * sizeof(int));
    engine_encode(g, text, ids, all);
    *n = LW_MIN(all, max);
    return ids;
}

int engine_lens(Engine *g, const char *text, LensResult *out, LwError *e) {
    memset(out, 0, sizeof *out);
    int rc = inspect_check(g, g->arch->lens_logits != NULL, "the logit lens", e);
    if (rc) return rc;
    ArchInfo mi = engine_model_info(g);
    int T;
    int *ids = inspect_encode(g, text, g->T, &T);
    if (T < 1) {
        free(ids);
        return lw_fail(e, LW_ERR_INVALID, "the logit lens needs a text of at least one token");
    }
    int L = mi.n_layer, V = mi.vocab_size;
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = ids};
    g->arch->forward(g->model, &b, 0, NULL);
    out->n_rows = L + 1;
    out->T = T;
    out->ids = ids;
    out->cells = lw_calloc((size_t)(L + 1) * T, sizeof(LensCell));
    float *z = lw_malloc((size_t)T * V * sizeof(float));
    for (int l = 0; l <= L; l++) {
        g->arch->lens_logits(g->model, l, T, z);
        for (int t = 0; t < T; t++) {
            LensCell *c = &out->cells[(size_t)l * T + t];
            float *p = z + (size_t)t * V;
            sampler_softmax(p, V, 1.0f);
            c->n = sampler_top_n(p, V, LENS_TOPK, c->ids, c->probs);
            if (t + 1 < T) {
                float pn = p[ids[t + 1]];
                int rank = 1;
                for (int v = 0; v < V; v++) rank += p[v] > pn;
                c->p_next = pn;
                c->rank_next = rank;
            }
        }
    }
    free(z);
    return LW_OK;
}

void engine_lens_free(LensResult *r) {
    free(r->ids);
    free(r->cells);
    memset(r, 0, sizeof *r);
}

/* The mean loss over the windows of ids (each predicting its next tokens) with the heads in knock out. */
static float ablate_loss(Engine *g, const int *ids, int n, int W, const unsigned char *knock, int *n_tokens) {
    double sum = 0;
    int count = 0;
    int *tgt = lw_malloc((size_t)W * sizeof(int));
    for (int w = 0; w < ABLATE_MAX_WINDOWS && w * W + 1 < n; w++) {
        int at = w * W, T = LW_MIN(W, n - 1 - at);
        for (int t = 0; t < T; t++) tgt[t] = ids[at + t + 1];
        ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = ids + at, .targets = tgt};
        sum += (double)g->arch->forward_ablated(g->model, &b, knock) * T;
        count += T;
    }
    free(tgt);
    *n_tokens = count;
    return count ? (float)(sum / count) : NAN;
}

/* The engine's fixed validation window (engine_ablate with no text): the first rows of the first validation batch,
 * copied into *inputs / *targets (*rows of *T each). */
static int ablate_val_rows(Engine *g, int **inputs, int **targets, int *rows, int *T, LwError *e) {
    if (!g->has_val || !g->task || !g->task->rewind_val || !g->task->next_batch)
        return lw_fail(e, LW_ERR_INVALID, "head ablation: no validation split to score (a checkpoint opened for "
                                          "inference, or data.val_fraction 0): give a text");
    g->task->rewind_val(g);
    g->task->next_batch(g, 1); /* as engine_evaluate's first batch; training's next step fetches its own */
    const ArchBatch *b = &g->batch;
    if (b->head != ARCH_HEAD_LM || !b->targets || b->src || b->B < 1 || b->T < 2)
        return lw_fail(e, LW_ERR_UNSUPPORTED, "head ablation: this task's validation batches are not next-token "
                                              "predictions: give a text");
    *rows = LW_MIN(b->B, ABLATE_MAX_WINDOWS);
    *T = b->T;
    size_t n = (size_t)*rows * b->T;
    *inputs = lw_malloc(n * sizeof(int));
    *targets = lw_malloc(n * sizeof(int));
    memcpy(*inputs, b->inputs, n * sizeof(int));
    memcpy(*targets, b->targets, n * sizeof(int));
    return LW_OK;
}

/* The mean loss over rows (B = 1 each, as ablate_loss's windows) of the validation window with the heads in knock
 * out; *n_tokens the predictions it averages over. */
static float ablate_rows_loss(Engine *g, const int *inputs, const int *targets, int rows, int T,
                              const unsigned char *knock, int *n_tokens) {
    double sum = 0;
    int count = 0;
    for (int r = 0; r < rows; r++) {
        int c = 0;
        for (int t = 0; t < T; t++) c += targets[(size_t)r * T + t] != ARCH_IGNORE_INDEX;
        if (!c) continue;
        ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = inputs + (size_t)r * T,
                       .targets = targets + (size_t)r * T};
        sum += (double)g->arch->forward_ablated(g->model, &b, knock) * c;
        count += c;
    }
    *n_tokens = count;
    return count ? (float)(sum / count) : NAN;
}

_Static_assert((int)ABLATE_ZERO == (int)ARCH_KNOCK_ZERO && (int)ABLATE_MEAN == (int)ARCH_KNOCK_MEAN, "inspect.h and arch.h agree");

static int ablate_how_check(int how, LwError *e) {
    if (how == ABLATE_ZERO || how == ABLATE_MEAN) return LW_OK;
    return lw_fail(e, LW_ERR_INVALID, "head ablation: unknown way %d to knock a head out (zero or mean)", how);
}

int engine_ablate(Engine *g, const char *text, int how, AblateResult *out, LwError *e) {
    memset(out, 0, sizeof *out);
    int rc = inspect_check(g, g->arch->forward_ablated != NULL, "head ablation", e);
    if (!rc) rc = ablate_how_check(how, e);
    if (rc) return rc;
    ArchInfo mi = engine_model_info(g);
    int W = g->T, n = 0, rows = 0, RT = 0;
    int *ids = NULL, *vin = NULL, *vtg = NULL;
    if (text && text[0]) {
        ids = inspect_encode(g, text, ABLATE_MAX_WINDOWS * W + 1, &n);
        if (n < 2) {
            free(ids);
            return lw_fail(e, LW_ERR_INVALID, "head ablation needs a text of at least two tokens");
        }
    } else if ((rc = ablate_val_rows(g, &vin, &vtg, &rows, &RT, e))) {
        return rc;
    }
    int L = mi.n_layer, NH = mi.n_head;
    unsigned char *knock = lw_calloc((size_t)L * NH, 1);
    out->L = L, out->NH = NH, out->how = how;
    out->n_windows = ids ? LW_MIN(ABLATE_MAX_WINDOWS, (n - 1 + W - 1) / W) : rows;
    out->base_loss = ids ? ablate_loss(g, ids, n, W, knock, &out->n_tokens)
                         : ablate_rows_loss(g, vin, vtg, rows, RT, knock, &out->n_tokens);
    out->loss = lw_malloc((size_t)L * NH * sizeof(float));
    for (int i = 0; i < L * NH; i++) {
        if (g->abort_flag && *g->abort_flag) {
            rc = lw_fail(e, LW_ERR_ABORTED, "head ablation: interrupted");
            break;
        }
        knock[i] = (unsigned char)how;
        int unused;
        out->loss[i] = ids ? ablate_loss(g, ids, n, W, knock, &unused)
                           : ablate_rows_loss(g, vin, vtg, rows, RT, knock, &unused);
        knock[i] = 0;
    }
    free(knock);
    free(ids);
    free(vin);
    free(vtg);
    if (rc) engine_ablate_free(out);
    return rc;
}

/* The softmax of the last position's logits of the last forward (row 0, T positions) into p (V). */
static void ablate_last_probs(Engine *g, int L, int T, int V, float *z, float *p) {
    g->arch->lens_logits(g->model, L, T, z);
    memcpy(p, z + (size_t)(T - 1) * V, (size_t)V * sizeof(float));
    sampler_softmax(p, V, 1.0f);
}

int engine_ablate_next(Engine *g, const char *text, int layer, int head, int how, AblateNext *out, LwError *e) {
    memset(out, 0, sizeof *out);
    int rc = inspect_check(g, g->arch->forward_ablated != NULL && g->arch->lens_logits != NULL, "head ablation", e);
    if (!rc) rc = ablate_how_check(how, e);
    if (rc) return rc;
    ArchInfo mi = engine_model_info(g);
    int L = mi.n_layer, NH = mi.n_head, V = mi.vocab_size, T;
    if (layer >= L || head >= NH || (layer < 0) != (head < 0))
        return lw_fail(e, LW_ERR_INVALID, "head ablation: no head (%d, %d) in %d layers of %d heads", layer, head, L,
                       NH);
    int *ids;
    if (text && text[0]) {
        ids = inspect_encode(g, text, g->T, &T);
    } else { /* the probe sentence, as the probe snapshots have it */
        T = g->probe_T;
        ids = lw_malloc((size_t)LW_MAX(T, 1) * sizeof(int));
        memcpy(ids, g->probe_ids, (size_t)LW_MAX(T, 0) * sizeof(int));
    }
    if (T < 1) {
        free(ids);
        return lw_fail(e, LW_ERR_INVALID, "head ablation needs a text of at least one token");
    }
    int *tgt = lw_malloc((size_t)T * sizeof(int)); /* forward_ablated wants targets: the next tokens, none last */
    for (int t = 0; t < T; t++) tgt[t] = t + 1 < T ? ids[t + 1] : ARCH_IGNORE_INDEX;
    unsigned char *knock = lw_calloc((size_t)L * NH, 1);
    float *z = lw_malloc((size_t)T * V * sizeof(float)), *pw = lw_malloc((size_t)V * sizeof(float)),
          *pk = lw_malloc((size_t)V * sizeof(float));
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = ids, .targets = tgt};
    g->arch->forward_ablated(g->model, &b, knock);
    ablate_last_probs(g, L, T, V, z, pw);
    if (layer >= 0) {
        knock[layer * NH + head] = (unsigned char)how;
        g->arch->forward_ablated(g->model, &b, knock);
        ablate_last_probs(g, L, T, V, z, pk);
    } else {
        memcpy(pk, pw, (size_t)V * sizeof(float));
    }
    out->layer = layer, out->head = head, out->how = how, out->T = T, out->last_id = ids[T - 1];
    out->whole.n = sampler_top_n(pw, V, LENS_TOPK, out->whole.ids, out->whole.probs);
    out->knocked.n = sampler_top_n(pk, V, LENS_TOPK, out->knocked.ids, out->knocked.probs);
    for (int k = 0; k < out->whole.n; k++) out->whole_in_knocked[k] = pk[out->whole.ids[k]];
    for (int k = 0; k < out->knocked.n; k++) out->knocked_in_whole[k] = pw[out->knocked.ids[k]];
    double kl = 0;
    for (int v = 0; v < V; v++)
        if (pw[v] > 0) kl += pw[v] * (log(pw[v]) - log(fmax(pk[v], 1e-30)));
    out->kl = (float)kl;
    free(z);
    free(pw);
    free(pk);
    free(knock);
    free(tgt);
    free(ids);
    return LW_OK;
}

void engine_ablate_free(AblateResult *r) {
    free(r->loss);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- head roles */

void head_role_scores(const float *att, int L, int NH, int T, int rep, float *prev, float *first, float *induction) {
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++) {
            const float *a = att + ((size_t)l * NH + h) * T * T; /* (T, T) rows = queries */
            double sp = 0, sf = 0, si = 0;
            for (int t = 1; t < T; t++) {
                sp += a[(size_t)t * T + t - 1];
                sf += a[(size_t)t * T];
            }
            /* query t = rep + i (the second copy's token i) looks for key i + 1 (what followed token i before) */
            int n_ind = 0;
            for (int t = rep; rep > 0 && t < T && t - rep + 1 < rep; t++, n_ind++) si += a[(size_t)t * T + t - rep + 1];
            prev[l * NH + h] += T > 1 ? (float)(sp / (T - 1)) : 0;
            first[l * NH + h] += T > 1 ? (float)(sf / (T - 1)) : 0;
            induction[l * NH + h] += n_ind ? (float)(si / n_ind) : 0;
        }
}

int engine_head_roles(Engine *g, int n_seqs, int seq_len, uint64_t seed, HeadRoles *out, LwError *e) {
    memset(out, 0, sizeof *out);
    int rc = inspect_check(g, g->arch->probe != NULL, "head roles", e);
    if (rc) return rc;
    ArchInfo mi = engine_model_info(g);
    int L = mi.n_layer, NH = mi.n_head, C = mi.d_model;
    int rep = LW_MIN(seq_len, LW_MIN(g->T, SNAP_MAX_PROBE) / 2), T = 2 * rep;
    n_seqs = LW_MAX(1, LW_MIN(n_seqs, 8));
    if (rep < 2) return lw_fail(e, LW_ERR_INVALID, "head roles: sequences of at least 2 tokens are needed");
    /* ordinary tokens only: below the first special (BERT's and <|endoftext|> sit at the top of the vocabulary) */
    int hi = mi.vocab_size;
    if (tok_eot(g->tok) >= 0) hi = LW_MIN(hi, tok_eot(g->tok));
    if (tok_unk(g->tok) >= 0) hi = LW_MIN(hi, tok_unk(g->tok));
    if (hi < 2 * rep) hi = mi.vocab_size;
    out->L = L, out->NH = NH, out->n_seqs = n_seqs, out->seq_len = rep;
    out->prev = lw_calloc((size_t)L * NH, sizeof(float));
    out->first = lw_calloc((size_t)L * NH, sizeof(float));
    out->induction = lw_calloc((size_t)L * NH, sizeof(float));
    ProbeSnapshot p = {.T = T, .L = L, .NH = NH, .C = C};
    p.att = lw_malloc((size_t)L * NH * T * T * sizeof(float));
    p.tok_emb = lw_malloc((size_t)T * C * sizeof(float));
    p.pos_emb = lw_malloc((size_t)T * C * sizeof(float));
    p.act_mean = lw_calloc((size_t)L + 1, sizeof(float));
    p.act_std = lw_calloc((size_t)L + 1, sizeof(float));
    Rng r;
    rng_seed(&r, seed);
    int ids[SNAP_MAX_PROBE];
    for (int s = 0; s < n_seqs; s++) {
        for (int t = 0; t < rep; t++) ids[t] = ids[rep + t] = (int)(rng_uniform(&r) * hi) % hi;
        ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = ids};
        g->arch->probe(g->model, &b, &p);
        head_role_scores(p.att, L, NH, T, rep, out->prev, out->first, out->induction);
    }
    for (int i = 0; i < L * NH; i++) out->prev[i] /= n_seqs, out->first[i] /= n_seqs, out->induction[i] /= n_seqs;
    free(p.att);
    free(p.tok_emb);
    free(p.pos_emb);
    free(p.act_mean);
    free(p.act_std);
    return LW_OK;
}

void engine_head_roles_free(HeadRoles *r) {
    free(r->prev);
    free(r->first);
    free(r->induction);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- embedding map */

/* y = S v for the covariance S = Xc^T Xc / n of centred rows, without forming S: y = Xc^T (Xc v) / n. */
static void cov_apply(const float *x, const double *mean, int n, int d, const double *v, double *y, double *tmp) {
    for (int j = 0; j < d; j++) y[j] = 0;
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (r[j] - mean[j]) * v[j];
        tmp[i] = s;
    }
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * d;
        for (int j = 0; j < d; j++) y[j] += (r[j] - mean[j]) * tmp[i];
    }
    for (int j = 0; j < d; j++) y[j] /= n;
}

double pca2(const float *x, int n, int d, float *axes, float *xy, float *var) {
    double *mean = lw_calloc((size_t)d, sizeof(double)), *v = lw_malloc((size_t)d * sizeof(double)),
           *y = lw_malloc((size_t)d * sizeof(double)), *tmp = lw_malloc((size_t)LW_MAX(n, 1) * sizeof(double)),
           *found = lw_calloc(2 * (size_t)d, sizeof(double));
    double total = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= LW_MAX(n, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) total += (x[(size_t)i * d + j] - mean[j]) * (x[(size_t)i * d + j] - mean[j]);
    total /= LW_MAX(n, 1);
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < d; j++) v[j] = 1.0 + 0.01 * j * (k + 1); /* a fixed start, not orthogonal to anything */
        double lambda = 0;
        for (int it = 0; it < 500; it++) {
            for (int p = 0; p < k; p++) { /* deflate: stay orthogonal to the axes found */
                double dot = 0;
                for (int j = 0; j < d; j++) dot += v[j] * found[(size_t)p * d + j];
                for (int j = 0; j < d; j++) v[j] -= dot * found[(size_t)p * d + j];
            }
            double nv = 0;
            for (int j = 0; j < d; j++) nv += v[j] * v[j];
            nv = sqrt(nv);
            if (nv == 0) break;
            for (int j = 0; j < d; j++) v[j] /= nv;
            cov_apply(x, mean, n, d, v, y, tmp);
            double l2 = 0, moved = 0;
            for (int j = 0; j < d; j++) l2 += y[j] * v[j];
            for (int j = 0; j < d; j++) moved += fabs(y[j] - l2 * v[j]);
            memcpy(v, y, (size_t)d * sizeof(double));
            if (it > 10 && fabs(l2 - lambda) <= 1e-12 * fmax(1e-30, fabs(l2)) && moved <= 1e-9 * fmax(1e-30, fabs(l2)))
                break;
            lambda = l2;
        }
        for (int p = 0; p < k; p++) {
            double dot = 0;
            for (int j = 0; j < d; j++) dot += v[j] * found[(size_t)p * d + j];
            for (int j = 0; j < d; j++) v[j] -= dot * found[(size_t)p * d + j];
        }
        double nv = 0;
        int big = 0;
        for (int j = 0; j < d; j++) {
            nv += v[j] * v[j];
            if (fabs(v[j]) > fabs(v[big])) big = j;
        }
        nv = sqrt(nv);
        double sign = v[big] < 0 ? -1 : 1;
        for (int j = 0; j < d; j++) found[(size_t)k * d + j] = nv > 0 ? sign * v[j] / nv : 0;
    }
    double vs[2] = {0, 0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += (x[(size_t)i * d + j] - mean[j]) * found[(size_t)k * d + j];
            xy[(size_t)i * 2 + k] = (float)s;
            vs[k] += s * s;
        }
    for (int k = 0; k < 2; k++) {
        var[k] = (float)(vs[k] / LW_MAX(n, 1));
        for (int j = 0; j < d; j++) axes[(size_t)k * d + j] = (float)found[(size_t)k * d + j];
    }
    free(mean);
    free(v);
    free(y);
    free(tmp);
    free(found);
    return total;
}

int engine_embed_map(Engine *g, EmbedMap *out, LwError *e) {
    memset(out, 0, sizeof *out);
    out->query = -1;
    ArchInfo mi = engine_model_info(g);
    int V = mi.vocab_size, C = mi.d_model;
    if (V < 3 || C < 2) return lw_fail(e, LW_ERR_INVALID, "embedding map: the model is too small to project");
    const float *wte = g->arch->token_embedding(g->model);
    float *axes = lw_malloc(2 * (size_t)C * sizeof(float));
    out->n = V;
    out->xy = lw_malloc(2 * (size_t)V * sizeof(float));
    out->total_var = (float)pca2(wte, V, C, axes, out->xy, out->var);
    free(axes);
    return LW_OK;
}

int nearest_rows(const float *x, int n, int d, int q, int *ids, float *sims, int max) {
    int k = LW_MAX(0, LW_MIN(max, n - 1));
    if (q < 0 || q >= n) return 0;
    const float *xq = x + (size_t)q * d;
    double nq = 0;
    for (int c = 0; c < d; c++) nq += (double)xq[c] * xq[c];
    nq = sqrt(nq);
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (i == q) continue;
        const float *xi = x + (size_t)i * d;
        double dot = 0, ni = 0;
        for (int c = 0; c < d; c++) dot += (double)xq[c] * xi[c], ni += (double)xi[c] * xi[c];
        float s = nq > 0 && ni > 0 ? (float)(dot / (nq * sqrt(ni))) : 0.0f;
        /* insertion into the sorted top k: a later row with an equal score stays below the earlier */
        int at = have;
        while (at > 0 && s > sims[at - 1]) at--;
        if (at >= k) continue;
        int last = have < k ? have : k - 1;
        for (int j = last; j > at; j--) ids[j] = ids[j - 1], sims[j] = sims[j - 1];
        ids[at] = i, sims[at] = s;
        if (have < k) have++;
    }
    return have;
}

int engine_nearest_tokens(Engine *g, int id, int *ids, float *sims, int max, LwError *e) {
    ArchInfo mi = engine_model_info(g);
    if (id < 0 || id >= mi.vocab_size) {
        lw_fail(e, LW_ERR_INVALID, "token %d: not in the vocabulary (0..%d)", id, mi.vocab_size - 1);
        return -1;
    }
    return nearest_rows(g->arch->token_embedding(g->model), mi.vocab_size, mi.d_model, id, ids, sims, max);
}

int engine_embed_map_near(Engine *g, int query, EmbedMap *out, LwError *e) {
    int rc = engine_embed_map(g, out, e);
    if (rc || query < 0 || query >= out->n) return rc;
    rc = engine_nearest_tokens(g, query, out->nn_ids, out->nn_sim, EMBED_NN, e);
    if (rc < 0) {
        engine_embed_map_free(out);
        return LW_ERR_INVALID;
    }
    out->query = query, out->n_nn = rc;
    return LW_OK;
}

int engine_has_health(const Engine *g) { return g->arch->layer_health != NULL; }

void engine_embed_map_free(EmbedMap *m) {
    free(m->xy);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- training health */

void engine_health_record(Engine *g, const ArchAdamW *p) {
    if (!g->arch->layer_health) return;
    ArchInfo mi = engine_model_info(g);
    int n = mi.n_layer + 2;
    if (n > HEALTH_MAX_GROUPS) return;
    double g2[HEALTH_MAX_GROUPS], w2[HEALTH_MAX_GROUPS], u2[HEALTH_MAX_GROUPS];
    g->arch->layer_health(g->model, p, g2, w2, u2);
    HealthPoint h = {.step = g->step + 1, .n_groups = n};
    for (int k = 0; k < n; k++) {
        h.grad_norm[k] = (float)sqrt(g2[k]);
        h.weight_norm[k] = (float)sqrt(w2[k]);
        h.update_ratio[k] = w2[k] > 0 && u2[k] > 0 ? (float)(0.5 * log10(u2[k] / w2[k])) : -INFINITY;
    }
    pthread_mutex_lock(&g->mu);
    if (g->n_health == g->cap_health) {
        g->cap_health = g->cap_health ? 2 * g->cap_health : 256;
        g->health = lw_realloc(g->health, (size_t)g->cap_health * sizeof *g->health);
    }
    g->health[g->n_health++] = h;
    g->seq++;
    pthread_mutex_unlock(&g->mu);
    for (int k = 0; k < n; k++) {
        float r = h.update_ratio[k];
        if (!isfinite(r)) continue; /* frozen */
        int band = r > HEALTH_RATIO_HIGH ? 1 : r < HEALTH_RATIO_LOW ? 2 : 0;
        if (band && band != g->health_warned[k]) {
            char name[32];
            engine_health_group_name(k, n, name, sizeof name);
            engine_publish_event(g, EV_WARNING,
                                 band == 1 ? "%s: updates are 10^%.1f of the weights (above 10^%.0f: lower train.lr?)"
                                           : "%s: updates are 10^%.1f of the weights (below 10^%.0f: barely learning)",
                                 name, (double)r, (double)(band == 1 ? HEALTH_RATIO_HIGH : HEALTH_RATIO_LOW));
        }
        g->health_warned[k] = (unsigned char)band;
    }
}

void attention_saturation(const float *att, int L, int NH, int T, int causal, float thresh, float *out) {
    for (int l = 0; l < L; l++) {
        long rows = 0, sat = 0;
        for (int h = 0; h < NH; h++)
            for (int t = causal ? 1 : 0; t < T; t++) {
                const float *row = att + (((size_t)l * NH + h) * T + t) * T;
                int n = causal ? t + 1 : T;
                if (n < 2) continue;
                float mx = 0;
                for (int j = 0; j < n; j++) mx = fmaxf(mx, row[j]);
                rows++;
                sat += mx >= thresh;
            }
        out[l] = rows ? (float)((double)sat / (double)rows) : 0.0f;
    }
}

int engine_n_health(Engine *g) {
    pthread_mutex_lock(&g->mu);
    int n = g->n_health;
    pthread_mutex_unlock(&g->mu);
    return n;
}

int engine_get_health(Engine *g, int from, HealthPoint *out, int max) {
    pthread_mutex_lock(&g->mu);
    int k = 0;
    for (int i = LW_MAX(from, 0); i < g->n_health && k < max; i++) out[k++] = g->health[i];
    pthread_mutex_unlock(&g->mu);
    return k;
}

void engine_health_group_name(int group, int n_groups, char *buf, size_t n) {
    if (group == 0) snprintf(buf, n, "embed");
    else if (group == n_groups - 1) snprintf(buf, n, "head");
    else snprintf(buf, n, "block %d", group);
}
