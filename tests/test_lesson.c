/* test_lesson.c — the lesson files under docs/lessons/ load, every step names a screen that exists and says
 * what to try and what to look for; malformed lessons fail with file:line:col; progress is saved and resumed;
 * the side panel draws the step's text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../ui/lesson.h"

TestSuite(lesson, .timeout = 20);


Test(lesson, shipped_lessons_load_and_reference_real_screens) {
    Course c;
    char err[1024];
    cr_assert_eq(course_load_dir(&c, "docs/lessons", NULL, err, sizeof err), 0, "%s", err);
    cr_assert_geq(c.n, 10, "one lesson per stage of the book");
    cr_assert_str_eq(c.key, "all");
    int total = course_total_steps(&c);
    cr_assert_geq(total, 20);
    const char *need[] = {"token", "BPE", "mbedding", "mask", "ulti-head", "GPT block", "retraining", "ampling",
                          "lassification", "nstruction"};
    for (size_t k = 0; k < sizeof need / sizeof *need; k++) {
        int found = 0;
        for (int i = 0; i < c.n; i++) found |= strstr(c.lessons[i].title, need[k]) != NULL;
        cr_expect(found, "no lesson about '%s'", need[k]);
    }
    for (int i = 0; i < total; i++) {
        const Lesson *l;
        int in;
        const LessonStep *s = course_step(&c, i, &l, &in);
        cr_assert_not_null(s);
        cr_assert(s->screen >= 0 && s->screen < N_SCREENS, "%s step %d: bad screen %d", l->name, in, s->screen);
        cr_assert_not_null(SCREENS[s->screen]->title);
        cr_assert(s->try_[0] && s->look[0], "%s: step '%s' lacks try/look for", l->name, s->title);
        cr_assert(strlen(s->body) > 40, "%s: step '%s' has no explanation", l->name, s->title);
        cr_assert_null(strstr(s->body, "try:"), "%s: a try: line leaked into the body", l->name);
    }
    /* lessons come in file-name order */
    for (int i = 1; i < c.n; i++) cr_assert_lt(strcmp(c.lessons[i - 1].name, c.lessons[i].name), 0);
    course_free(&c);
}

Test(lesson, screen_names_match_the_tab_titles) {
    for (int i = 0; i < N_SCREENS; i++) {
        cr_assert_eq(screen_index(SCREENS[i]->title), i, "%s", SCREENS[i]->title);
        char num[2] = {(char)('1' + i), 0};
        cr_assert_eq(screen_index(num), i);
    }
    cr_assert_eq(screen_index("loss"), -1);
}

