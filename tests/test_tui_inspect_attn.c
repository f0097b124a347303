/* test_tui_inspect_attn.c — the Attention screen's look inside the model (issue 15) as a person uses it: the real
 * `llmwb` binary in tmux (send-keys, capture-pane, waiting for text with a deadline, never a fixed sleep) on a tiny
 * GPT trained on a made-up language whose next word is always the word two back ("w07 w31 w07 w31 ..."): within
 * a few hundred steps the first layer's heads attend to the previous token, so the grid names them "prev-token",
 * and knocking one out raises the validation loss. Also: BERT says the ablation is GPT-only. Needs LLMWB_BIN and
 * LLMWB_ROOT (tests/tmuxh.h); each test has its own tmux server and directory, removed in teardown. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmuxh.h"

#define IA_DEADLINE 30.0

/* Waits up to IA_DEADLINE seconds for text on the screen, or fails the test. */
static void ia_wait(const char *text) { tm_wait_for(text, IA_DEADLINE); }

static void ia_wait_gone(const char *text) {
    double t0 = tm_now();
    while (tm_now() - t0 < IA_DEADLINE) {
        if (!strstr(tm_capture(), text)) return;
        tm_pause_ms(50);
    }
    cr_assert_fail("\"%s\" is still on the screen after %.0f s:\n%s", text, IA_DEADLINE, tm_capture());
}

/* The TUI's run directory: run/ in the test's directory (which holds the made-up language). */
static const char *ia_run(void) {
    static char run[300];
    snprintf(run, sizeof run, "%s/run", tm_run_dir());
    return run;
}

/* A tmux server named and a run directory made for the test. */
static void ia_prepare(void) {
    tm_prepare();
    cr_assert_eq(tm_sh("rm -rf '%s' && mkdir -p '%s'", tm_run_dir(), tm_run_dir()), 0);
}

/* Writes the made-up language (3000 lines of two random words of 40 alternating, 8 to 14 words a line; a fixed
 * LCG, so the same corpus every run) and a config for a tiny GPT on it into the run directory; returns the config's
 * path. */
static const char *ia_write_alternating(void) {
    static char cfg[400];
    char path[400];
    snprintf(path, sizeof path, "%s/alternating.txt", tm_run_dir());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    unsigned long long s = 12345;
#define IA_RAND() ((s = s * 6364136223846793005ULL + 1442695040888963407ULL), (int)(s >> 33))
    for (int line = 0; line < 3000; line++) {
        int a = IA_RAND() % 40, b = IA_RAND() % 39, n = 8 + IA_RAND() % 7;
        if (b >= a) b++;
        for (int i = 0; i < n; i++) fprintf(f, "%sw%02d", i ? " " : "", i % 2 ? b : a);
        fputc('\n', f);
    }
#undef IA_RAND
    fclose(f);
    snprintf(cfg, sizeof cfg, "%s/alternating.yaml", tm_run_dir());
    f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "name: alternating\n"
            "model: {n_layer: 2, n_head: 2, d_model: 32, context_length: 32, dropout: 0.0, qkv_bias: false, "
            "tie_embeddings: true}\n"
            "tokenizer: {kind: words}\n"
            "data: {paths: ['%s'], val_fraction: 0.1}\n"
            "train: {batch_size: 8, steps: 100000, lr: 3.0e-3, min_lr: 3.0e-4, warmup: 20, eval_every: 100, "
            "eval_batches: 2, sample_every: 0, checkpoint_every: 100000, seed: 7, threads: 1}\n"
            "probe: {text: 'w01 w02 w01 w02 w01 w02 w01', snapshot_every: 50}\n",
            path);
    fclose(f);
    return cfg;
}

/* The TUI on the alternating language at w x h (h + 1 rows: tmux's status bar takes one), trained to step 600 and
 * paused on the Attention screen. */
static void ia_trained(int w, int h) {
    tm_launch_tui(w, h + 1, "", ia_write_alternating(), ia_run());
    ia_wait("[1]Tokenizer");
    tm_keys("3");
    ia_wait("snapshot 1/");
    tm_keys("Space");
    tm_wait_step_for(600, -1, IA_DEADLINE);
    tm_keys("Space");
    ia_wait("PAUSED");
}

TestSuite(tui_inspect_attn, .init = ia_prepare, .fini = tm_stop, .timeout = 150);

