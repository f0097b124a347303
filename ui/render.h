/* render.h — pure drawing helpers of the TUI: a cell buffer, the screen layout, braille/block line plots,
 * half-block heatmaps with perceptually ordered ramps, colour-mode selection, debiased EMA smoothing and a
 * one-line text editor. Nothing here touches ncurses or the engine: screens draw into a CellBuf, and
 * ui/term.c flushes the buffer to the terminal once per frame. Everything here is unit-tested without a terminal
 * (tests/test_ui_render.c). */
#ifndef LLMWB_UI_RENDER_H
#define LLMWB_UI_RENDER_H

#include <stddef.h>
#include <stdint.h>

/* ---- colours and capabilities ---- */

/* A colour in a cell: COL_DEFAULT, an xterm-256 index 0..255, or a 24-bit RGB made with COL_RGB. */
#define COL_DEFAULT (-1)
#define COL_RGB_FLAG 0x1000000
#define COL_RGB(r, g, b) (COL_RGB_FLAG | ((int)(r) << 16) | ((int)(g) << 8) | (int)(b))
#define COL_IS_RGB(c) ((c) >= 0 && ((c) & COL_RGB_FLAG))

typedef enum { CM_MONO, CM_16, CM_256, CM_TRUE } ColorMode;

typedef struct RenderCaps {
    ColorMode cm;
    int unicode;    /* 1 = UTF-8 locale and not --ascii: braille, half blocks, arrows */
    int light;      /* light high-contrast theme */
    int blocks;     /* 1 = block-character plots instead of braille */
} RenderCaps;

/* Picks the colour mode: NO_COLOR (set, any value) or ncolors < 8 → mono; COLORTERM truecolor|24bit → true;
 * ncolors >= 256 or TERM containing "256color" → 256; else 16. Any argument may be NULL (= unset);
 * ncolors < 0 means unknown (no terminal yet: judge by TERM alone). */
ColorMode caps_select_color(const char *no_color, const char *colorterm, const char *term, int ncolors);
/* Whether a locale name (LC_ALL / LC_CTYPE / LANG value, or nl_langinfo(CODESET)) means UTF-8. */
int caps_locale_is_utf8(const char *name);
/* RGB of an xterm-256 palette index (the standard 6x6x6 cube and grey ramp; 0..15 the xterm defaults). */
void color_xterm_rgb(int idx, int *r, int *g, int *b);

/* ---- cell buffer ---- */

enum { CA_BOLD = 1, CA_DIM = 2, CA_REVERSE = 4, CA_UNDERLINE = 8 };

typedef struct Style {
    int fg, bg;       /* COL_DEFAULT, index or RGB */
    int attr;         /* CA_* */
} Style;

typedef struct Cell {
    uint32_t ch;      /* Unicode code point; 0 = the right half of a wide character */
    int fg, bg;
    int attr;
} Cell;

typedef struct CellBuf {
    int w, h;
    Cell *cells;      /* (h, w), owned */
} CellBuf;

typedef struct Rect {
    int x, y, w, h;
} Rect;

void cb_init(CellBuf *cb, int w, int h);
void cb_free(CellBuf *cb);
/* Resizes and clears. */
void cb_resize(CellBuf *cb, int w, int h);
void cb_clear(CellBuf *cb);
/* Sets one cell; ignored outside the buffer. */
void cb_put(CellBuf *cb, int x, int y, uint32_t ch, Style st);
Cell *cb_at(CellBuf *cb, int x, int y);
/* Fills a rectangle with ch. */
void cb_fill(CellBuf *cb, Rect r, uint32_t ch, Style st);
/* Writes UTF-8 text at (x, y), at most maxw columns (bytes that are not valid UTF-8 show as U+FFFD, control
 * characters as '?'); returns the columns used. */
