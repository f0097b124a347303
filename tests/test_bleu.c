/* test_bleu.c — corpus BLEU, chrF and exact match against values worked out by hand (the arithmetic is in the
 * comments), sacreBLEU's 13a tokenization, and the edge cases: empty hypothesis, fewer than 4 tokens, no match,
 * clipping, brevity penalty, corpus sums versus sentence averages, code points versus bytes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bleu.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void tok_is(const char *in, const char *want) {
    char *got = bleu_tokenize_13a(in);
    cr_assert_str_eq(got, want, "13a(\"%s\") = \"%s\"", in, got);
    free(got);
}

Test(bleu_13a, punctuation_and_numbers) {
    tok_is("Hello, world!", "Hello , world !");
    /* '$' is split off; '.' and ',' between digits stay; a final '.' and a ',' before a space are split off */
    tok_is("It costs $3.50, or 3,000 yen.", "It costs $ 3.50 , or 3,000 yen .");
    tok_is("don't stop", "don't stop");                 /* the apostrophe is not in the class */
    tok_is("well-known 1-2", "well-known 1 - 2");       /* a dash is split only after a digit */
    tok_is("a &amp; b &lt;c&gt; &quot;q&quot;", "a & b < c > \" q \"");
    tok_is("(x)[y]{z}", "( x ) [ y ] { z }");
    tok_is("<skipped>kept", "kept");
    tok_is("line-\nbreak\nnext", "linebreak next");
    tok_is("  many   spaces\there ", "many spaces here");
    tok_is("x\xc2\xa0y\xe3\x80\x80z", "x y z");        /* U+00A0 and U+3000 are whitespace to str.split */
    tok_is("café. été,", "café . été ,");             /* non-ASCII letters before '.' and ',' */
    tok_is(".5 and 5.", ". 5 and 5 .");                /* the padding space before ".5" is a non-digit */
    /* runs of '.' and ',', dots between digits, dashes before and after digits (checked against the regexes) */
    tok_is("a.b,c 1.2.3 x..y 3,,4 1-2-3 -5 a-1", "a . b , c 1.2.3 x . . y 3 , , 4 1 - 2 - 3 -5 a-1");
    tok_is("", "");
    tok_is(NULL, "");
}

/* hyp "the cat sat on the mat", ref "the cat is on the mat" (6 and 6 tokens):
 *   1-grams: the×2 cat on mat match (sat does not)      5/6
 *   2-grams: "the cat" "on the" "the mat"                3/5
 *   3-grams: "on the mat"                                1/4
 *   4-grams: none                                        0/3 → exp smoothing: 1/(2·3) = 1/6
 *   BP = 1 (6 ≥ 6); BLEU = 100 · (5/6 · 3/5 · 1/4 · 1/6)^(1/4) = 100 · (1/48)^(1/4) = 37.991784... */
Test(bleu, worked_example_exp_smoothing) {
    BleuStats st;
    memset(&st, 0, sizeof st);
    bleu_stats_add(&st, "the cat sat on the mat", "the cat is on the mat");
    cr_assert_eq(st.correct[0], 5);
    cr_assert_eq(st.correct[1], 3);
    cr_assert_eq(st.correct[2], 1);
    cr_assert_eq(st.correct[3], 0);
    cr_assert_eq(st.total[0], 6);
    cr_assert_eq(st.total[3], 3);
    BleuScore s = bleu_compute(&st, BLEU_SMOOTH_EXP);
    cr_assert(NEAR(s.score, 100.0 * pow(1.0 / 48.0, 0.25)), "%.12f", s.score);
    cr_assert(fabs(s.score - 37.991784) < 1e-5, "%.12f", s.score);
    cr_assert(NEAR(s.precisions[3], 100.0 / 6.0));
    cr_assert(NEAR(s.bp, 1.0));
    /* without smoothing the zero 4-gram precision makes the score 0 */
    cr_assert(NEAR(bleu_compute(&st, BLEU_SMOOTH_NONE).score, 0.0));
    const char *h[] = {"the cat sat on the mat"}, *r[] = {"the cat is on the mat"};
    cr_assert(NEAR(bleu_corpus(h, r, 1), s.score));
}

/* Papineni et al.'s clipping example: hyp "the" ×7, ref "the cat is on the mat".
 *   1-grams: "the" ×7 in hyp, ×2 in ref → clipped 2/7; 2..4-grams: 0/6, 0/5, 0/4
 *   exp smoothing: p2 = 1/(2·6), p3 = 1/(4·5), p4 = 1/(8·4); BP = 1 (7 ≥ 6)
 *   BLEU = 100 · (2/7 · 1/12 · 1/20 · 1/32)^(1/4) = 100 · (1/26880)^(1/4) = 7.809849... */
Test(bleu, clipping) {
    const char *h[] = {"the the the the the the the"}, *r[] = {"the cat is on the mat"};
    double b = bleu_corpus(h, r, 1);
    cr_assert(NEAR(b, 100.0 * pow(1.0 / 26880.0, 0.25)), "%.12f", b);
}