/* The roles under the tiles, o and o again at 80x24 on the trained model. */
static void ia_knock_out_and_back(int w, int h) {
    ia_trained(w, h);
    /* the first layer's heads attend to the previous token: their tiles say so, with the score */
    const char *label = w >= 120 ? "prev-token 0." : "prev 0."; /* the long form where the tile is wide enough */
    ia_wait(label);
    const char *l = tm_line_with(label);
    float score = (float)atof(strstr(l, label) + strlen(label) - 2);
    cr_assert(score > 0.4f && score <= 1.0f, "a strong role (above 0.4): [%s]", l);
    cr_assert_null(strstr(tm_capture(), "knocked out"), "nothing is knocked out yet:\n%s", tm_capture());
    /* o: the selected head (layer 0 head 0) knocked out; the loss change and the two distributions */
    tm_keys("o");
    ia_wait("layer 0 head 0 knocked out");
    ia_wait("knocked out L0 H0:");
    ia_wait("val loss ");
    const char *ll = tm_line_with("val loss ");
    float base = 0, knocked = 0, delta = 0;
    const char *v = strstr(ll, "val loss ");
    cr_assert_eq(sscanf(v, "val loss %f -> %f (%f)", &base, &knocked, &delta), 3, "[%s]", ll);
    cr_assert(base > 0 && knocked > base + 0.05f, "the previous-token head is needed: [%s]", ll);
    cr_assert(fabsf(delta - (knocked - base)) < 0.0015f, "the change is the difference: [%s]", ll);
    ia_wait("whole model");
    const char *hl = tm_line_with("whole model");
    cr_assert(strstr(hl, "without L0 H0"), "the column heads: [%s]", hl);
    cr_assert(strstr(tm_capture(), "next after \"w01\":"), "what is predicted:\n%s", tm_capture());
    cr_assert(strstr(tm_capture(), "KL "), "how far the distribution moved:\n%s", tm_capture());
    /* the first candidates side by side: a token and its probability on each side of the bar */
    const char *c1 = tm_line_with("1 \"w");
    const char *bar = strstr(c1, "\xe2\x94\x82");
    cr_assert(bar && strchr(c1, '%') < bar && strchr(bar, '%'), "both columns: [%s]", c1);
    cr_assert(strstr(c1, "1 \"w02\""), "the whole model knows the word two back: [%s]", c1);
    cr_assert(strstr(tm_capture(), "\xe2\x9c\x95 "), "the knocked-out tile is marked:\n%s", tm_capture());
    /* O: mean ablation instead: the same whole model, another loss (the head's average stays) */
    tm_keys("O");
    ia_wait("replaces its output by its mean");
    ia_wait("L0 H0 by its mean:");
    ia_wait("val loss ");
    float mbase = 0, mknocked = 0, mdelta = 0;
    const char *ml = tm_line_with("val loss ");
    cr_assert_eq(sscanf(strstr(ml, "val loss "), "val loss %f -> %f (%f)", &mbase, &mknocked, &mdelta), 3, "[%s]", ml);
    cr_assert(fabsf(mbase - base) < 0.0006f, "the whole model is the same: [%s] vs %.3f", ml, (double)base);
    cr_assert(fabsf(mknocked - knocked) > 0.0015f, "the mean is not zero: [%s] vs %.3f", ml, (double)knocked);
    tm_keys("O");
    ia_wait("knocked out L0 H0:");
    ia_wait("whole model");
    /* the zoom shows the head's three role scores */
    tm_keys("Enter");
    ia_wait("head roles:  prev-token 0.");
    cr_assert(strstr(tm_line_with("head roles:"), "induction 0."), "[%s]", tm_line_with("head roles:"));
    tm_keys("Escape");
    ia_wait("whole model");
    /* o again: the head is back, the panel gone */
    tm_keys("o");
    ia_wait("layer 0 head 0 is back");
    ia_wait_gone("val loss ");
    cr_assert_null(strstr(tm_capture(), "whole model"), "%s", tm_capture());
    cr_assert_null(strstr(tm_capture(), "\xe2\x9c\x95 "), "no tile is marked:\n%s", tm_capture());
    ia_wait(label);
    /* another head, knocked out: the panel follows the selection */
    tm_keys("Down o");
    ia_wait("knocked out L0 H1:");
    ia_wait("without L0 H1");
    tm_keys("F10");
    ia_wait("save before quit?");
    tm_keys("n");
    ia_wait("__LLMWB_EXIT_0__");
}

Test(tui_inspect_attn, knock_out_a_head_and_put_it_back_at_80x24) { ia_knock_out_and_back(80, 24); }
Test(tui_inspect_attn, knock_out_a_head_and_put_it_back_at_160x48) {
    ia_knock_out_and_back(160, 48);
}

/* BERT has no ablation: the key says so on the status line, nothing else changes. */
Test(tui_inspect_attn, bert_says_ablation_is_gpt_only) {
    tm_launch_tui(80, 25, "", "tests/tui_scripts/e2e-bert.yaml", ia_run());
    ia_wait("[1]Tokenizer");
    tm_keys("3");
    ia_wait("bidirectional");
    tm_keys("o");
    ia_wait("head ablation is GPT-only: this model's attention is bidirectional (BERT)");
    cr_assert_null(strstr(tm_capture(), "knocked out"), "%s", tm_capture());
    tm_keys("F10");
    ia_wait("__LLMWB_EXIT_0__");
}
