/* arch.c — the list of architectures (arch.h) and how a checkpoint directory names its own. */
#include "arch.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert((int)ARCH_MAP_CAUSAL == SNAP_MAP_CAUSAL && (int)ARCH_MAP_BIDIRECTIONAL == SNAP_MAP_BIDIRECTIONAL &&
                   (int)ARCH_MAP_CROSS == SNAP_MAP_CROSS,
               "snapshot.h and arch.h name the map kinds alike");

/* Every architecture, once. Adding one: its table here and its name in model.arch (config.c). */
const ArchOps *const arch_list[] = {&arch_gpt, &arch_bert, &arch_encdec};
const int arch_count = (int)LW_ARRAY_LEN(arch_list);

const ArchOps *arch_find(const char *name) {
    for (int i = 0; i < arch_count; i++)
        if (name && !strcmp(arch_list[i]->name, name)) return arch_list[i];
    return NULL;
}

int arch_for_checkpoint(const char *dir, const ArchOps **out, LwError *e) {
    char path[CFG_PATH_MAX + 32];
    char *text = NULL;
    size_t len = 0;
    *out = &arch_gpt;
    /* an unreadable config.json is the architecture's loader's to report, with its own message */
    if (lw_read_file(lw_path_join(path, sizeof path, dir, "config.json"), &text, &len, NULL) != LW_OK) return LW_OK;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *mt = j ? cJSON_GetObjectItemCaseSensitive(j, "model_type") : NULL;
    int rc = LW_OK;
    if (cJSON_IsString(mt)) {
        const ArchOps *found = NULL;
        for (int i = 0; i < arch_count && !found; i++)
            if (!strcmp(arch_list[i]->hf_model_type, mt->valuestring)) found = arch_list[i];
        if (found) *out = found;
        else {
            char known[128] = "";
            for (int i = 0; i < arch_count; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s\"%s\"", i ? ", " : "",
                         arch_list[i]->hf_model_type);
            rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: model_type: \"%s\" is not supported (known: %s)", path,
                         mt->valuestring, known);
        }
    }
    cJSON_Delete(j);
    return rc;
}

void arch_probe_fill(ProbeSnapshot *p, const ArchProbeFill *f) {
    int T = f->T, C = f->C;
    memcpy(p->att, f->att, (size_t)f->L * f->NH * T * T * sizeof(float));
    for (int t = 0; t < T; t++) {
        memcpy(p->tok_emb + (size_t)t * C, f->wte + (size_t)f->ids[t] * C, (size_t)C * sizeof(float));
        if (f->wpe) memcpy(p->pos_emb + (size_t)t * C, f->wpe + (size_t)t * C, (size_t)C * sizeof(float));
        else memset(p->pos_emb + (size_t)t * C, 0, (size_t)C * sizeof(float));
    }
    int bad = 0;
    for (int l = 0; l <= f->L; l++) {
        const float *r = f->residual(f->m, l);
        if (!r) continue;
        double sum = 0, sum2 = 0;
        for (size_t i = 0; i < (size_t)T * C; i++) {
            if (!isfinite(r[i])) {
                bad++;
                continue;
            }
            sum += r[i], sum2 += (double)r[i] * r[i];
        }
        double n = (double)T * C, mean = sum / n;
        p->act_mean[l] = (float)mean;
        p->act_std[l] = (float)sqrt(fmax(0, sum2 / n - mean * mean));
    }
    for (size_t i = 0; i < f->n_logits; i++) bad += !isfinite(f->logits[i]);
    p->nonfinite = bad;
    p->n_gelu = 0;
    if (f->gelu_input && f->L <= SNAP_MAX_GELU) {
        for (int l = 1; l <= f->L; l++) {
            size_t n = 0, dead = 0;
            const float *x = f->gelu_input(f->m, l, &n);
            if (!x) return;
            for (size_t i = 0; i < n; i++) dead += x[i] < SNAP_GELU_DEAD;
            p->gelu_dead[l - 1] = n ? (float)((double)dead / (double)n) : 0.0f;
        }
        p->n_gelu = f->L;
    }
}
