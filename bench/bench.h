/* bench.h — the benchmark parts linked into build/llmwb-bench (run by `make bench` through bench/run.sh). */
#ifndef LLMWB_BENCH_H
#define LLMWB_BENCH_H
void bench_bpe_run(void);
void bench_train_run(int argc, char **argv);
#endif
