/* test_runs.c — nothing a user made is lost (issues 9 and 10): a run with a checkpoint is resumed, never
 * overwritten; --fresh keeps the old run aside; a resume uses the run's saved config and tokenizer; --steps is the
 * run's total; kill -9 at any moment of a checkpoint save (and between the two renames of the fallback swap)
 * leaves a loadable, consistent checkpoint that resumes; a full disk keeps the last checkpoint.
 * The CLI tests need LLMWB_BIN (set by `make test`) and run from the repository root. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "checkpoint.h"
#include "engine.h"
#include "model.h"
#include "run.h"
#include "tmuxh.h"

static char g_root[256];

static void make_root(void) {
    snprintf(g_root, sizeof g_root, "/tmp/llmwb-test-runs-%ld", (long)getpid());
    lw_rmtree(g_root);
    LwError e;
    cr_assert_eq(lw_mkdirs(g_root, &e), 0);
}
static void drop_root(void) {
    tm_stop(); /* a TUI test that failed midway leaves its tmux server */
    lw_rmtree(g_root);
}

static const char *bin(void) {
    const char *b = getenv("LLMWB_BIN");
    if (!b) cr_skip_test("LLMWB_BIN is not set (run through make test)");
    return b;
}

/* Runs `env LLMWB_BIN args` through the shell; stdout+stderr into *out (malloc'd, may be NULL); exit status. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char args[4096], cmd[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1 </dev/null", bin(), args);
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
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A small, quick run on the shipped novel (the default config's data): 1 layer, BPE of 300 tokens. */
#define SMALL                                                                                                      \
    "--set data.max_chars=30000 --set tokenizer.vocab_size=300 --set model.n_layer=1 --set model.d_model=32 "     \
    "--set model.n_head=2 --set model.context_length=32 --set train.batch_size=2 --set train.eval_every=3 "       \
    "--set train.sample_every=0 --set train.threads=1 --set probe.snapshot_every=0"

static long saved_step(const char *dir) {
    TrainState st;
    LwError e;
    cr_assert_eq(ckpt_read_state(dir, &st, NULL, &e), LW_OK, "%s", e.msg);
    return st.step;
}

static char *slurp(const char *path) {
    char *s;
    LwError e;
    cr_assert_eq(lw_read_file(path, &s, NULL, &e), LW_OK, "%s", e.msg);
    return s;
}

/* The train_loss column of metrics.csv, one value per step (index = step). */
static int read_losses(const char *run_dir, double *loss, int max) {
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.csv", run_dir);
    char *s = slurp(p), *line = strchr(s, '\n');
    int n = 0;
    while (line && *++line) {
        long step;
        double l;
        if (sscanf(line, "%ld,%*d,%lf", &step, &l) == 2 && step > 0 && step < max) {
            loss[step] = l;
            if (step > n) n = (int)step;
        }
        line = strchr(line, '\n');
    }
    free(s);
    return n;
}

TestSuite(runs, .init = make_root, .fini = drop_root, .timeout = 120);

