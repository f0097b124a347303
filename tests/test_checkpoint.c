/* test_checkpoint.c — safetensors reader/writer, checkpoint save/load round trips, atomic replacement, import of
 * Hugging Face GPT-2 files (tests/ref/hf-tiny*, made by tests/make_hf_tiny.py with PyTorch), and a clear error
 * (no crash) for each kind of damaged input. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "checkpoint.h"
#include "model.h"
#include "safetensors.h"

static char g_dir[256];

static void make_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmwb-test-ckpt-%ld", (long)getpid());
    lw_rmtree(g_dir);
    LwError e;
    cr_assert_eq(lw_mkdirs(g_dir, &e), 0);
}
static void drop_dir(void) { lw_rmtree(g_dir); }

static char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    return lw_path_join(p, 512, g_dir, name);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    LwError e;
    cr_assert_eq(lw_write_file_atomic(path, data, n, &e), 0, "%s", e.msg);
}

/* A file made of an 8-byte length, the given header text, and data_len bytes of data. */
static void craft(const char *path, const char *header, size_t data_len) {
    size_t h = strlen(header);
    unsigned char *b = calloc(1, 8 + h + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    write_bytes(path, b, 8 + h + data_len);
    free(b);
}

/* Opens path expecting failure with code and every needle in the message. */
static void expect_open_error(const char *path, int code, const char *needle1, const char *needle2) {
    StFile *f = (StFile *)1;
    LwError e = {0};
    int rc = st_open(&f, path, &e);
    cr_assert_eq(rc, code, "rc %d for %s: %s", rc, path, e.msg);
    cr_assert_null(f);
    cr_assert(strchr(e.msg, '\n') == NULL, "one line");
    cr_assert(strstr(e.msg, path), "message names the file: %s", e.msg);
    if (needle1) cr_assert(strstr(e.msg, needle1), "'%s' not in: %s", needle1, e.msg);
    if (needle2) cr_assert(strstr(e.msg, needle2), "'%s' not in: %s", needle2, e.msg);
}

TestSuite(safetensors, .init = make_dir, .fini = drop_dir);

Test(safetensors, write_read_round_trip) {
    float a[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 7}, b[3] = {0.25f, 0.5f, 0.75f}, s = 42.0f;
    StEntry ent[3] = {
        {.name = "zeta", .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "alpha.bias", .ndim = 1, .shape = {3}, .data = b},
        {.name = "scalar", .ndim = 0, .data = &s},
    };
    const char *meta[] = {"format", "pt"};
    LwError e;
    const char *p = tpath("rt.safetensors");
    cr_assert_eq(st_write(p, ent, 3, meta, 1, &e), 0, "%s", e.msg);
    char *raw;
    size_t len;
    cr_assert_eq(lw_read_file(p, &raw, &len, &e), 0);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | (unsigned char)raw[i];
    cr_assert_eq(h % 8, 0, "header padded to 8");
    cr_assert_eq(len, 8 + h + 4 * 10);
    cr_assert(strstr(raw + 8, "\"alpha.bias\"") < strstr(raw + 8, "\"scalar\""), "sorted names");
    cr_assert(strstr(raw + 8, "\"scalar\"") < strstr(raw + 8, "\"zeta\""));
    free(raw);

    StFile *f;
    cr_assert_eq(st_open(&f, p, &e), 0, "%s", e.msg);
    cr_assert_eq(st_count(f), 3);
    cr_assert_str_eq(st_metadata(f, "format"), "pt");
    cr_assert_null(st_metadata(f, "nope"));
    const StTensor *t = st_find(f, "zeta");
    cr_assert_not_null(t);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[0], 2);
    cr_assert_eq(t->shape[1], 3);
    cr_assert_eq(t->dtype, ST_F32);
    float got[6];
    cr_assert_eq(st_read_f32(f, t, got, &e), 0);
    cr_assert(memcmp(got, a, sizeof a) == 0, "bit-exact");
    t = st_find(f, "scalar");
    cr_assert_eq(t->ndim, 0);
    cr_assert_eq(t->numel, 1u);
    cr_assert_eq(st_read_f32(f, t, got, &e), 0);
    cr_assert_eq(got[0], 42.0f);
    cr_assert_null(st_find(f, "missing"));
    st_close(f);
    /* duplicate names are refused */
    StEntry dup[2] = {ent[1], ent[1]};
    cr_assert_eq(st_write(tpath("dup.safetensors"), dup, 2, NULL, 0, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "alpha.bias"), "%s", e.msg);
}

Test(safetensors, half_precision_conversion) {
    cr_assert_eq(st_f16_to_f32(0x3C00), 1.0f);
    cr_assert_eq(st_f16_to_f32(0xC000), -2.0f);
    cr_assert_eq(st_f16_to_f32(0x7BFF), 65504.0f);
    cr_assert_eq(st_f16_to_f32(0x0001), ldexpf(1.0f, -24));
    cr_assert_eq(st_f16_to_f32(0x03FF), ldexpf(1023.0f, -24));
    cr_assert_eq(st_f16_to_f32(0x0400), ldexpf(1.0f, -14));
    cr_assert(isinf(st_f16_to_f32(0x7C00)) && st_f16_to_f32(0xFC00) < 0);
    cr_assert(isnan(st_f16_to_f32(0x7E00)));
    cr_assert_eq(st_f16_to_f32(0x3555), 0.333251953125f);
    cr_assert(signbit(st_f16_to_f32(0x8000)));
    cr_assert_eq(st_bf16_to_f32(0x3F80), 1.0f);
    cr_assert_eq(st_bf16_to_f32(0x4049), 3.140625f);
    cr_assert_eq(st_bf16_to_f32(0xC2F7), -123.5f);
    /* through a file */
    const char *p = tpath("h.safetensors");
    craft(p, "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
             "\"y\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]}}", 6);
    char *raw;
    size_t len;
    LwError e;
    lw_read_file(p, &raw, &len, &e);
    unsigned char *d = (unsigned char *)raw + len - 6;
    d[0] = 0x00, d[1] = 0x3C, d[2] = 0x00, d[3] = 0xC0, d[4] = 0x49, d[5] = 0x40;
    write_bytes(p, raw, len);
    free(raw);
    StFile *f;
    cr_assert_eq(st_open(&f, p, &e), 0, "%s", e.msg);
    float x[2], y[1];
    cr_assert_eq(st_read_f32(f, st_find(f, "x"), x, &e), 0);
    cr_assert_eq(st_read_f32(f, st_find(f, "y"), y, &e), 0);
    cr_assert_eq(x[0], 1.0f);
    cr_assert_eq(x[1], -2.0f);
    cr_assert_eq(y[0], 3.140625f);
    st_close(f);
}

