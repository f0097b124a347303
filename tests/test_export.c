/* test_export.c — PNG and SVG exports of loss curves and attention maps, and metrics.csv in and out.
 * PNGs are checked by signature and IHDR, then decoded back with libpng for pixel spot checks; SVGs are checked
 * for well-formedness (xmllint when installed, else a small tag-balance check), element counts, and one is
 * rendered with rsvg-convert (skipped when it is not installed). Files go to a per-process /tmp directory. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

static char g_dir[256];

static void ex_setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmwb-test-export-%d", (int)getpid());
    LwError e;
    cr_assert_eq(lw_mkdirs(g_dir, &e), LW_OK);
}

static void ex_teardown(void) { lw_rmtree(g_dir); }

TestSuite(export, .init = ex_setup, .fini = ex_teardown, .timeout = 30);

static const char *ex_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

/* Fake training: loss falls from 6 to about 2, validation every 10 steps. */
static MetricPoint *ex_metrics(int n, int *nv) {
    MetricPoint *m = calloc((size_t)n, sizeof *m);
    *nv = 0;
    for (int i = 0; i < n; i++) {
        m[i].step = i + 1;
        m[i].tokens = 128L * (i + 1);
        m[i].train_loss = (float)(2.0 + 4.0 * exp(-i / 30.0) + 0.1 * sin(i));
        m[i].val_loss = (i + 1) % 10 == 0 ? (float)(2.2 + 4.0 * exp(-i / 30.0)) : NAN;
        if ((i + 1) % 10 == 0) (*nv)++;
        m[i].lr = 1e-3f;
        m[i].grad_norm = 1.0f;
        m[i].tokens_per_sec = 1000.0f;
        m[i].elapsed = 0.01 * i;
    }
    return m;
}

/* A probe with L=2, NH=2, T=4: head (l, h) puts weight on key (q + l + h) % (q+1) mostly. Token 2 is markup,
 * token 3 is not valid UTF-8. */
static ProbeSnapshot *ex_probe(void) {
    ProbeSnapshot *p = calloc(1, sizeof *p);
    p->step = 42, p->T = 4, p->L = 2, p->NH = 2, p->C = 8;
    const char *toks[4] = {"It", " is", "<&>\"", "\x80x"};
    for (int i = 0; i < 4; i++) snprintf(p->tok[i], SNAP_TOKTEXT, "%s", toks[i]);
    p->att = calloc(2 * 2 * 4 * 4, sizeof(float));
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < 2; h++)
            for (int q = 0; q < 4; q++) {
                float *row = p->att + (((size_t)l * 2 + (size_t)h) * 4 + (size_t)q) * 4;
                int hot = (q + l + h) % (q + 1);
                for (int k = 0; k <= q; k++) row[k] = q == 0 ? 1.0f : (k == hot ? 0.7f : 0.3f / (float)q);
            }
    return p;
}

static void ex_probe_free(ProbeSnapshot *p) {
    free(p->att);
    free(p);
}

/* Reads a PNG's IHDR size after checking the signature. */
static void ex_png_header(const char *path, unsigned *w, unsigned *h) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s missing", path);
    unsigned char b[24];
    cr_assert_eq(fread(b, 1, 24, f), 24u);
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert(memcmp(b, sig, 8) == 0, "%s: not a PNG signature", path);
    cr_assert(memcmp(b + 12, "IHDR", 4) == 0, "%s: first chunk is not IHDR", path);
    *w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
    *h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
}

/* Decodes a PNG to RGB with libpng; returns the pixels (caller frees). */
static uint8_t *ex_png_decode(const char *path, unsigned *w, unsigned *h) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&im, path), "%s: %s", path, im.message);
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    cr_assert(png_image_finish_read(&im, NULL, px, 0, NULL), "%s: %s", path, im.message);
    *w = im.width, *h = im.height;
    return px;
}

static const uint8_t *ex_px(const uint8_t *px, unsigned w, int x, int y) { return px + ((size_t)y * w + (size_t)x) * 3; }

static long ex_count_color(const uint8_t *px, unsigned w, unsigned h, int r, int g, int b, int tol) {
    long n = 0;
    for (unsigned i = 0; i < w * h; i++)
        if (abs(px[3 * i] - r) <= tol && abs(px[3 * i + 1] - g) <= tol && abs(px[3 * i + 2] - b) <= tol) n++;
    return n;
}

static char *ex_read(const char *path) {
    char *s;
    cr_assert_eq(lw_read_file(path, &s, NULL, NULL), LW_OK, "cannot read %s", path);
    return s;
}

static int ex_count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

