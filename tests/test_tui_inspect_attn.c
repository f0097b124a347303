/* test_tui_inspect_attn.c — the Attention screen's look inside the model (issue 15) as a person uses it: the real
 * `llmwb` binary in tmux (send-keys, capture-pane, waiting for text with a deadline, never a fixed sleep) on a tiny
 * GPT trained on a made-up language whose next word is always the word two back ("w07 w31 w07 w31 ..."): within
 * a few hundred steps the first layer's heads attend to the previous token, so the grid names them "prev-token",
 * and knocking one out raises the validation loss. Also: BERT says the ablation is GPT-only. Needs LLMWB_BIN and
 * LLMWB_ROOT (as tests/test_tui_e2e.c); each test has its own tmux server and directory, removed in teardown. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IA_DEADLINE 30.0

static char ia_sock[96], ia_sock_path[512], ia_dir[256];
static int ia_counter;

static double ia_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void ia_pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int ia_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ia_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *ia_capture(void) {
    static char buf[1 << 18];
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p -t ia 2>/dev/null", ia_sock);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p) {
        n = fread(buf, 1, sizeof buf - 1, p);
        pclose(p);
    }
    buf[n] = '\0';
    return buf;
}

static void ia_keys(const char *keys) { ia_sh("tmux -L %s send-keys -t ia %s", ia_sock, keys); }

static void ia_wait(const char *text) {
    double t0 = ia_now();
    while (ia_now() - t0 < IA_DEADLINE) {
        if (strstr(ia_capture(), text)) return;
        ia_pause_ms(50);
    }
    cr_assert_fail("timed out after %.0f s waiting for \"%s\"; the screen was:\n%s", IA_DEADLINE, text, ia_capture());
}

static void ia_wait_gone(const char *text) {
    double t0 = ia_now();
    while (ia_now() - t0 < IA_DEADLINE) {
        if (!strstr(ia_capture(), text)) return;
        ia_pause_ms(50);
    }
    cr_assert_fail("\"%s\" is still on the screen after %.0f s:\n%s", text, IA_DEADLINE, ia_capture());
}

/* The first pane row containing needle (a static buffer), or "". */
static const char *ia_line_with(const char *needle) {
    static char line[1024];
    const char *s = ia_capture(), *h = strstr(s, needle);
    line[0] = '\0';
    if (!h) return line;
    const char *b = h, *e = h;
    while (b > s && b[-1] != '\n') b--;
    while (*e && *e != '\n') e++;
    snprintf(line, sizeof line, "%.*s", (int)(e - b), b);
    return line;
}

/* The training step in the header ("Step N"), or -1. */
static long ia_step(void) {
    const char *s = strstr(ia_capture(), "Step ");
    return s ? strtol(s + 5, NULL, 10) : -1;
}

static void ia_wait_step(long min) {
    double t0 = ia_now();
    while (ia_now() - t0 < IA_DEADLINE) {
        if (ia_step() >= min) return;
        ia_pause_ms(50);
    }
    cr_assert_fail("timed out waiting for step %ld; the screen was:\n%s", min, ia_capture());
}

static void ia_prepare(void) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    if (ia_sh("tmux -V >/dev/null 2>&1") != 0) cr_skip_test("tmux is not installed");
    snprintf(ia_sock, sizeof ia_sock, "llmwb-test-ia-%d-%d", (int)getpid(), ++ia_counter);
    snprintf(ia_dir, sizeof ia_dir, "/tmp/llmwb-ia-%d-%d", (int)getpid(), ia_counter);
    cr_assert_eq(ia_sh("rm -rf '%s' && mkdir -p '%s'", ia_dir, ia_dir), 0);
}

