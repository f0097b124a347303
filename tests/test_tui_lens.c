/* test_tui_lens.c — the Lens screen (issue 15: what each layer predicts next) and the Chat's KV cache switch, tokens/s
 * and C-g, as a person uses them: the real `llmwb` binary in tmux (send-keys, capture-pane, always WAITING for
 * expected text with a deadline, never sleeping a fixed time), with the harness of tests/tmuxh.h. And the cells the
 * screen draws checked against engine_lens on the same weights: a `--script` run dumps the screen and saves its
 * checkpoint, which the test opens. Needs LLMWB_BIN and LLMWB_ROOT (`make test` sets both). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "render.h"
#include "tmuxh.h"

/* The number after the first "key" in the pane, or -1. */
static long lt_number_after(const char *key) {
    const char *s = strstr(tm_capture(), key);
    return s ? strtol(s + strlen(key), NULL, 10) : -1;
}

/* Waits until the number after key is at least min; returns it. */
static long lt_wait_number(const char *key, long min) {
    double t0 = tm_now();
    long v = -1;
    while (tm_now() - t0 < TM_DEADLINE) {
        if ((v = lt_number_after(key)) >= min) return v;
        tm_pause_ms(50);
    }
    cr_assert_fail("timed out waiting for \"%s\" >= %ld (last %ld); screen:\n%s", key, min, v, tm_capture());
    return -1;
}

/* `llmwb tui -c config` in a w x h pane (plus tmux's status row), UTF-8, 256 colours. */
static void lt_launch(int w, int h, const char *config) {
    tm_prepare();
    tm_launch_tui(w, h + 1, "", config, tm_run_dir());
    tm_wait("[1]Tokenizer");
}

static void lt_start_gpt_80(void) { lt_launch(80, 24, "tests/tui_scripts/e2e.yaml"); }
static void lt_start_bert_80(void) { lt_launch(80, 24, "tests/tui_scripts/e2e-bert.yaml"); }

TestSuite(tui_lens, .init = lt_start_gpt_80, .fini = tm_stop, .timeout = 150);

/* The tokens/s in the status line after a reply ("reply: N tokens, X tok/s (KV cache on|off)"). */
static double lt_reply_tps(const char *cache) {
    char want[64];
    snprintf(want, sizeof want, "tok/s (KV cache %s)", cache);
    tm_wait(want);
    const char *l = tm_line_with(want), *r = strstr(l, "reply: ");
    cr_assert_not_null(r, "[%s]", l);
    int n = 0;
    double tps = 0;
    cr_assert_eq(sscanf(r, "reply: %d tokens, %lf tok/s", &n, &tps), 2, "[%s]", l);
    cr_assert(n > 0 && tps > 0, "[%s]", l);
    return tps;
}

