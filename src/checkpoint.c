/* checkpoint.c — Hugging Face-compatible checkpoint directories: save (atomic), read config, load/import.
 * Letters: L layers, C d_model, V vocab. The directory layout and every key are documented in docs/formats.md. */
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "safetensors.h"

#define CKPT_STATE_FORMAT "llmwb-trainer-state"
#define CKPT_STATE_VERSION 1
#define CKPT_PATH 4096

static const char PREFIX_HF[] = "transformer.";

static int resolve_dir(const char *dir, char *out, size_t n, int quiet, LwError *e);
static void ckpt_test_hook(const char *point);
static void ckpt_remove(const char *dir);
static int ckpt_swap(const char *tmp, const char *target, const char *parent, LwError *e);

/* ---- small helpers ---- */

static void fmt_shape(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(out, n, "(");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(out + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(out + k, n - k, ndim == 1 ? ",)" : ")");
}

static void tensor_shape(const GptTensor *t, int64_t *shape) {
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
}

/* "path:line:col" of byte offset `at` in text. */
static void json_where(char *out, size_t n, const char *path, const char *text, size_t at) {
    int line = 1, col = 1;
    for (size_t i = 0; i < at && text[i]; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else col++;
    }
    snprintf(out, n, "%s:%d:%d", path, line, col);
}

/* Parses path as a JSON object; *root freed by the caller with cJSON_Delete. */
static int json_load(const char *path, cJSON **root, LwError *e) {
    *root = NULL;
    char *text;
    size_t len;
    int rc = lw_read_file(path, &text, &len, e);
    if (rc) return rc;
    const char *endp = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &endp, 0);
    if (!j || !cJSON_IsObject(j)) {
        char where[CKPT_PATH + 32];
        json_where(where, sizeof where, path, text, j ? 0 : (endp ? (size_t)(endp - text) : 0));
        cJSON_Delete(j);
        free(text);
        return lw_fail(e, LW_ERR_PARSE, "%s: %s", where, j ? "expected a JSON object" : "malformed JSON");
    }
    free(text);
    *root = j;
    return LW_OK;
}

/* Writes a JSON tree (pretty) atomically. */
static int json_save(const char *path, const cJSON *root, LwError *e) {
    char *s = cJSON_Print(root);
    if (!s) return lw_fail(e, LW_ERR_NOMEM, "%s: cannot print JSON", path);
    size_t n = strlen(s);
    char *t = lw_malloc(n + 2);
    memcpy(t, s, n);
    t[n] = '\n';
    cJSON_free(s);
    int rc = lw_write_file_atomic(path, t, n + 1, e);
    free(t);
    return rc;
}

/* A JSON number that is an integer in [lo, hi]. Returns 1 found+valid, 0 absent, -1 wrong type/range. */
static int json_get_int(const cJSON *o, const char *key, long lo, long hi, long *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (v != floor(v) || v < (double)lo || v > (double)hi) return -1;
    *out = (long)v;
    return 1;
}

static int json_get_bool(const cJSON *o, const char *key, int *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsBool(j)) return -1;
    *out = cJSON_IsTrue(j);
    return 1;
}

/* A float stored as a number, or null meaning `none`. */
static float json_get_float(const cJSON *o, const char *key, float none) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? (float)j->valuedouble : none;
}

static void json_add_float(cJSON *o, const char *key, float v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, (double)v);
    else cJSON_AddNullToObject(o, key);
}

static void hex64(char *out, uint64_t v) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

static int parse_hex64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsString(j) || strlen(j->valuestring) != 16) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(j->valuestring, &end, 16);
    if (errno || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* ---- config.json ---- */

static cJSON *config_json(const Gpt *m, const Tokenizer *tok) {
    const GptConfig *c = &m->cfg;
    int eot = tok ? tok_eot(tok) : -1;
    if (eot < 0) eot = c->vocab_size > 50256 ? 50256 : c->vocab_size - 1;
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(o, "model_type", "gpt2");
    cJSON_AddStringToObject(o, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "n_positions", c->context_length);
    cJSON_AddNumberToObject(o, "n_ctx", c->context_length);
    cJSON_AddNumberToObject(o, "n_embd", c->d_model);
    cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(o, "n_head", c->n_head);
    cJSON_AddNullToObject(o, "n_inner");
    cJSON_AddNumberToObject(o, "resid_pdrop", (double)c->dropout);
    cJSON_AddNumberToObject(o, "embd_pdrop", (double)c->dropout);
    cJSON_AddNumberToObject(o, "attn_pdrop", (double)c->dropout);
    cJSON_AddNumberToObject(o, "layer_norm_epsilon", 1e-5);
    cJSON_AddNumberToObject(o, "initializer_range", 0.02);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_embeddings != 0);
    cJSON_AddNumberToObject(o, "bos_token_id", eot);
    cJSON_AddNumberToObject(o, "eos_token_id", eot);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    cJSON *lw = cJSON_AddObjectToObject(o, "llmwb");
    cJSON_AddNumberToObject(lw, "format_version", 1);
    cJSON_AddBoolToObject(lw, "qkv_bias", c->qkv_bias != 0);
    cJSON_AddBoolToObject(lw, "tie_embeddings", c->tie_embeddings != 0);
    cJSON_AddNumberToObject(lw, "dropout", (double)c->dropout);
    if (m->n_classes) cJSON_AddNumberToObject(lw, "n_classes", m->n_classes);
    if (c->bidirectional) cJSON_AddBoolToObject(lw, "bidirectional", 1); /* model.attention: bidirectional */
    return o;
}

int ckpt_read_config(const char *dir_in, GptConfig *out, LwError *e) {
    memset(out, 0, sizeof *out);
    char path[CKPT_PATH], dir[CKPT_PATH];
    if (resolve_dir(dir_in, dir, sizeof dir, 1, NULL)) snprintf(dir, sizeof dir, "%s", dir_in);
    lw_path_join(path, sizeof path, dir, "config.json");
    cJSON *o;
    int rc = json_load(path, &o, e);
    if (rc) return rc;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "gpt2"))) {
        rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: model_type: \"%s\" is not supported (only \"gpt2\")", path,
                     cJSON_IsString(mt) ? mt->valuestring : "?");
        goto done;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "activation_function");
    if (act && (!cJSON_IsString(act) ||
                (strcmp(act->valuestring, "gelu_new") && strcmp(act->valuestring, "gelu_pytorch_tanh")))) {
        rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: activation_function: \"%s\" is not supported (gelu_new)", path,
                     cJSON_IsString(act) ? act->valuestring : "?");
        goto done;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "layer_norm_epsilon");
    if (eps && (!cJSON_IsNumber(eps) || fabs(eps->valuedouble - 1e-5) > 1e-9)) {
        rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: layer_norm_epsilon: only 1e-5 is supported", path);
        goto done;
    }
    /* Upper bounds: those of the config schema (docs/config.md), well above GPT-2 XL (48, 25, 1600, 1024,
     * 50257); the sizes are checked against model.safetensors before anything is allocated (check_sizes). */
    static const struct {
        const char *key, *alt;
        size_t off;
        long max;
    } DIMS[] = {
        {"n_layer", NULL, offsetof(GptConfig, n_layer), 256},
        {"n_head", NULL, offsetof(GptConfig, n_head), 256},
        {"n_embd", NULL, offsetof(GptConfig, d_model), 16384},
        {"n_positions", "n_ctx", offsetof(GptConfig, context_length), 65536},
        {"vocab_size", NULL, offsetof(GptConfig, vocab_size), 1048576},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(DIMS); i++) {
        long v = 0;
        const char *key = DIMS[i].key;
        int got = json_get_int(o, key, 1, DIMS[i].max, &v);
        if (got == 0 && DIMS[i].alt) got = json_get_int(o, key = DIMS[i].alt, 1, DIMS[i].max, &v);
        if (got == 0) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s: missing key \"%s\"", path, DIMS[i].key);
            goto done;
        }
        if (got < 0) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s: %s: expected an integer in [1, %ld]", path, key, DIMS[i].max);
            goto done;
        }
        *(int *)((char *)out + DIMS[i].off) = (int)v;
    }
    if (out->d_model % out->n_head) {
        rc = lw_fail(e, LW_ERR_INVALID, "%s: n_embd %d is not a multiple of n_head %d", path, out->d_model,
                     out->n_head);
        goto done;
    }
    long inner = 0;
    int gi = json_get_int(o, "n_inner", 1, 1L << 30, &inner);
    if (gi < 0 || (gi > 0 && inner != 4L * out->d_model)) {
        rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: n_inner: only null (4 * n_embd) is supported", path);
        goto done;
    }
    out->tie_embeddings = 1;
    if (json_get_bool(o, "tie_word_embeddings", &out->tie_embeddings) < 0) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: tie_word_embeddings: expected true or false", path);
        goto done;
    }
    out->qkv_bias = 1; /* OpenAI GPT-2 has q, k, v biases */
    out->bidirectional = 0;
    out->dropout = json_get_float(o, "resid_pdrop", 0.1f);
    const cJSON *lw = cJSON_GetObjectItemCaseSensitive(o, "llmwb");
    if (cJSON_IsObject(lw)) {
        if (json_get_bool(lw, "qkv_bias", &out->qkv_bias) < 0 ||
            json_get_bool(lw, "tie_embeddings", &out->tie_embeddings) < 0 ||
            json_get_bool(lw, "bidirectional", &out->bidirectional) < 0) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s: llmwb.qkv_bias / tie_embeddings / bidirectional: expected true or false",
                         path);
            goto done;
        }
        out->dropout = json_get_float(lw, "dropout", out->dropout);
    }
    if (!(out->dropout >= 0.0f && out->dropout < 1.0f)) {
        rc = lw_fail(e, LW_ERR_INVALID, "%s: resid_pdrop %g is not in [0, 1)", path, (double)out->dropout);
        goto done;
    }