static int ex_have(const char *tool) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* Well-formed XML: xmllint when available, else every element opened is closed in order. */
static void ex_assert_well_formed(const char *path) {
    if (ex_have("xmllint")) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s' 2>&1", path);
        cr_assert_eq(system(cmd), 0, "xmllint rejects %s", path);
        return;
    }
    char *s = ex_read(path);
    char stack[64][32];
    int depth = 0;
    for (char *p = strchr(s, '<'); p; p = strchr(p + 1, '<')) {
        if (p[1] == '?' || p[1] == '!') continue;
        char *gt = strchr(p, '>');
        cr_assert(gt, "unterminated tag");
        if (p[1] == '/') {
            cr_assert(depth > 0);
            depth--;
            cr_assert(strncmp(p + 2, stack[depth], strlen(stack[depth])) == 0, "mismatched </%s>", stack[depth]);
        } else if (gt[-1] != '/') {
            cr_assert(depth < 64);
            int k = (int)strcspn(p + 1, " />");
            snprintf(stack[depth++], 32, "%.*s", k, p + 1);
        }
    }
    cr_assert_eq(depth, 0, "unclosed elements");
    free(s);
}

Test(export, loss_png_has_requested_size_and_draws_both_curves) {
    int nv;
    MetricPoint *m = ex_metrics(200, &nv);
    ExportPlotOpts o = {800, 450, 0, 0, "Loss"};
    LwError e;
    cr_assert_eq(export_loss_png(ex_path("loss.png"), m, 200, &o, &e), LW_OK, "%s", e.msg);
    unsigned w, h;
    ex_png_header(ex_path("loss.png"), &w, &h);
    cr_assert_eq(w, 800u);
    cr_assert_eq(h, 450u);
    uint8_t *px = ex_png_decode(ex_path("loss.png"), &w, &h);
    cr_assert_eq(w, 800u);
    const uint8_t *c = ex_px(px, w, 2, 2);
    cr_assert(c[0] == 255 && c[1] == 255 && c[2] == 255, "the background is white");
    c = ex_px(px, w, 80, 250);   /* the left edge of the plot frame */
    cr_assert(c[0] == 0 && c[1] == 0 && c[2] == 0, "the frame is black (%d,%d,%d)", c[0], c[1], c[2]);
    cr_assert_gt(ex_count_color(px, w, h, 20, 60, 160, 0), 500, "the train EMA curve is drawn");
    cr_assert_gt(ex_count_color(px, w, h, 190, 30, 30, 0), 200, "the validation curve and markers are drawn");
    free(px);
    free(m);
}

Test(export, loss_svg_is_well_formed_with_one_polyline_per_series) {
    int nv;
    MetricPoint *m = ex_metrics(120, &nv);
    LwError e;
    cr_assert_eq(export_loss_svg(ex_path("loss.svg"), m, 120, NULL, &e), LW_OK, "%s", e.msg);
    ex_assert_well_formed(ex_path("loss.svg"));
    char *s = ex_read(ex_path("loss.svg"));
    cr_assert(strstr(s, "width=\"960\" height=\"540\""), "default size");
    cr_assert_eq(ex_count(s, "<polyline"), 3, "train raw, train EMA, val");
    cr_assert_eq(ex_count(s, "<rect"), 1 + nv, "background + one marker per validation point");
    cr_assert(strstr(s, ">train</text>") && strstr(s, ">val</text>"), "curves labelled, not told by colour alone");
    cr_assert(strstr(s, "stroke-dasharray"), "validation is dashed");
    free(s);
    /* no validation yet, and no rows at all */
    for (int i = 0; i < 120; i++) m[i].val_loss = NAN;
    cr_assert_eq(export_loss_svg(ex_path("loss2.svg"), m, 120, NULL, &e), LW_OK);
    s = ex_read(ex_path("loss2.svg"));
    cr_assert_eq(ex_count(s, "<polyline"), 2);
    free(s);
    cr_assert_eq(export_loss_svg(ex_path("loss3.svg"), m, 0, NULL, &e), LW_OK);
    ex_assert_well_formed(ex_path("loss3.svg"));
    s = ex_read(ex_path("loss3.svg"));
    cr_assert_eq(ex_count(s, "<polyline"), 0);
    cr_assert(strstr(s, "no steps yet"));
    free(s);
    free(m);
}

Test(export, loss_log_axis_skips_nonpositive_values) {
    int nv;
    MetricPoint *m = ex_metrics(50, &nv);
    m[10].train_loss = 0.0f;
    m[11].train_loss = NAN;
    ExportPlotOpts o = {640, 360, 1, 1, "log"};
    LwError e;
    cr_assert_eq(export_loss_svg(ex_path("log.svg"), m, 50, &o, &e), LW_OK);
    char *s = ex_read(ex_path("log.svg"));
    cr_assert(strstr(s, "loss (log)"));
    cr_assert(strstr(s, ">tokens</text>"));
    cr_assert_null(strstr(s, "nan"), "no NaN coordinates");
    cr_assert_null(strstr(s, "inf"), "no infinite coordinates");
    free(s);
    cr_assert_eq(export_loss_png(ex_path("log.png"), m, 50, &o, &e), LW_OK);
    free(m);
}

