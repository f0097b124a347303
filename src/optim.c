/* optim.c — zero_grad, gradient norm and AdamW over a tensor table, threaded. See optim.h. */
#include "optim.h"

#include <math.h>
#include <string.h>
#include "layers.h"
#include "matmul.h"
#include "util.h"

/* Parts of at least this many floats: below it a thread costs more than it saves. */
#define OPTIM_MIN_CHUNK ((size_t)1 << 16)

typedef struct OptimJob {
    const OptimTable *t;
    int kind;                     /* OPTIM_ZERO, OPTIM_NORM, OPTIM_ADAMW */
    AdamwCoeffs c;                /* AdamW: decay_mul is that of tensors with decay */
    double sumsq[LW_MAX_THREADS]; /* norm: per part */
} OptimJob;

enum { OPTIM_ZERO, OPTIM_NORM, OPTIM_ADAMW };

/* The job's pass over the block range [lo, hi), tensor by tensor. */
static void optim_part(void *ctx, int part, size_t lo, size_t hi) {
    OptimJob *j = ctx;
    const OptimTable *t = j->t;
    double s = 0.0;
    for (int i = 0; i < t->n_tensors; i++) {
        const GptTensor *tn = &t->tensors[i];
        size_t a = LW_MAX(lo, tn->offset), b = LW_MIN(hi, tn->offset + tn->numel);
        if (a >= b) continue;
        if (!tn->trainable) {
            if (j->kind != OPTIM_NORM && t->zero_frozen) memset(t->grads + a, 0, (b - a) * sizeof(float));
            continue;
        }
        if (j->kind == OPTIM_ZERO) {
            memset(t->grads + a, 0, (b - a) * sizeof(float));
        } else if (j->kind == OPTIM_NORM) {
            s += vec_sumsq(t->grads + a, b - a);
        } else {
            AdamwCoeffs c = j->c;
            if (!tn->decay) c.decay_mul = 1.0f;
            adamw_update_zero(t->params + a, t->grads + a, t->m + a, t->v + a, b - a, &c);
        }
    }
    j->sumsq[part] = s;
}

static int optim_run(OptimJob *j, size_t min_chunk) {
    return lw_parallel(matmul_get_threads(), j->t->n_params, min_chunk, optim_part, j);
}

void optim_zero_grad(const OptimTable *t) {
    if (t->grads_zero && *t->grads_zero) return;
    OptimJob j = {.t = t, .kind = OPTIM_ZERO};
    optim_run(&j, (size_t)1 << 18);
    if (t->grads_zero) *t->grads_zero = 1;
}

float optim_grad_norm(const OptimTable *t) {
    OptimJob j = {.t = t, .kind = OPTIM_NORM};
    int parts = optim_run(&j, (size_t)1 << 18);
    double s = 0.0;
    for (int p = 0; p < parts; p++) s += j.sumsq[p];
    return (float)sqrt(s);
}

void optim_adamw_step(const OptimTable *t, float lr, float beta1, float beta2, float eps, float weight_decay,
                      int step, float grad_scale) {
    LW_ASSERT(step >= 1);
    OptimJob j = {.t = t, .kind = OPTIM_ADAMW, .c = {.beta1 = beta1, .beta2 = beta2, .eps = eps,
                                                      .grad_scale = grad_scale}};
    j.c.step_size = (float)(lr / (1.0 - pow((double)beta1, step)));
    j.c.bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, step));
    j.c.decay_mul = (float)(1.0 - (double)lr * weight_decay);
    optim_run(&j, OPTIM_MIN_CHUNK);
    if (t->grads_zero) *t->grads_zero = 1;
}
