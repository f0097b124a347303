/* lesson.c — lesson files parsed into steps, the course across files, the progress file and the side panel
 * (see lesson.h for the file format). */
#include "lesson.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* ---- growable text ---- */

/* Adds one source line to a paragraph text: joined with a space, a blank line starts a new paragraph. */
static void txt_line(StrBuf *t, const char *line, int *blank_pending) {
    if (!*line) {
        if (t->len) *blank_pending = 1;
        return;
    }
    if (t->len) {
        if (*blank_pending) sb_add(t, "\n\n", 2);
        else sb_add(t, " ", 1);
    }
    *blank_pending = 0;
    sb_add(t, line, strlen(line));
}


static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* If line starts with "key:" (case-insensitive), returns the trimmed value, else NULL. */
static char *field(char *line, const char *key) {
    size_t k = strlen(key);
    if (strncasecmp(line, key, k) || line[k] != ':') return NULL;
    return trim(line + k + 1);
}

static int fail_at(char *err, size_t errn, const char *src, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fail_at(char *err, size_t errn, const char *src, int line, int col, const char *fmt, ...) {
    int k = snprintf(err, errn, "%s:%d:%d: ", src, line, col);
    if (k < 0 || (size_t)k >= errn) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, errn - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static int step_finish(LessonStep *s, const char *src, StrBuf *body, char *err, size_t errn) {
    s->body = sb_take(body);
    if (!s->try_[0]) return fail_at(err, errn, src, s->line, 1, "step '%s': missing a 'try:' line", s->title);
    if (!s->look[0]) return fail_at(err, errn, src, s->line, 1, "step '%s': missing a 'look for:' line", s->title);
    return 0;
}

int lesson_parse(Lesson *l, const char *src, const char *text, char *err, size_t errn) {
    memset(l, 0, sizeof *l);
    char *copy = lw_strdup(text);
    StrBuf body = {0}, intro = {0};
    int blank = 0, default_screen = -1, state = 0; /* 0 before header, 1 header, 2 intro, 3 steps */
    int lineno = 0, rc = 0, cap = 0;
    for (char *p = copy; p && rc == 0;) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = '\0';
        char *raw = p;
        p = eol ? eol + 1 : NULL;
        lineno++;
        char *line = trim(raw);
        if (state == 0) {
            if (!*line) continue;
            if (strcmp(line, "---") != 0) {
                rc = fail_at(err, errn, src, lineno, 1, "a lesson starts with a '---' header (title:, screen:)");
                break;
            }
            state = 1;
            continue;
        }
        if (state == 1) {
            if (!strcmp(line, "---")) {
                if (!l->title[0]) rc = fail_at(err, errn, src, lineno, 1, "header: missing 'title:'");
                state = 2;
                continue;
            }
            if (!*line || line[0] == '#') continue;
            char *v;
            if ((v = field(line, "title"))) snprintf(l->title, sizeof l->title, "%s", v);
            else if ((v = field(line, "config"))) snprintf(l->config, sizeof l->config, "%s", v);
            else if ((v = field(line, "screen"))) {
                default_screen = screen_index(v);
                if (default_screen < 0)
                    rc = fail_at(err, errn, src, lineno, (int)(v - raw) + 1,
                                 "screen: unknown screen '%s' (%s)", v, screen_names());
            } else {
                char *colon = strchr(line, ':');
                rc = fail_at(err, errn, src, lineno, (int)(line - raw) + 1,
                             "header: unknown key '%.*s' (title, screen, config)", colon ? (int)(colon - line) : 40, line);
            }
            continue;
        }
        if (!strncmp(line, "## ", 3)) {
            if (state == 3 && step_finish(&l->steps[l->n_steps - 1], src, &body, err, errn)) { rc = -1; break; }
            state = 3;
            if (l->n_steps == cap) {
                cap = cap ? 2 * cap : 8;
                l->steps = lw_realloc(l->steps, sizeof *l->steps * (size_t)cap);
            }
            LessonStep *s = &l->steps[l->n_steps++];
            memset(s, 0, sizeof *s);
            snprintf(s->title, sizeof s->title, "%s", trim(line + 3));
            s->screen = default_screen;
            s->line = lineno;
            blank = 0;
            continue;
        }
        if (state == 2) {
            txt_line(&intro, line, &blank);
            continue;
        }
        LessonStep *s = &l->steps[l->n_steps - 1];
        char *v;
        if ((v = field(line, "screen"))) {
            s->screen = screen_index(v);
            if (s->screen < 0)
                rc = fail_at(err, errn, src, lineno, (int)(v - raw) + 1,
                             "screen: unknown screen '%s' (%s)", v, screen_names());
        } else if ((v = field(line, "try"))) {
            snprintf(s->try_, sizeof s->try_, "%s", v);
        } else if ((v = field(line, "look for"))) {
            snprintf(s->look, sizeof s->look, "%s", v);
        } else {
            txt_line(&body, line, &blank);
        }
    }
    if (rc == 0 && state < 2) rc = fail_at(err, errn, src, lineno, 1, "the '---' header is not closed");
    if (rc == 0 && l->n_steps == 0) rc = fail_at(err, errn, src, lineno, 1, "no steps ('## ' headings)");
    if (rc == 0 && step_finish(&l->steps[l->n_steps - 1], src, &body, err, errn)) rc = -1;
    for (int i = 0; rc == 0 && i < l->n_steps; i++)
        if (l->steps[i].screen < 0)
            rc = fail_at(err, errn, src, l->steps[i].line, 1, "step '%s': no 'screen:' (and none in the header)",
                         l->steps[i].title);
    l->intro = sb_take(&intro);
    free(body.s);
    free(copy);
    if (rc) lesson_free(l);
    return rc;
}

int lesson_load(Lesson *l, const char *path, char *err, size_t errn) {
    char *text;
    LwError e;
    if (lw_read_file(path, &text, NULL, &e)) {
        memset(l, 0, sizeof *l);
        snprintf(err, errn, "%s", e.msg);
        return -1;
    }
    int rc = lesson_parse(l, path, text, err, errn);
    free(text);
    if (rc == 0) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        snprintf(l->name, sizeof l->name, "%.*s", (int)(strcspn(base, ".")), base);
    }
    return rc;
}

