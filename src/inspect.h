/* inspect.h — looking inside a model (issue 15): the logit lens and head ablation, for `llmwb lens`, `llmwb ablate`
 * and the TUI. Public (engine.h includes it); computed by src/inspect.c on the engine's current weights through the
 * architecture's lens_logits and forward_ablated ops (arch.h), which GPT has (decoder-only, causal).
 * Letters: L layers, NH heads, T positions, V vocabulary. */
#ifndef LLMWB_INSPECT_H
#define LLMWB_INSPECT_H

#include "util.h"

typedef struct Engine Engine;

#define LENS_TOPK 5

/* What one layer predicts at one position. */
typedef struct LensCell {
    int n;                  /* candidates below (LENS_TOPK, fewer for a tiny vocabulary) */
    int ids[LENS_TOPK];     /* the most likely next tokens, best first */
    float probs[LENS_TOPK];
    float p_next;           /* the probability of the token that really comes next; 0 at the last position */
    int rank_next;          /* its rank among all V (1 = the top candidate); 0 at the last position */
} LensCell;

/* The logit lens of a text: row l is what the model would predict if it stopped after layer l (row 0 the
 * embeddings alone, row L the model's own prediction), i.e. the final LayerNorm and the output head applied to
 * the residual stream there. */
typedef struct LensResult {
    int n_rows;             /* L + 1 */
    int T;                  /* tokens of the text (cut to the model's context) */
    int *ids;               /* (T) the text's tokens */
    LensCell *cells;        /* (n_rows, T) */
} LensResult;

/* The logit lens of text on the current weights. LW_ERR_UNSUPPORTED for an architecture without a lens (BERT,
 * encoder–decoder: the message says which have one), LW_ERR_INVALID for an empty text. Free with
 * engine_lens_free. [driver] */
int engine_lens(Engine *eng, const char *text, LensResult *out, LwError *e);
void engine_lens_free(LensResult *r);

/* Head ablation: the loss of predicting each next token of a text with every head in turn knocked out (its output
 * set to zero before the attention's output projection), beside the loss of the whole model. */
typedef struct AblateResult {
    int L, NH;
    int n_tokens;           /* predictions the losses average over */
    int n_windows;          /* windows of up to the model's context the text was cut into */
    float base_loss;        /* no head knocked out */
    float *loss;            /* (L, NH) loss with head (l, h) knocked out; loss - base_loss is what the head is worth */
} AblateResult;

#define ABLATE_MAX_WINDOWS 8 /* the text is scored on at most this many context-length windows */

/* Head ablation on text (at least 2 tokens). Errors as engine_lens. Free with engine_ablate_free. [driver] */
int engine_ablate(Engine *eng, const char *text, AblateResult *out, LwError *e);
void engine_ablate_free(AblateResult *r);

#endif