done:
    cJSON_Delete(o);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

/* ---- save ---- */

static int save_state_json(const char *path, const TrainState *st, const char *yaml, LwError *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", CKPT_STATE_FORMAT);
    cJSON_AddNumberToObject(o, "version", CKPT_STATE_VERSION);
    cJSON_AddNumberToObject(o, "step", (double)st->step);
    cJSON_AddNumberToObject(o, "tokens_seen", (double)st->tokens_seen);
    cJSON *rng = cJSON_AddArrayToObject(o, "rng");
    for (int i = 0; i < 4; i++) {
        char h[17];
        hex64(h, st->rng.s[i]);
        cJSON_AddItemToArray(rng, cJSON_CreateString(h));
    }
    cJSON *ld = cJSON_AddObjectToObject(o, "loader");
    char seed[17];
    hex64(seed, st->loader.seed);
    cJSON_AddStringToObject(ld, "seed", seed);
    cJSON_AddNumberToObject(ld, "epoch", (double)st->loader.epoch);
    cJSON_AddNumberToObject(ld, "cursor", (double)st->loader.cursor);
    json_add_float(o, "best_val_loss", st->best_val_loss);
    json_add_float(o, "last_val_loss", st->last_val_loss);
    cJSON_AddNumberToObject(o, "elapsed", st->elapsed);
    if (yaml) cJSON_AddStringToObject(o, "config_yaml", yaml);
    else cJSON_AddNullToObject(o, "config_yaml");
    int rc = json_save(path, o, e);
    cJSON_Delete(o);
    return rc;
}

/* adapter_config.json: PEFT's keys (r, lora_alpha, target_modules, ...) plus ours (llmwb_targets). */
static int save_adapter_config(const char *dir, const Gpt *m, LwError *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "peft_type", "LORA");
    cJSON_AddStringToObject(o, "task_type", m->n_classes ? "SEQ_CLS" : "CAUSAL_LM");
    cJSON_AddNumberToObject(o, "r", m->lora_rank);
    cJSON_AddNumberToObject(o, "lora_alpha", (double)m->lora_alpha);
    cJSON *tm = cJSON_AddArrayToObject(o, "target_modules");
    static const char *const MOD[] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
    for (int k = 0; k < 4; k++)
        if (m->lora_targets & (1 << k)) cJSON_AddItemToArray(tm, cJSON_CreateString(MOD[k]));
    if (m->lora_targets & GPT_LORA_HEAD) cJSON_AddItemToArray(tm, cJSON_CreateString(m->n_classes ? "score" : "lm_head"));
    cJSON_AddBoolToObject(o, "fan_in_fan_out", 1);
    cJSON_AddStringToObject(o, "bias", "none");
    cJSON_AddNumberToObject(o, "lora_dropout", 0.0);
    char targets[64];
    gpt_lora_format_targets(m->lora_targets, targets, sizeof targets);
    cJSON_AddStringToObject(o, "llmwb_targets", targets);
    cJSON_AddStringToObject(o, "llmwb_layout", "A (in, r), B (r, out): y += (lora_alpha / r) x A B");
    char path[CKPT_PATH];
    int rc = json_save(lw_path_join(path, sizeof path, dir, "adapter_config.json"), o, e);
    cJSON_Delete(o);
    return rc;
}

/* Writes model.safetensors (and optimizer.safetensors when st) of m into dir; with LoRA on, the adapters go to
 * adapter_model.safetensors + adapter_config.json, or, with merge, into copies of the base weights. */
static int save_tensors(const char *dir, const Gpt *m, int with_optimizer, int merge, LwError *e) {
    const GptConfig *c = &m->cfg;
    int n_extra = c->qkv_bias ? 0 : c->n_layer;
    StEntry *ent = lw_calloc((size_t)(m->n_tensors + n_extra) * 2, sizeof(StEntry));
    char (*names)[80] = lw_calloc((size_t)(m->n_tensors * 2 + n_extra), sizeof(*names));
    float *zeros = lw_calloc((size_t)3 * (size_t)c->d_model, sizeof(float));
    float **merged = lw_calloc((size_t)m->n_tensors + 1, sizeof(float *));
    int n = 0, rc = LW_OK;
    for (int i = 0; i < m->n_tensors; i++) {
        const GptTensor *t = &m->tensors[i];
        if (t->role == GPT_ROLE_LORA) continue;
        const float *data = m->params + t->offset;
        if (merge && m->lora_rank) {
            float *w = lw_malloc(t->numel * sizeof(float));
            memcpy(w, data, t->numel * sizeof(float));
            if (gpt_lora_add_delta(m, t, w)) data = merged[i] = w;
            else free(w);
        }
        ent[n] = (StEntry){.name = t->name, .ndim = t->ndim, .data = data};
        tensor_shape(t, ent[n].shape);
        n++;
    }
    /* HF's GPT-2 always has c_attn.bias: zeros keep the same function when we have none. */
    for (int l = 0; l < n_extra; l++) {
        snprintf(names[l], sizeof names[l], "h.%d.attn.c_attn.bias", l);
        ent[n++] = (StEntry){.name = names[l], .ndim = 1, .shape = {3 * (int64_t)c->d_model}, .data = zeros};
    }
    char path[CKPT_PATH];
    static const char *const META[] = {"format", "pt", "producer", "llmwb"};
    rc = st_write(lw_path_join(path, sizeof path, dir, "model.safetensors"), ent, n, META, 2, e);
    if (!rc && m->lora_rank && !merge) {
        n = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            const GptTensor *t = &m->tensors[i];
            if (t->role != GPT_ROLE_LORA) continue;
            ent[n] = (StEntry){.name = t->name, .ndim = t->ndim, .data = m->params + t->offset};
            tensor_shape(t, ent[n].shape);
            n++;
        }
        static const char *const AMETA[] = {"format", "pt", "producer", "llmwb"};
        rc = st_write(lw_path_join(path, sizeof path, dir, "adapter_model.safetensors"), ent, n, AMETA, 2, e);
        if (!rc) rc = save_adapter_config(dir, m, e);
    }
    if (!rc && with_optimizer) {
        n = 0;
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < m->n_tensors; i++) {
                const GptTensor *t = &m->tensors[i];
                char *nm = names[n_extra + k * m->n_tensors + i];
                snprintf(nm, sizeof names[0], "%s.%s", k ? "adam_v" : "adam_m", t->name);
                ent[n] = (StEntry){.name = nm, .ndim = t->ndim, .data = (k ? m->adam_v : m->adam_m) + t->offset};
                tensor_shape(t, ent[n].shape);
                n++;
            }
        static const char *const OMETA[] = {"format", "llmwb-adamw", "producer", "llmwb"};
        rc = st_write(lw_path_join(path, sizeof path, dir, "optimizer.safetensors"), ent, n, OMETA, 2, e);
    }
    for (int i = 0; i < m->n_tensors; i++) free(merged[i]);
    free(merged);
    free(zeros);
    free(names);
    free(ent);
    return rc;
}

