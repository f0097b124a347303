/* test_ui_render.c — the TUI's pure helpers without a terminal: layout, braille/block plots, heatmap ramps,
 * colour-mode selection and conversions, the ASCII fallback, debiased EMA and the line editor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ui/render.h"
#include "../ui/term.h"

/* ---- layout ---- */

static void check_frame(int cols, int lines) {
    Layout l = layout_compute(cols, lines);
    cr_assert_not(l.too_small, "%dx%d should fit", cols, lines);
    cr_assert_eq(l.header.y, 0);
    cr_assert_eq(l.header.h, 1);
    cr_assert_eq(l.header.w, cols);
    cr_assert_eq(l.body.y, 1);
    cr_assert_eq(l.body.w, cols);
    cr_assert_eq(l.status.y, l.body.y + l.body.h, "status right under the body");
    cr_assert_eq(l.fkeys.y, lines - 1, "function keys on the last row");
    cr_assert_eq(l.header.h + l.body.h + l.status.h + l.fkeys.h, lines, "rows add up");
}

Test(ui_layout, standard_sizes) {
    check_frame(80, 24);
    check_frame(120, 36);
    check_frame(200, 60);
    Layout l = layout_compute(120, 36);
    cr_assert_eq(l.body.h, 33);
    l = layout_compute(80, 24);
    cr_assert_eq(l.body.h, 21);
}

Test(ui_layout, too_small) {
    cr_assert(layout_compute(79, 24).too_small);
    cr_assert(layout_compute(80, 23).too_small);
    cr_assert(layout_compute(60, 20).too_small);
    cr_assert_not(layout_compute(80, 24).too_small);
}

Test(ui_layout, splits) {
    Rect l, r;
    layout_split_h((Rect){0, 1, 120, 30}, 0.66, 36, 1, &l, &r);
    cr_assert_eq(l.w, 79);
    cr_assert_eq(r.x, 80);
    cr_assert_eq(r.w, 40);
    /* at 80 columns the right part keeps its minimum */
    layout_split_h((Rect){0, 1, 80, 30}, 0.66, 36, 1, &l, &r);
    cr_assert_eq(r.w, 36);
    cr_assert_eq(l.w + 1 + r.w, 80);
    Rect t, b;
    layout_split_v((Rect){0, 1, 80, 20}, 25, &t, &b);
    cr_assert_eq(t.h, 20, "clamped");
    cr_assert_eq(b.h, 0);
}

/* ---- plots ---- */

Test(ui_plot, braille_bits_cover_a_cell) {
    int all = 0;
    for (int dy = 0; dy < 4; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int b = braille_bit(dx, dy);
            cr_assert_eq(all & b, 0, "bits distinct");
            all |= b;
        }
    cr_assert_eq(all, 0xFF);
    cr_assert_eq(braille_bit(0, 0), 0x01);
    cr_assert_eq(braille_bit(1, 3), 0x80);
    cr_assert_eq(braille_bit(0, 3), 0x40);
}

static PlotOpts opts01(int blocks) {
    PlotOpts o;
    memset(&o, 0, sizeof o);
    o.xmin = 0, o.xmax = 3, o.ymin = 0, o.ymax = 1;
    o.blocks = blocks;
    o.unicode = 1;
    return o;
}

Test(ui_plot, braille_known_series) {
    uint8_t bits[2];
    int8_t owner[2];
    double x[4] = {0, 1, 2, 3}, top[4] = {1, 1, 1, 1}, bottom[4] = {0, 0, 0, 0};
    PlotOpts o = opts01(0);
    PlotSeries s = {x, top, 4, {0, 0, 0}};
    plot_raster(bits, owner, 2, 1, &s, 1, &o);   /* 2x1 cells = 4x4 dots */
    cr_assert_eq(bits[0], 0x09, "top row of cell 0, got %#x", bits[0]);
    cr_assert_eq(bits[1], 0x09);
    cr_assert_eq(owner[0], 0);
    s.y = bottom;
    plot_raster(bits, owner, 2, 1, &s, 1, &o);
    cr_assert_eq(bits[0], 0xC0, "bottom row, got %#x", bits[0]);
    cr_assert_eq(bits[1], 0xC0);
    /* a diagonal from top-left to bottom-right through the 4x4 dots */
    double dx[2] = {0, 3}, dy[2] = {1, 0};
    PlotSeries d = {dx, dy, 2, {0, 0, 0}};
    plot_raster(bits, owner, 2, 1, &d, 1, &o);
    cr_assert_eq(bits[0], 0x01 | 0x10, "got %#x", bits[0]);
    cr_assert_eq(bits[1], 0x04 | 0x80, "got %#x", bits[1]);
}

