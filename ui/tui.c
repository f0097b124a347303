/* tui.c — the workbench's main loop: options, the frame (header, tabs, status line, function-key bar, help,
 * quit confirmation, "terminal too small"), key dispatch to the screens' ops tables, and the headless script
 * player (--script). The loop reads input with a timeout (short while anything runs, longer when idle) and
 * redraws only when the engine's sequence number, the worker's status or the UI state changed. */
#include "tui.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "demo.h"
#include "engine.h" /* export_* (export.h, part of the public API) */
#include "lesson.h"
#include "script.h"
#include "term.h"

#define DEMO_PAUSED_MSG "demo paused: Space continues (other keys work as usual, q quits)"


/* The signal that ends the session (0 = none). SIGINT (Ctrl-C) quits at once; SIGTERM, SIGHUP (the terminal
 * went away) and SIGQUIT (Ctrl-\) also save unsaved training first. Either way the terminal is restored. */
static volatile sig_atomic_t g_sigint;

static void tui_on_sigint(int sig) { g_sigint = sig; }

static void tui_fatal_hook(void) { term_close(); }

/* The engine logs through lw_log; inside the TUI its messages go to the status line (last one wins). Most come
 * from the worker thread between two of its own status messages (e.g. a warning while opening, then "opened
 * X"), so each line is stamped with the worker's message count: the frame shows the two kinds in the order they
 * happened, not in the order it polls them (which would make the status line depend on the frame timing). */
static char g_log_msg[LW_ERRLEN];
static volatile int g_log_seq;
static uint64_t g_log_after;     /* the worker's msg_seq when g_log_msg was logged */
static Worker *g_log_worker;     /* the running worker (NULL before it starts and once it stops) */
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static void tui_log(void *ud, int level, const char *msg) {
    (void)ud;
    if (level < LW_LOG_WARN) return;
    pthread_mutex_lock(&g_log_mu);
    WorkerStatus ws;
    if (g_log_worker) worker_status(g_log_worker, &ws);
    g_log_after = g_log_worker ? ws.msg_seq : 0;
    snprintf(g_log_msg, sizeof g_log_msg, "%s", msg);
    g_log_seq++;
    pthread_mutex_unlock(&g_log_mu);
}

static void tui_log_worker(Worker *w) {
    pthread_mutex_lock(&g_log_mu);
    g_log_worker = w;
    pthread_mutex_unlock(&g_log_mu);
}

static double tui_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int app_training_done(const App *a) { return a->ts.state == ENGINE_DONE && !a->ws.stepping; }

void app_status(App *a, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->status, sizeof a->status, fmt, ap);
    va_end(ap);
    a->status_err = err;
}

long app_search_step(App *a, const char *s, size_t n, const char *pat, long cur, int dir) {
    int wrapped = 0;
    long o = search_next(s, n, pat, dir == 0 ? -1 : cur, dir == 0 ? 1 : dir, &wrapped);
    if (o < 0) {
        app_status(a, 1, "no match for '%s'", pat);
        return -1;
    }
    int cs = search_case_sensitive(pat);
    app_status(a, 0, "match %d/%d for '%s'%s", search_index(s, n, pat, o), search_count(s, n, pat, cs), pat,
               wrapped ? " (search wrapped)" : "");
    return o;
}

int app_search_tokens(App *a, const char *toks, size_t stride, int n, const char *pat, int sel, int dir) {
    int wrapped = 0, rank = 0, total = 0;
    int t = search_tokens(toks, stride, n, pat, sel, dir, &wrapped, &rank, &total);
    if (t < 0) app_status(a, 1, "no match for '%s' in the probe tokens", pat);
    else app_status(a, 0, "token %d/%d containing '%s'%s", rank, total, pat, wrapped ? " (search wrapped)" : "");
    return t;
}

/* ---- theme ---- */

void theme_init(Theme *th, const RenderCaps *caps) {
    memset(th, 0, sizeof *th);
    Style def = {COL_DEFAULT, COL_DEFAULT, 0};
    th->text = def;
    th->dim = (Style){COL_DEFAULT, COL_DEFAULT, CA_DIM};
    th->bold = (Style){COL_DEFAULT, COL_DEFAULT, CA_BOLD};
    th->cursor = (Style){COL_DEFAULT, COL_DEFAULT, CA_REVERSE};
    if (caps->cm == CM_MONO) {
        th->title = th->bold;
        th->header = def;
        th->tab = def;
        th->tab_active = (Style){COL_DEFAULT, COL_DEFAULT, CA_REVERSE | CA_BOLD};
        th->status = def;
        th->error = (Style){COL_DEFAULT, COL_DEFAULT, CA_BOLD | CA_UNDERLINE};
        th->fkey_num = def;
        th->fkey_label = (Style){COL_DEFAULT, COL_DEFAULT, CA_REVERSE};
        th->highlight = (Style){COL_DEFAULT, COL_DEFAULT, CA_REVERSE | CA_BOLD | CA_UNDERLINE};
        th->good = th->bold;
        th->warn = th->bold;
        th->plot_raw = th->dim;
        th->plot_ema = th->bold;
        th->plot_val_raw = th->dim;
        th->plot_val_ema = th->bold;
        th->plot_aux = def;
        th->tok_fg = COL_DEFAULT;
        for (int i = 0; i < 6; i++) th->tok_bg[i] = COL_DEFAULT;
        return;
    }
    int light = caps->light;
    th->title = (Style){light ? 19 : 81, COL_DEFAULT, CA_BOLD};
    th->header = (Style){light ? 16 : 252, light ? 252 : 236, 0};
    th->tab = th->header;
    th->tab_active = (Style){light ? 231 : 16, light ? 25 : 114, CA_BOLD};
    th->status = (Style){light ? 16 : 250, COL_DEFAULT, 0};
    th->error = (Style){light ? 160 : 203, COL_DEFAULT, CA_BOLD};
    th->fkey_num = (Style){light ? 16 : 252, COL_DEFAULT, CA_BOLD};
    th->fkey_label = (Style){light ? 231 : 16, light ? 25 : 37, 0};
    th->highlight = (Style){16, 220, CA_BOLD | CA_UNDERLINE};
    th->good = (Style){light ? 28 : 114, COL_DEFAULT, CA_BOLD};
    th->warn = (Style){light ? 166 : 214, COL_DEFAULT, CA_BOLD};
    th->plot_raw = (Style){light ? 248 : 240, COL_DEFAULT, 0};
    th->plot_ema = (Style){light ? 19 : 45, COL_DEFAULT, CA_BOLD};
    th->plot_val_raw = (Style){light ? 217 : 131, COL_DEFAULT, 0};
    th->plot_val_ema = (Style){light ? 124 : 209, COL_DEFAULT, CA_BOLD};
    th->plot_aux = (Style){light ? 90 : 141, COL_DEFAULT, 0};
    if (caps->cm == CM_16) {
        static const int bg16[6] = {4, 2, 5, 6, 3, 1};
        for (int i = 0; i < 6; i++) th->tok_bg[i] = bg16[i];
        th->tok_fg = 15;
    } else {
        static const int bg256[6] = {153, 187, 223, 194, 225, 189};
        for (int i = 0; i < 6; i++) th->tok_bg[i] = bg256[i];
        th->tok_fg = 16;
    }
}

Style app_token_style(const App *a, int index, int highlight) {
    if (highlight) return a->th.highlight;
    if (a->caps.cm == CM_MONO) return (Style){COL_DEFAULT, COL_DEFAULT, index % 2 ? CA_REVERSE : CA_UNDERLINE};
    /* alternate tokens are also underlined, so boundaries show without colour (projectors, colour blindness) */
    return (Style){a->th.tok_fg, a->th.tok_bg[index % 6], index % 2 ? CA_UNDERLINE : 0};
}

int app_draw_not_ready(App *a, CellBuf *cb, Rect r) {
    if (a->eng) return 0;
    int y = r.y + r.h / 2 - 2;
    if (a->ws.phase == WK_FAILED) {
        /* the whole message, wrapped: it usually names the fix */
        Rect er = {r.x + 2, y + 1, r.w - 4, r.h - (y + 1 - r.y) - 2};
        int watching = a->wk.watch_dir[0] != '\0';
        cb_text(cb, r.x + 2, y, r.w - 4, watching ? "Waiting for the run to watch:" : "The engine could not be opened:",
                a->th.error);
        int rows = cb_wrap(cb, er, a->ws.err, a->th.text);
        cb_wrap(cb, (Rect){er.x, er.y + rows + 1, er.w, 2},
                watching ? "Tried again a few times a second; F10 quits."
                          : "Fix it and start again, or quit with F10 (nothing runs until then).",
                a->th.dim);
        return 1;
    }
    char line[256];
    if (a->ws.total > 0)
        snprintf(line, sizeof line, "preparing: %s %.0f/%.0f (%.0f%%)", a->ws.what, a->ws.done, a->ws.total,
                 100.0 * a->ws.done / a->ws.total);
    else
        snprintf(line, sizeof line, "preparing: %s ...", a->ws.what);
    cb_text(cb, r.x + 2, y, r.w - 4, line, a->th.bold);
    if (a->ws.total > 0) {
        int bw = r.w - 8 > 60 ? 60 : r.w - 8;
        int fill = (int)(bw * a->ws.done / a->ws.total);
        if (fill > bw) fill = bw;
        for (int i = 0; i < bw; i++)
            cb_put(cb, r.x + 2 + i, y + 1, i < fill ? (a->caps.unicode ? 0x2588 : '#') : (a->caps.unicode ? 0x2591 : '.'),
                   a->th.good);
    }
    return 1;
}