int ckpt_save(const char *dir, const Gpt *m, const Tokenizer *tok, const TrainState *st, const char *config_yaml,
              LwError *e) {
    return ckpt_save_ex(dir, m, tok, st, config_yaml, 0, e);
}

/* The temporary directory a save writes into before swapping it in, "<dir>.tmp-<pid>" (created empty), and the
 * target without trailing slashes. */
static int save_begin(const char *dir, char *target, size_t tn, char *tmp, size_t n, LwError *e) {
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--; /* "runs/x/latest/" names the same directory */
    if (dl + 1 >= tn) return lw_fail(e, LW_ERR_INVALID, "checkpoint path too long: %s", dir);
    snprintf(target, tn, "%.*s", (int)dl, dir);
    snprintf(tmp, n, "%s.tmp-%ld", target, (long)getpid());
    char parent[CKPT_PATH];
    lw_dirname(parent, sizeof parent, target);
    int rc = lw_mkdirs(parent, e);
    if (rc) return rc;
    ckpt_remove(tmp);
    return lw_mkdirs(tmp, e);
}

/* Ends a save: on rc == LW_OK fsyncs tmp and swaps it into target atomically (ckpt_swap: the previous checkpoint
 * stays intact until the new one is in place); otherwise removes tmp. Returns the final status. */
static int save_commit(int rc, const char *target, const char *tmp, LwError *e) {
    char parent[CKPT_PATH];
    if (!rc && lw_fsync_dir(tmp) != 0) rc = lw_fail(e, LW_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
    if (rc) {
        ckpt_remove(tmp);
        return rc;
    }
    ckpt_test_hook("written");
    lw_dirname(parent, sizeof parent, target);
    if ((rc = ckpt_swap(tmp, target, parent, e))) ckpt_remove(tmp);
    return rc;
}

/* ---- the swap, recovery, stale directories ---- */

/* Test hook: with LLMWB_TEST_CKPT_KILL=<point> the process kills itself (SIGKILL) at that point of a save, as a
 * power cut would: "written" (the new directory is complete, nothing swapped yet), "exchanged" (swapped, the old
 * one not yet removed), "aside" (fallback swap only: the old one renamed aside, the new one not yet in place).
 * LLMWB_TEST_CKPT_NO_EXCHANGE=1 forces the fallback swap (two renames), as on a filesystem without
 * RENAME_EXCHANGE. Only the crash-safety tests set them. */
static void ckpt_test_hook(const char *point) {
    const char *k = getenv("LLMWB_TEST_CKPT_KILL");
    if (k && !strcmp(k, point)) raise(SIGKILL);
}

/* Removes a checkpoint directory so that an interrupted removal never leaves something that looks complete:
 * trainer_state.json and config.json go first (ckpt_recover only considers directories that have them). */
static void ckpt_remove(const char *dir) {
    char p[CKPT_PATH];
    unlink(lw_path_join(p, sizeof p, dir, "trainer_state.json"));
    unlink(lw_path_join(p, sizeof p, dir, "config.json"));
    lw_rmtree(dir);
}

/* Puts the complete directory tmp in place of target. With renameat2(RENAME_EXCHANGE) the two swap in one atomic
 * step, so target always names a complete checkpoint; tmp then holds the old one, which is removed. Where the
 * filesystem cannot exchange (EINVAL/ENOSYS/ENOTSUP), the old one is renamed aside to <target>.old-<pid> and tmp
 * renamed in: a crash between the two leaves no target, and ckpt_recover / the loader pick the candidate with
 * the highest saved step. */
static int ckpt_swap(const char *tmp, const char *target, const char *parent, LwError *e) {
    struct stat sb;
    if (lstat(target, &sb) != 0) {
        if (rename(tmp, target) != 0) return lw_fail(e, LW_ERR_IO, "%s: cannot rename into place: %s", target, strerror(errno));
        lw_fsync_dir(parent);
        return LW_OK;
    }
    const char *no_x = getenv("LLMWB_TEST_CKPT_NO_EXCHANGE");
    int exchanged = 0;
    if (!(no_x && *no_x && strcmp(no_x, "0"))) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_EXCHANGE) == 0) exchanged = 1;
        else if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP)
            return lw_fail(e, LW_ERR_IO, "%s: cannot swap in the new checkpoint: %s", target, strerror(errno));
    }
    if (exchanged) {
        lw_fsync_dir(parent);
        ckpt_test_hook("exchanged");
        ckpt_remove(tmp); /* the previous checkpoint */
        lw_fsync_dir(parent);
        return LW_OK;
    }
    char old[CKPT_PATH];
    snprintf(old, sizeof old, "%s.old-%ld", target, (long)getpid());
    ckpt_remove(old);
    if (rename(target, old) != 0) return lw_fail(e, LW_ERR_IO, "%s: cannot move aside: %s", target, strerror(errno));
    ckpt_test_hook("aside");
    if (rename(tmp, target) != 0) {
        int err = errno;
        rename(old, target);
        return lw_fail(e, LW_ERR_IO, "%s: cannot rename into place: %s", target, strerror(err));
    }
    lw_fsync_dir(parent);
    ckpt_remove(old);
    lw_fsync_dir(parent);
    return LW_OK;
}

/* The pid in "<target>.tmp-<pid>" / "<target>.old-<pid>", or 0 when name is not one of those. */
static long leftover_pid(const char *target, const char *name) {
    size_t n = strlen(target);
    if (strncmp(name, target, n) || (strncmp(name + n, ".tmp-", 5) && strncmp(name + n, ".old-", 5))) return 0;
    char *end;
    long pid = strtol(name + n + 5, &end, 10);
    return *end || pid <= 0 ? 0 : pid;
}

static int pid_alive(long pid) { return pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH; }

/* The saved step of a complete checkpoint directory: trainer_state.json's step, -1 for a complete weights-only
 * one (config.json + model.safetensors), -2 when incomplete or unreadable. */
static long candidate_step(const char *dir) {
    char p[CKPT_PATH];
    if (!lw_file_exists(lw_path_join(p, sizeof p, dir, "config.json")) ||
        !lw_file_exists(lw_path_join(p, sizeof p, dir, "model.safetensors")))
        return -2;
    if (!lw_file_exists(lw_path_join(p, sizeof p, dir, "trainer_state.json"))) return -1;
    cJSON *o;
    if (json_load(p, &o, NULL)) return -2;
    long step = -2;
    if (json_get_int(o, "step", 0, 1L << 52, &step) != 1) step = -2;
    cJSON_Delete(o);
    if (step >= 0 && !lw_file_exists(lw_path_join(p, sizeof p, dir, "optimizer.safetensors"))) step = -2;
    return step;
}

