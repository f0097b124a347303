/* script.h — the key scripts of `llmwb tui --script FILE` (and the demo's built-in one): text parsed and checked
 * in full before anything runs, one ScriptCmd per command line. tui.c plays them (script_next); this file only
 * reads them, so it is pure and fuzzed (tests/fuzz/fuzz_script.c).
 *
 * One command per line, `#` starts a comment line, blank lines are ignored:
 *   key NAME | type TEXT | wait-text TEXT | wait-steps N | timeout S | sleep-frames N | dump NAME | stats NAME |
 *   resize W H | quit | stage N | demo-finetune | demo-open NAME | pause
 * (demo-open NAME: a row of demo.h's DEMO_MODELS; demo-finetune = demo-open finetune)
 * Every number is checked against its bounds (SCRIPT_MAX_*); a line longer than SCRIPT_MAX_LINE bytes, a NUL
 * byte, text that is not UTF-8, an unknown command or key name is an error "file:line:col: what". */
#ifndef LLMWB_UI_SCRIPT_H
#define LLMWB_UI_SCRIPT_H

#include <stddef.h>

#define SCRIPT_MAX_LINE 1023        /* bytes per line, without the newline */
#define SCRIPT_MAX_BYTES (1 << 20)  /* a whole script */
#define SCRIPT_MAX_SIZE 1000        /* resize: columns and lines */
#define SCRIPT_MAX_FRAMES 100000    /* sleep-frames */
#define SCRIPT_MAX_TIMEOUT 86400.0  /* timeout, seconds */
#define SCRIPT_MAX_STEPS 1000000000 /* wait-steps */
#define SCRIPT_MAX_STAGE 1000       /* stage */

typedef enum {
    SC_KEY, SC_TYPE, SC_WAIT_TEXT, SC_WAIT_STEPS, SC_TIMEOUT, SC_SLEEP_FRAMES, SC_DUMP, SC_STATS, SC_RESIZE,
    SC_QUIT, SC_STAGE, SC_DEMO_OPEN, SC_PAUSE
} ScriptOp;

typedef struct ScriptCmd {
    ScriptOp op;
    int line;      /* 1-based line in the script */
    long n, m;     /* key code; N of wait-steps, sleep-frames, stage; W and H of resize */
    double secs;   /* timeout */
    char *text;    /* type, wait-text, dump, stats and demo-open: the argument (owned); "" otherwise */
    const char *name; /* the command word, for messages */
} ScriptCmd;

typedef struct Script {
    char src[1024];          /* the file name (or "demo"), for messages */
    ScriptCmd *cmds;
    int n, pos;
    /* playing state (tui.c) */
    int type_pos;            /* inside a `type` line */
    double deadline;         /* of the current wait */
    long frames;             /* of the current sleep-frames */
    double timeout;          /* seconds for wait-text / wait-steps */
    const char *dump_dir;
    int failed;
    int resize_w, resize_h;  /* pending resize */
    int interactive;         /* demo on a terminal: `pause` waits for Space */
    int last_stage;          /* `stage N` with N above it ends the script (llmwb demo --until); 0 = none */
    int paused;
} Script;

/* Parses text[0..len) (src names it in messages) into sc. Returns 0, or -1 with err = "src:line:col: what"
 * and sc empty. */
int script_parse(Script *sc, const char *src, const char *text, size_t len, char *err, size_t errn);
/* Reads and parses a script file (a regular file of at most SCRIPT_MAX_BYTES); errors as script_parse, or
 * "path: why" when it cannot be read. */
int script_load(Script *sc, const char *path, char *err, size_t errn);
void script_free(Script *sc);
/* The key code named by a script word (Space, Enter, F1, C-u, Left, a single character ...), or -1. */
int script_key_code(const char *w);

#endif
