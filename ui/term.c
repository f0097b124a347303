/* term.c — ncurses glue (see term.h). */
#define NCURSES_WIDECHAR 1
#include "term.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

static int g_open;
static int g_direct;   /* the terminal takes 24-bit colours as colour numbers (ncurses direct colour) */

int color_to_256(int col) {
    if (col < 0) return col;
    if (!COL_IS_RGB(col)) return col & 255;
    int r = (col >> 16) & 255, g = (col >> 8) & 255, b = col & 255;
    /* nearest of the 6x6x6 cube and of the grey ramp */
    static const int lv[6] = {0, 95, 135, 175, 215, 255};
    int best = 16, bestd = 1 << 30;
    int ci[3];
    int comp[3] = {r, g, b};
    for (int k = 0; k < 3; k++) {
        int bi = 0;
        for (int i = 1; i < 6; i++)
            if (abs(lv[i] - comp[k]) < abs(lv[bi] - comp[k])) bi = i;
        ci[k] = bi;
    }
    int cube = 16 + 36 * ci[0] + 6 * ci[1] + ci[2];
    int dr = lv[ci[0]] - r, dg = lv[ci[1]] - g, db = lv[ci[2]] - b;
    best = cube, bestd = dr * dr + dg * dg + db * db;
    int avg = (r + g + b) / 3;
    int gi = (avg - 8 + 5) / 10;
    if (gi < 0) gi = 0;
    if (gi > 23) gi = 23;
    int gv = 8 + 10 * gi;
    int gd = (gv - r) * (gv - r) + (gv - g) * (gv - g) + (gv - b) * (gv - b);
    if (gd < bestd) best = 232 + gi;
    return best;
}

int color_to_16(int col) {
    if (col < 0) return col;
    int idx = COL_IS_RGB(col) ? -1 : (col & 255);
    if (idx >= 0 && idx < 16) return idx;
    int r, g, b;
    if (idx >= 0) color_xterm_rgb(idx, &r, &g, &b);
    else r = (col >> 16) & 255, g = (col >> 8) & 255, b = col & 255;
    int best = 0, bestd = 1 << 30;
    for (int i = 0; i < 16; i++) {
        int R, G, B;
        color_xterm_rgb(i, &R, &G, &B);
        int d = (R - r) * (R - r) + (G - g) * (G - g) + (B - b) * (B - b);
        if (d < bestd) bestd = d, best = i;
    }
    return best;
}

int term_open(RenderCaps *caps, int mouse) {
    if (!initscr()) return -1;
    g_open = 1;
    cbreak();
    /* cbreak keeps the tty's flow control: Ctrl-S would stop all output (a frozen screen while training goes on
     * behind it) until Ctrl-Q. Turn it off, and Ctrl-V/Ctrl-O processing, so those arrive as keys; signals
     * (Ctrl-C, Ctrl-Z, Ctrl-\) stay. def_prog_mode makes ncurses restore this mode after a suspend; endwin
     * restores the shell's. */
    struct termios tio;
    if (tcgetattr(STDIN_FILENO, &tio) == 0) {
        tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF);
        tio.c_lflag &= ~(tcflag_t)IEXTEN;
        tcsetattr(STDIN_FILENO, TCSANOW, &tio);
        def_prog_mode();
    }
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    /* Home/End as tmux, screen and rxvt send them, whatever TERM's terminfo says (otherwise "\e[1~" reads as
     * Esc [ 1 ~ and the 1 switches screens) */
    static const struct { const char *seq; int key; } extra[] = {
        {"\033[1~", KEY_HOME}, {"\033[4~", KEY_END}, {"\033[7~", KEY_HOME}, {"\033[8~", KEY_END},
        {"\033[H", KEY_HOME},  {"\033[F", KEY_END},  {"\033OH", KEY_HOME},  {"\033OF", KEY_END}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (key_defined(extra[i].seq) <= 0) define_key(extra[i].seq, extra[i].key);
    set_escdelay(25);
    curs_set(0);
    if (has_colors() && caps->cm != CM_MONO) {
        start_color();
        use_default_colors();
        if (COLORS < 8) caps->cm = CM_MONO;
        else if (COLORS < 256 && caps->cm != CM_TRUE) caps->cm = CM_16;
        g_direct = COLORS >= 0x1000000;
        if (caps->cm == CM_TRUE && !g_direct && COLORS < 256) caps->cm = CM_16;
    } else {
        caps->cm = CM_MONO;
    }
    term_set_mouse(mouse);
    return 0;
}