/* Calls fn(path, pid, is_tmp, ud) for each "<target>.tmp-<pid>" / "<target>.old-<pid>" beside target. */
static void for_each_leftover(const char *target, void (*fn)(const char *path, long pid, int is_tmp, void *ud),
                              void *ud) {
    char parent[CKPT_PATH];
    lw_dirname(parent, sizeof parent, target);
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid = leftover_pid(base, de->d_name);
        if (!pid) continue;
        char path[CKPT_PATH];
        if (snprintf(path, sizeof path, "%s/%s", parent, de->d_name) >= (int)sizeof path) continue;
        fn(path, pid, de->d_name[strlen(base) + 1] == 't', ud);
    }
    closedir(d);
}

typedef struct Best {
    char path[CKPT_PATH];
    long step;
    int found;
} Best;

static void consider(const char *path, long pid, int is_tmp, void *ud) {
    Best *b = ud;
    long s = candidate_step(path);
    if (is_tmp && s < 0) return; /* a new checkpoint is complete only once trainer_state.json (written last) is in */
    if (s > -2 && (!b->found || s > b->step)) {
        snprintf(b->path, sizeof b->path, "%s", path);
        b->step = s;
        b->found = 1;
    }
}

/* The best leftover of interrupted saves of target: the complete one with the highest saved step. Returns 1 with
 * its path in out, 0 when there is none. */
static int best_leftover(const char *target, char *out, size_t n, long *step) {
    Best b = {.found = 0};
    for_each_leftover(target, consider, &b);
    if (b.found) snprintf(out, n, "%s", b.path);
    *step = b.step;
    return b.found;
}

static void remove_dead(const char *path, long pid, int is_tmp, void *ud) {
    (void)is_tmp, (void)ud;
    if (pid_alive(pid)) return; /* a save in progress in another process */
    ckpt_remove(path);
    lw_log(LW_LOG_INFO, "removed %s, left by an interrupted save", path);
}

int ckpt_recover(const char *target_in, LwError *e) {
    char target[CKPT_PATH];
    size_t dl = strlen(target_in);
    while (dl > 1 && target_in[dl - 1] == '/') dl--;
    if (dl >= sizeof target - 32) return lw_fail(e, LW_ERR_INVALID, "checkpoint path too long: %s", target_in);
    snprintf(target, sizeof target, "%.*s", (int)dl, target_in);
    char best[CKPT_PATH];
    long step;
    if (!lw_is_dir(target) && best_leftover(target, best, sizeof best, &step)) {
        if (rename(best, target) != 0)
            return lw_fail(e, LW_ERR_IO, "%s: cannot restore it from %s: %s", target, best, strerror(errno));
        char parent[CKPT_PATH];
        lw_fsync_dir(lw_dirname(parent, sizeof parent, target));
        if (step >= 0) lw_log(LW_LOG_WARN, "%s was missing after an interrupted save: restored it from %s (step %ld)", target, best, step);
        else lw_log(LW_LOG_WARN, "%s was missing after an interrupted save: restored it from %s", target, best);
    }
    for_each_leftover(target, remove_dead, NULL);
    return LW_OK;
}

int ckpt_save_ex(const char *dir, const Gpt *m, const Tokenizer *tok, const TrainState *st, const char *config_yaml,
                 int flags, LwError *e) {
    int merge = (flags & CKPT_MERGE_LORA) != 0;
    if (merge && st)
        return lw_fail(e, LW_ERR_INVALID, "%s: a merged export carries no training state (adapters are folded in)", dir);
    char tmp[CKPT_PATH], path[CKPT_PATH], target[CKPT_PATH - 64];
    int rc = save_begin(dir, target, sizeof target, tmp, sizeof tmp, e);
    if (rc) return rc;
    cJSON *cfg = config_json(m, tok);
    rc = json_save(lw_path_join(path, sizeof path, tmp, "config.json"), cfg, e);
    cJSON_Delete(cfg);
    if (!rc) rc = save_tensors(tmp, m, st != NULL, merge, e);
    if (!rc && tok) rc = tok_save_dir(tok, tmp, e);
    if (!rc && st) rc = save_state_json(lw_path_join(path, sizeof path, tmp, "trainer_state.json"), st, config_yaml, e);
    return save_commit(rc, target, tmp, e);
}

/* ---- any architecture's tensor table (ckpt_save_table / ckpt_load_table) ---- */

int ckpt_save_table(const char *dir, const char *config_json, const CkptTable *tb, const Tokenizer *tok,
                    const TrainState *st, const char *config_yaml, LwError *e) {
    char tmp[CKPT_PATH], path[CKPT_PATH], target[CKPT_PATH - 64];
    int rc = save_begin(dir, target, sizeof target, tmp, sizeof tmp, e);
    if (rc) return rc;
    size_t cl = strlen(config_json);
    rc = lw_write_file_atomic(lw_path_join(path, sizeof path, tmp, "config.json"), config_json, cl, e);
    StEntry *ent = lw_calloc((size_t)tb->n_tensors * 2 + 1, sizeof(StEntry));
    char (*names)[96] = lw_calloc((size_t)tb->n_tensors * 2 + 1, sizeof(*names));
    for (int i = 0; i < tb->n_tensors; i++) {
        ent[i] = (StEntry){.name = tb->tensors[i].name, .ndim = tb->tensors[i].ndim, .data = tb->params + tb->tensors[i].offset};
        tensor_shape(&tb->tensors[i], ent[i].shape);
    }
    static const char *const META[] = {"format", "pt", "producer", "llmwb"};
    if (!rc) rc = st_write(lw_path_join(path, sizeof path, tmp, "model.safetensors"), ent, tb->n_tensors, META, 2, e);
    if (!rc && st) {
        int n = 0;
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < tb->n_tensors; i++, n++) {
                const GptTensor *t = &tb->tensors[i];
                snprintf(names[n], sizeof names[n], "%s.%s", k ? "adam_v" : "adam_m", t->name);
                ent[n] = (StEntry){.name = names[n], .ndim = t->ndim, .data = (k ? tb->adam_v : tb->adam_m) + t->offset};
                tensor_shape(t, ent[n].shape);
            }
        static const char *const OMETA[] = {"format", "llmwb-adamw", "producer", "llmwb"};
        rc = st_write(lw_path_join(path, sizeof path, tmp, "optimizer.safetensors"), ent, n, OMETA, 2, e);
    }
    free(names);
    free(ent);
    if (!rc && tok) rc = tok_save_dir(tok, tmp, e);
    if (!rc && st) rc = save_state_json(lw_path_join(path, sizeof path, tmp, "trainer_state.json"), st, config_yaml, e);
    return save_commit(rc, target, tmp, e);
}

int ckpt_write_state(const char *dir, const TrainState *st, const char *config_yaml, LwError *e) {
    char path[CKPT_PATH];
    return save_state_json(lw_path_join(path, sizeof path, dir, "trainer_state.json"), st, config_yaml, e);
}

int ckpt_write_dir(const char *dir, int (*fill)(const char *tmp, void *ud, LwError *e), void *ud, LwError *e) {
    char tmp[CKPT_PATH], target[CKPT_PATH - 64];
    int rc = save_begin(dir, target, sizeof target, tmp, sizeof tmp, e);
    if (rc) return rc;
    return save_commit(fill(tmp, ud, e), target, tmp, e);
}

/* ---- load ---- */

/* The directory to load: dir itself, or, when a save was interrupted between moving the old checkpoint aside and
 * renaming the new one into place (the fallback swap), the leftover with the highest saved step. Read-only:
 * ckpt_recover repairs the directory. */
static int resolve_dir(const char *dir, char *out, size_t n, int quiet, LwError *e) {
    if (lw_is_dir(dir)) {
        snprintf(out, n, "%s", dir);
        return LW_OK;
    }
    long step;
    if (!best_leftover(dir, out, n, &step)) return lw_fail(e, LW_ERR_IO, "%s: no such checkpoint directory", dir);
    char at[40] = "";
    if (step >= 0) snprintf(at, sizeof at, " (step %ld)", step);
    if (!quiet) lw_log(LW_LOG_WARN, "%s is missing; loading %s%s, left by an interrupted save", dir, out, at);
    return LW_OK;
}

