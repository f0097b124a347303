/* export.c — loss curves and attention heatmaps as PNG and SVG, metrics.csv in and out (see export.h).
 * PNG: the pictures are rasterised here into an RGB buffer (lines, dashes, markers and a 3x5 pixel font for
 * labels and numbers), then encoded by libpng's simplified API. SVG: written as text with the same geometry,
 * real <text> labels and a <title> tooltip on every heatmap cell. */
#include "export.h"

#include <ctype.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMA_TRAIN 0.9   /* the Train screen's smoothing of the training curve */

typedef struct Rgb {
    uint8_t r, g, b;
} Rgb;

static const Rgb C_WHITE = {255, 255, 255}, C_BLACK = {0, 0, 0}, C_GRID = {225, 225, 225},
                 C_TRAIN_RAW = {170, 190, 225}, C_TRAIN = {20, 60, 160}, C_VAL = {190, 30, 30},
                 C_MASK = {238, 238, 238}, C_HATCH = {185, 185, 185}, C_LABEL = {60, 60, 60};

/* ---- a growable string for SVG ---- */

typedef struct Sb {
    char *s;
    size_t len, cap;
} Sb;

static void sb_printf(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(Sb *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && (size_t)k < room) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)k + 1) cap *= 2;
        b->s = lw_realloc(b->s, cap);
        b->cap = cap;
    }
}

/* Appends text escaped for XML character data and attributes; invalid UTF-8 bytes become U+FFFD, control
 * characters become their visible forms. */
static void sb_xml(Sb *b, const char *t) {
    size_t n = strlen(t);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)t[i];
        int k = lw_utf8_len((const unsigned char *)t + i, n - i);
        if (c >= 0x80) {
            if (k <= 0) {
                sb_printf(b, "\xef\xbf\xbd");
                i++;
            } else {
                sb_printf(b, "%.*s", k, t + i);
                i += (size_t)k;
            }
            continue;
        }
        i++;
        switch (c) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        case ' ': sb_printf(b, "\xe2\x8b\x85"); break;   /* ⋅ visible space, as on the screens */
        case '\n': sb_printf(b, "\xe2\x86\xb5"); break;  /* ↵ */
        case '\t': sb_printf(b, "\xe2\x86\x92"); break;  /* → */
        default:
            if (c < 0x20 || c == 0x7f) sb_printf(b, "\\x%02X", c);
            else sb_printf(b, "%c", c);
        }
    }
}

static int sb_write(Sb *b, const char *path, LwError *e) {
    int rc = lw_write_file_atomic(path, b->s ? b->s : "", b->len, e);
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    return rc;
}

/* ---- an RGB raster ---- */

typedef struct Img {
    int w, h;
    uint8_t *px;   /* (h, w, 3) */
} Img;

static void img_init(Img *im, int w, int h) {
    im->w = w, im->h = h;
    im->px = lw_malloc((size_t)w * (size_t)h * 3);
    memset(im->px, 255, (size_t)w * (size_t)h * 3);
}

static void img_put(Img *im, int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

static void img_fill(Img *im, int x, int y, int w, int h, Rgb c) {
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) img_put(im, i, j, c);
}

/* A line of the given thickness; dash > 0 draws dash pixels on, dash/2 off, with *phase carried across
 * segments so a polyline's pattern is continuous. */
static void img_line(Img *im, double x0, double y0, double x1, double y1, int thick, int dash, long *phase, Rgb c) {
    double dx = x1 - x0, dy = y1 - y0;
    int steps = (int)ceil(fmax(fabs(dx), fabs(dy)));
    if (steps < 1) steps = 1;
    int r0 = -(thick - 1) / 2, r1 = thick / 2;
    for (int s = 0; s <= steps; s++) {
        long ph = phase ? (*phase)++ : 0;
        if (dash > 0 && ph % (dash + dash / 2) >= dash) continue;
        int x = (int)lround(x0 + dx * s / steps), y = (int)lround(y0 + dy * s / steps);
        for (int j = r0; j <= r1; j++)
            for (int i = r0; i <= r1; i++) img_put(im, x + i, y + j, c);
    }
}

/* 3x5 glyphs, rows top to bottom, '1' = ink. Lowercase letters are drawn as capitals. */
static const struct {
    char c;
    const char *bits;
} FONT[] = {
    {'0', "111101101101111"}, {'1', "010110010010111"}, {'2', "111001111100111"}, {'3', "111001111001111"},
    {'4', "101101111001001"}, {'5', "111100111001111"}, {'6', "111100111101111"}, {'7', "111001001001001"},
    {'8', "111101111101111"}, {'9', "111101111001111"}, {'A', "010101111101101"}, {'B', "110101110101110"},
    {'C', "011100100100011"}, {'D', "110101101101110"}, {'E', "111100110100111"}, {'F', "111100110100100"},
    {'G', "011100101101011"}, {'H', "101101111101101"}, {'I', "111010010010111"}, {'J', "001001001101010"},
    {'K', "101101110101101"}, {'L', "100100100100111"}, {'M', "101111111101101"}, {'N', "110101101101101"},
    {'O', "010101101101010"}, {'P', "110101110100100"}, {'Q', "010101101110011"}, {'R', "110101110101101"},
    {'S', "011100010001110"}, {'T', "111010010010010"}, {'U', "101101101101111"}, {'V', "101101101101010"},
    {'W', "101101111111101"}, {'X', "101101010101101"}, {'Y', "101101010010010"}, {'Z', "111001010100111"},
    {'.', "000000000000010"}, {'-', "000000111000000"}, {'+', "000010111010000"}, {':', "000010000010000"},
    {'=', "000111000111000"}, {'/', "001001010100100"}, {'(', "010100100100010"}, {')', "010001001001010"},
    {'%', "101001010100101"}, {',', "000000000010100"}, {'_', "000000000000111"}, {'?', "111001010000010"},
    {'>', "100010001010100"}, {'<', "001010100010001"}, {'#', "101111101111101"}, {'*', "000101010101000"},
};

static const char *font_glyph(char c) {
    c = (char)toupper((unsigned char)c);
    for (size_t i = 0; i < LW_ARRAY_LEN(FONT); i++)
        if (FONT[i].c == c) return FONT[i].bits;
    return NULL;   /* space and unknown characters: blank */
}

static int img_text_w(const char *s, int scale) { return (int)strlen(s) * 4 * scale - scale; }

