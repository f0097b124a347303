/* app.h — the TUI's shared state and the screen interface. The main loop (tui.c) owns one App; each screen is
 * a file exporting one ScreenOps table (draw, key, title, help) and keeping its own state; the main loop knows
 * nothing screen-specific. All of this runs on the ncurses (UI) thread only. */
#ifndef LLMWB_UI_APP_H
#define LLMWB_UI_APP_H

#include "engine.h"
#include "render.h"
#include "search.h"
#include "worker.h"

/* Key codes used by screens (values of curses.h, so screens and tests need no curses header). */
enum {
    K_DOWN = 0402, K_UP = 0403, K_LEFT = 0404, K_RIGHT = 0405, K_HOME = 0406, K_BACKSPACE = 0407,
    K_F0 = 0410, K_DC = 0512, K_NPAGE = 0522, K_PPAGE = 0523, K_ENTER = 0527, K_BTAB = 0541, K_END = 0550,
    K_RESIZE = 0632, K_MOUSE = 0631, K_ESC = 27, K_TAB = 9, K_CTRL_L = 12
};
#define K_F(n) (K_F0 + (n))

/* Theme styles (dark or light), resolved for the colour mode. */
typedef struct Theme {
    Style text, dim, bold, title, header, tab, tab_active, status, error, fkey_num, fkey_label,
        highlight, cursor, good, warn, plot_raw, plot_ema, plot_val_raw, plot_val_ema, plot_aux;
    int tok_bg[6];       /* cycling token backgrounds */
    int tok_fg;
} Theme;

struct App;

typedef struct ScreenOps {
    const char *title;                       /* tab name */
    const char *short_title;                 /* its short form, for a narrow tab bar (NULL: the title is short) */
    const char *const *help;                 /* NULL-terminated "KEY\tdescription" lines */
    void (*draw)(struct App *a, CellBuf *cb, Rect r);
    /* Handles a key; returns 1 if used. Called with the raw key first, then (if unused and a vim alias) with
     * the translated arrow. */
    int (*key)(struct App *a, int key);
    /* Nonzero while the screen edits text: printable keys then go to the screen before the global keys. */
    int (*text_mode)(struct App *a);
    /* Called every loop iteration (e.g. to pull streamed tokens); returns 1 if a redraw is needed. */
    int (*poll)(struct App *a);
    const char *fkeys[4];                    /* labels of F5..F8 (NULL = unused) */
    /* Optional (P key): writes the screen's plot or heatmap as base + ".png" and ".svg" (base is a path without
     * extension, its directory exists); returns the number of files written (0 = nothing to export, with no
     * message; 1 = the SVG alone) or -1 with msg set. NULL = the screen has only its text to export. */
    int (*export_pics)(struct App *a, const char *base, char *msg, size_t n);
    /* Optional: the training step of what the screen shows (a replayed snapshot), which names the export files
     * and titles its pictures; NULL or < 0 = the current training step. */
    long (*shown_step)(struct App *a);
    /* Optional (/ n N): goes to a match of pat in the screen's main text (dir 0 = the first match from the
     * top, +1 the next, -1 the previous, wrapping), scrolls it into view and highlights it, setting the status
     * through app_search_step; pat "" clears the highlight. NULL = the screen has nothing to search. */
    void (*search)(struct App *a, const char *pat, int dir);
} ScreenOps;

extern const ScreenOps screen_tokenizer, screen_embed, screen_attention, screen_train, screen_chat, screen_lens;
/* Lens (screen_lens.c): shows the logit lens of text (the Chat's last prompt and reply; cut to 511 bytes) instead of
 * the probe sentence, until its p key returns to the probe sentence, and switches to the Lens screen. */
void lens_show_text(struct App *a, const char *text);
extern const ScreenOps screen_health;