int ckpt_has_state(const char *dir) {
    char p[CKPT_PATH];
    return lw_file_exists(lw_path_join(p, sizeof p, dir, "trainer_state.json"));
}

/* The model-side name of a file tensor: without "transformer."; NULL for buffers we ignore. */
static const char *model_name(const char *name) {
    if (!strncmp(name, PREFIX_HF, sizeof PREFIX_HF - 1)) name += sizeof PREFIX_HF - 1;
    size_t n = strlen(name);
    static const char *const IGNORED[] = {".attn.bias", ".attn.masked_bias"};
    for (size_t i = 0; i < LW_ARRAY_LEN(IGNORED); i++) {
        size_t k = strlen(IGNORED[i]);
        if (n > k && !strcmp(name + n - k, IGNORED[i])) return NULL;
    }
    return name;
}

/* Index from model tensor name to file tensor, after prefix stripping. */
typedef struct FileIndex {
    const StTensor **t;  /* per model tensor (m->n_tensors), or NULL */
    int *used;           /* per file tensor */
} FileIndex;

static int check_shape(const StFile *f, const StTensor *ft, const char *name, int ndim, const int64_t *shape,
                       LwError *e) {
    int ok = ft->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = ft->shape[i] == shape[i];
    if (ok) return LW_OK;
    char want[96], got[96];
    fmt_shape(want, sizeof want, ndim, shape);
    fmt_shape(got, sizeof got, ft->ndim, ft->shape);
    return lw_fail(e, LW_ERR_INVALID, "%s: %s: expected shape %s, found %s", st_path(f), name, want, got);
}

/* Finds the file tensor for model name `name` (with or without prefix); marks it used. Duplicates (both spellings
 * present) are an error. Returns LW_OK with *out NULL when absent. */
static int find_tensor(const StFile *f, int *used, const char *name, const StTensor **out,
                       LwError *e) {
    *out = NULL;
    char full[ST_NAME_MAX + 16];
    const StTensor *a = st_find(f, name);
    snprintf(full, sizeof full, "%s%s", PREFIX_HF, name);
    const StTensor *b = st_find(f, full);
    if (a && b) return lw_fail(e, LW_ERR_INVALID, "%s: %s appears with and without the \"transformer.\" prefix",
                               st_path(f), name);
    *out = a ? a : b;
    if (*out) used[*out - st_tensor(f, 0)] = 1;
    return LW_OK;
}

static int read_into(const StFile *f, const StTensor *ft, const char *name, int ndim, const int64_t *shape, float *dst,
                     LwError *e) {
    int rc = check_shape(f, ft, name, ndim, shape, e);
    return rc ? rc : st_read_f32(f, ft, dst, e);
}

static int load_weights(const char *dir, Gpt *m, LwError *e) {
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "model.safetensors");
    const char *why = lw_file_problem(path);
    if (why && strcmp(why, "no such file")) return lw_fail(e, LW_ERR_IO, "%s: %s, not a safetensors file", path, why);
    if (why) {
        char bin[CKPT_PATH];
        if (lw_file_exists(lw_path_join(bin, sizeof bin, dir, "pytorch_model.bin")))
            return lw_fail(e, LW_ERR_UNSUPPORTED,
                           "%s: no model.safetensors; pytorch_model.bin (pickle) is not supported: download the "
                           "safetensors file of the model",
                           dir);
        return lw_fail(e, LW_ERR_IO, "%s: missing", path);
    }
    StFile *f;
    int rc = st_open(&f, path, e);
    if (rc) return rc;
    const GptConfig *c = &m->cfg;
    int nf = st_count(f);
    int *used = lw_calloc((size_t)nf + 1, sizeof(int));
    float *tmp = NULL;
    int64_t shape[ST_MAX_DIMS];
    const StTensor *ft;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const GptTensor *t = &m->tensors[i];
        if (t->role == GPT_ROLE_LORA) continue; /* adapter_model.safetensors */
        tensor_shape(t, shape);
        if ((rc = find_tensor(f, used, t->name, &ft, e))) break;
        if (!ft && !strcmp(t->name, "lm_head.weight")) continue; /* untied model from a tied file: below */
        if (!ft && t->role == GPT_ROLE_CLASS_HEAD) { /* init_from a language model: the new head keeps its init */
            if (!strcmp(t->name, "score.weight"))
                lw_log(LW_LOG_INFO, "%s: no score.weight/score.bias: the classification head starts from its "
                                    "initialisation", path);
            continue;
        }
        if (!ft) {
            char want[96];
            fmt_shape(want, sizeof want, t->ndim, shape);
            rc = lw_fail(e, LW_ERR_INVALID, "%s: missing tensor %s (shape %s)", path, t->name, want);
            break;
        }
        if (!strcmp(t->name, "wpe.weight") && ft->ndim == 2 && ft->shape[1] == shape[1] && ft->shape[0] > shape[0]) {
            /* A model with a shorter context than the file (e.g. GPT-2's 1024 finetuned at 256) uses the first
             * rows of the position table: positions 0..T-1 mean the same thing in both. */
            float *all = lw_malloc(ft->numel * sizeof(float));
            rc = st_read_f32(f, ft, all, e);
            if (!rc) memcpy(m->params + t->offset, all, t->numel * sizeof(float));
            free(all);
            lw_log(LW_LOG_INFO, "%s: using the first %lld of %lld positions of wpe.weight", path, (long long)shape[0],
                   (long long)ft->shape[0]);
            continue;
        }
        rc = read_into(f, ft, t->name, t->ndim, shape, m->params + t->offset, e);
    }
    /* lm_head: an untied model without one in the file starts from wte (the book's copy); a tied model accepts
     * one only if it equals wte. */
    const GptTensor *head = gpt_find(m, "lm_head.weight"), *wte = gpt_find(m, "wte.weight");
    if (!rc && (rc = find_tensor(f, used, "lm_head.weight", &ft, e)) == LW_OK) {
        if (head && !ft) {
            memcpy(m->params + head->offset, m->params + wte->offset, wte->numel * sizeof(float));
        } else if (!head && ft) {
            tmp = lw_malloc(wte->numel * sizeof(float));
            tensor_shape(wte, shape);
            rc = read_into(f, ft, "lm_head.weight", 2, shape, tmp, e);
            if (!rc && memcmp(tmp, m->params + wte->offset, wte->numel * sizeof(float)))
                rc = lw_fail(e, LW_ERR_INVALID,
                             "%s: lm_head.weight differs from wte.weight but the model ties them "
                             "(set tie_word_embeddings: false in config.json / model.tie_embeddings: false)",
                             path);
            free(tmp);
            tmp = NULL;
        }
    }
    /* c_attn.bias in the file while the model has none: must be zeros (our own saves), else the model would
     * silently compute something else. */
    if (!rc && !c->qkv_bias) {
        tmp = lw_malloc((size_t)3 * (size_t)c->d_model * sizeof(float));
        shape[0] = 3 * (int64_t)c->d_model;
        for (int l = 0; l < c->n_layer && !rc; l++) {
            char name[64];
            snprintf(name, sizeof name, "h.%d.attn.c_attn.bias", l);
            if ((rc = find_tensor(f, used, name, &ft, e)) || !ft) continue;
            if ((rc = read_into(f, ft, name, 1, shape, tmp, e))) break;
            for (int k = 0; k < 3 * c->d_model; k++)
                if (tmp[k] != 0.0f) {
                    rc = lw_fail(e, LW_ERR_INVALID,
                                 "%s: %s is not zero but the model has no q,k,v bias (set model.qkv_bias: true)", path,
                                 name);
                    break;
                }
        }
        free(tmp);
        tmp = NULL;
    }
    for (int i = 0; i < nf && !rc; i++) {
        const StTensor *x = st_tensor(f, i);
        if (!used[i] && model_name(x->name))
            rc = lw_fail(e, LW_ERR_INVALID, "%s: unexpected tensor %s (not part of a GPT-2 with this config.json)",
                         path, x->name);
    }
    free(used);
    st_close(f);
    return rc;
}

