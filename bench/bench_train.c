/* bench_train.c — training-step and generation throughput of the C model, printed in the same line format as
 * bench/torch_train.py so bench/run.sh can print ratios:
 *   blas: OpenBLAS 0.3.21 SkylakeX, 2 threads
 *   sgemm peak: X GFLOP/s            (the best of GPT-shaped products, all threads; printed by every run)
 *   triad: X GB/s                    (a[i] = b[i] + s c[i] over 3 x 64 MiB, all threads: the memory bandwidth)
 *   train NAME B=.. T=..: X ms/step Y tok/s Z GFLOP/s
 *   generate NAME: X tok/s ... weights W MB
 *   peak RSS: X MiB
 * A step is zero_grad + forward + backward + grad norm + clip + AdamW; warmup steps, then the fastest of N (the
 * machine may be shared: the fastest step is the least disturbed one; the median is printed beside it).
 * Besides the GPT rows: BERT (bert.h) on configs/bert-tiny.yaml's model and batch, the MLM loss on the masked
 * positions only as the trainer runs it (mlm_rows_only), and the encoder-decoder (encdec.h) on
 * configs/transformer-translate.yaml's, teacher-forced, plus its greedy decoding with the KV cache. tok/s counts
 * what the Train screen counts: B*T row tokens for BERT, B*T target tokens for the encoder-decoder.
 * Usage: llmwb-bench train [threads=2] [steps=N] [only=NAME|none]  (steps overrides every model's count). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "bench.h"
#include "bert.h"
#include "blas.h"
#include "encdec.h"
#include "matmul.h"
#include "model.h"

typedef struct BenchModel {
    const char *name;
    GptConfig cfg;
    int B, T, warmup, steps;
} BenchModel;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Matmul FLOPs of one training step (forward x 3), attention counted as computed (full T x T per head). */
static double bench_step_flops(const GptConfig *c, int B, int T) {
    double BT = (double)B * T, C = c->d_model, L = c->n_layer, V = c->vocab_size;
    double fwd = 2.0 * BT * (L * (C * 3 * C + C * C + 8 * C * C) + C * V) + L * 4.0 * B * T * (double)T * C;
    return 3.0 * fwd;
}

/* The best GFLOP/s of an (M, N, K) product over 10 runs. */
static double bench_sgemm(int M, int N, int K) {
    float *a = malloc((size_t)M * K * sizeof(float)), *b = malloc((size_t)K * N * sizeof(float));
    float *c = malloc((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 7) * 0.01f;
    double best = 1e30;
    for (int rep = 0; rep < 10; rep++) {
        double t0 = lw_now();
        matmul_gemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double dt = lw_now() - t0;
        if (dt < best) best = dt;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * M * N * K / best / 1e9;
}

/* ---- memory bandwidth: STREAM's triad on every thread ---- */

typedef struct TriadJob {
    float *a;
    const float *b, *c;
    size_t lo, hi;
} TriadJob;

static void *bench_triad_part(void *arg) {
    TriadJob *j = arg;
    for (size_t i = j->lo; i < j->hi; i++) j->a[i] = j->b[i] + 3.0f * j->c[i];
    return NULL;
}

/* GB/s of a[i] = b[i] + 3 c[i] over arrays far larger than the caches, counting 12 bytes per element (STREAM's
 * convention); the best of 5. */
static double bench_triad(int threads) {
    size_t n = (size_t)16 << 20; /* 64 MiB per array */
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = b[i] = c[i] = (float)(i & 7);
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        TriadJob jobs[16];
        pthread_t th[16];
        double t0 = lw_now();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (TriadJob){a, b, c, n * (size_t)t / threads, n * (size_t)(t + 1) / threads};
            if (t) pthread_create(&th[t], NULL, bench_triad_part, &jobs[t]);
        }
        bench_triad_part(&jobs[0]);
        for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
        double dt = lw_now() - t0;
        if (dt < best) best = dt;
    }
    free(a);
    free(b);
    free(c);
    return 12.0 * n / best / 1e9;
}

/* The two lines of one training row: ms (steps) step times in ms (sorted here), part the sums of forward, backward,
 * zero_grad + norm and AdamW over them; tokens per step B*T; note is appended inside the parentheses. */