Test(runs, training_twice_resumes_and_fresh_keeps_the_old_run_aside) {
    char *out;
    int rc = run(&out, "train -c configs/default.yaml --steps 4 --run-dir %s/r " SMALL, g_root);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char latest[512], p[600];
    snprintf(latest, sizeof latest, "%s/r/latest", g_root);
    cr_assert_eq(saved_step(latest), 4);
    /* the same command with a larger total: resumed, said in one line, and continued to the new total */
    rc = run(&out, "train -c configs/default.yaml --steps 7 --run-dir %s/r " SMALL, g_root);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "resuming ") && strstr(out, "at step 4 with its saved config"), "%s", out);
    cr_assert(strstr(out, "steps 4..7"), "%s", out);
    free(out);
    cr_assert_eq(saved_step(latest), 7);
    double loss[16] = {0};
    snprintf(p, sizeof p, "%s/r", g_root);
    cr_assert_eq(read_losses(p, loss, 16), 7, "metrics.csv keeps the first run's steps and adds the new ones");
    for (int s = 1; s <= 7; s++) cr_assert(loss[s] > 0, "step %d in metrics.csv", s);
    /* --steps is the total: asking for fewer than done trains nothing and writes nothing */
    struct stat before, after;
    snprintf(p, sizeof p, "%s/trainer_state.json", latest);
    cr_assert_eq(stat(p, &before), 0);
    rc = run(&out, "train -c configs/default.yaml --steps 5 --run-dir %s/r " SMALL, g_root);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "at step 7 of 5: nothing to train"), "%s", out);
    free(out);
    cr_assert_eq(stat(p, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino, "the checkpoint was not rewritten");
    /* --fresh: the old run is renamed aside (and printed), the new one starts at step 0 */
    rc = run(&out, "train -c configs/default.yaml --steps 2 --fresh --run-dir %s/r " SMALL, g_root);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(p, sizeof p, "kept the previous run as %s/r.1", g_root);
    cr_assert(strstr(out, p), "%s", out);
    cr_assert(strstr(out, "steps 0..2"), "%s", out);
    free(out);
    cr_assert_eq(saved_step(latest), 2);
    snprintf(p, sizeof p, "%s/r.1/latest", g_root);
    cr_assert_eq(saved_step(p), 7, "the old run is intact");
    /* a second --fresh finds the next free name */
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps 1 --fresh --run-dir %s/r " SMALL, g_root), 0, "%s", out);
    snprintf(p, sizeof p, "kept the previous run as %s/r.2", g_root);
    cr_assert(strstr(out, p), "%s", out);
    free(out);
    /* --fresh and --resume contradict each other */
    cr_assert_eq(run(&out, "train --resume %s/r --fresh", g_root), 2);
    cr_assert(strstr(out, "--fresh") && strstr(out, "--resume"), "%s", out);
    free(out);
}

Test(runs, resume_without_c_uses_the_saved_config_and_tokenizer) {
    /* a reference run of 6 steps, and the same run stopped at 3 and resumed without -c */
    char *out;
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps 6 --run-dir %s/ref " SMALL, g_root), 0, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps 3 --run-dir %s/half " SMALL, g_root), 0, "%s", out);
    free(out);
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/half/latest/merges.txt", g_root);
    char *merges = slurp(p);
    /* sabotage what a retrained or re-read tokenizer would come from: the run's tokenizer cache now holds
     * another vocabulary (the one of a 280-token BPE), under the old cache stamp */
    cr_assert_eq(run(&out, "bpe train -c configs/default.yaml --set data.max_chars=30000 --set "
                           "tokenizer.vocab_size=280 --out %s/half/tokenizer", g_root), 0, "%s", out);
    free(out);
    /* from the repository root, where configs/default.yaml describes another model (4 layers, 1024 tokens) */
    cr_assert_eq(run(&out, "train --resume %s/half --steps 6", g_root), 0, "%s", out);
    cr_assert(strstr(out, "at step 3 with its saved config"), "%s", out);
    cr_assert(strstr(out, "changed: train.steps 6"), "the override is named: %s", out);
    cr_assert(strstr(out, "1 layers") && strstr(out, "vocab 300") && strstr(out, "steps 3..6"), "%s", out);
    snprintf(q, sizeof q, "%s/half", g_root);
    cr_assert(strstr(out, q), "--resume writes beside the checkpoint: %s", out);
    free(out);
    char *merges2 = slurp(p);
    cr_assert_str_eq(merges, merges2, "the checkpoint's tokenizer is kept, not retrained or replaced");
    free(merges);
    free(merges2);
    /* the losses of steps 4..6 are those of the uninterrupted run: same config, tokenizer, data position */
    double a[16] = {0}, b[16] = {0};
    snprintf(p, sizeof p, "%s/ref", g_root);
    cr_assert_eq(read_losses(p, a, 16), 6);
    cr_assert_eq(read_losses(q, b, 16), 6);
    for (int s = 1; s <= 6; s++) cr_assert_eq(a[s], b[s], "step %d: %.6f uninterrupted, %.6f resumed", s, a[s], b[s]);
    /* only safe keys may change on a resume, and an unsafe one is named */
    cr_assert_eq(run(&out, "train --resume %s/half --steps 8 --set model.n_layer=2", g_root), 2);
    cr_assert(strstr(out, "model.n_layer cannot change when resuming"), "%s", out);
    cr_assert(strchr(out, '\n') == out + strlen(out) - 1, "one line: %s", out);
    free(out);
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps 8 --run-dir %s/half", g_root), 2);
    cr_assert(strstr(out, "model.n_layer is 4 but the run's checkpoint") && strstr(out, "was made with 1"), "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/half/latest", g_root);
    cr_assert_eq(saved_step(p), 6, "nothing was written");
}

