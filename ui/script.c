/* script.c — key scripts parsed and checked before they play (see script.h). */
#include "script.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "demo.h"

typedef enum { ARG_NONE, ARG_KEY, ARG_TEXT, ARG_NAME, ARG_INT, ARG_SECS, ARG_SIZE, ARG_DEMO } ArgKind;

/* One row per command: its word, what its argument is, and the bounds of a number. */
static const struct {
    const char *name;
    ScriptOp op;
    ArgKind arg;
    long lo, hi;
} COMMANDS[] = {
    {"key", SC_KEY, ARG_KEY, 0, 0},
    {"type", SC_TYPE, ARG_TEXT, 0, 0},
    {"wait-text", SC_WAIT_TEXT, ARG_TEXT, 0, 0},
    {"wait-steps", SC_WAIT_STEPS, ARG_INT, 0, SCRIPT_MAX_STEPS},
    {"timeout", SC_TIMEOUT, ARG_SECS, 0, 0},
    {"sleep-frames", SC_SLEEP_FRAMES, ARG_INT, 0, SCRIPT_MAX_FRAMES},
    {"dump", SC_DUMP, ARG_NAME, 0, 0},
    {"stats", SC_STATS, ARG_NAME, 0, 0},
    {"resize", SC_RESIZE, ARG_SIZE, 1, SCRIPT_MAX_SIZE},
    {"quit", SC_QUIT, ARG_NONE, 0, 0},
    {"stage", SC_STAGE, ARG_INT, 1, SCRIPT_MAX_STAGE},
    {"demo-finetune", SC_DEMO_OPEN, ARG_NONE, 0, 0},   /* = demo-open finetune */
    {"demo-open", SC_DEMO_OPEN, ARG_DEMO, 0, 0},
    {"pause", SC_PAUSE, ARG_NONE, 0, 0},
};

int script_key_code(const char *w) {
    static const struct { const char *name; int key; } names[] = {
        {"Space", ' '}, {"Enter", '\r'}, {"Esc", K_ESC}, {"Escape", K_ESC}, {"Tab", K_TAB}, {"BTab", K_BTAB},
        {"S-Tab", K_BTAB}, {"Left", K_LEFT}, {"Right", K_RIGHT}, {"Up", K_UP}, {"Down", K_DOWN},
        {"Home", K_HOME}, {"End", K_END}, {"PgUp", K_PPAGE}, {"PgDn", K_NPAGE}, {"PageUp", K_PPAGE},
        {"PageDown", K_NPAGE}, {"Backspace", K_BACKSPACE}, {"BSpace", K_BACKSPACE}, {"Delete", K_DC},
        {"DC", K_DC}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(w, names[i].name) == 0) return names[i].key;
    if (w[0] == 'F' && w[1] >= '1' && w[1] <= '9' && (!w[2] || (w[2] >= '0' && w[2] <= '9' && !w[3]))) {
        int n = atoi(w + 1);
        if (n >= 1 && n <= 12) return K_F(n);
    }
    if ((w[0] == 'C' || w[0] == 'c') && w[1] == '-' && w[2] && !w[3]) {
        int c = w[2] | 0x20;
        if (c >= 'a' && c <= 'z') return c - 'a' + 1;
    }
    if (w[0] && !w[1] && (unsigned char)w[0] >= 0x20 && (unsigned char)w[0] < 0x7f) return (unsigned char)w[0];
    return -1;
}

