/* bench_bpe.c — BPE figures: training time to a 4,096-token vocabulary on 1 MB and 4 MB of the shipped novels
 * (the five corpora/ novels concatenated in name order), and single-thread encode speed on Pride and Prejudice (best of 5).
 * Run from the repo root. Prints one "bpe ..." line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bpe.h"

static const char *const NOVELS[] = {"corpora/austen_emma.txt", "corpora/austen_prideprejudice.txt",
                                     "corpora/dickens_great_expectations.txt", "corpora/melville_moby_dick.txt",
                                     "corpora/wells_war_of_the_worlds.txt"};

static void bench_train(const char *text, size_t n) {
    BpeTrainer *b = NULL;
    LwError e;
    double t0 = lw_now();
    if (bpe_trainer_open(&b, text, n, 4096, &e)) {
        printf("bpe train: error: %s\n", e.msg);
        return;
    }
    double t1 = lw_now();
    while (bpe_trainer_step(b, NULL)) {
    }
    double t2 = lw_now();
    printf("bpe train vocab=4096 text=%.1fMB: %.2f s (pretokenize %.2f s, %d merges, %.2f bytes/token)\n", n / 1e6,
           t2 - t0, t1 - t0, bpe_trainer_n_merges(b), (double)n / (double)bpe_trainer_n_tokens(b));
    bpe_trainer_close(b);
}

void bench_bpe_run(void) {
    LwError e;
    size_t total = 0;
    char *all = NULL;
    for (size_t i = 0; i < LW_ARRAY_LEN(NOVELS); i++) {
        char *d;
        size_t n;
        if (lw_read_file(NOVELS[i], &d, &n, &e)) {
            printf("bpe: %s\n", e.msg);
            free(all);
            return;
        }
        all = lw_realloc(all, total + n + 1);
        memcpy(all + total, d, n);
        total += n;
        free(d);
    }
    bench_train(all, LW_MIN(total, (size_t)1000000));
    bench_train(all, LW_MIN(total, (size_t)4000000));
    free(all);

    Tokenizer *t = NULL;
    if (tok_load_gpt2(&t, "corpora/gpt2/encoder.json", "corpora/gpt2/vocab.bpe", &e)) {
        printf("bpe: %s\n", e.msg);
        return;
    }
    char *d;
    size_t n;
    if (lw_read_file("corpora/austen_prideprejudice.txt", &d, &n, &e)) {
        printf("bpe: %s\n", e.msg);
        tok_free(t);
        return;
    }
    IntVec v = {0};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        v.len = 0;
        double t0 = lw_now();
        tok_encode(t, d, n, 0, &v);
        double dt = lw_now() - t0;
        if (dt < best) best = dt;
    }
    printf("bpe encode gpt2 austen_prideprejudice.txt: %.1f MB/s (%zu tokens, best of 5, 1 thread)\n", n / best / 1e6,
           v.len);
    ivec_free(&v);
    free(d);
    tok_free(t);
}
