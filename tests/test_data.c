/* test_data.c — corpus loading, token cache, train/val split and the sliding-window loader. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "config.h"
#include "data.h"

static char g_dir[256];

static void make_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmwb-test-data-%ld", (long)getpid());
    lw_rmtree(g_dir);
    LwError e;
    cr_assert_eq(lw_mkdirs(g_dir, &e), 0);
}
static void drop_dir(void) { lw_rmtree(g_dir); }

static void write_text(const char *name, const char *text, char *path, size_t n) {
    lw_path_join(path, n, g_dir, name);
    LwError e;
    cr_assert_eq(lw_write_file_atomic(path, text, strlen(text), &e), 0, "%s", e.msg);
}

/* A config with only the fields data.c reads. */
static void small_config(Config *c, int T, float val_fraction) {
    memset(c, 0, sizeof *c);
    c->model.context_length = T;
    c->data.val_fraction = val_fraction;
}

TestSuite(data, .init = make_dir, .fini = drop_dir);

Test(data, load_text_joins_files_with_endoftext) {
    Config c;
    small_config(&c, 4, 0.1f);
    write_text("a.txt", "Hello", c.data.paths[0], CFG_PATH_MAX);
    write_text("b.txt", "caf\xc3\xa9!", c.data.paths[1], CFG_PATH_MAX);
    c.data.n_paths = 2;
    char *t;
    size_t n;
    LwError e;
    cr_assert_eq(data_load_text(&c, &t, &n, &e), 0, "%s", e.msg);
    cr_assert_str_eq(t, "Hello<|endoftext|>caf\xc3\xa9!");
    cr_assert_eq(n, strlen(t));
    free(t);
    /* max_chars counts file bytes and never splits the two-byte é */
    c.data.max_chars = 9;
    cr_assert_eq(data_load_text(&c, &t, &n, &e), 0);
    cr_assert_str_eq(t, "Hello<|endoftext|>caf");
    free(t);
    c.data.max_chars = 3;
    cr_assert_eq(data_load_text(&c, &t, &n, &e), 0);
    cr_assert_str_eq(t, "Hel");
    free(t);
    /* a missing file is named */
    snprintf(c.data.paths[1], CFG_PATH_MAX, "%s/missing.txt", g_dir);
    c.data.max_chars = 0;
    cr_assert_eq(data_load_text(&c, &t, &n, &e), LW_ERR_IO);
    cr_assert(strstr(e.msg, "missing.txt"), "%s", e.msg);
}

Test(data, build_tokenizes_splits_and_caches) {
    Config c;
    small_config(&c, 8, 0.25f);
    char text1[201], text2[101];
    for (int i = 0; i < 200; i++) text1[i] = (char)('a' + i % 26);
    text1[200] = 0;
    for (int i = 0; i < 100; i++) text2[i] = (char)('A' + i % 26);
    text2[100] = 0;
    write_text("one.txt", text1, c.data.paths[0], CFG_PATH_MAX);
    write_text("two.txt", text2, c.data.paths[1], CFG_PATH_MAX);
    c.data.n_paths = 2;
    Tokenizer *tok = tok_new_bytes();
    int eot = tok_eot(tok);
    cr_assert(eot >= 0);
    TokenData d;
    LwError e;
    char run[300];
    snprintf(run, sizeof run, "%s/run", g_dir);
    cr_assert_eq(data_build(&d, &c, tok, run, &e), 0, "%s", e.msg);
    cr_assert_eq(d.from_cache, 0);
    cr_assert_eq(d.n, 301u);
    cr_assert_eq(d.ids[0], 'a');
    cr_assert_eq(d.ids[200], eot, "end-of-text between files");
    cr_assert_eq(d.ids[201], 'A');
    cr_assert_eq(d.n_train, (size_t)(0.75 * 301));
    cr_assert_eq(d.n_train + d.n_val, d.n);
    cr_assert_eq(d.val, d.ids + d.n_train);
    char cache[400];
    lw_path_join(cache, sizeof cache, run, "tokens.bin");
    cr_assert(lw_file_exists(cache));
    int *first = malloc(sizeof(int) * d.n);
    memcpy(first, d.ids, sizeof(int) * d.n);
    uint64_t h = d.hash;
    data_free(&d);

    /* second build comes from the cache with the same ids */
    cr_assert_eq(data_build(&d, &c, tok, run, &e), 0, "%s", e.msg);
    cr_assert_eq(d.from_cache, 1);
    cr_assert_eq(d.hash, h);
    cr_assert_eq(d.n, 301u);
    cr_assert(memcmp(d.ids, first, sizeof(int) * d.n) == 0);
    data_free(&d);

    /* a changed text changes the hash and rebuilds */
    text2[5] = '#';
    write_text("two.txt", text2, c.data.paths[1], CFG_PATH_MAX);
    cr_assert_eq(data_build(&d, &c, tok, run, &e), 0);
    cr_assert_eq(d.from_cache, 0);
    cr_assert_neq(d.hash, h);
    cr_assert_eq(d.ids[206], '#');
    data_free(&d);

    /* a corrupt cache is rebuilt, not trusted */
    cr_assert_eq(lw_write_file_atomic(cache, "LWTOKEN1garbage", 15, &e), 0);
    cr_assert_eq(data_build(&d, &c, tok, run, &e), 0);
    cr_assert_eq(d.from_cache, 0);
    cr_assert_eq(d.n, 301u);
    data_free(&d);
    /* and the rebuilt one is read back */
    cr_assert_eq(data_build(&d, &c, tok, run, &e), 0);
    cr_assert_eq(d.from_cache, 1);
    data_free(&d);
    free(first);
    tok_free(tok);
}

