/* util.h — errors, asserts, logging, files written atomically, growable int arrays, time.
 * Everything in src/ reports failure as a nonzero status plus a one-line message in an LwError;
 * nothing in src/ calls exit() or prints to the terminal except through the log hook. */
#ifndef LLMWB_UTIL_H
#define LLMWB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    LW_OK = 0,
    LW_ERR_IO,          /* a file could not be read or written */
    LW_ERR_PARSE,       /* malformed input (config, JSON, safetensors, TSV, ...) */
    LW_ERR_INVALID,     /* well-formed but not allowed (range, combination, shape) */
    LW_ERR_NOMEM,
    LW_ERR_ABORTED,     /* the abort hook asked to stop */
    LW_ERR_DIVERGED,    /* NaN/Inf in loss or gradients */
    LW_ERR_UNSUPPORTED
};

#define LW_ERRLEN 512
typedef struct LwError {
    int code;
    char msg[LW_ERRLEN]; /* one line, no trailing newline, e.g. "configs/x.yaml:3:5: model.n_head: ..." */
} LwError;

/* Fills e (if not NULL) and returns code, so callers can write `return lw_fail(e, LW_ERR_IO, ...)`. */
int lw_fail(LwError *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Always-on assert for programming errors: runs the fatal hook (the TUI restores the terminal), prints
 * file:line and the expression to stderr, aborts. */
void lw_set_fatal_hook(void (*hook)(void));
_Noreturn void lw_fatal(const char *file, int line, const char *what);
#define LW_ASSERT(c) ((c) ? (void)0 : lw_fatal(__FILE__, __LINE__, #c))

/* Allocation that cannot fail silently: out of memory is fatal (via lw_fatal). */
void *lw_malloc(size_t n);
void *lw_calloc(size_t n, size_t size);
void *lw_realloc(void *p, size_t n);
char *lw_strdup(const char *s);

/* Logging goes through one hook so the TUI can show it in its event log; default writes to stderr. */
enum { LW_LOG_DEBUG, LW_LOG_INFO, LW_LOG_WARN, LW_LOG_ERROR };
typedef void (*LwLogFn)(void *ud, int level, const char *msg);
void lw_set_log(LwLogFn fn, void *ud);
void lw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a whole regular file; *data is malloc'd and NUL-terminated (caller frees). Anything else (a directory,
 * a FIFO, a device, a symlink loop) fails at once, saying what it is, without blocking. */
int lw_read_file(const char *path, char **data, size_t *len, LwError *e);
/* Writes path atomically: path.tmp.<pid>, fsync, rename, fsync of the directory. */
int lw_write_file_atomic(const char *path, const void *data, size_t len, LwError *e);
/* mkdir -p. */
int lw_mkdirs(const char *path, LwError *e);
/* Joins dir and name into out (size n); returns out. */
char *lw_path_join(char *out, size_t n, const char *dir, const char *name);
/* Directory part of path into out ("." when none). */
char *lw_dirname(char *out, size_t n, const char *path);
int lw_file_exists(const char *path);
/* Why path is not a regular file, for messages: NULL when it is one, else "no such file", "a directory",
 * "a FIFO", "a socket", "a device", "a symlink loop", "not accessible (Permission denied)", ... */
const char *lw_file_problem(const char *path);
int lw_is_dir(const char *path);
/* Removes a directory tree (used for replacing checkpoint directories); ignores a missing path. */
int lw_rmtree(const char *path);
/* fsync a directory (after a rename inside it). */
int lw_fsync_dir(const char *dir);

/* Monotonic seconds. */
double lw_now(void);

/* Splits [0, n) into up to nt (at most LW_MAX_THREADS) contiguous parts of at least min_chunk items and runs
 * fn(ctx, part, lo, hi) on each: the caller runs part 0, short-lived pthreads the rest (creating one costs ~20 us,
 * against the milliseconds each call is meant for); a part whose thread cannot start runs on the caller. Returns
 * the part count. fn must only write what its own range owns. */
#define LW_MAX_THREADS 8
typedef void (*LwRangeFn)(void *ctx, int part, size_t lo, size_t hi);
int lw_parallel(int nt, size_t n, size_t min_chunk, LwRangeFn fn, void *ctx);

/* 64-bit FNV-1a, for cache keys. */
uint64_t lw_hash64(const void *data, size_t n, uint64_t h);
#define LW_HASH_INIT 0xcbf29ce484222325ULL

/* UTF-8: length of a valid sequence at s (1..4), or 0 if s[0..n) does not start with one. */
int lw_utf8_len(const unsigned char *s, size_t n);
/* Whether the whole buffer is valid UTF-8; on failure *bad is the byte offset of the first bad byte. */
int lw_utf8_valid(const unsigned char *s, size_t n, size_t *bad);

/* Growable int array. */
typedef struct IntVec {
    int *data;
    size_t len, cap;
} IntVec;
void ivec_push(IntVec *v, int x);
void ivec_reserve(IntVec *v, size_t cap);
void ivec_free(IntVec *v);

/* Growable NUL-terminated string. Zero-initialise; sb_take hands the string over (never NULL) and empties b. */
typedef struct StrBuf {
    char *s;
    size_t len, cap;
} StrBuf;
void sb_add(StrBuf *b, const char *s, size_t n);
void sb_adds(StrBuf *b, const char *s);
char *sb_take(StrBuf *b);

/* v with thousands separators ("124,439,808") into buf (n >= 32 always suffices); returns buf. */
char *lw_fmt_thousands(char *buf, size_t n, long long v);

#define LW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LW_MAX(a, b) ((a) > (b) ? (a) : (b))
#define LW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* One line of a buffer: [s, s+len) without its "\n" or "\r\n"; no is 1-based. */
typedef struct LwLine {
    const char *s;
    size_t len;
    int no;
} LwLine;
/* Iterates the lines of [p, end): set p and end, no = 0, then call lw_line_next until it returns 0. */
typedef struct LwLineIter {
    const char *p, *end;
    int no;
} LwLineIter;
int lw_line_next(LwLineIter *it, LwLine *out);
/* Whether [s, s+n) holds only whitespace. */
int lw_is_blank(const char *s, size_t n);
/* The tab-separated fields of a line: f[i], flen[i] point into it (not terminated) for i < max; returns the
 * field count, which may exceed max (the caller reports "too many columns"). */
int lw_tsv_fields(const LwLine *l, const char **f, size_t *flen, int max);
/* Whether [s, s+n), trimmed of ASCII space, equals name ignoring case ("  Label " is "label"). */
int lw_trimmed_is(const char *s, size_t n, const char *name);
/* A NUL-terminated copy of [s, s+n) (lw_malloc: never NULL). */
char *lw_strndup(const char *s, size_t n);

#endif