static int fail(char *err, size_t errn, const char *src, int line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fail(char *err, size_t errn, const char *src, int line, size_t col, const char *fmt, ...) {
    int k = snprintf(err, errn, "%s:%d:%zu: ", src, line, col);
    if (k >= 0 && (size_t)k < errn) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, errn - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A decimal integer filling s (optional sign), or -1 with *v untouched; *range = 1 when it overflows long. */
static int parse_long(const char *s, long *v, int *range) {
    char *end;
    *range = 0;
    if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9'))) return -1;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (*end) return -1;
    if (errno == ERANGE) *range = 1;
    *v = x;
    return 0;
}

/* Parses one command line (line has no newline; text starts after leading blanks at column col0). */
static int parse_line(ScriptCmd *c, const char *src, int lineno, const char *line, char *err, size_t errn) {
    const char *p = line + strspn(line, " \t");
    size_t wl = strcspn(p, " \t");
    size_t ccol = (size_t)(p - line) + 1;
    size_t k = 0;
    while (k < sizeof COMMANDS / sizeof COMMANDS[0] &&
           (strlen(COMMANDS[k].name) != wl || strncmp(COMMANDS[k].name, p, wl) != 0))
        k++;
    if (k == sizeof COMMANDS / sizeof COMMANDS[0])
        return fail(err, errn, src, lineno, ccol, "unknown command '%.*s' (key, type, wait-text, wait-steps, timeout, "
                    "sleep-frames, dump, stats, resize, quit, stage, pause, demo-finetune, demo-open)", (int)LW_MIN(wl, 40), p);
    const char *name = COMMANDS[k].name;
    const char *arg = p + wl;
    arg += strspn(arg, " \t");
    size_t acol = (size_t)(arg - line) + 1, al = strlen(arg);
    char word[SCRIPT_MAX_LINE + 1];
    /* everything but text arguments: trailing blanks are not part of the argument */
    while (COMMANDS[k].arg != ARG_TEXT && al > 0 && (arg[al - 1] == ' ' || arg[al - 1] == '\t')) al--;
    memcpy(word, arg, al);
    word[al] = 0;
    memset(c, 0, sizeof *c);
    c->op = COMMANDS[k].op;
    c->line = lineno;
    c->name = name;
    long lo = COMMANDS[k].lo, hi = COMMANDS[k].hi;
    int range;
    switch (COMMANDS[k].arg) {
    case ARG_NONE:
        if (al) return fail(err, errn, src, lineno, acol, "%s: takes no argument, got '%.40s'", name, word);
        break;
    case ARG_KEY:
        if (!al) return fail(err, errn, src, lineno, acol, "key: needs a key name (a character, Space, Enter, F1, C-x ...)");
        c->n = script_key_code(word);
        if (c->n < 0)
            return fail(err, errn, src, lineno, acol, "unknown key '%.40s' (a character, Space, Enter, Esc, Tab, BTab, "
                        "Left, Right, Up, Down, Home, End, PgUp, PgDn, Backspace, Delete, F1..F12, C-a..C-z)", word);
        break;
    case ARG_TEXT:
        if (!al) return fail(err, errn, src, lineno, acol, "%s: needs a text", name);
        break;
    case ARG_NAME:
        if (!al || strchr(word, '/') || !strcmp(word, ".") || !strcmp(word, "..") || al > 200)
            return fail(err, errn, src, lineno, acol, "%s: needs a file name (no '/', at most 200 bytes), got '%.40s'",
                        name, word);
        for (size_t i = 0; i < al; i++)
            if ((unsigned char)word[i] < 0x20)
                return fail(err, errn, src, lineno, acol + i, "%s: control character in the file name", name);
        break;
    case ARG_DEMO:
        if (!demo_model(word))
            return fail(err, errn, src, lineno, acol, "%s: unknown demo model '%.40s' (finetune, gpt, bert, translate)",
                        name, word);
        break;
    case ARG_INT:
        if (parse_long(word, &c->n, &range) != 0)
            return fail(err, errn, src, lineno, acol, "%s: expected a whole number, got '%.40s'", name, word);
        if (range || c->n < lo || c->n > hi)
            return fail(err, errn, src, lineno, acol, "%s: must be between %ld and %ld, got %.40s", name, lo, hi, word);
        break;
    case ARG_SECS: {
        char *end = word;
        double s = al && strspn(word, "0123456789.eE+-") == al ? strtod(word, &end) : NAN;
        if (!(al && *end == 0 && isfinite(s)))
            return fail(err, errn, src, lineno, acol, "timeout: expected seconds, got '%.40s'", word);
        if (!(s > 0 && s <= SCRIPT_MAX_TIMEOUT))
            return fail(err, errn, src, lineno, acol, "timeout: must be above 0 and at most %.0f seconds, got %.40s",
                        SCRIPT_MAX_TIMEOUT, word);
        c->secs = s;
        break;
    }
    case ARG_SIZE: {
        char *sp = word + strcspn(word, " \t");
        char *second = sp + strspn(sp, " \t");
        int r2;
        if (!*sp || !*second) return fail(err, errn, src, lineno, acol, "resize: needs a width and a height (resize 120 36)");
        *sp = 0;
        if (parse_long(word, &c->n, &range) != 0 || parse_long(second, &c->m, &r2) != 0)
            return fail(err, errn, src, lineno, acol, "resize: expected two whole numbers, got '%.40s'", arg);
        if (range || r2 || c->n < lo || c->n > hi || c->m < lo || c->m > hi)
            return fail(err, errn, src, lineno, acol, "resize: width and height must be between %ld and %ld", lo, hi);
        break;
    }
    }
    int keep = COMMANDS[k].arg == ARG_TEXT || COMMANDS[k].arg == ARG_NAME || COMMANDS[k].arg == ARG_DEMO;
    c->text = lw_malloc(keep ? al + 1 : 1);
    memcpy(c->text, arg, keep ? al : 0);
    c->text[keep ? al : 0] = 0;
    return 0;
}

int script_parse(Script *sc, const char *src, const char *text, size_t len, char *err, size_t errn) {
    memset(sc, 0, sizeof *sc);
    snprintf(sc->src, sizeof sc->src, "%s", src);
    sc->timeout = 60;
    int cap = 0, lineno = 0;
    char line[SCRIPT_MAX_LINE + 1];
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - (text + at)) : len - at;
        lineno++;
        const char *s = text + at;
        at += ll + (nl != NULL);
        if (ll && s[ll - 1] == '\r') ll--;
        if (ll > SCRIPT_MAX_LINE) {
            fail(err, errn, src, lineno, SCRIPT_MAX_LINE + 1, "line longer than %d bytes", SCRIPT_MAX_LINE);
            goto bad;
        }
        const char *nul = memchr(s, 0, ll);
        if (nul) {
            fail(err, errn, src, lineno, (size_t)(nul - s) + 1, "NUL byte in the script");
            goto bad;
        }
        memcpy(line, s, ll);
        line[ll] = 0;
        const char *p = line + strspn(line, " \t");
        if (!*p || *p == '#') continue;
        size_t bad_at;
        if (!lw_utf8_valid((const unsigned char *)line, ll, &bad_at)) {
            fail(err, errn, src, lineno, bad_at + 1, "not valid UTF-8 (byte 0x%02x)", (unsigned char)line[bad_at]);
            goto bad;
        }
        if (sc->n == cap) {
            cap = cap ? 2 * cap : 32;
            sc->cmds = lw_realloc(sc->cmds, sizeof *sc->cmds * (size_t)cap);
        }
        if (parse_line(&sc->cmds[sc->n], src, lineno, line, err, errn) != 0) goto bad;
        sc->n++;
    }
    return 0;
bad:
    script_free(sc);
    return -1;
}

int script_load(Script *sc, const char *path, char *err, size_t errn) {
    memset(sc, 0, sizeof *sc);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > SCRIPT_MAX_BYTES) {
        snprintf(err, errn, "%s: too large for a script (%lld bytes, at most %d)", path, (long long)st.st_size,
                 SCRIPT_MAX_BYTES);
        return -1;
    }
    char *text;
    size_t len;
    LwError e;
    if (lw_read_file(path, &text, &len, &e)) {
        snprintf(err, errn, "%s", e.msg);
        return -1;
    }
    int rc = script_parse(sc, path, text, len, err, errn);
    free(text);
    return rc;
}

void script_free(Script *sc) {
    for (int i = 0; i < sc->n; i++) free(sc->cmds[i].text);
    free(sc->cmds);
    sc->cmds = NULL;
    sc->n = sc->pos = 0;
}
