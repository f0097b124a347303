/* main.c — build/llmwb-bench [bpe|train] [args]: runs one benchmark part, or all of them. */
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "blas.h"

int main(int argc, char **argv) {
    char probe[256];
    int st = blas_startup(argv, probe, sizeof probe); /* the same BLAS core choice as llmwb */
    if (st >= 0) {
        puts(probe);
        return st;
    }
    const char *what = argc > 1 ? argv[1] : "all";
    if (!strcmp(what, "bpe") || !strcmp(what, "all")) bench_bpe_run();
    if (!strcmp(what, "train") || !strcmp(what, "all")) bench_train_run(argc - 1, argv + 1);
    return 0;
}