Test(export, attention_svg_counts_cells_and_escapes_tokens) {
    ProbeSnapshot *p = ex_probe();
    LwError e;
    ExportAttnOpts o = {1, 0, 30};
    cr_assert_eq(export_attention_svg(ex_path("att.svg"), p, &o, &e), LW_OK, "%s", e.msg);
    ex_assert_well_formed(ex_path("att.svg"));
    char *s = ex_read(ex_path("att.svg"));
    cr_assert_eq(ex_count(s, "<rect"), 1 + 4 * 4 + EXPORT_CBAR_STEPS);
    cr_assert_eq(ex_count(s, "url(#hatch)"), 6, "the 6 masked cells are hatched");
    cr_assert(strstr(s, "&lt;&amp;&gt;&quot;"), "markup in tokens is escaped");
    cr_assert(strstr(s, "\xef\xbf\xbdx"), "invalid UTF-8 became U+FFFD");
    cr_assert(strstr(s, "layer 1 head 0"));
    cr_assert(strstr(s, ">0.70</text>"), "small maps print the weights");
    free(s);
    /* average of heads, and the whole grid */
    o.head = EXPORT_HEAD_AVG;
    cr_assert_eq(export_attention_svg(ex_path("avg.svg"), p, &o, &e), LW_OK);
    s = ex_read(ex_path("avg.svg"));
    cr_assert(strstr(s, "average of heads"));
    free(s);
    o.layer = EXPORT_ALL_LAYERS;
    cr_assert_eq(export_attention_svg(ex_path("grid.svg"), p, &o, &e), LW_OK);
    ex_assert_well_formed(ex_path("grid.svg"));
    s = ex_read(ex_path("grid.svg"));
    cr_assert_eq(ex_count(s, "<rect"), 1 + 2 * 2 * 16 + EXPORT_CBAR_STEPS);
    cr_assert(strstr(s, ">L1 H1</text>"));
    free(s);
    ex_probe_free(p);
}

Test(export, attention_png_cells_follow_the_ramp) {
    ProbeSnapshot *p = ex_probe();
    LwError e;
    ExportAttnOpts o = {0, 0, 20};
    cr_assert_eq(export_attention_png(ex_path("att.png"), p, &o, &e), LW_OK, "%s", e.msg);
    unsigned w, h;
    ex_png_header(ex_path("att.png"), &w, &h);
    cr_assert_eq(w, 140u + 4 * 20 + 90, "margins + T*cell + colour bar");
    uint8_t *px = ex_png_decode(ex_path("att.png"), &w, &h);
    /* query 0 key 0 has weight 1: the top of the ramp (yellow); near-zero cells are dark purple */
    const uint8_t *c = ex_px(px, w, 140 + 10, 182 + 10);
    cr_assert(c[0] == 253 && c[1] == 231 && c[2] == 37, "(0,0) = 1.0 is yellow, got %d,%d,%d", c[0], c[1], c[2]);
    /* query 0 key 3 is masked: light grey or hatch grey, never a ramp colour */
    c = ex_px(px, w, 140 + 3 * 20 + 7, 182 + 7);
    cr_assert(c[0] == c[1] && c[1] == c[2] && c[0] >= 180, "masked cell is grey, got %d,%d,%d", c[0], c[1], c[2]);
    /* query 3: key 3 % 4 = 3 is hot (0.7) and brighter than key 0 (0.1) */
    const uint8_t *hot = ex_px(px, w, 140 + 3 * 20 + 2, 182 + 3 * 20 + 2), *cold = ex_px(px, w, 140 + 2, 182 + 3 * 20 + 2);
    cr_assert_gt(hot[0] + hot[1] + hot[2], cold[0] + cold[1] + cold[2], "luminance rises with the weight");
    free(px);
    o.layer = EXPORT_ALL_LAYERS;
    cr_assert_eq(export_attention_png(ex_path("grid.png"), p, &o, &e), LW_OK);
    ex_png_header(ex_path("grid.png"), &w, &h);
    cr_assert_gt(w, 2u * 4 * 20);
    /* errors */
    o.layer = 2;
    cr_assert_eq(export_attention_png(ex_path("bad.png"), p, &o, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "layer 2 out of range"), "%s", e.msg);
    o.layer = 0, o.head = 5;
    cr_assert_eq(export_attention_svg(ex_path("bad.svg"), p, &o, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "head 5"), "%s", e.msg);
    cr_assert(!lw_file_exists(ex_path("bad.svg")));
    o.head = 0;
    cr_assert_eq(export_attention_png("/nonexistent-dir/x.png", p, &o, &e), LW_ERR_IO);
    ex_probe_free(p);
}

