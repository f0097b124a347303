/* rng.h — the seeded random number generator (xoshiro256**). All randomness in the engine comes from an Rng
 * whose state is saved in checkpoints, so runs and resumes are reproducible. */
#ifndef LLMWB_RNG_H
#define LLMWB_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
uint32_t rng_u32(Rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint32_t rng_below(Rng *r, uint32_t n);
/* Uniform float in [0, 1). */
float rng_uniform(Rng *r);
/* Standard normal (Box-Muller). */
float rng_normal(Rng *r);
/* Fisher-Yates shuffle. */
void rng_shuffle_int(Rng *r, int *a, size_t n);

#endif
