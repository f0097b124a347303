/* config.h — the run configuration: one struct, filled from YAML by cfg_load() through one schema table
 * (config.c) that also drives defaults, range checks, `llmwb config --dump` and docs/config.md.
 * Paths inside a config are resolved relative to the directory of the YAML file that names them. */
#ifndef LLMWB_CONFIG_H
#define LLMWB_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "util.h"

#define CFG_PATH_MAX 1024
#define CFG_MAX_DATA 16
#define CFG_MAX_LABELS 32

typedef enum { TOK_BPE, TOK_GPT2, TOK_BYTES, TOK_WORDS } TokKind;
typedef enum { FT_NONE, FT_CLASSIFY, FT_INSTRUCT } FtMode;
typedef enum { FT_TRAIN_HEAD, FT_TRAIN_LAST_BLOCKS, FT_TRAIN_ALL } FtTrainable;

typedef struct ModelCfg {
    char arch[16];         /* architecture (arch.h): gpt, encdec */
    char preset[64];       /* "" or a preset name: tiny, gpt2-small, gpt2-medium, gpt2-large, gpt2-xl */
    int n_layer, n_head, d_model, context_length, vocab_size;
    float dropout;
    int qkv_bias, tie_embeddings; /* booleans */
    int attention;         /* ModelAttention: GPT's self-attention, causal (default) or bidirectional (mlm only) */
    int layer_norm;        /* ModelNorm: auto (the architecture's own: GPT pre, BERT and encdec post), post, pre */
    int old_norm;          /* ModelNorm: model.norm, the old name, read only (config.c's layer_end consumes it) */
    /* encdec (arch.h): the encoder-decoder Transformer */
    int encoder_layers, decoder_layers; /* 0 = n_layer */
    int d_ff;                  /* 0 = 4 d_model */
    int positions;             /* 0 sinusoidal (the paper), 1 learned */
    int shared_vocab;          /* boolean: one embedding for source and target */
    int beam;                  /* decoding: 1 = greedy, > 1 = beam width */
    float length_penalty;      /* beam scores are sum(log p) / len^length_penalty */
} ModelCfg;
typedef enum { ATTN_CAUSAL, ATTN_BIDIRECTIONAL } ModelAttention;
typedef enum { NORM_AUTO, NORM_POST, NORM_PRE } ModelNorm;

typedef struct TokCfg {
    TokKind kind;
    int vocab_size;            /* target vocabulary for kind=bpe (256 bytes + merges + <|endoftext|>) */
    char path[CFG_PATH_MAX];   /* kind=gpt2: directory with encoder.json+vocab.bpe (default: shipped corpora/gpt2) */
} TokCfg;

typedef struct DataCfg {
    char paths[CFG_MAX_DATA][CFG_PATH_MAX]; /* pretraining text files, or the finetuning dataset (first entry) */
    int n_paths;
    float val_fraction;
    float test_fraction;       /* finetuning splits */
    int window;                /* training sequence length in tokens; 0 = context_length (the book's max_length) */
    int stride;                /* sliding-window stride in tokens; 0 = the window */
    int max_chars;             /* 0 = use the whole text; else only the first max_chars bytes */
} DataCfg;

typedef struct TrainCfg {
    char task[16];             /* task.h: auto (= finetune.mode), lm, classify, instruct, translate */
    int batch_size, grad_accum;
    int steps;                 /* optimizer steps; 0 = derive from epochs */
    float epochs;
    float lr, min_lr;
    int warmup;                /* warmup steps */
    float weight_decay, grad_clip;
    int eval_every, eval_batches, sample_every, checkpoint_every;
    char sample_prompt[256];
    int sample_tokens;
    uint64_t seed;
    int threads;               /* 0 = all cores */
    char run_dir[CFG_PATH_MAX];/* default runs/<config name> */
} TrainCfg;

typedef struct FinetuneCfg {
    FtMode mode;
    char init_from[CFG_PATH_MAX]; /* checkpoint dir of ours or a HF GPT-2 dir; "" = from scratch */
    /* classify */
    char labels[CFG_MAX_LABELS][32];
    int n_labels;              /* 0 = take the label set from the data */
    int balance;               /* undersample to the smallest class */
    char tsv_columns[128];     /* "" = the TSV has a header; else its columns in order, e.g. "label,text", no header */
    FtTrainable trainable;
    int train_last_blocks;
    /* instruct */
    char template_name[32];    /* alpaca | phi3 */
    int mask_prompt;
    int truncate;              /* 1 = truncate over-long examples with a warning, 0 = error */
    /* LoRA */
    int lora_rank;             /* 0 = off */
    float lora_alpha;
    char lora_targets[128];    /* comma list: attn (c_attn), proj (attn.c_proj), fc (mlp.c_fc), fcproj (mlp.c_proj), head */
} FinetuneCfg;

typedef struct ProbeCfg {
    char text[512];            /* the sentence the Embed and Attention screens show */
    int snapshot_every;        /* record attention every N steps */
} ProbeCfg;

typedef struct Config {
    char name[128];            /* run name; default: config file's base name */
    char source[CFG_PATH_MAX]; /* the YAML file this came from ("" for defaults) */
    ModelCfg model;
    TokCfg tokenizer;
    DataCfg data;
    TrainCfg train;
    FinetuneCfg finetune;
    ProbeCfg probe;
} Config;

/* Fills c with the built-in defaults (the tiny model on the shipped novel; paths relative to the cwd). */
void cfg_defaults(Config *c);
/* Loads a YAML config on top of the defaults (and of any `base:` it names). On error returns nonzero and
 * e->msg is "file:line:col: key: what is wrong" (with "did you mean ...?" for unknown keys); c is then undefined. */
int cfg_load(Config *c, const char *path, LwError *e);
/* Loads YAML text (name = the file it stands for, used in messages and to resolve relative paths and `base:`)
 * exactly as cfg_load loads a file. */
int cfg_load_text(Config *c, const char *name, const char *text, size_t len, LwError *e);
/* `llmwb config --check`: loads path (NULL = the built-in defaults), applies the --set overrides and runs the
 * cross-field checks, reporting every error it finds through report (each one line, "file:line:col: key: what")
 * instead of stopping at the first: a bad key is skipped and the next one read. A YAML syntax error still ends
 * the reading of its file. Returns the number of errors (0 = the config is usable). */
typedef void (*CfgReportFn)(void *ud, const char *msg);
int cfg_check(const char *path, const char *const *sets, int n_sets, CfgReportFn report, void *ud);
/* Applies one "section.key=value" override (CLI --set); same checks and messages as the YAML path. */
int cfg_set(Config *c, const char *assignment, LwError *e);
/* Cross-field checks (d_model % n_head, files exist, ...) after all overrides. */
int cfg_validate(const Config *c, LwError *e);
/* Writes the effective config as YAML that cfg_load reads back to an equal Config. */
void cfg_dump(const Config *c, FILE *f);
/* Writes docs/config.md (the reference generated from the schema table). */
void cfg_write_docs(FILE *f);
/* Fills m with a named preset's model dims; returns 0, or nonzero if the name is unknown. */
int cfg_model_preset(const char *name, ModelCfg *m);

#endif