Test(runs, a_damaged_checkpoint_is_refused_with_exit_2) {
    char *out;
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps 2 --run-dir %s/d " SMALL, g_root), 0, "%s", out);
    free(out);
    char p[600];
    snprintf(p, sizeof p, "%s/d/latest/optimizer.safetensors", g_root);
    char *opt;
    size_t len;
    LwError e;
    cr_assert_eq(lw_read_file(p, &opt, &len, &e), 0);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(run(&out, "train --resume %s/d --steps 4", g_root), 2);
    cr_assert(strstr(out, "optimizer.safetensors is missing"), "%s", out);
    free(out);
    /* a NaN in the moments: refused naming the tensor (the last float of the file is the last adam_v) */
    memcpy(opt + len - 4, &(float){NAN}, 4);
    cr_assert_eq(lw_write_file_atomic(p, opt, len, &e), 0);
    free(opt);
    cr_assert_eq(run(&out, "train --resume %s/d --steps 4", g_root), 2);
    cr_assert(strstr(out, "optimizer.safetensors: adam_v.") && strstr(out, "holds NaN"), "%s", out);
    free(out);
    /* the engine itself refuses to start fresh over a checkpoint, whoever calls it */
    Config c;
    cfg_defaults(&c);
    snprintf(c.train.run_dir, sizeof c.train.run_dir, "%s/d", g_root);
    Engine *g = NULL;
    cr_assert_eq(engine_open(&g, &c, NULL, &e), LW_ERR_INVALID);
    cr_assert_null(g);
    cr_assert(strstr(e.msg, "already holds a checkpoint (step 2)") && strstr(e.msg, "--fresh"), "%s", e.msg);
}

/* ---- crash safety ---- */

/* A model whose every parameter and moment equals `step`: a loaded checkpoint is consistent when its weights,
 * moments and trainer_state.json all say the same step. */
static void stamp_model(Gpt *m, long step) {
    for (size_t i = 0; i < m->n_params; i++) m->params[i] = m->adam_m[i] = m->adam_v[i] = (float)step;
}

static int consistent(const Gpt *m, long step) {
    for (size_t i = 0; i < m->n_params; i++)
        if (m->params[i] != (float)step || m->adam_m[i] != (float)step || m->adam_v[i] != (float)step) return 0;
    return 1;
}

static void quiet_log(void *ud, int level, const char *msg) { (void)ud, (void)level, (void)msg; }

/* Whether the filesystem of g_root swaps directories with RENAME_EXCHANGE (else saves take the two-rename path and
 * the "exchanged" hook point never comes). */
static int exchange_supported(void) {
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/xa", g_root);
    snprintf(b, sizeof b, "%s/xb", g_root);
    LwError e;
    cr_assert_eq(lw_mkdirs(a, &e), 0);
    cr_assert_eq(lw_mkdirs(b, &e), 0);
    int ok = renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0;
    lw_rmtree(a);
    lw_rmtree(b);
    if (!ok) fprintf(stderr, "crash-safety: %s has no RENAME_EXCHANGE (%s): the fallback swap is tested alone\n", g_root,
                     strerror(errno));
    return ok;
}