void term_close(void) {
    if (!g_open) return;
    g_open = 0;
    mousemask(0, NULL);
    curs_set(1);
    endwin();
}

void term_size(int *cols, int *lines) {
    *cols = COLS;
    *lines = LINES;
}

void term_set_mouse(int on) {
    if (on) {
        mousemask(BUTTON1_PRESSED | BUTTON1_CLICKED, NULL);
        mouseinterval(0);
    } else {
        mousemask(0, NULL);
    }
}

int term_get_key(int timeout_ms, int *mx, int *my) {
    timeout(timeout_ms);
    wint_t wc;
    int r = get_wch(&wc);
    if (r == ERR) return -1;
    if (r == KEY_CODE_YES) {
        if ((int)wc == KEY_MOUSE) {
            MEVENT ev;
            if (getmouse(&ev) != OK) return -1;
            if (!(ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))) return -1;
            *mx = ev.x, *my = ev.y;
        }
        return (int)wc;
    }
    if (wc >= 0400 && wc < 01000) return (int)wc | K_LITERAL;
    return (int)wc;
}

/* ncurses colour number for a cell colour under caps (-1 = terminal default). */
static int term_color(int col, const RenderCaps *caps, int is_bg) {
    if (caps->light && col == COL_DEFAULT) col = is_bg ? 231 : 16;
    if (col == COL_DEFAULT) return -1;
    switch (caps->cm) {
    case CM_MONO: return -1;
    case CM_16: return color_to_16(col);
    case CM_256: return color_to_256(col);
    case CM_TRUE:
        if (!g_direct) return color_to_256(col);
        if (COL_IS_RGB(col)) return col & 0xFFFFFF;
        {
            int r, g, b;
            color_xterm_rgb(col, &r, &g, &b);
            return (r << 16) | (g << 8) | b;
        }
    }
    return -1;
}

void term_flush(const CellBuf *cb, const RenderCaps *caps, int force) {
    if (force) clearok(curscr, TRUE);
    int lines = LINES, cols = COLS;
    /* cache of the last pair (runs of equal colours are common) */
    int last_fg = -2, last_bg = -2, last_pair = 0;
    for (int y = 0; y < cb->h && y < lines; y++) {
        for (int x = 0; x < cb->w && x < cols; x++) {
            const Cell *c = &cb->cells[y * cb->w + x];
            if (c->ch == 0) continue;   /* right half of a wide character */
            if (y == lines - 1 && x == cols - 1) continue;   /* writing there would scroll */
            int fg = term_color(c->fg, caps, 0), bg = term_color(c->bg, caps, 1);
            int pair = 0;
            if (fg != -1 || bg != -1) {
                if (fg == last_fg && bg == last_bg) pair = last_pair;
                else {
                    pair = alloc_pair(fg, bg);
                    if (pair < 0) pair = 0;
                    last_fg = fg, last_bg = bg, last_pair = pair;
                }
            }
            attr_t at = A_NORMAL;
            if (c->attr & CA_BOLD) at |= A_BOLD;
            if (c->attr & CA_DIM) at |= A_DIM;
            if (c->attr & CA_REVERSE) at |= A_REVERSE;
            if (c->attr & CA_UNDERLINE) at |= A_UNDERLINE;
            wchar_t wch[2] = {(wchar_t)(caps->unicode ? c->ch : glyph_ascii(c->ch)), 0};
            if (wch[0] < 0x20) wch[0] = '?';
            cchar_t cc;
            setcchar(&cc, wch, at, (short)(pair < 32768 ? pair : 0), &pair);
            mvwadd_wch(stdscr, y, x, &cc);
        }
    }
    wnoutrefresh(stdscr);
    doupdate();
}
