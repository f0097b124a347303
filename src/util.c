/* util.c — see util.h. */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lw_fail(LwError *e, int code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        for (char *p = e->msg; *p; p++)
            if (*p == '\n') *p = ' ';
        e->code = code;
    }
    return code;
}

typedef struct LwRangeJob {
    LwRangeFn fn;
    void *ctx;
    int part;
    size_t lo, hi;
} LwRangeJob;

static void *lw_range_thread(void *arg) {
    LwRangeJob *j = arg;
    j->fn(j->ctx, j->part, j->lo, j->hi);
    return NULL;
}

int lw_parallel(int nt, size_t n, size_t min_chunk, LwRangeFn fn, void *ctx) {
    if (nt > LW_MAX_THREADS) nt = LW_MAX_THREADS;
    if (nt < 1) nt = 1;
    while (nt > 1 && n / (size_t)nt < min_chunk) nt--;
    LwRangeJob jobs[LW_MAX_THREADS];
    pthread_t th[LW_MAX_THREADS];
    int started[LW_MAX_THREADS] = {0};
    for (int t = 0; t < nt; t++) jobs[t] = (LwRangeJob){fn, ctx, t, n * (size_t)t / nt, n * (size_t)(t + 1) / nt};
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, lw_range_thread, &jobs[t]) == 0;
    fn(ctx, 0, jobs[0].lo, jobs[0].hi);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else fn(ctx, t, jobs[t].lo, jobs[t].hi);
    }
    return nt;
}

static void (*fatal_hook)(void);
void lw_set_fatal_hook(void (*hook)(void)) { fatal_hook = hook; }

_Noreturn void lw_fatal(const char *file, int line, const char *what) {
    void (*h)(void) = fatal_hook;
    fatal_hook = NULL;
    if (h) h();
    fprintf(stderr, "llmwb: fatal: %s:%d: %s\n", file, line, what);
    abort();
}

void *lw_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) lw_fatal(__FILE__, __LINE__, "out of memory");
    return p;
}
void *lw_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lw_fatal(__FILE__, __LINE__, "out of memory");
    return p;
}
void *lw_realloc(void *q, size_t n) {
    void *p = realloc(q, n ? n : 1);
    if (!p) lw_fatal(__FILE__, __LINE__, "out of memory");
    return p;
}
char *lw_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(lw_malloc(n), s, n);
}

static void log_stderr(void *ud, int level, const char *msg) {
    (void)ud;
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (level == LW_LOG_DEBUG && !getenv("LLMWB_DEBUG")) return;
    if (level == LW_LOG_INFO)
        fprintf(stderr, "%s\n", msg);
    else
        fprintf(stderr, "llmwb: %s: %s\n", names[level & 3], msg);
}
static LwLogFn log_fn = log_stderr;
static void *log_ud;
void lw_set_log(LwLogFn fn, void *ud) {
    log_fn = fn ? fn : log_stderr;
    log_ud = ud;
}
void lw_log(int level, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(log_ud, level, buf);
}

int lw_read_file(const char *path, char **data, size_t *len, LwError *e) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on a regular file) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const char *why = errno == ELOOP ? "a symlink loop" : errno == ENOENT ? "no such file" : NULL;
        return lw_fail(e, LW_ERR_IO, "%s: %s", path, why ? why : strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
        return lw_fail(e, LW_ERR_IO, "%s: is %s, not a file", path, what);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(errno));
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = lw_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = lw_realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return lw_fail(e, LW_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return LW_OK;
}

int lw_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int lw_write_file_atomic(const char *path, const void *data, size_t len, LwError *e) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return lw_fail(e, LW_ERR_IO, "%s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            unlink(tmp);
            return lw_fail(e, LW_ERR_IO, "%s: %s", tmp, strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return lw_fail(e, LW_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(err));
    }
    char dir[4096];
    lw_fsync_dir(lw_dirname(dir, sizeof dir, path));
    return LW_OK;
}