static void bench_report(const char *name, int B, int T, double flops, double *ms, const double part[4], int steps,
                         float loss, size_t n_params, const char *note) {
    qsort(ms, (size_t)steps, sizeof(double), cmp_double);
    double med = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]), best = ms[0];
    printf("train %s B=%d T=%d: %.1f ms/step %.1f tok/s %.1f GFLOP/s (fastest of %d steps; median %.1f, max %.1f ms; "
           "loss %.3f, %zu params%s)\n",
           name, B, T, best, (double)B * T / (best / 1e3), flops / (best / 1e3) / 1e9, steps, med, ms[steps - 1],
           (double)loss, n_params, note);
    printf("  %s parts (mean ms): forward %.1f, backward %.1f, zero_grad+norm %.1f, AdamW %.1f\n", name,
           part[0] / steps, part[1] / steps, part[2] / steps, part[3] / steps);
    fflush(stdout);
}

static void bench_model(const BenchModel *bm, int steps_override) {
    Gpt m;
    LwError e = {0};
    if (gpt_init(&m, &bm->cfg, &e) || gpt_reserve(&m, bm->B, bm->T, &e)) {
        printf("train %s: skipped: %s\n", bm->name, e.msg);
        return;
    }
    Rng r;
    rng_seed(&r, 1234);
    gpt_init_weights(&m, &r);
    int BT = bm->B * bm->T, V = bm->cfg.vocab_size;
    int *in = malloc((size_t)BT * sizeof(int)), *tg = malloc((size_t)BT * sizeof(int));
    for (int i = 0; i < BT; i++) {
        in[i] = (int)rng_below(&r, (uint32_t)V);
        tg[i] = (int)rng_below(&r, (uint32_t)V);
    }
    int steps = steps_override > 0 ? steps_override : bm->steps;
    double *ms = malloc((size_t)steps * sizeof(double));
    double part[4] = {0}; /* forward, backward, zero+norm, AdamW: sums over the measured steps */
    float loss = 0.0f;
    for (int s = 0; s < bm->warmup + steps; s++) {
        double t0 = lw_now();
        gpt_zero_grad(&m);
        double t1 = lw_now();
        loss = gpt_forward(&m, in, tg, bm->B, bm->T, 1, &r);
        double t2 = lw_now();
        gpt_backward(&m, 1.0f);
        double t3 = lw_now();
        float norm = gpt_grad_norm(&m);
        float clip = norm > 1.0f ? 1.0f / (norm + 1e-6f) : 1.0f;
        double t4 = lw_now();
        gpt_adamw_step(&m, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, s + 1, clip);
        double t5 = lw_now();
        if (s >= bm->warmup) {
            ms[s - bm->warmup] = (t5 - t0) * 1e3;
            part[0] += (t2 - t1) * 1e3;
            part[1] += (t3 - t2) * 1e3;
            part[2] += (t1 - t0 + t4 - t3) * 1e3;
            part[3] += (t5 - t4) * 1e3;
        }
    }
    bench_report(bm->name, bm->B, bm->T, bench_step_flops(&bm->cfg, bm->B, bm->T), ms, part, steps, loss, m.n_params,
                 "");
    free(ms);
    free(in);
    free(tg);
    gpt_free(&m);
}

/* Greedy generation with the KV cache: an 8-token prompt, then n tokens one at a time. */
static void bench_generate(const char *name, const GptConfig *cfg, int n) {
    Gpt m;
    LwError e = {0};
    if (gpt_init(&m, cfg, &e)) {
        printf("generate %s: skipped: %s\n", name, e.msg);
        return;
    }
    Rng r;
    rng_seed(&r, 99);
    gpt_init_weights(&m, &r);
    GptKvCache *kv = gpt_kv_open(&m, 8 + n + 1);
    float *logits = malloc((size_t)cfg->vocab_size * sizeof(float));
    int prompt[8] = {15496, 11, 314, 716, 257, 2746, 290, 314};
    for (int rep = 0; rep < 2; rep++) { /* first pass warms up */
        gpt_kv_reset(kv);
        gpt_kv_forward(&m, kv, prompt, 8, logits);
        double t0 = lw_now();
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int v = 1; v < cfg->vocab_size; v++)
                if (logits[v] > logits[best]) best = v;
            gpt_kv_forward(&m, kv, &best, 1, logits);
        }
        double dt = lw_now() - t0;
        /* bytes of weights read per token: every block, ln_f and the head; one row of wte (unless it is the head)
         * and of wpe */
        size_t C = (size_t)cfg->d_model, emb = (size_t)cfg->vocab_size * C + (size_t)cfg->context_length * C;
        double wbytes = (double)(m.n_params - emb + (cfg->tie_embeddings ? (size_t)cfg->vocab_size * C : 0)) * 4.0;
        if (rep == 1)
            printf("generate %s: %.1f tok/s (%d tokens after an 8-token prompt, KV cache; weights %.0f MB read per "
                   "token)\n",
                   name, n / dt, n, wbytes / 1e6);
    }
    fflush(stdout);
    free(logits);
    gpt_kv_close(kv);
    gpt_free(&m);
}

