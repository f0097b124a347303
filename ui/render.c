/* render.c — the pure drawing helpers declared in render.h (no ncurses, no engine). */
#include "render.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

const int RAMP_SEQ[RAMP_SEQ_N] = {53, 238, 60, 61, 30, 31, 36, 72, 77, 113, 149, 220};
const int RAMP_DIV[RAMP_DIV_N] = {23, 25, 67, 116, 189, 231, 224, 216, 167, 124, 52};
const char GLYPH_RAMP[] = " .:-=+*#%@";

/* ---- capabilities ---- */

static int str_has(const char *s, const char *needle) { return s && strstr(s, needle) != NULL; }

ColorMode caps_select_color(const char *no_color, const char *colorterm, const char *term, int ncolors) {
    if (no_color) return CM_MONO;
    if (term && (strcmp(term, "dumb") == 0 || term[0] == '\0')) return CM_MONO;
    if (ncolors >= 0 && ncolors < 8) return CM_MONO;
    if (colorterm && (strcmp(colorterm, "truecolor") == 0 || strcmp(colorterm, "24bit") == 0)) return CM_TRUE;
    if (ncolors >= 256 || str_has(term, "256color") || str_has(term, "direct")) return CM_256;
    return CM_16;
}

int caps_locale_is_utf8(const char *name) {
    if (!name) return 0;
    for (const char *p = name; *p; p++) {
        if ((p[0] == 'U' || p[0] == 'u') && (p[1] == 'T' || p[1] == 't') && (p[2] == 'F' || p[2] == 'f')) {
            const char *q = p + 3;
            if (*q == '-' || *q == '_') q++;
            if (q[0] == '8') return 1;
        }
    }
    return 0;
}

void color_xterm_rgb(int idx, int *r, int *g, int *b) {
    static const unsigned char base[16][3] = {
        {0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205}, {0, 205, 205},
        {229, 229, 229}, {127, 127, 127}, {255, 0, 0}, {0, 255, 0}, {255, 255, 0}, {92, 92, 255},
        {255, 0, 255}, {0, 255, 255}, {255, 255, 255}};
    if (idx < 0) idx = 0;
    if (idx > 255) idx = 255;
    if (idx < 16) {
        *r = base[idx][0], *g = base[idx][1], *b = base[idx][2];
    } else if (idx < 232) {
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        int i = idx - 16;
        *r = lv[i / 36], *g = lv[(i / 6) % 6], *b = lv[i % 6];
    } else {
        int v = 8 + 10 * (idx - 232);
        *r = *g = *b = v;
    }
}

/* ---- UTF-8 ---- */

int utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) { *cp = 0xFFFD; return 1; }
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    int len = 0;
    uint32_t c = 0;
    if ((u[0] & 0xE0) == 0xC0) len = 2, c = u[0] & 0x1F;
    else if ((u[0] & 0xF0) == 0xE0) len = 3, c = u[0] & 0x0F;
    else if ((u[0] & 0xF8) == 0xF0) len = 4, c = u[0] & 0x07;
    else { *cp = 0xFFFD; return 1; }
    if ((size_t)len > n) { *cp = 0xFFFD; return 1; }
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        c = (c << 6) | (u[i] & 0x3F);
    }
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < minv[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { *cp = 0xFFFD; return 1; }
    *cp = c;
    return len;
}

int utf8_encode(uint32_t cp, char *out) {
    int n;
    if (cp < 0x80) out[0] = (char)cp, n = 1;
    else if (cp < 0x800) out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        out[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        out[0] = (char)(0xF0 | (cp >> 18)), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    out[n] = '\0';
    return n;
}

int utf8_cols(const char *s) {
    int n = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)utf8_decode(s + i, len - i, &cp);
        n++;
    }
    return n;
}

char *utf8_pad(const char *s, int cols, char *out, size_t n) {
    if (n == 0) return out;
    size_t o = (size_t)snprintf(out, n, "%s", s);
    if (o >= n) o = n - 1;
    for (int c = utf8_cols(s); c < cols && o + 1 < n; c++) out[o++] = ' ';
    out[o] = '\0';
    return out;
}