Test(ui_plot, nan_breaks_the_line) {
    uint8_t bits[2];
    double x[4] = {0, 1, 2, 3}, y[4] = {1, NAN, NAN, 1};
    PlotOpts o = opts01(0);
    PlotSeries s = {x, y, 4, {0, 0, 0}};
    plot_raster(bits, NULL, 2, 1, &s, 1, &o);
    cr_assert_eq(bits[0], 0x01);
    cr_assert_eq(bits[1], 0x08);
}

Test(ui_plot, block_fallback) {
    uint8_t bits[4];
    double x[4] = {0, 1, 2, 3}, y[4] = {1, 0, 1, 0};
    PlotOpts o = opts01(1);
    PlotSeries s = {x, y, 4, {0, 0, 0}};
    plot_raster(bits, NULL, 4, 1, &s, 1, &o);   /* 4x1 cells = 4x2 dots */
    /* the line joins top and bottom, so every cell has its own point plus the joining dot */
    cr_assert_eq(bits[0] & 1, 1, "upper half at x=0");
    cr_assert_eq(bits[1] & 2, 2, "lower half at x=1");
    cr_assert_eq(bits[2] & 1, 1);
    cr_assert_eq(bits[3] & 2, 2);
}

Test(ui_plot, log_scale) {
    uint8_t bits[1];
    double x[2] = {0, 1}, y[2] = {10, 10};
    PlotOpts o;
    memset(&o, 0, sizeof o);
    o.xmin = 0, o.xmax = 1, o.ymin = 1, o.ymax = 100, o.logy = 1;
    PlotSeries s = {x, y, 2, {0, 0, 0}};
    plot_raster(bits, NULL, 1, 1, &s, 1, &o);   /* 2x4 dots; log10(10) = middle → row 1.5 → 2 */
    cr_assert_eq(bits[0], braille_bit(0, 2) | braille_bit(1, 2), "got %#x", bits[0]);
}

Test(ui_plot, draw_labels_and_glyphs) {
    CellBuf cb;
    cb_init(&cb, 40, 10);
    double x[3] = {0, 50, 100}, y[3] = {3.0, 2.0, 1.0};
    PlotSeries s = {x, y, 3, {COL_DEFAULT, COL_DEFAULT, 0}};
    PlotOpts o;
    memset(&o, 0, sizeof o);
    o.unicode = 1;
    o.xlabel = "step";
    plot_draw(&cb, (Rect){0, 0, 40, 10}, &s, 1, o);
    int braille = 0;
    for (int i = 0; i < cb.w * cb.h; i++)
        if (cb.cells[i].ch > 0x2800 && cb.cells[i].ch <= 0x28FF) braille++;
    cr_assert_gt(braille, 10, "the curve is drawn in braille (%d cells)", braille);
    cr_assert(cb_contains(&cb, "step 100"), "x range label");
    cr_assert(cb_contains(&cb, "3.100"), "top y label is the padded max");
    /* ASCII: no code point above 127 */
    cb_clear(&cb);
    o.unicode = 0;
    plot_draw(&cb, (Rect){0, 0, 40, 10}, &s, 1, o);
    for (int i = 0; i < cb.w * cb.h; i++) cr_assert_lt(cb.cells[i].ch, 128u);
    cb_free(&cb);
}

/* ---- ramps ---- */