/* ---- BERT (configs/bert-tiny.yaml) and the encoder-decoder (configs/transformer-translate.yaml) ---- */

/* Matmul FLOPs of one BERT MLM training step (forward x 3): L layers over N = B*T rows (fused QKV, output, the MLP of
 * width F, attention T x T per head), the head on the n_masked scored rows only (transform C x C, decoder C x V). */
static double bench_bert_flops(const BertConfig *c, int B, int T, int n_masked) {
    double N = (double)B * T, C = c->d_model, F = c->d_ff, L = c->n_layer, V = c->vocab_size;
    double fwd = L * (2.0 * N * (4 * C * C + 2 * C * F) + 4.0 * B * (double)T * T * C) + 2.0 * n_masked * (C * C + C * V);
    return 3.0 * fwd;
}

/* Matmul FLOPs of one teacher-forced encoder-decoder step (forward x 3): Ns = B*S source and Nt = B*T target rows;
 * encoder layers (self-attention S x S, MLP), decoder layers (self-attention T x T as computed, cross-attention: q
 * and output on Nt rows, k|v on Ns rows, T x S scores), the tied output projection (C x V) on every target row. */
static double bench_encdec_flops(const EncDecConfig *c, int B, int S, int T) {
    double Ns = (double)B * S, Nt = (double)B * T, C = c->d_model, F = c->d_ff, V = c->tgt_vocab;
    double enc = 2.0 * Ns * (4 * C * C + 2 * C * F) + 4.0 * B * (double)S * S * C;
    double dec = 2.0 * Nt * (4 * C * C + 2 * C * F) + 4.0 * B * (double)T * T * C + 2.0 * Nt * 2 * C * C +
                 2.0 * Ns * 2 * C * C + 4.0 * B * (double)T * S * C;
    return 3.0 * (c->n_enc_layer * enc + c->n_dec_layer * dec + 2.0 * Nt * C * V);
}

/* configs/bert-tiny.yaml: 4 layers, 4 heads, d_model 128 (d_ff 512), 32 positions, pre-LN, no dropout, the
 * 1,024-token BPE plus [CLS] [SEP] [MASK] [PAD]; batch 32 rows of [CLS] 30 tokens [SEP], 15% of them scored. */
static void bench_bert(const char *name, int B, int T, int warmup, int steps) {
    enum { V_BPE = 1024 }; /* ids 0..1023 ordinary (incl. <|endoftext|> at 1023), then the four specials */
    BertConfig bc = bert_config_default(4, 4, 128, T, V_BPE + 4);
    bc.pre_ln = 1;
    bc.dropout = bc.attn_dropout = 0.0f;
    Bert m;
    LwError e = {0};
    if (bert_init(&m, &bc, &e) || bert_reserve(&m, B, T, &e)) {
        printf("train %s: skipped: %s\n", name, e.msg);
        return;
    }
    m.mlm_rows_only = 1; /* as arch_bert.c trains: the head on the scored rows only */
    Rng r;
    rng_seed(&r, 1234);
    bert_init_weights(&m, &r);
    int N = B * T, cls = V_BPE, sep = V_BPE + 1, mask = V_BPE + 2, pad = V_BPE + 3;
    int *tok = malloc((size_t)N * sizeof(int)), *in = malloc((size_t)N * sizeof(int));
    int *lab = malloc((size_t)N * sizeof(int)), *scratch = malloc((size_t)T * sizeof(int));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            tok[b * T + t] = t == 0 ? cls : t == T - 1 ? sep : (int)rng_below(&r, V_BPE - 1);
    const int special[] = {cls, sep, pad, V_BPE - 1};
    BertMaskSpec spec = {.prob = 0.15f, .mask_id = mask, .rand_lo = 0, .rand_hi = V_BPE - 1, .special = special,
                         .n_special = 4};
    int n_masked = bert_mlm_mask(in, lab, tok, B, T, &spec, &r, scratch);
    double *ms = malloc((size_t)steps * sizeof(double)), part[4] = {0};
    float loss = 0.0f;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = lw_now();
        bert_zero_grad(&m);
        double t1 = lw_now();
        loss = bert_forward(&m, in, NULL, NULL, lab, B, T, 1, &r);
        double t2 = lw_now();
        bert_backward(&m, 1.0f);
        double t3 = lw_now();
        float norm = bert_grad_norm(&m);
        float clip = norm > 1.0f ? 1.0f / (norm + 1e-6f) : 1.0f;
        double t4 = lw_now();
        bert_adamw_step(&m, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, s + 1, clip);
        double t5 = lw_now();
        if (s >= warmup) {
            ms[s - warmup] = (t5 - t0) * 1e3;
            part[0] += (t2 - t1) * 1e3;
            part[1] += (t3 - t2) * 1e3;
            part[2] += (t1 - t0 + t4 - t3) * 1e3;
            part[3] += (t5 - t4) * 1e3;
        }
    }
    char note[64];
    snprintf(note, sizeof note, "; %d masked positions scored", n_masked);
    bench_report(name, B, T, bench_bert_flops(&bc, B, T, n_masked), ms, part, steps, loss, m.n_params, note);
    free(ms);
    free(tok);
    free(in);
    free(lab);
    free(scratch);
    bert_free(&m);
}