Test(safetensors, damaged_files_are_rejected_clearly) {
    const char *p = tpath("bad.safetensors");
    write_bytes(p, "abc", 3);
    expect_open_error(p, LW_ERR_PARSE, "truncated", NULL);
    /* header length far beyond the file */
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, '{', '}'};
    write_bytes(p, huge, 16);
    expect_open_error(p, LW_ERR_PARSE, "header length", "beyond");
    craft(p, "{\"w\": {\"dtype\": \"F32\", ", 0);
    expect_open_error(p, LW_ERR_PARSE, "malformed", NULL);
    craft(p, "[1, 2]", 0);
    expect_open_error(p, LW_ERR_PARSE, "not an object", NULL);
    /* offsets beyond the data (e.g. the file was cut short) */
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
    expect_open_error(p, LW_ERR_PARSE, "w: data_offsets [0, 16] beyond", "truncated");
    /* overlapping */
    craft(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    expect_open_error(p, LW_ERR_PARSE, "overlap", "b:");
    /* a hole */
    craft(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    expect_open_error(p, LW_ERR_PARSE, "hole", "a:");
    /* begin > end */
    craft(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
    expect_open_error(p, LW_ERR_PARSE, "a:", "end before");
    /* shape x dtype size != byte length */
    craft(p, "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,20]}}", 20);
    expect_open_error(p, LW_ERR_PARSE, "wte.weight", "6 F32 values (24 bytes) but data_offsets span 20");
    /* unsupported dtype */
    craft(p, "{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(p, LW_ERR_UNSUPPORTED, "q:", "F8_E4M3");
    /* wrong field types */
    craft(p, "{\"q\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(p, LW_ERR_PARSE, "q:", "shape[0]");
    craft(p, "{\"q\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);
    expect_open_error(p, LW_ERR_PARSE, "q:", "data_offsets");
    craft(p, "{\"q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"__metadata__\":{\"k\":3}}", 4);
    expect_open_error(p, LW_ERR_PARSE, "__metadata__", NULL);
    /* a recognised integer dtype opens but cannot be read as float */
    craft(p, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
    StFile *f;
    LwError e;
    cr_assert_eq(st_open(&f, p, &e), 0, "%s", e.msg);
    float out[2];
    cr_assert_eq(st_read_f32(f, st_find(f, "ids"), out, &e), LW_ERR_UNSUPPORTED);
    cr_assert(strstr(e.msg, "ids") && strstr(e.msg, "I64"), "%s", e.msg);
    st_close(f);
    /* missing file */
    expect_open_error(tpath("none.safetensors"), LW_ERR_IO, NULL, NULL);
}

/* Every prefix of a valid file is rejected without a crash (ASan checks the reads). */
Test(safetensors, every_truncation_is_an_error) {
    float a[4] = {1, 2, 3, 4};
    StEntry ent[2] = {{.name = "a", .ndim = 1, .shape = {4}, .data = a}, {.name = "b", .ndim = 2, .shape = {2, 2}, .data = a}};
    const char *p = tpath("ok.safetensors"), *q = tpath("cut.safetensors");
    LwError e;
    cr_assert_eq(st_write(p, ent, 2, NULL, 0, &e), 0);
    char *raw;
    size_t len;
    lw_read_file(p, &raw, &len, &e);
    for (size_t n = 0; n < len; n++) {
        write_bytes(q, raw, n);
        StFile *f;
        cr_assert_neq(st_open(&f, q, &e), 0, "a %zu-byte prefix of %zu opened", n, len);
        cr_assert(strstr(e.msg, "cut.safetensors"), "%s", e.msg);
    }
    free(raw);
}

/* ---- checkpoints ---- */

TestSuite(checkpoint, .init = make_dir, .fini = drop_dir);

static void tiny_model(Gpt *m, int qkv_bias, int tied, uint64_t seed) {
    GptConfig c = {.n_layer = 2, .n_head = 2, .d_model = 16, .context_length = 8, .vocab_size = 257,
                   .dropout = 0.1f, .qkv_bias = qkv_bias, .tie_embeddings = tied};
    LwError e;
    cr_assert_eq(gpt_init(m, &c, &e), 0, "%s", e.msg);
    Rng r;
    rng_seed(&r, seed);
    gpt_init_weights(m, &r);
    for (size_t i = 0; i < m->n_params; i++) {
        m->params[i] += 0.01f * rng_normal(&r); /* biases and LayerNorm too */
        m->adam_m[i] = 1e-3f * rng_normal(&r);
        m->adam_v[i] = 1e-6f * rng_uniform(&r);
    }
}

static void fill_state(TrainState *st) {
    memset(st, 0, sizeof *st);
    st->step = 1234;
    st->tokens_seen = 9876543210L;
    rng_seed(&st->rng, 77);
    rng_u64(&st->rng);
    st->loader.seed = 0xfedcba9876543210ULL;
    st->loader.epoch = 3;
    st->loader.cursor = 17;
    st->best_val_loss = 3.14159274f;
    st->last_val_loss = 3.2000001f;
    st->elapsed = 61.25;
}

static void assert_same_model(const Gpt *a, const Gpt *b, int moments) {
    cr_assert_eq(a->n_params, b->n_params);
    cr_assert_eq(a->cfg.n_layer, b->cfg.n_layer);
    cr_assert_eq(a->cfg.d_model, b->cfg.d_model);
    cr_assert_eq(a->cfg.qkv_bias, b->cfg.qkv_bias);
    cr_assert_eq(a->cfg.tie_embeddings, b->cfg.tie_embeddings);
    cr_assert_float_eq(a->cfg.dropout, b->cfg.dropout, 1e-7f);
    cr_assert(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0, "params bit-exact");
    if (moments) {
        cr_assert(memcmp(a->adam_m, b->adam_m, a->n_params * sizeof(float)) == 0, "adam_m bit-exact");
        cr_assert(memcmp(a->adam_v, b->adam_v, a->n_params * sizeof(float)) == 0, "adam_v bit-exact");
    }
}

Test(checkpoint, save_load_round_trip_is_bit_exact) {
    for (int variant = 0; variant < 2; variant++) {
        int qkv = variant, tied = variant;
        Gpt m, r = {0};
        tiny_model(&m, qkv, tied, 5 + variant);
        Tokenizer *tok = tok_new_bytes();
        TrainState st, st2;
        fill_state(&st);
        const char *yaml = "model:\n  n_layer: 2 # \"quoted\" \\ ok\ntrain:\n  lr: 4e-4\n";
        const char *dir = tpath(variant ? "ck1" : "ck0");
        LwError e;
        cr_assert_eq(ckpt_save(dir, &m, tok, &st, yaml, &e), 0, "%s", e.msg);
        cr_assert(ckpt_has_state(dir));
        Tokenizer *tok2 = NULL;
        char *yaml2 = NULL;
        cr_assert_eq(ckpt_load(dir, &r, &tok2, &st2, &yaml2, &e), 0, "%s", e.msg);
        assert_same_model(&m, &r, 1);
        cr_assert_eq(st2.step, st.step);
        cr_assert_eq(st2.tokens_seen, st.tokens_seen);
        cr_assert(memcmp(&st2.rng, &st.rng, sizeof st.rng) == 0);
        cr_assert_eq(st2.loader.seed, st.loader.seed);
        cr_assert_eq(st2.loader.epoch, st.loader.epoch);
        cr_assert_eq(st2.loader.cursor, st.loader.cursor);
        cr_assert_eq(st2.best_val_loss, st.best_val_loss);
        cr_assert_eq(st2.last_val_loss, st.last_val_loss);
        cr_assert_eq(st2.elapsed, st.elapsed);
        cr_assert_str_eq(yaml2, yaml);
        cr_assert_not_null(tok2);
        cr_assert_eq(tok_vocab_size(tok2), tok_vocab_size(tok));
        cr_assert_eq(tok_eot(tok2), tok_eot(tok));

        /* the HF view of the file: c_attn.bias always present (zeros without qkv_bias), lm_head only untied */
        StFile *f;
        char p[600];
        cr_assert_eq(st_open(&f, lw_path_join(p, sizeof p, dir, "model.safetensors"), &e), 0, "%s", e.msg);
        cr_assert_str_eq(st_metadata(f, "format"), "pt");
        const StTensor *b = st_find(f, "h.1.attn.c_attn.bias");
        cr_assert_not_null(b);
        cr_assert_eq(b->shape[0], 48);
        if (!qkv) {
            const float *z = st_data(f, b);
            for (int i = 0; i < 48; i++) cr_assert_eq(z[i], 0.0f);
        }
        cr_assert_eq(st_find(f, "lm_head.weight") != NULL, !tied);
        cr_assert_eq(st_count(f), 2 + 2 * 12 + 2 + !tied);
        st_close(f);
        GptConfig c;
        cr_assert_eq(ckpt_read_config(dir, &c, &e), 0, "%s", e.msg);
        cr_assert_eq(c.qkv_bias, qkv);
        cr_assert_eq(c.tie_embeddings, tied);
        cr_assert_eq(c.context_length, 8);
        cr_assert_eq(c.vocab_size, 257);
        char *cj;
        size_t n;
        cr_assert_eq(lw_read_file(lw_path_join(p, sizeof p, dir, "config.json"), &cj, &n, &e), 0);
        cr_assert(strstr(cj, "\"model_type\":\t\"gpt2\""), "%s", cj);
        cr_assert(strstr(cj, "\"GPT2LMHeadModel\""));
        cr_assert(strstr(cj, "\"eos_token_id\":\t256"), "the tokenizer's end-of-text id");
        free(cj);
        free(yaml2);
        tok_free(tok);
        tok_free(tok2);
        gpt_free(&m);
        gpt_free(&r);
    }
}

Test(checkpoint, weights_only_and_caller_initialised_model) {
    Gpt m, r;
    tiny_model(&m, 0, 0, 9);
    LwError e;
    const char *dir = tpath("w");
    cr_assert_eq(ckpt_save(dir, &m, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert(!ckpt_has_state(dir));
    char p[600];
    cr_assert(!lw_file_exists(lw_path_join(p, sizeof p, dir, "optimizer.safetensors")));
    cr_assert(!lw_file_exists(lw_path_join(p, sizeof p, dir, "vocab.json")));
    /* the caller initialises the model itself; moments stay as they were */
    tiny_model(&r, 0, 0, 10);
    memset(r.adam_m, 0, r.n_params * sizeof(float));
    Tokenizer *tok = (Tokenizer *)1;
    cr_assert_eq(ckpt_load(dir, &r, &tok, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert_null(tok, "no tokenizer files: NULL, not an error");
    assert_same_model(&m, &r, 0);
    cr_assert_eq(r.adam_m[5], 0.0f);
    TrainState st;
    cr_assert_eq(ckpt_load(dir, &r, NULL, &st, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "not a resumable checkpoint"), "%s", e.msg);
    gpt_free(&r);
    /* a model of another size: the tensor and both shapes are named */
    GptConfig c = m.cfg;
    c.d_model = 32;
    cr_assert_eq(gpt_init(&r, &c, &e), 0);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "wte.weight: expected shape (257, 32), found (257, 16)"), "%s", e.msg);
    gpt_free(&r);
    gpt_free(&m);
}

Test(checkpoint, replacing_and_interrupted_saves_keep_a_loadable_checkpoint) {
    Gpt a, b, r = {0};
    tiny_model(&a, 1, 0, 1);
    tiny_model(&b, 1, 0, 2);
    LwError e;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runs/x/latest", g_dir);
    cr_assert_eq(ckpt_save(dir, &a, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    /* a crash while writing the next one leaves a .tmp directory beside it: the old one still loads */
    char junk[600];
    snprintf(junk, sizeof junk, "%s.tmp-99999", dir);
    cr_assert_eq(lw_mkdirs(junk, &e), 0);
    char jf[700];
    write_bytes(lw_path_join(jf, sizeof jf, junk, "model.safetensors"), "\x10\0\0\0", 4);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    assert_same_model(&a, &r, 0);
    gpt_free(&r);
    /* a later save replaces it completely, and leaves no directory of its own behind */
    cr_assert_eq(ckpt_save(dir, &b, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    assert_same_model(&b, &r, 0);
    gpt_free(&r);
    char other[600];
    snprintf(other, sizeof other, "%s.tmp-%ld", dir, (long)getpid());
    cr_assert(!lw_file_exists(other));
    snprintf(other, sizeof other, "%s.old-%ld", dir, (long)getpid());
    cr_assert(!lw_file_exists(other));
    /* a crash between moving the old checkpoint aside and renaming the new one in: the old one is found */
    snprintf(other, sizeof other, "%s.old-4242", dir);
    cr_assert_eq(rename(dir, other), 0);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    assert_same_model(&b, &r, 0);
    gpt_free(&r);
    lw_rmtree(other);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), LW_ERR_IO);
    cr_assert(strstr(e.msg, "no such checkpoint"), "%s", e.msg);
    gpt_free(&r);
    gpt_free(&a);
    gpt_free(&b);
}

/* ---- import of Hugging Face GPT-2 files ---- */

typedef struct Expected {
    int B, T, V;
    int *ids;
    float *logits;
} Expected;

static void read_expected(const char *path, Expected *x) {
    char *raw;
    size_t len;
    LwError e;
    cr_assert_eq(lw_read_file(path, &raw, &len, &e), 0, "%s (run tests/make_hf_tiny.py)", e.msg);
    cr_assert(len >= 24 && memcmp(raw, "LWLOGIT1", 8) == 0, "%s: bad magic", path);
    uint32_t h[4];
    memcpy(h, raw + 8, 16);
    x->B = (int)h[0], x->T = (int)h[1], x->V = (int)h[2];
    size_t bt = (size_t)x->B * x->T;
    cr_assert_eq(len, 24 + 4 * bt + 4 * bt * x->V);
    x->ids = malloc(4 * bt);
    x->logits = malloc(4 * bt * x->V);
    memcpy(x->ids, raw + 24, 4 * bt);
    memcpy(x->logits, raw + 24 + 4 * bt, 4 * bt * x->V);
    free(raw);
}

static void check_hf_logits(const char *dir) {
    GptConfig c;
    LwError e;
    cr_assert_eq(ckpt_read_config(dir, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.n_layer, 2);
    cr_assert_eq(c.n_head, 2);
    cr_assert_eq(c.d_model, 32);
    cr_assert_eq(c.context_length, 32);
    cr_assert_eq(c.vocab_size, 300);
    cr_assert_eq(c.qkv_bias, 1, "a plain HF GPT-2 config means q,k,v biases");
    cr_assert_eq(c.tie_embeddings, 1);
    Gpt m = {0};
    cr_assert_eq(ckpt_load(dir, &m, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    Expected x;
    char p[600];
    read_expected(lw_path_join(p, sizeof p, dir, "expected_logits.bin"), &x);
    cr_assert_eq(x.V, 300);
    cr_assert_eq(gpt_reserve(&m, x.B, x.T, &e), 0, "%s", e.msg);
    gpt_forward(&m, x.ids, NULL, x.B, x.T, 0, NULL);
    double worst = 0;
    size_t n = (size_t)x.B * x.T * x.V;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)m.logits[i] - x.logits[i]));
    cr_assert(worst < 1e-4, "%s: max |logit - PyTorch| = %g", dir, worst);
    free(x.ids);
    free(x.logits);
    gpt_free(&m);
}

Test(checkpoint, hf_gpt2_f32_with_prefix_and_buffers_matches_pytorch) { check_hf_logits("tests/ref/hf-tiny"); }
Test(checkpoint, hf_gpt2_f16_with_lm_head_matches_pytorch) { check_hf_logits("tests/ref/hf-tiny-f16"); }

/* The book's own model saved with torch.save and converted by scripts/book_pth_to_hf.py (tests/make_book_tiny.py):
 * untied head, no q,k,v bias (zeros in the file), and the logits of the book's forward. */
Test(checkpoint, book_pth_converted_by_the_script_matches_the_books_forward) {
    const char *dir = "tests/ref/book-tiny";
    GptConfig c;
    LwError e;
    cr_assert_eq(ckpt_read_config(dir, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.context_length, 24);
    cr_assert_eq(c.tie_embeddings, 0, "the book's out_head is its own matrix");
    Gpt m = {0};
    cr_assert_eq(ckpt_load(dir, &m, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    cr_assert_not_null(gpt_find(&m, "lm_head.weight"));
    Expected x;
    char p[600];
    read_expected(lw_path_join(p, sizeof p, dir, "expected_logits.bin"), &x);
    cr_assert_eq(gpt_reserve(&m, x.B, x.T, &e), 0, "%s", e.msg);
    gpt_forward(&m, x.ids, NULL, x.B, x.T, 0, NULL);
    double worst = 0;
    size_t n = (size_t)x.B * x.T * x.V;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)m.logits[i] - x.logits[i]));
    cr_assert(worst < 1e-4, "max |logit - the book's PyTorch forward| = %g", worst);
    free(x.ids);
    free(x.logits);
    gpt_free(&m);
}

/* Copies hf-tiny into a scratch dir, with model.safetensors rewritten by `edit` (on the F32 tensors, prefix
 * dropped). edit returns the new count. */
typedef int (*EditFn)(StEntry *ent, int n, float **bufs);

static void copy_file(const char *from, const char *to) {
    char *raw;
    size_t len;
    LwError e;
    cr_assert_eq(lw_read_file(from, &raw, &len, &e), 0, "%s", e.msg);
    write_bytes(to, raw, len);
    free(raw);
}

static const char *hf_copy(const char *name, EditFn edit) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    LwError e;
    cr_assert_eq(lw_mkdirs(dir, &e), 0);
    char a[600];
    copy_file("tests/ref/hf-tiny/config.json", lw_path_join(a, sizeof a, dir, "config.json"));
    StFile *f;
    cr_assert_eq(st_open(&f, "tests/ref/hf-tiny/model.safetensors", &e), 0, "%s", e.msg);
    int n = st_count(f);
    StEntry *ent = calloc((size_t)n + 4, sizeof(StEntry));
    float **bufs = calloc((size_t)n + 4, sizeof(float *));
    int k = 0;
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        bufs[k] = malloc((t->numel + 1) * sizeof(float));
        cr_assert_eq(st_read_f32(f, t, bufs[k], &e), 0);
        ent[k].name = t->name;
        ent[k].ndim = t->ndim;
        memcpy(ent[k].shape, t->shape, sizeof t->shape);
        ent[k].data = bufs[k];
        k++;
    }
    if (edit) k = edit(ent, k, bufs);
    cr_assert_eq(st_write(lw_path_join(a, sizeof a, dir, "model.safetensors"), ent, k, NULL, 0, &e), 0, "%s", e.msg);
    for (int i = 0; i < n + 4; i++) free(bufs[i]);
    free(bufs);
    free(ent);
    st_close(f);
    return dir;
}

static int find_entry(StEntry *ent, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ent[i].name, name)) return i;
    cr_assert_fail("no %s", name);
    return -1;
}

static int drop_fc_bias(StEntry *ent, int n, float **bufs) {
    int i = find_entry(ent, n, "transformer.h.1.mlp.c_fc.bias");
    ent[i] = ent[n - 1];
    return n - 1;
}
static int narrow_c_proj(StEntry *ent, int n, float **bufs) {
    ent[find_entry(ent, n, "transformer.h.0.attn.c_proj.weight")].shape[1] = 16;
    return n;
}
static int extra_tensor(StEntry *ent, int n, float **bufs) {
    ent[n] = ent[find_entry(ent, n, "transformer.ln_f.bias")];
    ent[n].name = "score.weight";
    return n + 1;
}
static int both_spellings(StEntry *ent, int n, float **bufs) {
    ent[n] = ent[find_entry(ent, n, "transformer.ln_f.bias")];
    ent[n].name = "ln_f.bias";
    return n + 1;
}
static int distinct_head(StEntry *ent, int n, float **bufs) {
    int w = find_entry(ent, n, "transformer.wte.weight");
    bufs[n] = malloc(300 * 32 * sizeof(float));
    for (int i = 0; i < 300 * 32; i++) bufs[n][i] = ent[w].data[i] * 0.5f;
    ent[n] = ent[w];
    ent[n].name = "lm_head.weight";
    ent[n].data = bufs[n];
    return n + 1;
}

static void expect_load_error(const char *dir, int code, const char *n1, const char *n2) {
    Gpt m = {0};
    LwError e = {0};
    int rc = ckpt_load(dir, &m, NULL, NULL, NULL, &e);
    gpt_free(&m);
    cr_assert_eq(rc, code, "rc %d: %s", rc, e.msg);
    cr_assert(strchr(e.msg, '\n') == NULL);
    if (n1) cr_assert(strstr(e.msg, n1), "'%s' not in: %s", n1, e.msg);
    if (n2) cr_assert(strstr(e.msg, n2), "'%s' not in: %s", n2, e.msg);
}

Test(checkpoint, damaged_imports_are_clear_errors) {
    expect_load_error(hf_copy("missing", drop_fc_bias), LW_ERR_INVALID, "missing tensor h.1.mlp.c_fc.bias",
                      "(128,)");
    expect_load_error(hf_copy("shape", narrow_c_proj), LW_ERR_INVALID,
                      "h.0.attn.c_proj.weight: expected shape (32, 32), found (32, 16)", NULL);
    expect_load_error(hf_copy("extra", extra_tensor), LW_ERR_INVALID, "unexpected tensor score.weight", NULL);
    expect_load_error(hf_copy("twice", both_spellings), LW_ERR_INVALID, "ln_f.bias", "with and without");
    expect_load_error(hf_copy("head", distinct_head), LW_ERR_INVALID, "lm_head.weight differs", NULL);
    /* the unedited copy loads (so the errors above come from the edits) */
    const char *ok = hf_copy("ok", NULL);
    Gpt m = {0};
    LwError e;
    cr_assert_eq(ckpt_load(ok, &m, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    gpt_free(&m);

    /* a shape that disagrees with config.json: wte of 300 rows in a model of 301 */
    const char *d = hf_copy("vocab", NULL);
    GptConfig c;
    cr_assert_eq(ckpt_read_config(d, &c, &e), 0);
    c.vocab_size = 301;
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    cr_assert_eq(ckpt_load(d, &m, NULL, NULL, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "wte.weight: expected shape (301, 32), found (300, 32)"), "%s", e.msg);
    gpt_free(&m);

    /* model.safetensors damaged on disk */
    char p[600];
    lw_path_join(p, sizeof p, d, "model.safetensors");
    char *raw;
    size_t len;
    cr_assert_eq(lw_read_file(p, &raw, &len, &e), 0);
    write_bytes(p, raw, len - 100);
    expect_load_error(d, LW_ERR_PARSE, "model.safetensors", "beyond");
    memset(raw + 3, 0x7f, 4);
    write_bytes(p, raw, len);
    expect_load_error(d, LW_ERR_PARSE, "model.safetensors", "header length");
    free(raw);
    unlink(p);
    expect_load_error(d, LW_ERR_IO, "model.safetensors", "missing");
    /* a directory where the file should be is named for what it is, not "missing" */
    cr_assert_eq(mkdir(p, 0755), 0);
    expect_load_error(d, LW_ERR_IO, "model.safetensors: a directory", "not a safetensors file");
    cr_assert_eq(rmdir(p), 0);
    /* wrong dtype where a weight should be */
    craft(p, "{\"wte.weight\":{\"dtype\":\"I32\",\"shape\":[300,32],\"data_offsets\":[0,38400]}}", 38400);
    cr_assert_eq(ckpt_read_config(d, &c, &e), 0);
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    cr_assert_eq(ckpt_load(d, &m, NULL, NULL, NULL, &e), LW_ERR_UNSUPPORTED);
    cr_assert(strstr(e.msg, "wte.weight") && strstr(e.msg, "I32"), "%s", e.msg);
    gpt_free(&m);
    /* into a model the file describes: the sizes of config.json are checked against the file before allocating */
    expect_load_error(d, LW_ERR_INVALID, "n_positions 32, n_embd 32 do not match wpe.weight", NULL);
}

Test(checkpoint, damaged_config_json_is_a_clear_error) {
    const char *d = hf_copy("cfg", NULL);
    char p[600];
    lw_path_join(p, sizeof p, d, "config.json");
    GptConfig c;
    LwError e;
    write_bytes(p, "{\n  \"n_layer\": 2,\n  \"n_head\": 2 \"n_embd\": 32\n}\n", 46);
    cr_assert_eq(ckpt_read_config(d, &c, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "config.json:3:"), "line and column: %s", e.msg);
    cr_assert(strstr(e.msg, "malformed JSON"), "%s", e.msg);
    expect_load_error(d, LW_ERR_PARSE, "config.json", NULL);
    const char *no_embd = "{\"n_layer\": 2, \"n_head\": 2, \"n_positions\": 32, \"vocab_size\": 300}";
    write_bytes(p, no_embd, strlen(no_embd));
    cr_assert_eq(ckpt_read_config(d, &c, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "missing key \"n_embd\""), "%s", e.msg);
    const char *bad_head = "{\"n_layer\": 2, \"n_head\": \"two\", \"n_embd\": 32, \"n_ctx\": 32, \"vocab_size\": 300}";
    write_bytes(p, bad_head, strlen(bad_head));
    cr_assert_eq(ckpt_read_config(d, &c, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "n_head: expected an integer in [1, 256]"), "%s", e.msg);
    const char *odd = "{\"n_layer\": 2, \"n_head\": 3, \"n_embd\": 32, \"n_ctx\": 32, \"vocab_size\": 300}";
    write_bytes(p, odd, strlen(odd));
    cr_assert_eq(ckpt_read_config(d, &c, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "not a multiple of n_head 3"), "%s", e.msg);
    const char *act = "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 32, \"n_ctx\": 32, \"vocab_size\": 300, "
                      "\"activation_function\": \"relu\"}";
    write_bytes(p, act, strlen(act));
    cr_assert_eq(ckpt_read_config(d, &c, &e), LW_ERR_UNSUPPORTED);
    cr_assert(strstr(e.msg, "relu"), "%s", e.msg);
    /* n_ctx is accepted for n_positions */
    const char *ctx = "{\"n_layer\": 2, \"n_head\": 2, \"n_embd\": 32, \"n_ctx\": 32, \"vocab_size\": 300}";
    write_bytes(p, ctx, strlen(ctx));
    cr_assert_eq(ckpt_read_config(d, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.context_length, 32);
    cr_assert_float_eq(c.dropout, 0.1f, 1e-7f);
}

Test(checkpoint, damaged_trainer_state_is_a_clear_error) {
    Gpt m, r = {0};
    tiny_model(&m, 0, 1, 3);
    TrainState st;
    fill_state(&st);
    LwError e;
    const char *dir = tpath("st");
    cr_assert_eq(ckpt_save(dir, &m, NULL, &st, NULL, &e), 0, "%s", e.msg);
    char p[600], *raw;
    size_t len;
    lw_path_join(p, sizeof p, dir, "trainer_state.json");
    cr_assert_eq(lw_read_file(p, &raw, &len, &e), 0);
    char *h = strstr(raw, "\"rng\"");
    cr_assert_not_null(h);
    h = strchr(h, '"' ) + 1;
    h = strchr(h, '"') + 1;
    h = strchr(h, '"') + 1; /* first hex digit of rng[0] */
    *h = 'z';
    write_bytes(p, raw, len);
    char *yaml = (char *)1;
    cr_assert_eq(ckpt_load(dir, &r, NULL, &st, &yaml, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "rng[0]"), "%s", e.msg);
    cr_assert_null(yaml);
    gpt_free(&r);
    free(raw);
    /* optimizer file missing one moment */
    cr_assert_eq(ckpt_save(dir, &m, NULL, &st, NULL, &e), 0);
    StEntry one = {.name = "adam_m.wte.weight", .ndim = 2, .shape = {257, 16}, .data = m.adam_m};
    cr_assert_eq(st_write(lw_path_join(p, sizeof p, dir, "optimizer.safetensors"), &one, 1, NULL, 0, &e), 0);
    cr_assert_eq(ckpt_load(dir, &r, NULL, &st, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "missing tensor adam_m.wpe.weight"), "%s", e.msg);
    gpt_free(&r);
    gpt_free(&m);
}

/* The book's finetuning setup: a caller-built model with a shorter context and an untied head still imports GPT-2
 * (first rows of wpe, head copied from wte) and computes the same logits on a short input. */
Test(checkpoint, hf_import_into_shorter_context_untied_model) {
    GptConfig c;
    LwError e;
    cr_assert_eq(ckpt_read_config("tests/ref/hf-tiny", &c, &e), 0, "%s", e.msg);
    c.context_length = 16;
    c.tie_embeddings = 0;
    c.dropout = 0.0f;
    Gpt m;
    cr_assert_eq(gpt_init(&m, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(ckpt_load("tests/ref/hf-tiny", &m, NULL, NULL, NULL, &e), 0, "%s", e.msg);
    const GptTensor *h = gpt_find(&m, "lm_head.weight"), *w = gpt_find(&m, "wte.weight");
    cr_assert(memcmp(m.params + h->offset, m.params + w->offset, w->numel * sizeof(float)) == 0);
    Expected x;
    read_expected("tests/ref/hf-tiny/expected_logits.bin", &x);
    cr_assert(x.T <= 16);
    cr_assert_eq(gpt_reserve(&m, x.B, x.T, &e), 0, "%s", e.msg);
    gpt_forward(&m, x.ids, NULL, x.B, x.T, 0, NULL);
    double worst = 0;
    for (size_t i = 0; i < (size_t)x.B * x.T * x.V; i++) worst = fmax(worst, fabs((double)m.logits[i] - x.logits[i]));
    cr_assert(worst < 1e-4, "max |logit - PyTorch| = %g", worst);
    free(x.ids);
    free(x.logits);
    gpt_free(&m);
    /* a longer context than the file has is an error naming wpe */
    c.context_length = 64;
    cr_assert_eq(gpt_init(&m, &c, &e), 0);
    cr_assert_eq(ckpt_load("tests/ref/hf-tiny", &m, NULL, NULL, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "wpe.weight: expected shape (64, 32), found (32, 32)"), "%s", e.msg);
    gpt_free(&m);
}

/* ---- regressions of issue 10: strict headers, sizes checked before allocating, non-finite values, the swap ---- */

Test(safetensors, only_whitespace_may_follow_the_header_json) {
    StFile *f;
    LwError e;
    cr_assert_eq(st_open(&f, "tests/data/checkpoint/space-padding.safetensors", &e), LW_OK, "%s", e.msg);
    st_close(f);
    expect_open_error("tests/data/checkpoint/trailing-bytes.safetensors", LW_ERR_PARSE, "after the JSON", "0x67");
    expect_open_error("tests/data/checkpoint/nul-padding.safetensors", LW_ERR_PARSE, "after the JSON", "0x00");
}

/* hf-tiny with config.json replaced by tests/data/checkpoint/<name>. */
static const char *hf_with_config(const char *name) {
    const char *d = hf_copy(name, NULL);
    char from[600], to[600];
    snprintf(from, sizeof from, "tests/data/checkpoint/%s", name);
    copy_file(from, lw_path_join(to, sizeof to, d, "config.json"));
    return d;
}

Test(checkpoint, sizes_in_config_json_are_checked_before_allocating) {
    /* each would have allocated gigabytes, overflowed, or asserted; now one line naming the checkpoint */
    expect_load_error(hf_with_config("config-n_layer-huge.json"), LW_ERR_PARSE, "config-n_layer-huge.json/config.json",
                      "n_layer: expected an integer in [1, 256]");
    expect_load_error(hf_with_config("config-n_layer-lie.json"), LW_ERR_INVALID, "config-n_layer-lie.json/config.json",
                      "n_layer 200 does not match the blocks of");
    expect_load_error(hf_with_config("config-vocab-lie.json"), LW_ERR_INVALID, "vocab-lie.json/config.json",
                      "vocab_size 1000000, n_embd 32 do not match wte.weight");
    expect_load_error(hf_with_config("config-n_embd-huge.json"), LW_ERR_PARSE, "n_embd-huge.json/config.json",
                      "n_embd: expected an integer in [1, 16384]");
    /* within bounds but not what the file holds */
    const char *d = hf_copy("vocab-small-lie", NULL);
    char p[600], *cj;
    cr_assert_eq(lw_read_file(lw_path_join(p, sizeof p, d, "config.json"), &cj, NULL, NULL), 0);
    char *v = strstr(cj, "\"vocab_size\": 300");
    cr_assert_not_null(v);
    memcpy(v, "\"vocab_size\": 900", 17);
    write_bytes(p, cj, strlen(cj));
    free(cj);
    expect_load_error(d, LW_ERR_INVALID, "vocab_size 900, n_embd 32 do not match wte.weight", "model.safetensors");
}

Test(checkpoint, non_finite_values_are_refused_at_load_naming_the_tensor) {
    Gpt m, r = {0};
    tiny_model(&m, 0, 1, 3);
    TrainState st;
    fill_state(&st);
    LwError e;
    const char *dir = tpath("nan");
    m.adam_v[m.tensors[5].offset + 2] = NAN;
    cr_assert_eq(ckpt_save(dir, &m, NULL, &st, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), LW_OK, "weights alone are fine: %s", e.msg);
    gpt_free(&r);
    TrainState st2;
    cr_assert_eq(ckpt_load(dir, &r, NULL, &st2, NULL, &e), LW_ERR_INVALID);
    char want[160];
    snprintf(want, sizeof want, "optimizer.safetensors: adam_v.%s holds NaN at index 2", m.tensors[5].name);
    cr_assert(strstr(e.msg, want), "%s", e.msg);
    cr_assert(strstr(e.msg, "--allow-nonfinite"), "%s", e.msg);
    gpt_free(&r);
    cr_assert_eq(ckpt_load_ex(dir, &r, NULL, &st2, NULL, CKPT_ALLOW_NONFINITE, &e), LW_OK, "%s", e.msg);
    cr_assert(isnan(r.adam_v[m.tensors[5].offset + 2]));
    gpt_free(&r);
    m.adam_v[m.tensors[5].offset + 2] = 0;
    m.params[m.tensors[1].offset] = -INFINITY;
    cr_assert_eq(ckpt_save(dir, &m, NULL, &st, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(ckpt_load(dir, &r, NULL, NULL, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "model.safetensors: wpe.weight holds Inf at index 0"), "%s", e.msg);
    gpt_free(&r);
    /* a resumable checkpoint without its optimizer moments: a clear error, not an I/O failure */
    m.params[m.tensors[1].offset] = 0;
    cr_assert_eq(ckpt_save(dir, &m, NULL, &st, NULL, &e), 0, "%s", e.msg);
    char p[600];
    cr_assert_eq(unlink(lw_path_join(p, sizeof p, dir, "optimizer.safetensors")), 0);
    cr_assert_eq(ckpt_load(dir, &r, NULL, &st2, NULL, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "optimizer.safetensors is missing"), "%s", e.msg);
    gpt_free(&r);
    gpt_free(&m);
}

/* A directory "<latest>.<kind>-<pid>" holding checkpoint `m` at `step` (complete), or only config.json and
 * model.safetensors (complete = 0: a save killed before trainer_state.json). */
static void leftover(const char *latest, const char *kind, long pid, const Gpt *m, long step, int complete) {
    char d[700];
    snprintf(d, sizeof d, "%s.%s-%ld", latest, kind, pid);
    TrainState st;
    fill_state(&st);
    st.step = step;
    LwError e;
    char tmp[720];
    snprintf(tmp, sizeof tmp, "%s-build", d);
    cr_assert_eq(ckpt_save(tmp, m, NULL, &st, NULL, &e), 0, "%s", e.msg);
    if (!complete) {
        char p[800];
        unlink(lw_path_join(p, sizeof p, tmp, "trainer_state.json"));
    }
    cr_assert_eq(rename(tmp, d), 0);
}

Test(checkpoint, swap_recovery_takes_the_highest_saved_step_and_cleans_dead_leftovers) {
    Gpt a, b, c, r = {0};
    tiny_model(&a, 0, 1, 11);
    tiny_model(&b, 0, 1, 12);
    tiny_model(&c, 0, 1, 13);
    char latest[512];
    snprintf(latest, sizeof latest, "%s/runs/y/latest", g_dir);
    LwError e;
    cr_assert_eq(lw_mkdirs(latest, &e), 0);
    lw_rmtree(latest);
    /* a fallback swap killed between its two renames, by processes that are gone (pids above pid_max): an older
     * .old (step 7), the newer complete .tmp (step 9) of the same save, and a .tmp killed while writing (step 20,
     * no trainer_state.json) */
    const long dead1 = 99999991, dead2 = 99999992, dead3 = 99999993;
    leftover(latest, "old", dead1, &a, 7, 1);
    leftover(latest, "tmp", dead1, &b, 9, 1);
    leftover(latest, "tmp", dead2, &c, 20, 0);
    leftover(latest, "old", dead3, &c, 3, 1);
    TrainState st;
    cr_assert_eq(ckpt_load(latest, &r, NULL, &st, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(st.step, 9, "the highest complete step, not the last name in sort order");
    assert_same_model(&b, &r, 1);
    gpt_free(&r);
    /* a save in progress in a live process is left alone */
    leftover(latest, "tmp", (long)getppid(), &c, 30, 0);
    cr_assert_eq(ckpt_recover(latest, &e), LW_OK, "%s", e.msg);
    cr_assert(lw_is_dir(latest), "latest restored");
    cr_assert_eq(ckpt_read_state(latest, &st, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(st.step, 9);
    char p[700];
    const long gone[] = {dead1, dead2, dead3};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s.tmp-%ld", latest, gone[i]);
        cr_assert(!lw_file_exists(p), "%s removed", p);
        snprintf(p, sizeof p, "%s.old-%ld", latest, gone[i]);
        cr_assert(!lw_file_exists(p), "%s removed", p);
    }
    snprintf(p, sizeof p, "%s.tmp-%ld", latest, (long)getppid());
    cr_assert(lw_is_dir(p), "a live process's save is kept");
    lw_rmtree(p);
    /* both swaps replace the checkpoint and leave nothing beside it */
    for (int fallback = 0; fallback < 2; fallback++) {
        if (fallback) setenv("LLMWB_TEST_CKPT_NO_EXCHANGE", "1", 1);
        st.step = 100 + fallback;
        cr_assert_eq(ckpt_save(latest, fallback ? &a : &c, NULL, &st, NULL, &e), LW_OK, "%s", e.msg);
        unsetenv("LLMWB_TEST_CKPT_NO_EXCHANGE");
        cr_assert_eq(ckpt_load(latest, &r, NULL, &st, NULL, &e), LW_OK, "%s", e.msg);
        cr_assert_eq(st.step, 100 + fallback);
        assert_same_model(fallback ? &a : &c, &r, 1);
        gpt_free(&r);
        char parent[600];
        snprintf(parent, sizeof parent, "%s/runs/y", g_dir);
        DIR *dd = opendir(parent);
        int n = 0;
        for (struct dirent *de; (de = readdir(dd));) n += de->d_name[0] != '.';
        closedir(dd);
        cr_assert_eq(n, 1, "only latest is left in %s", parent);
    }
    gpt_free(&a);
    gpt_free(&b);
    gpt_free(&c);
}