void lesson_free(Lesson *l) {
    for (int i = 0; i < l->n_steps; i++) free(l->steps[i].body);
    free(l->steps);
    free(l->intro);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether name picks the lesson with file stem `stem` ("03-embeddings": "03-embeddings", "embeddings", "3"). */
static int name_matches(const char *stem, const char *name) {
    if (!strcmp(stem, name)) return 1;
    const char *dash = strchr(stem, '-');
    if (dash && isdigit((unsigned char)stem[0])) {
        if (!strcmp(dash + 1, name)) return 1;
        char *end;
        long a = strtol(stem, &end, 10), b = strtol(name, &end, 10);
        if (*name && !*end && a == b) return 1;
    }
    return 0;
}

int course_load_dir(Course *c, const char *dir, const char *name, char *err, size_t errn) {
    memset(c, 0, sizeof *c);
    int all = !name || !*name || !strcmp(name, "all");
    snprintf(c->key, sizeof c->key, "%s", all ? "all" : name);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errn, "%s: cannot open the lessons directory", dir);
        return -1;
    }
    char **files = NULL;
    int nf = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t k = strlen(de->d_name);
        if (k < 4 || strcmp(de->d_name + k - 3, ".md") || de->d_name[0] == '.') continue;
        if (!strcasecmp(de->d_name, "README.md")) continue;
        if (nf == cap) {
            cap = cap ? 2 * cap : 16;
            files = lw_realloc(files, sizeof *files * (size_t)cap);
        }
        files[nf++] = lw_strdup(de->d_name);
    }
    closedir(d);
    if (nf > 1) qsort(files, (size_t)nf, sizeof *files, cmp_str); /* files is NULL when the directory is empty */
    int rc = 0;
    char names[512] = "";
    for (int i = 0; i < nf && rc == 0; i++) {
        char stem[64];
        snprintf(stem, sizeof stem, "%.*s", (int)strcspn(files[i], "."), files[i]);
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", stem);
        if (!all && !name_matches(stem, name)) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        c->lessons = lw_realloc(c->lessons, sizeof *c->lessons * (size_t)(c->n + 1));
        if (lesson_load(&c->lessons[c->n], path, err, errn)) rc = -1;
        else c->n++;
    }
    for (int i = 0; i < nf; i++) free(files[i]);
    free(files);
    if (rc == 0 && c->n == 0) {
        if (all) snprintf(err, errn, "%s: no lesson files (*.md)", dir);
        else snprintf(err, errn, "no lesson '%s' in %s (lessons: %s)", name, dir, names);
        rc = -1;
    }
    if (rc) course_free(c);
    return rc;
}