static int count_leftovers(const char *parent) {
    DIR *d = opendir(parent);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));) n += strstr(de->d_name, "latest.") != NULL;
    if (d) closedir(d);
    return n;
}

Test(runs, kill_9_during_checkpoint_saves_never_loses_or_corrupts_a_checkpoint) {
    GptConfig gc = {.n_layer = 2, .n_head = 2, .d_model = 32, .context_length = 16, .vocab_size = 257, .qkv_bias = 1,
                    .tie_embeddings = 1};
    Gpt m, r = {0};
    LwError e;
    cr_assert_eq(gpt_init(&m, &gc, &e), 0);
    Tokenizer *tok = tok_new_bytes();
    char parent[512], latest[600];
    snprintf(parent, sizeof parent, "%s/crash", g_root);
    snprintf(latest, sizeof latest, "%s/latest", parent);
    static const char *const HOOKS[] = {"written", "exchanged", "aside"};
    const int rounds = 48, xchg = exchange_supported();
    int loaded = 0, corrupt = 0, none = 0, hooked = 0, stale = 0;
    long last = -1;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    lw_set_log(quiet_log, NULL); /* recovery logs each leftover it removes: expected here */
    double t0 = lw_now();
    for (int round = 0; round < rounds; round++) {
        int hook = round % 4 == 3 ? (round / 4) % 3 : -1; /* every 4th round dies at a hook point */
        if (hook == 1 && !xchg) hook = 2;
        int fallback = hook >= 0 ? hook == 2 : round % 2; /* half the saves use the two-rename swap */
        long base = last + 1;
        fflush(NULL);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            if (fallback) setenv("LLMWB_TEST_CKPT_NO_EXCHANGE", "1", 1);
            int warm = rand() % 3;
            for (long k = 0; k < 3000; k++) {
                if (hook >= 0 && k == warm) setenv("LLMWB_TEST_CKPT_KILL", HOOKS[hook], 1);
                TrainState st = {.step = base + k, .best_val_loss = INFINITY, .last_val_loss = NAN};
                stamp_model(&m, st.step);
                if (ckpt_save(latest, &m, tok, &st, "name: crash\n", NULL)) _exit(3);
            }
            _exit(0);
        }
        if (hook < 0) {
            struct timespec ts = {0, (long)(1 + rand() % 12) * 1000000L};
            nanosleep(&ts, NULL);
            kill(pid, SIGKILL);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: the child was killed (status %d)",
                  round, status);
        hooked += hook >= 0;
        /* the next start: recover, then load and check */
        cr_assert_eq(ckpt_recover(latest, &e), LW_OK, "%s", e.msg);
        stale += count_leftovers(parent);
        TrainState st;
        Tokenizer *t2 = NULL;
        char *yaml = NULL;
        if (!lw_is_dir(latest) && last < 0) {
            none++; /* killed before the first save finished: nothing was lost */
            continue;
        }
        int rc = ckpt_load(latest, &r, &t2, &st, &yaml, &e);
        cr_assert_eq(rc, LW_OK, "round %d: %s", round, e.msg);
        loaded++;
        if (!consistent(&r, st.step) || st.step < last || !t2 || !yaml || strcmp(yaml, "name: crash\n")) corrupt++;
        last = st.step; /* the resume continues from here */
        tok_free(t2);
        free(yaml);
        gpt_free(&r);
    }
    double dt = lw_now() - t0;
    lw_set_log(NULL, NULL);
    fprintf(stderr, "crash-safety: %d kill -9 rounds (%d at hook points written/exchanged/aside), %d loaded, %d "
                    "corrupt, %d before a first save, %d stale directories after recovery, last step %ld, %.1f s\n",
            rounds, hooked, loaded, corrupt, none, stale, last, dt);
    cr_assert_eq(corrupt, 0);
    cr_assert_eq(stale, 0, "every leftover of a dead process is cleaned at start");
    cr_assert(loaded >= rounds - 4, "%d of %d rounds loaded", loaded, rounds);
    tok_free(tok);
    gpt_free(&m);
}

