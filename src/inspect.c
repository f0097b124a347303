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

int engine_ablate(Engine *g, const char *text, AblateResult *out, LwError *e) {
    memset(out, 0, sizeof *out);
    int rc = inspect_check(g, g->arch->forward_ablated != NULL, "head ablation", e);
    if (rc) return rc;
    ArchInfo mi = engine_model_info(g);
    int W = g->T, n;
    int *ids = inspect_encode(g, text, ABLATE_MAX_WINDOWS * W + 1, &n);
    if (n < 2) {
        free(ids);
        return lw_fail(e, LW_ERR_INVALID, "head ablation needs a text of at least two tokens");
    }
    int L = mi.n_layer, NH = mi.n_head;
    unsigned char *knock = lw_calloc((size_t)L * NH, 1);
    out->L = L, out->NH = NH;
    out->n_windows = LW_MIN(ABLATE_MAX_WINDOWS, (n - 1 + W - 1) / W);
    out->base_loss = ablate_loss(g, ids, n, W, knock, &out->n_tokens);
    out->loss = lw_malloc((size_t)L * NH * sizeof(float));
    for (int i = 0; i < L * NH; i++) {
        if (g->abort_flag && *g->abort_flag) {
            rc = lw_fail(e, LW_ERR_ABORTED, "head ablation: interrupted");
            break;
        }
        knock[i] = 1;
        int unused;
        out->loss[i] = ablate_loss(g, ids, n, W, knock, &unused);
        knock[i] = 0;
    }
    free(knock);
    free(ids);
    if (rc) engine_ablate_free(out);
    return rc;
}

void engine_ablate_free(AblateResult *r) {
    free(r->loss);
    memset(r, 0, sizeof *r);
}
