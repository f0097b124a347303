/* test_demo.c — classroom mode through the real binary (LLMWB_BIN; skipped when unset): `llmwb demo --headless`
 * twice with the same seed gives identical screen dumps that show every stage (finetuning a classifier and its
 * answers, the GPT's causal maps beside a BERT-style encoder's full squares and its filled blank, the
 * encoder-decoder's three kinds of map and a translation included; --until ends it early) and the large views of
 * the screens; `llmwb lesson` draws its panel, steps with C-n and resumes from the progress file; P exports from the Train screen; `llmwb export` writes the
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
                                    "stage7-classify.txt",          "stage8-gpt-causal.txt",
                                    "stage8-bert-start.txt",        "stage8-bert.txt",
                                    "stage8-bert-bidirectional.txt", "stage8-bert-zoom.txt",
                                    "stage9-fill.txt",              "stage9-fill-in.txt",
                                    "stage10-translate-start.txt",  "stage10-translate.txt",
                                    "stage10-encoder.txt",          "stage10-decoder.txt",
                                    "stage10-cross.txt",            "stage11-translate.txt"};
/* How many times the UTF-8 text needle occurs in the dump name. */
static int dm_count(const char *dir, const char *name, const char *needle) {
    char *t = dm_read(dir, name);
    int n = 0;
    for (const char *p = t; (p = strstr(p, needle)); p += strlen(needle)) n++;
    free(t);
    return n;
}



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

