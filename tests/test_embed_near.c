/* test_embed_near.c — the Embed screen's token map (inspect.h): nearest_rows and engine_nearest_tokens against a
 * naive cosine search (every pair, sorted), the map's neighbours of a query, engine_has_health, and the probe's
 * GELU saturation against a naive count. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_impl.h"
#include "model.h"

/* The naive reference: cosine of q with every other row in double precision, ids sorted by falling similarity
 * (ties: the lower index), zero rows similar 0. */
typedef struct { double s; int i; } NearRef;
static int near_cmp(const void *a, const void *b) {
    const NearRef *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? 1 : -1;
    return x->i - y->i;
}
static int naive_nearest(const float *x, int n, int d, int q, NearRef *out) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (i == q) continue;
        double dot = 0, a = 0, b = 0;
        for (int c = 0; c < d; c++) {
            dot += (double)x[q * d + c] * x[i * d + c];
            a += (double)x[q * d + c] * x[q * d + c];
            b += (double)x[i * d + c] * x[i * d + c];
        }
        out[k++] = (NearRef){a > 0 && b > 0 ? dot / sqrt(a * b) : 0, i};
    }
    qsort(out, (size_t)k, sizeof *out, near_cmp);
    return k;
}

Test(embed_near, nearest_rows_agrees_with_a_naive_cosine_search) {
    enum { N = 200, D = 12 };
    static float x[N * D];
    unsigned s = 12345;
    for (int i = 0; i < N * D; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 8) & 0xffff) / 65535.0f - 0.5f;
    }
    for (int c = 0; c < D; c++) x[7 * D + c] = 0;                  /* a zero row: similar 0 to every row */
    for (int c = 0; c < D; c++) x[9 * D + c] = 3 * x[4 * D + c];   /* a multiple of row 4: similarity 1 */
    static NearRef ref[N];
    for (int q = 0; q < N; q += 13) {
        int ids[EMBED_NN];
        float sims[EMBED_NN];
        int k = nearest_rows(x, N, D, q, ids, sims, EMBED_NN);
        cr_assert_eq(k, EMBED_NN);
        int nr = naive_nearest(x, N, D, q, ref);
        cr_assert_eq(nr, N - 1);
        for (int j = 0; j < k; j++) {
            cr_assert(ids[j] != q, "q %d listed as its own neighbour", q);
            cr_assert(fabs(sims[j] - ref[j].s) < 1e-5, "q %d rank %d: %f vs naive %f", q, j, sims[j], ref[j].s);
            /* the same row unless two similarities are within float rounding of each other */
            if (ids[j] != ref[j].i)
                cr_assert(fabs(ref[j].s - ref[j + (j + 1 < nr ? 1 : 0)].s) < 1e-6 || (j > 0 && fabs(ref[j].s - ref[j - 1].s) < 1e-6),
                          "q %d rank %d: row %d vs naive %d", q, j, ids[j], ref[j].i);
        }
    }
    int ids[EMBED_NN];
    float sims[EMBED_NN];
    cr_assert_eq(nearest_rows(x, N, D, 4, ids, sims, EMBED_NN), EMBED_NN);
    cr_assert_eq(ids[0], 9, "the multiple of row 4 comes first (%d)", ids[0]);
    cr_assert(fabsf(sims[0] - 1) < 1e-5f);
    cr_assert_eq(nearest_rows(x, N, D, 7, ids, sims, EMBED_NN), EMBED_NN);
    for (int j = 0; j < EMBED_NN; j++) cr_assert(sims[j] == 0 && ids[j] == j + (j >= 7), "zero row: %d %f", ids[j], sims[j]);
    cr_assert_eq(nearest_rows(x, 3, D, 0, ids, sims, EMBED_NN), 2, "fewer rows than asked for");
    cr_assert_eq(nearest_rows(x, N, D, N, ids, sims, EMBED_NN), 0, "a row outside the matrix");
}

static char run_root[256];
static void make_root(void) {
    snprintf(run_root, sizeof run_root, "/tmp/llmwb-test-near-%d-XXXXXX", (int)getpid());
    cr_assert_not_null(mkdtemp(run_root));
}
static void drop_root(void) { lw_rmtree(run_root); }

TestSuite(embed_near_engine, .init = make_root, .fini = drop_root, .timeout = 120);

/* A tiny GPT trained a little: its neighbours are those of its own token embedding matrix, the map's neighbours the
 * same, and it records health (a GPT). */