Test(tui_lens, the_grid_follows_training_the_cursor_box_chat_reply_and_kv_cache) {
    tm_wait("bytes/token");   /* the engine is open */
    /* before any training: the lens of the probe sentence at step 0 */
    tm_keys("6");
    tm_wait("LIVE  step 0  the probe sentence");
    tm_wait("top-guess p 0");
    cr_assert(tm_line_starting("emb")[0] && tm_line_starting("L1")[0] && tm_line_starting("L2")[0],
              "a row per layer:\n%s", tm_capture());
    cr_assert(!tm_line_starting("L3")[0], "the model has 2 blocks:\n%s", tm_capture());
    /* the probe tokens head the columns (e2e.yaml's small tokenizer: "I" "t" " " "is" " a" ...) */
    const char *cols = tm_line_with("    I     t     \xe2\x8b\x85     is    \xe2\x8b\x85" "a");
    cr_assert(cols[0], "the probe tokens as the column headers:\n%s", tm_capture());
    cr_assert_null(strstr(tm_line_with("LIVE  step 0"), "\xe2\x80\xa6"), "nothing cut in the header:\n%s", tm_capture());
    /* train: the lens follows the newest probe snapshot (every 10 steps) */
    tm_keys("4");
    tm_wait("Loss  train:");
    tm_keys("Space");
    lt_wait_number("Step ", 25);
    tm_keys("Space");
    tm_wait("PAUSED");
    long paused = -1;
    for (long now = lt_number_after("Step "); now != paused; now = lt_number_after("Step ")) {   /* settles */
        paused = now;
        tm_pause_ms(100);
    }
    tm_keys("6");
    long lens_step = lt_wait_number("LIVE  step ", paused / 10 * 10);
    cr_assert(lens_step > 0 && lens_step <= paused, "lens at step %ld, paused at %ld", lens_step, paused);
    /* the cursor: two positions right, one layer down; the box lists the cell's top 5 and the true next token */
    tm_keys("Right Right Down");
    tm_wait("L1 after \xe2\x8b\x85 (position 2)");
    for (int k = 1; k <= 5; k++) {
        char row[24];   /* room for any int: gcc -O1 (make asan) checks the bound */
        snprintf(row, sizeof row, "\xe2\x94\x82 %d ", k);
        const char *l = tm_line_with(row);
        cr_assert(l[0] && strchr(l, '%'), "top-5 row %d with its probability:\n%s", k, tm_capture());
    }
    cr_assert(tm_line_with("true next is: rank ")[0], "the true next token's rank:\n%s", tm_capture());
    tm_keys("End");
    tm_wait("(position 28)");
    tm_wait("the last position: nothing comes next");

    /* Chat: a reply with its tokens/s, the KV cache on */
    tm_keys("5");
    tm_wait("Next-token probabilities");
    tm_wait("(C-t) KV cache   on");
    tm_literal("It is a truth");
    tm_keys("Enter");
    tm_wait("you: It is a truth");
    double on = lt_reply_tps("on");
    cr_assert(strstr(tm_line_with("last reply"), " tok/s"), "[%s]", tm_line_with("last reply"));
    /* C-g: that prompt and reply in the Lens, until p returns to the probe sentence */
    tm_keys("C-g");
    tm_wait("chat reply (p: probe)");
    tm_wait("top-guess p 0");
    cr_assert(tm_line_starting("emb")[0] && tm_line_starting("L2")[0], "%s", tm_capture());
    cr_assert(tm_line_with("    I     t     \xe2\x8b\x85     is    \xe2\x8b\x85" "a")[0], "the prompt's tokens first:\n%s",
              tm_capture());
    tm_wait("p back to the probe sentence");
    tm_keys("p");
    tm_wait("the probe sentence  positions 0-11 of 29");
    /* / searches the column tokens: the cursor goes to the first one containing the text */
    tm_keys("/");
    tm_literal("ver");
    tm_keys("Enter");
    tm_wait("token 1/1 containing 'ver'");
    tm_wait("L1 after ver (position 14)");
    /* the KV cache off: the same screen says so, and the reply's speed is measured again */
    tm_keys("5");
    tm_wait("(C-t) KV cache   on");
    tm_keys("C-t");
    tm_wait("(C-t) KV cache   off");
    tm_literal("It is a truth");
    tm_keys("Enter");
    double off = lt_reply_tps("off");
    fprintf(stderr, "tui_lens: reply speed %.0f tok/s with the KV cache, %.0f without\n", on, off);
    tm_keys("F10");
    tm_wait("save before quit?");
    tm_keys("n");
    tm_wait("__LLMWB_EXIT_0__");
}

TestSuite(tui_lens_bert, .init = lt_start_bert_80, .fini = tm_stop, .timeout = 150);

Test(tui_lens_bert, a_model_without_a_lens_says_so) {
    tm_wait("bytes/token");
    tm_keys("6");
    tm_wait("No logit lens here:");
    cr_assert_null(strstr(tm_capture(), "top-guess p 0"), "no grid:\n%s", tm_capture());
    tm_keys("Right Down");   /* keys on an empty screen do nothing bad */
    tm_keys("4");
    tm_wait("Masked-token accuracy (MLM)");
    tm_keys("F10");
    tm_wait("__LLMWB_EXIT_");
}

/* ---- the cells drawn are engine_lens's ---- */

static char *lt_read(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The dump's row starting with prefix, copied into out, or fails. */
static void lt_dump_row(const char *text, const char *prefix, char *out, size_t n) {
    size_t pl = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, prefix, pl)) {
            size_t len = strcspn(l, "\n");
            snprintf(out, n, "%.*s", (int)len, l);
            return;
        }
    cr_assert_fail("no row starting with \"%s\" in:\n%s", prefix, text);
}

