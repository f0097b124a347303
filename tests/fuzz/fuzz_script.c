/* fuzz_script.c — TUI key scripts (script_parse): commands within their bounds, or a "file:line:col:" error. */
#include "fuzz.h"
#include "script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Script sc;
    char err[1200];
    if (script_parse(&sc, "fuzz.txt", (const char *)data, size, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.txt:", 9) != 0 || strchr(err, '\n')) {
            fprintf(stderr, "bad script error: '%s'\n", err);
            abort();
        }
        if (sc.n != 0 || sc.cmds) abort();
        return 0;
    }
    for (int i = 0; i < sc.n; i++) {
        const ScriptCmd *c = &sc.cmds[i];
        if (!c->text || c->line < 1) abort();
        if (c->op == SC_RESIZE && (c->n < 1 || c->n > SCRIPT_MAX_SIZE || c->m < 1 || c->m > SCRIPT_MAX_SIZE)) abort();
        if (c->op == SC_SLEEP_FRAMES && (c->n < 0 || c->n > SCRIPT_MAX_FRAMES)) abort();
        if (c->op == SC_TIMEOUT && !(c->secs > 0 && c->secs <= SCRIPT_MAX_TIMEOUT)) abort();
        if (c->op == SC_KEY && c->n < 0) abort();
    }
    script_free(&sc);
    return 0;
}
