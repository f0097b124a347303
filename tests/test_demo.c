/* test_demo.c — classroom mode through the real binary (LLMWB_BIN; skipped when unset): `llmwb demo --headless`
 * twice with the same seed gives identical screen dumps that show every stage (finetuning a classifier and its
 * answers included) and the large views of the screens; `llmwb lesson` draws its panel,
 * steps with C-n and resumes from the progress file; P exports from the Train screen; `llmwb export` writes the
 * pictures of a run. Runs from the repo root; all output under a per-process /tmp directory. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ui/demo.h"

static char g_tmp[256];

static void dm_setup(void) { snprintf(g_tmp, sizeof g_tmp, "/tmp/llmwb-test-demo-%d", (int)getpid()); }
static void dm_teardown(void) { lw_rmtree(g_tmp); }

TestSuite(classroom, .init = dm_setup, .fini = dm_teardown, .timeout = 120);

static const char *dm_bin(void) {
    const char *b = getenv("LLMWB_BIN");
    if (!b || !*b) cr_skip_test("LLMWB_BIN is not set (make test sets it)");
    return b;
}

static int dm_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int dm_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *dm_read(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = NULL;
    cr_assert_eq(lw_read_file(path, &s, NULL, NULL), LW_OK, "missing %s", path);
    return s;
}

static const char *const DUMPS[] = {"stage1-tokenizer.txt",         "stage1-tokenizer-done.txt",
                                    "stage1-tokenizer-large.txt",   "stage2-embed.txt",
                                    "stage2-embed-large.txt",       "stage3-train.txt",
                                    "stage3-train-large.txt",       "stage4-attention-step0.txt",
                                    "stage4-attention-trained.txt", "stage4-attention-zoom.txt",
                                    "stage5-chat.txt",              "stage5-chat-large.txt",
                                    "stage6-finetune-start.txt",    "stage6-finetune.txt",
                                    "stage7-classify.txt"};

/* Asserts that the dump name holds every string of the NULL-terminated list (present = 1) or none (0). */
static void dm_expect(const char *dir, const char *name, int present, ...) {
    char *t = dm_read(dir, name);
    va_list ap;
    va_start(ap, present);
    for (const char *s; (s = va_arg(ap, const char *));) {
        if (present) cr_assert(strstr(t, s), "%s lacks \"%s\":\n%s", name, s, t);
        else cr_assert_null(strstr(t, s), "%s shows \"%s\":\n%s", name, s, t);
    }
    va_end(ap);
    free(t);
}

