/* search.c — plain-text smartcase search (see search.h). */
#include "search.h"

#include <string.h>

int search_case_sensitive(const char *pat) {
    for (const char *p = pat; *p; p++)
        if (*p >= 'A' && *p <= 'Z') return 1;
    return 0;
}

static int search_fold(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Whether pat (m bytes) matches s at off (off + m <= n checked by the caller). */
static int search_at(const char *s, size_t off, const char *pat, size_t m, int cs) {
    const unsigned char *a = (const unsigned char *)s + off, *b = (const unsigned char *)pat;
    if (cs) return memcmp(a, b, m) == 0;
    for (size_t i = 0; i < m; i++)
        if (search_fold(a[i]) != search_fold(b[i])) return 0;
    return 1;
}

long search_find(const char *s, size_t n, size_t from, const char *pat, int cs) {
    size_t m = strlen(pat);
    if (m == 0 || m > n) return -1;
    for (size_t i = from; i + m <= n; i++)
        if (search_at(s, i, pat, m, cs)) return (long)i;
    return -1;
}

long search_find_prev(const char *s, size_t n, long before, const char *pat, int cs) {
    size_t m = strlen(pat);
    if (m == 0 || m > n || before <= 0) return -1;
    long i = before - 1;
    if ((size_t)i + m > n) i = (long)(n - m);
    for (; i >= 0; i--)
        if (search_at(s, (size_t)i, pat, m, cs)) return i;
    return -1;
}

int search_count(const char *s, size_t n, const char *pat, int cs) {
    int c = 0;
    for (long o = search_find(s, n, 0, pat, cs); o >= 0; o = search_find(s, n, (size_t)o + 1, pat, cs)) c++;
    return c;
}

long search_next(const char *s, size_t n, const char *pat, long cur, int dir, int *wrapped) {
    int cs = search_case_sensitive(pat);
    if (wrapped) *wrapped = 0;
    long o;
    if (dir >= 0) {
        o = search_find(s, n, cur < 0 ? 0 : (size_t)cur + 1, pat, cs);
        if (o < 0 && cur >= 0) {
            o = search_find(s, n, 0, pat, cs);
            if (o >= 0 && wrapped) *wrapped = 1;
        }
    } else {
        o = search_find_prev(s, n, cur < 0 ? (long)n : cur, pat, cs);
        if (o < 0 && cur >= 0) {
            o = search_find_prev(s, n, (long)n, pat, cs);
            if (o >= 0 && wrapped) *wrapped = 1;
        }
    }
    return o;
}

int search_index(const char *s, size_t n, const char *pat, long off) {
    int cs = search_case_sensitive(pat);
    int k = 0;
    for (long o = search_find(s, n, 0, pat, cs); o >= 0 && o <= off; o = search_find(s, n, (size_t)o + 1, pat, cs)) {
        k++;
        if (o == off) return k;
    }
    return 0;
}

int search_line_of(const char *s, size_t n, long off) {
    int line = 0;
    for (long i = 0; i < off && (size_t)i < n; i++)
        if (s[i] == '\n') line++;
    return line;
}

int search_tokens(const char *toks, size_t stride, int n, const char *pat, int sel, int dir, int *wrapped, int *rank,
                  int *total) {
    int cs = search_case_sensitive(pat), tot = 0, found = -1, wr = 0;
    for (int i = 0; i < n; i++) {
        const char *t = toks + (size_t)i * stride;
        if (search_find(t, strlen(t), 0, pat, cs) >= 0) tot++;
    }
    if (tot > 0) {
        int start = dir == 0 ? 0 : dir > 0 ? sel + 1 : sel - 1;
        int step = dir < 0 ? -1 : 1;
        for (int c = 0, i = start; c < n; c++, i += step) {
            if (i >= n) i -= n, wr = 1;
            if (i < 0) i += n, wr = 1;
            const char *t = toks + (size_t)i * stride;
            if (search_find(t, strlen(t), 0, pat, cs) >= 0) {
                found = i;
                break;
            }
        }
    }
    if (found < 0) wr = 0;
    if (wrapped) *wrapped = wr;
    if (total) *total = tot;
    if (rank) {
        int k = 0;
        for (int i = 0; found >= 0 && i <= found; i++) {
            const char *t = toks + (size_t)i * stride;
            if (search_find(t, strlen(t), 0, pat, cs) >= 0) k++;
        }
        *rank = k;
    }
    return found;
}
