/* checkpoint.h — checkpoints are directories that Hugging Face transformers loads as GPT2LMHeadModel:
 *   config.json              GPT2Config keys (+ our own under "llmwb")
 *   model.safetensors        HF GPT-2 tensor names and Conv1D layouts, F32
 *   vocab.json, merges.txt   the tokenizer (tok_save_dir), when one is given
 *   optimizer.safetensors    AdamW moments "adam_m.<name>", "adam_v.<name>"      (training state only)
 *   trainer_state.json       step, tokens, RNG, loader position, best val loss, the run's YAML (training state only)
 * Saving writes everything into "<dir>.tmp-<pid>" (trainer_state.json last), fsyncs each file and the directory,
 * then swaps it with <dir> in one renameat2(RENAME_EXCHANGE) and removes the old one: <dir> always names a
 * complete checkpoint. Where the filesystem cannot exchange, the old <dir> is renamed to "<dir>.old-<pid>" and the
 * new one renamed in; a crash between the two leaves no <dir>, and the loader then takes the leftover with the
 * highest saved step (ckpt_recover puts it back). See docs/formats.md, "Atomic replacement".
 * The same loader imports OpenAI GPT-2 weights from a HF download (see docs/formats.md). */
#ifndef LLMWB_CHECKPOINT_H
#define LLMWB_CHECKPOINT_H

#include <stdint.h>
#include "config.h"
#include "data.h"
#include "model.h"
#include "rng.h"
#include "util.h"

typedef struct Tokenizer Tokenizer; /* bpe.h */

/* What a resumed run needs besides the weights and moments. */
typedef struct TrainState {
    long step;              /* optimizer steps done */
    long tokens_seen;
    Rng rng;                /* the engine's RNG (dropout, sampling) */
    LoaderState loader;     /* the training loader's position */
    float best_val_loss;    /* INFINITY when no evaluation has happened */
    float last_val_loss;    /* NAN when none */
    double elapsed;         /* seconds of training so far */
} TrainState;

/* Writes a checkpoint of m to dir (replacing it atomically). tok may be NULL (no tokenizer files). st may be NULL:
 * weights only (no optimizer.safetensors / trainer_state.json). config_yaml (the run's effective config) may be
 * NULL; it is stored in trainer_state.json when st is given. When m->cfg.qkv_bias is 0, zero
 * "h.N.attn.c_attn.bias" tensors are written so HF loads the file; lm_head.weight only when untied. */
int ckpt_save(const char *dir, const Gpt *m, const Tokenizer *tok, const TrainState *st, const char *config_yaml,
              LwError *e);

/* Finetuned models. A class head ("score.weight" (n_classes, C), "score.bias") is saved in model.safetensors and
 * config.json gets "llmwb": {"n_classes": N}. With LoRA on, model.safetensors holds the base weights unmerged and
 * the adapters go to adapter_model.safetensors (our tensor names "h.N.attn.c_attn.lora_A" (in, r), "...lora_B"
 * (r, out); "score.lora_A"/"lm_head.lora_A" for the head) with adapter_config.json (PEFT keys r, lora_alpha,
 * target_modules, plus "llmwb_targets": "attn,proj,..."). optimizer.safetensors covers every tensor incl. adapters.
 * ckpt_save_ex with CKPT_MERGE_LORA instead writes each adapted weight as W + (alpha/r) A B (m is not changed) and
 * no adapter files: a plain GPT-2 checkpoint for `llmwb export` (st must then be NULL). flags 0 = ckpt_save. */
#define CKPT_MERGE_LORA 1
int ckpt_save_ex(const char *dir, const Gpt *m, const Tokenizer *tok, const TrainState *st, const char *config_yaml,
                 int flags, LwError *e);

/* After a crash: when dir is missing, renames the complete leftover of an interrupted save ("<dir>.tmp-<pid>"
 * with trainer_state.json, or "<dir>.old-<pid>") with the highest saved step to dir; then removes every
 * "<dir>.tmp-*" / "<dir>.old-*" whose process is dead (a live pid is another save in progress: kept). Logs what
 * it did. LW_OK also when there is nothing to do. */
int ckpt_recover(const char *dir, LwError *e);

/* The atomic directory write behind every checkpoint: fill(tmp, ud, e) writes the files into a fresh temporary
 * directory next to dir, which is fsynced and swapped into place (the old one moved aside, then removed). Other
 * architectures' checkpoints (arch.h) use it with their own files. */
int ckpt_write_dir(const char *dir, int (*fill)(const char *tmp, void *ud, LwError *e), void *ud, LwError *e);
/* trainer_state.json of dir: written from st and the run's YAML; read back into st (and *config_yaml when not NULL,
 * malloc'd or NULL). */
int ckpt_write_state(const char *dir, const TrainState *st, const char *config_yaml, LwError *e);
/* Reads dir/config.json into out (n_layer, n_head, n_embd, n_positions, vocab_size, dropout = resid_pdrop,
 * qkv_bias from llmwb.qkv_bias or 1 for a plain HF GPT-2, tie_embeddings from tie_word_embeddings, default 1).
 * Errors name the file and key (missing key, wrong type, bad JSON with its offset). */
int ckpt_read_config(const char *dir, GptConfig *out, LwError *e);

/* Reads only trainer_state.json of dir (and the run's YAML stored in it, malloc'd, NULL if none): what a resume
 * needs to know before it builds the model. LW_ERR_INVALID when dir has no training state. */
int ckpt_read_state(const char *dir, TrainState *st, char **config_yaml, LwError *e);

/* Whether dir holds trainer_state.json (a resumable checkpoint). */
int ckpt_has_state(const char *dir);

