/* bleu.c — corpus BLEU, chrF and exact match as sacreBLEU computes them by default. See bleu.h.
 * N-grams are compared exactly (sequences of token ids or code points, sorted and merged), never by hash alone. */
#include "bleu.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- Unicode whitespace (Python's str.split) ---- */

/* Bytes of the whitespace character at p (NUL-terminated), or 0: ASCII \t \n \v \f \r, space, \x1c-\x1f, and in
 * UTF-8 U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. */
static int ws_len(const unsigned char *p) {
    unsigned char c = p[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
    if (c == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) return 2;
    if (c == 0xE1 && p[1] == 0x9A && p[2] == 0x80) return 3;
    if (c == 0xE2 && p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
        return 3;
    if (c == 0xE2 && p[1] == 0x81 && p[2] == 0x9F) return 3;
    if (c == 0xE3 && p[1] == 0x80 && p[2] == 0x80) return 3;
    return 0;
}

/* ---- 13a tokenization ---- */

static char *replace_all(char *s, const char *from, const char *to) {
    if (!strstr(s, from)) return s;
    StrBuf b = {0};
    size_t nf = strlen(from);
    const char *p = s;
    for (const char *q; (q = strstr(p, from)); p = q + nf) {
        sb_add(&b, p, (size_t)(q - p));
        sb_adds(&b, to);
    }
    sb_adds(&b, p);
    free(s);
    return sb_take(&b);
}

/* The characters of sacreBLEU's first regex class [\{-\~\[-\` -\&\(-\+\:-\@\/]. */
static int punct_13a(unsigned char c) {
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == '/';
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_dot_comma(unsigned char c) { return c == '.' || c == ','; }

/* One pass of re.sub for a two-character pattern (first(a) && second(b)) → pre a mid b post, scanning left to
 * right without overlaps as Python does. Working on bytes gives Python's result on code points: the patterns'
 * ASCII members never match a byte of a multi-byte character, and their negated classes ([^0-9]) match every one,
 * so a character is emitted whole either way. */
static char *sub_pair(char *s, int (*first)(unsigned char), int (*second)(unsigned char), const char *pre,
                      const char *mid, const char *post) {
    StrBuf b = {0};
    size_t n = strlen(s), i = 0;
    while (i < n) {
        if (i + 1 < n && first((unsigned char)s[i]) && second((unsigned char)s[i + 1])) {
            sb_adds(&b, pre);
            sb_add(&b, s + i, 1);
            sb_adds(&b, mid);
            sb_add(&b, s + i + 1, 1);
            sb_adds(&b, post);
            i += 2;
        } else {
            sb_add(&b, s + i, 1);
            i++;
        }
    }
    free(s);
    return sb_take(&b);
}

static int not_digit(unsigned char c) { return !is_digit(c); }
static int is_dash(unsigned char c) { return c == '-'; }

char *bleu_tokenize_13a(const char *in) {
    char *s = lw_strdup(in ? in : "");
    /* the language-independent part, in sacreBLEU's order */
    s = replace_all(s, "<skipped>", "");
    s = replace_all(s, "-\n", "");
    s = replace_all(s, "\n", " ");
    s = replace_all(s, "&quot;", "\"");
    s = replace_all(s, "&amp;", "&");
    s = replace_all(s, "&lt;", "<");
    s = replace_all(s, "&gt;", ">");
    /* " line ": the padding matters, a '.' or ',' at the start follows a space (a non-digit) */
    StrBuf b = {0};
    sb_add(&b, " ", 1);
    /* ([\{-\~\[-\` -\&\(-\+\:-\@\/]) → " \1 " */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (punct_13a(*p)) {
            char t[3] = {' ', (char)*p, ' '};
            sb_add(&b, t, 3);
        } else {
            sb_add(&b, (const char *)p, 1);
        }
    }
    sb_add(&b, " ", 1);
    free(s);
    s = sb_take(&b);
    s = sub_pair(s, not_digit, is_dot_comma, "", " ", " "); /* ([^0-9])([\.,]) → "\1 \2 " */
    s = sub_pair(s, is_dot_comma, not_digit, " ", " ", ""); /* ([\.,])([^0-9]) → " \1 \2" */
    s = sub_pair(s, is_digit, is_dash, "", " ", " ");       /* ([0-9])(-) → "\1 \2 " */
    /* ' '.join(line.split()) */
    StrBuf o = {0};
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int w;
        while ((w = ws_len(p)) > 0) p += w;
        if (!*p) break;
        if (o.len) sb_add(&o, " ", 1);
        const unsigned char *start = p;
        while (*p && ws_len(p) == 0) p++;
        sb_add(&o, (const char *)start, (size_t)(p - start));
    }
    free(s);
    return sb_take(&o);
}

/* ---- exact n-gram matching ---- */

/* Sorts idx (n start positions into seq) by the k symbols that start there; tmp has room for n. Merge sort:
 * qsort has no context pointer in C11. */
static int ngram_cmp(const uint32_t *seq, int k, int a, int b) {
    for (int j = 0; j < k; j++)
        if (seq[a + j] != seq[b + j]) return seq[a + j] < seq[b + j] ? -1 : 1;
    return 0;
}

static void ngram_sort(int *idx, int n, const uint32_t *seq, int k, int *tmp) {
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = LW_MIN(lo + w, n), hi = LW_MIN(lo + 2 * w, n), i = lo, j = mid, o = lo;
            while (i < mid && j < hi) tmp[o++] = ngram_cmp(seq, k, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[o++] = idx[i++];
            while (j < hi) tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, sizeof(int) * (size_t)n);
    }
}

