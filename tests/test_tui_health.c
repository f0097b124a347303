/* test_tui_health.c — the Health screen and the Embed screen's token map, as a person uses them: the real `llmwb`
 * binary in tmux (tests/tmuxh.h: send-keys, capture-pane), always WAITING for expected text with a deadline, never
 * sleeping a fixed time. Needs LLMWB_BIN and LLMWB_ROOT (make test sets both). The screens are reached by the
 * number the tab bar shows for their title, so the order of the screens may change. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmuxh.h"

/* The key of the screen titled title, read from the tab bar ("[7]Health", or "[7]Hea" if the tabs are cut), as a
 * send-keys argument. */
static const char *ht_screen_key(const char *title) {
    static char key[4];
    char pat[64];
    snprintf(pat, sizeof pat, "]%s", title);
    const char *s = tm_capture(), *hit = strstr(s, pat);
    if (!hit) {
        snprintf(pat, sizeof pat, "]%.3s", title);
        hit = strstr(s, pat);
    }
    cr_assert(hit && hit - s >= 2 && hit[-2] == '[', "no tab [N]%s in the tab bar:\n%s", title, s);
    snprintf(key, sizeof key, "%c", hit[-1]);
    return key;
}

static void ht_start(const char *config, int w, int h) {
    tm_prepare();
    tm_launch_tui(w, h, "", config, tm_run_dir());
    tm_wait("[1]Tokenizer");
}

/* 80x24 (a 25-row tmux window: its status bar takes a row) on the small GPT of the e2e tests. */
static void ht_start_gpt_80(void) { ht_start("tests/tui_scripts/e2e.yaml", 80, 25); }
static void ht_start_gpt_160(void) { ht_start("tests/tui_scripts/e2e.yaml", 160, 49); }
static void ht_start_bert(void) { ht_start("tests/tui_scripts/e2e-bert.yaml", 120, 36); }

/* Trains from the Train screen (Space there; on the Tokenizer screen it runs merges) to at least `steps`, pauses. */
static void ht_train(long steps) {
    tm_keys(ht_screen_key("Train"));
    tm_wait("No steps yet");
    tm_keys("Space");
    tm_wait_step(steps, -1);
    tm_keys("Space");
    tm_wait("PAUSED");
}

TestSuite(tui_health, .init = ht_start_gpt_80, .fini = tm_stop, .timeout = 120);

/* The ratio plot's legend and guideline, the table of the latest values (each flagged exactly when outside the
 * band), the activations of the newest probe snapshot, and a selection, at 80x24. */
Test(tui_health, ratio_plot_legend_guideline_and_the_latest_values_at_80x24) {
    tm_wait("bytes/token");
    tm_keys(ht_screen_key("Health"));
    tm_wait("No steps yet: press Space to train");  /* before any step: what to do */
    ht_train(200);
    tm_keys(ht_screen_key("Health"));
    tm_wait("Update/weight ratio");
    tm_wait("1e-3 guide");                          /* the guideline's label */
    const char *leg = tm_line_with("━━ embed");
    cr_assert(strstr(leg, "━━ block 1") && strstr(leg, "━━ block 2") && strstr(leg, "━━ head"),
              "the legend names every group: [%s]\n%s", leg, tm_capture());
    const char *lat = strstr(tm_line_with("Latest (step "), "Latest (step ");
    long at = lat ? strtol(lat + 13, NULL, 10) : -1;
    cr_assert(at >= 190 && at % 10 == 0, "a point every probe.snapshot_every = 10 steps: %ld\n%s", at, tm_capture());
    /* each group's row: grad norm, weight norm, ratio, flag; the flag says exactly when the ratio leaves the band */
    static const char *groups[] = {"embed ", "block 1 ", "block 2 ", "head "};
    char rows[4][256];
    for (int k = 0; k < 4; k++) snprintf(rows[k], sizeof rows[k], "%s", "");
    const char *s = tm_capture();
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
    tm_wait("Activations (probe, step");
    cr_assert(strstr(tm_line_with("Activations"), "Activations"), "");
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
    tm_keys("Down");
    tm_wait("selected: embed");
    tm_keys("Down");
    tm_wait("selected: block 1");
    tm_keys("Up Up");
    tm_wait("no group selected");
    cr_assert_null(strstr(tm_capture(), "selected: "), "no selection in the header:\n%s", tm_capture());
    cr_assert_null(strstr(tm_capture(), "terminal too small"), "");
}

TestSuite(tui_health_160, .init = ht_start_gpt_160, .fini = tm_stop, .timeout = 120);