uint32_t glyph_ascii(uint32_t cp) {
    if (cp < 0x80) return cp;
    if (cp >= 0x2800 && cp <= 0x28FF) return cp == 0x2800 ? ' ' : '*';
    switch (cp) {
    case 0x22C5: case 0x00B7: return '.';          /* ⋅ · */
    case 0x2192: return '>';                        /* → */
    case 0x2190: return '<';
    case 0x2191: return '^';
    case 0x2193: return 'v';
    case 0x21B5: return '$';                        /* ↵ */
    case 0x2580: return '"';                        /* ▀ */
    case 0x2584: return '_';                        /* ▄ */
    case 0x2588: return '#';                        /* █ */
    case 0x258C: return '#';                        /* ▌ */
    case 0x2591: return '.';
    case 0x2592: return ':';
    case 0x2593: return '%';
    case 0x2500: case 0x2501: return '-';
    case 0x2502: case 0x2503: return '|';
    case 0x250C: case 0x2510: case 0x2514: case 0x2518: case 0x251C: case 0x2524: case 0x252C:
    case 0x2534: case 0x253C: return '+';
    case 0x00D7: return 'x';                        /* × */
    case 0x2026: return '~';                        /* … */
    case 0x2014: case 0x2013: return '-';
    case 0x25B6: case 0x25B8: return '>';
    default: return '?';
    }
}

/* ---- cell buffer ---- */

void cb_init(CellBuf *cb, int w, int h) {
    cb->w = cb->h = 0;
    cb->cells = NULL;
    cb_resize(cb, w, h);
}

void cb_free(CellBuf *cb) {
    free(cb->cells);
    cb->cells = NULL;
    cb->w = cb->h = 0;
}

void cb_resize(CellBuf *cb, int w, int h) {
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w != cb->w || h != cb->h) {
        Cell *c = realloc(cb->cells, sizeof(Cell) * (size_t)w * (size_t)h);
        if (!c) abort();
        cb->cells = c;
        cb->w = w, cb->h = h;
    }
    cb_clear(cb);
}

void cb_clear(CellBuf *cb) {
    for (int i = 0; i < cb->w * cb->h; i++) cb->cells[i] = (Cell){' ', COL_DEFAULT, COL_DEFAULT, 0};
}

Cell *cb_at(CellBuf *cb, int x, int y) {
    if (x < 0 || y < 0 || x >= cb->w || y >= cb->h) return NULL;
    return &cb->cells[y * cb->w + x];
}

void cb_put(CellBuf *cb, int x, int y, uint32_t ch, Style st) {
    Cell *c = cb_at(cb, x, y);
    if (c) *c = (Cell){ch, st.fg, st.bg, st.attr};
}

void cb_fill(CellBuf *cb, Rect r, uint32_t ch, Style st) {
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++) cb_put(cb, x, y, ch, st);
}

int cb_text(CellBuf *cb, int x, int y, int maxw, const char *s, Style st) {
    int col = 0;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n && col < maxw) {
        uint32_t cp;
        i += (size_t)utf8_decode(s + i, n - i, &cp);
        if (cp < 0x20 || cp == 0x7F) cp = '?';
        int wd = wcwidth((wchar_t)cp);
        if (wd < 0) wd = 1;  /* unknown in this locale: draw it anyway as one column */
        if (wd == 0) continue;
        if (col + wd > maxw) break;
        cb_put(cb, x + col, y, cp, st);
        if (wd == 2) cb_put(cb, x + col + 1, y, 0, st);
        col += wd;
    }
    return col;
}

int cb_printf(CellBuf *cb, int x, int y, int maxw, Style st, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cb_text(cb, x, y, maxw, buf, st);
}

size_t wrap_row(const char *s, size_t n, int w, size_t *next) {
    if (w < 1) w = 1;
    size_t i = 0, sp_at = 0, after_sp = 0;
    int col = 0, have_sp = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (cp == '\n') {
            *next = i + (size_t)k;
            return i;
        }
        if (col == w) {
            if (cp == ' ') {   /* full at a word's end: drop the space (and a newline right after it) */
                size_t j = i + 1;
                if (j < n && s[j] == '\n') j++;
                *next = j;
                return i;
            }
            if (have_sp) {
                *next = after_sp;
                return sp_at;
            }
            *next = i;
            return i;
        }
        if (cp == ' ') have_sp = 1, sp_at = i, after_sp = i + (size_t)k;
        col++;
        i += (size_t)k;
    }
    *next = n;
    return n;
}

int cb_wrap(CellBuf *cb, Rect r, const char *s, Style st) {
    size_t n = strlen(s), at = 0;
    int rows = 0;
    char line[1024];
    while (at < n) {
        size_t next, len = wrap_row(s + at, n - at, r.w, &next);
        if (rows < r.h) {
            size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
            memcpy(line, s + at, l);
            line[l] = '\0';
            cb_text(cb, r.x, r.y + rows, r.w, line, st);
        }
        rows++;
        at += next > 0 ? next : 1;
    }
    return rows;
}