Test(export, svg_renders_with_rsvg_convert) {
    if (!ex_have("rsvg-convert")) cr_skip_test("rsvg-convert is not installed (Debian librsvg2-bin)");
    ProbeSnapshot *p = ex_probe();
    LwError e;
    ExportAttnOpts o = {0, 0, 40};
    cr_assert_eq(export_attention_svg(ex_path("r.svg"), p, &o, &e), LW_OK);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s' 2>&1", ex_path("r.png"), ex_path("r.svg"));
    cr_assert_eq(system(cmd), 0, "rsvg-convert failed");
    unsigned w, h;
    ex_png_header(ex_path("r.png"), &w, &h);
    cr_assert_eq(w, 140u + 4 * 40 + 90);
    uint8_t *px = ex_png_decode(ex_path("r.png"), &w, &h);
    const uint8_t *c = ex_px(px, w, 140 + 5, 182 + 5);   /* a corner of cell (0,0), away from its printed value */
    cr_assert(abs(c[0] - 253) < 8 && abs(c[1] - 231) < 8 && abs(c[2] - 37) < 8, "rendered (0,0) is yellow: %d,%d,%d",
              c[0], c[1], c[2]);
    free(px);
    int nv;
    MetricPoint *m = ex_metrics(100, &nv);
    cr_assert_eq(export_loss_svg(ex_path("l.svg"), m, 100, NULL, &e), LW_OK);
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s' 2>&1", ex_path("l.png"), ex_path("l.svg"));
    cr_assert_eq(system(cmd), 0);
    ex_png_header(ex_path("l.png"), &w, &h);
    cr_assert_eq(w, 960u);
    cr_assert_eq(h, 540u);
    free(m);
    ex_probe_free(p);
}

Test(export, metrics_csv_round_trips_and_reports_bad_cells) {
    int nv;
    MetricPoint *m = ex_metrics(30, &nv);
    LwError e;
    cr_assert_eq(export_metrics_write(ex_path("metrics.csv"), m, 30, &e), LW_OK);
    char *s = ex_read(ex_path("metrics.csv"));
    cr_assert(strncmp(s, "step,tokens,train_loss,val_loss,lr,grad_norm,tokens_per_sec,elapsed\n", 68) == 0);
    cr_assert(strstr(s, "\n1,128,"), "plain numbers");
    cr_assert(strstr(s, ",,"), "an empty val_loss when not evaluated");
    free(s);
    MetricPoint *r;
    int n;
    cr_assert_eq(export_metrics_read(ex_path("metrics.csv"), &r, &n, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(n, 30);
    for (int i = 0; i < 30; i++) {
        cr_assert_eq(r[i].step, m[i].step);
        cr_assert_float_eq(r[i].train_loss, m[i].train_loss, 1e-5);
        cr_assert_eq(isnan(r[i].val_loss), isnan(m[i].val_loss));
    }
    free(r);
    /* columns by name, in any order; a bad number names line and column */
    FILE *f = fopen(ex_path("odd.csv"), "w");
    fputs("train_loss,step\r\n5.5,1\r\n4.5,2\r\n", f);
    fclose(f);
    cr_assert_eq(export_metrics_read(ex_path("odd.csv"), &r, &n, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(r[1].step, 2);
    cr_assert_float_eq(r[1].train_loss, 4.5f, 1e-6);
    cr_assert(isnan(r[1].val_loss));
    free(r);
    f = fopen(ex_path("bad.csv"), "w");
    fputs("step,tokens,train_loss\n1,10,5.0\n2,20,x5\n", f);
    fclose(f);
    cr_assert_eq(export_metrics_read(ex_path("bad.csv"), &r, &n, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "bad.csv:3:6: train_loss: not a number 'x5'"), "%s", e.msg);
    f = fopen(ex_path("nohdr.csv"), "w");
    fputs("a,b\n1,2\n", f);
    fclose(f);
    cr_assert_eq(export_metrics_read(ex_path("nohdr.csv"), &r, &n, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "nohdr.csv:1:1"), "%s", e.msg);
    cr_assert_eq(export_metrics_read(ex_path("missing.csv"), &r, &n, &e), LW_ERR_IO);
    cr_assert_eq(export_text(ex_path("screen.txt"), "hello\n", &e), LW_OK);
    s = ex_read(ex_path("screen.txt"));
    cr_assert_str_eq(s, "hello\n");
    free(s);
    free(m);
}