/* ---- frame ---- */

/* ---- the global keys: one table drives their dispatch (tui_key), the help box and its short form ---- */

static void tui_switch(App *a, int screen);
static void tui_fkey(App *a, int n);
static void tui_request_quit(App *a);

static void gk_screen(App *a, int key) { tui_switch(a, key - '1'); }
static void gk_tab(App *a, int key) { tui_switch(a, a->screen + (key == K_TAB ? 1 : -1)); }
static void gk_toggle(App *a, int key) { (void)key; worker_send_kind(&a->wk, WC_TOGGLE); }
static void gk_step(App *a, int key) { (void)key; worker_send_kind(&a->wk, WC_STEP); }
static void gk_save(App *a, int key) { (void)key; tui_fkey(a, 2); }
static void gk_help(App *a, int key) { (void)key; a->help = 1; }
static void gk_mouse(App *a, int key) { (void)key; tui_fkey(a, 9); }
static void gk_large(App *a, int key) {
    (void)key;
    a->large = !a->large;
    app_status(a, 0, "%s", a->large ? "large view: the main pane alone (z returns)" : "normal view");
}
static void gk_export(App *a, int key) { (void)key; a->export_req = 1; }
static void gk_quit(App *a, int key) { (void)key; tui_request_quit(a); }
static void gk_esc(App *a, int key) { (void)key; a->status[0] = '\0'; }

typedef struct GlobalKey {
    int keys[APP_MAX_SCREENS + 1]; /* the key codes it runs on (0 ends; none = handled before the table, see
                                    * tui_key; the screen keys' entry runs on '1'..N_SCREENS) */
    const char *name;        /* as the help box shows it (NULL: the screen keys, "1-N") */
    const char *help;
    const char *brief;       /* its part of the short help ("" = none) */
    void (*run)(App *a, int key);
} GlobalKey;

static const GlobalKey GLOBAL_KEYS[] = {
    {{'1', '2', '3', '4', '5', '6', '7', '8', '9'}, NULL, "switch screen", NULL, gk_screen},
    {{K_TAB, K_BTAB}, "Tab, S-Tab", "next / previous screen", "Tab/S-Tab next/prev", gk_tab},
    {{' '}, "Space", "run / pause training (Tokenizer: merges)", "Space run/pause", gk_toggle},
    {{'s'}, "s", "single training step (Tokenizer: one merge)", "s step", gk_step},
    {{'S'}, "S, F2", "save a checkpoint now (the status line names its directory)", "S/F2 save", gk_save},
    {{0}, "F3, F4", "run/pause, single step", "", NULL},
    {{0}, "<- ->", "back / forward (merges, tokens or snapshots)", "<- -> back/forward", NULL},
    {{0}, "h j k l", "vim aliases of the arrows", "hjkl arrows", NULL},
    {{'?'}, "?, F1", "this help (any key closes it)", "?/F1 help", gk_help},
    {{0}, "/", "search the screen's text (Enter searches, Esc cancels; smartcase)", "/ search", NULL},
    {{0}, "n, N", "next / previous match (wraps); Esc clears the search", "n/N next/prev match", NULL},
    {{'m'}, "m, F9", "mouse on/off (off lets you select text)", "m mouse", gk_mouse},
    {{'z'}, "z", "large view: the screen's main pane alone (projector)", "z large", gk_large},
    {{'P'}, "P", "export the plot/heatmap (PNG+SVG) and screen text", "P export", gk_export},
    {{0}, "C-n C-p", "lesson: next / previous step (C-o hides the panel)", "C-n/C-p lesson", NULL},
    {{0}, "Ctrl-L", "redraw", "Ctrl-L redraw", NULL},
    {{K_ESC}, "Esc", "dismiss an error or message (first: the screen's own use)", "Esc dismiss", gk_esc},
    {{'q', 3}, "q, F10", "quit (asks to save unsaved training)", "q/F10 quit", gk_quit},
};
#define N_GLOBAL_KEYS ((int)(sizeof GLOBAL_KEYS / sizeof GLOBAL_KEYS[0]))

/* The global key entry that runs on key, or NULL. */
static const GlobalKey *tui_global_key(int key) {
    for (int i = 0; i < N_GLOBAL_KEYS; i++)
        for (int j = 0; j < APP_MAX_SCREENS + 1 && GLOBAL_KEYS[i].keys[j]; j++)
            if (GLOBAL_KEYS[i].keys[j] == key && GLOBAL_KEYS[i].run) {
                if (!GLOBAL_KEYS[i].name && key - '1' >= N_SCREENS) return NULL; /* a number with no screen */
                return &GLOBAL_KEYS[i];
            }
    return NULL;
}

/* The name of global key entry i as the help box shows it, and its part of the short help. */
static const char *gk_name(int i) {
    static char screens[16];
    if (GLOBAL_KEYS[i].name) return GLOBAL_KEYS[i].name;
    snprintf(screens, sizeof screens, "1-%d", N_SCREENS);
    return screens;
}

static const char *gk_brief(int i) {
    static char screens[24];
    if (GLOBAL_KEYS[i].brief) return GLOBAL_KEYS[i].brief;
    snprintf(screens, sizeof screens, "1-%d screen", N_SCREENS);
    return screens;
}

/* The short help: the briefs joined by " · " (built once). */
static const char *tui_global_short(void) {
    static char buf[1024];
    if (buf[0]) return buf;
    for (int i = 0; i < N_GLOBAL_KEYS; i++) {
        if (!gk_brief(i)[0]) continue;
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%s", l ? " \xc2\xb7 " : "", gk_brief(i));
    }
    return buf;
}

#define TAB_WHOLE (-1) /* keep: every title whole */
#define TAB_SHORT (-2) /* keep: the inactive tabs' short titles (ScreenOps.short_title), whole */

/* Tab i as the header shows it: "[n]Title"; an inactive tab's short title, or that cut to keep columns with "…"
 * (ASCII ".") ending a cut one (keep TAB_WHOLE, TAB_SHORT, or >= 0: cut; 0: "[n]" alone). */
static void tui_tab_text(const App *a, int i, int keep, char *t, size_t n) {
    const char *title = SCREENS[i]->title;
    if (i != a->screen && keep != TAB_WHOLE && SCREENS[i]->short_title) title = SCREENS[i]->short_title;
    int len = (int)strlen(title);
    if (i == a->screen || keep < 0 || keep >= len) snprintf(t, n, "[%d]%s", i + 1, title);
    else if (keep <= 1) snprintf(t, n, "[%d]%.*s", i + 1, keep, title);
    else snprintf(t, n, "[%d]%.*s%s", i + 1, keep - 1, title, a->caps.unicode ? "\xe2\x80\xa6" : ".");
}

/* Columns of the tabs (each followed by a space) with inactive titles cut to keep columns. */
static int tui_tabs_cols(const App *a, int keep) {
    int w = 0;
    for (int i = 0; i < N_SCREENS; i++) {
        char t[48];
        tui_tab_text(a, i, keep, t, sizeof t);
        w += utf8_cols(t) + 1;
    }
    return w;
}

/* The header's right part in its forms, longest first (at most 4); returns how many. */
static int tui_header_right(App *a, char right[4][160]) {
    const char *state = a->ws.running ? "RUN" : "PAUSED";
    int nr = 1;
    if (!a->eng) {
        snprintf(right[0], sizeof right[0], " %s ", a->ws.phase == WK_FAILED ? "NO ENGINE" : "PREPARING");
    } else {
        const TrainSnapshot *t = &a->ts;
        if (t->inference_only) state = "CHECKPOINT";
        else if (t->watching) state = a->watch.ended ? "ENDED" : "WATCHING";
        else if (app_training_done(a)) state = "DONE";
        else if (t->state == ENGINE_DIVERGED) state = "DIVERGED";
        char loss[32] = "-", tps[32] = "0", total[32] = "";
        if (t->step > 0 && isfinite(t->train_loss)) snprintf(loss, sizeof loss, "%.3f", t->train_loss);
        /* tokens/s of the step in flight: 0 while nothing trains, "-" when hidden (demo) */
        if (a->repro) snprintf(tps, sizeof tps, "-");
        else if ((a->ws.running || (t->watching && !a->watch.ended)) && t->tokens_per_sec > 0)
            snprintf(tps, sizeof tps, "%.0f", t->tokens_per_sec);
        /* a checkpoint opened to chat with has its step, not a run's total */
        if (!t->inference_only) snprintf(total, sizeof total, "/%ld", t->total_steps);
        /* the longest form that fits (narrow terminals drop tok/s, then the total and the loss label) */
        if (t->inference_only)
            snprintf(right[0], sizeof right[0], " Step %ld  %s  (chat, attention) ", t->step, state);
        else
            snprintf(right[0], sizeof right[0], " Step %ld%s  %s  loss %s  %s tok/s ", t->step, total, state, loss,
                     tps);
        if (t->inference_only) snprintf(right[1], sizeof right[1], " Step %ld  %s ", t->step, state);
        else snprintf(right[1], sizeof right[1], " Step %ld%s  %s  loss %s ", t->step, total, state, loss);
        snprintf(right[2], sizeof right[2], " Step %ld %s loss %s ", t->step, state, loss);
        snprintf(right[3], sizeof right[3], " Step %ld %s ", t->step, state);
        nr = 4;
    }
    return nr;
}