/* llmwb.n_classes of dir/config.json (0 when absent: a language model). */
static int read_n_classes(const char *dir, int *n_classes, LwError *e) {
    *n_classes = 0;
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "config.json");
    cJSON *o;
    int rc = json_load(path, &o, e);
    if (rc) return rc;
    const cJSON *lw = cJSON_GetObjectItemCaseSensitive(o, "llmwb");
    long v = 0;
    int got = cJSON_IsObject(lw) ? json_get_int(lw, "n_classes", 2, CFG_MAX_LABELS, &v) : 0;
    if (got < 0) rc = lw_fail(e, LW_ERR_PARSE, "%s: llmwb.n_classes: expected an integer in [2, %d]", path, CFG_MAX_LABELS);
    else *n_classes = (int)v;
    cJSON_Delete(o);
    return rc;
}

/* adapter_config.json: rank, alpha and our target list (llmwb_targets, else PEFT's target_modules). */
static int read_adapter_config(const char *dir, int *rank, float *alpha, int *targets, LwError *e) {
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "adapter_config.json");
    cJSON *o;
    int rc = json_load(path, &o, e);
    if (rc) return rc;
    long r = 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "lora_alpha");
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(o, "llmwb_targets");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(o, "target_modules");
    if (json_get_int(o, "r", 1, 4096, &r) != 1) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: r: expected an integer in [1, 4096]", path);
    } else if (!cJSON_IsNumber(a) || !(a->valuedouble > 0)) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: lora_alpha: expected a positive number", path);
    } else if (cJSON_IsString(lt)) {
        LwError pe;
        if (gpt_lora_parse_targets(lt->valuestring, targets, &pe))
            rc = lw_fail(e, LW_ERR_PARSE, "%s: llmwb_targets: %s", path, pe.msg);
    } else if (cJSON_IsArray(tm)) {
        static const struct {
            const char *mod;
            int bit;
        } MAP[] = {{"c_attn", GPT_LORA_ATTN}, {"attn.c_attn", GPT_LORA_ATTN}, {"attn.c_proj", GPT_LORA_PROJ},
                   {"c_fc", GPT_LORA_FC},     {"mlp.c_fc", GPT_LORA_FC},     {"mlp.c_proj", GPT_LORA_FCPROJ},
                   {"score", GPT_LORA_HEAD},  {"lm_head", GPT_LORA_HEAD}};
        const cJSON *it;
        *targets = 0;
        cJSON_ArrayForEach(it, tm) {
            int bit = 0;
            for (size_t k = 0; k < LW_ARRAY_LEN(MAP) && cJSON_IsString(it); k++)
                if (!strcmp(it->valuestring, MAP[k].mod)) bit = MAP[k].bit;
            if (!bit) {
                rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: target_modules: \"%s\" is not supported", path,
                             cJSON_IsString(it) ? it->valuestring : "?");
                break;
            }
            *targets |= bit;
        }
        if (!rc && !*targets) rc = lw_fail(e, LW_ERR_PARSE, "%s: target_modules: empty", path);
    } else {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: missing key \"target_modules\"", path);
    }
    if (!rc) {
        *rank = (int)r;
        *alpha = (float)a->valuedouble;
    }
    cJSON_Delete(o);
    return rc;
}

/* Reads adapter_model.safetensors into m's adapters (m has LoRA on with the same rank, alpha and targets). */
static int load_adapters(const char *dir, Gpt *m, LwError *e) {
    int rank, targets, rc;
    float alpha;
    if ((rc = read_adapter_config(dir, &rank, &alpha, &targets, e))) return rc;
    if (rank != m->lora_rank || targets != m->lora_targets || fabsf(alpha - m->lora_alpha) > 1e-6f * alpha) {
        char want[64], got[64];
        gpt_lora_format_targets(m->lora_targets, want, sizeof want);
        gpt_lora_format_targets(targets, got, sizeof got);
        return lw_fail(e, LW_ERR_INVALID,
                       "%s/adapter_config.json: r %d, lora_alpha %g, targets %s but the model has %d, %g, %s", dir,
                       rank, (double)alpha, got, m->lora_rank, (double)m->lora_alpha, want);
    }
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "adapter_model.safetensors");
    StFile *f;
    if ((rc = st_open(&f, path, e))) return rc;
    int64_t shape[ST_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const GptTensor *t = &m->tensors[i];
        if (t->role != GPT_ROLE_LORA) continue;
        const StTensor *ft = st_find(f, t->name);
        tensor_shape(t, shape);
        n++;
        if (!ft) rc = lw_fail(e, LW_ERR_INVALID, "%s: missing tensor %s", path, t->name);
        else rc = read_into(f, ft, t->name, t->ndim, shape, m->params + t->offset, e);
    }
    if (!rc && st_count(f) != n)
        rc = lw_fail(e, LW_ERR_INVALID, "%s: %d tensors, but the model has %d adapters", path, st_count(f), n);
    st_close(f);
    return rc;
}

static int load_optimizer(const char *dir, Gpt *m, LwError *e) {
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "optimizer.safetensors");
    StFile *f;
    int rc = st_open(&f, path, e);
    if (rc) return rc;
    int64_t shape[ST_MAX_DIMS];
    for (int k = 0; k < 2 && !rc; k++)
        for (int i = 0; i < m->n_tensors && !rc; i++) {
            const GptTensor *t = &m->tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%s.%s", k ? "adam_v" : "adam_m", t->name);
            const StTensor *ft = st_find(f, name);
            tensor_shape(t, shape);
            if (!ft) rc = lw_fail(e, LW_ERR_INVALID, "%s: missing tensor %s", path, name);
            else rc = read_into(f, ft, name, t->ndim, shape, (k ? m->adam_v : m->adam_m) + t->offset, e);
        }
    st_close(f);
    return rc;
}

static int load_state(const char *dir, TrainState *st, char **yaml, LwError *e) {
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "trainer_state.json");
    cJSON *o;
    int rc = json_load(path, &o, e);
    if (rc) return rc;
    memset(st, 0, sizeof *st);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    long ver = 0, step = 0, tokens = 0, epoch = 0, cursor = 0;
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(o, "rng");
    const cJSON *ld = cJSON_GetObjectItemCaseSensitive(o, "loader");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, CKPT_STATE_FORMAT)) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: format: expected \"%s\"", path, CKPT_STATE_FORMAT);
    } else if (json_get_int(o, "version", 1, 1000, &ver) != 1 || ver != CKPT_STATE_VERSION) {
        rc = lw_fail(e, LW_ERR_UNSUPPORTED, "%s: version: expected %d", path, CKPT_STATE_VERSION);
    } else if (json_get_int(o, "step", 0, 1L << 52, &step) != 1) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: step: missing or not a non-negative integer", path);
    } else if (json_get_int(o, "tokens_seen", 0, 1L << 52, &tokens) != 1) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: tokens_seen: missing or not a non-negative integer", path);
    } else if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: rng: expected 4 hex strings", path);
    } else if (!cJSON_IsObject(ld) || parse_hex64(cJSON_GetObjectItemCaseSensitive(ld, "seed"), &st->loader.seed) ||
               json_get_int(ld, "epoch", 0, 1L << 52, &epoch) != 1 ||
               json_get_int(ld, "cursor", 0, 1L << 52, &cursor) != 1) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s: loader: expected {seed: hex, epoch, cursor}", path);
    }
    for (int i = 0; i < 4 && !rc; i++)
        if (parse_hex64(cJSON_GetArrayItem(rng, i), &st->rng.s[i]))
            rc = lw_fail(e, LW_ERR_PARSE, "%s: rng[%d]: expected 16 hex digits", path, i);
    if (!rc) {
        st->step = step;
        st->tokens_seen = tokens;
        st->loader.epoch = epoch;
        st->loader.cursor = (size_t)cursor;
        st->best_val_loss = json_get_float(o, "best_val_loss", INFINITY);
        st->last_val_loss = json_get_float(o, "last_val_loss", NAN);
        const cJSON *el = cJSON_GetObjectItemCaseSensitive(o, "elapsed");
        st->elapsed = cJSON_IsNumber(el) ? el->valuedouble : 0.0;
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(o, "config_yaml");
        if (yaml) *yaml = cJSON_IsString(y) ? lw_strdup(y->valuestring) : NULL;
    }
    cJSON_Delete(o);
    return rc;
}