Test(classroom, demo_headless_is_reproducible_and_shows_every_stage) {
    const char *bin = dm_bin();
    char run[512], d1[512], d2[512];
    snprintf(run, sizeof run, "%s/run", g_tmp);
    snprintf(d1, sizeof d1, "%s/dumps1", g_tmp);
    snprintf(d2, sizeof d2, "%s/dumps2", g_tmp);
    cr_assert_eq(dm_sh("OPENBLAS_NUM_THREADS=1 %s demo --headless --seed 123 --run-dir %s --dump-dir %s", bin, run, d1), 0);
    lw_rmtree(run);   /* the second run starts from nothing too (same paths, so same screens) */
    cr_assert_eq(dm_sh("OPENBLAS_NUM_THREADS=1 %s demo --headless --seed 123 --run-dir %s --dump-dir %s", bin, run, d2), 0);
    char p0[1024];   /* the finetuning stage saved the pretrained model and ran in its own directory */
    snprintf(p0, sizeof p0, "%s/pretrained/model.safetensors", run);
    cr_assert(lw_file_exists(p0), "%s missing", p0);
    snprintf(p0, sizeof p0, "%s/finetune/classify-step150.txt", run);
    cr_assert(lw_file_exists(p0), "%s missing", p0);
    char all[1 << 12] = "";
    cr_assert_eq(DEMO_N_STAGES, 7);
    for (size_t i = 0; i < sizeof DUMPS / sizeof *DUMPS; i++) {
        char *a = dm_read(d1, DUMPS[i]), *b = dm_read(d2, DUMPS[i]);
        cr_assert_str_eq(a, b, "%s differs between two runs with the same seed", DUMPS[i]);
        /* the stage title of the dump is in the panel */
        int stage = DUMPS[i][5] - '1';
        cr_assert(strstr(a, DEMO_STAGE_TITLES[stage]), "%s lacks \"%s\"", DUMPS[i], DEMO_STAGE_TITLES[stage]);
        free(a);
        free(b);
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s ", DUMPS[i]);
    }
    char *t = dm_read(d1, "stage3-train.txt");
    cr_assert(strstr(t, "Step 300/300  DONE"), "training stops at train.steps");
    cr_assert(strstr(t, "\xe2\x97\x82train") && strstr(t, "\xe2\x97\x82val"), "curves labelled by name");
    cr_assert(strstr(t, "- tok/s"), "wall-clock figures hidden");
    free(t);
    t = dm_read(d1, "stage4-attention-step0.txt");
    cr_assert(strstr(t, "REPLAY  step 0  snapshot 1/"), "attention at step 0");
    free(t);
    t = dm_read(d1, "stage3-train-large.txt");
    cr_assert_null(strstr(t, "Events"), "the large view shows the plot alone");
    free(t);
    t = dm_read(d1, "stage5-chat.txt");
    cr_assert(strstr(t, "you: It is a truth"));
    free(t);
    /* the large views (z) of the Tokenizer, Embed and Chat screens: the main pane alone */
    dm_expect(d1, "stage1-tokenizer-large.txt", 1, "Corpus: BPE merges 127/127", "PRIDE", NULL);
    dm_expect(d1, "stage1-tokenizer-large.txt", 0, "Merge log", "Top candidate pairs", NULL);
    dm_expect(d1, "stage2-embed-large.txt", 1, "wte row (token)", "Nearest by cosine", NULL);
    dm_expect(d1, "stage2-embed-large.txt", 0, "Sliding window", "probe: ", NULL);
    dm_expect(d1, "stage5-chat-large.txt", 1, "Transcript (large view, z returns)", "you: It is a truth", NULL);
    dm_expect(d1, "stage5-chat-large.txt", 0, "Sampling", "Next-token probabilities", NULL);
    /* finetuning: the pretrained model saved, reopened as a classifier, its baseline and accuracies */
    dm_expect(d1, "stage6-finetune-start.txt", 1, "Step 0/150", "Accuracy (classifier)", "classes: original shuffled",
              "naive Bayes (bag of words): val", NULL);
    dm_expect(d1, "stage6-finetune.txt", 1, "Step 150/150  DONE", "step 0: train ", "step 150: val ",
              "step 150: train ", "val acc ", "naive-Bayes baseline", NULL);
    dm_expect(d1, "stage6-finetune.txt", 0, "Sample (step", NULL);
    dm_expect(d1, "stage7-classify.txt", 1, "Class probabilities", "you: it is a truth universally", "predicted: ", NULL);
    char *c = dm_read(d1, "stage7-classify.txt");
    const char *m1 = strstr(c, "model: original ("), *m2 = strstr(c, "model: shuffled (");
    /* the demo's story (its fixed seed): the sentence as written is classed original, its shuffle shuffled */
    cr_assert(m1 && m2 && m1 < m2, "classes of the two sentences:\n%s", c);
    free(c);
    /* another seed gives another run */
    char d3[512];
    snprintf(d3, sizeof d3, "%s/dumps3", g_tmp);
    lw_rmtree(run);
    cr_assert_eq(dm_sh("%s demo --headless --seed 7 --run-dir %s --dump-dir %s", bin, run, d3), 0);
    char *a = dm_read(d1, "stage3-train.txt"), *b = dm_read(d3, "stage3-train.txt");
    cr_assert_str_neq(a, b);
    free(a);
    free(b);
    /* llmwb export from the demo's run (no checkpoint: the loss only) */
    char out[512];
    snprintf(out, sizeof out, "%s/exports", g_tmp);
    cr_assert_eq(dm_sh("%s export --run %s --out %s >/dev/null", bin, run, out), 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/loss.png", out);
    cr_assert(lw_file_exists(p));
    snprintf(p, sizeof p, "%s/loss.svg", out);
    cr_assert(lw_file_exists(p));
    cr_assert_eq(dm_sh("%s export --out %s 2>/dev/null", bin, out), 2, "--run is required");
    cr_assert_eq(dm_sh("%s export --run %s/nothing 2>/dev/null", bin, g_tmp), 1);
    cr_assert_eq(dm_sh("%s demo --headless -c x.yaml 2>/dev/null", bin), 2);
}

static void dm_write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(classroom, lesson_panel_steps_and_resumes) {
    const char *bin = dm_bin();
    char run[512], dump[512], script[512], state[512];
    snprintf(run, sizeof run, "%s/lrun", g_tmp);
    snprintf(dump, sizeof dump, "%s/ldump", g_tmp);
    snprintf(script, sizeof script, "%s/lesson.txt", g_tmp);
    snprintf(state, sizeof state, "%s/state/lessons.txt", g_tmp);
    LwError e;
    cr_assert_eq(lw_mkdirs(dump, &e), LW_OK);
    dm_write(script, "timeout 30\nwait-text One merge at a time\ndump l1\nkey C-n\nwait-text Let it run\n"
                     "wait-text step 2/3\ndump l2\nkey C-o\nsleep-frames 2\ndump hidden\nquit\n");
    cr_assert_eq(dm_sh("LLMWB_LESSON_STATE=%s %s lesson bpe-merges -c tests/tui_scripts/e2e.yaml --run-dir %s "
                       "--script %s --dump-dir %s",
                       state, bin, run, script, dump),
                 0);
    char *t = dm_read(dump, "l1.txt");
    cr_assert(strstr(t, "2. BPE merges") && strstr(t, "Try:") && strstr(t, "Look for:"));
    cr_assert(strstr(t, "[1]Tokenizer"));
    free(t);
    t = dm_read(dump, "l2.txt");
    cr_assert(strstr(t, "press Space, wait"));
    free(t);
    t = dm_read(dump, "hidden.txt");
    cr_assert_null(strstr(t, "Look for:"), "C-o hides the panel");
    free(t);
    /* the place was saved: a new session resumes at step 2 */
    dm_write(script, "timeout 30\nwait-text Let it run\ndump resumed\nquit\n");
    cr_assert_eq(dm_sh("LLMWB_LESSON_STATE=%s %s lesson bpe-merges -c tests/tui_scripts/e2e.yaml --run-dir %s "
                       "--script %s --dump-dir %s",
                       state, bin, run, script, dump),
                 0);
    t = dm_read(dump, "resumed.txt");
    cr_assert(strstr(t, "lesson resumed at step 2/3"), "%s", t);
    free(t);
    cr_assert_eq(dm_sh("%s lesson no-such-lesson 2>/dev/null", bin), 2);
}

Test(classroom, export_key_writes_png_svg_and_text) {
    const char *bin = dm_bin();
    char run[512], dump[512], script[512];
    snprintf(run, sizeof run, "%s/erun", g_tmp);
    snprintf(dump, sizeof dump, "%s/edump", g_tmp);
    snprintf(script, sizeof script, "%s/export.txt", g_tmp);
    LwError e;
    cr_assert_eq(lw_mkdirs(dump, &e), LW_OK);
    dm_write(script, "timeout 30\nkey 4\nwait-text No steps yet\nkey s\nkey s\nwait-steps 2\nsleep-frames 3\nkey P\n"
                     "wait-text exported\ndump train\nkey 3\nwait-text LIVE\nkey g\nkey P\nwait-text attention-step\n"
                     "dump attn\nquit\n");
    cr_assert_eq(dm_sh("%s tui -c tests/tui_scripts/e2e.yaml --run-dir %s --script %s --dump-dir %s", bin, run,
                       script, dump),
                 0);
    char *t = dm_read(dump, "train.txt");
    cr_assert(strstr(t, "exports/train-step2.{png,svg,txt}"), "%s", t);
    free(t);
    char p0[1024];
    const char *files[] = {"train-step2.png", "train-step2.svg", "train-step2.txt"};
    for (int i = 0; i < 3; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/exports/%s", run, files[i]);
        cr_assert(lw_file_exists(p), "%s missing", p);
    }
    t = dm_read(run, "exports/train-step2.txt");
    cr_assert(strstr(t, "[4]Train"), "the screen text");
    free(t);
    /* the Attention export is named by the snapshot it shows (the newest: step 0, snapshots every 10 steps), as
     * its pictures are titled, not by the training step */
    t = dm_read(dump, "attn.txt");
    cr_assert(strstr(t, "exports/attention-step0.{png,svg,txt}"), "%s", t);
    free(t);
    snprintf(p0, sizeof p0, "%s/exports/attention-step0.svg", run);
    t = NULL;
    cr_assert_eq(lw_read_file(p0, &t, NULL, NULL), LW_OK, "%s", p0);
    cr_assert(strstr(t, "step 0</text>"), "the picture's title has the same step");
    free(t);
}