void cb_box(CellBuf *cb, Rect r, const char *title, Style st, int unicode) {
    if (r.w < 2 || r.h < 2) return;
    uint32_t hz = unicode ? 0x2500 : '-', vt = unicode ? 0x2502 : '|';
    uint32_t tl = unicode ? 0x250C : '+', tr = unicode ? 0x2510 : '+';
    uint32_t bl = unicode ? 0x2514 : '+', br = unicode ? 0x2518 : '+';
    for (int x = r.x + 1; x < r.x + r.w - 1; x++) {
        cb_put(cb, x, r.y, hz, st);
        cb_put(cb, x, r.y + r.h - 1, hz, st);
    }
    for (int y = r.y + 1; y < r.y + r.h - 1; y++) {
        cb_put(cb, r.x, y, vt, st);
        cb_put(cb, r.x + r.w - 1, y, vt, st);
    }
    cb_put(cb, r.x, r.y, tl, st);
    cb_put(cb, r.x + r.w - 1, r.y, tr, st);
    cb_put(cb, r.x, r.y + r.h - 1, bl, st);
    cb_put(cb, r.x + r.w - 1, r.y + r.h - 1, br, st);
    if (title && *title && r.w > 4) {
        Style ts = st;
        ts.attr |= CA_BOLD;
        cb_put(cb, r.x + 1, r.y, ' ', st);
        char fit[512];   /* a title too long for the box is cut with its mark */
        int n = cb_text(cb, r.x + 2, r.y, r.w - 4, utf8_fit(title, r.w - 4, unicode, fit, sizeof fit), ts);
        cb_put(cb, r.x + 2 + n, r.y, ' ', st);
    }
}

char *cb_to_text(const CellBuf *cb) {
    size_t cap = (size_t)cb->w * (size_t)cb->h * 4 + (size_t)cb->h + 1;
    char *out = malloc(cap);
    if (!out) abort();
    size_t o = 0;
    for (int y = 0; y < cb->h; y++) {
        size_t line_start = o, last_nonspace = o;
        for (int x = 0; x < cb->w; x++) {
            uint32_t ch = cb->cells[y * cb->w + x].ch;
            if (ch == 0) continue;
            o += (size_t)utf8_encode(ch, out + o);
            if (ch != ' ') last_nonspace = o;
        }
        (void)line_start;
        o = last_nonspace;
        if (y + 1 < cb->h) out[o++] = '\n';
    }
    out[o] = '\0';
    return out;
}

int cb_contains(const CellBuf *cb, const char *needle) {
    char *t = cb_to_text(cb);
    int found = strstr(t, needle) != NULL;
    free(t);
    return found;
}

char *fmt_count(long v, char *out, size_t n) {
    char d[32];
    snprintf(d, sizeof d, "%ld", v < 0 ? -v : v);
    int len = (int)strlen(d), o = 0;
    char tmp[48];
    if (v < 0) tmp[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) tmp[o++] = ',';
        tmp[o++] = d[i];
    }
    tmp[o] = '\0';
    snprintf(out, n, "%s", tmp);
    return out;
}

char *utf8_fit(const char *s, int cols, int unicode, char *out, size_t n) {
    if (n == 0) return out;
    out[0] = '\0';
    if (cols < 1) return out;
    if (utf8_cols(s) <= cols) {
        snprintf(out, n, "%s", s);
        return out;
    }
    size_t o = 0, len = strlen(s);
    int c = 0;
    for (size_t i = 0; i < len && c < cols - 1;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (o + (size_t)k + 4 >= n) break;
        memcpy(out + o, s + i, (size_t)k);
        o += (size_t)k, i += (size_t)k, c++;
    }
    const char *mark = unicode ? "\xe2\x80\xa6" : "~";
    if (o + strlen(mark) < n) memcpy(out + o, mark, strlen(mark) + 1);
    else out[o] = '\0';
    return out;
}

/* The line of fields f under state st (0 absent, 1 full, 2 brief) into out; returns its columns. */
static int fit_join(const FitField *f, const int *st, int n, const char *sep, char *out, size_t sz) {
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!st[i]) continue;
        int k = snprintf(out + o, sz - o, "%s%s", o ? sep : "", st[i] == 2 ? f[i].brief : f[i].full);
        if (k < 0 || (size_t)k >= sz - o) break;
        o += (size_t)k;
    }
    return utf8_cols(out);
}

char *fit_line(const FitField *f, int n, const char *sep, int cols, int unicode, char *out, size_t sz) {
    if (sz == 0) return out;
    int st[64];
    n = n < 64 ? n : 64;
    for (int i = 0; i < n; i++) st[i] = f[i].full ? 1 : 0;
    char tmp[1024];   /* a line of a screen */
    while (fit_join(f, st, n, sep, tmp, sizeof tmp) > cols) {
        /* the next field to give way: the highest rank that can still narrow or drop */
        int pick = -1;
        for (int i = 0; i < n; i++) {
            int can = st[i] && ((st[i] == 1 && f[i].brief) || f[i].rank > 0);
            if (can && (pick < 0 || abs(f[i].rank) > abs(f[pick].rank))) pick = i;
        }
        if (pick < 0) break;
        st[pick] = st[pick] == 1 && f[pick].brief ? 2 : 0;
    }
    utf8_fit(tmp, cols, unicode, out, sz);
    return out;
}

