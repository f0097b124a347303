/* lesson.h — classroom lessons: Markdown files with a small header under docs/lessons/, loaded into a Course
 * (the lessons in order, each a list of steps), drawn as a side panel next to the live screen each step
 * describes, and the learner's place saved so a lesson can be left and resumed.
 *
 * A lesson file:
 *
 *     ---
 *     title: Text and tokens
 *     screen: tokenizer          (default screen of the steps: tokenizer embed attention train chat)
 *     config: configs/x.yaml     (optional: the config the lesson suggests)
 *     ---
 *     Optional introduction, shown above the first step.
 *
 *     ## Bytes come first
 *     screen: tokenizer
 *     try: press s three times
 *     look for: the highlighted pair in the corpus
 *
 *     The explanation, in paragraphs separated by blank lines.
 *
 * Each `## ` heading starts a step; its `try:` and `look for:` lines are required, `screen:` defaults to the
 * header's. UI thread only; nothing here touches ncurses. */
#ifndef LLMWB_UI_LESSON_H
#define LLMWB_UI_LESSON_H

#include <stddef.h>

#include "app.h"

#define LESSON_TEXT 256

typedef struct LessonStep {
    char title[LESSON_TEXT];
    int screen;                 /* an index of SCREENS (app.h) */
    char try_[LESSON_TEXT * 2]; /* the action to try */
    char look[LESSON_TEXT * 2]; /* what to look for */
    char *body;                 /* explanation (owned; paragraphs separated by "\n\n") */
    int line;                   /* of the heading in the file */
} LessonStep;

typedef struct Lesson {
    char name[64];              /* file stem, e.g. "03-embeddings" */
    char title[LESSON_TEXT];
    char config[LESSON_TEXT];   /* suggested config ("" = none) */
    char *intro;                /* owned, may be "" */
    LessonStep *steps;          /* owned */
    int n_steps;
} Lesson;

typedef struct Course {
    Lesson *lessons;            /* owned, in file-name order */
    int n;
    char key[64];               /* name under which progress is saved ("all" or the lesson's name) */
} Course;


/* Parses one lesson from text (src names it in errors). Returns 0, or -1 with err = "src:line:col: ...". */
int lesson_parse(Lesson *l, const char *src, const char *text, char *err, size_t errn);
int lesson_load(Lesson *l, const char *path, char *err, size_t errn);
void lesson_free(Lesson *l);

/* Loads every docs/lessons-style *.md file of dir in name order (name NULL or "all"), or the one lesson that
 * name picks: its file stem, the stem without the "NN-" prefix, or its number ("3"). Returns 0, or -1 with err
 * (a bad file, or no lesson of that name: the message lists the names). */
int course_load_dir(Course *c, const char *dir, const char *name, char *err, size_t errn);
/* A course of one lesson parsed from text (the demo's stages). */
int course_from_text(Course *c, const char *key, const char *src, const char *text, char *err, size_t errn);
void course_free(Course *c);

/* Steps of the whole course, numbered 0..total-1 across lessons. */
int course_total_steps(const Course *c);
/* The step at flat index i (clamped), and its lesson and index in the lesson (outputs may be NULL). */
const LessonStep *course_step(const Course *c, int i, const Lesson **lesson, int *in_lesson);

/* Progress file: lines "KEY STEP". The path: $LLMWB_LESSON_STATE, else $XDG_STATE_HOME/llmwb/lessons.txt,
 * else $HOME/.local/state/llmwb/lessons.txt (written into buf; "" when none applies). */
void lesson_progress_path(char *buf, size_t n);
/* The saved flat step of key, or -1. */
int lesson_progress_load(const char *path, const char *key);
/* Saves (replaces) the step of key; returns 0 or -1. */
int lesson_progress_save(const char *path, const char *key, int step);

/* Draws the panel of flat step i into r: lesson title, "step i/n", the step's title, the explanation wrapped
 * to the width, then "Try:" and "Look for:" and the navigation keys. */
void lesson_draw_panel(const App *a, const Course *c, int i, CellBuf *cb, Rect r);

/* Wraps UTF-8 text into lines of at most w columns (breaking at spaces; "\n\n" keeps a blank line). Calls
 * emit(line, ud) per line; returns the number of lines. */
int lesson_wrap(const char *text, int w, void (*emit)(const char *line, void *ud), void *ud);

#endif