Test(lesson, one_lesson_by_name_number_or_stem) {
    Course c;
    char err[1024];
    cr_assert_eq(course_load_dir(&c, "docs/lessons", "bpe-merges", err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.lessons[0].name, "02-bpe-merges");
    cr_assert_str_eq(c.key, "bpe-merges");
    course_free(&c);
    cr_assert_eq(course_load_dir(&c, "docs/lessons", "4", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c.lessons[0].name, "04-self-attention");
    course_free(&c);
    cr_assert_eq(course_load_dir(&c, "docs/lessons", "07-pretraining", err, sizeof err), 0, "%s", err);
    course_free(&c);
    cr_assert_eq(course_load_dir(&c, "docs/lessons", "quantum", err, sizeof err), -1);
    cr_assert(strstr(err, "no lesson 'quantum'") && strstr(err, "02-bpe-merges"), "%s", err);
    cr_assert_eq(course_load_dir(&c, "/nonexistent-lessons", NULL, err, sizeof err), -1);
}

Test(lesson, parse_fields_intro_and_paragraphs) {
    const char *t = "---\ntitle: T\nscreen: train\n---\nIntro one\nintro two.\n\n## First\ntry: press s\n"
                    "look for: a line\n\nPara one\ncontinues.\n\nPara two.\n## Second\nscreen: chat\nTry: x\n"
                    "Look for: y\nbody\n";
    Lesson l;
    char err[512];
    cr_assert_eq(lesson_parse(&l, "t.md", t, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(l.title, "T");
    cr_assert_str_eq(l.intro, "Intro one intro two.");
    cr_assert_eq(l.n_steps, 2);
    cr_assert_str_eq(l.steps[0].title, "First");
    cr_assert_eq(l.steps[0].screen, 3);
    cr_assert_str_eq(l.steps[0].try_, "press s");
    cr_assert_str_eq(l.steps[0].look, "a line");
    cr_assert_str_eq(l.steps[0].body, "Para one continues.\n\nPara two.");
    cr_assert_eq(l.steps[0].line, 8);
    cr_assert_eq(l.steps[1].screen, 4);
    cr_assert_str_eq(l.steps[1].body, "body");
    lesson_free(&l);
}

Test(lesson, malformed_lessons_name_line_and_column) {
    struct { const char *text, *want; } cases[] = {
        {"title: x\n", "m.md:1:1: a lesson starts with a '---' header"},
        {"---\ntitle: x\n", "the '---' header is not closed"},
        {"---\nscreen: train\n---\n## s\ntry: a\nlook for: b\n", "m.md:3:1: header: missing 'title:'"},
        {"---\ntitle: x\ncolour: red\n---\n", "m.md:3:1: header: unknown key 'colour'"},
        {"---\ntitle: x\nscreen: loss\n---\n", "m.md:3:9: screen: unknown screen 'loss'"},
        {"---\ntitle: x\n---\nonly intro\n", "no steps"},
        {"---\ntitle: x\nscreen: chat\n---\n## s\nlook for: b\n", "m.md:5:1: step 's': missing a 'try:' line"},
        {"---\ntitle: x\nscreen: chat\n---\n## s\ntry: a\n## t\ntry: a\nlook for: b\n", "step 's': missing a 'look for:'"},
        {"---\ntitle: x\n---\n## s\ntry: a\nlook for: b\n", "m.md:4:1: step 's': no 'screen:'"},
        {"---\ntitle: x\n---\n## s\n  screen:   embedd\n", "m.md:5:13: screen: unknown screen 'embedd'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Lesson l;
        char err[512] = "";
        cr_assert_eq(lesson_parse(&l, "m.md", cases[i].text, err, sizeof err), -1, "case %zu parsed", i);
        cr_assert(strstr(err, cases[i].want), "case %zu: got '%s', want '%s'", i, err, cases[i].want);
        cr_assert_eq(l.n_steps, 0);
    }
}

Test(lesson, progress_is_saved_and_resumed_per_course) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/llmwb-test-lesson-%d/state/lessons.txt", (int)getpid());
    cr_assert_eq(lesson_progress_load(path, "all"), -1);
    cr_assert_eq(lesson_progress_save(path, "all", 7), 0);
    cr_assert_eq(lesson_progress_save(path, "bpe-merges", 2), 0);
    cr_assert_eq(lesson_progress_save(path, "all", 9), 0);
    cr_assert_eq(lesson_progress_load(path, "all"), 9);
    cr_assert_eq(lesson_progress_load(path, "bpe-merges"), 2);
    cr_assert_eq(lesson_progress_load(path, "demo"), -1);
    char *s;
    cr_assert_eq(lw_read_file(path, &s, NULL, NULL), LW_OK);
    cr_assert_eq(strstr(s, "all 9\n") != NULL, 1);
    cr_assert_null(strstr(s, "all 7"));
    free(s);
    setenv("LLMWB_LESSON_STATE", path, 1);
    char p2[256];
    lesson_progress_path(p2, sizeof p2);
    cr_assert_str_eq(p2, path);
    unsetenv("LLMWB_LESSON_STATE");
    setenv("XDG_STATE_HOME", "/x", 1);
    lesson_progress_path(p2, sizeof p2);
    cr_assert_str_eq(p2, "/x/llmwb/lessons.txt");
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/llmwb-test-lesson-%d", (int)getpid());
    lw_rmtree(dir);
}

static int g_nl;
static char g_lines[16][128];
static void ls_emit(const char *line, void *ud) {
    (void)ud;
    if (g_nl < 16) snprintf(g_lines[g_nl], 128, "%s", line);
    g_nl++;
}

Test(lesson, wrap_breaks_at_spaces_and_keeps_paragraphs) {
    g_nl = 0;
    int n = lesson_wrap("the quick brown fox jumps\n\nover \xe2\x8b\x85\xe2\x8b\x85 abcdefghijklmn", 10, ls_emit, NULL);
    cr_assert_eq(n, g_nl);
    cr_assert_str_eq(g_lines[0], "the quick");
    cr_assert_str_eq(g_lines[1], "brown fox");
    cr_assert_str_eq(g_lines[2], "jumps");
    cr_assert_str_eq(g_lines[3], "");
    cr_assert_str_eq(g_lines[4], "over \xe2\x8b\x85\xe2\x8b\x85", "multi-byte characters count as one column");
    cr_assert_str_eq(g_lines[5], "abcdefghij");
    cr_assert_str_eq(g_lines[6], "klmn");
    cr_assert_eq(n, 7);
}

Test(lesson, panel_shows_step_try_and_look_for) {
    Course c;
    char err[512];
    cr_assert_eq(course_load_dir(&c, "docs/lessons", "2", err, sizeof err), 0, "%s", err);
    App a;
    memset(&a, 0, sizeof a);
    a.caps.unicode = 1;
    a.caps.cm = CM_256;
    theme_init(&a.th, &a.caps);
    CellBuf cb;
    cb_init(&cb, 44, 34);
    lesson_draw_panel(&a, &c, 0, &cb, (Rect){0, 0, 44, 34});
    cr_assert(cb_contains(&cb, "2. BPE merges"));
    cr_assert(cb_contains(&cb, "step 1/3"));
    cr_assert(cb_contains(&cb, "One merge at a time"));
    cr_assert(cb_contains(&cb, "Try:"));
    cr_assert(cb_contains(&cb, "Look for:"));
    cr_assert(cb_contains(&cb, "press s three times"));
    cr_assert(cb_contains(&cb, "C-n next"));
    /* a short panel still shows what to try (the explanation is cut instead) */
    cb_resize(&cb, 44, 16);
    lesson_draw_panel(&a, &c, 1, &cb, (Rect){0, 0, 44, 16});
    cr_assert(cb_contains(&cb, "Try:"), "%s", cb_to_text(&cb));
    cr_assert(cb_contains(&cb, "press Space"));
    cb_free(&cb);
    course_free(&c);
}
