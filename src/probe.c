/* probe.c — probe snapshots: the architecture's attention maps (ArchOps.probe) on the probe sentence, the
 * embedding rows and nearest neighbours of its tokens, and residual-stream statistics, kept as a history the
 * Embed and Attention screens scrub through (thinned past a memory cap). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"

#define PROBE_MEM_CAP ((size_t)256 << 20) /* bytes of probe history kept before thinning it */

int engine_set_probe(Engine *g, const char *text, LwError *e) {
    IntVec ids = {0};
    tok_encode(g->tok, text, strlen(text), 1, &ids);
    if (ids.len == 0) {
        ivec_free(&ids);
        return lw_fail(e, LW_ERR_INVALID, "probe.text: the probe sentence is empty");
    }
    int maxT = LW_MIN(SNAP_MAX_PROBE, engine_model_info(g).context_length);
    if (g->T > 0) maxT = LW_MIN(maxT, g->T);
    g->probe_T = (int)LW_MIN(ids.len, (size_t)maxT);
    memcpy(g->probe_ids, ids.data, (size_t)g->probe_T * sizeof(int));
    snprintf(g->cfg.probe.text, sizeof g->cfg.probe.text, "%s", text);
    ivec_free(&ids);
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n_probes; i++) engine_probe_free(g->probes[i]);
    g->n_probes = 0;
    g->probe_bytes = 0;
    pthread_mutex_unlock(&g->mu);
    return engine_probe_now(g, e);
}

static size_t probe_size(const ProbeSnapshot *p) {
    return sizeof *p + sizeof(float) * ((size_t)p->L * p->NH * p->T * p->T + 2 * (size_t)p->T * p->C + 2 * (size_t)(p->L + 1) +
                                        (size_t)p->Ld * p->NH * p->Tt * (p->Tt + p->T));
}

/* An encoder-decoder's probe target: BOS and the greedy translation of the source ids (without its last token, so
 * row t is the step that wrote out[t + 1]); out gets the tokens written (n), inputs the decoder inputs (n). */
static int probe_translate(Engine *g, const int *src, int S, int *inputs, int *out) {
    int bos = tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0, n = 0, V = engine_model_info(g).vocab_size;
    if (!g->kv || g->arch->decode_source(g->model, g->kv, src, S)) return 0;
    g->arch->decode_reset(g->kv);
    int tok = bos;
    while (n < SNAP_MAX_PROBE && n < g->T) {
        if (g->arch->decode_step(g->model, g->kv, &tok, 1, g->gen_logits)) break;
        inputs[n] = tok;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (g->gen_logits[v] > g->gen_logits[best]) best = v;
        out[n++] = best;
        if (best == bos) break;
        tok = best;
    }
    return n;
}

/* Nearest tokens to row `id` of the token embedding wte (V, C) by cosine similarity (skipping id itself). */
static void nearest(const float *wte, int V, int C, const float *norms, int id, int *ids, float *sims) {
    for (int k = 0; k < SNAP_NN; k++) ids[k] = -1, sims[k] = -2;
    const float *q = wte + (size_t)id * C;
    for (int v = 0; v < V; v++) {
        if (v == id) continue;
        const float *r = wte + (size_t)v * C;
        float dot = 0;
        for (int c = 0; c < C; c++) dot += q[c] * r[c];
        float s = dot / (norms[id] * norms[v] + 1e-12f);
        if (s <= sims[SNAP_NN - 1]) continue;
        int k = SNAP_NN - 1;
        while (k > 0 && sims[k - 1] < s) {
            sims[k] = sims[k - 1];
            ids[k] = ids[k - 1];
            k--;
        }
        sims[k] = s;
        ids[k] = v;
    }
}