int cb_text(CellBuf *cb, int x, int y, int maxw, const char *s, Style st);
int cb_printf(CellBuf *cb, int x, int y, int maxw, Style st, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* One row of word-wrapped text starting at s (n bytes): returns the bytes of s the row shows (at most w display
 * columns, w >= 1) and sets *next to where the next row starts. Rows break after the last space that fits (the
 * space is dropped), a word longer than w is cut at w, '\n' ends a row, and a row that fills w exactly takes
 * the space or newline that follows it (no empty row after it). */
size_t wrap_row(const char *s, size_t n, int w, size_t *next);
/* Draws s word-wrapped into r (wrap_row); returns the number of rows s needs (may exceed r.h: those are not
 * drawn). */
int cb_wrap(CellBuf *cb, Rect r, const char *s, Style st);
/* Draws a box border around r with an optional title (unicode: light box drawing; else + - |). */
void cb_box(CellBuf *cb, Rect r, const char *title, Style st, int unicode);
/* The buffer as UTF-8 text, one line per row with trailing spaces removed, rows joined by '\n'. Returns a
 * malloc'd string the caller frees. */
char *cb_to_text(const CellBuf *cb);
/* Whether the screen text contains needle. */
int cb_contains(const CellBuf *cb, const char *needle);

/* Decodes one UTF-8 sequence at s (n bytes available) into *cp; returns bytes consumed (>= 1; invalid → 1 byte
 * and U+FFFD). */
int utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes cp into out (>= 5 bytes, NUL-terminated); returns the byte count. */
int utf8_encode(uint32_t cp, char *out);
/* Display columns of UTF-8 text (one per code point; our glyphs are all single-width). */
int utf8_cols(const char *s);
/* Copies s into out (size n) padded with spaces to `cols` display columns (no truncation). Returns out. */
char *utf8_pad(const char *s, int cols, char *out, size_t n);
/* v with thousands separators ("1,234,567"); returns out. */
char *fmt_count(long v, char *out, size_t n);
/* Copies s into out (size n), cut to at most cols display columns with a final "…" (ASCII: "~") when it does
 * not fit (cols < 1: ""). Returns out. */
char *utf8_fit(const char *s, int cols, int unicode, char *out, size_t n);
/* One piece of a status or hint line for fit_line: its text, a narrower form (NULL: none) and its rank, the
 * order in which it gives way (higher ranks narrow, then drop, first). Rank 0: narrowed last, never dropped; a
 * negative rank -r: narrowed at rank r, never dropped (a label that must stay). */
typedef struct FitField {
    const char *full, *brief;
    int rank;
} FitField;
/* The fields (n, NULL full = absent) joined by sep into out (size sz), in at most cols display columns: while too
 * wide, the field of the highest rank that can still give way takes its brief form, or when it has none (or shows
 * it already) is dropped unless it is kept (rank <= 0); the brief forms of rank-0 fields come last. Only what then still does not fit
 * is cut, with a final "…" (utf8_fit). Numbers belong in rank-0 fields: they are never cut while narrowing can
 * make room. Returns out. */
char *fit_line(const FitField *f, int n, const char *sep, int cols, int unicode, char *out, size_t sz); /* n <= 64 */
/* An ASCII stand-in for a code point (the ASCII fallback); cp itself when already ASCII. */
uint32_t glyph_ascii(uint32_t cp);

/* ---- layout ---- */

#define LAYOUT_MIN_W 80
#define LAYOUT_MIN_H 24

/* The frame: header (tabs and training status) on row 0, the screen body, a status line and the function-key
 * bar on the last row. too_small when cols < 80 or lines < 24 (then only `all` is meaningful). */
typedef struct Layout {
    int cols, lines;
    int too_small;
    Rect all, header, body, status, fkeys;
} Layout;
Layout layout_compute(int cols, int lines);
/* Splits r left/right at a fraction (0..1) of its width, keeping at least min_right columns on the right
 * when possible; gap columns between. */
void layout_split_h(Rect r, double frac, int min_right, int gap, Rect *left, Rect *right);
/* Splits r top/bottom with `top_h` rows on top (clamped). */
void layout_split_v(Rect r, int top_h, Rect *top, Rect *bottom);

/* ---- line plots ---- */

typedef struct PlotSeries {
    const double *x, *y;   /* n points; NaN y values are skipped (breaks the line) */
    int n;
    Style st;
} PlotSeries;

typedef struct PlotOpts {
    double xmin, xmax, ymin, ymax;  /* data range; if xmin >= xmax (or y), computed from the series */
    int logy;                       /* log10 y axis (values <= 0 skipped) */
    int blocks;                     /* block characters (1x2 per cell) instead of braille (2x4) */
    int unicode;                    /* 0 = ASCII dots */
    Style axis;
    const char *xlabel;             /* shown under the axis, e.g. "step" */
} PlotOpts;

/* The braille bit for dot column dx (0..1) and row dy (0..3) inside one cell (U+2800 + bits). */
int braille_bit(int dx, int dy);
/* Rasterises series into dots: bits is (h, w) cells, each cell 2x4 dots (braille) or 1x2 (blocks); a dot at
 * (px, py) with py = 0 at the top. Consecutive points are joined by straight lines. owner (may be NULL) gets,
 * per cell, the index of the last series that set a dot there (-1 none). Ranges must already be resolved. */
void plot_raster(uint8_t *bits, int8_t *owner, int w, int h, const PlotSeries *s, int ns, const PlotOpts *o);
/* Resolves the ranges of o from the series (when unset) and pads y by a little. */
void plot_resolve_range(const PlotSeries *s, int ns, PlotOpts *o);
/* Draws a plot with y labels on the left (8 columns) and an x-range row at the bottom into r. */
void plot_draw(CellBuf *cb, Rect r, const PlotSeries *s, int ns, PlotOpts o);

/* ---- heatmaps and ramps ---- */

#define RAMP_SEQ_N 12
#define RAMP_DIV_N 11
extern const int RAMP_SEQ[RAMP_SEQ_N];   /* viridis-like xterm-256 indices, rising luminance */
extern const int RAMP_DIV[RAMP_DIV_N];   /* RdBu diverging: negative blue ... white ... positive red */
extern const char GLYPH_RAMP[];          /* " .:-=+*#%@" */

/* Level of v in [lo, hi] among `levels` (0..levels-1), clamped; NaN → 0. Monotone non-decreasing in v. */
int ramp_index(double v, double lo, double hi, int levels);
/* The colour of v: sequential (lo..hi) or diverging (symmetric about 0, |v| up to hi), per colour mode
 * (RGB interpolated in truecolor, 16-colour approximations in CM_16). */
int ramp_color(double v, double lo, double hi, int diverging, ColorMode cm);
/* The glyph of v for monochrome rendering. */
char ramp_glyph(double v, double lo, double hi);

/* The mark of a masked cell (e.g. the causal future): a hatch '╱' ('/' in ASCII), dim, on the terminal's own
 * background, so it never looks like a low value in any colour mode or theme. */
#define HATCH_CP(unicode) ((unicode) ? 0x2571u : (uint32_t)'/')
Style hatch_style(const RenderCaps *caps);

/* Draws the (rows, cols) matrix m (row stride ld) into a w x h cell area at (x, y), sampling nearest
 * values: with colours and unicode each cell is '▀' with fg = upper value and bg = lower value (2 rows per
 * cell); otherwise one glyph per value. mask (may be NULL), same shape, marks entries that are masked: they get
 * no colour (a cell with both values masked is hatched, one with only the upper masked shows the lower as '▄'
 * on the default background), and the hatch in glyph mode. */
void heatmap_draw(CellBuf *cb, int x, int y, int w, int h, const float *m, int rows, int cols, int ld,
                  double lo, double hi, int diverging, const uint8_t *mask, const RenderCaps *caps);
/* A one-row strip of n values compressed into w cells (2 values per cell with '▌' fg/bg when colours allow). */
void strip_draw(CellBuf *cb, int x, int y, int w, const float *v, int n, double scale, const RenderCaps *caps);

/* ---- smoothing ---- */

/* TensorBoard-style exponential moving average with bias correction: last = w*last + (1-w)*y,
 * out = last / (1 - w^k) with k the number of finite values so far. NaN inputs are skipped (out = NaN there
 * until the first finite value, then the last smoothed value). */
void ema_debiased(const double *y, int n, double weight, double *out);

/* ---- one-line text editor with history ---- */

#define LINE_MAX_BYTES 512
#define LINE_HIST 32

typedef struct LineEdit {
    char buf[LINE_MAX_BYTES];
    int len, cur;                       /* bytes; cur is on a UTF-8 boundary */
    char hist[LINE_HIST][LINE_MAX_BYTES];
    int n_hist, hist_pos;               /* hist_pos == n_hist: editing a new line */
    char saved[LINE_MAX_BYTES];         /* the new line while browsing history */
} LineEdit;

/* A printable code point that collides with a curses key code (0400..0777) is passed with this flag. */
#define K_LITERAL 0x40000000

enum { LE_NONE, LE_CHANGED, LE_SUBMIT, LE_CANCEL, LE_IGNORED };
void le_init(LineEdit *le);
void le_set(LineEdit *le, const char *text);
/* Inserts UTF-8 text at the cursor (stops when full). */
void le_insert(LineEdit *le, const char *s);
/* Handles one key (ncurses key codes, or a Unicode code point for printable input): ←/→ Home/End Backspace
 * Delete Ctrl-A/E/U/K/W ↑/↓ (history), Enter (LE_SUBMIT: the line is pushed to history), Esc (LE_CANCEL).
 * Returns an LE_* code; LE_IGNORED for keys it does not use. */
int le_key(LineEdit *le, int key);
/* Draws the line in a w-column field at (x, y) with a visible cursor (reverse cell), scrolled so the cursor
 * is visible. */
void le_draw(const LineEdit *le, CellBuf *cb, int x, int y, int w, Style st, int show_cursor);

/* Token display: the bytes of a token made printable with visible whitespace (space ⋅, tab →, newline ↵;
 * ASCII fallback: space '.', tab '>', newline '$'; other control bytes as \xNN). Returns out. */
char *tok_visible(const char *bytes, int len, int unicode, char *out, size_t n);

#endif
