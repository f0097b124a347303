/* sampler.h — choosing the next token from one row of logits (V): temperature, top-k, top-p (nucleus), softmax,
 * a draw from the seeded Rng, and the top-N probabilities the Chat screen shows as bars.
 * Pure functions: no allocation, no globals; the caller owns every buffer. V = vocabulary size.
 *
 * Order (the book's generate(), plus nucleus): top-k on the logits, temperature scaling, softmax, top-p on the
 * probabilities (renormalised), draw. Temperature 0 means greedy (argmax of the raw logits, no Rng draw). */
#ifndef LLMWB_SAMPLER_H
#define LLMWB_SAMPLER_H

#include "rng.h"

/* Index of the largest value; ties go to the lowest index. NaN entries are never chosen unless all are NaN (0). */
int sampler_argmax(const float *x, int V);

/* Top-k as in the book: every logit strictly below the k-th largest becomes -INFINITY (ties with the k-th value
 * are kept, so more than k may survive). k <= 0 or k >= V: no change. scratch: V floats. */
void sampler_top_k(float *logits, int V, int k, float *scratch);

/* In place: x = softmax(x / temperature), computed stably (max subtracted). temperature must be > 0.
 * -INFINITY entries get probability 0. */
void sampler_softmax(float *x, int V, float temperature);

/* Nucleus on probabilities (summing to 1): keeps the smallest set of most probable tokens whose cumulative
 * probability is >= p (ties in order of increasing id), zeroes the rest and renormalises. p >= 1: no change.
 * idx: V ints scratch. Always keeps at least the most probable token. */
void sampler_top_p(float *probs, int V, float p, int *idx);

/* Draws an index with probability probs[i] / sum(probs) (one rng_uniform). */
int sampler_draw(const float *probs, int V, Rng *r);

/* The whole pipeline. x (V) holds the logits on entry and the final distribution on return (one-hot when greedy).
 * scratch: V floats when top_k > 0; idx: V ints when top_p < 1 (either may be NULL when unused).
 * Returns the chosen id. */
int sampler_next(float *x, int V, float temperature, int top_k, float top_p, Rng *r, float *scratch, int *idx);

/* The n most probable entries of probs (V), most probable first (ties: lower id first); returns how many
 * (min(n, V)). ids and out each hold n. */
int sampler_top_n(const float *probs, int V, int n, int *ids, float *out);

#endif