Test(embed_near_engine, the_engine_neighbours_are_the_naive_ones_of_its_embedding_matrix) {
    Config c;
    cfg_defaults(&c);
    snprintf(c.data.paths[0], sizeof c.data.paths[0], "corpora/austen_prideprejudice.txt");
    c.data.n_paths = 1;
    c.data.max_chars = 30000;
    c.tokenizer.kind = TOK_BPE;
    c.tokenizer.vocab_size = 300;
    c.model.vocab_size = 300;
    c.model.n_layer = 2;
    c.model.n_head = 2;
    c.model.d_model = 16;
    c.model.context_length = 16;
    c.model.dropout = 0;
    c.train.batch_size = 2;
    c.train.steps = 20;
    c.train.eval_every = 0;
    c.train.sample_every = 0;
    c.train.checkpoint_every = 0;
    c.train.threads = 1;
    c.probe.snapshot_every = 5;
    snprintf(c.name, sizeof c.name, "near");
    snprintf(c.train.run_dir, sizeof c.train.run_dir, "%s/near", run_root);
    LwError e = {0};
    Engine *g = NULL;
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_OK, "engine_open: %s", e.msg);
    for (int i = 0; i < 10; i++) cr_assert_eq(engine_train_step(g, &e), LW_OK, "%s", e.msg);
    cr_assert(engine_has_health(g));
    ArchInfo mi = engine_model_info(g);
    const float *wte = g->arch->token_embedding(g->model);
    NearRef *ref = malloc(sizeof *ref * (size_t)mi.vocab_size);
    int queries[] = {0, 'e', 256, 299};
    for (int qi = 0; qi < 4; qi++) {
        int q = queries[qi], ids[EMBED_NN];
        float sims[EMBED_NN];
        cr_assert_eq(engine_nearest_tokens(g, q, ids, sims, EMBED_NN, &e), EMBED_NN, "%s", e.msg);
        naive_nearest(wte, mi.vocab_size, mi.d_model, q, ref);
        for (int j = 0; j < EMBED_NN; j++) {
            cr_assert(fabs(sims[j] - ref[j].s) < 1e-5, "token %d rank %d: %f vs %f", q, j, sims[j], ref[j].s);
            cr_assert(ids[j] == ref[j].i || fabs(ref[j].s - sims[j]) < 1e-6, "token %d rank %d", q, j);
        }
    }
    EmbedMap m;
    cr_assert_eq(engine_embed_map_near(g, 'e', &m, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(m.query, 'e');
    cr_assert_eq(m.n_nn, EMBED_NN);
    naive_nearest(wte, mi.vocab_size, mi.d_model, 'e', ref);
    for (int j = 0; j < EMBED_NN; j++) cr_assert(fabs(m.nn_sim[j] - ref[j].s) < 1e-5);
    cr_assert_eq(m.nn_ids[0], ref[0].i);
    engine_embed_map_free(&m);
    cr_assert_eq(engine_embed_map_near(g, -1, &m, &e), LW_OK, "no query: the map alone");
    cr_assert_eq(m.query, -1);
    cr_assert_eq(m.n_nn, 0);
    cr_assert_eq(m.n, mi.vocab_size);
    engine_embed_map_free(&m);
    int ids[EMBED_NN];
    float sims[EMBED_NN];
    /* the probe's GELU saturation: each block's share of GELU inputs below -3, counted naively on the probe's own
     * forward (the model's activations right after it) */
    cr_assert_eq(engine_probe_now(g, &e), LW_OK, "%s", e.msg);
    ProbeSnapshot *p = engine_get_probe(g, -1);
    cr_assert_not_null(p);
    cr_assert_eq(p->n_gelu, mi.n_layer);
    for (int l = 1; l <= mi.n_layer; l++) {
        size_t n = 0, dead = 0;
        const float *x = gpt_gelu_input((const Gpt *)g->model, l, &n);
        cr_assert_not_null(x);
        cr_assert_eq(n, (size_t)p->T * 4 * mi.d_model, "the probe's forward: T x 4C inputs (%zu)", n);
        for (size_t i = 0; i < n; i++) dead += x[i] < -3.0f;
        cr_assert_float_eq(p->gelu_dead[l - 1], (float)dead / (float)n, 1e-6, "block %d: %f vs %zu/%zu", l,
                           p->gelu_dead[l - 1], dead, n);
    }
    engine_probe_free(p);
    cr_assert_eq(engine_nearest_tokens(g, mi.vocab_size, ids, sims, EMBED_NN, &e), -1);
    cr_assert(strstr(e.msg, "not in the vocabulary"), "%s", e.msg);
    free(ref);
    engine_close(g);
}