/* Before a model is allocated for dir: the sizes of config.json must be those of model.safetensors (wte.weight
 * (V, C), wpe.weight (T, C), blocks h.0 .. h.(L-1) and no h.L), so a damaged config.json cannot make us allocate
 * what the file does not hold. The parameter count is computed in 64 bits. */
static int check_sizes(const char *dir, const GptConfig *c, LwError *e) {
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "model.safetensors");
    if (!lw_file_exists(path)) return LW_OK; /* load_weights names what is missing */
    StFile *f;
    int rc = st_open(&f, path, e);
    if (rc) return rc;
    static const char *const SPELL[] = {"", "transformer."};
    const StTensor *t[4] = {0};
    char name[96];
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%swte.weight", SPELL[k]);
        if (!t[0]) t[0] = st_find(f, name);
        snprintf(name, sizeof name, "%swpe.weight", SPELL[k]);
        if (!t[1]) t[1] = st_find(f, name);
        snprintf(name, sizeof name, "%sh.%d.ln_1.weight", SPELL[k], c->n_layer - 1);
        if (!t[2]) t[2] = st_find(f, name);
        snprintf(name, sizeof name, "%sh.%d.ln_1.weight", SPELL[k], c->n_layer);
        if (!t[3]) t[3] = st_find(f, name);
    }
    int64_t V = c->vocab_size, C = c->d_model, T = c->context_length, L = c->n_layer;
    if (!t[0] || t[0]->ndim != 2 || t[0]->shape[0] != V || t[0]->shape[1] != C)
        rc = lw_fail(e, LW_ERR_INVALID, "%s/config.json: vocab_size %lld, n_embd %lld do not match wte.weight of %s", dir,
                     (long long)V, (long long)C, path);
    else if (!t[1] || t[1]->ndim != 2 || t[1]->shape[0] < T || t[1]->shape[1] != C)
        rc = lw_fail(e, LW_ERR_INVALID, "%s/config.json: n_positions %lld, n_embd %lld do not match wpe.weight of %s", dir,
                     (long long)T, (long long)C, path);
    else if (!t[2] || t[3])
        rc = lw_fail(e, LW_ERR_INVALID, "%s/config.json: n_layer %lld does not match the blocks of %s", dir,
                     (long long)L, path);
    if (!rc) {
        /* 64-bit count: wte, wpe, L blocks of 12 C^2 + 13 C (+ 3C bias), ln_f, an untied head */
        int64_t n = V * C + T * C + L * (12 * C * C + 16 * C) + 2 * C + (c->tie_embeddings ? 0 : V * C);
        if (n > ((int64_t)1 << 33))
            rc = lw_fail(e, LW_ERR_INVALID, "%s/config.json: %lld parameters is beyond what llmwb can hold", dir, (long long)n);
    }
    st_close(f);
    return rc;
}

/* The first non-finite value (NaN, Inf) in the tensors of m with the given role filter, as an error naming the
 * file and the tensor; LW_OK when all are finite. which: 0 parameters, 1 adam_m, 2 adam_v. */
/* Refuses NaN/Inf in the tensors of one block (which: 0 weights, 1 adam_m, 2 adam_v), naming file, tensor, index. */
int ckpt_check_finite(const char *dir, const GptTensor *ts, int n, const float *base, int which, LwError *e) {
    for (int i = 0; i < n; i++) {
        const GptTensor *t = &ts[i];
        const float *x = base + t->offset;
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(x[k])) {
                const char *file = which ? "optimizer.safetensors"
                                         : t->role == GPT_ROLE_LORA ? "adapter_model.safetensors" : "model.safetensors";
                return lw_fail(e, LW_ERR_INVALID,
                               "%s/%s: %s%s holds %s at index %zu (a damaged or diverged checkpoint; "
                               "--allow-nonfinite loads it anyway)",
                               dir, file, which == 1 ? "adam_m." : which == 2 ? "adam_v." : "", t->name,
                               isnan(x[k]) ? "NaN" : "Inf", k);
            }
    }
    return LW_OK;
}

static int check_finite(const char *dir, const Gpt *m, int which, LwError *e) {
    const float *base = which == 0 ? m->params : which == 1 ? m->adam_m : m->adam_v;
    return ckpt_check_finite(dir, m->tensors, m->n_tensors, base, which, e);
}

int ckpt_read_state(const char *dir_in, TrainState *st, char **config_yaml, LwError *e) {
    if (config_yaml) *config_yaml = NULL;
    char dir[CKPT_PATH];
    int rc = resolve_dir(dir_in, dir, sizeof dir, 1, e);
    if (rc) return rc;
    if (!ckpt_has_state(dir))
        return lw_fail(e, LW_ERR_INVALID, "%s: not a resumable checkpoint (no trainer_state.json)", dir);
    return load_state(dir, st, config_yaml, e);
}

int ckpt_load(const char *dir, Gpt *m, Tokenizer **tok, TrainState *st, char **config_yaml, LwError *e) {
    return ckpt_load_ex(dir, m, tok, st, config_yaml, 0, e);
}

int ckpt_load_ex(const char *dir_in, Gpt *m, Tokenizer **tok, TrainState *st, char **config_yaml, int flags,
                 LwError *e) {
    if (tok) *tok = NULL;
    if (config_yaml) *config_yaml = NULL;
    char dir[CKPT_PATH];
    int rc = resolve_dir(dir_in, dir, sizeof dir, 0, e);
    if (rc) return rc;
    GptConfig c;
    if ((rc = ckpt_read_config(dir, &c, e))) return rc;
    int n_classes;
    if ((rc = read_n_classes(dir, &n_classes, e))) return rc;
    char ap[CKPT_PATH];
    int has_adapters = lw_file_exists(lw_path_join(ap, sizeof ap, dir, "adapter_config.json"));
    char op[CKPT_PATH];
    if (st && ckpt_has_state(dir) && !lw_file_exists(lw_path_join(op, sizeof op, dir, "optimizer.safetensors")))
        return lw_fail(e, LW_ERR_INVALID,
                       "%s: not a resumable checkpoint: optimizer.safetensors is missing (the weights alone still "
                       "load for generate, or as finetune.init_from)",
                       dir);
    if (!m->params) {
        /* the model the directory describes: base, + class head, + adapters */
        if ((rc = check_sizes(dir, &c, e))) return rc;
        if ((rc = gpt_init(m, &c, e))) return rc;
        if (n_classes && (rc = gpt_add_class_head(m, n_classes, NULL, e))) return rc;
        if (has_adapters) {
            int rank, targets;
            float alpha;
            char tl[64];
            if ((rc = read_adapter_config(dir, &rank, &alpha, &targets, e))) return rc;
            gpt_lora_format_targets(targets, tl, sizeof tl);
            if ((rc = gpt_enable_lora(m, rank, alpha, tl, NULL, e))) return rc;
        }
    } else {
        if (n_classes && m->n_classes != n_classes)
            return lw_fail(e, LW_ERR_INVALID, "%s/config.json: llmwb.n_classes %d but the model has %d classes", dir,
                           n_classes, m->n_classes);
        if (has_adapters && !m->lora_rank)
            return lw_fail(e, LW_ERR_INVALID,
                           "%s: holds LoRA adapters (adapter_model.safetensors) but the model has LoRA off "
                           "(set finetune.lora_rank, or export the checkpoint merged)",
                           dir);
        /* Shapes are checked tensor by tensor; these would give confusing messages, so name them up front. */
        const GptConfig *h = &m->cfg;
        if (h->bidirectional != c.bidirectional)
            return lw_fail(e, LW_ERR_INVALID, "%s/config.json: a %s model, but model.attention is %s", dir,
                           c.bidirectional ? "bidirectional" : "causal", h->bidirectional ? "bidirectional" : "causal");
        if (h->n_layer != c.n_layer || h->n_head != c.n_head)
            return lw_fail(e, LW_ERR_INVALID, "%s/config.json: n_layer %d, n_head %d but the model has %d, %d", dir,
                           c.n_layer, c.n_head, h->n_layer, h->n_head);
    }
    if (st) {
        if (!ckpt_has_state(dir))
            return lw_fail(e, LW_ERR_INVALID, "%s: not a resumable checkpoint (no trainer_state.json)", dir);
    }
    if ((rc = load_weights(dir, m, e))) return rc;
    if (has_adapters && (rc = load_adapters(dir, m, e))) return rc;
    if (!(flags & CKPT_ALLOW_NONFINITE) && (rc = check_finite(dir, m, 0, e))) return rc;
    if (st) {
        if ((rc = load_state(dir, st, config_yaml, e))) return rc;
        if (!rc) rc = load_optimizer(dir, m, e);
        if (!rc && !(flags & CKPT_ALLOW_NONFINITE)) rc = check_finite(dir, m, 1, e);
        if (!rc && !(flags & CKPT_ALLOW_NONFINITE)) rc = check_finite(dir, m, 2, e);
        if (rc) {
            if (config_yaml) {
                free(*config_yaml);
                *config_yaml = NULL;
            }
            return rc;
        }
    }
    if (tok) {
        char a[CKPT_PATH], b[CKPT_PATH];
        if (lw_file_exists(lw_path_join(a, sizeof a, dir, "vocab.json")) ||
            lw_file_exists(lw_path_join(b, sizeof b, dir, "encoder.json"))) {
            if ((rc = tok_load_dir(tok, dir, e))) {
                if (config_yaml) {
                    free(*config_yaml);
                    *config_yaml = NULL;
                }
                return rc;
            }
        }
    }
    return LW_OK;
}