/* The tabs on the left, the training status on the right, in the fullest form that fits beside the tabs, whole or
 * (inactive ones) by their short names; when even the shortest does not, the inactive titles are cut, down to
 * "[n]". */
static void tui_draw_header(App *a, CellBuf *cb, Rect r) {
    cb_fill(cb, r, ' ', a->th.header);
    char right[4][160];
    int nr = tui_header_right(a, right);
    /* the fullest status first: whole tabs beside it, else the short names; failing every form, cut titles */
    int keep = 0, fits = 0, longest = 0;
    int whole = tui_tabs_cols(a, TAB_WHOLE), shorter = tui_tabs_cols(a, TAB_SHORT);
    for (int f = 0; f < nr && !fits; f++) {
        int need = (int)strlen(right[f]);
        if (whole + need <= r.w) keep = TAB_WHOLE, fits = 1;
        else if (shorter + need <= r.w) keep = TAB_SHORT, fits = 1;
    }
    for (int i = 0; i < N_SCREENS; i++) longest = LW_MAX(longest, (int)strlen(SCREENS[i]->title));
    if (!fits)
        for (keep = longest - 1; keep > 0 && tui_tabs_cols(a, keep) + (int)strlen(right[nr - 1]) > r.w; keep--) {}
    int x = r.x;
    for (int i = 0; i < N_SCREENS; i++) {
        char t[48];
        tui_tab_text(a, i, keep, t, sizeof t);
        Style st = i == a->screen ? a->th.tab_active : a->th.tab;
        a->tab_x0[i] = x;
        x += cb_text(cb, x, r.y, r.x + r.w - x, t, st);
        a->tab_x1[i] = x;
        x += cb_text(cb, x, r.y, 1, " ", a->th.header);
    }
    int pick = 0;
    while (pick + 1 < nr && (int)strlen(right[pick]) > r.x + r.w - x) pick++;
    int rl = (int)strlen(right[pick]);
    int rx = r.x + r.w - rl;
    if (rx < x) rx = x;
    Style st = a->th.header;
    st.attr |= CA_BOLD;
    cb_text(cb, rx, r.y, r.x + r.w - rx, right[pick], st);
}

static void tui_draw_fkeys(App *a, CellBuf *cb, Rect r) {
    const ScreenOps *s = SCREENS[a->screen];
    const char *labels[10] = {"Help", "Save", a->ws.running ? "Pause" : "Run", "Step", s->fkeys[0], s->fkeys[1],
                              s->fkeys[2], s->fkeys[3], "Mouse", "Quit"};
    if (a->wk.watch_dir[0]) labels[1] = labels[2] = labels[3] = NULL; /* watching: nothing to save, run or step */
    /* labels padded to 6 columns when the row has room, else packed (F10 Quit must stay visible at 80) */
    int need = 0;
    for (int i = 0; i < 10; i++)
        if (labels[i]) need += (i == 9 ? 3 : 2) + 6;
    int pad = need <= r.w ? 6 : 0;
    int x = r.x;
    for (int i = 0; i < 10; i++) {
        a->fkey_x0[i] = a->fkey_x1[i] = -1;
        if (!labels[i]) continue;
        char num[16], lab[16];
        snprintf(num, sizeof num, "F%d", i + 1);
        snprintf(lab, sizeof lab, "%-*s", pad, labels[i]);
        if (x + (int)strlen(num) + (int)strlen(lab) > r.x + r.w) break;
        a->fkey_x0[i] = x;
        x += cb_text(cb, x, r.y, r.x + r.w - x, num, a->th.fkey_num);
        x += cb_text(cb, x, r.y, r.x + r.w - x, lab, a->th.fkey_label);
        a->fkey_x1[i] = x;
        if (!pad) x++;
    }
}

/* Rows the help description d takes word-wrapped to cols columns (wrap_row). */
static int help_rows(const char *d, int cols) {
    int rows = 0;
    size_t n = strlen(d), at = 0;
    while (at < n && rows < 64) {
        size_t next;
        wrap_row(d + at, n - at, cols, &next);
        if (!next) break;
        at += next;
        rows++;
    }
    return rows;
}

static void tui_draw_help(App *a, CellBuf *cb, Rect body) {
    const ScreenOps *s = SCREENS[a->screen];
    int n = N_GLOBAL_KEYS;
    const char *short_help = tui_global_short();
    int w = body.w - 4 > 104 ? 104 : body.w - 4, dw = w - 20;
    /* the screen's lines word-wrapped to the description column, or (no room for that) one row each, cut */
    int ns = 0, nwrap = 0;
    for (const char *const *p = s->help; p && *p; p++) {
        const char *tab = strchr(*p, '\t'), *d = tab ? tab + 1 : *p;
        ns++;
        nwrap += LW_MAX(1, help_rows(d, dw));
    }
    int short_rows = (int)((strlen(short_help) + 1 + (size_t)(w - 6)) / (size_t)(w - 5)) + 1;
    int wrap = nwrap + short_rows + 4 <= body.h; /* the border, the titles and the short global list fit too */
    if (wrap) ns = nwrap;
    int compact = n + ns + 4 > body.h;          /* the screen's own keys come first, then the global ones */
    int h = (compact ? short_rows : n) + ns + 4;
    if (h > body.h) h = body.h;
    Rect r = {body.x + (body.w - w) / 2, body.y + (body.h - h) / 2, w, h};
    cb_fill(cb, r, ' ', a->th.text);
    char title[64];
    snprintf(title, sizeof title, "Help: %s (any key closes)", s->title);
    cb_box(cb, r, title, a->th.title, a->caps.unicode);
    int y = r.y + 1, bottom = r.y + r.h - 1;
    char t[64];
    snprintf(t, sizeof t, "%s screen", s->title);
    cb_text(cb, r.x + 2, y++, w - 4, t, a->th.bold);
    for (const char *const *p = s->help; p && *p && y < bottom; p++) {
        const char *tab = strchr(*p, '\t'), *d = tab ? tab + 1 : *p;
        int kl = tab ? (int)(tab - *p) : 0;
        cb_printf(cb, r.x + 3, y, 14, a->th.good, "%.*s", kl, *p);
        if (wrap) {
            y += LW_MAX(1, cb_wrap(cb, (Rect){r.x + 18, y, dw, bottom - y}, d, a->th.text));
        } else {
            char fit[512]; /* a line too long for the box ends in an ellipsis, not silently */
            cb_text(cb, r.x + 18, y++, dw, utf8_fit(d, dw, a->caps.unicode, fit, sizeof fit), a->th.text);
        }
    }
    if (y < bottom) cb_text(cb, r.x + 2, y++, w - 4, "Global keys", a->th.bold);
    if (!compact) {
        for (int i = 0; i < N_GLOBAL_KEYS && y < bottom; i++, y++) {
            cb_text(cb, r.x + 3, y, 14, gk_name(i), a->th.good);
            char fit[512];
            cb_text(cb, r.x + 18, y, w - 20, utf8_fit(GLOBAL_KEYS[i].help, w - 20, a->caps.unicode, fit, sizeof fit),
                    a->th.text);
        }
        return;
    }
    /* wrap the short list at its separators */
    const char *p = short_help;
    int lw = w - 5;
    while (*p && y < bottom) {
        int cols = 0, cut = 0;
        const char *q = p, *best = NULL;
        while (*q && cols <= lw) {
            uint32_t cp;
            int k = utf8_decode(q, strlen(q), &cp);
            if (cp == 0xB7) best = q, cut = cols;
            q += k;
            cols++;
        }
        const char *end = !*q && cols <= lw ? q : (best ? best : q);
        (void)cut;
        char line[256];
        int len = (int)(end - p) < (int)sizeof line - 1 ? (int)(end - p) : (int)sizeof line - 1;
        memcpy(line, p, (size_t)len);
        line[len] = '\0';
        cb_text(cb, r.x + 3, y++, lw, line, a->th.text);
        p = end;
        if (*p) p += 2;                      /* skip the separator (2 bytes) */
        while (*p == ' ') p++;
    }
}

static void tui_draw_confirm(App *a, CellBuf *cb, Rect body) {
    const char *msg = "unsaved training \xe2\x80\x94 save before quit? [y/n/c]";
    int w = 56;
    Rect r = {body.x + (body.w - w) / 2, body.y + body.h / 2 - 2, w, 5};
    cb_fill(cb, r, ' ', a->th.text);
    cb_box(cb, r, "Quit", a->th.warn, a->caps.unicode);
    cb_text(cb, r.x + 2, r.y + 2, w - 4, msg, a->th.bold);
}