static void ia_stop(void) {
    if (ia_sock[0]) ia_sh("tmux -L %s kill-server >/dev/null 2>&1", ia_sock);
    if (ia_sock_path[0] && strstr(ia_sock_path, "llmwb-test-")) ia_sh("rm -f '%s'", ia_sock_path);
    /* a TUI killed with its server saves on SIGHUP: remove the directory once it is done writing */
    for (double t0 = ia_now(); ia_dir[0] && ia_now() - t0 < IA_DEADLINE; ia_pause_ms(100))
        if (ia_sh("rm -rf '%s' 2>/dev/null", ia_dir) == 0 && access(ia_dir, F_OK) != 0) break;
    ia_sock[0] = ia_dir[0] = ia_sock_path[0] = '\0';
}

/* Writes the made-up language (3000 lines of two random words of 40 alternating, 8 to 14 words a line; a fixed
 * LCG, so the same corpus every run) and a config for a tiny GPT on it into ia_dir; returns the config's path. */
static const char *ia_write_alternating(void) {
    static char cfg[400];
    char path[400];
    snprintf(path, sizeof path, "%s/alternating.txt", ia_dir);
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
    snprintf(cfg, sizeof cfg, "%s/alternating.yaml", ia_dir);
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

/* Runs `llmwb ARGS` from the repo root in a w x h tmux pane. */
static void ia_launch(int w, int h, const char *args) {
    int rc = ia_sh("tmux -L %s -f /dev/null new-session -d -s ia -x %d -y %d "
                   "\"cd '%s' && env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' %s; "
                   "echo __LLMWB_EXIT_\\$?__; sleep 120\"",
                   ia_sock, w, h, getenv("LLMWB_ROOT"), getenv("LLMWB_BIN"), args);
    cr_assert_eq(rc, 0, "tmux new-session failed");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s display-message -p '#{socket_path}' 2>/dev/null", ia_sock);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(ia_sock_path, sizeof ia_sock_path, p)) ia_sock_path[0] = '\0';
        ia_sock_path[strcspn(ia_sock_path, "\n")] = '\0';
        pclose(p);
    }
}

/* The TUI on the alternating language at w x h (h + 1 rows: tmux's status bar takes one), trained to step 600 and
 * paused on the Attention screen. */
static void ia_trained(int w, int h) {
    char args[1024];
    snprintf(args, sizeof args, "tui -c '%s' --run-dir '%s/run'", ia_write_alternating(), ia_dir);
    ia_launch(w, h + 1, args);
    ia_wait("[1]Tokenizer");
    ia_keys("3");
    ia_wait("snapshot 1/");
    ia_keys("Space");
    ia_wait_step(600);
    ia_keys("Space");
    ia_wait("PAUSED");
}

TestSuite(tui_inspect_attn, .init = ia_prepare, .fini = ia_stop, .timeout = 150);

