/* test_health_export.c — the Health screen's export (export.h): the update/weight ratio per group as SVG and PNG.
 * The SVG's coordinates are checked against the plot geometry computed here by hand (the guideline's row, a group's
 * constant ratio, the ends of the step axis), its element counts and its legend; the PNG is decoded back with
 * libpng for its size, the guideline's dashes and the groups' colours. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

static char g_dir[256];
static void hx_setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/llmwb-test-hexport-%d", (int)getpid());
    LwError e;
    cr_assert_eq(lw_mkdirs(g_dir, &e), LW_OK);
}
static void hx_teardown(void) { lw_rmtree(g_dir); }

TestSuite(health_export, .init = hx_setup, .fini = hx_teardown, .timeout = 30);

static const char *hx_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

static int hx_count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* 30 points, steps 10..300, four groups: embed -3.5 throughout; block 1 from -1.5 down to -2.5; block 2 at -4 with
 * one frozen point; the head frozen throughout (no line). The ratios span [-4, -1.5]. */
static HealthPoint *hx_points(int n) {
    HealthPoint *h = calloc((size_t)n, sizeof *h);
    for (int i = 0; i < n; i++) {
        h[i].step = 10L * (i + 1);
        h[i].n_groups = 4;
        h[i].update_ratio[0] = -3.5f;
        h[i].update_ratio[1] = -1.5f - (float)i / (float)(n - 1);
        h[i].update_ratio[2] = i == 5 ? -INFINITY : -4.0f;
        h[i].update_ratio[3] = -INFINITY;
        for (int k = 0; k < 4; k++) h[i].grad_norm[k] = 1, h[i].weight_norm[k] = 10;
    }
    return h;
}

/* The n-th "<polyline ... points=" list of s (0-based) parsed into xs, ys (at most max); returns how many. */
static int hx_polyline(const char *s, int which, double *xs, double *ys, int max) {
    const char *p = s;
    for (int i = 0; i <= which; i++) {
        p = strstr(p, "<polyline");
        cr_assert_not_null(p, "polyline %d missing", which);
        p++;
    }
    p = strstr(p, "points=\"");
    cr_assert_not_null(p);
    p += 8;
    int n = 0;
    while (*p != '"' && n < max) {
        char *end;
        xs[n] = strtod(p, &end);
        cr_assert(*end == ',', "x,y pairs");
        ys[n] = strtod(end + 1, &end);
        n++;
        p = end;
        while (*p == ' ') p++;
    }
    return n;
}

