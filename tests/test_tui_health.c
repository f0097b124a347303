/* test_tui_health.c — the Health screen and the Embed screen's token map, as a person uses them: the real `llmwb`
 * binary in tmux (send-keys, capture-pane), always WAITING for expected text with a deadline, never sleeping a fixed
 * time. Needs LLMWB_BIN and LLMWB_ROOT (make test sets both). The screens are reached by the number the tab bar
 * shows for their title, so the order of the screens may change. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HT_DEADLINE 20.0

static char g_sock[96], g_sock_path[512], g_run[256];
static int g_counter;

static double ht_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void ht_pause_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int ht_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ht_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* The pane's text (a static buffer). */
static const char *ht_capture(void) {
    static char buf[1 << 18];
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p -t ht 2>/dev/null", g_sock);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p) {
        n = fread(buf, 1, sizeof buf - 1, p);
        pclose(p);
    }
    buf[n] = '\0';
    return buf;
}

static void ht_keys(const char *keys) { ht_sh("tmux -L %s send-keys -t ht %s", g_sock, keys); }
static void ht_literal(const char *text) { ht_sh("tmux -L %s send-keys -t ht -l '%s'", g_sock, text); }

/* Waits until the pane contains text, or fails the test with the screen. */
static void ht_wait(const char *text) {
    double t0 = ht_now();
    while (ht_now() - t0 < HT_DEADLINE) {
        if (strstr(ht_capture(), text)) return;
        ht_pause_ms(50);
    }
    cr_assert_fail("timed out after %.0f s waiting for \"%s\"; the screen was:\n%s", HT_DEADLINE, text, ht_capture());
}

/* The first pane row containing needle (a static buffer), or "". */
static const char *ht_line_with(const char *needle) {
    static char line[1024];
    const char *s = ht_capture(), *hit = strstr(s, needle);
    line[0] = '\0';
    if (!hit) return line;
    const char *b = hit;
    while (b > s && b[-1] != '\n') b--;
    size_t n = strcspn(b, "\n");
    if (n >= sizeof line) n = sizeof line - 1;
    memcpy(line, b, n);
    line[n] = '\0';
    return line;
}

/* The training step shown in the header ("Step N"), or -1. */
static long ht_step(void) {
    const char *s = strstr(ht_capture(), "Step ");
    return s ? strtol(s + 5, NULL, 10) : -1;
}

static void ht_wait_step(long min) {
    double t0 = ht_now();
    while (ht_now() - t0 < HT_DEADLINE) {
        if (ht_step() >= min) return;
        ht_pause_ms(50);
    }
    cr_assert_fail("timed out waiting for step >= %ld; screen:\n%s", min, ht_capture());
}

/* The key of the screen titled title, read from the tab bar ("[7]Health", or "[7]Hea" if the tabs are cut), as a
 * send-keys argument. */
static const char *ht_screen_key(const char *title) {
    static char key[4];
    char pat[64];
    snprintf(pat, sizeof pat, "]%s", title);
    const char *s = ht_capture(), *hit = strstr(s, pat);
    if (!hit) {
        snprintf(pat, sizeof pat, "]%.3s", title);
        hit = strstr(s, pat);
    }
    cr_assert(hit && hit - s >= 2 && hit[-2] == '[', "no tab [N]%s in the tab bar:\n%s", title, s);
    snprintf(key, sizeof key, "%c", hit[-1]);
    return key;
}

static void ht_start(const char *config, int w, int h) {
    const char *bin = getenv("LLMWB_BIN"), *root = getenv("LLMWB_ROOT");
    if (!bin || !root || !*bin || !*root) cr_skip_test("LLMWB_BIN / LLMWB_ROOT not set (run through make test)");
    if (access(bin, X_OK) != 0) cr_skip_test("%s is not built", bin);
    if (ht_sh("tmux -V >/dev/null 2>&1") != 0) cr_skip_test("tmux is not installed");
    snprintf(g_sock, sizeof g_sock, "llmwb-health-%d-%d", (int)getpid(), ++g_counter);
    snprintf(g_run, sizeof g_run, "/tmp/llmwb-health-%d-%d", (int)getpid(), g_counter);
    int rc = ht_sh("tmux -L %s -f /dev/null new-session -d -s ht -x %d -y %d "
                   "\"cd '%s' && env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' tui -c %s --run-dir '%s'; "
                   "echo __LLMWB_EXIT_\\$?__; sleep 120\"",
                   g_sock, w, h, root, bin, config, g_run);
    cr_assert_eq(rc, 0, "tmux new-session failed");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s display-message -p '#{socket_path}' 2>/dev/null", g_sock);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(g_sock_path, sizeof g_sock_path, p)) g_sock_path[0] = '\0';
        g_sock_path[strcspn(g_sock_path, "\n")] = '\0';
        pclose(p);
    }
    ht_wait("[1]Tokenizer");
}