/* Draws s with its top-left corner at (x, y); each glyph is 3x5 pixels times scale, advancing 4*scale. */
static void img_text(Img *im, int x, int y, const char *s, int scale, Rgb c) {
    for (; *s; s++, x += 4 * scale) {
        const char *g = font_glyph(*s);
        if (!g) continue;
        for (int r = 0; r < 5; r++)
            for (int col = 0; col < 3; col++)
                if (g[r * 3 + col] == '1') img_fill(im, x + col * scale, y + r * scale, scale, scale, c);
    }
}

static int img_write_png(Img *im, const char *path, LwError *e) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)im->w;
    pi.height = (png_uint_32)im->h;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    int rc = LW_OK;
    if (!png_image_write_to_memory(&pi, NULL, &size, 0, im->px, 0, NULL)) {
        rc = lw_fail(e, LW_ERR_IO, "%s: PNG encoding failed: %s", path, pi.message);
    } else {
        void *buf = lw_malloc(size);
        if (!png_image_write_to_memory(&pi, buf, &size, 0, im->px, 0, NULL))
            rc = lw_fail(e, LW_ERR_IO, "%s: PNG encoding failed: %s", path, pi.message);
        else
            rc = lw_write_file_atomic(path, buf, size, e);
        free(buf);
    }
    png_image_free(&pi);
    free(im->px);
    im->px = NULL;
    return rc;
}

/* ---- loss plot geometry, shared by PNG and SVG ---- */

/* The frame every line plot shares (the loss curves, the health ratios): picture size, plot area, data range
 * and ticks, title and x label. */
typedef struct PlotAxes {
    int W, H;
    int px0, py0, pw, ph;           /* plot area */
    double x0, x1, y0, y1;          /* data range (y in log10 when logy) */
    int logy;
    double xt[16], yt[16];          /* ticks, in data units (not log10) */
    int nxt, nyt;
    char title[128];
    const char *xlabel;
} PlotAxes;

typedef struct LossPlot {
    PlotAxes ax;
    int n, nv;
    double *x, *raw, *ema, *vx, *vy; /* one block */
} LossPlot;

/* Ticks at "nice" multiples (1, 2, 5 x 10^k) inside [lo, hi]; returns how many. */
static int nice_ticks(double lo, double hi, int want, double *out, int max) {
    double span = hi - lo;
    if (!(span > 0)) {
        out[0] = lo;
        return 1;
    }
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    int n = 0;
    for (double t = ceil(lo / step) * step; t <= hi + step * 1e-9 && n < max; t += step)
        out[n++] = fabs(t) < step * 1e-9 ? 0 : t;
    return n;
}

static void ema_debias(const double *y, int n, double w, double *out) {
    double last = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            out[i] = k ? out[i - 1] : NAN;
            continue;
        }
        last = w * last + (1 - w) * y[i];
        k++;
        out[i] = last / (1 - pow(w, k));
    }
}

static double ax_tx(const PlotAxes *a, double x) { return a->px0 + (x - a->x0) / (a->x1 - a->x0) * a->pw; }
static double ax_ty(const PlotAxes *a, double y) {
    double v = a->logy ? log10(y) : y;
    return a->py0 + a->ph - (v - a->y0) / (a->y1 - a->y0) * a->ph;
}

/* The data range [xlo, xhi] x [ylo, yhi] (y in log10 when logy; empty or flat ranges widened), y padded by 5%,
 * and the ticks. */
static void axes_range(PlotAxes *a, double xlo, double xhi, double ylo, double yhi) {
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;
    if (xhi - xlo < 1e-12) xhi = xlo + 1;
    if (!(ylo <= yhi)) ylo = 0, yhi = 1;
    if (yhi - ylo < 1e-9) ylo -= 0.5, yhi += 0.5;
    double pad = 0.05 * (yhi - ylo);
    a->x0 = xlo, a->x1 = xhi, a->y0 = ylo - pad, a->y1 = yhi + pad;
    a->nxt = nice_ticks(a->x0, a->x1, 6, a->xt, 16);
    if (a->logy) {
        double t[16];
        int k = nice_ticks(pow(10, a->y0), pow(10, a->y1), 5, t, 16);
        for (int i = 0; i < k; i++)
            if (t[i] > 0) a->yt[a->nyt++] = t[i];
    } else {
        a->nyt = nice_ticks(a->y0, a->y1, 5, a->yt, 16);
    }
}
static int lp_ok(const LossPlot *lp, double y) { return isfinite(y) && (!lp->ax.logy || y > 0); }

static void loss_prepare(LossPlot *lp, const MetricPoint *m, int n, const ExportPlotOpts *o) {
    memset(lp, 0, sizeof *lp);
    lp->ax.W = o && o->width > 0 ? o->width : 960;
    lp->ax.H = o && o->height > 0 ? o->height : 540;
    if (lp->ax.W < 200) lp->ax.W = 200;
    if (lp->ax.H < 150) lp->ax.H = 150;
    lp->ax.logy = o ? o->logy : 0;
    int by_tokens = o ? o->by_tokens : 0;
    lp->ax.xlabel = by_tokens ? "tokens" : "step";
    snprintf(lp->ax.title, sizeof lp->ax.title, "%s", o && o->title ? o->title : "Loss");
    lp->ax.px0 = 80, lp->ax.py0 = 50;
    lp->ax.pw = lp->ax.W - lp->ax.px0 - 90;
    lp->ax.ph = lp->ax.H - lp->ax.py0 - 50;
    lp->n = n < 0 ? 0 : n;
    lp->x = lw_malloc(sizeof(double) * (size_t)(lp->n + 1) * 5);
    lp->raw = lp->x + lp->n + 1, lp->ema = lp->raw + lp->n + 1, lp->vx = lp->ema + lp->n + 1;
    lp->vy = lp->vx + lp->n + 1;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < lp->n; i++) {
        lp->x[i] = by_tokens ? (double)m[i].tokens : (double)m[i].step;
        lp->raw[i] = lp_ok(lp, m[i].train_loss) ? m[i].train_loss : NAN;
        if (lp_ok(lp, m[i].val_loss)) lp->vx[lp->nv] = lp->x[i], lp->vy[lp->nv++] = m[i].val_loss;
        xlo = fmin(xlo, lp->x[i]), xhi = fmax(xhi, lp->x[i]);
        double ys[2] = {lp->raw[i], m[i].val_loss};
        for (int k = 0; k < 2; k++)
            if (lp_ok(lp, ys[k])) {
                double v = lp->ax.logy ? log10(ys[k]) : ys[k];
                ylo = fmin(ylo, v), yhi = fmax(yhi, v);
            }
    }
    ema_debias(lp->raw, lp->n, EMA_TRAIN, lp->ema);
    axes_range(&lp->ax, xlo, xhi, ylo, yhi);
}