/* At 160x48 the long forms fit: the whole title, the explanation, and the table's swatches. */
Test(tui_health_160, the_wide_screen_keeps_the_long_titles_and_explains_the_ratio) {
    tm_wait("bytes/token");                           /* the engine is open */
    ht_train(100);
    tm_keys(ht_screen_key("Health"));
    tm_wait("Update/weight ratio per group: log10(|Δw| / |w|) each step");
    tm_wait("Gradient norm per group (log scale)");
    tm_wait("About 1e-3 (-3) is");
    tm_wait("━━ embed      ");                        /* a swatch before each table row */
    tm_keys("P");                                     /* the ratio plot as PNG and SVG, and the text */
    tm_wait("exported ");
    const char *ex = strstr(tm_line_with("exported "), "exported ") + 9;
    char base[512];
    snprintf(base, sizeof base, "%.*s", (int)strcspn(ex, "{"), ex);
    cr_assert(strstr(base, "/exports/health-step"), "[%s]", base);
    static const char *ext[] = {"png", "svg", "txt"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s%s", base, ext[i]);
        cr_assert_eq(access(path, R_OK), 0, "%s was not written", path);
    }
    tm_keys("z");                                     /* the large view: the ratio plot alone */
    tm_wait("1e-3 guide");
    cr_assert_null(strstr(tm_capture(), "Gradient norm"), "the large view is the ratio plot alone:\n%s", tm_capture());
}

TestSuite(tui_health_bert, .init = ht_start_bert, .fini = tm_stop, .timeout = 120);

Test(tui_health_bert, an_encoder_says_it_records_no_health) {
    tm_wait("compression");
    tm_keys(ht_screen_key("Health"));
    tm_wait("No training-health data: model.arch bert does not record it");
}

TestSuite(tui_embed_map, .init = ht_start_gpt_80, .fini = tm_stop, .timeout = 120);

/* The token map: the axes' variance shares, labels, a selected token with its neighbours (most similar first), a
 * search by text, zoom, and the map following training, at 80x24. */
Test(tui_embed_map, axes_labels_a_selected_token_its_neighbours_and_search) {
    tm_wait("bytes/token");                           /* the engine is open */
    ht_train(100);
    tm_keys(ht_screen_key("Embed"));
    tm_wait("wte row (token)");
    tm_keys("M");
    tm_wait("of the variance");
    const char *cap = tm_line_with("x: PC1 ");
    float v1 = -1, v2 = -1;
    const char *px = strstr(cap, "x: PC1 ");
    cr_assert(px && sscanf(px, "x: PC1 %f%%, y: PC2 %f%%", &v1, &v2) == 2, "[%s]\n%s", cap, tm_capture());
    cr_assert(v1 >= v2 && v2 > 0 && v1 + v2 <= 100.05f, "shares %f %f", v1, v2);
    tm_wait("Nearest by cosine");
    /* the selected token's neighbours, most similar first (once they arrived) */
    const char *s = "";
    int n = 0;
    for (double t0 = tm_now(); n < 8 && tm_now() - t0 < TM_DEADLINE; tm_pause_ms(50)) {
        s = tm_capture();
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
    tm_keys("/");
    tm_literal("ing");
    tm_keys("Enter");
    tm_wait("containing 'ing'");
    cr_assert(strstr(tm_line_with("token "), "ing"), "the selected token contains the text: [%s]", tm_line_with("token "));
    const char *idl = strstr(tm_line_with("id "), "id ");
    long id = idl ? strtol(idl + 3, NULL, 10) : -1;
    cr_assert(id >= 256, "a merged token: %ld", id);
    tm_keys("Down");
    char want[32];
    snprintf(want, sizeof want, "id %ld at (", id + 1);
    tm_wait(want);
    tm_keys("+");
    tm_wait("zoom x2 around the selected token");
    /* training on: the map is recomputed on newer weights (its step moves) */
    const char *hs = strstr(tm_line_with("Token map (PCA)"), "step ");
    long map_step = hs ? strtol(hs + 5, NULL, 10) : -1;
    cr_assert(map_step >= 90, "[%s]", tm_line_with("Token map"));
    tm_keys("Space");
    double t0 = tm_now();
    long now = map_step;
    while (tm_now() - t0 < TM_DEADLINE && now <= map_step + 50) {
        hs = strstr(tm_line_with("Token map (PCA)"), "step ");
        now = hs ? strtol(hs + 5, NULL, 10) : -1;
        tm_pause_ms(50);
    }
    cr_assert(now > map_step + 50, "the map follows training: step %ld then %ld\n%s", map_step, now, tm_capture());
    tm_keys("Space");
    tm_keys("M");
    tm_wait("wte row (token)");                       /* back to the strips */
}
