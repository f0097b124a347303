/* inspect.h — looking inside a model (issue 15): the logit lens and head ablation, for `llmwb lens`, `llmwb ablate`
 * and the TUI. Public (engine.h includes it); computed by src/inspect.c on the engine's current weights through the
 * architecture's lens_logits and forward_ablated ops (arch.h), which GPT has (decoder-only, causal).
 * Letters: L layers, NH heads, T positions, V vocabulary. */
#ifndef LLMWB_INSPECT_H
#define LLMWB_INSPECT_H

#include <stdint.h>

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

/* How a head is knocked out: its output (its slice of the attention output, before the output projection) set to
 * zero, or to its mean over the positions scored (each window, or the one text; mean ablation: the head still adds
 * its average but no longer reads the input, which keeps the next layers' inputs in their usual range). */
enum { ABLATE_ZERO = 1, ABLATE_MEAN = 2 };

/* Head ablation: the loss of predicting each next token of a text with every head in turn knocked out, beside the
 * loss of the whole model. */
typedef struct AblateResult {
    int L, NH;
    int how;                /* ABLATE_ZERO or ABLATE_MEAN */
    int n_tokens;           /* predictions the losses average over */
    int n_windows;          /* windows of up to the model's context the text was cut into */
    float base_loss;        /* no head knocked out */
    float *loss;            /* (L, NH) loss with head (l, h) knocked out; loss - base_loss is what the head is worth */
} AblateResult;

#define ABLATE_MAX_WINDOWS 8 /* the text is scored on at most this many context-length windows */

/* Head ablation on text (at least 2 tokens), cut into windows of the model's context. text NULL or "": the engine's
 * own fixed validation window instead: the first min(batch rows, ABLATE_MAX_WINDOWS) rows of the first validation
 * batch (the batch engine_evaluate scores first; for train.task lm the first rows x context + 1 tokens of the
 * validation split, so the same losses as those tokens given as text), the same at every call; LW_ERR_INVALID
 * when there is no validation split (an engine opened on a checkpoint, data.val_fraction 0). how: ABLATE_ZERO or
 * ABLATE_MEAN (else LW_ERR_INVALID). Errors as engine_lens. Free with engine_ablate_free. [driver] */
int engine_ablate(Engine *eng, const char *text, int how, AblateResult *out, LwError *e);
void engine_ablate_free(AblateResult *r);

/* What one head does to a prediction: the next-token distribution at the last position of a text, of the whole
 * model and with head (layer, head) knocked out (as engine_ablate knocks heads out), side by side. */
typedef struct AblateNext {
    int layer, head;        /* the head knocked out (-1, -1: none, both columns the whole model) */
    int how;                /* ABLATE_ZERO or ABLATE_MEAN */
    int T;                  /* tokens of the text (cut to the model's context) */
    int last_id;            /* its last token: the candidates are what follows it */
    LensCell whole;         /* the whole model's top candidates (n, ids, probs; p_next and rank_next 0) */
    LensCell knocked;       /* the same with the head knocked out */
    float whole_in_knocked[LENS_TOPK]; /* the knocked-out model's probability of each of whole's candidates */
    float knocked_in_whole[LENS_TOPK]; /* the whole model's probability of each of knocked's candidates */
    float kl;               /* KL(whole || knocked) over the vocabulary, in nats */
} AblateNext;

/* The next-token distributions of text (NULL or "": the probe sentence, probe.text, as the probe snapshots have it;
 * at least one token) with and without head (layer, head), knocked out as how says. Errors as engine_lens;
 * LW_ERR_INVALID for a head the model does not have. Nothing to free. [driver] */
int engine_ablate_next(Engine *eng, const char *text, int layer, int head, int how, AblateNext *out, LwError *e);

/* ---- head roles ---- */

/* Per head, how much of its attention goes where a known kind of head puts it (each a mean attention weight in
 * [0, 1]; 1 = all of it):
 *   prev       from each position to the one before it (a previous-token head)
 *   first      from each position to the first token (an attention sink: a head with nothing to do rests there)
 *   induction  on a random sequence repeated once, from each position of the second copy to the token after the
 *              same token's place in the first copy (an induction head: "find where I was, copy what came next") */
typedef struct HeadRoles {
    int L, NH;
    int n_seqs, seq_len;    /* the repeated random sequences scored: seq_len tokens, then the same again */
    float *prev, *first, *induction; /* (L, NH) each */
} HeadRoles;

#define HEAD_ROLE_STRONG 0.4f /* a score above this names the role (the tables and the Attention screen mark it) */

/* The three scores of every head from causal attention maps att (L, NH, T, T), rows = queries, of a sequence whose
 * second half repeats its first: tokens rep..2*rep-1 equal 0..rep-1 (rep = 0: no repeat, induction left 0).
 * Adds into the (L, NH) arrays (so callers can average several sequences). */
void head_role_scores(const float *att, int L, int NH, int T, int rep, float *prev, float *first, float *induction);