/* ---- layout ---- */

Layout layout_compute(int cols, int lines) {
    Layout l;
    memset(&l, 0, sizeof l);
    l.cols = cols, l.lines = lines;
    l.all = (Rect){0, 0, cols, lines};
    if (cols < LAYOUT_MIN_W || lines < LAYOUT_MIN_H) {
        l.too_small = 1;
        return l;
    }
    l.header = (Rect){0, 0, cols, 1};
    l.body = (Rect){0, 1, cols, lines - 3};
    l.status = (Rect){0, lines - 2, cols, 1};
    l.fkeys = (Rect){0, lines - 1, cols, 1};
    return l;
}

void layout_split_h(Rect r, double frac, int min_right, int gap, Rect *left, Rect *right) {
    int lw = (int)(r.w * frac);
    if (r.w - lw - gap < min_right) lw = r.w - gap - min_right;
    if (lw < 0) lw = 0;
    if (lw > r.w) lw = r.w;
    int rw = r.w - lw - gap;
    if (rw < 0) rw = 0;
    *left = (Rect){r.x, r.y, lw, r.h};
    *right = (Rect){r.x + lw + gap, r.y, rw, r.h};
}

void layout_split_v(Rect r, int top_h, Rect *top, Rect *bottom) {
    if (top_h < 0) top_h = 0;
    if (top_h > r.h) top_h = r.h;
    *top = (Rect){r.x, r.y, r.w, top_h};
    *bottom = (Rect){r.x, r.y + top_h, r.w, r.h - top_h};
}

/* ---- plots ---- */

int braille_bit(int dx, int dy) {
    static const int bits[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    return bits[dy & 3][dx & 1];
}

static double plot_ty(double y, const PlotOpts *o) { return o->logy ? log10(y) : y; }

void plot_resolve_range(const PlotSeries *s, int ns, PlotOpts *o) {
    int need_x = !(o->xmin < o->xmax), need_y = !(o->ymin < o->ymax);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (o->logy && y <= 0)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x);
            y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (need_x) {
        if (!(x0 <= x1)) x0 = 0, x1 = 1;
        if (x0 == x1) x1 = x0 + 1;
        o->xmin = x0, o->xmax = x1;
    }
    if (need_y) {
        if (!(y0 <= y1)) y0 = o->logy ? 1 : 0, y1 = o->logy ? 10 : 1;
        if (y0 == y1) {
            if (o->logy) y0 /= 1.5, y1 *= 1.5;
            else y0 -= 0.5, y1 += 0.5;
        } else if (!o->logy) {
            double pad = (y1 - y0) * 0.05;
            y0 -= pad, y1 += pad;
        }
        o->ymin = y0, o->ymax = y1;
    }
}

static void plot_set_dot(uint8_t *bits, int8_t *owner, int w, int h, int dw, int dh, int px, int py,
                         int series, int blocks) {
    if (px < 0 || py < 0 || px >= w * dw || py >= h * dh) return;
    int cx = px / dw, cy = py / dh;
    int bit = blocks ? (py % 2 == 0 ? 1 : 2) : braille_bit(px % 2, py % 4);
    bits[cy * w + cx] |= (uint8_t)bit;
    if (owner) owner[cy * w + cx] = (int8_t)series;
}

void plot_raster(uint8_t *bits, int8_t *owner, int w, int h, const PlotSeries *s, int ns, const PlotOpts *o) {
    int dw = o->blocks ? 1 : 2, dh = o->blocks ? 2 : 4;
    memset(bits, 0, (size_t)w * (size_t)h);
    if (owner) memset(owner, -1, (size_t)w * (size_t)h);
    double ylo = plot_ty(o->ymin, o), yhi = plot_ty(o->ymax, o);
    int W = w * dw, H = h * dh;
    for (int k = 0; k < ns; k++) {
        int have_prev = 0, ppx = 0, ppy = 0;
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || (o->logy && y <= 0)) { have_prev = 0; continue; }
            double fx = (x - o->xmin) / (o->xmax - o->xmin);
            double fy = (plot_ty(y, o) - ylo) / (yhi - ylo);
            int px = (int)lround(fx * (W - 1));
            int py = (int)lround((1.0 - fy) * (H - 1));
            if (have_prev) {
                /* Bresenham from the previous point */
                int x0 = ppx, y0 = ppy, dx = abs(px - x0), dy = -abs(py - y0);
                int sx = x0 < px ? 1 : -1, sy = y0 < py ? 1 : -1, err = dx + dy;
                for (;;) {
                    plot_set_dot(bits, owner, w, h, dw, dh, x0, y0, k, o->blocks);
                    if (x0 == px && y0 == py) break;
                    int e2 = 2 * err;
                    if (e2 >= dy) err += dy, x0 += sx;
                    if (e2 <= dx) err += dx, y0 += sy;
                }
            } else {
                plot_set_dot(bits, owner, w, h, dw, dh, px, py, k, o->blocks);
            }
            have_prev = 1, ppx = px, ppy = py;
        }
    }
}