static void ht_stop(void) {
    if (g_sock[0]) ht_sh("tmux -L %s kill-server >/dev/null 2>&1", g_sock);
    if (g_sock_path[0] && strstr(g_sock_path, "llmwb-health-")) ht_sh("rm -f '%s'", g_sock_path);
    if (g_run[0]) ht_sh("rm -rf '%s' 2>/dev/null || (sleep 1; rm -rf '%s')", g_run, g_run); /* the binary may still be writing */
    g_sock[0] = g_run[0] = g_sock_path[0] = '\0';
}

/* 80x24 (a 25-row tmux window: its status bar takes a row) on the small GPT of the e2e tests. */
static void ht_start_gpt_80(void) { ht_start("tests/tui_scripts/e2e.yaml", 80, 25); }
static void ht_start_gpt_160(void) { ht_start("tests/tui_scripts/e2e.yaml", 160, 49); }
static void ht_start_bert(void) { ht_start("tests/tui_scripts/e2e-bert.yaml", 120, 36); }

/* Trains from the Train screen (Space there; on the Tokenizer screen it runs merges) to at least `steps`, pauses. */
static void ht_train(long steps) {
    ht_keys(ht_screen_key("Train"));
    ht_wait("No steps yet");
    ht_keys("Space");
    ht_wait_step(steps);
    ht_keys("Space");
    ht_wait("PAUSED");
}

TestSuite(tui_health, .init = ht_start_gpt_80, .fini = ht_stop, .timeout = 120);

/* The ratio plot's legend and guideline, the table of the latest values (each flagged exactly when outside the
 * band), the activations of the newest probe snapshot, and a selection, at 80x24. */