Test(health_export, svg_lines_follow_the_geometry_with_the_guideline_and_a_legend) {
    HealthPoint *h = hx_points(30);
    LwError e;
    cr_assert_eq(export_health_svg(hx_path("h.svg"), h, 30, NULL, &e), LW_OK, "%s", e.msg);
    char *s;
    cr_assert_eq(lw_read_file(hx_path("h.svg"), &s, NULL, NULL), LW_OK);
    if (system("command -v xmllint >/dev/null 2>&1") == 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s' 2>&1", hx_path("h.svg"));
        cr_assert_eq(system(cmd), 0, "xmllint rejects the SVG");
    }
    cr_assert_eq(hx_count(s, "<polyline"), 3, "one line per group with a finite ratio (the frozen head has none)");
    cr_assert_eq(hx_count(s, "stroke-dasharray"), 1, "the guideline is the one dashed line");
    cr_assert(strstr(s, "1e-3 guideline"), "the guideline is labelled");
    for (int k = 0; k < 4; k++) {
        static const char *names[] = {">embed<", ">block 1<", ">block 2<", ">head<"};
        cr_assert(strstr(s, names[k]), "the legend names %s", names[k]);
    }
    cr_assert(strstr(s, ">Update/weight"), "the default title");
    /* the geometry by hand: plot area x 80..830 (960 - 80 - 130), y 50..490 (540 - 50 - 50); y range [-4, -1.5]
     * padded by 5% of its span (0.125) */
    double y0 = -4.125, y1 = -1.375;
#define HX_Y(v) (490.0 - ((v) - y0) / (y1 - y0) * 440.0)
    const char *g = strstr(s, "class=\"guide\"");
    cr_assert_not_null(g);
    double gy = strtod(strstr(g, "y1=\"") + 4, NULL);
    cr_assert(fabs(gy - HX_Y(-3.0)) < 0.06, "the guideline at -3: y %f vs %f", gy, HX_Y(-3.0));
    double xs[64], ys[64];
    int n0 = hx_polyline(s, 0, xs, ys, 64);
    cr_assert_eq(n0, 30);
    cr_assert(fabs(xs[0] - 80) < 0.06 && fabs(xs[29] - 830) < 0.06, "steps 10..300 span the plot: %f..%f", xs[0], xs[29]);
    for (int i = 0; i < 30; i++) {
        cr_assert(fabs(ys[i] - HX_Y(-3.5)) < 0.06, "embed at -3.5: y %f vs %f", ys[i], HX_Y(-3.5));
        cr_assert(fabs(xs[i] - (80 + (10.0 * (i + 1) - 10) / 290.0 * 750)) < 0.06, "point %d: x %f", i, xs[i]);
    }
    int n1 = hx_polyline(s, 1, xs, ys, 64);
    cr_assert_eq(n1, 30);
    cr_assert(fabs(ys[0] - HX_Y(-1.5)) < 0.06 && fabs(ys[29] - HX_Y(-2.5)) < 0.06, "block 1 falls: %f %f", ys[0], ys[29]);
    cr_assert_eq(hx_polyline(s, 2, xs, ys, 64), 29, "the frozen point of block 2 is left out");
#undef HX_Y
    free(s);
    /* no points: axes and a note, no line but the guideline */
    cr_assert_eq(export_health_svg(hx_path("h0.svg"), h, 0, NULL, &e), LW_OK);
    cr_assert_eq(lw_read_file(hx_path("h0.svg"), &s, NULL, NULL), LW_OK);
    cr_assert_eq(hx_count(s, "<polyline"), 0);
    cr_assert(strstr(s, "no steps yet") && strstr(s, "1e-3 guideline"));
    free(s);
    free(h);
}

Test(health_export, png_has_its_size_the_dashed_guideline_and_each_groups_colour) {
    HealthPoint *h = hx_points(30);
    LwError e;
    ExportPlotOpts o = {800, 400, 0, 0, "ratio"};
    cr_assert_eq(export_health_png(hx_path("h.png"), h, 30, &o, &e), LW_OK, "%s", e.msg);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&im, hx_path("h.png")), "%s", im.message);
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    cr_assert(png_image_finish_read(&im, NULL, px, 0, NULL), "%s", im.message);
    cr_assert_eq(im.width, 800u);
    cr_assert_eq(im.height, 400u);
    /* the guideline's row (plot y 50..350, range [-4.125, -1.375]): grey dashes, on and off along it */
    int gy = (int)lround(350.0 - (-3.0 + 4.125) / 2.75 * 300.0), on = 0, off = 0;
    for (int x = 81; x < 80 + 590; x++) {
        const uint8_t *c = px + ((size_t)gy * 800 + (size_t)x) * 3;
        if (c[0] == 90 && c[1] == 90 && c[2] == 90) on++;
        else off++;
    }
    cr_assert(on > 200 && off > 100, "a dashed grey line at y %d: %d on, %d off", gy, on, off);
    /* the three drawn groups in their colours (embed blue, block 1 orange, block 2 green), the head only in the legend */
    static const uint8_t rgb[4][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}};
    long count[4] = {0};
    for (unsigned i = 0; i < im.width * im.height; i++)
        for (int k = 0; k < 4; k++)
            if (!memcmp(px + 3 * i, rgb[k], 3)) count[k]++;
    for (int k = 0; k < 3; k++) cr_assert(count[k] > 1000, "group %d drawn: %ld pixels", k, count[k]);
    cr_assert(count[3] > 0 && count[3] < 200, "the frozen head: its legend swatch only (%ld pixels)", count[3]);
    free(px);
    free(h);
}