static void plot_fmt(double v, char *buf, size_t n) {
    double a = fabs(v);
    if (v == floor(v) && a < 1e9) snprintf(buf, n, "%.0f", v); /* steps, tokens */
    else if (a != 0 && (a < 1e-3 || a >= 1e5)) snprintf(buf, n, "%.1e", v);
    else if (a < 1) snprintf(buf, n, "%.4f", v);
    else if (a < 100) snprintf(buf, n, "%.3f", v);
    else snprintf(buf, n, "%.0f", v);
}

void plot_draw(CellBuf *cb, Rect r, const PlotSeries *s, int ns, PlotOpts o) {
    const int lab = 8;
    if (r.w < lab + 4 || r.h < 3) return;
    plot_resolve_range(s, ns, &o);
    int w = r.w - lab - 1, h = r.h - 1;
    uint8_t *bits = calloc((size_t)w * (size_t)h, 1);
    int8_t *owner = calloc((size_t)w * (size_t)h, 1);
    if (!bits || !owner) abort();
    plot_raster(bits, owner, w, h, s, ns, &o);
    char buf[32];
    /* y labels at top, middle, bottom */
    for (int i = 0; i < 3; i++) {
        int row = i == 0 ? 0 : i == 1 ? h / 2 : h - 1;
        double f = 1.0 - (double)row / (h > 1 ? h - 1 : 1);
        double v;
        if (o.logy) v = pow(10, log10(o.ymin) + f * (log10(o.ymax) - log10(o.ymin)));
        else v = o.ymin + f * (o.ymax - o.ymin);
        plot_fmt(v, buf, sizeof buf);
        cb_printf(cb, r.x, r.y + row, lab, o.axis, "%*s", lab, buf);
    }
    for (int y = 0; y < h; y++) cb_put(cb, r.x + lab, r.y + y, o.unicode ? 0x2502 : '|', o.axis);
    for (int x = 0; x < w + 1; x++) cb_put(cb, r.x + lab + x, r.y + h, o.unicode ? 0x2500 : '-', o.axis);
    cb_put(cb, r.x + lab, r.y + h, o.unicode ? 0x2514 : '+', o.axis);
    plot_fmt(o.xmin, buf, sizeof buf);
    cb_text(cb, r.x + lab + 1, r.y + h, w, buf, o.axis);
    char right[64];
    plot_fmt(o.xmax, buf, sizeof buf);
    snprintf(right, sizeof right, "%s%s%s", o.xlabel ? o.xlabel : "", o.xlabel ? " " : "", buf);
    int rl = (int)strlen(right);
    if (rl < w - 8) cb_text(cb, r.x + lab + 1 + w - rl, r.y + h, rl, right, o.axis);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t b = bits[y * w + x];
            if (!b) continue;
            uint32_t ch;
            if (!o.unicode) ch = o.blocks ? (b == 3 ? ':' : b == 1 ? '\'' : '.') : '*';
            else if (o.blocks) ch = b == 3 ? 0x2588 : b == 1 ? 0x2580 : 0x2584;
            else ch = 0x2800 + b;
            cb_put(cb, r.x + lab + 1 + x, r.y + y, ch, s[owner[y * w + x]].st);
        }
    free(bits);
    free(owner);
}

/* ---- ramps and heatmaps ---- */

int ramp_index(double v, double lo, double hi, int levels) {
    if (levels <= 1 || isnan(v)) return 0;
    if (!(hi > lo)) return v > lo ? levels - 1 : 0;
    double f = (v - lo) / (hi - lo);
    if (f <= 0) return 0;
    if (f >= 1) return levels - 1;
    int i = (int)(f * levels);
    return i >= levels ? levels - 1 : i;
}

static int lerp_rgb(const int *ramp, int n, double f) {
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    double pos = f * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) i = n - 2;
    double t = pos - i;
    int r0, g0, b0, r1, g1, b1;
    color_xterm_rgb(ramp[i], &r0, &g0, &b0);
    color_xterm_rgb(ramp[i + 1], &r1, &g1, &b1);
    return COL_RGB((int)lround(r0 + t * (r1 - r0)), (int)lround(g0 + t * (g1 - g0)),
                   (int)lround(b0 + t * (b1 - b0)));
}