/* hyp "a b c d e", ref "a b c d e f g": every n-gram matches (p_n = 100), BP = exp(1 - 7/5) = exp(-0.4):
 * BLEU = 100 · 0.670320046... */
Test(bleu, brevity_penalty) {
    BleuStats st;
    memset(&st, 0, sizeof st);
    bleu_stats_add(&st, "a b c d e", "a b c d e f g");
    BleuScore s = bleu_compute(&st, BLEU_SMOOTH_EXP);
    cr_assert(NEAR(s.bp, exp(-0.4)));
    cr_assert(NEAR(s.score, 100.0 * exp(-0.4)), "%.12f", s.score);
    cr_assert(fabs(s.score - 67.0320046) < 1e-6);
    /* a longer hypothesis is not rewarded: BP stays 1, precision falls */
    memset(&st, 0, sizeof st);
    bleu_stats_add(&st, "a b c d e f g h", "a b c d e f g");
    cr_assert(NEAR(bleu_compute(&st, BLEU_SMOOTH_EXP).bp, 1.0));
}

/* Statistics are summed before scoring. Pairs ("a b c d e" | same) and ("x y z w" | "p q r s"):
 *   sums: 1-grams 5/9, 2-grams 4/7, 3-grams 3/5, 4-grams 2/3; BP = 1 (9 = 9)
 *   BLEU = 100 · (5/9 · 4/7 · 3/5 · 2/3)^(1/4) = 100 · (8/63)^(1/4) = 59.694... — not the mean (100 + 0)/2 = 50. */
Test(bleu, corpus_sums_not_sentence_means) {
    const char *h[] = {"a b c d e", "x y z w"}, *r[] = {"a b c d e", "p q r s"};
    double b = bleu_corpus(h, r, 2);
    cr_assert(NEAR(b, 100.0 * pow(8.0 / 63.0, 0.25)), "%.12f", b);
}

Test(bleu, edge_cases) {
    /* identical sentences of at least 4 tokens: 100 */
    const char *same[] = {"le chat noir voit le petit chien"};
    cr_assert(NEAR(bleu_corpus(same, same, 1), 100.0));
    /* an empty hypothesis: no match, BP 0, score 0, never NaN */
    BleuStats st;
    memset(&st, 0, sizeof st);
    bleu_stats_add(&st, "", "the cat");
    BleuScore s = bleu_compute(&st, BLEU_SMOOTH_EXP);
    cr_assert(s.score == 0.0 && s.bp == 0.0 && s.sys_len == 0 && s.ref_len == 2);
    memset(&st, 0, sizeof st);
    bleu_stats_add(&st, NULL, NULL);
    cr_assert(bleu_compute(&st, BLEU_SMOOTH_EXP).score == 0.0);
    /* shorter than 4 tokens: 1- and 2-grams match, but no 3-gram exists, so the score is 0 (as sacreBLEU without
     * effective order), even for an exact copy */
    const char *h3[] = {"the cat"}, *r3[] = {"the cat"};
    cr_assert(bleu_corpus(h3, r3, 1) == 0.0);
    /* ...but in a corpus with longer pairs the short pair adds its counts */
    const char *h4[] = {"the cat", "a b c d"}, *r4[] = {"the cat", "a b c d"};
    cr_assert(NEAR(bleu_corpus(h4, r4, 2), 100.0));
    /* nothing matches: 0 */
    const char *h5[] = {"w x y z"}, *r5[] = {"a b c d"};
    cr_assert(bleu_corpus(h5, r5, 1) == 0.0);
    /* an empty corpus: 0 */
    cr_assert(bleu_corpus(NULL, NULL, 0) == 0.0);
    /* case matters (mixed-case BLEU) and tokenization splits punctuation: "chat." = "chat ." */
    const char *h6[] = {"Le chat noir dort."}, *r6[] = {"le chat noir dort ."};
    BleuStats s6;
    memset(&s6, 0, sizeof s6);
    bleu_stats_add(&s6, h6[0], r6[0]);
    cr_assert_eq(s6.sys_len, 5);
    cr_assert_eq(s6.correct[0], 4);
}

Test(bleu, exact_match) {
    cr_assert(bleu_exact_match("le chat noir.", "le chat noir ."));
    cr_assert(bleu_exact_match("  le  chat ", "le chat"));
    cr_assert(!bleu_exact_match("le chat", "Le chat"));
    cr_assert(!bleu_exact_match("le chat noir", "le chat"));
    cr_assert(bleu_exact_match("", NULL));
}

/* hyp "ab", ref "abc" (no whitespace):
 *   1-grams: hyp a b (2), ref a b c (3), match 2; 2-grams: hyp ab (1), ref ab bc (2), match 1;
 *   3-grams: hyp none → orders 3..6 do not count (effective order 2)
 *   P = (2/2 + 1/1)/2 = 1, R = (2/3 + 1/2)/2 = 7/12
 *   chrF2 = 100 · 5 · P · R / (4P + R) = 100 · (35/12) / (55/12) = 100 · 7/11 = 63.6363... */