/* Loads the weights of dir into m.
 * m: either zero-initialised (m->params == NULL), and then gpt_init'ed here with dir's config (caller gpt_free's
 * it even on failure), or already initialised by the caller, and then each tensor's shape must match (error names
 * the tensor, expected and found shape; one exception: a model with a shorter context_length than the file's
 * n_positions takes the first rows of wpe.weight, so GPT-2 can be finetuned at T=256). Tensor names may carry a "transformer." prefix (HF GPT2LMHeadModel
 * files); "attn.bias"/"attn.masked_bias" buffers are ignored; F16/BF16 are converted. A tied model accepts a
 * missing lm_head.weight or one equal to wte.weight; an untied model given no lm_head.weight copies wte into it
 * (as the book does). c_attn.bias is ignored (must be all zero, else an error) when m has no qkv_bias.
 * tok (may be NULL): *tok = tokenizer from dir's vocab.json+merges.txt / encoder.json+vocab.bpe, or NULL when
 * the directory has none (not an error).
 * st (may be NULL): filled from trainer_state.json, and the AdamW moments from optimizer.safetensors; both
 * files must then exist (LW_ERR_INVALID "not a resumable checkpoint" otherwise).
 * config_yaml (may be NULL): *config_yaml = malloc'd YAML stored in trainer_state.json, or NULL if none.
 * Finetuned checkpoints: a zero-initialised m gets the class head (config.json llmwb.n_classes) and the LoRA
 * adapters (adapter_config.json + adapter_model.safetensors) the directory holds. An initialised m must have the
 * same n_classes when the file has a head (a model with a head loading a plain LM keeps its fresh head: init_from),
 * and LoRA on with the same rank, alpha and targets when the directory has adapters (a model with LoRA loading a
 * directory without adapters keeps its fresh ones); adapter files into a model without LoRA are an error.
 * On failure the parameters of m may be partly overwritten: reload or free it. */
int ckpt_load(const char *dir, Gpt *m, Tokenizer **tok, TrainState *st, char **config_yaml, LwError *e);
/* ckpt_load with flags. Every load checks, before allocating, that the sizes of config.json (bounded as in
 * docs/config.md) match the tensors of model.safetensors, and after reading, that every value of the weights
 * (and, with st, of the AdamW moments) is finite: the first NaN/Inf is an LW_ERR_INVALID naming the file and the
 * tensor. CKPT_ALLOW_NONFINITE skips that check (the CLI's --allow-nonfinite). With st, a missing
 * optimizer.safetensors is LW_ERR_INVALID ("not a resumable checkpoint"). */
#define CKPT_ALLOW_NONFINITE 1
int ckpt_load_ex(const char *dir, Gpt *m, Tokenizer **tok, TrainState *st, char **config_yaml, int flags,
                 LwError *e);

/* Any architecture's checkpoint (arch_bert.c): the tensors of a table (GptTensor names, shapes and offsets) in
 * params (and the AdamW moments adam_m/adam_v, same offsets). ckpt_save_table writes config_json (the
 * architecture's config.json text) and model.safetensors (table names, F32), with st also optimizer.safetensors and
 * trainer_state.json (+ config_yaml), with tok vocab.json/merges.txt; atomically as ckpt_save. ckpt_load_table
 * reads every table tensor from dir (shapes must match; file tensors the table lacks are ignored, e.g. HF's tied
 * cls.predictions.decoder.*), the moments and st when st is given, *tok when the directory has vocab.json. */
typedef struct CkptTable {
    const GptTensor *tensors;
    int n_tensors;
    float *params, *adam_m, *adam_v;
} CkptTable;
int ckpt_save_table(const char *dir, const char *config_json, const CkptTable *tb, const Tokenizer *tok,
                    const TrainState *st, const char *config_yaml, LwError *e);
/* LW_ERR_INVALID naming file, tensor and index when a tensor of ts (offsets into base) holds NaN or Inf; which:
 * 0 weights (model.safetensors), 1 adam_m, 2 adam_v (optimizer.safetensors). */
int ckpt_check_finite(const char *dir, const GptTensor *ts, int n, const float *base, int which, LwError *e);
/* flags: 0 or CKPT_ALLOW_NONFINITE (else NaN/Inf in the weights or moments is refused, naming the tensor). */
int ckpt_load_table(const char *dir, const CkptTable *tb, Tokenizer **tok, TrainState *st, int flags, LwError *e);
/* Parses path as a JSON object into *root (a cJSON *, freed with cJSON_Delete); errors name the file and offset. */
int ckpt_read_json(const char *path, void **root, LwError *e);

/* What a finetuned checkpoint is for, so inference applies the same template or reads out the same labels.
 * Stored as <dir>/llmwb-finetune.json: {"mode": "instruct", "template": "alpaca"} or
 * {"mode": "classify", "labels": ["neg", "pos"]}; tasks that are no finetune.mode add "task": {"mode": "none",
 * "task": "translate"}. */
typedef struct CkptFinetune {
    int mode;                        /* FtMode (config.h): FT_NONE when the file is absent */
    char task[16];                   /* train.task of a task that is no finetune.mode ("translate"), else "" */
    char template_name[32];
    int n_labels;
    char labels[CFG_MAX_LABELS][32];
} CkptFinetune;
/* Writes the file atomically into an existing checkpoint dir. */
int ckpt_write_finetune(const char *dir, const CkptFinetune *ft, LwError *e);
/* Reads it; an absent file gives mode FT_NONE and LW_OK; a malformed one an error naming the file. */
int ckpt_read_finetune(const char *dir, CkptFinetune *ft, LwError *e);

#endif
