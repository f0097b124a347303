/* test_ui_search.c — the pure search behind `/`, n and N (ui/search.c): smartcase, next/previous with
 * wrapping, match numbering, UTF-8 text, line mapping and the token search of Embed/Attention. */
#include <criterion/criterion.h>
#include <string.h>

#include "../ui/search.h"

static long next_of(const char *s, const char *pat, long cur, int dir, int *wrapped) {
    return search_next(s, strlen(s), pat, cur, dir, wrapped);
}

Test(ui_search, smartcase_flag) {
    cr_assert_eq(search_case_sensitive("bennet"), 0);
    cr_assert_eq(search_case_sensitive("Bennet"), 1);
    cr_assert_eq(search_case_sensitive("mr. b"), 0);
    cr_assert_eq(search_case_sensitive("caf\xc3\xa9"), 0);   /* non-ASCII letters do not switch it on */
    cr_assert_eq(search_case_sensitive(""), 0);
}

Test(ui_search, smartcase_matching) {
    const char *s = "Mr. BENNET met Mrs. Bennet and bennet.";
    size_t n = strlen(s);
    /* lower-case pattern: all three */
    cr_assert_eq(search_count(s, n, "bennet", search_case_sensitive("bennet")), 3);
    /* an upper-case letter: exact case only */
    cr_assert_eq(search_count(s, n, "Bennet", search_case_sensitive("Bennet")), 1);
    cr_assert_eq(next_of(s, "Bennet", -1, 1, NULL), 20);
    cr_assert_eq(next_of(s, "bennet", -1, 1, NULL), 4);
    cr_assert_eq(next_of(s, "BENNET", -1, 1, NULL), 4);
    cr_assert_eq(next_of(s, "Collins", -1, 1, NULL), -1);
    cr_assert_eq(next_of(s, "", -1, 1, NULL), -1);
    cr_assert_eq(search_find(s, n, 0, "bennet.x", 0), -1);  /* running past the end is no match */
}

Test(ui_search, next_prev_and_wrap) {
    const char *s = "ab xab yab";   /* matches of "ab" at 0, 4, 8 */
    int w = -1;
    cr_assert_eq(next_of(s, "ab", -1, 1, &w), 0);
    cr_assert_eq(w, 0);
    cr_assert_eq(next_of(s, "ab", 0, 1, &w), 4);
    cr_assert_eq(w, 0);
    cr_assert_eq(next_of(s, "ab", 4, 1, &w), 8);
    cr_assert_eq(w, 0);
    cr_assert_eq(next_of(s, "ab", 8, 1, &w), 0, "n past the last wraps to the first");
    cr_assert_eq(w, 1);
    cr_assert_eq(next_of(s, "ab", 8, -1, &w), 4);
    cr_assert_eq(w, 0);
    cr_assert_eq(next_of(s, "ab", 0, -1, &w), 8, "N before the first wraps to the last");
    cr_assert_eq(w, 1);
    cr_assert_eq(next_of(s, "ab", -1, -1, &w), 8, "N with no current match: the last one");
    cr_assert_eq(w, 0);
    /* a single match wraps onto itself */
    cr_assert_eq(next_of("only one", "one", 5, 1, &w), 5);
    cr_assert_eq(w, 1);
    /* no match at all: -1 and no wrap */
    cr_assert_eq(next_of(s, "zz", 4, 1, &w), -1);
    cr_assert_eq(w, 0);
    /* overlapping matches are each a stop */
    cr_assert_eq(search_count("aaaa", 4, "aa", 0), 3);
    cr_assert_eq(next_of("aaaa", "aa", 0, 1, NULL), 1);
}

Test(ui_search, match_index) {
    const char *s = "ab xab yab";
    size_t n = strlen(s);
    cr_assert_eq(search_index(s, n, "ab", 0), 1);
    cr_assert_eq(search_index(s, n, "ab", 4), 2);
    cr_assert_eq(search_index(s, n, "ab", 8), 3);
    cr_assert_eq(search_index(s, n, "ab", 5), 0, "not a match start");
    cr_assert_eq(search_index(s, n, "AB", 4), 0, "smartcase: AB is exact and absent");
}