static void fmt_num(char *buf, size_t n, double v) {
    if (fabs(v) >= 1e5 && fabs(v) == floor(fabs(v))) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, "%.4g", v);
}

/* The PNG frame: grid lines with their tick labels, the border, the title, the x label and ylabel. */
static void axes_png(Img *im, const PlotAxes *a, const char *ylabel) {
    char buf[64];
    for (int i = 0; i < a->nyt; i++) {
        int y = (int)lround(ax_ty(a, a->yt[i]));
        img_line(im, a->px0, y, a->px0 + a->pw, y, 1, 0, NULL, C_GRID);
        fmt_num(buf, sizeof buf, a->yt[i]);
        img_text(im, a->px0 - 8 - img_text_w(buf, 2), y - 5, buf, 2, C_LABEL);
    }
    for (int i = 0; i < a->nxt; i++) {
        int x = (int)lround(ax_tx(a, a->xt[i]));
        img_line(im, x, a->py0, x, a->py0 + a->ph, 1, 0, NULL, C_GRID);
        fmt_num(buf, sizeof buf, a->xt[i]);
        img_text(im, x - img_text_w(buf, 2) / 2, a->py0 + a->ph + 8, buf, 2, C_LABEL);
    }
    img_line(im, a->px0, a->py0, a->px0 + a->pw, a->py0, 1, 0, NULL, C_BLACK);
    img_line(im, a->px0, a->py0 + a->ph, a->px0 + a->pw, a->py0 + a->ph, 1, 0, NULL, C_BLACK);
    img_line(im, a->px0, a->py0, a->px0, a->py0 + a->ph, 1, 0, NULL, C_BLACK);
    img_line(im, a->px0 + a->pw, a->py0, a->px0 + a->pw, a->py0 + a->ph, 1, 0, NULL, C_BLACK);
    img_text(im, a->px0, 12, a->title, 3, C_BLACK);
    img_text(im, a->px0 + a->pw / 2 - img_text_w(a->xlabel, 2) / 2, a->H - 18, a->xlabel, 2, C_BLACK);
    img_text(im, 8, a->py0 - 20, ylabel, 2, C_BLACK);
}

/* The y pixel of the end labels (train, val), nudged apart when they would overlap. */
static void lp_end_labels(const LossPlot *lp, double *ty, double *vy) {
    *ty = *vy = NAN;
    for (int i = lp->n - 1; i >= 0; i--)
        if (isfinite(lp->ema[i])) { *ty = ax_ty(&lp->ax, lp->ema[i]); break; }
    if (lp->nv > 0) *vy = ax_ty(&lp->ax, lp->vy[lp->nv - 1]);
    if (isfinite(*ty) && isfinite(*vy) && fabs(*ty - *vy) < 16) {
        if (*vy >= *ty) *vy = *ty + 16;
        else *ty = *vy + 16;
    }
}

int export_loss_png(const char *path, const MetricPoint *m, int n, const ExportPlotOpts *o, LwError *e) {
    LossPlot lp;
    loss_prepare(&lp, m, n, o);
    Img im;
    img_init(&im, lp.ax.W, lp.ax.H);
    axes_png(&im, &lp.ax, lp.ax.logy ? "loss (log)" : "loss");
    /* legend: solid thick = train (thin = raw), dashed with squares = val */
    int lx = lp.ax.W - 360, ly = 20;
    img_line(&im, lx, ly, lx + 30, ly, 3, 0, NULL, C_TRAIN);
    img_text(&im, lx + 38, ly - 5, "train (thin: raw)", 2, C_BLACK);
    long ph = 0;
    img_line(&im, lx + 200, ly, lx + 240, ly, 2, 8, &ph, C_VAL);
    img_fill(&im, lx + 217, ly - 3, 7, 7, C_VAL);
    img_text(&im, lx + 248, ly - 5, "val", 2, C_BLACK);
    if (lp.n == 0) img_text(&im, lp.ax.px0 + 20, lp.ax.py0 + 20, "no steps yet", 2, C_LABEL);
    /* series: raw, EMA, val */
    for (int pass = 0; pass < 2; pass++) {
        const double *ys = pass == 0 ? lp.raw : lp.ema;
        int prev = -1;
        for (int i = 0; i < lp.n; i++) {
            if (!lp_ok(&lp, ys[i])) { prev = -1; continue; }
            if (prev >= 0)
                img_line(&im, ax_tx(&lp.ax, lp.x[prev]), ax_ty(&lp.ax, ys[prev]), ax_tx(&lp.ax, lp.x[i]), ax_ty(&lp.ax, ys[i]),
                         pass == 0 ? 1 : 3, 0, NULL, pass == 0 ? C_TRAIN_RAW : C_TRAIN);
            else if (lp.n == 1 || (i + 1 < lp.n && !lp_ok(&lp, ys[i + 1])))
                img_fill(&im, (int)ax_tx(&lp.ax, lp.x[i]) - 1, (int)ax_ty(&lp.ax, ys[i]) - 1, 3, 3, C_TRAIN);
            prev = i;
        }
    }
    ph = 0;
    for (int i = 1; i < lp.nv; i++)
        img_line(&im, ax_tx(&lp.ax, lp.vx[i - 1]), ax_ty(&lp.ax, lp.vy[i - 1]), ax_tx(&lp.ax, lp.vx[i]), ax_ty(&lp.ax, lp.vy[i]), 2,
                 8, &ph, C_VAL);
    for (int i = 0; i < lp.nv; i++)
        img_fill(&im, (int)lround(ax_tx(&lp.ax, lp.vx[i])) - 3, (int)lround(ax_ty(&lp.ax, lp.vy[i])) - 3, 7, 7, C_VAL);
    double ty, vy;
    lp_end_labels(&lp, &ty, &vy);
    if (isfinite(ty)) img_text(&im, lp.ax.px0 + lp.ax.pw + 8, (int)ty - 5, "train", 2, C_TRAIN);
    if (isfinite(vy)) img_text(&im, lp.ax.px0 + lp.ax.pw + 8, (int)vy - 5, "val", 2, C_VAL);
    free(lp.x);
    return img_write_png(&im, path, e);
}