Test(lens_screen, the_cells_it_draws_are_engine_lens_of_the_same_weights) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    char dir[256], script[512], run[512], cmd[2048];
    snprintf(dir, sizeof dir, "/tmp/llmwb-lens-script-%d", (int)getpid());
    snprintf(script, sizeof script, "%s/s.txt", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(tm_sh("rm -rf '%s' && mkdir -p '%s'", dir, dir), 0);
    /* ten steps (a snapshot at 10), the Lens with the cursor on layer 1, position 2, then the checkpoint of those
     * weights */
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs("timeout 60\nwait-text bytes/token\nkey 4\n", f);
    for (int i = 0; i < 10; i++) fputs("key s\n", f);
    fputs("wait-steps 10\nkey 6\nwait-text step 10  the probe sentence\nwait-text true next\nkey Right\nkey Right\n"
          "key Down\nwait-text L1 after\ndump lens\nkey P\nwait-text exported\nkey S\nwait-text checkpoint saved\nquit\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd '%s' && LANG=C.UTF-8 '%s' tui -c tests/tui_scripts/e2e.yaml --ascii --run-dir '%s' "
             "--script '%s' --dump-dir '%s' >/dev/null 2>&1", root, bin, run, script, dir);
    cr_assert_eq(tm_sh("%s", cmd), 0, "%s", cmd);
    char path[600];
    snprintf(path, sizeof path, "%s/lens.txt", dir);
    char *dump = strdup(lt_read(path));

    /* the same weights and probe sentence */
    snprintf(path, sizeof path, "%s/latest", run);
    Config *cfg = malloc(sizeof *cfg);
    cfg_defaults(cfg);
    EngineOpenOpts o = {.ckpt_dir = path};
    Engine *g = NULL;
    LwError e = {0};
    cr_assert_eq(engine_open(&g, cfg, &o, &e), LW_OK, "%s", e.msg);
    free(cfg);
    LensResult r;
    /* the probe sentence of e2e.yaml (a checkpoint opened to chat with takes the default probe instead) */
    cr_assert_eq(engine_lens(g, "It is a truth universally acknowledged", &r, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(r.n_rows, 3);
    /* every probability the grid shows (two rows a layer: the top token, then its probability), left to right */
    static const char *const labels[] = {"emb ", "L1  ", "L2  "};
    for (int l = 0; l < r.n_rows; l++) {
        const char *at = strstr(dump, labels[l]);
        cr_assert_not_null(at, "%s", dump);
        const char *pl = strchr(at, '\n') + 1;   /* the probabilities' row */
        char row[1024];
        snprintf(row, sizeof row, "%.*s", (int)strcspn(pl, "\n"), pl);
        int t = 0;
        for (char *tok = strtok(row, " "); tok; tok = strtok(NULL, " "), t++) {
            char want[16];
            snprintf(want, sizeof want, "%.0f%%", 100.0 * r.cells[(size_t)l * r.T + t].probs[0]);
            cr_assert_str_eq(tok, want, "layer %d position %d:\n%s", l, t, dump);
        }
        cr_assert(t >= 10, "columns shown: %d\n%s", t, dump);
    }
    /* the cursor's box: the top 5 of (layer 1, position 2), each with its probability, and the true next token */
    const LensCell *c = &r.cells[(size_t)1 * r.T + 2];
    cr_assert(strstr(dump, "L1 after . (position 2)"), "%s", dump);
    for (int k = 0; k < c->n; k++) {
        char raw[64], vis[128], prefix[160], row[512], pct[16];
        engine_token_text(g, c->ids[k], raw, sizeof raw);
        tok_visible(raw, (int)strlen(raw), 0, vis, sizeof vis);
        snprintf(prefix, sizeof prefix, "| %d ", k + 1);
        lt_dump_row(dump, prefix, row, sizeof row);
        cr_assert(!strncmp(row + strlen(prefix), vis, strlen(vis)), "top %d is \"%s\": [%s]", k + 1, vis, row);
        snprintf(pct, sizeof pct, "%5.1f%% |", 100.0 * c->probs[k]);
        cr_assert(strstr(row, pct), "top %d's probability %s: [%s]", k + 1, pct, row);
    }
    char want[96], row[512];
    snprintf(want, sizeof want, ": rank %d p %.1f%%", c->rank_next, 100.0 * c->p_next);
    lt_dump_row(dump, "| true next ", row, sizeof row);
    cr_assert(strstr(row, want), "%s in [%s]", want, row);
    /* P: the text and the whole grid as an SVG heatmap, named by the step of the weights */
    snprintf(path, sizeof path, "%s/exports/lens-step10.txt", run);
    cr_assert(strstr(lt_read(path), "L1 after . (position 2)"), "the screen text");
    snprintf(path, sizeof path, "%s/exports/lens-step10.svg", run);
    const char *svg = lt_read(path);
    cr_assert(strstr(svg, "logit lens, step 10: the probe sentence") && strstr(svg, "</svg>"), "%.300s", svg);
    int rects = 0;
    for (const char *q = svg; (q = strstr(q, "<rect")); q++) rects++;
    cr_assert_eq(rects, 1 + r.n_rows * r.T, "the background and a cell per layer and position: %d, T %d", rects, r.T);
    char pct0[32];
    snprintf(pct0, sizeof pct0, ">%.0f%%</text>", 100.0 * r.cells[0].probs[0]);
    cr_assert(strstr(svg, pct0), "%s", pct0);
    engine_lens_free(&r);
    engine_close(g);
    free(dump);

    /* six tabs and a checkpoint's status do not fit 80 columns whole: the inactive tabs' titles get shorter (a cut
     * one ends in "."), the active tab and the status stay whole */
    f = fopen(script, "w");   /* a checkpoint past step 100: "Step NNN CHECKPOINT" */
    cr_assert_not_null(f);
    fputs("timeout 60\nwait-text bytes/token\nkey 4\nkey Space\nwait-steps 150\nkey Space\nwait-text PAUSED\nkey S\n"
          "wait-text checkpoint saved\nquit\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd '%s' && LANG=C.UTF-8 '%s' tui -c tests/tui_scripts/e2e.yaml --run-dir '%s/run2' "
             "--script '%s' --dump-dir '%s' >/dev/null 2>&1", root, bin, dir, script, dir);
    cr_assert_eq(tm_sh("%s", cmd), 0, "%s", cmd);
    f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs("timeout 30\nresize 80 24\nwait-text CHECKPOINT\nsleep-frames 2\ndump ck\nquit\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd '%s' && LANG=C.UTF-8 '%s' tui --ascii --ckpt '%s/run2/latest' --script '%s' "
             "--dump-dir '%s' >/dev/null 2>&1", root, bin, dir, script, dir);
    cr_assert_eq(tm_sh("%s", cmd), 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/ck.txt", dir);
    const char *ck = lt_read(path);
    char head[256];
    snprintf(head, sizeof head, "%.*s", (int)strcspn(ck, "\n"), ck);
    cr_assert(strlen(head) <= 80, "[%s]", head);
    /* the short names make room for the status: nothing cut */
    cr_assert(strstr(head, "[1]Tok [2]Embed [3]Attn [4]Train [5]Chat [6]Lens [7]Health"), "[%s]", head);
    const char *st = strstr(head, "Step ");
    cr_assert(st && strtol(st + 5, NULL, 10) >= 150 && strstr(st, " CHECKPOINT"), "[%s]", head);
    tm_sh("rm -rf '%s'", dir);
}

/* The probe sentence of a words tokenizer (configs/induction.yaml): the lens reads the engine's own probe text, so
 * its tokens are the sentence's words, not one unknown token made of the words run together. */
Test(lens_screen, a_words_tokenizer_probe_is_its_words) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    char dir[256], script[512], path[512];
    snprintf(dir, sizeof dir, "/tmp/llmwb-lens-words-%d", (int)getpid());
    snprintf(script, sizeof script, "%s/s.txt", dir);
    cr_assert_eq(tm_sh("rm -rf '%s' && mkdir -p '%s'", dir, dir), 0);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs("timeout 60\nresize 120 36\nwait-text bytes/token\nkey 6\nwait-text T=\nsleep-frames 3\ndump lens\nquit\n", f);
    fclose(f);
    cr_assert_eq(tm_sh("cd '%s' && LANG=C.UTF-8 '%s' tui -c configs/induction.yaml --run-dir '%s/run' --script '%s' "
                       "--dump-dir '%s' >/dev/null 2>&1",
                       root, bin, dir, script, dir),
                 0);
    snprintf(path, sizeof path, "%s/lens.txt", dir);
    const char *lens = lt_read(path);
    cr_assert(strstr(lens, "T=16") && strstr(lens, "    teask     treabrer  tem"), "%s", lens);
    tm_sh("rm -rf '%s'", dir);
}