int ramp_color(double v, double lo, double hi, int diverging, ColorMode cm) {
    /* 16-colour approximations, ordered by luminance */
    /* blue, magenta, green, cyan, yellow, white: rising luminance within the 8 basic colours (black, the
     * usual background, is left to masked cells) */
    static const int seq16[6] = {4, 5, 2, 6, 3, 7};
    static const int div16[7] = {12, 4, 6, 7, 3, 1, 9};
    if (diverging) {
        double m = hi > 0 ? hi : 1;
        double f = (v / m + 1) / 2;   /* -m..m → 0..1 */
        if (isnan(f)) f = 0.5;
        if (cm == CM_TRUE) return lerp_rgb(RAMP_DIV, RAMP_DIV_N, f);
        if (cm == CM_16) return div16[ramp_index(f, 0, 1, 7)];
        return RAMP_DIV[ramp_index(f, 0, 1, RAMP_DIV_N)];
    }
    if (cm == CM_TRUE) {
        double f = hi > lo ? (v - lo) / (hi - lo) : 0;
        if (isnan(f)) f = 0;
        return lerp_rgb(RAMP_SEQ, RAMP_SEQ_N, f);
    }
    if (cm == CM_16) return seq16[ramp_index(v, lo, hi, 6)];
    return RAMP_SEQ[ramp_index(v, lo, hi, RAMP_SEQ_N)];
}

char ramp_glyph(double v, double lo, double hi) {
    int n = (int)strlen(GLYPH_RAMP);
    return GLYPH_RAMP[ramp_index(v, lo, hi, n)];
}

Style hatch_style(const RenderCaps *caps) {
    if (caps->cm == CM_MONO || caps->cm == CM_16) return (Style){COL_DEFAULT, COL_DEFAULT, CA_DIM};
    return (Style){caps->light ? 248 : 242, COL_DEFAULT, 0};
}

void heatmap_draw(CellBuf *cb, int x, int y, int w, int h, const float *m, int rows, int cols, int ld,
                  double lo, double hi, int diverging, const uint8_t *mask, const RenderCaps *caps) {
    if (w <= 0 || h <= 0 || rows <= 0 || cols <= 0) return;
    int half = caps->unicode && caps->cm != CM_MONO;
    int py_n = half ? 2 * h : h;   /* pixel rows */
    for (int cy = 0; cy < h; cy++)
        for (int cx = 0; cx < w; cx++) {
            int c = cx * cols / w;
            if (half) {
                int p0 = 2 * cy, p1 = 2 * cy + 1;
                int r0 = p0 * rows / py_n, r1 = p1 * rows / py_n;
                double v0 = m[r0 * ld + c], v1 = m[r1 * ld + c];
                int d0 = mask && mask[r0 * ld + c], d1 = mask && mask[r1 * ld + c];
                int f = ramp_color(v0, lo, hi, diverging, caps->cm), b = ramp_color(v1, lo, hi, diverging, caps->cm);
                if (d0 && d1) cb_put(cb, x + cx, y + cy, HATCH_CP(1), hatch_style(caps));
                else if (d0) cb_put(cb, x + cx, y + cy, 0x2584, (Style){b, COL_DEFAULT, 0});
                else if (d1) cb_put(cb, x + cx, y + cy, 0x2580, (Style){f, COL_DEFAULT, 0});
                else cb_put(cb, x + cx, y + cy, 0x2580, (Style){f, b, 0});
            } else {
                int r = cy * rows / py_n;
                double v = m[r * ld + c];
                int d = mask && mask[r * ld + c];
                char g = d ? ' ' : (diverging ? ramp_glyph(fabs(v), 0, hi) : ramp_glyph(v, lo, hi));
                if (d) {
                    cb_put(cb, x + cx, y + cy, HATCH_CP(caps->unicode), hatch_style(caps));
                } else if (caps->cm != CM_MONO) {
                    int col = ramp_color(v, lo, hi, diverging, caps->cm);
                    cb_put(cb, x + cx, y + cy, (uint32_t)g, (Style){COL_DEFAULT, col, 0});
                } else {
                    cb_put(cb, x + cx, y + cy, (uint32_t)g, (Style){COL_DEFAULT, COL_DEFAULT, 0});
                }
            }
        }
}

