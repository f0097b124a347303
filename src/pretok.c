/* pretok.c — GPT-2 pre-tokenization (see pretok.h): PCRE2 JIT reference path and a fast ASCII scanner. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pretok.h"

#include <pcre2.h>
#include <pthread.h>
#include <string.h>

#include "util.h"

/* \s is spelled out as White_Space: PCRE2's own \s (with UCP) lacks U+0085, which White_Space includes. */
#define WS "\\t-\\r \\x{85}\\p{Z}"
static const char GPT2_PATTERN[] =
    "'(?:s|t|re|ve|m|ll|d)| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

/* ASCII classes: 1 letter, 2 digit, 3 whitespace (\t..\r, space), 0 other; bytes >= 0x80 are 4 (unknown here). */
enum { C_OTHER, C_LETTER, C_DIGIT, C_SPACE, C_HIGH };

static pcre2_code *g_re;
static unsigned char g_class[256]; /* ASCII classes, filled once with the pattern */
static int g_jit;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pretok_compile(void) {
    int err;
    PCRE2_SIZE erroff;
    g_re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &erroff, NULL);
    LW_ASSERT(g_re != NULL); /* the pattern is a constant: failing to compile it is a build problem */
    g_jit = pcre2_jit_compile(g_re, PCRE2_JIT_COMPLETE) == 0;
    for (int c = 0; c < 256; c++) {
        unsigned char k = C_OTHER;
        if (c >= 0x80) k = C_HIGH;
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) k = C_LETTER;
        else if (c >= '0' && c <= '9') k = C_DIGIT;
        else if ((c >= '\t' && c <= '\r') || c == ' ') k = C_SPACE;
        g_class[c] = k;
    }
}

void pretok_iter_init(PretokIter *it, const char *s, size_t n, int use_pcre) {
    pthread_once(&g_once, pretok_compile);
    memset(it, 0, sizeof *it);
    it->s = (const unsigned char *)s;
    it->n = n;
    it->use_pcre = use_pcre;
}

void pretok_iter_free(PretokIter *it) {
    if (it->md) pcre2_match_data_free((pcre2_match_data *)it->md);
    it->md = NULL;
}

/* End of the maximal valid UTF-8 run starting at i (i itself starts a valid sequence). */
static size_t utf8_run_end(const unsigned char *s, size_t n, size_t i) {
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int l = lw_utf8_len(s + i, n - i);
        if (!l) break;
        i += (size_t)l;
    }
    return i;
}

/* The PCRE2 match at it->pos inside the current run; returns the piece length (always >= 1). */
static size_t pretok_pcre_piece(PretokIter *it) {
    if (!it->md) it->md = pcre2_match_data_create_from_pattern(g_re, NULL);
    pcre2_match_data *md = it->md;
    PCRE2_SPTR subj = it->s + it->run_start;
    PCRE2_SIZE slen = it->run_end - it->run_start, off = it->pos - it->run_start;
    int rc = g_jit ? pcre2_jit_match(g_re, subj, slen, off, PCRE2_ANCHORED, md, NULL)
                   : pcre2_match(g_re, subj, slen, off, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, NULL);
    /* Every code point is \s, \p{L}, \p{N} or none of them, so an anchored match always exists. */
    LW_ASSERT(rc > 0);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    LW_ASSERT(ov[0] == off && ov[1] > off);
    return ov[1] - ov[0];
}


/* The fast scanner: the piece length at it->pos, or 0 when a non-ASCII byte could change the answer (the caller
 * then asks PCRE2). Mirrors the pattern's alternatives in order. */
static size_t pretok_fast_piece(const PretokIter *it, const unsigned char *cls) {
    const unsigned char *s = it->s;
    size_t i = it->pos, e = it->run_end;
    unsigned c = s[i];
    if (c == '\'' && i + 1 < e) { /* 's 't 're 've 'm 'll 'd */
        unsigned a = s[i + 1], b = i + 2 < e ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    size_t j = i;
    int k = cls[c];
    if (c == ' ' && i + 1 < e) { /* optional leading space of the letter, digit and other alternatives */
        int k1 = cls[s[i + 1]];
        if (k1 == C_HIGH) return 0;
        if (k1 != C_SPACE) {
            j = i + 1;
            k = k1;
        }
    }
    if (k == C_HIGH) return 0;
    if (k != C_SPACE) {
        while (j < e && cls[s[j]] == k) j++;
        if (j < e && cls[s[j]] == C_HIGH) return 0;
        return j - i;
    }
    while (j < e && cls[s[j]] == C_SPACE) j++;
    if (j == e) return j - i;                /* \s+ up to the end of the run */
    if (cls[s[j]] == C_HIGH) return 0;       /* might be Unicode whitespace */
    return j - i >= 2 ? j - i - 1 : 1;       /* \s+(?!\S) leaves the last space to the next piece */
}

int pretok_next(PretokIter *it, size_t *start, size_t *len) {
    if (it->pos >= it->n) return 0;
    if (it->pos >= it->run_end) { /* start a new region: an invalid byte, or a valid UTF-8 run */
        if (lw_utf8_len(it->s + it->pos, it->n - it->pos) == 0) {
            *start = it->pos++;
            *len = 1;
            it->run_start = it->run_end = it->pos;
            return 1;
        }
        it->run_start = it->pos;
        it->run_end = utf8_run_end(it->s, it->n, it->pos);
    }
    size_t l = it->use_pcre ? 0 : pretok_fast_piece(it, g_class);
    if (!l) l = pretok_pcre_piece(it);
    *start = it->pos;
    *len = l;
    it->pos += l;
    return 1;
}
