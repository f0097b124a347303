/* test_dist.c — data-parallel training over MPI (issue 14, dist.h): `mpirun -np 2 llmwb train` with global batch B
 * gives the losses of one process with batch B (fp32 summation tolerance) for 20 steps, with the same weights on
 * both ranks; a run saved by 2 ranks resumes on 3 and on 1 with the same losses again; BERT's mlm matches too;
 * Ctrl-C stops every rank after one step with its checkpoint, and a killed rank ends the job. Skipped, saying so,
 * when mpirun is not installed or llmwb was built without MPI. Needs LLMWB_BIN (set by `make test`); runs from the
 * repository root. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dist.h"
#include "model.h"

static char g_root[256];
static pid_t g_job; /* a long mpirun started by a test (its own process group), ended by drop_root */

static void make_root(void) {
    snprintf(g_root, sizeof g_root, "/tmp/llmwb-test-dist-%ld", (long)getpid());
    lw_rmtree(g_root);
    LwError e;
    cr_assert_eq(lw_mkdirs(g_root, &e), 0);
}
static void drop_root(void) {
    if (g_job > 0) { /* a test that failed half way: its mpirun and ranks */
        kill(-g_job, SIGKILL);
        waitpid(g_job, NULL, 0);
        g_job = 0;
    }
    lw_rmtree(g_root);
}

/* The shell's output (stdout + stderr) of cmd into *out (malloc'd); the exit status. */
static int sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **out, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1 </dev/null", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *bin(void) {
    const char *b = getenv("LLMWB_BIN");
    if (!b) cr_skip_test("LLMWB_BIN is not set (run through make test)");
    return b;
}

/* "mpirun ... -np": as root it needs --allow-run-as-root; two cores need --oversubscribe for 3 ranks; CMA
 * (single-copy shared memory) is refused in many containers. Skips when MPI is absent. */
static const char *mpirun(void) {
    static char cmd[256];
    char *out;
    if (sh(&out, "command -v mpirun") != 0) {
        free(out);
        cr_skip_test("MPI is not installed (no mpirun: apt-get install openmpi-bin libopenmpi-dev): the data-parallel "
                     "equality test is skipped");
    }
    free(out);
    cr_assert_eq(sh(&out, "%s --version", bin()), 0, "%s", out);
    int built = strstr(out, "MPI: not built in") == NULL;
    free(out);
    if (!built) cr_skip_test("llmwb was built without MPI (libopenmpi-dev absent at build time): the data-parallel "
                             "equality test is skipped");
    /* make asan: Open MPI's plugins are unloaded before LeakSanitizer reports what they keep, so only the slow
     * unwinder's full stacks reach the libraries tests/lsan.supp names */
    snprintf(cmd, sizeof cmd, "env LSAN_OPTIONS=\"$LSAN_OPTIONS:fast_unwind_on_malloc=0\" mpirun %s--oversubscribe "
             "--mca btl_vader_single_copy_mechanism none -np", geteuid() == 0 ? "--allow-run-as-root " : "");
    return cmd;
}

/* Two layers on 30 KB of the shipped novel; batch 5 does not divide by 2 or 3 ranks (the remainder rule). */
#define SMALL                                                                                                      \
    "-c configs/default.yaml --set data.max_chars=30000 --set tokenizer.vocab_size=300 --set model.n_layer=2 "    \
    "--set model.d_model=32 --set model.n_head=2 --set model.context_length=32 --set train.batch_size=5 "         \
    "--set train.eval_every=5 --set train.eval_batches=3 --set train.sample_every=0 --set train.threads=1 "       \
    "--set probe.snapshot_every=0 --set train.warmup=2 --set train.checkpoint_every=10"

/* metrics.csv's train_loss (and val_loss, NAN when absent) by step; returns the last step. */
static int read_metrics(const char *dir, double *train, double *val, int max) {
    char p[600], *s;
    LwError e;
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    cr_assert_eq(lw_read_file(p, &s, NULL, &e), LW_OK, "%s", e.msg);
    int last = 0;
    for (char *line = strchr(s, '\n'); line && *++line; line = strchr(line, '\n')) {
        long step;
        double l, v = NAN;
        char vs[32] = "";
        if (sscanf(line, "%ld,%*d,%lf,%31[^,]", &step, &l, vs) < 2 || step < 1 || step >= max) continue;
        if (vs[0]) v = atof(vs);
        train[step] = l, val[step] = v;
        if (step > last) last = (int)step;
    }
    free(s);
    return last;
}