void strip_draw(CellBuf *cb, int x, int y, int w, const float *v, int n, double scale, const RenderCaps *caps) {
    if (w <= 0 || n <= 0) return;
    int two = caps->unicode && caps->cm != CM_MONO;
    int slots = two ? 2 * w : w;
    for (int cx = 0; cx < w; cx++) {
        double val[2];
        for (int k = 0; k < (two ? 2 : 1); k++) {
            int s = two ? 2 * cx + k : cx;
            int a = s * n / slots, b = (s + 1) * n / slots;
            if (b <= a) b = a + 1;
            if (a >= n) { val[k] = NAN; continue; }
            double sum = 0;
            for (int i = a; i < b && i < n; i++) sum += v[i];
            val[k] = sum / (b - a);
        }
        if (two) {
            int f = ramp_color(val[0], -scale, scale, 1, caps->cm);
            int b = isnan(val[1]) ? COL_DEFAULT : ramp_color(val[1], -scale, scale, 1, caps->cm);
            cb_put(cb, x + cx, y, 0x258C, (Style){f, b, 0});
        } else if (caps->cm != CM_MONO) {
            char g = ramp_glyph(fabs(val[0]), 0, scale);
            cb_put(cb, x + cx, y, (uint32_t)(val[0] < 0 ? (g == ' ' ? ' ' : '-') : g),
                   (Style){COL_DEFAULT, ramp_color(val[0], -scale, scale, 1, caps->cm), 0});
        } else {
            /* sign by case of glyph is not possible: negative values are underlined */
            char g = ramp_glyph(fabs(val[0]), 0, scale);
            cb_put(cb, x + cx, y, (uint32_t)g, (Style){COL_DEFAULT, COL_DEFAULT, val[0] < 0 ? CA_UNDERLINE : 0});
        }
    }
}

/* ---- smoothing ---- */

void ema_debiased(const double *y, int n, double weight, double *out) {
    double last = 0, prev_out = NAN;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) { out[i] = prev_out; continue; }
        last = weight * last + (1 - weight) * y[i];
        k++;
        double debias = 1 - pow(weight, k);
        out[i] = debias > 0 ? last / debias : y[i];
        prev_out = out[i];
    }
}

/* ---- line editor ---- */

void le_init(LineEdit *le) { memset(le, 0, sizeof *le); }

void le_set(LineEdit *le, const char *text) {
    size_t n = strlen(text);
    if (n >= sizeof le->buf) n = sizeof le->buf - 1;
    memmove(le->buf, text, n);   /* text may be one of le's own history lines */
    le->buf[n] = '\0';
    le->len = (int)n;
    le->cur = le->len;
}

void le_insert(LineEdit *le, const char *s) {
    int n = (int)strlen(s);
    if (le->len + n >= LINE_MAX_BYTES) return;
    memmove(le->buf + le->cur + n, le->buf + le->cur, (size_t)(le->len - le->cur + 1));
    memcpy(le->buf + le->cur, s, (size_t)n);
    le->len += n, le->cur += n;
}

static int le_prev(const LineEdit *le, int i) {
    if (i <= 0) return 0;
    i--;
    while (i > 0 && ((unsigned char)le->buf[i] & 0xC0) == 0x80) i--;
    return i;
}

static int le_next(const LineEdit *le, int i) {
    if (i >= le->len) return le->len;
    i++;
    while (i < le->len && ((unsigned char)le->buf[i] & 0xC0) == 0x80) i++;
    return i;
}

static void le_delete(LineEdit *le, int a, int b) {
    if (b <= a) return;
    memmove(le->buf + a, le->buf + b, (size_t)(le->len - b + 1));
    le->len -= b - a;
    if (le->cur > b) le->cur -= b - a;
    else if (le->cur > a) le->cur = a;
}

/* key codes shared with ncurses (curses.h values), so this file needs no curses header */
#define LEK_DOWN 0402
#define LEK_UP 0403
#define LEK_LEFT 0404
#define LEK_RIGHT 0405
#define LEK_HOME 0406
#define LEK_BACKSPACE 0407
#define LEK_DC 0512
#define LEK_ENTER 0527
#define LEK_END 0550