Test(data, cache_file_checks) {
    char path[300];
    lw_path_join(path, sizeof path, g_dir, "t.bin");
    int ids[5] = {1, 2, 3, 50256, 7};
    LwError e;
    cr_assert_eq(data_cache_write(path, 42, ids, 5, &e), 0);
    int *got;
    size_t n;
    cr_assert_eq(data_cache_read(path, 42, &got, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, 5u);
    cr_assert(memcmp(got, ids, sizeof ids) == 0);
    free(got);
    cr_assert_eq(data_cache_read(path, 43, &got, &n, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "stale"), "%s", e.msg);
    /* truncated ids */
    char *raw;
    size_t len;
    cr_assert_eq(lw_read_file(path, &raw, &len, &e), 0);
    cr_assert_eq(lw_write_file_atomic(path, raw, len - 3, &e), 0);
    free(raw);
    cr_assert_eq(data_cache_read(path, 42, &got, &n, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "t.bin"), "%s", e.msg);
    cr_assert_eq(got, NULL);
}

Test(data, split_too_short_is_a_clear_error) {
    int ids[400];
    for (int i = 0; i < 400; i++) ids[i] = i % 97;
    TokenData d;
    LwError e;
    cr_assert_eq(data_from_ids(&d, ids, 400, 0.1f, 64, &e), LW_ERR_INVALID);
    cr_assert_str_eq(e.msg, "the validation split has 40 tokens, fewer than the window+1 = 65: "
                            "raise data.val_fraction or shorten data.window");
    cr_assert_eq(d.ids, NULL);
    cr_assert_eq(data_from_ids(&d, ids, 400, 0.9f, 64, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "training split has 40 tokens"), "%s", e.msg);
    cr_assert_eq(data_from_ids(&d, ids, 400, 0.1f, 32, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n_train, 360u);
    cr_assert_eq(d.n_val, 40u);
    cr_assert_eq(d.val[0], 360 % 97);
    data_free(&d);
}

/* Windows as the book's GPTDatasetV1: inputs ids[i:i+T], targets ids[i+1:i+T+1], i in range(0, N-T, stride). */
Test(data, windows_match_the_book) {
    int ids[20];
    for (int i = 0; i < 20; i++) ids[i] = 100 + i;
    Loader l;
    LwError e;
    cr_assert_eq(loader_init(&l, ids, 20, 2, 4, 1, 0, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(l.n_windows, 16u); /* len(range(0, 16, 1)) */
    int in[8], tg[8];
    loader_next(&l, in, tg);
    int want_in[8] = {100, 101, 102, 103, 101, 102, 103, 104};
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(in[i], want_in[i]);
        cr_assert_eq(tg[i], want_in[i] + 1);
    }
    loader_free(&l);
    /* stride 0 = T: non-overlapping; range(0, 20-4, 4) has 4 windows */
    cr_assert_eq(loader_init(&l, ids, 20, 1, 4, 0, 0, 0, &e), 0);
    cr_assert_eq(l.n_windows, 4u);
    cr_assert_eq(loader_n_batches(&l), 4u);
    for (int b = 0; b < 4; b++) {
        loader_next(&l, in, tg);
        cr_assert_eq(in[0], 100 + 4 * b);
        cr_assert_eq(tg[3], 100 + 4 * b + 4);
        cr_assert_eq(l.last_start, 4 * b);
    }
    loader_free(&l);
    /* stride 3 over 20 tokens, T=4: range(0, 16, 3) = 0,3,6,9,12,15 */
    cr_assert_eq(loader_init(&l, ids, 20, 1, 4, 3, 0, 0, &e), 0);
    cr_assert_eq(l.n_windows, 6u);
    loader_free(&l);
    /* exactly T+1 tokens: one window */
    cr_assert_eq(loader_init(&l, ids, 5, 1, 4, 0, 0, 0, &e), 0);
    cr_assert_eq(l.n_windows, 1u);
    loader_free(&l);
    cr_assert_eq(loader_init(&l, ids, 4, 1, 4, 0, 0, 0, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "4 tokens"), "%s", e.msg);
}

Test(data, shuffled_epochs_cover_every_window_once) {
    enum { N = 1000, T = 8, B = 4 };
    static int ids[N];
    for (int i = 0; i < N; i++) ids[i] = i;
    Loader l;
    LwError e;
    cr_assert_eq(loader_init(&l, ids, N, B, T, 0, 123, 1, &e), 0);
    size_t W = l.n_windows, nb = loader_n_batches(&l);
    cr_assert_eq(W, (size_t)((N - T - 1) / T + 1));
    int *seen = calloc(W, sizeof(int));
    int in[B * T], tg[B * T];
    int first_epoch0[B * T];
    for (size_t b = 0; b < nb; b++) {
        loader_next(&l, in, tg);
        if (b == 0) memcpy(first_epoch0, in, sizeof in);
        for (int r = 0; r < B; r++) {
            cr_assert_eq(in[r * T] % T, 0);
            seen[in[r * T] / T]++;
            for (int t = 0; t < T; t++) cr_assert_eq(tg[r * T + t], in[r * T + t] + 1);
        }
    }
    cr_assert_eq(l.st.epoch, 0);
    size_t covered = 0;
    for (size_t w = 0; w < W; w++) {
        cr_assert(seen[w] <= 1, "window %zu served twice in an epoch", w);
        covered += seen[w];
    }
    cr_assert_eq(covered, nb * B); /* all but the dropped remainder */
    cr_assert(W - covered < B);
    loader_next(&l, in, tg);
    cr_assert_eq(l.st.epoch, 1);
    cr_assert(memcmp(in, first_epoch0, sizeof in) != 0, "epoch 1 reshuffles");
    free(seen);
    /* the same seed gives the same stream, another seed another one */
    Loader a, c;
    loader_init(&a, ids, N, B, T, 0, 123, 1, &e);
    loader_init(&c, ids, N, B, T, 0, 124, 1, &e);
    int ia[B * T], ta[B * T], ic[B * T], tc[B * T];
    loader_next(&a, ia, ta);
    loader_next(&c, ic, tc);
    cr_assert(memcmp(ia, first_epoch0, sizeof ia) == 0);
    cr_assert(memcmp(ic, first_epoch0, sizeof ic) != 0);
    loader_free(&a);
    loader_free(&c);
    loader_free(&l);
}

Test(data, state_restore_resumes_exactly) {
    enum { N = 300, T = 5, B = 3 };
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 7) % 101;
    Loader l, r;
    LwError e;
    cr_assert_eq(loader_init(&l, ids, N, B, T, 2, 9, 1, &e), 0);
    int in[B * T], tg[B * T];
    for (int i = 0; i < 250; i++) loader_next(&l, in, tg); /* several epochs in */
    cr_assert(l.st.epoch >= 2);
    LoaderState st;
    loader_state(&l, &st);
    int want_in[40][B * T], want_tg[40][B * T];
    for (int i = 0; i < 40; i++) loader_next(&l, want_in[i], want_tg[i]);
    cr_assert_eq(loader_init(&r, ids, N, B, T, 2, 1, 1, &e), 0); /* seed replaced by the state's */
    cr_assert_eq(loader_restore(&r, &st, &e), 0, "%s", e.msg);
    for (int i = 0; i < 40; i++) {
        loader_next(&r, in, tg);
        cr_assert(memcmp(in, want_in[i], sizeof in) == 0, "batch %d differs after restore", i);
        cr_assert(memcmp(tg, want_tg[i], sizeof tg) == 0);
    }
    LoaderState bad = st;
    bad.cursor = r.n_windows + 1;
    cr_assert_eq(loader_restore(&r, &bad, &e), LW_ERR_INVALID);
    loader_free(&l);
    loader_free(&r);
}

Test(data, validation_loader_is_deterministic) {
    enum { N = 200, T = 6, B = 2 };
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = i;
    Loader v;
    LwError e;
    cr_assert_eq(loader_init(&v, ids, N, B, T, 0, 5, 0, &e), 0);
    int in[B * T], tg[B * T], first[3][B * T];
    for (int k = 0; k < 3; k++) {
        loader_next(&v, first[k], tg);
        for (int r = 0; r < B; r++) cr_assert_eq(first[k][r * T], (k * B + r) * T, "in order");
    }
    loader_reset(&v);
    for (int k = 0; k < 3; k++) {
        loader_next(&v, in, tg);
        cr_assert(memcmp(in, first[k], sizeof in) == 0);
    }
    loader_free(&v);
    /* fewer windows than B: the batch wraps around (2 windows, B=3) */
    cr_assert_eq(loader_init(&v, ids, 2 * T + 1, 3, T, 0, 0, 0, &e), 0);
    cr_assert_eq(v.n_windows, 2u);
    cr_assert_eq(loader_n_batches(&v), 1u);
    int in3[3 * T], tg3[3 * T];
    loader_next(&v, in3, tg3);
    cr_assert_eq(in3[0], 0);
    cr_assert_eq(in3[T], T);
    cr_assert_eq(in3[2 * T], 0);
    loader_free(&v);
}
