/* fuzz_lesson.c — lesson files (lesson_parse): a lesson or a "file:line:col:" error; every step of a parsed
 * lesson has a screen, a try and a look-for line. */
#include "fuzz.h"
#include "lesson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0; /* lesson_parse reads a C string: the text up to a NUL byte */
    Lesson l;
    char err[1200];
    if (lesson_parse(&l, "fuzz.md", text, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.md:", 8) != 0 || strchr(err, '\n')) {
            fprintf(stderr, "bad lesson error: '%s'\n", err);
            abort();
        }
    } else {
        for (int i = 0; i < l.n_steps; i++)
            if (l.steps[i].screen < 0 || l.steps[i].screen > 4 || !l.steps[i].try_[0] || !l.steps[i].look[0]) abort();
        lesson_free(&l);
    }
    free(text);
    return 0;
}