static void tui_draw(App *a, CellBuf *cb) {
    cb_clear(cb);
    if (a->caps.light) cb_fill(cb, (Rect){0, 0, cb->w, cb->h}, ' ', a->th.text);
    Layout l = layout_compute(cb->w, cb->h);
    if (l.too_small) {
        char msg[96];
        snprintf(msg, sizeof msg, "terminal too small: need 80\xc3\x97" "24, have %d\xc3\x97%d", cb->w, cb->h);
        int len = (int)strlen(msg) - 2;
        int x = (cb->w - len) / 2;
        cb_text(cb, x < 0 ? 0 : x, cb->h / 2, cb->w, msg, a->th.bold);
        return;
    }
    tui_draw_header(a, cb, l.header);
    const ScreenOps *s = SCREENS[a->screen];
    Rect body = l.body;
    if (a->course && !a->lesson_hidden) {
        /* the lesson panel: on the right when there is room, else along the bottom */
        Rect panel;
        if (body.w >= 110) {
            int pw = body.w / 3 < 34 ? 34 : body.w / 3 > 46 ? 46 : body.w / 3;
            layout_split_h(body, (double)(body.w - pw - 1) / body.w, pw, 1, &body, &panel);
        } else {
            int ph = body.h / 2 > 12 ? 12 : body.h / 2;
            layout_split_v(body, body.h - ph, &body, &panel);
        }
        lesson_draw_panel(a, a->course, a->lesson_step, cb, panel);
    }
    if (!app_draw_not_ready(a, cb, body)) s->draw(a, cb, body);
    Style st = a->status_err ? a->th.error : a->th.status;
    if (a->search_mode) {
        cb_text(cb, l.status.x + 1, l.status.y, 1, "/", a->th.bold);
        le_draw(&a->search_le, cb, l.status.x + 2, l.status.y, l.status.w - 3, a->th.text, 1);
    } else if (a->status[0] && a->status_err && (a->demo_paused || utf8_cols(a->status) > l.status.w - 2)) {
        /* an error longer than the status line (or beside the demo's pause, which keeps the line): all of it,
         * wrapped in a box above it, until Esc */
        int w = l.body.w - 4, rows = 0;
        size_t n = strlen(a->status);
        for (size_t at = 0, next; at < n; at += next > 0 ? next : 1, rows++) wrap_row(a->status + at, n - at, w, &next);
        if (rows > l.body.h - 2) rows = l.body.h - 2;
        Rect er = {l.body.x, l.body.y + l.body.h - rows - 2, l.body.w, rows + 2};
        cb_fill(cb, er, ' ', a->th.text);
        cb_box(cb, er, "Error (Esc dismisses)", a->th.error, a->caps.unicode);
        cb_wrap(cb, (Rect){er.x + 2, er.y + 1, w, rows}, a->status, a->th.error);
        if (a->demo_paused) cb_text(cb, l.status.x + 1, l.status.y, l.status.w - 2, DEMO_PAUSED_MSG, a->th.warn);
        else cb_text(cb, l.status.x + 1, l.status.y, l.status.w - 2, "error above: Esc dismisses it", a->th.error);
    } else if (a->demo_paused) {   /* above any later message, errors too: the presenter must see it */
        cb_text(cb, l.status.x + 1, l.status.y, l.status.w - 2, DEMO_PAUSED_MSG, a->th.warn);
    } else if (a->status[0]) cb_text(cb, l.status.x + 1, l.status.y, l.status.w - 2, a->status, st);
    else {
        char hint[128];
        snprintf(hint, sizeof hint, "%s \xe2\x80\x94 press ? for help", s->title);
        cb_text(cb, l.status.x + 1, l.status.y, l.status.w - 2, hint, a->th.dim);
    }
    tui_draw_fkeys(a, cb, l.fkeys);
    if (a->help) tui_draw_help(a, cb, body);
    if (a->confirm_quit) tui_draw_confirm(a, cb, l.body);
}

/* ---- keys ---- */

static void tui_request_quit(App *a) {
    if (a->eng && a->ts.unsaved > 0) a->confirm_quit = 1;
    else a->quit = 1;
}

static int vim_alias(int key) {
    switch (key) {
    case 'h': return K_LEFT;
    case 'j': return K_DOWN;
    case 'k': return K_UP;
    case 'l': return K_RIGHT;
    default: return key;
    }
}

static void tui_switch(App *a, int screen) {
    a->screen = (screen + N_SCREENS) % N_SCREENS;
    a->status[0] = '\0';
}

static void tui_fkey(App *a, int n) {
    const ScreenOps *s = SCREENS[a->screen];
    switch (n) {
    case 1: a->help = !a->help; break;
    case 2: worker_send_kind(&a->wk, WC_SAVE); app_status(a, 0, "saving a checkpoint ..."); break;
    case 3: worker_send_kind(&a->wk, WC_TOGGLE); break;
    case 4: worker_send_kind(&a->wk, WC_STEP); break;
    case 9:
        a->mouse = !a->mouse;
        if (!a->headless) term_set_mouse(a->mouse);
        app_status(a, 0, "mouse %s", a->mouse ? "on" : "off (select text freely)");
        break;
    case 10: tui_request_quit(a); break;
    default:
        if (n >= 5 && n <= 8 && s->fkeys[n - 5]) s->key(a, K_F(n));
        break;
    }
}

/* Moves the lesson panel to flat step i, shows its screen and saves the place. */
static void tui_lesson_goto(App *a, int i) {
    int total = course_total_steps(a->course);
    if (total == 0) return;
    if (i < 0) i = 0;
    if (i >= total) i = total - 1;
    a->lesson_step = i;
    a->lesson_hidden = 0;
    const LessonStep *st = course_step(a->course, i, NULL, NULL);
    if (st) tui_switch(a, st->screen);
    if (a->lesson_state[0] && lesson_progress_save(a->lesson_state, a->course->key, i))
        app_status(a, 1, "cannot save lesson progress to %s", a->lesson_state);
}

/* P: the screen's text, and its plot or heatmap when it has one, into <run dir>/exports/. Called after a frame
 * is drawn, with that frame in cb. */
