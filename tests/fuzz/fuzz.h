/* fuzz.h — shared by the libFuzzer targets in tests/fuzz/ (built by `make fuzz` with clang, ASan and UBSan).
 * Loaders that take paths get the input written to files in one temporary directory per process; inputs with
 * several files are split at a separator line. Every target checks the loader's contract: success, or a
 * nonzero status with a one-line message; sanitizers and libFuzzer catch the rest (crash, leak, hang, OOM). */
#ifndef LLMWB_FUZZ_H
#define LLMWB_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define FUZZ_SEP "\n--8<--\n" /* separates the files of a multi-file input */

static inline void fuzz_log_quiet(void *ud, int level, const char *msg) { (void)ud, (void)level, (void)msg; }

/* The per-process directory (made once, removed at exit); quiets the engine's log. */
static inline const char *fuzz_dir(void) {
    static char dir[128];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/llmwb-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
        lw_set_log(fuzz_log_quiet, NULL);
    }
    return dir;
}

static inline void fuzz_cleanup(void) { lw_rmtree(fuzz_dir()); }

/* Writes n bytes to <dir>/name; returns the path (a static buffer per slot 0..3). */
static inline const char *fuzz_write(int slot, const char *name, const void *d, size_t n) {
    static char paths[4][256];
    static int registered;
    if (!registered) registered = 1, atexit(fuzz_cleanup);
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
    return paths[slot];
}

/* Splits data at FUZZ_SEP into up to k parts (the last takes the rest; missing parts are empty). */
static inline void fuzz_split(const uint8_t *data, size_t size, int k, const uint8_t **part, size_t *len) {
    size_t sl = strlen(FUZZ_SEP);
    for (int i = 0; i < k; i++) {
        part[i] = data, len[i] = size;
        if (i == k - 1) break;
        const uint8_t *sep = size >= sl ? memmem(data, size, FUZZ_SEP, sl) : NULL;
        if (!sep) {
            for (int j = i + 1; j < k; j++) part[j] = data + size, len[j] = 0;
            return;
        }
        len[i] = (size_t)(sep - data);
        size -= len[i] + sl;
        data = sep + sl;
    }
}

/* The contract of every failure: a message, on one line. */
static inline void fuzz_check_error(const LwError *e) {
    if (!e->msg[0] || strchr(e->msg, '\n')) {
        fprintf(stderr, "bad error message: '%s'\n", e->msg);
        abort();
    }
}

#endif