/* configs/transformer-translate.yaml's model: 2 + 2 layers, 4 heads, d_model 64, d_ff 256, 48 positions, the
 * paper's post-LN, ReLU, sinusoidal positions, shared and tied 1,000-token vocabulary, dropout 0.1. */
static EncDecConfig bench_encdec_config(void) {
    EncDecConfig c = encdec_config_default(2, 4, 64, 48, 1000);
    c.d_ff = 256;
    c.dropout = c.attn_dropout = 0.1f; /* arch_encdec.c gives model.dropout to both */
    return c;
}

/* One teacher-forced training step at (B, S, T): S and T the longest source and target of the shipped pairs (the
 * trainer pads each batch to its longest), every position real. */
static void bench_encdec(const char *name, int B, int S, int T, int warmup, int steps) {
    EncDecConfig c = bench_encdec_config();
    EncDec m;
    LwError e = {0};
    if (encdec_init(&m, &c, &e) || encdec_reserve(&m, B, S, T, &e)) {
        printf("train %s: skipped: %s\n", name, e.msg);
        return;
    }
    Rng r;
    rng_seed(&r, 1234);
    encdec_init_weights(&m, &r);
    int V = c.tgt_vocab;
    int *src = malloc((size_t)B * S * sizeof(int)), *tin = malloc((size_t)B * T * sizeof(int));
    int *lab = malloc((size_t)B * T * sizeof(int));
    for (int i = 0; i < B * S; i++) src[i] = (int)rng_below(&r, (uint32_t)V);
    for (int i = 0; i < B * T; i++) {
        tin[i] = (int)rng_below(&r, (uint32_t)V);
        lab[i] = (int)rng_below(&r, (uint32_t)V);
    }
    double *ms = malloc((size_t)steps * sizeof(double)), part[4] = {0};
    float loss = 0.0f;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = lw_now();
        encdec_zero_grad(&m);
        double t1 = lw_now();
        loss = encdec_forward(&m, src, NULL, tin, lab, B, S, T, 1, &r);
        double t2 = lw_now();
        encdec_backward(&m, 1.0f);
        double t3 = lw_now();
        float norm = encdec_grad_norm(&m);
        float clip = norm > 1.0f ? 1.0f / (norm + 1e-6f) : 1.0f;
        double t4 = lw_now();
        encdec_adamw_step(&m, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.01f, s + 1, clip);
        double t5 = lw_now();
        if (s >= warmup) {
            ms[s - warmup] = (t5 - t0) * 1e3;
            part[0] += (t2 - t1) * 1e3;
            part[1] += (t3 - t2) * 1e3;
            part[2] += (t1 - t0 + t4 - t3) * 1e3;
            part[3] += (t5 - t4) * 1e3;
        }
    }
    char note[64];
    snprintf(note, sizeof note, "; source S=%d", S);
    bench_report(name, B, T, bench_encdec_flops(&c, B, S, T), ms, part, steps, loss, m.n_params, note);
    free(ms);
    free(src);
    free(tin);
    free(lab);
    encdec_free(&m);
}

/* Greedy translation with the KV cache: n_src sources of S tokens, each encoded once (with every layer's cross
 * K/V), then T tokens one at a time from the argmax (no early stop: the same work every run). tok/s counts the
 * generated tokens over the whole time, encoding included. */