/* The parameters of checkpoint dir (a Gpt the caller frees). */
static void load_params(const char *dir, Gpt *m) {
    GptConfig gc;
    LwError e;
    cr_assert_eq(ckpt_read_config(dir, &gc, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(gpt_init(m, &gc, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(ckpt_load_ex(dir, m, NULL, NULL, NULL, 0, &e), LW_OK, "%s", e.msg);
}

/* The checksums rank 0 reports at the checkpoint of step: "weights identical on N ranks at step S (checksums a b)". */
static int reported_sums(const char *out, long step, unsigned long long *h, int max) {
    char key[96];
    snprintf(key, sizeof key, "ranks at step %ld (checksums ", step);
    const char *p = strstr(out, key);
    cr_assert_not_null(p, "no weight check at step %ld in:\n%s", step, out);
    p += strlen(key);
    int n = 0;
    char *end;
    while (n < max && (h[n] = strtoull(p, &end, 16), end != p)) n++, p = end;
    return n;
}

TestSuite(dist, .init = make_root, .fini = drop_root, .timeout = 240);

Test(dist, two_ranks_give_the_losses_of_one_process_and_keep_identical_weights) {
    const char *mpi = mpirun();
    char *out;
    /* one process, global batch 5, 20 steps */
    int rc = sh(&out, "%s train " SMALL " --steps 20 --run-dir %s/one", bin(), g_root);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    /* two ranks (2 + 3 rows), the same global batch */
    rc = sh(&out, "%s 2 %s train " SMALL " --steps 20 --run-dir %s/two", mpi, bin(), g_root);
    cr_assert_eq(rc, 0, "%s", out);
    unsigned long long h[4];
    cr_assert_eq(reported_sums(out, 20, h, 4), 2, "%s", out);
    cr_assert_eq(h[0], h[1], "rank 1's weights differ from rank 0's: %s", out);
    cr_assert_eq(strstr(out, "warning") || strstr(out, "error") ? 1 : 0, 0, "%s", out);
    free(out);

    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/one", g_root);
    snprintf(p2, sizeof p2, "%s/two", g_root);
    double t1[32], v1[32], t2[32], v2[32];
    cr_assert_eq(read_metrics(p1, t1, v1, 32), 20);
    cr_assert_eq(read_metrics(p2, t2, v2, 32), 20);
    double worst = 0;
    for (int s = 1; s <= 20; s++) {
        cr_assert(fabs(t1[s] - t2[s]) <= 1e-4, "step %d: train loss %.6f with 1 process, %.6f with 2 ranks", s, t1[s],
                  t2[s]);
        if (s % 5 == 0)
            cr_assert(fabs(v1[s] - v2[s]) <= 1e-4, "step %d: val loss %.6f / %.6f (sharded evaluation)", s, v1[s],
                      v2[s]);
        worst = fmax(worst, fabs(t1[s] - t2[s]));
    }
    cr_log_info("1 process vs 2 ranks over 20 steps: largest train-loss difference %.2g", worst);
    cr_assert(t2[20] < t2[1] - 0.3, "it trains: %.4f -> %.4f", t2[1], t2[20]);

    /* rank 0 saved the weights both ranks checked; they are the one-process weights up to fp32 summation */
    Gpt a, b;
    snprintf(p1, sizeof p1, "%s/one/latest", g_root);
    snprintf(p2, sizeof p2, "%s/two/latest", g_root);
    load_params(p1, &a);
    load_params(p2, &b);
    cr_assert_eq(dist_checksum(b.params, b.n_params), h[0], "the checkpoint holds the weights the ranks checked");
    cr_assert_eq(a.n_params, b.n_params);
    double d2 = 0, n2 = 0;
    for (size_t i = 0; i < a.n_params; i++) {
        double d = (double)a.params[i] - b.params[i];
        d2 += d * d, n2 += (double)a.params[i] * a.params[i];
    }
    cr_assert(sqrt(d2 / n2) < 1e-5, "weights after 20 steps: relative difference %.3g", sqrt(d2 / n2));
    cr_log_info("weights after 20 steps, 1 process vs 2 ranks: relative L2 difference %.2g", sqrt(d2 / n2));
    gpt_free(&a);
    gpt_free(&b);
}

Test(dist, a_run_saved_by_two_ranks_resumes_on_three_and_on_one) {
    const char *mpi = mpirun();
    char *out;
    /* one process trains to step 10, 15, 20 (--steps is the schedule's total: each leg changes it alike) */
    for (int steps = 10; steps <= 20; steps += 5) {
        int rc = sh(&out, "%s train " SMALL " --steps %d --run-dir %s/one", bin(), steps, g_root);
        cr_assert_eq(rc, 0, "%s", out);
        free(out);
    }
    /* 10 steps on 2 ranks, then on to 15 on 3 ranks (1 + 2 + 2 rows), then to 20 in one process */
    int rc = sh(&out, "%s 2 %s train " SMALL " --steps 10 --run-dir %s/re", mpi, bin(), g_root);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = sh(&out, "%s 3 %s train " SMALL " --steps 15 --run-dir %s/re", mpi, bin(), g_root);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "at step 10"), "resumed: %s", out);
    unsigned long long h[4];
    cr_assert_eq(reported_sums(out, 15, h, 4), 3, "%s", out);
    cr_assert(h[0] == h[1] && h[1] == h[2], "%s", out);
    free(out);
    rc = sh(&out, "%s train " SMALL " --steps 20 --run-dir %s/re", bin(), g_root);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/one", g_root);
    snprintf(p2, sizeof p2, "%s/re", g_root);
    double t1[32], v1[32], t2[32], v2[32];
    cr_assert_eq(read_metrics(p1, t1, v1, 32), 20);
    cr_assert_eq(read_metrics(p2, t2, v2, 32), 20);
    for (int s = 1; s <= 20; s++)
        cr_assert(fabs(t1[s] - t2[s]) <= 1e-4, "step %d: train loss %.6f in one run, %.6f over 2, 3 and 1 ranks", s,
                  t1[s], t2[s]);
}

/* BERT's masked-token task: targets only at the masked positions (shares weighted by them), the masks drawn by the
 * task from the run's generator (the same on every rank), one allreduce after the backward (no hook), and the
 * validation accuracy summed over the ranks' rows. */
Test(dist, bert_mlm_on_two_ranks_gives_the_losses_and_accuracy_of_one_process) {
    const char *mpi = mpirun();
    char *one, *two;
#define BERT "-c configs/bert-tiny.yaml --steps 8 --set train.eval_every=4 --set train.eval_batches=2 "              \
             "--set data.max_chars=60000 --set train.sample_every=0 --set train.batch_size=7 --set train.threads=1"
    int rc = sh(&one, "%s train " BERT " --run-dir %s/b1", bin(), g_root);
    cr_assert_eq(rc, 0, "%s", one);
    rc = sh(&two, "%s 2 %s train " BERT " --run-dir %s/b2", mpi, bin(), g_root);
    cr_assert_eq(rc, 0, "%s", two);
#undef BERT
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/b1", g_root);
    snprintf(p2, sizeof p2, "%s/b2", g_root);
    double t1[16], v1[16], t2[16], v2[16];
    cr_assert_eq(read_metrics(p1, t1, v1, 16), 8);
    cr_assert_eq(read_metrics(p2, t2, v2, 16), 8);
    for (int s = 1; s <= 8; s++) {
        cr_assert(fabs(t1[s] - t2[s]) <= 1e-4, "step %d: MLM loss %.6f with 1 process, %.6f with 2 ranks", s, t1[s],
                  t2[s]);
        if (s % 4 == 0) cr_assert(fabs(v1[s] - v2[s]) <= 1e-4, "step %d: val %.6f / %.6f", s, v1[s], v2[s]);
    }
    /* "val loss 6.7259, val accuracy 4.3% (2 batches)": the same accuracy line */
    const char *a1 = strstr(one, "step 8: val loss"), *a2 = strstr(two, "step 8: val loss");
    cr_assert(a1 && a2, "%s\n%s", one, two);
    cr_assert_eq(strncmp(a1, a2, (size_t)(strchr(a1, '(') - a1)), 0, "%.60s vs %.60s", a1, a2);
    free(one);
    free(two);
}

/* Lines of path (0 when it does not exist yet). */
static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

/* Starts `mpirun -np 2 llmwb train` on run dir dir (output into dir.log); its pid, once metrics.csv has rows. */
static pid_t start_long_run(const char *mpi, const char *dir) {
    char cmd[2048], metrics[600];
    snprintf(cmd, sizeof cmd, "exec %s 2 %s train " SMALL " --steps 100000 --set train.eval_every=0 --run-dir %s "
             ">%s.log 2>&1 </dev/null", mpi, bin(), dir, dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        setpgid(0, 0); /* a process group as a terminal's foreground job has: Ctrl-C reaches mpirun and the ranks */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    g_job = pid;
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    for (int i = 0; i < 1200 && count_lines(metrics) < 12; i++) usleep(50000); /* up to 60 s: 11 steps done */
    cr_assert_geq(count_lines(metrics), 12, "the run did not start");
    return pid;
}

/* Waits up to 60 s for pid; its exit status (128 + signal), or -1 when it is still running (then killed). */
static int wait_exit(pid_t pid) {
    for (int i = 0; i < 1200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            kill(-pid, SIGKILL); /* nothing of the job outlives mpirun */
            g_job = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(50000);
    }
    return -1; /* drop_root ends it */
}

Test(dist, ctrl_c_stops_every_rank_after_one_step_and_a_dead_rank_ends_the_job) {
    const char *mpi = mpirun();
    char dir[512], log[600], latest[600];
    LwError e;
    TrainState st;
    /* Ctrl-C (SIGINT to mpirun): every rank stops after the same step, rank 0 saves it, the job ends */
    snprintf(dir, sizeof dir, "%s/int", g_root);
    pid_t pid = start_long_run(mpi, dir);
    kill(-pid, SIGINT);
    int rc = wait_exit(pid);
    snprintf(log, sizeof log, "%s.log", dir);
    char *out;
    cr_assert_eq(lw_read_file(log, &out, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_neq(rc, -1, "mpirun did not end within 60 s of Ctrl-C:\n%s", out);
    const char *said = strstr(out, "interrupted at step ");
    cr_assert_not_null(said, "exit %d:\n%s", rc, out);
    snprintf(latest, sizeof latest, "%s/latest", dir);
    cr_assert_eq(ckpt_read_state(latest, &st, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(st.step, atol(said + strlen("interrupted at step ")), "the checkpoint is the step it stopped after");
    char metrics[600];
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    cr_assert_eq(count_lines(metrics), st.step + 1, "metrics.csv has each step once, up to the saved one");
    free(out);

    /* a rank killed (kill -9 of rank 1): mpirun ends the job; the last checkpoint (every 10 steps) is intact */
    snprintf(dir, sizeof dir, "%s/dead", g_root);
    pid = start_long_run(mpi, dir);
    cr_assert_eq(sh(&out, "pgrep -P %ld", (long)pid), 0, "%s", out); /* mpirun's children: rank 0, rank 1 */
    const char *last = out; /* the last line: rank 1 */
    for (const char *q = out; (q = strchr(q, '\n')) && q[1]; q++) last = q + 1;
    long rank1 = atol(last);
    free(out);
    cr_assert_gt(rank1, 1, "no rank under mpirun %ld", (long)pid);
    kill((pid_t)rank1, SIGKILL);
    rc = wait_exit(pid);
    cr_assert(rc != -1 && rc != 0, "mpirun ended with %d after a rank died", rc);
    snprintf(latest, sizeof latest, "%s/latest", dir);
    cr_assert_eq(ckpt_read_state(latest, &st, NULL, &e), LW_OK, "%s", e.msg);
    cr_assert(st.step >= 10 && st.step % 10 == 0, "the last good checkpoint: step %ld", st.step);
    /* and it resumes */
    rc = sh(&out, "%s train " SMALL " --steps %ld --run-dir %s", bin(), st.step + 2, dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
}