/* The same through the binary: `llmwb train` killed at each hook point and at random moments, each time followed
 * by generate (a load) and the next train (a resume), until a run completes with nothing left beside latest. */
Test(runs, killed_training_runs_resume_through_the_cli) {
    const char *b = bin();
    char rd[512], latest[600];
    snprintf(rd, sizeof rd, "%s/k", g_root);
    snprintf(latest, sizeof latest, "%s/latest", rd);
#define TINY                                                                                                       \
    "--set data.max_chars=20000 --set tokenizer.kind=bytes --set model.n_layer=1 --set model.d_model=16 "          \
    "--set model.n_head=2 --set model.context_length=16 --set train.batch_size=2 --set train.eval_every=0 "        \
    "--set train.sample_every=0 --set train.threads=1 --set train.checkpoint_every=1 --set probe.snapshot_every=0"
    static const char *const ENV[] = {"LLMWB_TEST_CKPT_KILL=written", "LLMWB_TEST_CKPT_KILL=exchanged",
                                      "LLMWB_TEST_CKPT_NO_EXCHANGE=1 LLMWB_TEST_CKPT_KILL=aside", "", "", ""};
    char *out;
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps 3 --run-dir %s " TINY, rd), 0, "%s", out);
    free(out);
    long last = 3;
    int xchg = exchange_supported();
    for (size_t i = 0; i < LW_ARRAY_LEN(ENV); i++) {
        char cmd[2048];
        if (!xchg && strstr(ENV[i], "=exchanged")) continue;
        if (ENV[i][0]) {
            snprintf(cmd, sizeof cmd, "%s %s train -c configs/default.yaml --steps 400 --run-dir %s " TINY
                     " >/dev/null 2>&1", ENV[i], b, rd);
            int st = system(cmd);
            cr_assert((WIFEXITED(st) && WEXITSTATUS(st) == 137) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
                      "%s: killed by its hook (status %d)", ENV[i], st);
        } else { /* a random moment */
            snprintf(cmd, sizeof cmd, "%s train -c configs/default.yaml --steps 400 --run-dir %s " TINY
                     " >/dev/null 2>&1 & sleep 0.%d; kill -9 $! 2>/dev/null; wait", b, rd, 2 + (int)i);
            cr_assert_neq(system(cmd), -1);
        }
        cr_assert_eq(run(&out, "generate --ckpt %s --prompt ab --max-tokens 3 --ids --seed 1", latest), 0,
                     "round %zu: %s", i, out);
        free(out);
        long s = saved_step(latest);
        cr_assert(s >= last, "round %zu: step %ld after %ld", i, s, last);
        last = s;
    }
    cr_assert_eq(run(&out, "train -c configs/default.yaml --steps %ld --run-dir %s " TINY, last + 2, rd), 0, "%s", out);
    cr_assert(strstr(out, "resuming"), "%s", out);
    free(out);
    cr_assert_eq(saved_step(latest), last + 2);
    cr_assert_eq(count_leftovers(rd), 0, "no latest.tmp-*/latest.old-* left");
    /* the steps redone after each kill appear once in metrics.csv, in order */
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.csv", rd);
    char *csv = slurp(p), *line = strchr(csv, '\n');
    long want = 1;
    while (line && *++line) {
        cr_assert_eq(strtol(line, NULL, 10), want, "metrics.csv row for step %ld", want);
        want++;
        line = strchr(line, '\n');
    }
    cr_assert_eq(want, last + 3, "every step once");
    free(csv);
}

/* The step of a checkpoint, or -1 (no assertion: used where a mount must be undone first). */
static long step_or_none(const char *dir) {
    TrainState st;
    return ckpt_read_state(dir, &st, NULL, NULL) == LW_OK ? st.step : -1;
}