/* Clipped matches of k-grams: sum over distinct k-grams g of min(count in h, count in r).
 * h (nh) and r (nr) live in one array seq (h at 0, r at nh); work has room for 3 * (nh + nr) ints. */
static long ngram_matches(const uint32_t *seq, int nh, int nr, int k, int *work) {
    int mh = nh - k + 1, mr = nr - k + 1;
    if (mh <= 0 || mr <= 0) return 0;
    int *ih = work, *ir = work + mh, *tmp = work + mh + mr;
    for (int i = 0; i < mh; i++) ih[i] = i;
    for (int i = 0; i < mr; i++) ir[i] = nh + i;
    ngram_sort(ih, mh, seq, k, tmp);
    ngram_sort(ir, mr, seq, k, tmp);
    long m = 0;
    int i = 0, j = 0;
    while (i < mh && j < mr) {
        int c = ngram_cmp(seq, k, ih[i], ir[j]);
        if (c < 0) i++;
        else if (c > 0) j++;
        else {
            int ci = 0, cj = 0, g = ih[i];
            while (i < mh && ngram_cmp(seq, k, ih[i], g) == 0) i++, ci++;
            while (j < mr && ngram_cmp(seq, k, ir[j], g) == 0) j++, cj++;
            m += LW_MIN(ci, cj);
        }
    }
    return m;
}

/* ---- BLEU ---- */

/* Splits a 13a-tokenized string (single spaces) in place into tokens; returns the count. */
static int split_tokens(char *s, char ***out) {
    int n = 0, cap = 16;
    char **t = lw_malloc(sizeof(char *) * (size_t)cap);
    for (char *p = s; *p;) {
        if (n == cap) t = lw_realloc(t, sizeof(char *) * (size_t)(cap *= 2));
        t[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp) break;
        *sp = 0;
        p = sp + 1;
    }
    *out = t;
    return n;
}

/* Interns tokens (n) into ids (n): equal strings get equal ids. Open addressing over lw_hash64, exact strcmp. */
static void intern_tokens(char *const *tok, int n, uint32_t *ids) {
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    int *slot = lw_malloc(sizeof(int) * cap); /* index of the first token with that text, or -1 */
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int i = 0; i < n; i++) {
        size_t h = (size_t)lw_hash64(tok[i], strlen(tok[i]), LW_HASH_INIT) & (cap - 1);
        while (slot[h] >= 0 && strcmp(tok[slot[h]], tok[i]) != 0) h = (h + 1) & (cap - 1);
        if (slot[h] < 0) slot[h] = i;
        ids[i] = (uint32_t)slot[h];
    }
    free(slot);
}

void bleu_stats_add(BleuStats *st, const char *hyp, const char *ref) {
    char *h = bleu_tokenize_13a(hyp), *r = bleu_tokenize_13a(ref);
    char **th, **tr;
    int nh = split_tokens(h, &th), nr = split_tokens(r, &tr);
    int n = nh + nr;
    char **all = lw_malloc(sizeof(char *) * (size_t)LW_MAX(n, 1));
    memcpy(all, th, sizeof(char *) * (size_t)nh);
    memcpy(all + nh, tr, sizeof(char *) * (size_t)nr);
    uint32_t *ids = lw_malloc(sizeof(uint32_t) * (size_t)LW_MAX(n, 1));
    intern_tokens(all, n, ids);
    int *work = lw_malloc(sizeof(int) * (size_t)LW_MAX(3 * n, 1));
    for (int k = 1; k <= BLEU_ORDER; k++) {
        st->correct[k - 1] += ngram_matches(ids, nh, nr, k, work);
        st->total[k - 1] += LW_MAX(0, nh - k + 1);
    }
    st->sys_len += nh;
    st->ref_len += nr;
    free(work);
    free(ids);
    free(all);
    free(th);
    free(tr);
    free(h);
    free(r);
}

/* sacreBLEU's my_log: log(0) is -9999999999 rather than -inf, so the score is exactly 0, never NaN. */
static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

