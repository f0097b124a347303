/* optim.h — the optimizer of every architecture (GPT, BERT, encoder-decoder): gradient zeroing, the global
 * gradient norm and torch.optim.AdamW over a tensor table (GptTensor: offset, numel, trainable, decay) whose
 * parameters, gradients and two moments are each one flat block of n_params floats. Every pass is split across
 * matmul_get_threads() threads by contiguous ranges of the block; AdamW clears the gradients in its own sweep, so
 * the next zero_grad has nothing left to do. */
#ifndef LLMWB_OPTIM_H
#define LLMWB_OPTIM_H

#include <stddef.h>
#include "model.h"

typedef struct OptimTable {
    const GptTensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *m, *v;
    int zero_frozen; /* the backward writes frozen tensors' gradients too (BERT, encoder-decoder): clear them also */
    int *grads_zero; /* the model's flag: 1 while every gradient zero_grad clears is known to be 0; every backward
                      * (anything that writes gradients) sets it to 0 */
} OptimTable;

/* Clears the gradients of the trainable tensors (all tensors with zero_frozen); nothing when *grads_zero. */
void optim_zero_grad(const OptimTable *t);
/* sqrt of the sum of squares of the trainable tensors' gradients (partial sums per thread in double). */
float optim_grad_norm(const OptimTable *t);
/* torch.optim.AdamW step (1-based) on the trainable tensors: gradients scaled by grad_scale first, weight decay on
 * tensors with decay = 1, the step's constants in double as Python computes them; then the gradients zero_grad
 * would clear are 0 (*grads_zero = 1). */
void optim_adamw_step(const OptimTable *t, float lr, float beta1, float beta2, float eps, float weight_decay,
                      int step, float grad_scale);

#endif