static void tui_export(App *a, const CellBuf *cb) {
    const ScreenOps *s = SCREENS[a->screen];
    const char *run = a->eng && a->ts.run_dir[0] ? a->ts.run_dir : ".";
    char dir[1200], base[1400], path[1500], name[64];
    snprintf(dir, sizeof dir, "%s/exports", run);
    LwError e;
    if (lw_mkdirs(dir, &e)) { app_status(a, 1, "export: %s", e.msg); return; }
    long step = a->eng && s->shown_step ? s->shown_step(a) : -1;
    if (step < 0) step = a->eng ? a->ts.step : 0L;
    snprintf(name, sizeof name, "%s-step%ld", s->title, step);
    for (char *p = name; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf(base, sizeof base, "%s/%s", dir, name);
    snprintf(path, sizeof path, "%s.txt", base);
    char *text = cb_to_text(cb);
    size_t tl = strlen(text);
    char *withnl = malloc(tl + 2);
    if (!withnl) { free(text); return; }
    memcpy(withnl, text, tl);
    withnl[tl] = '\n', withnl[tl + 1] = '\0';
    int rc = export_text(path, withnl, &e);
    free(withnl);
    free(text);
    if (rc) { app_status(a, 1, "export: %s", e.msg); return; }
    char msg[LW_ERRLEN] = "";
    int n = s->export_pics && a->eng ? s->export_pics(a, base, msg, sizeof msg) : 0;
    if (n < 0) app_status(a, 1, "export: %s (the text went to %s)", msg, path);
    else if (n > 0) app_status(a, 0, "exported %s.{%stxt}", base, n == 1 ? "svg," : "png,svg,");
    else app_status(a, 0, "exported %s", path);
}

static void tui_key(App *a, int key, int mx, int my) {
    const ScreenOps *s = SCREENS[a->screen];
    if (a->course && !a->confirm_quit && (key == 14 || key == 16 || key == 15)) {   /* C-n C-p C-o */
        a->help = 0;
        if (key == 15) a->lesson_hidden = !a->lesson_hidden;
        else tui_lesson_goto(a, a->lesson_step + (key == 14 ? 1 : -1));
        return;
    }
    if (a->confirm_quit) {
        if (key == 'y' || key == 'Y') {
            a->save_on_quit = 1;
            a->quit = 1;
        } else if (key == 'n' || key == 'N') {
            a->quit = 1;
        } else if (key == 'c' || key == 'C' || key == K_ESC) {
            a->confirm_quit = 0;
        }
        return;
    }
    if (a->help) {
        a->help = 0;
        return;
    }
    if (key == K_ESC && a->status_err && a->status[0] && !a->search_mode) {   /* errors stay until dismissed */
        a->status[0] = '\0';
        a->status_err = 0;
        return;
    }
    if (!a->status_err) a->status[0] = '\0';   /* a message lasts until the next key */
    if (key == K_MOUSE) {
        if (my == 0) {
            for (int i = 0; i < N_SCREENS; i++)
                if (mx >= a->tab_x0[i] && mx < a->tab_x1[i]) tui_switch(a, i);
        } else {
            for (int i = 0; i < 10; i++)
                if (a->fkey_x0[i] >= 0 && mx >= a->fkey_x0[i] && mx < a->fkey_x1[i]) tui_fkey(a, i + 1);
        }
        return;
    }
    if (key >= K_F(1) && key <= K_F(12)) {
        tui_fkey(a, key - K_F0);
        return;
    }
    if (key == K_TAB || key == K_BTAB) { gk_tab(a, key); return; }   /* before text input takes Tab */
    if (!a->eng && (key == ' ' || key == 's' || key == 'S' || (key >= K_F(2) && key <= K_F(8)))) {
        /* an error only when it will not get ready (a note while preparing: it goes at the next key) */
        app_status(a, a->ws.phase == WK_FAILED, "the engine is not ready yet (%s)",
                   a->ws.phase == WK_FAILED ? "it failed to open" : "preparing");
        return;
    }
    if (a->search_mode) {
        int r = le_key(&a->search_le, key);
        if (r == LE_CANCEL) {
            a->search_mode = 0;
            a->status[0] = '\0';
        } else if (r == LE_SUBMIT) {
            a->search_mode = 0;
            if (a->search_le.buf[0]) {
                snprintf(a->search_pat, sizeof a->search_pat, "%.*s", SEARCH_MAX - 1, a->search_le.buf);
                if (s->search && a->eng) s->search(a, a->search_pat, 0);
                else app_status(a, 1, "nothing to search on this screen");
            }
        }
        return;
    }
    if (s->text_mode && s->text_mode(a)) {
        s->key(a, key);
        return;
    }
    if (key == '/' && s->search) {
        a->search_mode = 1;
        le_set(&a->search_le, "");
        a->search_le.hist_pos = a->search_le.n_hist;
        return;
    }
    if ((key == 'n' || key == 'N') && s->search && a->search_pat[0] && a->eng) {
        s->search(a, a->search_pat, key == 'n' ? 1 : -1);
        return;
    }
    if (key == K_ESC && a->search_pat[0]) {
        a->search_pat[0] = '\0';
        for (int i = 0; i < N_SCREENS; i++)
            if (SCREENS[i]->search) SCREENS[i]->search(a, "", 0);
        a->status[0] = '\0';
        return;
    }
    if (s->key(a, key)) return;
    int alias = vim_alias(key);
    if (alias != key && s->key(a, alias)) return;
    const GlobalKey *g = tui_global_key(key);
    if (g) g->run(a, key);
}

/* ---- script player (the scripts themselves: script.c) ---- */

static int script_dump(App *a, const CellBuf *cb, const char *dir, const char *name, const char *extra) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.txt", dir ? dir : ".", name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "llmwb: script: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (extra) {
        fputs(extra, f);
    } else {
        char *t = cb_to_text(cb);
        fputs(t, f);
        fputc('\n', f);
        free(t);
    }
    fclose(f);
    (void)a;
    return 0;
}

/* Frame timing for `stats NAME` and LLMWB_TUI_STATS: drawing into the cell buffer, and the ncurses flush. */
static double g_draw_sum, g_draw_max, g_flush_sum, g_flush_max;
static long g_draw_n, g_flush_n;

static void tui_stats_text(char *buf, size_t n, int w, int h) {
    snprintf(buf, n,
             "frames %ld\ndraw_avg_ms %.3f\ndraw_max_ms %.3f\nflushes %ld\nflush_avg_ms %.3f\nflush_max_ms %.3f\n"
             "size %dx%d\n",
             g_draw_n, g_draw_n ? 1e3 * g_draw_sum / (double)g_draw_n : 0.0, 1e3 * g_draw_max, g_flush_n,
             g_flush_n ? 1e3 * g_flush_sum / (double)g_flush_n : 0.0, 1e3 * g_flush_max, w, h);
}

/* Script command demo-open NAME (demo-finetune = demo-open finetune): reopens the worker's engine on the demo's
 * model NAME (demo.h, DemoModel): pauses training, saves the current model to <run>/pretrained first when the row
 * says so, then opens its run in <run>/<dir> (its config from the session's demo config) or loads the checkpoint
 * <run>/<dir> with the demo's probe sentence. <run> is the session's run directory (App.run_dir). The
 * worker runs the commands in order; the UI keeps drawing the old engine until the swap. Returns 0, or -1 with err
 * set. */
static int tui_demo_open(App *a, const char *name, char *err, size_t n) {
    const DemoModel *m = demo_model(name);
    if (!m) { snprintf(err, n, "unknown demo model '%s'", name); return -1; }
    const char *run = a->run_dir;
    char ck[sizeof ((WorkerCmd *)0)->text], dir[sizeof ((WorkerCmd *)0)->text];
    if (snprintf(ck, sizeof ck, "%s/pretrained", run) >= (int)sizeof ck ||
        snprintf(dir, sizeof dir, "%s/%s", run, m->dir) >= (int)sizeof dir) {
        snprintf(err, n, "the run directory name is too long");
        return -1;
    }
    Config *fc = NULL;
    LwError e;
    if (m->config) {
        fc = malloc(sizeof *fc);
        if (!fc) { snprintf(err, n, "out of memory"); return -1; }
        if (m->config(fc, a->cfg, run, dir, &e)) {
            snprintf(err, n, "%s", e.msg);
            free(fc);
            return -1;
        }
    }
    WorkerCmd c;
    memset(&c, 0, sizeof c);
    c.kind = WC_PAUSE;
    worker_send(&a->wk, &c);
    if (m->save_first) {
        c.kind = WC_SAVE;
        snprintf(c.text, sizeof c.text, "%s", ck);
        worker_send(&a->wk, &c);
    }
    if (!fc) {
        c.kind = WC_LOAD_CKPT;
        snprintf(c.text, sizeof c.text, "%s", dir);
        worker_send(&a->wk, &c);
        c.kind = WC_SET_PROBE;
        snprintf(c.text, sizeof c.text, "%s", a->cfg->probe.text);
        worker_send(&a->wk, &c);
        app_status(a, 0, "reopening %s", dir);
        return 0;
    }
    int rc = worker_open_config(&a->wk, fc);
    free(fc);
    if (rc) { snprintf(err, n, "out of memory"); return -1; }
    if (m->save_first) app_status(a, 0, "saving the pretrained model to %s, then finetuning from it", ck);
    else app_status(a, 0, "opening %s", dir);
    return 0;
}