static void svg_begin(Sb *b, int W, int H) {
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"DejaVu Sans, sans-serif\" font-size=\"14\">\n"
                 "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
              W, H, W, H, W, H);
}

/* The SVG frame: grid lines, the border, the tick labels, the title, the x label and ylabel. */
static void axes_svg(Sb *b, const PlotAxes *a, const char *ylabel) {
    sb_printf(b, "<g stroke=\"#e1e1e1\" stroke-width=\"1\">\n");
    for (int i = 0; i < a->nyt; i++) {
        double y = ax_ty(a, a->yt[i]);
        sb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", a->px0, y, a->px0 + a->pw, y);
    }
    for (int i = 0; i < a->nxt; i++) {
        double x = ax_tx(a, a->xt[i]);
        sb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, a->py0, x, a->py0 + a->ph);
    }
    sb_printf(b, "</g>\n<path d=\"M%d,%d H%d V%d H%d Z\" fill=\"none\" stroke=\"#000000\"/>\n", a->px0, a->py0,
              a->px0 + a->pw, a->py0 + a->ph, a->px0);
    char buf[64];
    sb_printf(b, "<g fill=\"#3c3c3c\" font-size=\"13\">\n");
    for (int i = 0; i < a->nyt; i++) {
        fmt_num(buf, sizeof buf, a->yt[i]);
        sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", a->px0 - 8, ax_ty(a, a->yt[i]) + 5,
                  buf);
    }
    for (int i = 0; i < a->nxt; i++) {
        fmt_num(buf, sizeof buf, a->xt[i]);
        sb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", ax_tx(a, a->xt[i]),
                  a->py0 + a->ph + 20, buf);
    }
    sb_printf(b, "</g>\n<text x=\"%d\" y=\"30\" font-size=\"20\" font-weight=\"bold\">", a->px0);
    sb_xml(b, a->title);
    sb_printf(b, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", a->px0 + a->pw / 2, a->H - 10,
              a->xlabel);
    sb_printf(b, "<text x=\"8\" y=\"%d\">%s</text>\n", a->py0 - 12, ylabel);
}

static void svg_polyline(Sb *b, const LossPlot *lp, const double *xs, const double *ys, int n, const char *style) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= lp_ok(lp, ys[i]);
    if (!any) return;
    sb_printf(b, "<polyline fill=\"none\" %s points=\"", style);
    for (int i = 0, first = 1; i < n; i++) {
        if (!lp_ok(lp, ys[i])) continue;
        sb_printf(b, "%s%.1f,%.1f", first ? "" : " ", ax_tx(&lp->ax, xs[i]), ax_ty(&lp->ax, ys[i]));
        first = 0;
    }
    sb_printf(b, "\"/>\n");
}

int export_loss_svg(const char *path, const MetricPoint *m, int n, const ExportPlotOpts *o, LwError *e) {
    LossPlot lp;
    loss_prepare(&lp, m, n, o);
    Sb b = {0};
    svg_begin(&b, lp.ax.W, lp.ax.H);
    axes_svg(&b, &lp.ax, lp.ax.logy ? "loss (log)" : "loss");
    int lx = lp.ax.W - 360, ly = 20;
    sb_printf(&b,
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#143ca0\" stroke-width=\"3\"/>\n"
              "<text x=\"%d\" y=\"%d\">train (thin: raw)</text>\n"
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#be1e1e\" stroke-width=\"2\" "
              "stroke-dasharray=\"8 4\"/>\n"
              "<path d=\"M%d,%d h7 v7 h-7 Z\" fill=\"#be1e1e\"/>\n<text x=\"%d\" y=\"%d\">val</text>\n",
              lx, ly, lx + 30, ly, lx + 38, ly + 5, lx + 200, ly, lx + 240, ly, lx + 217, ly - 3, lx + 248, ly + 5);
    if (lp.n == 0) sb_printf(&b, "<text x=\"%d\" y=\"%d\">no steps yet</text>\n", lp.ax.px0 + 20, lp.ax.py0 + 30);
    svg_polyline(&b, &lp, lp.x, lp.raw, lp.n, "stroke=\"#aabee1\" stroke-width=\"1\"");
    svg_polyline(&b, &lp, lp.x, lp.ema, lp.n, "stroke=\"#143ca0\" stroke-width=\"3\"");
    svg_polyline(&b, &lp, lp.vx, lp.vy, lp.nv, "stroke=\"#be1e1e\" stroke-width=\"2\" stroke-dasharray=\"8 4\"");
    for (int i = 0; i < lp.nv; i++)
        sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"#be1e1e\"/>\n",
                  ax_tx(&lp.ax, lp.vx[i]) - 3.5, ax_ty(&lp.ax, lp.vy[i]) - 3.5);
    double ty, vy;
    lp_end_labels(&lp, &ty, &vy);
    if (isfinite(ty))
        sb_printf(&b, "<text x=\"%d\" y=\"%.1f\" fill=\"#143ca0\" font-weight=\"bold\">train</text>\n",
                  lp.ax.px0 + lp.ax.pw + 8, ty + 5);
    if (isfinite(vy))
        sb_printf(&b, "<text x=\"%d\" y=\"%.1f\" fill=\"#be1e1e\" font-weight=\"bold\">val</text>\n",
                  lp.ax.px0 + lp.ax.pw + 8, vy + 5);
    sb_printf(&b, "</svg>\n");
    free(lp.x);
    return sb_write(&b, path, e);
}

/* ---- training health: the update/weight ratio per group ---- */