Test(classroom, demo_headless_is_reproducible_and_shows_every_stage, .timeout = 400) {
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
    snprintf(p0, sizeof p0, "%s/bert/mlm-step" DEMO_BERT_STEPS_STR ".txt", run);   /* the later stages: their own runs */
    cr_assert(lw_file_exists(p0), "%s missing", p0);
    snprintf(p0, sizeof p0, "%s/translate/hypotheses-step" DEMO_TR_STEPS_STR ".jsonl", run);
    cr_assert(lw_file_exists(p0), "%s missing", p0);
    char all[1 << 12] = "";
    cr_assert_eq(DEMO_N_STAGES, 11);
    for (size_t i = 0; i < sizeof DUMPS / sizeof *DUMPS; i++) {
        char *a = dm_read(d1, DUMPS[i]), *b = dm_read(d2, DUMPS[i]);
        cr_assert_str_eq(a, b, "%s differs between two runs with the same seed", DUMPS[i]);
        /* the stage title of the dump is in the panel */
        int stage = atoi(DUMPS[i] + 5) - 1;
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
    /* the encoder: the GPT reopened on the same sentence (the masked triangle hatched in every tile), then BERT's
     * full squares (no hatch but the legend's two cells), trained for its fixed steps from its unigram baseline */
    dm_expect(d1, "stage8-gpt-causal.txt", 1, "Step 300  CHECKPOINT", "step 300  snapshot 1/1", "causal  resid", NULL);
    cr_assert_gt(dm_count(d1, "stage8-gpt-causal.txt", "\xe2\x95\xb1"), 200, "the causal mask is hatched");
    dm_expect(d1, "stage8-bert-start.txt", 1, "Step 0/" DEMO_BERT_STEPS_STR, "unigram baseline", NULL);
    dm_expect(d1, "stage8-bert.txt", 1, "Step " DEMO_BERT_STEPS_STR "/" DEMO_BERT_STEPS_STR "  DONE",
              "step " DEMO_BERT_STEPS_STR ": masked", NULL);
    dm_expect(d1, "stage8-bert-bidirectional.txt", 1, "  bidirectional  resid", "H3", "L1", NULL);
    dm_expect(d1, "stage8-bert-bidirectional.txt", 0, "  causal  resid", NULL);
    /* a bidirectional map hides nothing: no hatch, not even in its legend */
    cr_assert_eq(dm_count(d1, "stage8-bert-bidirectional.txt", "\xe2\x95\xb1"), 0, "nothing masked");
    dm_expect(d1, "stage8-bert-zoom.txt", 1, "[CLS]", "[SEP]", "query 0 ", NULL);
    cr_assert_eq(dm_count(d1, "stage8-bert-zoom.txt", "\xe2\x95\xb1"), 0, "the zoomed map is a full square");
    /* the blank filled: candidates, then the first written into the sentence */
    dm_expect(d1, "stage9-fill.txt", 1, "you: " DEMO_BERT_FILL, "[MASK] 1 of 1", "filled: 1 mask", NULL);
    dm_expect(d1, "stage9-fill-in.txt", 1, "> It is a truth universally ", NULL);
    dm_expect(d1, "stage9-fill-in.txt", 0, "> " DEMO_BERT_FILL, NULL);
    /* the translator: trained for its fixed steps, its BLEU above the word-by-word dictionary; the three maps;
     * a translation with its alignment */
    dm_expect(d1, "stage10-translate-start.txt", 1, "Step 0/" DEMO_TR_STEPS_STR, "baseline on ", NULL);
    dm_expect(d1, "stage10-translate.txt", 1, "Step " DEMO_TR_STEPS_STR "/" DEMO_TR_STEPS_STR "  DONE", NULL);
    dm_expect(d1, "stage10-encoder.txt", 1, "x: encoder self-attention (bidirectional: full squares)",
              "  bidirectional  resid", NULL);
    dm_expect(d1, "stage10-decoder.txt", 1, "x: decoder self-attention (causal)", "T=8  causal", NULL);
    /* the residual-stream statistics are the encoder's: not shown beside the decoder's maps */
    dm_expect(d1, "stage10-decoder.txt", 0, "resid std", NULL);
    dm_expect(d1, "stage10-cross.txt", 1, "x: cross-attention (alignment)",
              "rows: target tokens", "jeune", "lapin",
              "maison", NULL);
    cr_assert_eq(dm_count(d1, "stage10-encoder.txt", "\xe2\x95\xb1"), 0, "the encoder's maps are full squares");
    cr_assert_gt(dm_count(d1, "stage10-decoder.txt", "\xe2\x95\xb1"), 20, "the decoder's are causal");
    dm_expect(d1, "stage11-translate.txt", 1, "source: " DEMO_TR_SENTENCE, "translation: ", "Alignment (target",
              "Cross-attention of", NULL);
    /* the demo's story: BLEU from 0 at step 0 to above the word-by-word dictionary's 28.8 on the same test pairs
     * (tests/test_translate_data.c pins that baseline) */
    char *csv = dm_read(run, "translate/translate.csv");
    const char *last = strstr(csv, "\n" DEMO_TR_STEPS_STR ",");
    double bleu = -1;
    cr_assert(last && sscanf(last + 1, "%*d,%*d,%lf", &bleu) == 1, "translate.csv:\n%s", csv);
    cr_assert_gt(bleu, 28.8, "the translator's BLEU at step " DEMO_TR_STEPS_STR ": %.1f", bleu);
    free(csv);
    /* another seed gives another run */
    char d3[512];
    snprintf(d3, sizeof d3, "%s/dumps3", g_tmp);
    lw_rmtree(run);
    cr_assert_eq(dm_sh("%s demo --headless --seed 7 --until 3 --run-dir %s --dump-dir %s", bin, run, d3), 0);
    char *a = dm_read(d1, "stage3-train.txt"), *b = dm_read(d3, "stage3-train.txt");
    cr_assert_str_neq(a, b);
    free(a);
    free(b);
    snprintf(p0, sizeof p0, "%s/stage4-attention-step0.txt", d3);
    cr_assert(!lw_file_exists(p0), "--until 3 ends the demo after stage 3");
    cr_assert_eq(dm_sh("%s demo --headless --until 12 2>/dev/null", bin), 2);
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

/* Every stage of the demo is named, as its title says, by `llmwb demo --help`, the man page, the user guide and
 * classroom.md (the man page spells '-' as '\-'). */
Test(classroom, demo_stages_agree_in_help_and_docs) {
    const char *bin = dm_bin();
    char path[512];
    snprintf(path, sizeof path, "%s/help.txt", g_tmp);
    LwError e;
    cr_assert_eq(lw_mkdirs(g_tmp, &e), LW_OK);
    cr_assert_eq(dm_sh("%s demo --help > %s", bin, path), 0);
    const char *root = getenv("LLMWB_ROOT") ? getenv("LLMWB_ROOT") : ".";
    char docs[4][512];
    snprintf(docs[0], sizeof docs[0], "%s", path);
    snprintf(docs[1], sizeof docs[1], "%s/docs/llmwb.1", root);
    snprintf(docs[2], sizeof docs[2], "%s/docs/user-guide.md", root);
    snprintf(docs[3], sizeof docs[3], "%s/docs/classroom.md", root);
    for (int d = 0; d < 4; d++) {
        char *t = NULL;
        cr_assert_eq(lw_read_file(docs[d], &t, NULL, NULL), LW_OK, "%s", docs[d]);
        for (char *r = t, *w = t;; r++) {   /* "\-" -> "-", and a run of blanks (a wrapped line) -> " " */
            if (r[0] == '\\' && r[1] == '-') r++;
            if ((*r == ' ' || *r == '\n') && w > t && w[-1] == ' ') continue;
            if (!(*w++ = *r == '\n' ? ' ' : *r)) break;
        }
        for (int i = 0; i < DEMO_N_STAGES; i++) {
            const char *title = strchr(DEMO_STAGE_TITLES[i], ':') + 2;   /* "Stage N: what" */
            cr_expect(strstr(t, title), "%s does not name stage %d, \"%s\"", docs[d], i + 1, title);
        }
        free(t);
    }
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