static double luminance(int idx) {
    int r, g, b;
    color_xterm_rgb(idx, &r, &g, &b);
    double c[3] = {r / 255.0, g / 255.0, b / 255.0};
    for (int i = 0; i < 3; i++) c[i] = c[i] <= 0.04045 ? c[i] / 12.92 : pow((c[i] + 0.055) / 1.055, 2.4);
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

Test(ui_ramp, index_monotone_and_clamped) {
    int prev = -1;
    for (int i = -50; i <= 150; i++) {
        int k = ramp_index(i / 100.0, 0, 1, 12);
        cr_assert_geq(k, prev, "monotone at %d", i);
        cr_assert(k >= 0 && k < 12);
        prev = k;
    }
    cr_assert_eq(ramp_index(-5, 0, 1, 12), 0);
    cr_assert_eq(ramp_index(5, 0, 1, 12), 11);
    cr_assert_eq(ramp_index(1, 0, 1, 12), 11);
    cr_assert_eq(ramp_index(NAN, 0, 1, 12), 0);
    cr_assert_eq(ramp_index(0.5, 0, 1, 12), 6);
}

Test(ui_ramp, palettes) {
    for (int i = 1; i < RAMP_SEQ_N; i++)
        cr_assert_gt(luminance(RAMP_SEQ[i]), luminance(RAMP_SEQ[i - 1]), "sequential ramp rises at %d", i);
    for (int i = 1; i <= RAMP_DIV_N / 2; i++) {
        cr_assert_gt(luminance(RAMP_DIV[i]), luminance(RAMP_DIV[i - 1]), "diverging rises to white");
        cr_assert_gt(luminance(RAMP_DIV[RAMP_DIV_N - 1 - i]), luminance(RAMP_DIV[RAMP_DIV_N - i]));
    }
    cr_assert_eq(ramp_color(0, 0, 1, 0, CM_256), 53);
    cr_assert_eq(ramp_color(1, 0, 1, 0, CM_256), 220);
    cr_assert_eq(ramp_color(-1, -1, 1, 1, CM_256), 23);
    cr_assert_eq(ramp_color(0, -1, 1, 1, CM_256), 231);
    cr_assert_eq(ramp_color(1, -1, 1, 1, CM_256), 52);
    int t = ramp_color(1, 0, 1, 0, CM_TRUE);
    cr_assert(COL_IS_RGB(t));
    cr_assert_eq(t, COL_RGB(255, 215, 0), "truecolor end = xterm 220");
    int c16 = ramp_color(0.5, 0, 1, 0, CM_16);
    cr_assert(c16 >= 0 && c16 < 16);
    cr_assert_eq(ramp_glyph(0, 0, 1), ' ');
    cr_assert_eq(ramp_glyph(1, 0, 1), '@');
}

Test(ui_ramp, heatmap_half_blocks_and_mono) {
    CellBuf cb;
    cb_init(&cb, 4, 4);
    float m[4] = {0, 0, 1, 1};   /* row 0 low, row 1 high */
    RenderCaps caps = {CM_256, 1, 0, 0};
    heatmap_draw(&cb, 0, 0, 2, 1, m, 2, 2, 2, 0, 1, 0, NULL, &caps);
    Cell *c = cb_at(&cb, 0, 0);
    cr_assert_eq(c->ch, 0x2580u);
    cr_assert_eq(c->fg, 53, "upper pixel = row 0");
    cr_assert_eq(c->bg, 220, "lower pixel = row 1");
    /* monochrome: one glyph per value, one row per matrix row */
    cb_clear(&cb);
    RenderCaps mono = {CM_MONO, 1, 0, 0};
    heatmap_draw(&cb, 0, 0, 2, 2, m, 2, 2, 2, 0, 1, 0, NULL, &mono);
    cr_assert_eq(cb_at(&cb, 0, 0)->ch, (uint32_t)' ');
    cr_assert_eq(cb_at(&cb, 0, 1)->ch, (uint32_t)'@');
    /* a masked entry is hatched and dimmed, not drawn with the ramp */
    uint8_t mask[4] = {0, 1, 0, 0};
    cb_clear(&cb);
    heatmap_draw(&cb, 0, 0, 2, 2, m, 2, 2, 2, 0, 1, 0, mask, &mono);
    cr_assert(cb_at(&cb, 1, 0)->attr & CA_DIM);
    cr_assert_eq(cb_at(&cb, 1, 0)->ch, 0x2571u, "hatched");
    cr_assert_neq(cb_at(&cb, 0, 1)->ch, 0x2571u);
    cb_free(&cb);
}

/* Masked cells are never a colour of the ramp: hatched on the default background (both values masked) or half
 * on the default background, in 256, 16 and truecolor, dark and light. */
Test(ui_ramp, heatmap_masked_cells_have_no_ramp_colour) {
    CellBuf cb;
    cb_init(&cb, 4, 2);
    float m[16];
    uint8_t mask[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) m[i * 4 + j] = j <= i ? 0.0f : 0.9f, mask[i * 4 + j] = j > i;
    ColorMode modes[3] = {CM_256, CM_16, CM_TRUE};
    for (int mi = 0; mi < 3; mi++)
        for (int light = 0; light < 2; light++) {
            RenderCaps caps = {modes[mi], 1, light, 0};
            cb_clear(&cb);
            heatmap_draw(&cb, 0, 0, 4, 2, m, 4, 4, 4, 0, 1, 0, mask, &caps);
            /* cell (3, 0) holds rows 0 and 1 of key 3: both masked */
            Cell *c = cb_at(&cb, 3, 0);
            cr_assert_eq(c->ch, 0x2571u, "mode %d light %d", mi, light);
            cr_assert_eq(c->bg, COL_DEFAULT);
            /* cell (1, 0): row 0 masked (key 1 > query 0), row 1 not: the lower half only */
            c = cb_at(&cb, 1, 0);
            cr_assert_eq(c->ch, 0x2584u);
            cr_assert_eq(c->bg, COL_DEFAULT);
            cr_assert_eq(c->fg, ramp_color(0, 0, 1, 0, caps.cm));
            /* the lowest ramp colour is not the 16-colour background (black) */
            if (modes[mi] == CM_16) cr_assert_neq(ramp_color(0, 0, 1, 0, CM_16), 0);
        }
    cb_free(&cb);
}

Test(ui_text, wrap_rows_break_between_words) {
    const char *s = "the quick brown fox jumps";
    size_t n = strlen(s), at = 0, next, len;
    len = wrap_row(s, n, 10, &next);   /* "the quick" + space dropped */
    cr_assert_eq(len, 9);
    cr_assert_eq(next, 10);
    at = next;
    len = wrap_row(s + at, n - at, 10, &next);
    cr_assert_eq(len, 9, "\"brown fox\"");
    at += next;
    len = wrap_row(s + at, n - at, 10, &next);
    cr_assert_eq(len, 5);
    cr_assert_eq(at + next, n);
    /* a word longer than the row is cut at the width */
    len = wrap_row("abcdefghijkl", 12, 5, &next);
    cr_assert_eq(len, 5);
    cr_assert_eq(next, 5);
    /* a row that fills the width exactly takes the newline after it: no empty row */
    len = wrap_row("abcde\nfg", 8, 5, &next);
    cr_assert_eq(len, 5);
    cr_assert_eq(next, 6);
    /* UTF-8 counts columns, not bytes */
    len = wrap_row("\xc3\xa9t\xc3\xa9 d", 7, 4, &next);
    cr_assert_eq(len, 5, "\"été\" (5 bytes, 3 columns)");
    CellBuf cb;
    cb_init(&cb, 10, 4);
    cr_assert_eq(cb_wrap(&cb, (Rect){0, 0, 10, 4}, s, (Style){COL_DEFAULT, COL_DEFAULT, 0}), 3);
    char *t = cb_to_text(&cb);
    cr_assert_str_eq(t, "the quick\nbrown fox\njumps\n");
    free(t);
    cb_free(&cb);
}

Test(ui_text, counts_and_marked_cuts) {
    char b[64];
    cr_assert_str_eq(fmt_count(0, b, sizeof b), "0");
    cr_assert_str_eq(fmt_count(999, b, sizeof b), "999");
    cr_assert_str_eq(fmt_count(1000, b, sizeof b), "1,000");
    cr_assert_str_eq(fmt_count(124439808, b, sizeof b), "124,439,808");
    cr_assert_str_eq(fmt_count(-1234567, b, sizeof b), "-1,234,567");
    cr_assert_str_eq(utf8_fit("short", 8, 1, b, sizeof b), "short");
    cr_assert_str_eq(utf8_fit("a longer text", 6, 1, b, sizeof b), "a lon\xe2\x80\xa6");
    cr_assert_eq(utf8_cols(b), 6);
    cr_assert_str_eq(utf8_fit("a longer text", 6, 0, b, sizeof b), "a lon~");
    cr_assert_str_eq(utf8_fit("x", 0, 1, b, sizeof b), "");
}

Test(ui_text, fit_line_narrows_then_drops_before_it_cuts) {
    char b[128];
    FitField f[] = {{"LIVE", NULL, 0}, {"step 1200", NULL, 0}, {"snapshot 3/9", "snap 3/9", 0},
                    {"(<- older)", NULL, 5}, {"T=24", NULL, 4}, {"resid std 0.91->1.20", "std 0.91->1.20", 1}};
    const char *full = "LIVE  step 1200  snapshot 3/9  (<- older)  T=24  resid std 0.91->1.20";
    cr_assert_str_eq(fit_line(f, 6, "  ", 120, 1, b, sizeof b), full);
    cr_assert_str_eq(fit_line(f, 6, "  ", (int)strlen(full) - 1, 1, b, sizeof b),
                     "LIVE  step 1200  snapshot 3/9  T=24  resid std 0.91->1.20");  /* rank 5 goes first */
    cr_assert_str_eq(fit_line(f, 6, "  ", 50, 1, b, sizeof b), "LIVE  step 1200  snapshot 3/9  std 0.91->1.20");
    cr_assert_str_eq(fit_line(f, 6, "  ", 40, 1, b, sizeof b), "LIVE  step 1200  snapshot 3/9");
    cr_assert_str_eq(fit_line(f, 6, "  ", 26, 1, b, sizeof b), "LIVE  step 1200  snap 3/9");
    /* rank-0 text that still does not fit is cut, marked */
    cr_assert_str_eq(fit_line(f, 6, "  ", 12, 1, b, sizeof b), "LIVE  step \xe2\x80\xa6");
    cr_assert_eq(utf8_cols(b), 12);
    FitField g[] = {{NULL, "absent", 0}, {"a", NULL, 0}, {"b", NULL, 1}};
    cr_assert_str_eq(fit_line(g, 3, ", ", 10, 0, b, sizeof b), "a, b");
    cr_assert_str_eq(fit_line(g, 3, ", ", 3, 0, b, sizeof b), "a");
    /* a kept field narrows first (its rank) but stays */
    FitField k[] = {{"baseline:", "base:", -5}, {"BLEU 28.8", NULL, 0}, {"chrF 55.0", NULL, 2}};
    cr_assert_str_eq(fit_line(k, 3, " ", 25, 1, b, sizeof b), "base: BLEU 28.8 chrF 55.0");
    cr_assert_str_eq(fit_line(k, 3, " ", 20, 1, b, sizeof b), "base: BLEU 28.8");
}

Test(ui_ramp, strip_two_values_per_cell) {
    CellBuf cb;
    cb_init(&cb, 4, 1);
    float v[2] = {-1, 1};
    RenderCaps caps = {CM_256, 1, 0, 0};
    strip_draw(&cb, 0, 0, 1, v, 2, 1, &caps);
    cr_assert_eq(cb_at(&cb, 0, 0)->ch, 0x258Cu);
    cr_assert_eq(cb_at(&cb, 0, 0)->fg, 23);
    cr_assert_eq(cb_at(&cb, 0, 0)->bg, 52);
    cb_free(&cb);
}

/* ---- colour modes and fallbacks ---- */

Test(ui_caps, colour_mode_from_env) {
    cr_assert_eq(caps_select_color("1", "truecolor", "xterm-256color", 256), CM_MONO, "NO_COLOR wins");
    cr_assert_eq(caps_select_color("", NULL, "xterm-256color", -1), CM_MONO, "NO_COLOR set but empty still counts");
    cr_assert_eq(caps_select_color(NULL, "truecolor", "xterm-256color", 256), CM_TRUE);
    cr_assert_eq(caps_select_color(NULL, "24bit", "xterm", -1), CM_TRUE);
    cr_assert_eq(caps_select_color(NULL, NULL, "xterm-256color", -1), CM_256);
    cr_assert_eq(caps_select_color(NULL, NULL, "screen-256color", 256), CM_256);
    cr_assert_eq(caps_select_color(NULL, NULL, "xterm", 8), CM_16);
    cr_assert_eq(caps_select_color(NULL, NULL, "vt100", 2), CM_MONO);
    cr_assert_eq(caps_select_color(NULL, NULL, "dumb", -1), CM_MONO);
    cr_assert_eq(caps_select_color(NULL, NULL, NULL, -1), CM_16);
}

Test(ui_caps, utf8_locale_detection) {
    cr_assert(caps_locale_is_utf8("UTF-8"));
    cr_assert(caps_locale_is_utf8("C.UTF-8"));
    cr_assert(caps_locale_is_utf8("en_US.utf8"));
    cr_assert_not(caps_locale_is_utf8("ANSI_X3.4-1968"));
    cr_assert_not(caps_locale_is_utf8("POSIX"));
    cr_assert_not(caps_locale_is_utf8(NULL));
}

Test(ui_caps, ascii_fallback_glyphs) {
    cr_assert_eq(glyph_ascii('a'), (uint32_t)'a');
    cr_assert_eq(glyph_ascii(0x2800 + 0x11), (uint32_t)'*');
    cr_assert_eq(glyph_ascii(0x22C5), (uint32_t)'.');
    cr_assert_eq(glyph_ascii(0x21B5), (uint32_t)'$');
    cr_assert_eq(glyph_ascii(0x2500), (uint32_t)'-');
    cr_assert_eq(glyph_ascii(0x2502), (uint32_t)'|');
    cr_assert_eq(glyph_ascii(0x250C), (uint32_t)'+');
    cr_assert_eq(glyph_ascii(0x00D7), (uint32_t)'x');
    cr_assert_lt(glyph_ascii(0x4E2D), 128u, "anything else becomes ASCII");
    char out[64];
    cr_assert_str_eq(tok_visible(" a\tb\n", 5, 1, out, sizeof out), "\xe2\x8b\x85" "a\xe2\x86\x92" "b\xe2\x86\xb5");
    cr_assert_str_eq(tok_visible(" a\tb\n", 5, 0, out, sizeof out), ".a>b$");
    cr_assert_str_eq(tok_visible("\x01", 1, 1, out, sizeof out), "\\x01");
    cr_assert_str_eq(tok_visible("\xc3", 1, 1, out, sizeof out), "\\xC3", "a partial UTF-8 byte");
    cr_assert_str_eq(tok_visible("\xc3\xa9", 2, 1, out, sizeof out), "\xc3\xa9");
    cr_assert_str_eq(tok_visible("\xc3\xa9", 2, 0, out, sizeof out), "?");
}

Test(ui_caps, colour_conversions) {
    cr_assert_eq(color_to_256(COL_RGB(255, 215, 0)), 220);
    cr_assert_eq(color_to_256(COL_RGB(0, 0, 0)), 16);
    cr_assert_eq(color_to_256(COL_RGB(128, 128, 128)), 244);
    cr_assert_eq(color_to_256(53), 53, "indices pass through");
    cr_assert_eq(color_to_256(COL_DEFAULT), COL_DEFAULT);
    cr_assert_eq(color_to_16(196), 9, "pure red");
    cr_assert_eq(color_to_16(4), 4);
    cr_assert_eq(color_to_16(231), 15, "white");
    cr_assert_eq(color_to_16(16), 0, "black");
}

/* ---- EMA ---- */

Test(ui_ema, debiased_matches_hand_computation) {
    double y[3] = {1, 2, 3}, out[3];
    ema_debiased(y, 3, 0.5, out);
    /* last: 0.5, 1.25, 2.125; debias: 0.5, 0.75, 0.875 */
    cr_assert_float_eq(out[0], 1.0, 1e-12);
    cr_assert_float_eq(out[1], 1.25 / 0.75, 1e-12);
    cr_assert_float_eq(out[2], 2.125 / 0.875, 1e-12);
    /* the first value is not pulled toward zero (the bias TensorBoard fixed) */
    double c[5] = {5, 5, 5, 5, 5}, oc[5];
    ema_debiased(c, 5, 0.9, oc);
    for (int i = 0; i < 5; i++) cr_assert_float_eq(oc[i], 5.0, 1e-12);
    /* NaN values are skipped */
    double z[4] = {NAN, 2, NAN, 4}, oz[4];
    ema_debiased(z, 4, 0.5, oz);
    cr_assert(isnan(oz[0]));
    cr_assert_float_eq(oz[1], 2.0, 1e-12);
    cr_assert_float_eq(oz[2], 2.0, 1e-12);
    cr_assert_float_eq(oz[3], 2.5 / 0.75, 1e-12);
}

/* ---- line editor ---- */

#define KL 0404
#define KR 0405
#define KHOME 0406
#define KBS 0407
#define KUP 0403
#define KDOWN 0402
#define KEND 0550

static void type(LineEdit *le, const char *s) {
    for (const char *p = s; *p;) {
        uint32_t cp;
        p += utf8_decode(p, strlen(p), &cp);
        le_key(le, (int)cp);
    }
}

Test(ui_lineedit, editing) {
    LineEdit le;
    le_init(&le);
    type(&le, "h\xc3\xa9llo");             /* héllo: 6 bytes */
    cr_assert_str_eq(le.buf, "h\xc3\xa9llo");
    cr_assert_eq(le.cur, 6);
    le_key(&le, KL);
    le_key(&le, KL);
    le_key(&le, KL);
    cr_assert_eq(le.cur, 3, "left skips whole UTF-8 characters");
    le_key(&le, KL);
    cr_assert_eq(le.cur, 1);
    cr_assert_eq(le_key(&le, KBS), LE_CHANGED);
    cr_assert_str_eq(le.buf, "\xc3\xa9llo");
    le_key(&le, KEND);
    le_key(&le, KBS);
    cr_assert_str_eq(le.buf, "\xc3\xa9ll");
    le_key(&le, KHOME);
    type(&le, "X");
    cr_assert_str_eq(le.buf, "X\xc3\xa9ll");
    le_key(&le, KR);                         /* over the 2-byte é */
    cr_assert_eq(le.cur, 3);
    le_key(&le, 21);                         /* Ctrl-U: delete to the start */
    cr_assert_str_eq(le.buf, "ll");
    cr_assert_eq(le.cur, 0);
    le_key(&le, KEND);
    type(&le, " word");
    le_key(&le, 23);                         /* Ctrl-W */
    cr_assert_str_eq(le.buf, "ll ");
    cr_assert_eq(le_key(&le, 27), LE_CANCEL);
    cr_assert_eq(le_key(&le, 0410 + 1), LE_IGNORED, "F1 is not text");
    le_key(&le, 0x151 | K_LITERAL);          /* ő collides with a curses key code */
    cr_assert_str_eq(le.buf, "ll \xc5\x91");
}

Test(ui_lineedit, history) {
    LineEdit le;
    le_init(&le);
    type(&le, "first");
    cr_assert_eq(le_key(&le, '\r'), LE_SUBMIT);
    le_set(&le, "");
    type(&le, "second");
    le_key(&le, '\r');
    le_set(&le, "");
    type(&le, "draft");
    le_key(&le, KUP);
    cr_assert_str_eq(le.buf, "second");
    le_key(&le, KUP);
    cr_assert_str_eq(le.buf, "first");
    cr_assert_eq(le_key(&le, KUP), LE_NONE, "no older entry");
    le_key(&le, KDOWN);
    cr_assert_str_eq(le.buf, "second");
    le_key(&le, KDOWN);
    cr_assert_str_eq(le.buf, "draft", "back to the line being typed");
}

Test(ui_lineedit, draw_scrolls_to_cursor) {
    CellBuf cb;
    cb_init(&cb, 10, 1);
    LineEdit le;
    le_init(&le);
    type(&le, "abcdefghijklmnop");
    le_draw(&le, &cb, 0, 0, 10, (Style){COL_DEFAULT, COL_DEFAULT, 0}, 1);
    cr_assert_eq(cb_at(&cb, 9, 0)->attr & CA_REVERSE, CA_REVERSE, "cursor at the right edge");
    cr_assert_eq(cb_at(&cb, 8, 0)->ch, (uint32_t)'p');
    cb_free(&cb);
}

/* ---- cell buffer ---- */

Test(ui_text, cell_buffer_text) {
    CellBuf cb;
    cb_init(&cb, 12, 2);
    Style st = {COL_DEFAULT, COL_DEFAULT, 0};
    int n = cb_text(&cb, 1, 0, 20, "h\xc3\xa9llo \xe2\x96\x80", st);
    cr_assert_eq(n, 7);
    cb_text(&cb, 0, 1, 3, "truncated", st);
    char *t = cb_to_text(&cb);
    cr_assert_str_eq(t, " h\xc3\xa9llo \xe2\x96\x80\ntru");
    free(t);
    cr_assert(cb_contains(&cb, "llo"));
    cr_assert_not(cb_contains(&cb, "trun"));
    /* invalid UTF-8 shows U+FFFD, control characters '?' */
    cb_clear(&cb);
    cb_text(&cb, 0, 0, 12, "a\xff\x01", st);
    cr_assert_eq(cb_at(&cb, 1, 0)->ch, 0xFFFDu);
    cr_assert_eq(cb_at(&cb, 2, 0)->ch, (uint32_t)'?');
    /* writes outside the buffer are ignored */
    cb_put(&cb, -1, 0, 'x', st);
    cb_put(&cb, 12, 1, 'x', st);
    cb_resize(&cb, 3, 1);
    cr_assert_eq(cb.w * cb.h, 3);
    cb_free(&cb);
}