int course_from_text(Course *c, const char *key, const char *src, const char *text, char *err, size_t errn) {
    memset(c, 0, sizeof *c);
    snprintf(c->key, sizeof c->key, "%s", key);
    c->lessons = lw_malloc(sizeof *c->lessons);
    if (lesson_parse(&c->lessons[0], src, text, err, errn)) {
        free(c->lessons);
        c->lessons = NULL;
        return -1;
    }
    snprintf(c->lessons[0].name, sizeof c->lessons[0].name, "%s", key);
    c->n = 1;
    return 0;
}

void course_free(Course *c) {
    for (int i = 0; i < c->n; i++) lesson_free(&c->lessons[i]);
    free(c->lessons);
    memset(c, 0, sizeof *c);
}

int course_total_steps(const Course *c) {
    int n = 0;
    for (int i = 0; c && i < c->n; i++) n += c->lessons[i].n_steps;
    return n;
}

const LessonStep *course_step(const Course *c, int i, const Lesson **lesson, int *in_lesson) {
    int total = course_total_steps(c);
    if (total == 0) return NULL;
    if (i < 0) i = 0;
    if (i >= total) i = total - 1;
    for (int k = 0; k < c->n; k++) {
        if (i < c->lessons[k].n_steps) {
            if (lesson) *lesson = &c->lessons[k];
            if (in_lesson) *in_lesson = i;
            return &c->lessons[k].steps[i];
        }
        i -= c->lessons[k].n_steps;
    }
    return NULL;
}

/* ---- progress ---- */

void lesson_progress_path(char *buf, size_t n) {
    const char *p = getenv("LLMWB_LESSON_STATE");
    if (p && *p) { snprintf(buf, n, "%s", p); return; }
    p = getenv("XDG_STATE_HOME");
    if (p && *p) { snprintf(buf, n, "%s/llmwb/lessons.txt", p); return; }
    p = getenv("HOME");
    if (p && *p) { snprintf(buf, n, "%s/.local/state/llmwb/lessons.txt", p); return; }
    buf[0] = '\0';
}

int lesson_progress_load(const char *path, const char *key) {
    if (!path || !*path) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256], k[128];
    int step, found = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %d", k, &step) == 2 && !strcmp(k, key) && step >= 0) found = step;
    fclose(f);
    return found;
}

int lesson_progress_save(const char *path, const char *key, int step) {
    if (!path || !*path) return -1;
    StrBuf t = {0};
    FILE *f = fopen(path, "r");
    if (f) {
        char line[256], k[128];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "%127s", k) == 1 && strcmp(k, key) != 0) sb_add(&t, line, strlen(line));
        fclose(f);
    }
    char mine[160];
    int k = snprintf(mine, sizeof mine, "%s %d\n", key, step);
    sb_add(&t, mine, (size_t)k);
    char dir[1024];
    LwError e;
    lw_dirname(dir, sizeof dir, path);
    int rc = lw_mkdirs(dir, &e) || lw_write_file_atomic(path, t.s, t.len, &e) ? -1 : 0;
    free(t.s);
    return rc;
}

/* ---- drawing ---- */

int lesson_wrap(const char *text, int w, void (*emit)(const char *line, void *ud), void *ud) {
    if (w < 4) w = 4;
    int n = 0;
    char line[1024];
    size_t ll = 0;
    int lc = 0;   /* columns in line */
    const char *p = text;
    while (*p) {
        if (p[0] == '\n') {   /* paragraph break (or a single newline) */
            line[ll] = '\0';
            emit(line, ud), n++;
            ll = 0, lc = 0;
            if (p[1] == '\n') emit("", ud), n++, p++;
            p++;
            continue;
        }
        if (*p == ' ') { p++; continue; }
        size_t wl = strcspn(p, " \n");
        char word[512];
        snprintf(word, sizeof word, "%.*s", (int)(wl < sizeof word ? wl : sizeof word - 1), p);
        int wc = utf8_cols(word);
        if (lc > 0 && lc + 1 + wc > w) {
            line[ll] = '\0';
            emit(line, ud), n++;
            ll = 0, lc = 0;
        }
        if (lc > 0 && ll + 1 < sizeof line) line[ll++] = ' ', lc++;
        /* a word longer than the line is cut at w columns */
        const char *q = word;
        while (*q) {
            uint32_t cp;
            int k = utf8_decode(q, strlen(q), &cp);
            if (lc >= w) {
                line[ll] = '\0';
                emit(line, ud), n++;
                ll = 0, lc = 0;
            }
            if (ll + (size_t)k < sizeof line - 1) memcpy(line + ll, q, (size_t)k), ll += (size_t)k;
            lc++;
            q += k;
        }
        p += wl;
    }
    if (ll) {
        line[ll] = '\0';
        emit(line, ud), n++;
    }
    return n;
}