Test(ui_search, utf8_multibyte) {
    /* "café Café naïve CAFÉ" — é is C3 A9, É is C3 89, ï is C3 AF */
    const char *s = "caf\xc3\xa9 Caf\xc3\xa9 na\xc3\xafve CAF\xc3\x89";
    size_t n = strlen(s);
    /* lower-case pattern: ASCII letters fold, the é bytes must match exactly */
    cr_assert_eq(search_count(s, n, "caf\xc3\xa9", 0), 2);
    cr_assert_eq(next_of(s, "caf\xc3\xa9", -1, 1, NULL), 0);
    cr_assert_eq(next_of(s, "caf\xc3\xa9", 0, 1, NULL), 6);
    cr_assert_eq(next_of(s, "caf\xc3\xa9", 6, 1, NULL), 0);
    /* a multi-byte pattern in the middle of the text; the match is its 2 bytes, on a code-point boundary */
    long o = next_of(s, "\xc3\xaf", -1, 1, NULL);
    cr_assert_eq(o, 14);
    cr_assert_eq((unsigned char)s[o] & 0xC0, 0xC0, "starts at a UTF-8 lead byte");
    cr_assert_eq(next_of(s, "na\xc3\xafve", -1, 1, NULL), 12);
    /* smartcase with an upper-case ASCII letter next to a multi-byte one */
    cr_assert_eq(next_of(s, "CAF\xc3\x89", -1, 1, NULL), 19);
    cr_assert_eq(search_count(s, n, "CAF\xc3\x89", 1), 1);
    /* a continuation byte alone never matches a lead byte */
    cr_assert_eq(next_of("\xc3\xa9", "\xa9\xc3", -1, 1, NULL), -1);
}

Test(ui_search, line_of_offset) {
    const char *s = "first line\nsecond\n\nfourth";
    size_t n = strlen(s);
    cr_assert_eq(search_line_of(s, n, 0), 0);
    cr_assert_eq(search_line_of(s, n, 10), 0);   /* the '\n' itself belongs to its line */
    cr_assert_eq(search_line_of(s, n, 11), 1);
    cr_assert_eq(search_line_of(s, n, 18), 2);
    cr_assert_eq(search_line_of(s, n, 19), 3);
    cr_assert_eq(search_line_of(s, n, search_find(s, n, 0, "fourth", 0)), 3);
}

Test(ui_search, tokens) {
    char toks[6][16] = {"It", " is", " a", " truth", " Truth", "ful"};
    int w, rank, total;
    /* lower case: both truths */
    cr_assert_eq(search_tokens(&toks[0][0], sizeof toks[0], 6, "truth", 0, 0, &w, &rank, &total), 3);
    cr_assert_eq(rank, 1);
    cr_assert_eq(total, 2);
    cr_assert_eq(w, 0);
    cr_assert_eq(search_tokens(&toks[0][0], sizeof toks[0], 6, "truth", 3, 1, &w, &rank, &total), 4);
    cr_assert_eq(rank, 2);
    cr_assert_eq(w, 0);
    cr_assert_eq(search_tokens(&toks[0][0], sizeof toks[0], 6, "truth", 4, 1, &w, &rank, NULL), 3, "wraps");
    cr_assert_eq(w, 1);
    cr_assert_eq(rank, 1);
    cr_assert_eq(search_tokens(&toks[0][0], sizeof toks[0], 6, "truth", 3, -1, &w, NULL, NULL), 4, "wraps back");
    cr_assert_eq(w, 1);
    /* smartcase: only " Truth" */
    cr_assert_eq(search_tokens(&toks[0][0], sizeof toks[0], 6, "Truth", 0, 0, &w, &rank, &total), 4);
    cr_assert_eq(total, 1);
    /* none */
    cr_assert_eq(search_tokens(&toks[0][0], sizeof toks[0], 6, "xyz", 2, 1, &w, &rank, &total), -1);
    cr_assert_eq(total, 0);
    cr_assert_eq(rank, 0);
    cr_assert_eq(w, 0);
}