Test(tui_health, ratio_plot_legend_guideline_and_the_latest_values_at_80x24) {
    ht_wait("bytes/token");
    ht_keys(ht_screen_key("Health"));
    ht_wait("No steps yet: press Space to train");  /* before any step: what to do */
    ht_train(200);
    ht_keys(ht_screen_key("Health"));
    ht_wait("Update/weight ratio");
    ht_wait("1e-3 guide");                          /* the guideline's label */
    const char *leg = ht_line_with("━━ embed");
    cr_assert(strstr(leg, "━━ block 1") && strstr(leg, "━━ block 2") && strstr(leg, "━━ head"),
              "the legend names every group: [%s]\n%s", leg, ht_capture());
    const char *lat = strstr(ht_line_with("Latest (step "), "Latest (step ");
    long at = lat ? strtol(lat + 13, NULL, 10) : -1;
    cr_assert(at >= 190 && at % 10 == 0, "a point every probe.snapshot_every = 10 steps: %ld\n%s", at, ht_capture());
    /* each group's row: grad norm, weight norm, ratio, flag; the flag says exactly when the ratio leaves the band */
    static const char *groups[] = {"embed ", "block 1 ", "block 2 ", "head "};
    char rows[4][256];
    for (int k = 0; k < 4; k++) snprintf(rows[k], sizeof rows[k], "%s", "");
    const char *s = ht_capture();
    for (const char *l = s; *l;) {
        size_t n = strcspn(l, "\n");
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < 1000 ? n : 1000), l);
        for (int k = 0; k < 4; k++) {
            /* the table row: the name followed by three numbers (the legend row has no digits after the name) */
            const char *g = strstr(line, groups[k]);
            float a, b, c;
            while (g && sscanf(g + strlen(groups[k]), "%f %f %f", &a, &b, &c) != 3) g = strstr(g + 1, groups[k]);
            if (g && !rows[k][0]) snprintf(rows[k], sizeof rows[k], "%s", g);
        }
        l += n + (l[n] == '\n');
    }
    for (int k = 0; k < 4; k++) {
        float grad, weight, ratio;
        char flag[16] = "";
        cr_assert(rows[k][0], "no table row for %s:\n%s", groups[k], s);
        int got = sscanf(rows[k] + strlen(groups[k]), "%f %f %f %15s", &grad, &weight, &ratio, flag);
        cr_assert(got >= 3, "[%s]", rows[k]);
        cr_assert(grad > 0 && isfinite(grad) && weight > 0 && isfinite(weight), "[%s]", rows[k]);
        cr_assert(ratio < 0 && ratio > -10, "log10 of a small ratio: [%s]", rows[k]);
        const char *want = ratio > -1 ? "HIGH" : ratio < -6 ? "LOW" : "";
        cr_assert_str_eq(got == 4 ? flag : "", want, "flagged iff outside [-6, -1]: [%s]", rows[k]);
    }
    ht_wait("Activations (probe, step");
    cr_assert(strstr(ht_line_with("Activations"), "Activations"), "");
    cr_assert(strstr(s, "after      mean     std  att gelu"), "the activation table's header:\n%s", s);
    cr_assert(strstr(s, "att: rows >= 95% on one key"), "what the att column counts:\n%s", s);
    cr_assert(strstr(s, "gelu: MLP inputs < -3"), "what the gelu column counts:\n%s", s);
    float am, as, ap, gp;
    char pc = 0, pg = 0;
    const char *b2 = s;   /* the activation row: mean, std, two percentages (the table's row ends without one) */
    while ((b2 = strstr(b2 + 1, "block 2 ")) &&
           !(sscanf(b2 + 7, "%f %f %f%c %f%c", &am, &as, &ap, &pc, &gp, &pg) == 6 && pc == '%' && pg == '%')) {}
    cr_assert(b2, "block 2's activations:\n%s", s);
    cr_assert(as > 0 && ap >= 0 && ap <= 100 && gp >= 0 && gp <= 100, "std %f, saturated %f%%, gelu %f%%", as, ap, gp);
    /* Up/Down select a group: named in the header and the status line; Home clears it */
    ht_keys("Down");
    ht_wait("selected: embed");
    ht_keys("Down");
    ht_wait("selected: block 1");
    ht_keys("Up Up");
    ht_wait("no group selected");
    cr_assert_null(strstr(ht_capture(), "selected: "), "no selection in the header:\n%s", ht_capture());
    cr_assert_null(strstr(ht_capture(), "terminal too small"), "");
}

TestSuite(tui_health_160, .init = ht_start_gpt_160, .fini = ht_stop, .timeout = 120);

/* At 160x48 the long forms fit: the whole title, the explanation, and the table's swatches. */
Test(tui_health_160, the_wide_screen_keeps_the_long_titles_and_explains_the_ratio) {
    ht_wait("bytes/token");                           /* the engine is open */
    ht_train(100);
    ht_keys(ht_screen_key("Health"));
    ht_wait("Update/weight ratio per group: log10(|Δw| / |w|) each step");
    ht_wait("Gradient norm per group (log scale)");
    ht_wait("About 1e-3 (-3) is");
    ht_wait("━━ embed      ");                        /* a swatch before each table row */
    ht_keys("P");                                     /* the ratio plot as PNG and SVG, and the text */
    ht_wait("exported ");
    const char *ex = strstr(ht_line_with("exported "), "exported ") + 9;
    char base[512];
    snprintf(base, sizeof base, "%.*s", (int)strcspn(ex, "{"), ex);
    cr_assert(strstr(base, "/exports/health-step"), "[%s]", base);
    static const char *ext[] = {"png", "svg", "txt"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s%s", base, ext[i]);
        cr_assert_eq(access(path, R_OK), 0, "%s was not written", path);
    }
    ht_keys("z");                                     /* the large view: the ratio plot alone */
    ht_wait("1e-3 guide");
    cr_assert_null(strstr(ht_capture(), "Gradient norm"), "the large view is the ratio plot alone:\n%s", ht_capture());
}

TestSuite(tui_health_bert, .init = ht_start_bert, .fini = ht_stop, .timeout = 120);

Test(tui_health_bert, an_encoder_says_it_records_no_health) {
    ht_wait("compression");
    ht_keys(ht_screen_key("Health"));
    ht_wait("No training-health data: model.arch bert does not record it");
}