typedef struct PanelLines {
    char (*lines)[256];
    int n, max;
} PanelLines;

static void panel_collect(const char *line, void *ud) {
    PanelLines *pl = ud;
    if (pl->n < pl->max) snprintf(pl->lines[pl->n], 256, "%s", line);
    pl->n++;
}

static int panel_text(CellBuf *cb, int x, int y, int w, int y_end, const char *text, Style st) {
    static char lines[64][256];
    PanelLines pl = {lines, 0, 64};
    lesson_wrap(text, w, panel_collect, &pl);
    int n = pl.n < pl.max ? pl.n : pl.max;
    for (int i = 0; i < n && y < y_end; i++, y++) cb_text(cb, x, y, w, lines[i], st);
    return y;
}

static int panel_count(const char *text, int w) {
    static char lines[64][256];
    PanelLines pl = {lines, 0, 64};
    return lesson_wrap(text, w, panel_collect, &pl);
}

void lesson_draw_panel(const App *a, const Course *c, int i, CellBuf *cb, Rect r) {
    const Lesson *l = NULL;
    int in = 0;
    const LessonStep *s = course_step(c, i, &l, &in);
    cb_fill(cb, r, ' ', a->th.text);
    cb_box(cb, r, "Lesson", a->th.title, a->caps.unicode);
    if (!s) return;
    int x = r.x + 2, w = r.w - 4, y = r.y + 1, bottom = r.y + r.h - 1;
    int total = course_total_steps(c);
    int li = (int)(l - c->lessons);
    cb_text(cb, x, y++, w, l->title, a->th.bold);
    cb_printf(cb, x, y++, w, a->th.dim, "step %d/%d%s  screen [%d]%s", i + 1, total,
              c->n > 1 ? "" : "", s->screen + 1, SCREENS[s->screen]->title);
    if (c->n > 1) cb_printf(cb, x, y++, w, a->th.dim, "lesson %d/%d, step %d/%d", li + 1, c->n, in + 1, l->n_steps);
    y++;
    cb_text(cb, x, y++, w, s->title, a->th.title);
    /* try / look for are kept visible: reserve their rows at the bottom, the explanation fills the rest */
    char tl[LESSON_TEXT * 2 + 16], lf[LESSON_TEXT * 2 + 16];
    snprintf(tl, sizeof tl, "%s", s->try_);
    snprintf(lf, sizeof lf, "%s", s->look);
    int need = 1 + panel_count(tl, w - 2) + 1 + panel_count(lf, w - 2) + 2;
    int body_end = bottom - need;
    if (body_end < y + 2) body_end = y + 2;
    if (in == 0 && l->intro && l->intro[0]) {
        y = panel_text(cb, x, y, w, body_end, l->intro, a->th.dim);
        if (y < body_end) y++;
    }
    int before = y;
    y = panel_text(cb, x, y, w, body_end, s->body, a->th.text);
    if (y == body_end && panel_count(s->body, w) > body_end - before)
        cb_text(cb, x + w - 3, body_end - 1, 3, a->caps.unicode ? " \xe2\x80\xa6" : " ..", a->th.dim);
    y = body_end;
    const char *arrow = a->caps.unicode ? "\xe2\x96\xb6 Try:" : "> Try:";
    cb_text(cb, x, y++, w, arrow, a->th.good);
    y = panel_text(cb, x + 2, y, w - 2, bottom - 1, tl, a->th.text);
    cb_text(cb, x, y++, w, a->caps.unicode ? "\xe2\x97\x89 Look for:" : "* Look for:", a->th.warn);
    y = panel_text(cb, x + 2, y, w - 2, bottom - 1, lf, a->th.text);
    cb_text(cb, x, bottom - 1, w, "C-n next  C-p back  C-o hide", a->th.dim);
}