/* The screens in tab order (screens.c), N_SCREENS of them; keys 1..9 reach the first nine. */
#define APP_MAX_SCREENS 9
extern const ScreenOps *const SCREENS[];
extern const int N_SCREENS;
/* The index of a screen by its title (any case: "tokenizer", "embed", ...) or its number "1".."N", or -1. */
int screen_index(const char *name);
/* The screens' names for messages: "tokenizer, embed, attention, train, chat". */
const char *screen_names(void);

typedef struct App {
    RenderCaps caps;
    Theme th;
    Worker wk;
    Engine *eng;              /* valid while the UI holds the worker's engine read lock (during a frame) */
    WorkerStatus ws;
    TrainSnapshot ts;         /* refreshed each frame when eng != NULL */
    const Config *cfg;        /* the config the session started with */
    char run_dir[CFG_PATH_MAX]; /* its run directory (the demo's later stages run in directories under it) */
    int screen;               /* 0..N_SCREENS-1 */
    int help, confirm_quit, quit, save_on_quit;
    char status[LW_ERRLEN];
    int status_err;
    uint64_t last_msg_seq;
    int mouse;
    int headless;             /* --script: no terminal, cell buffer only */
    /* classroom (lesson.h, demo.c) */
    const struct Course *course;   /* lesson or demo stages shown in the side panel; NULL = none */
    int lesson_step;               /* flat step index in course */
    int lesson_hidden;             /* panel hidden (C-o) */
    char lesson_state[1024];       /* progress file ("" = do not save) */
    int large;                     /* z: the current screen's main pane alone, full size (projector) */
    int repro;                     /* demo: time-dependent figures (tok/s, elapsed, ETA) drawn as "-" */
    int demo_paused;               /* demo on a terminal, waiting for Space: said on the status line */
    int export_req;                /* P pressed: export after the next frame is drawn */
    /* runs on the loss plot (--watch RUN_DIR ..., or c on the Train screen): runs[0] is the engine's (the one
     * watched read-only with --watch), the others' loss curves are overlaid */
#define APP_MAX_RUNS 4
    const char *runs[APP_MAX_RUNS];
    int n_runs;                    /* 0 = no comparison and not watching */
    WatchStatus watch;             /* of runs[0], refreshed each frame while watching */
    /* search (/ n N) */
    int search_mode;               /* the prompt is open on the status line */
    LineEdit search_le;
    char search_pat[SEARCH_MAX];   /* the last searched pattern ("" = none: n and N go to the screen) */
    /* clickable regions of the last frame */
    int tab_x0[APP_MAX_SCREENS], tab_x1[APP_MAX_SCREENS];
    int fkey_x0[10], fkey_x1[10];
} App;

/* Whether training is over: the engine reached train.steps (DONE) and the worker has finished that last step.
 * The engine says DONE as its last step begins its evaluations, samples and snapshots; the screens say so only
 * once they are published, so what a DONE screen shows does not depend on when it was drawn (the demo). */
int app_training_done(const App *a);
/* Sets the status line message (also used for errors: err = 1). */
void app_status(App *a, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One search move over a screen's flat text s[0..n) (search_next from cur, dir 0 = the first match): sets the
 * status to "match i/N", "match i/N (search wrapped)" or "no match for 'pat'", and returns the match offset or
 * -1. */
long app_search_step(App *a, const char *s, size_t n, const char *pat, long cur, int dir);
/* The token version (search_tokens): returns the token to select or -1, with the status "token i/N ...". */
int app_search_tokens(App *a, const char *toks, size_t stride, int n, const char *pat, int sel, int dir);
/* Fills th for the caps (dark or light). */
void theme_init(Theme *th, const RenderCaps *caps);
/* Draws "preparing ..." / "no engine" in r when the engine is not open; returns 1 if it drew (screens call it
 * first). */
int app_draw_not_ready(App *a, CellBuf *cb, Rect r);
/* A token's display colour (cycling), by its index in a sequence. */
Style app_token_style(const App *a, int index, int highlight);

#endif
