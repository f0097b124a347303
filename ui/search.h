/* search.h — the pure text search behind `/`, n and N (htop/tig/less convention). Patterns are plain text
 * (no regex). Smartcase as in vim: the match ignores ASCII case unless the pattern has an upper-case ASCII
 * letter; bytes >= 0x80 (UTF-8 multi-byte sequences) always compare exactly, so a valid UTF-8 pattern only
 * matches on code-point boundaries. Screens search one flat text: a single excerpt, or their lines joined
 * with '\n' (search_line_of maps an offset back to a line). Nothing here touches the terminal or the engine. */
#ifndef LLMWB_UI_SEARCH_H
#define LLMWB_UI_SEARCH_H

#include <stddef.h>

#define SEARCH_MAX 128                      /* bytes of a pattern, with the NUL */

/* 1 when the match is case-sensitive (pat has an ASCII upper-case letter), else 0. */
int search_case_sensitive(const char *pat);
/* Offset of the first match of pat in s[0..n) starting at or after `from`, or -1 (also for an empty pat). */
long search_find(const char *s, size_t n, size_t from, const char *pat, int cs);
/* Offset of the last match starting strictly before `before` (-1 none). */
long search_find_prev(const char *s, size_t n, long before, const char *pat, int cs);
/* Number of matches (overlapping ones counted, as every start position is a place n can stop). */
int search_count(const char *s, size_t n, const char *pat, int cs);
/* The match n / N goes to from the current one at `cur` (-1 = none yet: the first match at or after 0 for
 * dir > 0, the last one for dir < 0): dir > 0 the next start after cur, dir < 0 the previous start before
 * cur, wrapping around the ends (then *wrapped = 1, else 0; wrapped may be NULL). Returns -1 when there is
 * no match at all. */
long search_next(const char *s, size_t n, const char *pat, long cur, int dir, int *wrapped);
/* 1-based index of the match starting at off among all matches (0 when off is not a match start). */
int search_index(const char *s, size_t n, const char *pat, long off);
/* The line (0-based, lines separated by '\n') holding byte off of s. */
int search_line_of(const char *s, size_t n, long off);

/* Token search (Embed, Attention): n token texts, NUL-terminated, `stride` bytes apart. Returns the token n/N
 * goes to from the selected token sel: dir 0 the first token containing pat, dir > 0 the next one after sel,
 * dir < 0 the previous one before sel, wrapping (*wrapped = 1); -1 when none contains pat. *rank (1-based,
 * among the tokens that contain pat) and *total are set when not NULL (0 when none). */
int search_tokens(const char *toks, size_t stride, int n, const char *pat, int sel, int dir, int *wrapped, int *rank,
                  int *total);

#endif