/* A script failed while playing: "file:line: what", and the session ends (exit status 1). */
static int script_stop(App *a, Script *sc, const ScriptCmd *c, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int script_stop(App *a, Script *sc, const ScriptCmd *c, const char *fmt, ...) {
    char what[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "llmwb: %s:%d: %s\n", sc->src, c->line, what);
    sc->failed = 1;
    a->quit = 1;
    return -1;
}

/* Advances the script; returns a key to feed, or -1 (nothing this frame). Sets a->quit at the end (headless). */
static int script_next(App *a, Script *sc, const CellBuf *cb) {
    if (sc->paused) return -1;
    while (sc->pos < sc->n) {
        const ScriptCmd *c = &sc->cmds[sc->pos];
        switch (c->op) {
        case SC_KEY: sc->pos++; return (int)c->n;
        case SC_TYPE: {
            size_t len = strlen(c->text);
            if ((size_t)sc->type_pos < len) {
                uint32_t cp;
                sc->type_pos += utf8_decode(c->text + sc->type_pos, len - (size_t)sc->type_pos, &cp);
                return (cp >= 0400 && cp < 01000) ? (int)cp | K_LITERAL : (int)cp;
            }
            sc->type_pos = 0;
            sc->pos++;
            continue;
        }
        case SC_WAIT_TEXT:
        case SC_WAIT_STEPS: {
            int ok = c->op == SC_WAIT_TEXT ? cb_contains(cb, c->text) : (a->eng && a->ts.step >= c->n);
            if (ok) { sc->deadline = 0; sc->pos++; continue; }
            double now = tui_now();
            if (sc->deadline == 0) sc->deadline = now + sc->timeout;
            if (now > sc->deadline) {
                script_dump(a, cb, sc->dump_dir, "timeout", NULL);
                if (c->op == SC_WAIT_TEXT)
                    return script_stop(a, sc, c, "timed out after %g s: wait-text %s (the screen is in timeout.txt)",
                                       sc->timeout, c->text);
                return script_stop(a, sc, c, "timed out after %g s: wait-steps %ld (the screen is in timeout.txt)",
                                   sc->timeout, c->n);
            }
            return -1;
        }
        case SC_TIMEOUT: sc->timeout = c->secs; sc->pos++; continue;
        case SC_SLEEP_FRAMES:
            if (sc->frames == 0) sc->frames = c->n + 1;
            if (--sc->frames <= 0) { sc->frames = 0; sc->pos++; continue; }
            return -1;
        case SC_DUMP:   /* (a demo on a terminal writes no files) */
            if (!sc->interactive && script_dump(a, cb, sc->dump_dir, c->text, NULL)) sc->failed = 1;
            sc->pos++;
            continue;
        case SC_STATS: {
            char buf[512];
            tui_stats_text(buf, sizeof buf, cb->w, cb->h);
            script_dump(a, cb, sc->dump_dir, c->text, buf);
            g_draw_sum = g_draw_max = 0, g_draw_n = 0;   /* each `stats` covers the frames since the last */
            sc->pos++;
            continue;
        }
        case SC_RESIZE:
            sc->resize_w = (int)c->n;
            sc->resize_h = (int)c->m;
            sc->pos++;
            return K_RESIZE;
        case SC_QUIT:
            a->quit = 1;
            sc->pos++;
            return -1;
        case SC_STAGE:   /* show step N (1-based) of the course in the panel; past --until: the end */
            if (sc->last_stage > 0 && c->n > sc->last_stage) {
                sc->pos = sc->n;
                continue;
            }
            if (a->course) a->lesson_step = (int)c->n - 1;
            sc->pos++;
            return K_CTRL_L;            /* a key that only redraws */
        case SC_DEMO_OPEN: {   /* reopen the engine on one of the demo's models (demo.h) */
            char err[LW_ERRLEN];
            sc->pos++;
            if (tui_demo_open(a, c->text[0] ? c->text : "finetune", err, sizeof err))
                return script_stop(a, sc, c, "%s: %s", c->name, err);
            return K_CTRL_L;
        }
        case SC_PAUSE:   /* interactive: wait for Space; headless: go on */
            sc->pos++;
            if (sc->interactive) {
                sc->paused = 1;
                a->demo_paused = 1;
                return K_CTRL_L;
            }
            continue;
        }
    }
    if (!sc->interactive) a->quit = 1;
    return -1;
}

/* ---- options and main ---- */

static void tui_usage(FILE *f) {
    fputs("usage: llmwb tui [options]\n"
          "  -c, --config FILE   run config (default configs/default.yaml)\n"
          "  --no-mouse          start with the mouse off (toggle with m)\n"
          "  --theme dark|light  colour theme (light: high contrast for projectors)\n"
          "  --ascii             ASCII drawing only\n"
          "  --script FILE       play a key script headless and exit (see docs/user-guide.md)\n"
          "  --dump-dir DIR      where the script's dump commands write (default .)\n"
          "  --run-dir DIR       override train.run_dir\n"
          "  --ckpt DIR          chat with a saved checkpoint\n"
          "  --train             start training at once, on the Train screen (what `make run` does)\n"
          "  --fresh             start the run over; a run with a checkpoint is kept aside (runs/NAME.1)\n"
          "                      (without it a run with a checkpoint is resumed, after asking)\n"
          "  --watch RUN_DIR     watch a run another process trains, read-only (a second --watch overlays\n"
          "                      another run's loss curves; up to 4)\n"
          "  --help              this text\n"
          "usage: llmwb lesson [NAME|all] [--restart] [--lessons-dir DIR] [tui options]\n"
          "  walk through docs/lessons/ in a side panel (C-n next, C-p back, C-o hide); resumes where you left\n"
          "usage: llmwb demo [--headless] [--seed N] [--until N] [--dump-dir DIR] [--run-dir DIR] [--theme dark|light]\n"
          "  a fixed-seed scripted session in stages; Space continues after each stage:\n"
          "  1 a tokenizer learns merges, 2 tokens become vectors, 3 pretraining a tiny GPT, 4 attention forms,\n"
          "  5 talking to the model, 6 finetuning a classifier (word order), 7 the classifier answers,\n"
          "  8 an encoder sees both ways (GPT's causal maps, then BERT's full squares),\n"
          "  9 an encoder fills blanks, 10 the original Transformer (an encoder-decoder learns to translate:\n"
          "  its encoder, decoder and cross-attention maps), 11 the translator answers\n",
          f);
}

/* The question asked when the run directory holds a checkpoint: returns 'r' (resume), 'f' (start fresh, the old
 * run kept aside) or 'q' (quit). */
static int tui_ask_resume(App *a, CellBuf *cb, const char *dir, long step, const char *kept) {
    char aside[CFG_PATH_MAX + 16];
    if (run_aside_name(dir, aside, sizeof aside)) snprintf(aside, sizeof aside, "%s.N", dir);
    int extra = kept && *kept;
    for (;;) {
        int w, h;
        term_size(&w, &h);
        cb_resize(cb, w, h);
        cb_clear(cb);
        if (a->caps.light) cb_fill(cb, (Rect){0, 0, w, h}, ' ', a->th.text);
        int bw = w - 4 < 76 ? w - 4 : 76;
        Rect r = {(w - bw) / 2, h / 2 - 5, bw, 10 + extra};
        cb_fill(cb, r, ' ', a->th.text);
        cb_box(cb, r, "This run has a checkpoint", a->th.warn, a->caps.unicode);
        char line[CFG_PATH_MAX + 96];
        snprintf(line, sizeof line, "%s holds a checkpoint at step %ld.", dir, step);
        cb_text(cb, r.x + 2, r.y + 2, bw - 4, line, a->th.bold);
        cb_text(cb, r.x + 2, r.y + 4, bw - 4, "r  resume it (Enter), with the config saved in it", a->th.text);
        if (extra) cb_text(cb, r.x + 5, r.y + 5, bw - 7, kept, a->th.warn); /* what -c would not change */
        snprintf(line, sizeof line, "f  start fresh; the old run is kept as %s", aside);
        cb_text(cb, r.x + 2, r.y + 5 + extra, bw - 4, line, a->th.text);
        cb_text(cb, r.x + 2, r.y + 6 + extra, bw - 4, "q  quit (Esc)", a->th.text);
        cb_text(cb, r.x + 2, r.y + 8 + extra, bw - 4, "Nothing is overwritten either way.", a->th.dim);
        term_flush(cb, &a->caps, 0);
        int mx, my, key = term_get_key(500, &mx, &my);
        if (g_sigint) return 'q';
        if (key == 'r' || key == 'R' || key == '\n' || key == '\r' || key == K_ENTER) return 'r';
        if (key == 'f' || key == 'F') return 'f';
        if (key == 'q' || key == 'Q' || key == K_ESC || key == K_F(10) || key == 3) return 'q';
    }
}

/* Before the engine opens (docs/user-guide.md, "Runs"): a run directory with a checkpoint is resumed with its own
 * saved config, or, when the person asks (or passed --fresh), started over with the old run kept aside; nothing
 * is overwritten. A terminal session is asked; a script resumes unless --fresh; the demo starts over. Returns 0 with plan filled,
 * 'q' to quit, or -1 with the error in plan->note (the engine then refuses to open and says why). */
static int tui_prepare_run(App *a, CellBuf *cb, const Config *cfg, const char *cfg_path, const char *run_dir,
                           int fresh, int demo, RunPlan *plan) {
    char dir[CFG_PATH_MAX];
    run_dir_for(cfg, run_dir, dir, sizeof dir);
    long step = run_checkpoint_step(dir);
    if (demo) /* the demo always starts over: a checkpoint someone saved in its directory is kept aside */
        fresh = step >= 0 || demo_run_has_checkpoint(dir);
    RunRequest rq = {.config_path = cfg_path, .cfg = cfg, .run_dir = run_dir, .fresh = fresh, .steps = -1};
    LwError e = {0};
    if (!fresh && step >= 0 && !a->headless) {
        /* plan the resume first (it moves nothing), so the question can name what -c would not change */
        int ok = run_plan(&rq, plan, &e) == 0;
        const char *kept = ok ? strstr(plan->note, "kept from the run") : e.msg;
        int k = tui_ask_resume(a, cb, dir, step, kept);
        if (k == 'q') return 'q';
        if (k == 'r') {
            if (ok) return 0;
            snprintf(plan->note, sizeof plan->note, "%s", e.msg);
            return -1;
        }
        rq.fresh = 1;
    }
    if (run_plan(&rq, plan, &e)) {
        snprintf(plan->note, sizeof plan->note, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* A data directory: DIR from the cwd, else the installed share dir, else <exe>/../share/llmwb/DIR. */
static const char *tui_find_dir(const char *rel, const char *share_rel, char *buf, size_t n) {
    if (lw_is_dir(rel)) return rel;
#ifdef LLMWB_SHARE
    snprintf(buf, n, "%s/%s", LLMWB_SHARE, share_rel);
    if (lw_is_dir(buf)) return buf;
#endif
    char exe[1024];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, n, "%s/../share/llmwb/%s", exe, share_rel);
            if (lw_is_dir(buf)) return buf;
        }
    }
    return rel;
}

/* The default config: configs/default.yaml from the cwd, else the installed share dir (LLMWB_SHARE, set by the
 * Makefile), else <exe>/../share/llmwb/configs/default.yaml. */
static const char *tui_default_config(char *buf, size_t n) {
    if (access("configs/default.yaml", R_OK) == 0) return "configs/default.yaml";
#ifdef LLMWB_SHARE
    snprintf(buf, n, "%s/configs/default.yaml", LLMWB_SHARE);
    if (access(buf, R_OK) == 0) return buf;
#endif
    char exe[1024];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, n, "%s/../share/llmwb/configs/default.yaml", exe);
            if (access(buf, R_OK) == 0) return buf;
        }
    }
    return NULL;
}