/* Head roles of the current model on n_seqs (<= 8) seeded random sequences of seq_len tokens (cut so that twice it
 * fits the context) repeated once, the tokens drawn from the ordinary vocabulary. Errors as engine_lens. Free with
 * engine_head_roles_free. [driver] */
int engine_head_roles(Engine *eng, int n_seqs, int seq_len, uint64_t seed, HeadRoles *out, LwError *e);
void engine_head_roles_free(HeadRoles *r);

/* ---- is training healthy? ---- */

#define HEALTH_MAX_GROUPS 50 /* embeddings, up to 48 blocks (GPT-2 XL), the final norm and heads */
#define HEALTH_RATIO_GUIDE (-3.0f)   /* log10 update/weight: the usual guideline (updates about 1e-3 of the weights) */
#define HEALTH_RATIO_HIGH (-1.0f)    /* above: a step moves the weights by more than 10%: a warning */
#define HEALTH_RATIO_LOW (-6.0f)     /* below: the group has all but stopped learning: a warning */

/* Per group of tensors at one step (recorded every probe.snapshot_every steps, before that step's update). */
typedef struct HealthPoint {
    long step;              /* the step the update belongs to (1-based, as MetricPoint.step) */
    int n_groups;           /* n_layer + 2: the embeddings, each block, the final norm and heads */
    float grad_norm[HEALTH_MAX_GROUPS];    /* L2 norm of the (clipped) gradient */
    float weight_norm[HEALTH_MAX_GROUPS];  /* L2 norm of the weights */
    float update_ratio[HEALTH_MAX_GROUPS]; /* log10(|AdamW change| / |weights|); -INFINITY for a group with no
                                            * trainable weights */
} HealthPoint;

/* The health history so far. [any thread] */
int engine_n_health(Engine *eng);
int engine_get_health(Engine *eng, int from, HealthPoint *out, int max);
/* A group's label: "embed", "block 1" ... "block L", "head". */
void engine_health_group_name(int group, int n_groups, char *buf, size_t n);
/* Whether the model's architecture records training health (engine_get_health): GPT does, BERT and the
 * encoder-decoder do not (yet). [any thread] */
int engine_has_health(const Engine *eng);

/* Saturated attention per layer from attention maps att (L, NH, T, T), rows = queries: the share of query rows
 * (over the heads) whose largest weight is at least thresh, i.e. softmaxes all but one-hot (their gradient all but
 * gone). Rows that can see one key only (the first query of a causal map) are not counted: they are one-hot by
 * construction. Writes out (L); a layer with no row to count gets 0. */
#define HEALTH_ATT_SATURATED 0.95f
void attention_saturation(const float *att, int L, int NH, int T, int causal, float thresh, float *out);

/* ---- where tokens live: a 2-D map of the token embeddings ---- */

/* The first two principal components of the rows of x (n, d): the mean row is subtracted, then the top two
 * eigenvectors of the covariance are found by power iteration from a fixed start (deterministic), each with the
 * sign that makes its largest-magnitude entry positive. Writes axes (2, d) (unit vectors), xy (n, 2) (each row's
 * coordinates along them), var (2) (the variance along each) and returns the total variance (the trace). */
double pca2(const float *x, int n, int d, float *axes, float *xy, float *var);

/* The token embedding matrix of the current model projected on its first two principal components. */
#define EMBED_NN 8
typedef struct EmbedMap {
    int n;                  /* tokens: the whole vocabulary, by id */
    float *xy;              /* (n, 2) */
    float var[2];           /* variance along each axis */
    float total_var;        /* of all d dimensions: var / total_var is the share the picture shows */
    /* engine_embed_map_near: one token's nearest tokens (engine_nearest_tokens); query -1 and n_nn 0 otherwise */
    int query, n_nn;
    int nn_ids[EMBED_NN];
    float nn_sim[EMBED_NN];
} EmbedMap;
int engine_embed_map(Engine *eng, EmbedMap *out, LwError *e);
/* engine_embed_map, and the EMBED_NN nearest tokens of token query (0 <= query < n; else none) in the same map. */
int engine_embed_map_near(Engine *eng, int query, EmbedMap *out, LwError *e);
void engine_embed_map_free(EmbedMap *m);

/* The rows of x (n, d) most similar to row q by cosine similarity, most similar first (ties: the lower index), q
 * itself left out, rows of norm 0 similar 0 to every row: their indices in ids and similarities in sims (at most
 * max); returns how many (min(max, n - 1)). */
int nearest_rows(const float *x, int n, int d, int q, int *ids, float *sims, int max);
/* The tokens whose embedding rows (the token embedding matrix, the map's rows) are nearest token id's (nearest_rows):
 * returns how many, or -1 (e says why) for an id outside the vocabulary. [driver] */
int engine_nearest_tokens(Engine *eng, int id, int *ids, float *sims, int max, LwError *e);

#endif