static void bench_encdec_decode(const char *name, int n_src, int S, int T) {
    EncDecConfig c = bench_encdec_config();
    EncDec m;
    LwError e = {0};
    if (encdec_init(&m, &c, &e)) {
        printf("generate %s: skipped: %s\n", name, e.msg);
        return;
    }
    Rng r;
    rng_seed(&r, 99);
    encdec_init_weights(&m, &r);
    int V = c.tgt_vocab;
    EncDecCache *kv = encdec_cache_open(&m, 1, S, T);
    int *src = malloc((size_t)n_src * S * sizeof(int));
    float *logits = malloc((size_t)V * sizeof(float));
    for (int i = 0; i < n_src * S; i++) src[i] = (int)rng_below(&r, (uint32_t)V);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) { /* the first pass warms up */
        double t0 = lw_now();
        for (int k = 0; k < n_src; k++) {
            encdec_cache_start(&m, kv, src + (size_t)k * S, S);
            int tok = V - 1; /* the begin marker */
            for (int t = 0; t < T; t++) {
                encdec_cache_step(&m, kv, 0, tok, logits, NULL);
                tok = 0;
                for (int v = 1; v < V; v++)
                    if (logits[v] > logits[tok]) tok = v;
            }
        }
        double dt = lw_now() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    printf("generate %s: %.1f tok/s (%d sources of %d tokens, %d tokens each, greedy, KV cache, encoding included)\n",
           name, n_src * T / best, n_src, S, T);
    fflush(stdout);
    free(src);
    free(logits);
    encdec_cache_close(kv);
    encdec_free(&m);
}

void bench_train_run(int argc, char **argv) {
    int threads = 2, steps = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "threads=", 8)) threads = atoi(argv[i] + 8);
        else if (!strncmp(argv[i], "steps=", 6)) steps = atoi(argv[i] + 6);
        else if (!strncmp(argv[i], "only=", 5)) only = argv[i] + 5;
    }
    matmul_set_threads(threads);
    char blas[128];
    blas_describe(0, blas, sizeof blas);
    printf("blas: %s\n", blas);
    { /* every invocation: bench/run.sh keeps the best, so a busy moment of a shared machine does not set the peak */
        double peak = 0.0;
        const int shapes[][3] = {{1024, 1024, 1024}, {256, 2304, 768}, {256, 768, 3072}};
        for (size_t i = 0; i < LW_ARRAY_LEN(shapes); i++)
            peak = LW_MAX(peak, bench_sgemm(shapes[i][0], shapes[i][1], shapes[i][2]));
        printf("sgemm peak: %.1f GFLOP/s (best of 1024x1024x1024, 256x2304x768, 256x768x3072)\n", peak);
        printf("triad: %.1f GB/s\n", bench_triad(threads));
    }
    /* the rows of bench/run.sh's table; bench/torch_train.py's bench_models() has the same */
    GptConfig gpt2 = {.n_layer = 12, .n_head = 12, .d_model = 768, .context_length = 1024, .vocab_size = 50257,
                      .dropout = 0.1f, .qkv_bias = 0, .tie_embeddings = 0};
    GptConfig def = {.n_layer = 4, .n_head = 4, .d_model = 128, .context_length = 64, .vocab_size = 1024,
                     .dropout = 0.0f, .qkv_bias = 0, .tie_embeddings = 1}; /* configs/default.yaml */
    GptConfig small = {.n_layer = 4, .n_head = 4, .d_model = 256, .context_length = 256, .vocab_size = 4096,
                       .dropout = 0.1f, .qkv_bias = 0, .tie_embeddings = 0};
    BenchModel models[] = {{"124M-B4-T64", gpt2, 4, 64, 2, 5}, {"124M-B4-T256", gpt2, 4, 256, 1, 2},
                           {"default-B16-T64", def, 16, 64, 10, 40}, {"small-L4-C256-B4-T256", small, 4, 256, 3, 15}};
    for (size_t i = 0; i < LW_ARRAY_LEN(models); i++)
        if (!only || !strcmp(only, models[i].name)) bench_model(&models[i], steps);
    if (!only || !strcmp(only, "generate")) bench_generate("gpt2-124m", &gpt2, 56);
    /* configs/bert-tiny.yaml and configs/transformer-translate.yaml (the longest pair: 15 + 15 tokens) */
    if (!only || !strcmp(only, "bert-tiny-B32-T32")) bench_bert("bert-tiny-B32-T32", 32, 32, 3, steps > 0 ? steps : 20);
    if (!only || !strcmp(only, "encdec-B32-S15-T15"))
        bench_encdec("encdec-B32-S15-T15", 32, 15, 15, 5, steps > 0 ? steps : 40);
    if (!only || !strcmp(only, "encdec-greedy")) bench_encdec_decode("encdec-greedy", 32, 15, 15);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.0f MiB\n", ru.ru_maxrss / 1024.0);
}
