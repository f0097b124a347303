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
    return sizeof *p + sizeof(float) * ((size_t)p->L * p->NH * p->T * p->T + 2 * (size_t)p->T * p->C + 2 * (size_t)(p->L + 1));
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
    ArchBatch b = {.head = ARCH_HEAD_LM, .B = 1, .T = T, .inputs = g->probe_ids};
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
    (void)e;
    return LW_OK;
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
    free(p);
}

void engine_free_probes(Engine *g) {
    for (int i = 0; i < g->n_probes; i++) engine_probe_free(g->probes[i]);
    free(g->probes);
    g->probes = NULL;
    g->n_probes = g->cap_probes = 0;
}