int le_key(LineEdit *le, int key) {
    switch (key) {
    case LEK_LEFT: le->cur = le_prev(le, le->cur); return LE_NONE;
    case LEK_RIGHT: le->cur = le_next(le, le->cur); return LE_NONE;
    case LEK_HOME: case 1: le->cur = 0; return LE_NONE;
    case LEK_END: case 5: le->cur = le->len; return LE_NONE;
    case LEK_BACKSPACE: case 127: case 8:
        if (le->cur == 0) return LE_NONE;
        le_delete(le, le_prev(le, le->cur), le->cur);
        return LE_CHANGED;
    case LEK_DC: case 4:
        if (le->cur >= le->len) return LE_NONE;
        le_delete(le, le->cur, le_next(le, le->cur));
        return LE_CHANGED;
    case 21: le_delete(le, 0, le->cur); return LE_CHANGED;          /* Ctrl-U */
    case 11: le_delete(le, le->cur, le->len); return LE_CHANGED;    /* Ctrl-K */
    case 23: {                                                       /* Ctrl-W */
        int i = le->cur;
        while (i > 0 && le->buf[i - 1] == ' ') i--;
        while (i > 0 && le->buf[i - 1] != ' ') i--;
        le_delete(le, i, le->cur);
        return LE_CHANGED;
    }
    case LEK_UP:
        if (le->hist_pos == 0) return LE_NONE;
        if (le->hist_pos == le->n_hist) snprintf(le->saved, sizeof le->saved, "%s", le->buf);
        le->hist_pos--;
        le_set(le, le->hist[le->hist_pos]);
        return LE_CHANGED;
    case LEK_DOWN:
        if (le->hist_pos >= le->n_hist) return LE_NONE;
        le->hist_pos++;
        le_set(le, le->hist_pos == le->n_hist ? le->saved : le->hist[le->hist_pos]);
        return LE_CHANGED;
    case '\n': case '\r': case LEK_ENTER:
        if (le->len > 0 && (le->n_hist == 0 || strcmp(le->hist[le->n_hist - 1], le->buf) != 0)) {
            if (le->n_hist == LINE_HIST) {
                memmove(le->hist[0], le->hist[1], sizeof le->hist[0] * (LINE_HIST - 1));
                le->n_hist--;
            }
            memcpy(le->hist[le->n_hist++], le->buf, (size_t)le->len + 1);
        }
        le->hist_pos = le->n_hist;
        return LE_SUBMIT;
    case 27: return LE_CANCEL;
    default:
        if (key & K_LITERAL) key &= ~K_LITERAL;
        else if (key >= 0400 && key < 01000) return LE_IGNORED;
        if (key >= 0x20 && key != 0x7F && key < 0x110000) {
            char u[8];
            utf8_encode((uint32_t)key, u);
            le_insert(le, u);
            return LE_CHANGED;
        }
        if (key == '\t') { le_insert(le, "\t"); return LE_CHANGED; }
        return LE_IGNORED;
    }
}

void le_draw(const LineEdit *le, CellBuf *cb, int x, int y, int w, Style st, int show_cursor) {
    if (w <= 1) return;
    /* column of each byte boundary up to the cursor (1 column per code point; tabs as one '→') */
    int cur_col = 0;
    for (int i = 0; i < le->cur;) {
        uint32_t cp;
        i += utf8_decode(le->buf + i, (size_t)(le->len - i), &cp);
        cur_col++;
    }
    int first = cur_col >= w ? cur_col - w + 1 : 0;   /* columns scrolled off to the left */
    int col = 0, i = 0, drawn = 0;
    while (i < le->len && drawn < w) {
        uint32_t cp;
        i += utf8_decode(le->buf + i, (size_t)(le->len - i), &cp);
        if (cp == '\t') cp = 0x2192;
        if (cp < 0x20) cp = '?';
        if (col >= first) {
            Style s = st;
            if (show_cursor && col == cur_col) s.attr |= CA_REVERSE;
            cb_put(cb, x + drawn, y, cp, s);
            drawn++;
        }
        col++;
    }
    for (; drawn < w; drawn++, col++) {
        Style s = st;
        if (show_cursor && col == cur_col) s.attr |= CA_REVERSE;
        cb_put(cb, x + drawn, y, ' ', s);
    }
}

char *tok_visible(const char *bytes, int len, int unicode, char *out, size_t n) {
    size_t o = 0;
    if (n == 0) return out;
    for (int i = 0; i < len && o + 8 < n;) {
        unsigned char c = (unsigned char)bytes[i];
        const char *rep = NULL;
        if (c == ' ') rep = unicode ? "\xe2\x8b\x85" : ".";
        else if (c == '\t') rep = unicode ? "\xe2\x86\x92" : ">";
        else if (c == '\n') rep = unicode ? "\xe2\x86\xb5" : "$";
        if (rep) {
            size_t l = strlen(rep);
            memcpy(out + o, rep, l);
            o += l, i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(out + o, n - o, "\\x%02X", c);
            i++;
            continue;
        }
        if (c < 0x80) { out[o++] = (char)c; i++; continue; }
        uint32_t cp;
        int k = utf8_decode(bytes + i, (size_t)(len - i), &cp);
        if (cp == 0xFFFD && k == 1) {
            /* a partial UTF-8 sequence (byte-level tokens split characters) */
            o += (size_t)snprintf(out + o, n - o, "\\x%02X", c);
        } else if (!unicode) {
            out[o++] = '?';
        } else {
            memcpy(out + o, bytes + i, (size_t)k);
            o += (size_t)k;
        }
        i += k;
    }
    out[o] = '\0';
    return out;
}