Test(runs, a_full_disk_keeps_the_last_checkpoint) {
    if (geteuid() != 0) cr_skip_test("the full-disk test mounts a small tmpfs: run as root");
    char mnt[512], *out;
    snprintf(mnt, sizeof mnt, "%s/small", g_root);
    LwError e;
    cr_assert_eq(lw_mkdirs(mnt, &e), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m") != 0)
        cr_skip_test("cannot mount a tmpfs here (%s): the full-disk test needs CAP_SYS_ADMIN", strerror(errno));
    int rc0 = run(&out, "train -c configs/default.yaml --steps 2 --run-dir %s/r " TINY, mnt);
    free(out);
    /* fill the disk, leaving room for the run's small files but not for another checkpoint (~110 KB) */
    char fill[600], latest[600], rdir[600];
    snprintf(fill, sizeof fill, "%s/filler", mnt);
    snprintf(latest, sizeof latest, "%s/r/latest", mnt);
    snprintf(rdir, sizeof rdir, "%s/r", mnt);
    struct statvfs vf;
    FILE *f = fopen(fill, "wb");
    static char block[4096];
    while (f && statvfs(mnt, &vf) == 0 && (double)vf.f_bavail * vf.f_frsize > 48 * 1024 &&
           fwrite(block, 1, sizeof block, f) == sizeof block)
        fflush(f);
    if (f) fclose(f);
    int rc = run(&out, "train -c configs/default.yaml --steps 6 --run-dir %s/r " TINY, mnt);
    long step = step_or_none(latest);
    int left = count_leftovers(rdir);
    fprintf(stderr, "full-disk: first run exit %d; on the full disk exit %d, last checkpoint step %ld, %d leftovers\n",
            rc0, rc, step, left);
    umount2(mnt, MNT_DETACH);
    cr_assert_eq(rc0, 0);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "No space left on device"), "a clear message: %s", out);
    cr_assert_eq(step, 2, "the step-2 checkpoint is kept: %s", out);
    cr_assert_eq(left, 0, "the failed save removed its directory: %s", out);
    free(out);
}

/* ---- the TUI asks (tmux, as a person uses it) ---- */

/* Opens `llmwb tui` on the e2e config and run directory rd in a fresh tmux server (tests/tmuxh.h), 100x30. */
static void tui_open(const char *rd) {
    tm_prepare();
    tm_launch_tui(100, 30, "", "tests/tui_scripts/e2e.yaml", rd);
}

Test(runs, the_tui_asks_before_it_resumes_or_starts_fresh) {
    char rd[512], p[600], *out;
    snprintf(rd, sizeof rd, "%s/t", g_root);
    cr_assert_eq(run(&out, "train -c tests/tui_scripts/e2e.yaml --steps 3 --run-dir %s", rd), 0, "%s", out);
    free(out);
    /* q: nothing happens */
    tui_open(rd);
    tm_wait("holds a checkpoint at step 3");
    snprintf(p, sizeof p, "the old run is kept as %s.1", rd);
    tm_wait(p);
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
    tm_stop();
    snprintf(p, sizeof p, "%s/latest", rd);
    cr_assert_eq(saved_step(p), 3);
    /* r (Enter): resumed at step 3, said on the status line */
    tui_open(rd);
    tm_wait("holds a checkpoint at step 3");
    tm_keys("Enter");
    tm_wait("Step 3/");
    tm_wait("resuming");
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
    tm_stop();
    /* f: the old run is kept aside, the new one starts at step 0 */
    tui_open(rd);
    tm_wait("holds a checkpoint at step 3");
    tm_keys("f");
    tm_wait("Step 0/");
    snprintf(p, sizeof p, "kept the previous run as %s.1", rd);
    tm_wait(p);
    tm_keys("q");
    tm_wait("__LLMWB_EXIT_0__");
    tm_stop();
    snprintf(p, sizeof p, "%s.1/latest", rd);
    cr_assert_eq(saved_step(p), 3, "the old run is intact beside the new one");
    snprintf(p, sizeof p, "%s/latest", rd);
    cr_assert(!lw_file_exists(p), "the fresh run has not saved yet");
}