TestSuite(tui_embed_map, .init = ht_start_gpt_80, .fini = ht_stop, .timeout = 120);

/* The token map: the axes' variance shares, labels, a selected token with its neighbours (most similar first), a
 * search by text, zoom, and the map following training, at 80x24. */
Test(tui_embed_map, axes_labels_a_selected_token_its_neighbours_and_search) {
    ht_wait("bytes/token");                           /* the engine is open */
    ht_train(100);
    ht_keys(ht_screen_key("Embed"));
    ht_wait("wte row (token)");
    ht_keys("M");
    ht_wait("of the variance");
    const char *cap = ht_line_with("x: PC1 ");
    float v1 = -1, v2 = -1;
    const char *px = strstr(cap, "x: PC1 ");
    cr_assert(px && sscanf(px, "x: PC1 %f%%, y: PC2 %f%%", &v1, &v2) == 2, "[%s]\n%s", cap, ht_capture());
    cr_assert(v1 >= v2 && v2 > 0 && v1 + v2 <= 100.05f, "shares %f %f", v1, v2);
    ht_wait("Nearest by cosine");
    /* the selected token's neighbours, most similar first (once they arrived) */
    const char *s = "";
    int n = 0;
    for (double t0 = ht_now(); n < 8 && ht_now() - t0 < HT_DEADLINE; ht_pause_ms(50)) {
        s = ht_capture();
        const char *nn = strstr(s, "Nearest by cosine");
        float prev = 2, sim;
        n = 0;
        for (const char *l = nn ? strchr(nn, '\n') : NULL; l && n < 8; l = strchr(l + 1, '\n')) {
            const char *eol = strchr(l + 1, '\n'), *row = l;
            int got = 0;   /* the number right of the box's right edge */
            while ((row = strstr(row + 1, "\xe2\x94\x82 ")) && (!eol || row < eol) && !got) got = sscanf(row + 4, "%f", &sim) == 1;
            if (!got) continue;
            cr_assert(sim <= prev + 1e-6f && sim >= -1 && sim <= 1, "similarities fall: %f after %f\n%s", sim, prev, s);
            prev = sim, n++;
        }
    }
    int labels = 0;
    for (const char *q = s; (q = strstr(q, "•")); q += 3) labels++;
    cr_assert(labels >= 5, "labelled tokens on the map (%d):\n%s", labels, s);
    cr_assert(strstr(s, "◆"), "the selected token is marked:\n%s", s);
    cr_assert_eq(n, 8, "eight neighbours listed:\n%s", s);
    /* a search selects a token by its text; Down the next id */
    ht_keys("/");
    ht_literal("ing");
    ht_keys("Enter");
    ht_wait("containing 'ing'");
    cr_assert(strstr(ht_line_with("token "), "ing"), "the selected token contains the text: [%s]", ht_line_with("token "));
    const char *idl = strstr(ht_line_with("id "), "id ");
    long id = idl ? strtol(idl + 3, NULL, 10) : -1;
    cr_assert(id >= 256, "a merged token: %ld", id);
    ht_keys("Down");
    char want[32];
    snprintf(want, sizeof want, "id %ld at (", id + 1);
    ht_wait(want);
    ht_keys("+");
    ht_wait("zoom x2 around the selected token");
    /* training on: the map is recomputed on newer weights (its step moves) */
    const char *hs = strstr(ht_line_with("Token map (PCA)"), "step ");
    long map_step = hs ? strtol(hs + 5, NULL, 10) : -1;
    cr_assert(map_step >= 90, "[%s]", ht_line_with("Token map"));
    ht_keys("Space");
    double t0 = ht_now();
    long now = map_step;
    while (ht_now() - t0 < HT_DEADLINE && now <= map_step + 50) {
        hs = strstr(ht_line_with("Token map (PCA)"), "step ");
        now = hs ? strtol(hs + 5, NULL, 10) : -1;
        ht_pause_ms(50);
    }
    cr_assert(now > map_step + 50, "the map follows training: step %ld then %ld\n%s", map_step, now, ht_capture());
    ht_keys("Space");
    ht_keys("M");
    ht_wait("wte row (token)");                       /* back to the strips */
}