/* The roles under the tiles, o and o again at 80x24 on the trained model. */
static void ia_knock_out_and_back(int w, int h) {
    ia_trained(w, h);
    /* the first layer's heads attend to the previous token: their tiles say so, with the score */
    const char *label = w >= 120 ? "prev-token 0." : "prev 0."; /* the long form where the tile is wide enough */
    ia_wait(label);
    const char *l = ia_line_with(label);
    float score = (float)atof(strstr(l, label) + strlen(label) - 2);
    cr_assert(score > 0.4f && score <= 1.0f, "a strong role (above 0.4): [%s]", l);
    cr_assert_null(strstr(ia_capture(), "knocked out"), "nothing is knocked out yet:\n%s", ia_capture());
    /* o: the selected head (layer 0 head 0) knocked out; the loss change and the two distributions */
    ia_keys("o");
    ia_wait("layer 0 head 0 knocked out");
    ia_wait("knocked out L0 H0:");
    ia_wait("val loss ");
    const char *ll = ia_line_with("val loss ");
    float base = 0, knocked = 0, delta = 0;
    const char *v = strstr(ll, "val loss ");
    cr_assert_eq(sscanf(v, "val loss %f -> %f (%f)", &base, &knocked, &delta), 3, "[%s]", ll);
    cr_assert(base > 0 && knocked > base + 0.05f, "the previous-token head is needed: [%s]", ll);
    cr_assert(fabsf(delta - (knocked - base)) < 0.0015f, "the change is the difference: [%s]", ll);
    ia_wait("whole model");
    const char *hl = ia_line_with("whole model");
    cr_assert(strstr(hl, "without L0 H0"), "the column heads: [%s]", hl);
    cr_assert(strstr(ia_capture(), "next after \"w01\":"), "what is predicted:\n%s", ia_capture());
    cr_assert(strstr(ia_capture(), "KL "), "how far the distribution moved:\n%s", ia_capture());
    /* the first candidates side by side: a token and its probability on each side of the bar */
    const char *c1 = ia_line_with("1 \"w");
    const char *bar = strstr(c1, "\xe2\x94\x82");
    cr_assert(bar && strchr(c1, '%') < bar && strchr(bar, '%'), "both columns: [%s]", c1);
    cr_assert(strstr(c1, "1 \"w02\""), "the whole model knows the word two back: [%s]", c1);
    cr_assert(strstr(ia_capture(), "\xe2\x9c\x95 "), "the knocked-out tile is marked:\n%s", ia_capture());
    /* O: mean ablation instead: the same whole model, another loss (the head's average stays) */
    ia_keys("O");
    ia_wait("replaces its output by its mean");
    ia_wait("L0 H0 by its mean:");
    ia_wait("val loss ");
    float mbase = 0, mknocked = 0, mdelta = 0;
    const char *ml = ia_line_with("val loss ");
    cr_assert_eq(sscanf(strstr(ml, "val loss "), "val loss %f -> %f (%f)", &mbase, &mknocked, &mdelta), 3, "[%s]", ml);
    cr_assert(fabsf(mbase - base) < 0.0006f, "the whole model is the same: [%s] vs %.3f", ml, (double)base);
    cr_assert(fabsf(mknocked - knocked) > 0.0015f, "the mean is not zero: [%s] vs %.3f", ml, (double)knocked);
    ia_keys("O");
    ia_wait("knocked out L0 H0:");
    ia_wait("whole model");
    /* the zoom shows the head's three role scores */
    ia_keys("Enter");
    ia_wait("head roles:  prev-token 0.");
    cr_assert(strstr(ia_line_with("head roles:"), "induction 0."), "[%s]", ia_line_with("head roles:"));
    ia_keys("Escape");
    ia_wait("whole model");
    /* o again: the head is back, the panel gone */
    ia_keys("o");
    ia_wait("layer 0 head 0 is back");
    ia_wait_gone("val loss ");
    cr_assert_null(strstr(ia_capture(), "whole model"), "%s", ia_capture());
    cr_assert_null(strstr(ia_capture(), "\xe2\x9c\x95 "), "no tile is marked:\n%s", ia_capture());
    ia_wait(label);
    /* another head, knocked out: the panel follows the selection */
    ia_keys("Down o");
    ia_wait("knocked out L0 H1:");
    ia_wait("without L0 H1");
    ia_keys("F10");
    ia_wait("save before quit?");
    ia_keys("n");
    ia_wait("__LLMWB_EXIT_0__");
}

Test(tui_inspect_attn, knock_out_a_head_and_put_it_back_at_80x24) { ia_knock_out_and_back(80, 24); }
Test(tui_inspect_attn, knock_out_a_head_and_put_it_back_at_160x48) {
    ia_knock_out_and_back(160, 48);
}

/* BERT has no ablation: the key says so on the status line, nothing else changes. */
Test(tui_inspect_attn, bert_says_ablation_is_gpt_only) {
    char args[1024];
    snprintf(args, sizeof args, "tui -c tests/tui_scripts/e2e-bert.yaml --run-dir '%s/run'", ia_dir);
    ia_launch(80, 25, args);
    ia_wait("[1]Tokenizer");
    ia_keys("3");
    ia_wait("bidirectional");
    ia_keys("o");
    ia_wait("head ablation is GPT-only: this model's attention is bidirectional (BERT)");
    cr_assert_null(strstr(ia_capture(), "knocked out"), "%s", ia_capture());
    ia_keys("F10");
    ia_wait("__LLMWB_EXIT_0__");
}