static const Rgb HEALTH_RGB[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                   {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
static const Rgb C_GUIDE = {90, 90, 90};

typedef struct HealthPlot {
    PlotAxes ax;
    int ng;
} HealthPlot;

static void health_prepare(HealthPlot *g, const HealthPoint *h, int n, const ExportPlotOpts *o) {
    memset(g, 0, sizeof *g);
    g->ax.W = o && o->width > 0 ? o->width : 960;
    g->ax.H = o && o->height > 0 ? o->height : 540;
    if (g->ax.W < 300) g->ax.W = 300;
    if (g->ax.H < 150) g->ax.H = 150;
    g->ax.xlabel = "step";
    snprintf(g->ax.title, sizeof g->ax.title, "%s", o && o->title ? o->title : "Update/weight ratio");
    g->ax.px0 = 80, g->ax.py0 = 50, g->ax.pw = g->ax.W - g->ax.px0 - 130, g->ax.ph = g->ax.H - g->ax.py0 - 50;
    g->ng = n > 0 ? LW_MIN(h[n - 1].n_groups, HEALTH_MAX_GROUPS) : 0;
    double xlo = INFINITY, xhi = -INFINITY, ylo = HEALTH_RATIO_GUIDE, yhi = HEALTH_RATIO_GUIDE;
    for (int i = 0; i < n; i++) {
        xlo = fmin(xlo, (double)h[i].step), xhi = fmax(xhi, (double)h[i].step);
        for (int k = 0; k < g->ng; k++)
            if (isfinite(h[i].update_ratio[k])) ylo = fmin(ylo, h[i].update_ratio[k]), yhi = fmax(yhi, h[i].update_ratio[k]);
    }
    axes_range(&g->ax, xlo, xhi, ylo, yhi);
}

int export_health_png(const char *path, const HealthPoint *h, int n, const ExportPlotOpts *o, LwError *e) {
    HealthPlot g;
    health_prepare(&g, h, n, o);
    Img im;
    img_init(&im, g.ax.W, g.ax.H);
    axes_png(&im, &g.ax, "log10 ratio");
    if (n == 0) img_text(&im, g.ax.px0 + 20, g.ax.py0 + 20, "no steps yet", 2, C_LABEL);
    long ph = 0;
    int gy = (int)lround(ax_ty(&g.ax, HEALTH_RATIO_GUIDE));
    img_line(&im, g.ax.px0, gy, g.ax.px0 + g.ax.pw, gy, 2, 10, &ph, C_GUIDE);
    for (int k = 0; k < g.ng; k++) {
        int prev = -1;
        for (int i = 0; i < n; i++) {
            float v = h[i].update_ratio[k];
            if (!isfinite(v)) { prev = -1; continue; }
            if (prev >= 0)
                img_line(&im, ax_tx(&g.ax, (double)h[prev].step), ax_ty(&g.ax, h[prev].update_ratio[k]), ax_tx(&g.ax, (double)h[i].step),
                         ax_ty(&g.ax, v), 2, 0, NULL, HEALTH_RGB[k % 10]);
            else
                img_fill(&im, (int)lround(ax_tx(&g.ax, (double)h[i].step)) - 1, (int)lround(ax_ty(&g.ax, v)) - 1, 3, 3, HEALTH_RGB[k % 10]);
            prev = i;
        }
    }
    img_text(&im, g.ax.px0 + g.ax.pw + 8, gy - 5, "1E-3 GUIDE", 2, C_GUIDE);
    for (int k = 0; k < g.ng; k++) { /* the legend, right of the plot */
        char name[32];
        engine_health_group_name(k, g.ng, name, sizeof name);
        int ly = g.ax.py0 + 8 + 18 * k;
        img_line(&im, g.ax.px0 + g.ax.pw + 8, ly, g.ax.px0 + g.ax.pw + 28, ly, 3, 0, NULL, HEALTH_RGB[k % 10]);
        img_text(&im, g.ax.px0 + g.ax.pw + 34, ly - 5, name, 2, C_BLACK);
    }
    return img_write_png(&im, path, e);
}

int export_health_svg(const char *path, const HealthPoint *h, int n, const ExportPlotOpts *o, LwError *e) {
    HealthPlot g;
    health_prepare(&g, h, n, o);
    Sb b = {0};
    svg_begin(&b, g.ax.W, g.ax.H);
    axes_svg(&b, &g.ax, "log10(|update| / |weights|)");
    if (n == 0) sb_printf(&b, "<text x=\"%d\" y=\"%d\">no steps yet</text>\n", g.ax.px0 + 20, g.ax.py0 + 30);
    double gy = ax_ty(&g.ax, HEALTH_RATIO_GUIDE);
    sb_printf(&b,
              "<line class=\"guide\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#5a5a5a\" stroke-width=\"2\" "
              "stroke-dasharray=\"10 5\"/>\n<text x=\"%d\" y=\"%.1f\" fill=\"#5a5a5a\">1e-3 guideline</text>\n",
              g.ax.px0, gy, g.ax.px0 + g.ax.pw, gy, g.ax.px0 + g.ax.pw + 8, gy + 5);
    for (int k = 0; k < g.ng; k++) {
        const Rgb c = HEALTH_RGB[k % 10];
        int any = 0;
        for (int i = 0; i < n; i++) any |= isfinite(h[i].update_ratio[k]);
        if (any) {
            sb_printf(&b, "<polyline fill=\"none\" stroke=\"#%02x%02x%02x\" stroke-width=\"2\" points=\"", c.r, c.g, c.b);
            for (int i = 0, first = 1; i < n; i++) {
                if (!isfinite(h[i].update_ratio[k])) continue;
                sb_printf(&b, "%s%.1f,%.1f", first ? "" : " ", ax_tx(&g.ax, (double)h[i].step), ax_ty(&g.ax, h[i].update_ratio[k]));
                first = 0;
            }
            sb_printf(&b, "\"/>\n");
        }
        char name[32];
        engine_health_group_name(k, g.ng, name, sizeof name);
        int ly = g.ax.py0 + 30 + 20 * k;
        sb_printf(&b,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#%02x%02x%02x\" stroke-width=\"3\"/>\n"
                  "<text x=\"%d\" y=\"%d\">%s</text>\n",
                  g.ax.px0 + g.ax.pw + 8, ly, g.ax.px0 + g.ax.pw + 28, ly, c.r, c.g, c.b, g.ax.px0 + g.ax.pw + 34, ly + 5, name);
    }
    sb_printf(&b, "</svg>\n");
    return sb_write(&b, path, e);
}

/* ---- attention heatmaps ---- */

/* A viridis-like sequential ramp: luminance rises with v in [0, 1], so it reads in grey too. */
static Rgb ramp_rgb(double v) {
    static const Rgb K[5] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!(v > 0)) v = 0;
    if (v > 1) v = 1;
    double t = v * 4;
    int i = (int)t;
    if (i >= 4) return K[4];
    double f = t - i;
    return (Rgb){(uint8_t)lround(K[i].r + f * (K[i + 1].r - K[i].r)), (uint8_t)lround(K[i].g + f * (K[i + 1].g - K[i].g)),
                 (uint8_t)lround(K[i].b + f * (K[i + 1].b - K[i].b))};
}

static int rgb_dark(Rgb c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b < 128; }

/* The (T, T) map of layer l, head h (EXPORT_HEAD_AVG: the average, computed into buf). */
static const float *attn_map(const ProbeSnapshot *p, int l, int h, float *buf) {
    size_t TT = (size_t)p->T * (size_t)p->T;
    if (h >= 0) return p->att + ((size_t)l * (size_t)p->NH + (size_t)h) * TT;
    for (size_t i = 0; i < TT; i++) buf[i] = 0;
    for (int hh = 0; hh < p->NH; hh++) {
        const float *m = p->att + ((size_t)l * (size_t)p->NH + (size_t)hh) * TT;
        for (size_t i = 0; i < TT; i++) buf[i] += m[i] / (float)p->NH;
    }
    return buf;
}

#define ATTN_LABEL_CHARS 8   /* characters of a token label in the PNG */

/* Geometry of an attention picture: one map, or the grid of L x NH tiles. */
typedef struct AttnGeom {
    int grid, L, NH, T, cell;
    int mx, my;          /* top-left of the first map */
    int tile, gap;       /* map side in pixels, gap between tiles */
    int W, H;
    int cbx, cby, cbh;   /* colour bar */
    int layer, head;
} AttnGeom;

static int attn_geom(AttnGeom *g, const ProbeSnapshot *p, const ExportAttnOpts *o, const char *path, LwError *e) {
    memset(g, 0, sizeof *g);
    if (!p || !p->att || p->T <= 0 || p->L <= 0 || p->NH <= 0)
        return lw_fail(e, LW_ERR_INVALID, "%s: no attention in this probe snapshot", path);
    g->L = p->L, g->NH = p->NH, g->T = p->T;
    g->layer = o ? o->layer : 0;
    g->head = o ? o->head : 0;
    g->grid = g->layer == EXPORT_ALL_LAYERS;
    if (!g->grid && (g->layer < 0 || g->layer >= p->L))
        return lw_fail(e, LW_ERR_INVALID, "%s: layer %d out of range (the model has %d)", path, g->layer, p->L);
    if (!g->grid && g->head != EXPORT_HEAD_AVG && (g->head < 0 || g->head >= p->NH))
        return lw_fail(e, LW_ERR_INVALID, "%s: head %d out of range (the model has %d)", path, g->head, p->NH);
    int want = o && o->cell > 0 ? o->cell : 0;
    if (g->grid) {
        g->cell = want ? want : (160 / g->T > 2 ? 160 / g->T : 2);
        g->tile = g->T * g->cell;
        g->gap = 24;
        g->mx = 50, g->my = 60;
        g->W = g->mx + g->NH * (g->tile + g->gap) + 70;
        g->H = g->my + g->L * (g->tile + g->gap) + 10;
    } else {
        g->cell = want ? want : (640 / g->T > 48 ? 48 : 640 / g->T < 6 ? 6 : 640 / g->T);
        g->tile = g->T * g->cell;
        /* room for the token labels: "NN token" left of the rows, the key tokens stacked above the columns */
        g->mx = 140, g->my = 70 + ATTN_LABEL_CHARS * 12 + 16;
        g->W = g->mx + g->tile + 90;
        g->H = g->my + g->tile + 20;
    }
    g->cbx = g->W - 55, g->cby = g->my, g->cbh = g->tile < 200 ? 200 : g->tile;
    if (g->cby + g->cbh + 20 > g->H) g->H = g->cby + g->cbh + 20;
    return LW_OK;
}

/* A probe token as the 3x5 font can draw it, at most ATTN_LABEL_CHARS characters: space '_', newline '/',
 * tab '>', other bytes outside the font (UTF-8 included) '?'. */
static void attn_png_label(const char *tok, char *out) {
    int o = 0;
    for (const unsigned char *t = (const unsigned char *)tok; *t && o < ATTN_LABEL_CHARS; t++) {
        if ((*t & 0xC0) == 0x80) continue;   /* one '?' per UTF-8 character */
        char c = *t == ' ' ? '_' : *t == '\n' ? '/' : *t == '\t' ? '>' : (char)*t;
        out[o++] = *t < 0x80 && (font_glyph(c) || c == ' ') ? c : '?';
    }
    out[o] = '\0';
}

static void attn_title(const ProbeSnapshot *p, const AttnGeom *g, char *buf, size_t n) {
    if (g->grid) snprintf(buf, n, "Attention, all layers x heads, step %ld", p->step);
    else if (g->head == EXPORT_HEAD_AVG) snprintf(buf, n, "Attention, layer %d, average of heads, step %ld", g->layer, p->step);
    else snprintf(buf, n, "Attention, layer %d head %d, step %ld", g->layer, g->head, p->step);
}

int export_attention_png(const char *path, const ProbeSnapshot *p, const ExportAttnOpts *o, LwError *e) {
    AttnGeom g;
    int rc = attn_geom(&g, p, o, path, e);
    if (rc) return rc;
    Img im;
    img_init(&im, g.W, g.H);
    char title[160];
    attn_title(p, &g, title, sizeof title);
    img_text(&im, 10, 10, title, 2, C_BLACK);
    float *buf = lw_malloc(sizeof(float) * (size_t)g.T * (size_t)g.T);
    int nl = g.grid ? g.L : 1, nh = g.grid ? g.NH : 1;
    for (int li = 0; li < nl; li++)
        for (int hi = 0; hi < nh; hi++) {
            int l = g.grid ? li : g.layer, h = g.grid ? hi : g.head;
            const float *m = attn_map(p, l, h, buf);
            int ox = g.mx + hi * (g.tile + g.gap), oy = g.my + li * (g.tile + g.gap);
            if (g.grid) {
                char lab[32];
                snprintf(lab, sizeof lab, "L%d H%d", l, h);
                img_text(&im, ox, oy - 14, lab, 2, C_BLACK);
            }
            for (int q = 0; q < g.T; q++)
                for (int k = 0; k < g.T; k++) {
                    int x = ox + k * g.cell, y = oy + q * g.cell;
                    if (k > q) {
                        img_fill(&im, x, y, g.cell, g.cell, C_MASK);
                        for (int j = 0; j < g.cell; j++)
                            for (int i = 0; i < g.cell; i++)
                                if ((x + i + y + j) % 6 == 0) img_put(&im, x + i, y + j, C_HATCH);
                        continue;
                    }
                    Rgb c = ramp_rgb(m[q * g.T + k]);
                    img_fill(&im, x, y, g.cell, g.cell, c);
                    if (!g.grid && g.cell >= 28) {   /* the weight in percent, readable without colour */
                        char v[16];
                        snprintf(v, sizeof v, "%d", (int)lround(100.0 * m[q * g.T + k]));
                        img_text(&im, x + (g.cell - img_text_w(v, 2)) / 2, y + g.cell / 2 - 5, v, 2,
                                 rgb_dark(c) ? C_WHITE : C_BLACK);
                    }
                }
        }
    if (!g.grid) {   /* "index token" down the left (queries); along the top (keys) the index, tokens stacked above */
        int sc = g.cell >= 12 ? 2 : 1;
        int every = g.cell >= 6 * sc ? 1 : (6 * sc + g.cell - 1) / g.cell;
        for (int i = 0; i < g.T; i += every) {
            char v[16], lab[ATTN_LABEL_CHARS + 1], row[32];
            snprintf(v, sizeof v, "%d", i);
            attn_png_label(p->tok[i], lab);
            snprintf(row, sizeof row, "%s %s", v, lab);
            img_text(&im, g.mx - 6 - img_text_w(row, sc), g.my + i * g.cell + g.cell / 2 - 5 * sc / 2, row, sc, C_LABEL);
            int cx = g.mx + i * g.cell + (g.cell - 3 * sc) / 2;
            if (img_text_w(v, sc) <= g.cell)
                img_text(&im, g.mx + i * g.cell + (g.cell - img_text_w(v, sc)) / 2, g.my - 8 - 5 * sc, v, sc, C_LABEL);
            int n = (int)strlen(lab);
            for (int c = 0; c < n; c++) {   /* top to bottom, ending above the index row */
                char one[2] = {lab[c], '\0'};
                img_text(&im, cx, g.my - 8 - 5 * sc - (n - c) * 6 * sc - 4, one, sc, C_BLACK);
            }
        }
        img_text(&im, 10, g.my - 20, "query", 2, C_BLACK);
        img_text(&im, g.mx, 40, "key", 2, C_BLACK);
    }
    for (int s = 0; s < EXPORT_CBAR_STEPS; s++) {
        int y0 = g.cby + (EXPORT_CBAR_STEPS - 1 - s) * g.cbh / EXPORT_CBAR_STEPS;
        int y1 = g.cby + (EXPORT_CBAR_STEPS - s) * g.cbh / EXPORT_CBAR_STEPS;
        img_fill(&im, g.cbx, y0, 16, y1 - y0, ramp_rgb((s + 0.5) / EXPORT_CBAR_STEPS));
    }
    img_text(&im, g.cbx + 20, g.cby - 2, "1", 2, C_BLACK);
    img_text(&im, g.cbx + 20, g.cby + g.cbh - 10, "0", 2, C_BLACK);
    free(buf);
    return img_write_png(&im, path, e);
}

int export_attention_svg(const char *path, const ProbeSnapshot *p, const ExportAttnOpts *o, LwError *e) {
    AttnGeom g;
    int rc = attn_geom(&g, p, o, path, e);
    if (rc) return rc;
    Sb b = {0};
    svg_begin(&b, g.W, g.H);
    sb_printf(&b, "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
                  "<path d=\"M0,6 L6,0\" stroke=\"#b9b9b9\" stroke-width=\"1\"/></pattern></defs>\n");
    char title[160];
    attn_title(p, &g, title, sizeof title);
    sb_printf(&b, "<text x=\"10\" y=\"24\" font-size=\"18\" font-weight=\"bold\">%s</text>\n", title);
    if (!g.grid)
        sb_printf(&b, "<text x=\"10\" y=\"44\" fill=\"#3c3c3c\">rows: queries, columns: keys; hatched: masked "
                      "(the future)</text>\n");
    float *buf = lw_malloc(sizeof(float) * (size_t)g.T * (size_t)g.T);
    int nl = g.grid ? g.L : 1, nh = g.grid ? g.NH : 1;
    int values = !g.grid && g.T <= 16 && g.cell >= 24;
    for (int li = 0; li < nl; li++)
        for (int hi = 0; hi < nh; hi++) {
            int l = g.grid ? li : g.layer, h = g.grid ? hi : g.head;
            const float *m = attn_map(p, l, h, buf);
            int ox = g.mx + hi * (g.tile + g.gap), oy = g.my + li * (g.tile + g.gap);
            if (g.grid) sb_printf(&b, "<text x=\"%d\" y=\"%d\">L%d H%d</text>\n", ox, oy - 6, l, h);
            sb_printf(&b, "<g>\n");
            for (int q = 0; q < g.T; q++)
                for (int k = 0; k < g.T; k++) {
                    int x = ox + k * g.cell, y = oy + q * g.cell;
                    float v = m[q * g.T + k];
                    if (k > q) {
                        sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"url(#hatch)\"/>\n",
                                  x, y, g.cell, g.cell);
                        continue;
                    }
                    Rgb c = ramp_rgb(v);
                    sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\">"
                                  "<title>",
                              x, y, g.cell, g.cell, c.r, c.g, c.b);
                    sb_printf(&b, "L%d %s%d query %d ", l, h < 0 ? "avg" : "H", h < 0 ? 0 : h, q);
                    sb_xml(&b, p->tok[q]);
                    sb_printf(&b, " key %d ", k);
                    sb_xml(&b, p->tok[k]);
                    sb_printf(&b, ": %.4f</title></rect>\n", v);
                    if (values)
                        sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"middle\" fill=\"%s\">"
                                      "%.2f</text>\n",
                                  x + g.cell / 2, y + g.cell / 2 + g.cell / 8, g.cell * 3 / 10,
                                  rgb_dark(c) ? "#ffffff" : "#000000", v);
                }
            sb_printf(&b, "</g>\n");
        }
    if (!g.grid) {
        int fs = g.cell < 14 ? g.cell - 1 : 13;
        if (fs < 4) fs = 4;
        for (int i = 0; i < g.T; i++) {
            sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" text-anchor=\"end\">%d ", g.mx - 6,
                      g.my + i * g.cell + g.cell / 2 + fs / 3, fs, i);
            sb_xml(&b, p->tok[i]);
            sb_printf(&b, "</text>\n");
            int cx = g.mx + i * g.cell + g.cell / 2 + fs / 3, cy = g.my - 6;
            sb_printf(&b, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" transform=\"rotate(-90 %d %d)\">%d ", cx, cy, fs,
                      cx, cy, i);
            sb_xml(&b, p->tok[i]);
            sb_printf(&b, "</text>\n");
        }
    }
    for (int s = 0; s < EXPORT_CBAR_STEPS; s++) {
        int y0 = g.cby + (EXPORT_CBAR_STEPS - 1 - s) * g.cbh / EXPORT_CBAR_STEPS;
        int y1 = g.cby + (EXPORT_CBAR_STEPS - s) * g.cbh / EXPORT_CBAR_STEPS;
        Rgb c = ramp_rgb((s + 0.5) / EXPORT_CBAR_STEPS);
        sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"%d\" fill=\"#%02x%02x%02x\"/>\n", g.cbx, y0,
                  y1 - y0, c.r, c.g, c.b);
    }
    sb_printf(&b, "<text x=\"%d\" y=\"%d\">1.0</text>\n<text x=\"%d\" y=\"%d\">0.0</text>\n</svg>\n", g.cbx + 20,
              g.cby + 10, g.cbx + 20, g.cby + g.cbh);
    free(buf);
    return sb_write(&b, path, e);
}