int lw_mkdirs(const char *path, LwError *e) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return lw_fail(e, LW_ERR_IO, "%s: bad directory name", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return lw_fail(e, LW_ERR_IO, "%s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return lw_fail(e, LW_ERR_IO, "%s: %s", buf, strerror(errno));
    if (!lw_is_dir(buf)) return lw_fail(e, LW_ERR_IO, "%s: not a directory", buf);
    return LW_OK;
}

char *lw_path_join(char *out, size_t n, const char *dir, const char *name) {
    if (!dir || !*dir || name[0] == '/')
        snprintf(out, n, "%s", name);
    else
        snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return out;
}

char *lw_dirname(char *out, size_t n, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, n, ".");
    else if (slash == path)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - path), path);
    return out;
}

int lw_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
const char *lw_file_problem(const char *path) {
    static _Thread_local char buf[96];
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return "no such file";
        if (errno == ELOOP) return "a symlink loop";
        snprintf(buf, sizeof buf, "not accessible (%s)", strerror(errno));
        return buf;
    }
    if (S_ISREG(st.st_mode)) return NULL;
    if (S_ISDIR(st.st_mode)) return "a directory";
    if (S_ISFIFO(st.st_mode)) return "a FIFO";
    if (S_ISSOCK(st.st_mode)) return "a socket";
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
    return "not a regular file";
}

int lw_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int lw_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    char sub[4096];
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (lw_rmtree(lw_path_join(sub, sizeof sub, path, de->d_name)) != 0) rc = -1;
    }
    closedir(d);
    return rmdir(path) != 0 ? -1 : rc;
}

double lw_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t lw_hash64(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int lw_utf8_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) len = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int lw_utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        int l = lw_utf8_len(s + i, n - i);
        if (!l) {
            if (bad) *bad = i;
            return 0;
        }
        i += (size_t)l;
    }
    return 1;
}

void ivec_reserve(IntVec *v, size_t cap) {
    if (cap <= v->cap) return;
    v->data = lw_realloc(v->data, cap * sizeof *v->data);
    v->cap = cap;
}
void ivec_push(IntVec *v, int x) {
    if (v->len == v->cap) ivec_reserve(v, v->cap ? v->cap * 2 : 16);
    v->data[v->len++] = x;
}
void ivec_free(IntVec *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

void sb_add(StrBuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        b->s = lw_realloc(b->s, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
void sb_adds(StrBuf *b, const char *s) { sb_add(b, s, strlen(s)); }
char *sb_take(StrBuf *b) {
    if (!b->s) sb_add(b, "", 0);
    char *s = b->s;
    memset(b, 0, sizeof *b);
    return s;
}

char *lw_fmt_thousands(char *buf, size_t n, long long v) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    size_t k = 0;
    if (v < 0 && k + 1 < n) buf[k++] = '-';
    for (int i = 0; i < len && k + 1 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0 && k + 2 < n) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    if (n) buf[k < n ? k : n - 1] = 0;
    return buf;
}

int lw_line_next(LwLineIter *it, LwLine *out) {
    if (it->p >= it->end) return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *stop = nl ? nl : it->end;
    out->s = it->p;
    out->len = (size_t)(stop - it->p);
    if (out->len > 0 && out->s[out->len - 1] == '\r') out->len--;
    out->no = ++it->no;
    it->p = nl ? nl + 1 : it->end;
    return 1;
}

int lw_is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

char *lw_strndup(const char *s, size_t n) {
    char *r = lw_malloc(n + 1);
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

int lw_trimmed_is(const char *s, size_t n, const char *name) {
    while (n > 0 && isspace((unsigned char)*s)) s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

int lw_tsv_fields(const LwLine *l, const char **f, size_t *flen, int max) {
    int n = 0;
    const char *p = l->s, *end = l->s + l->len;
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *stop = tab ? tab : end;
        if (n < max) {
            f[n] = p;
            flen[n] = (size_t)(stop - p);
        }
        n++;
        if (!tab) break;
        p = tab + 1;
    }
    return n;
}