int engine_probe_now(Engine *g, LwError *e) {
    if (g->probe_T <= 0) return LW_OK;
    ArchInfo mi = engine_model_info(g);
    int T = g->probe_T, L = mi.n_layer, NH = mi.n_head, C = mi.d_model, V = mi.vocab_size;
    ProbeSnapshot *p = lw_calloc(1, sizeof *p);
    p->step = g->step;
    p->T = T, p->L = L, p->NH = NH, p->C = C;
    p->causal = mi.causal;
    p->att = lw_malloc((size_t)L * NH * T * T * sizeof(float));
    p->tok_emb = lw_malloc((size_t)T * C * sizeof(float));
    p->pos_emb = lw_malloc((size_t)T * C * sizeof(float));
    p->act_mean = lw_calloc((size_t)L + 1, sizeof(float));
    p->act_std = lw_calloc((size_t)L + 1, sizeof(float));
    p->kind = (int)g->arch->map_kind;
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = g->probe_ids};
    int dec_in[SNAP_MAX_PROBE];
    if (mi.n_source) { /* the probe sentence is the source; the target the model's translation of it */
        int Tt = probe_translate(g, g->probe_ids, T, dec_in, p->tgt_ids);
        if (Tt < 1) dec_in[0] = p->tgt_ids[0] = tok_eot(g->tok) >= 0 ? tok_eot(g->tok) : 0, Tt = 1;
        p->Tt = Tt;
        p->Ld = mi.n_dec_layer;
        p->dec_att = lw_malloc((size_t)p->Ld * NH * Tt * Tt * sizeof(float));
        p->cross_att = lw_malloc((size_t)p->Ld * NH * Tt * T * sizeof(float));
        for (int t = 0; t < Tt; t++) engine_token_text(g, p->tgt_ids[t], p->tgt_tok[t], sizeof p->tgt_tok[t]);
        b = (ArchBatch){.head = ARCH_HEAD_LM, .B = 1, .T = Tt, .inputs = dec_in, .S = T, .src = g->probe_ids};
    }
    g->arch->probe(g->model, &b, p);
    const float *wte = g->arch->token_embedding(g->model);
    float *norms = lw_malloc((size_t)V * sizeof(float));
    for (int v = 0; v < V; v++) {
        double s = 0;
        for (int c = 0; c < C; c++) s += (double)wte[(size_t)v * C + c] * wte[(size_t)v * C + c];
        norms[v] = (float)sqrt(s);
    }
    for (int t = 0; t < T; t++) {
        int id = g->probe_ids[t];
        p->ids[t] = id;
        engine_token_text(g, id, p->tok[t], sizeof p->tok[t]);
        int seen = -1;
        for (int u = 0; u < t; u++)
            if (g->probe_ids[u] == id) seen = u;
        if (seen >= 0) {
            memcpy(p->nn_ids[t], p->nn_ids[seen], sizeof p->nn_ids[t]);
            memcpy(p->nn_sim[t], p->nn_sim[seen], sizeof p->nn_sim[t]);
        } else {
            nearest(wte, V, C, norms, id, p->nn_ids[t], p->nn_sim[t]);
        }
    }
    free(norms);
    engine_probe_add(g, p);
    if (g->writes_probes) { /* for a watcher: a lost snapshot is a warning, not a reason to stop training */
        char dir[CFG_PATH_MAX + 16], path[CFG_PATH_MAX + 64];
        LwError we;
        snprintf(dir, sizeof dir, "%s/" RUNLOG_PROBES_DIR, g->run_dir);
        runlog_probe_path(g->run_dir, p->step, path, sizeof path);
        if (lw_mkdirs(dir, &we) || runlog_write_probe(path, p, &we)) lw_log(LW_LOG_WARN, "probe snapshot: %s", we.msg);
        else runlog_thin_probes(g->run_dir);
    }
    (void)e;
    return LW_OK;
}

void engine_probe_add(Engine *g, ProbeSnapshot *p) {
    pthread_mutex_lock(&g->mu);
    if (g->n_probes == g->cap_probes) {
        g->cap_probes = g->cap_probes ? g->cap_probes * 2 : 64;
        g->probes = lw_realloc(g->probes, (size_t)g->cap_probes * sizeof *g->probes);
    }
    g->probes[g->n_probes++] = p;
    g->probe_bytes += probe_size(p);
    /* Over the memory cap, thin the history: drop every other snapshot but the first and the newest. */
    if (g->probe_bytes > PROBE_MEM_CAP && g->n_probes > 4) {
        int w = 1;
        for (int r = 1; r < g->n_probes; r++) {
            if (r % 2 == 1 && r != g->n_probes - 1) {
                g->probe_bytes -= probe_size(g->probes[r]);
                engine_probe_free(g->probes[r]);
            } else {
                g->probes[w++] = g->probes[r];
            }
        }
        g->n_probes = w;
    }
    g->seq++;
    pthread_mutex_unlock(&g->mu);
}

static ProbeSnapshot *probe_copy(const ProbeSnapshot *s) {
    ProbeSnapshot *p = lw_malloc(sizeof *p);
    *p = *s;
    size_t na = (size_t)s->L * s->NH * s->T * s->T, ne = (size_t)s->T * s->C;
    p->att = memcpy(lw_malloc(na * sizeof(float)), s->att, na * sizeof(float));
    p->tok_emb = memcpy(lw_malloc(ne * sizeof(float)), s->tok_emb, ne * sizeof(float));
    p->pos_emb = memcpy(lw_malloc(ne * sizeof(float)), s->pos_emb, ne * sizeof(float));
    p->act_mean = memcpy(lw_malloc((size_t)(s->L + 1) * sizeof(float)), s->act_mean, (size_t)(s->L + 1) * sizeof(float));
    p->act_std = memcpy(lw_malloc((size_t)(s->L + 1) * sizeof(float)), s->act_std, (size_t)(s->L + 1) * sizeof(float));
    if (s->Ld) {
        size_t nd = (size_t)s->Ld * s->NH * s->Tt * s->Tt, nc = (size_t)s->Ld * s->NH * s->Tt * s->T;
        p->dec_att = memcpy(lw_malloc(nd * sizeof(float)), s->dec_att, nd * sizeof(float));
        p->cross_att = memcpy(lw_malloc(nc * sizeof(float)), s->cross_att, nc * sizeof(float));
    }
    return p;
}

int engine_n_probes(Engine *g) {
    pthread_mutex_lock(&g->mu);
    int n = g->n_probes;
    pthread_mutex_unlock(&g->mu);
    return n;
}

ProbeSnapshot *engine_get_probe(Engine *g, int index) {
    ProbeSnapshot *p = NULL;
    pthread_mutex_lock(&g->mu);
    if (index < 0) index = g->n_probes - 1;
    if (index >= 0 && index < g->n_probes) p = probe_copy(g->probes[index]);
    pthread_mutex_unlock(&g->mu);
    return p;
}

void engine_probe_free(ProbeSnapshot *p) {
    if (!p) return;
    free(p->att);
    free(p->tok_emb);
    free(p->pos_emb);
    free(p->act_mean);
    free(p->act_std);
    free(p->dec_att);
    free(p->cross_att);
    free(p);
}

void engine_free_probes(Engine *g) {
    for (int i = 0; i < g->n_probes; i++) engine_probe_free(g->probes[i]);
    free(g->probes);
    g->probes = NULL;
    g->n_probes = g->cap_probes = 0;
}