/* Reads every tensor of the table from file `name` of dir (prefix: "adam_m." / "adam_v." or "") into dst. */
static int load_table_file(const char *dir, const char *name, const CkptTable *tb, const char *prefix, float *dst,
                           LwError *e) {
    char path[CKPT_PATH];
    StFile *f;
    int rc = st_open(&f, lw_path_join(path, sizeof path, dir, name), e);
    if (rc) return rc;
    int64_t shape[ST_MAX_DIMS];
    for (int i = 0; i < tb->n_tensors && !rc; i++) {
        const GptTensor *t = &tb->tensors[i];
        char full[ST_NAME_MAX + 16];
        snprintf(full, sizeof full, "%s%s", prefix, t->name);
        const StTensor *ft = st_find(f, full);
        tensor_shape(t, shape);
        if (!ft) rc = lw_fail(e, LW_ERR_INVALID, "%s: missing tensor %s", path, full);
        else rc = read_into(f, ft, full, t->ndim, shape, dst + t->offset, e);
    }
    st_close(f);
    return rc;
}

int ckpt_load_table(const char *dir_in, const CkptTable *tb, Tokenizer **tok, TrainState *st, int flags,
                    LwError *e) {
    if (tok) *tok = NULL;
    char dir[CKPT_PATH];
    int rc = resolve_dir(dir_in, dir, sizeof dir, 0, e);
    if (rc) return rc;
    if (st && !ckpt_has_state(dir))
        return lw_fail(e, LW_ERR_INVALID, "%s: not a resumable checkpoint (no trainer_state.json)", dir);
    int strict = !(flags & CKPT_ALLOW_NONFINITE);
    if ((rc = load_table_file(dir, "model.safetensors", tb, "", tb->params, e))) return rc;
    if (strict && (rc = ckpt_check_finite(dir, tb->tensors, tb->n_tensors, tb->params, 0, e))) return rc;
    if (st) {
        if ((rc = load_state(dir, st, NULL, e))) return rc;
        if ((rc = load_table_file(dir, "optimizer.safetensors", tb, "adam_m.", tb->adam_m, e)) ||
            (rc = load_table_file(dir, "optimizer.safetensors", tb, "adam_v.", tb->adam_v, e)))
            return rc;
        if (strict && ((rc = ckpt_check_finite(dir, tb->tensors, tb->n_tensors, tb->adam_m, 1, e)) ||
                       (rc = ckpt_check_finite(dir, tb->tensors, tb->n_tensors, tb->adam_v, 2, e))))
            return rc;
    }
    char a[CKPT_PATH];
    if (tok && lw_file_exists(lw_path_join(a, sizeof a, dir, "vocab.json"))) return tok_load_dir(tok, dir, e);
    return LW_OK;
}

int ckpt_read_json(const char *path, void **root, LwError *e) {
    cJSON *j;
    int rc = json_load(path, &j, e);
    *root = rc ? NULL : j;
    return rc;
}

/* ---------------------------------------------------------------- finetune metadata */

int ckpt_write_finetune(const char *dir, const CkptFinetune *ft, LwError *e) {
    char path[CKPT_PATH];
    lw_path_join(path, sizeof path, dir, "llmwb-finetune.json");
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "mode", ft->mode == FT_CLASSIFY ? "classify" : ft->mode == FT_INSTRUCT ? "instruct" : "none");
    if (ft->mode == FT_INSTRUCT) cJSON_AddStringToObject(root, "template", ft->template_name);
    if (ft->task[0]) cJSON_AddStringToObject(root, "task", ft->task);
    if (ft->mode == FT_CLASSIFY) {
        cJSON *labels = cJSON_AddArrayToObject(root, "labels");
        for (int i = 0; i < ft->n_labels; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(ft->labels[i]));
    }
    int rc = json_save(path, root, e);
    cJSON_Delete(root);
    return rc;
}

int ckpt_read_finetune(const char *dir_in, CkptFinetune *ft, LwError *e) {
    memset(ft, 0, sizeof *ft);
    ft->mode = FT_NONE;
    char path[CKPT_PATH], dir[CKPT_PATH];
    if (resolve_dir(dir_in, dir, sizeof dir, 1, NULL)) snprintf(dir, sizeof dir, "%s", dir_in);
    lw_path_join(path, sizeof path, dir, "llmwb-finetune.json");
    if (!lw_file_exists(path)) return LW_OK;
    cJSON *root;
    int rc = json_load(path, &root, e);
    if (rc) return rc;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(root, "mode");
    const char *m = cJSON_IsString(mode) ? mode->valuestring : "";
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task");
    if (cJSON_IsString(task)) snprintf(ft->task, sizeof ft->task, "%s", task->valuestring);
    if (!strcmp(m, "instruct")) {
        ft->mode = FT_INSTRUCT;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "template");
        snprintf(ft->template_name, sizeof ft->template_name, "%s", cJSON_IsString(t) ? t->valuestring : "alpaca");
    } else if (!strcmp(m, "classify")) {
        ft->mode = FT_CLASSIFY;
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels"), *l;
        cJSON_ArrayForEach(l, labels) {
            if (!cJSON_IsString(l) || ft->n_labels == CFG_MAX_LABELS) {
                cJSON_Delete(root);
                return lw_fail(e, LW_ERR_PARSE, "%s: labels: expected at most %d strings", path, CFG_MAX_LABELS);
            }
            snprintf(ft->labels[ft->n_labels++], sizeof ft->labels[0], "%s", l->valuestring);
        }
        if (ft->n_labels < 2) {
            cJSON_Delete(root);
            return lw_fail(e, LW_ERR_PARSE, "%s: labels: a classifier needs at least 2 labels", path);
        }
    } else if (strcmp(m, "none")) {
        cJSON_Delete(root);
        return lw_fail(e, LW_ERR_PARSE, "%s: mode: expected \"none\", \"classify\" or \"instruct\"", path);
    }
    cJSON_Delete(root);
    return LW_OK;
}
