/* bleu.h — translation metrics as sacreBLEU 2.x computes them by default: corpus BLEU (4-gram precisions clipped
 * by the reference, brevity penalty, 13a tokenization, mixed case, "exp" smoothing) and chrF (character 6-grams,
 * beta 2, whitespace removed), plus exact match. One reference per hypothesis.
 *
 * Scores are on sacreBLEU's 0..100 scale. Corpus scores are NOT averages of sentence scores: statistics (n-gram
 * counts, lengths) are summed over the corpus first, and the score is computed once from the sums, so a corpus is
 * scored by adding its pairs to a zeroed stats struct and calling *_compute (or by bleu_corpus / chrf_corpus).
 *
 * BLEU = BP * exp(mean over n = 1..4 of log p_n), p_n = 100 * matched n-grams / hypothesis n-grams, matches clipped
 * by the reference count of each n-gram; BP = exp(1 - ref_len / sys_len) when sys_len < ref_len, else 1 (0 when
 * sys_len is 0). Smoothing (an order with no match would make log p_n = -inf):
 *   BLEU_SMOOTH_EXP  (sacreBLEU's default, mteval-v13a's): the k-th order with zero matches gets
 *                    p_n = 100 / (2^k * hypothesis n-grams);
 *   BLEU_SMOOTH_NONE ("--smooth-method none"): such an order makes the score 0.
 * Either way the score is 0 when nothing matches at all, and when the hypotheses hold no n-grams of some order
 * (a corpus of hypotheses all shorter than 4 tokens scores 0, as in sacreBLEU without effective order).
 *
 * chrF = 100 * (1 + beta^2) P R / (beta^2 P + R), P and R the precision and recall of character n-grams averaged
 * over the orders n = 1..6 for which both the hypotheses and the references have n-grams (sacreBLEU's default,
 * eps_smoothing off); 0 when no order qualifies or P + R = 0. Characters are Unicode code points after all
 * whitespace is removed (Python's str.split whitespace). */
#ifndef LLMWB_BLEU_H
#define LLMWB_BLEU_H

#define BLEU_ORDER 4
#define CHRF_ORDER 6
#define CHRF_BETA 2.0

typedef enum { BLEU_SMOOTH_EXP, BLEU_SMOOTH_NONE } BleuSmooth;

/* Sufficient statistics of a corpus; zero-initialise, then bleu_stats_add each pair. */
typedef struct BleuStats {
    long correct[BLEU_ORDER]; /* clipped n-gram matches, n = 1..4 */
    long total[BLEU_ORDER];   /* hypothesis n-grams */
    long sys_len, ref_len;    /* tokens of hypotheses and references */
} BleuStats;

typedef struct BleuScore {
    double score;                  /* 0..100 */
    double precisions[BLEU_ORDER]; /* p_n in percent after smoothing (0 for orders not reached) */
    double bp;                     /* brevity penalty */
    long sys_len, ref_len;
} BleuScore;

/* mteval-v13a tokenization as sacreBLEU's "13a": the entities &quot; &amp; &lt; &gt; are unescaped, ASCII
 * punctuation except ' - . , is split off, '.' and ',' are split off unless between digits, '-' after a digit is
 * split off, whitespace runs become one space, no leading or trailing space. Returns a malloc'd string. */
char *bleu_tokenize_13a(const char *s);
/* Adds one hypothesis/reference pair (NULL counts as ""). */
void bleu_stats_add(BleuStats *st, const char *hyp, const char *ref);
BleuScore bleu_compute(const BleuStats *st, BleuSmooth smooth);
/* Corpus BLEU of n pairs with the default (exp) smoothing; 0 when n == 0. */
double bleu_corpus(const char *const *hyps, const char *const *refs, int n);

typedef struct ChrfStats {
    long hyp[CHRF_ORDER], ref[CHRF_ORDER], match[CHRF_ORDER]; /* character n-grams, n = 1..6 */
} ChrfStats;
void chrf_stats_add(ChrfStats *st, const char *hyp, const char *ref);
double chrf_compute(const ChrfStats *st);
double chrf_corpus(const char *const *hyps, const char *const *refs, int n);

/* 1 when hyp and ref are equal after 13a tokenization (so spacing around punctuation does not count). */
int bleu_exact_match(const char *hyp, const char *ref);

#endif