BleuScore bleu_compute(const BleuStats *st, BleuSmooth smooth) {
    BleuScore s;
    memset(&s, 0, sizeof s);
    s.sys_len = st->sys_len;
    s.ref_len = st->ref_len;
    if (st->sys_len < st->ref_len)
        s.bp = st->sys_len > 0 ? exp(1.0 - (double)st->ref_len / (double)st->sys_len) : 0.0;
    else
        s.bp = 1.0;
    int any = 0;
    for (int n = 0; n < BLEU_ORDER; n++) any |= st->correct[n] != 0;
    if (!any) return s; /* sacreBLEU's early stop: score 0 */
    double smooth_mteval = 1.0;
    for (int n = 0; n < BLEU_ORDER; n++) {
        if (st->total[n] == 0) break; /* the precisions of this and higher orders stay 0 */
        if (st->correct[n] == 0) {
            if (smooth == BLEU_SMOOTH_EXP) {
                smooth_mteval *= 2.0;
                s.precisions[n] = 100.0 / (smooth_mteval * (double)st->total[n]);
            }
        } else {
            s.precisions[n] = 100.0 * (double)st->correct[n] / (double)st->total[n];
        }
    }
    double sum = 0;
    for (int n = 0; n < BLEU_ORDER; n++) sum += my_log(s.precisions[n]);
    s.score = s.bp * exp(sum / BLEU_ORDER);
    return s;
}

double bleu_corpus(const char *const *hyps, const char *const *refs, int n) {
    BleuStats st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < n; i++) bleu_stats_add(&st, hyps[i], refs[i]);
    return bleu_compute(&st, BLEU_SMOOTH_EXP).score;
}

int bleu_exact_match(const char *hyp, const char *ref) {
    char *h = bleu_tokenize_13a(hyp), *r = bleu_tokenize_13a(ref);
    int eq = strcmp(h, r) == 0;
    free(h);
    free(r);
    return eq;
}

/* ---- chrF ---- */

/* Code points of s with all whitespace removed, appended to out at *n (out has room for strlen(s)). A byte that
 * does not start valid UTF-8 is one character of its own (0x110000 + byte, never equal to a real code point). */
static void codepoints_nows(const char *s, uint32_t *out, int *n) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t left = strlen((const char *)p);
    while (*p) {
        int w = ws_len(p);
        if (w) {
            p += w;
            left -= (size_t)w;
            continue;
        }
        int k = lw_utf8_len(p, left);
        uint32_t cp;
        if (k == 0) {
            cp = 0x110000u + *p;
            k = 1;
        } else if (k == 1) {
            cp = p[0];
        } else if (k == 2) {
            cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        } else if (k == 3) {
            cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        } else {
            cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
                 (p[3] & 0x3F);
        }
        out[(*n)++] = cp;
        p += k;
        left -= (size_t)k;
    }
}

void chrf_stats_add(ChrfStats *st, const char *hyp, const char *ref) {
    size_t cap = strlen(hyp ? hyp : "") + strlen(ref ? ref : "");
    uint32_t *seq = lw_malloc(sizeof(uint32_t) * LW_MAX(cap, 1));
    int nh = 0, n = 0;
    codepoints_nows(hyp, seq, &nh);
    n = nh;
    codepoints_nows(ref, seq, &n);
    int nr = n - nh;
    int *work = lw_malloc(sizeof(int) * (size_t)LW_MAX(3 * n, 1));
    for (int k = 1; k <= CHRF_ORDER; k++) {
        st->hyp[k - 1] += LW_MAX(0, nh - k + 1);
        st->ref[k - 1] += LW_MAX(0, nr - k + 1);
        st->match[k - 1] += ngram_matches(seq, nh, nr, k, work);
    }
    free(work);
    free(seq);
}

double chrf_compute(const ChrfStats *st) {
    double avg_p = 0, avg_r = 0;
    int eff = 0;
    for (int k = 0; k < CHRF_ORDER; k++) {
        if (st->hyp[k] > 0 && st->ref[k] > 0) {
            avg_p += (double)st->match[k] / (double)st->hyp[k];
            avg_r += (double)st->match[k] / (double)st->ref[k];
            eff++;
        }
    }
    if (eff == 0) return 0.0;
    avg_p /= eff;
    avg_r /= eff;
    if (avg_p + avg_r == 0) return 0.0;
    double f = CHRF_BETA * CHRF_BETA;
    return 100.0 * (1 + f) * avg_p * avg_r / (f * avg_p + avg_r);
}

double chrf_corpus(const char *const *hyps, const char *const *refs, int n) {
    ChrfStats st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < n; i++) chrf_stats_add(&st, hyps[i], refs[i]);
    return chrf_compute(&st);
}