Test(chrf, worked_example) {
    ChrfStats st;
    memset(&st, 0, sizeof st);
    chrf_stats_add(&st, "ab", "abc");
    cr_assert_eq(st.hyp[0], 2);
    cr_assert_eq(st.ref[0], 3);
    cr_assert_eq(st.match[0], 2);
    cr_assert_eq(st.match[1], 1);
    cr_assert_eq(st.hyp[2], 0);
    cr_assert_eq(st.ref[2], 1);
    double c = chrf_compute(&st);
    cr_assert(NEAR(c, 700.0 / 11.0), "%.12f", c);
}

/* hyp "le chat", ref "la chatte": whitespace removed → "lechat" (6 chars), "lachatte" (8 chars).
 *   n=1: hyp l e c h a t; ref l a c h a t t e → matches l e c h a t = 6 (ref has a×2, t×2, e×1) → 6/6, 6/8
 *   n=2: hyp le ec ch ha at; ref la ac ch ha at tt te → ch ha at = 3 → 3/5, 3/7
 *   n=3: hyp lec ech cha hat; ref lac ach cha hat att tte → cha hat = 2 → 2/4, 2/6
 *   n=4: hyp lech echa chat; ref lach acha chat hatt atte → chat = 1 → 1/3, 1/5
 *   n=5: hyp lecha echat; ref lacha achat chatt hatte → 0/2, 0/4
 *   n=6: hyp lechat; ref lachat achatt chatte → 0/1, 0/3
 *   P = (1 + 3/5 + 1/2 + 1/3 + 0 + 0)/6 = (73/30)/6 = 73/180
 *   R = (3/4 + 3/7 + 1/3 + 1/5 + 0 + 0)/6 = (719/420)/6 = 719/2520
 *   chrF2 = 100 · 5PR / (4P + R) = 30.3302... (the fractions are evaluated below) */
Test(chrf, word_example) {
    ChrfStats st;
    memset(&st, 0, sizeof st);
    chrf_stats_add(&st, "le chat", "la chatte");
    long want_m[6] = {6, 3, 2, 1, 0, 0}, want_h[6] = {6, 5, 4, 3, 2, 1}, want_r[6] = {8, 7, 6, 5, 4, 3};
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(st.match[k], want_m[k], "n=%d", k + 1);
        cr_assert_eq(st.hyp[k], want_h[k], "n=%d", k + 1);
        cr_assert_eq(st.ref[k], want_r[k], "n=%d", k + 1);
    }
    double P = (1.0 + 3.0 / 5 + 2.0 / 4 + 1.0 / 3) / 6, R = (6.0 / 8 + 3.0 / 7 + 2.0 / 6 + 1.0 / 5) / 6;
    double want = 100.0 * 5 * P * R / (4 * P + R);
    cr_assert(NEAR(chrf_compute(&st), want), "%.12f vs %.12f", chrf_compute(&st), want);
}

Test(chrf, edge_cases) {
    const char *same[] = {"le chat noir"};
    cr_assert(NEAR(chrf_corpus(same, same, 1), 100.0));
    /* whitespace does not count */
    const char *h1[] = {"le chat"}, *r1[] = {"lechat"};
    cr_assert(NEAR(chrf_corpus(h1, r1, 1), 100.0));
    /* empty hypothesis, empty corpus, nothing in common */
    const char *h2[] = {""}, *r2[] = {"abc"};
    cr_assert(chrf_corpus(h2, r2, 1) == 0.0);
    cr_assert(chrf_corpus(NULL, NULL, 0) == 0.0);
    const char *h3[] = {"xyz"}, *r3[] = {"abc"};
    cr_assert(chrf_corpus(h3, r3, 1) == 0.0);
    /* characters are code points: hyp "éa", ref "éb" → n=1: 1/2, 1/2; n=2: 0/1, 0/1 → P = R = 1/4 → 25
     * (on bytes it would be 1-grams 2/3, 2-grams 1/2, 3-grams 0/1: another score) */
    const char *h4[] = {"\xc3\xa9" "a"}, *r4[] = {"\xc3\xa9" "b"};
    cr_assert(NEAR(chrf_corpus(h4, r4, 1), 25.0), "%.12f", chrf_corpus(h4, r4, 1));
    /* corpus sums: ("ab" | "abc") and ("" | "x") → n=1: hyp 2, ref 4, match 2; n=2: hyp 1, ref 2, match 1;
     * P = (1 + 1)/2 = 1, R = (2/4 + 1/2)/2 = 1/2 → 100 · 5 · 0.5 / 4.5 = 55.5... */
    const char *h5[] = {"ab", ""}, *r5[] = {"abc", "x"};
    cr_assert(NEAR(chrf_corpus(h5, r5, 2), 100.0 * 2.5 / 4.5), "%.12f", chrf_corpus(h5, r5, 2));
}