int tui_main(int argc, char **argv) {
    const char *cfg_path = NULL, *theme = "dark", *script_path = NULL, *dump_dir = ".", *run_dir = NULL,
               *ckpt = NULL, *lesson_name = NULL, *lessons_dir = NULL, *seed_arg = NULL, *until_arg = NULL;
    int mouse = 1, ascii = 0, start_training = 0, restart = 0, headless_demo = 0, fresh = 0, n_watch = 0;
    const char *watch[APP_MAX_RUNS];
    int lesson_mode = argc > 0 && !strcmp(argv[0], "lesson"), demo_mode = argc > 0 && !strcmp(argv[0], "demo");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(var)                                                              \
    do {                                                                       \
        if (!next) {                                                           \
            fprintf(stderr, "llmwb tui: %s needs an argument\n", o);           \
            return 2;                                                          \
        }                                                                      \
        var = next;                                                            \
        i++;                                                                   \
    } while (0)
        if (!strcmp(o, "-c") || !strcmp(o, "--config")) TAKE(cfg_path);
        else if (!strcmp(o, "--theme")) TAKE(theme);
        else if (!strcmp(o, "--script")) TAKE(script_path);
        else if (!strcmp(o, "--dump-dir")) TAKE(dump_dir);
        else if (!strcmp(o, "--run-dir")) TAKE(run_dir);
        else if (!strcmp(o, "--ckpt")) TAKE(ckpt);
        else if (!strcmp(o, "--watch") && !lesson_mode && !demo_mode) {
            const char *dir = NULL;
            TAKE(dir);
            if (n_watch == APP_MAX_RUNS) {
                fprintf(stderr, "llmwb tui: --watch: at most %d runs at once\n", APP_MAX_RUNS);
                return 2;
            }
            watch[n_watch++] = dir;
        }
        else if (!strcmp(o, "--no-mouse")) mouse = 0;
        else if (!strcmp(o, "--ascii")) ascii = 1;
        else if (!strcmp(o, "--train")) start_training = 1;
        else if (!strcmp(o, "--fresh")) fresh = 1;
        else if (lesson_mode && !strcmp(o, "--restart")) restart = 1;
        else if (lesson_mode && !strcmp(o, "--lessons-dir")) TAKE(lessons_dir);
        else if (lesson_mode && o[0] != '-' && !lesson_name) lesson_name = o;
        else if (demo_mode && !strcmp(o, "--headless")) headless_demo = 1;
        else if (demo_mode && !strcmp(o, "--seed")) TAKE(seed_arg);
        else if (demo_mode && !strcmp(o, "--until")) TAKE(until_arg);
        else if (!strcmp(o, "--help") || !strcmp(o, "-h")) { tui_usage(stdout); return 0; }
        else if (!strcmp(o, "tui")) continue;
        else {
            const char *cmd = lesson_mode ? "lesson" : demo_mode ? "demo" : "tui";
            fprintf(stderr, "llmwb %s: unknown option '%s' (see llmwb %s --help)\n", cmd, o, cmd);
            return 2;
        }
#undef TAKE
    }
    if (strcmp(theme, "dark") != 0 && strcmp(theme, "light") != 0) {
        fprintf(stderr, "llmwb tui: --theme must be dark or light, not '%s'\n", theme);
        return 2;
    }
    if (demo_mode && (cfg_path || script_path || ckpt || start_training)) {
        fprintf(stderr, "llmwb demo: -c, --script, --ckpt and --train do not apply (the demo has its own)\n");
        return 2;
    }
    if (n_watch && (cfg_path || ckpt || start_training || fresh || run_dir)) {
        fprintf(stderr, "llmwb tui: --watch opens a run read-only: -c, --ckpt, --train, --fresh and --run-dir do not "
                        "apply\n");
        return 2;
    }
    uint64_t demo_seed = 123;
    if (seed_arg) {
        char *end;
        demo_seed = strtoull(seed_arg, &end, 10);
        if (end == seed_arg || *end) {
            fprintf(stderr, "llmwb demo: --seed needs a whole number, not '%s'\n", seed_arg);
            return 2;
        }
    }
    long demo_until = DEMO_N_STAGES;
    if (until_arg) {
        char *end;
        demo_until = strtol(until_arg, &end, 10);
        if (end == until_arg || *end || demo_until < 1 || demo_until > DEMO_N_STAGES) {
            fprintf(stderr, "llmwb demo: --until needs a stage from 1 to %d, not '%s'\n", DEMO_N_STAGES, until_arg);
            return 2;
        }
    }
    /* the course shown in the side panel: lessons, or the demo's stages */
    static Course course;
    memset(&course, 0, sizeof course);
    if (lesson_mode || demo_mode) {
        char err[1200], dbuf[1200];
        int rc = demo_mode ? course_from_text(&course, "demo", "demo", demo_stages_text(), err, sizeof err)
                           : course_load_dir(&course, lessons_dir ? lessons_dir : tui_find_dir("docs/lessons", "lessons",
                                                                                               dbuf, sizeof dbuf),
                                             lesson_name, err, sizeof err);
        if (rc) {
            fprintf(stderr, "llmwb %s: %s\n", argv[0], err);
            return 2;
        }
    }

    setlocale(LC_ALL, "");
    static App app;   /* big (cell buffers, worker queue): not on the stack */
    App *a = &app;
    memset(a, 0, sizeof *a);
    le_init(&a->search_le);
    a->caps.unicode = !ascii && caps_locale_is_utf8(nl_langinfo(CODESET));
    a->caps.light = !strcmp(theme, "light");
    a->caps.cm = caps_select_color(getenv("NO_COLOR"), getenv("COLORTERM"), getenv("TERM"), -1);
    a->mouse = mouse;
    a->headless = script_path != NULL || headless_demo;
    if (course.n) a->course = &course;
    for (int i = 0; i < n_watch; i++) a->runs[a->n_runs++] = watch[i];
    a->repro = demo_mode;

    /* config: errors are shown in the status line and the session continues on the built-in defaults */
    static Config cfg;
    cfg_defaults(&cfg);
    char defbuf[1200];
    char cfg_err[LW_ERRLEN + 64] = "";
    const char *user_cfg = cfg_path; /* -c as given: a resumed run keeps its own config unless -c names one */
    if (!cfg_path && !n_watch) cfg_path = tui_default_config(defbuf, sizeof defbuf);
    if (demo_mode) {
        LwError e = {0};
        if (demo_config(&cfg, demo_seed, run_dir, &e) || cfg_validate(&cfg, &e)) {
            fprintf(stderr, "llmwb demo: %s\n", e.msg);
            course_free(&course);
            return 1;
        }
    } else if (cfg_path) {
        LwError e = {0};
        if (cfg_load(&cfg, cfg_path, &e) || cfg_validate(&cfg, &e)) {
            /* shown whole on every screen; nothing else runs in its place */
            snprintf(cfg_err, sizeof cfg_err, "%s", e.msg);
            cfg_defaults(&cfg);
        }
    }
    a->cfg = &cfg;

    Script sc;
    memset(&sc, 0, sizeof sc);
    if (script_path) {
        char err[1200];
        if (script_load(&sc, script_path, err, sizeof err)) {
            fprintf(stderr, "llmwb tui: %s\n", err);
            return 2;
        }
        sc.dump_dir = dump_dir;
    }
    if (demo_mode) {
        LwError de;
        if (headless_demo && lw_mkdirs(dump_dir, &de)) {
            fprintf(stderr, "llmwb demo: %s\n", de.msg);
            course_free(&course);
            return 1;
        }
        char err[LW_ERRLEN];
        const char *text = demo_script_text();
        LW_ASSERT(script_parse(&sc, "demo", text, strlen(text), err, sizeof err) == 0); /* ours: a bug if not */
        sc.dump_dir = dump_dir;
        sc.interactive = !headless_demo;
        sc.last_stage = (int)demo_until;
    }
    int scripted = script_path != NULL || demo_mode;

    CellBuf cb;
    cb_init(&cb, 120, 36);
    lw_set_fatal_hook(tui_fatal_hook);
    lw_set_log(tui_log, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tui_on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_flags = SA_RESETHAND; /* a second one while saving ends the process (the writes are atomic) */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    if (!a->headless) {
        if (term_open(&a->caps, a->mouse)) {
            fprintf(stderr, "llmwb tui: cannot open the terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
            cb_free(&cb);
            return 1;
        }
        int w, h;
        term_size(&w, &h);
        cb_resize(&cb, w, h);
    }
    theme_init(&a->th, &a->caps);
    if (lesson_mode) {
        lesson_progress_path(a->lesson_state, sizeof a->lesson_state);
        int at = restart ? -1 : lesson_progress_load(a->lesson_state, course.key);
        int total = course_total_steps(&course);
        a->lesson_step = at >= 0 && at < total ? at : 0;
        const LessonStep *st = course_step(&course, a->lesson_step, NULL, NULL);
        if (st) a->screen = st->screen;
        if (!cfg_err[0]) {
            if (at > 0) app_status(a, 0, "lesson resumed at step %d/%d (C-p back, --restart starts over)", at + 1, total);
            else app_status(a, 0, "lesson: C-n next step, C-p back, C-o hides the panel");
        }
    }

    static RunPlan plan;
    const char *resume = NULL;
    if (!ckpt && !cfg_err[0] && !n_watch) {
        int pr = tui_prepare_run(a, &cb, &cfg, user_cfg, run_dir, fresh, demo_mode, &plan);
        if (pr == 'q') {
            if (!a->headless) term_close();
            cb_free(&cb);
            if (scripted) script_free(&sc);
            course_free(&course);
            return 0;
        }
        if (pr == 0) {
            cfg = plan.cfg;
            run_dir = plan.run_dir;
            resume = plan.action == RUN_RESUME ? plan.resume_dir : NULL;
        }
        if (plan.note[0]) {
            app_status(a, pr != 0, "%s", plan.note);
            if (a->headless || pr) fprintf(stderr, "llmwb: %s\n", plan.note);
        }
    }
    if (n_watch ? worker_start_watch(&a->wk, watch[0])
        : cfg_err[0] && !ckpt ? worker_start_idle(&a->wk, &cfg, cfg_err)
                              : worker_start_run(&a->wk, &cfg, ckpt, run_dir, resume)) {
        if (!a->headless) term_close();
        fprintf(stderr, "llmwb tui: cannot start the worker thread\n");
        cb_free(&cb);
        return 1;
    }
    tui_log_worker(&a->wk);
    run_dir_for(&cfg, run_dir, a->run_dir, sizeof a->run_dir);
    if (ckpt) a->screen = 4;
    if (n_watch) {
        a->screen = 3;
        app_status(a, 0, "watching %s read-only: keys that would change the run say so", watch[0]);
    }
    int script_ended_msg = 0;
    if (start_training && !ckpt) {
        a->screen = 3;
        worker_send_kind(&a->wk, WC_RUN);
    }

    uint64_t last_eseq = (uint64_t)-1, last_wseq = (uint64_t)-1;
    int last_log = 0;
    int dirty = 1, force = 0;
    while (!a->quit && !g_sigint) {
        /* one frame: refresh state, redraw if anything changed */
        a->eng = worker_engine_acquire(&a->wk);
        if (a->eng) engine_get_train(a->eng, &a->ts);   /* before the worker's status: app_training_done */
        worker_status(&a->wk, &a->ws);
        /* the worker's message and the log line, the older first: the newer stays on the status line */
        pthread_mutex_lock(&g_log_mu);
        int new_log = g_log_seq != last_log, log_newer = new_log && g_log_after >= a->ws.msg_seq;
        if (new_log && !log_newer) app_status(a, 1, "%s", g_log_msg);
        if (a->ws.msg_seq != a->last_msg_seq) {
            a->last_msg_seq = a->ws.msg_seq;
            int err = strstr(a->ws.msg, "fail") || strstr(a->ws.msg, "cannot") || strstr(a->ws.msg, "stopped");
            app_status(a, err, "%s", a->ws.msg);
            dirty = 1;
        }
        if (log_newer) app_status(a, 1, "%s", g_log_msg);
        if (new_log) last_log = g_log_seq, dirty = 1;
        pthread_mutex_unlock(&g_log_mu);
        if (a->eng) {
            uint64_t es = engine_seq(a->eng);
            if (es != last_eseq) dirty = 1, last_eseq = es;
            if (a->ts.watching) engine_get_watch(a->eng, &a->watch);
        }
        if (a->ws.seq != last_wseq) dirty = 1, last_wseq = a->ws.seq;
        for (int i = 0; i < N_SCREENS; i++)
            if (SCREENS[i]->poll && SCREENS[i]->poll(a)) dirty = 1;
        if (dirty) {
            double t0 = tui_now();
            tui_draw(a, &cb);
            double dt = tui_now() - t0;
            g_draw_sum += dt, g_draw_n++;
            if (dt > g_draw_max) g_draw_max = dt;
            if (!a->headless) {
                double t1 = tui_now();
                term_flush(&cb, &a->caps, force);
                double ft = tui_now() - t1;
                g_flush_sum += ft, g_flush_n++;
                if (ft > g_flush_max) g_flush_max = ft;
            }
            dirty = force = 0;
            if (a->export_req) {
                a->export_req = 0;
                tui_export(a, &cb);
                dirty = 1;
            }
        }
        worker_engine_release(&a->wk);
        if (a->quit) break;

        /* input */
        int mx = -1, my = -1, key;
        if (a->headless) {
            key = script_next(a, &sc, &cb);
            if (key == K_RESIZE) cb_resize(&cb, sc.resize_w, sc.resize_h);
            if (key < 0 && !a->quit) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        } else {
            int busy = a->ws.running || a->ws.bpe_running || a->ws.gen_active || a->ws.phase == WK_OPENING ||
                       a->ws.stepping;
            key = -1;
            int playing = scripted && !sc.paused && sc.pos < sc.n;
            if (playing) {   /* a demo on a terminal: the script types, the presenter may still press keys */
                key = script_next(a, &sc, &cb);
                if (key == K_RESIZE) key = -1;   /* the real terminal decides the size */
                if (sc.failed) a->quit = 1;
            } else if (scripted && !script_ended_msg && !sc.paused && sc.pos >= sc.n) {
                script_ended_msg = 1;
                app_status(a, 0, "the demo is over: explore freely, q quits");
                dirty = 1;
            }
            int typed = key < 0;
            if (key < 0) key = term_get_key(playing ? 20 : busy ? 50 : 250, &mx, &my);
            if (key == ' ' && sc.paused) {
                sc.paused = 0;
                a->demo_paused = 0;
                a->status[0] = '\0';
                dirty = 1;
                continue;
            }
            /* while the demo plays, the presenter's Space waits for the next pause: it must not pause the
             * training or the merges the script started (the stages would then depend on when it was pressed) */
            if (key == ' ' && typed && playing) continue;
            if (key == K_RESIZE) {
                int w, h;
                term_size(&w, &h);
                cb_resize(&cb, w, h);
                force = 1;
            }
        }
        if (key < 0) continue;
        dirty = 1;
        if (key == K_RESIZE) continue;
        if (key == K_CTRL_L) { force = 1; continue; }
        a->eng = worker_engine_acquire(&a->wk);
        if (a->eng) engine_get_train(a->eng, &a->ts);
        tui_key(a, key, mx, my);
        worker_engine_release(&a->wk);
    }
    if (!a->headless) term_close();
    const char *stats = getenv("LLMWB_TUI_STATS");
    if (stats && *stats) {
        FILE *f = fopen(stats, "w");
        if (f) {
            char buf[512];
            tui_stats_text(buf, sizeof buf, cb.w, cb.h);
            fputs(buf, f);
            fclose(f);
        }
    }
    int sig = g_sigint;
    if (sig && sig != SIGINT) {
        /* killed, hung up or Ctrl-\: keep the work like `q` then `y` would */
        a->eng = worker_engine_acquire(&a->wk);
        int unsaved = a->eng && (engine_get_train(a->eng, &a->ts), a->ts.unsaved > 0);
        worker_engine_release(&a->wk);
        fprintf(stderr, "llmwb: %s%s\n", strsignal(sig), unsaved ? "; saving the unsaved training first" : "");
        a->save_on_quit = unsaved;
    }
    if (a->save_on_quit && sig != SIGINT) {
        /* finish the current step, save, then stop */
        fprintf(stderr, "llmwb: saving a checkpoint before quitting ...\n");
        worker_send_kind(&a->wk, WC_PAUSE);
        worker_send_kind(&a->wk, WC_SAVE);
        worker_drain(&a->wk);
        WorkerStatus ws;
        worker_status(&a->wk, &ws);
        if (ws.msg[0]) fprintf(stderr, "llmwb: %s\n", ws.msg);
    }
    tui_log_worker(NULL);
    if (worker_stop(&a->wk, a->save_on_quit ? -1.0 : 1.0)) {
        /* A long step (big model) is still running and does not poll the abort flag. Returning would make
         * exit() wait for it (OpenBLAS joins its threads in a destructor), so end the process here. */
        fprintf(stderr, "llmwb: left the current training step unfinished (nothing was saved)\n");
        fflush(NULL);
        _exit(g_sigint ? 128 + g_sigint : 0);
    }
    lw_set_fatal_hook(NULL);
    lw_set_log(NULL, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    cb_free(&cb);
    int failed = sc.failed;
    if (scripted) script_free(&sc);
    course_free(&course);
    if (g_sigint) {
        g_sigint = 0;
        if (sig == SIGINT) fprintf(stderr, "llmwb: interrupted\n");
        return 128 + sig; /* the shell's convention: 130 for SIGINT, 143 for SIGTERM, 129 SIGHUP, 131 SIGQUIT */
    }
    return failed ? 1 : 0;
}