/* ---- metrics.csv ---- */

enum { MC_STEP, MC_TOKENS, MC_TRAIN, MC_VAL, MC_LR, MC_GNORM, MC_TPS, MC_ELAPSED, MC_N };
static const char *const MC_NAMES[MC_N] = {"step", "tokens", "train_loss", "val_loss", "lr", "grad_norm",
                                           "tokens_per_sec", "elapsed"};

int export_metrics_read(const char *path, MetricPoint **out, int *n, LwError *e) {
    *out = NULL;
    *n = 0;
    char *data;
    size_t len;
    int rc = lw_read_file(path, &data, &len, e);
    if (rc) return rc;
    int col_of[MC_N];
    for (int i = 0; i < MC_N; i++) col_of[i] = -1;
    MetricPoint *rows = NULL;
    int nrows = 0, cap = 0, line = 0;
    char *p = data;
    rc = LW_OK;
    while (*p && rc == LW_OK) {
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        if (eol) *eol = '\0';
        if (eol && eol > p && eol[-1] == '\r') eol[-1] = '\0';
        line++;
        if (!*p) { p = next; continue; }
        if (line == 1) {   /* header */
            int col = 0;
            for (char *f = p; f; col++) {
                char *comma = strchr(f, ',');
                if (comma) *comma = '\0';
                for (int i = 0; i < MC_N; i++)
                    if (!strcmp(f, MC_NAMES[i])) col_of[i] = col;
                f = comma ? comma + 1 : NULL;
            }
            if (col_of[MC_STEP] < 0 || col_of[MC_TRAIN] < 0)
                rc = lw_fail(e, LW_ERR_PARSE, "%s:1:1: not a metrics.csv header (needs step and train_loss columns)",
                             path);
            p = next;
            continue;
        }
        MetricPoint mp = {0, 0, NAN, NAN, NAN, NAN, NAN, NAN};
        int col = 0;
        for (char *f = p; f && rc == LW_OK; col++) {
            char *comma = strchr(f, ',');
            if (comma) *comma = '\0';
            for (int i = 0; i < MC_N; i++) {
                if (col_of[i] != col) continue;
                double v = NAN;
                if (*f) {
                    char *end;
                    v = strtod(f, &end);
                    if (end == f || *end)
                        rc = lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: %s: not a number '%s'", path, line,
                                     (int)(f - p) + 1, MC_NAMES[i], f);
                } else if (i == MC_STEP) {
                    rc = lw_fail(e, LW_ERR_PARSE, "%s:%d:%d: step: empty", path, line, (int)(f - p) + 1);
                }
                switch (i) {
                case MC_STEP: mp.step = (long)v; break;
                case MC_TOKENS: mp.tokens = isfinite(v) ? (long)v : 0; break;
                case MC_TRAIN: mp.train_loss = (float)v; break;
                case MC_VAL: mp.val_loss = (float)v; break;
                case MC_LR: mp.lr = (float)v; break;
                case MC_GNORM: mp.grad_norm = (float)v; break;
                case MC_TPS: mp.tokens_per_sec = (float)v; break;
                default: mp.elapsed = v; break;
                }
            }
            f = comma ? comma + 1 : NULL;
        }
        if (rc == LW_OK && col <= col_of[MC_TRAIN])
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%d:1: too few columns (%d)", path, line, col);
        if (rc == LW_OK) {
            if (nrows == cap) {
                cap = cap ? 2 * cap : 256;
                rows = lw_realloc(rows, sizeof *rows * (size_t)cap);
            }
            rows[nrows++] = mp;
        }
        p = next;
    }
    free(data);
    if (rc == LW_OK && line == 0) rc = lw_fail(e, LW_ERR_PARSE, "%s:1:1: empty file", path);
    if (rc) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n = nrows;
    return LW_OK;
}

int export_metrics_write(const char *path, const MetricPoint *m, int n, LwError *e) {
    Sb b = {0};
    sb_printf(&b, "step,tokens,train_loss,val_loss,lr,grad_norm,tokens_per_sec,elapsed\n");
    for (int i = 0; i < n; i++) {
        sb_printf(&b, "%ld,%ld,%.6f,", m[i].step, m[i].tokens, m[i].train_loss);
        if (isfinite(m[i].val_loss)) sb_printf(&b, "%.6f", m[i].val_loss);
        sb_printf(&b, ",%.6g,%.6g,%.1f,%.3f\n", m[i].lr, m[i].grad_norm, m[i].tokens_per_sec, m[i].elapsed);
    }
    return sb_write(&b, path, e);
}

int export_text(const char *path, const char *text, LwError *e) {
    return lw_write_file_atomic(path, text, strlen(text), e);
}
