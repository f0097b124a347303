/* demo.h — the reproducible classroom demo (`llmwb demo`): a fixed-seed config, the stage texts shown in the
 * lesson panel, and the key script that plays it; plus the `llmwb export` command. */
#ifndef LLMWB_UI_DEMO_H
#define LLMWB_UI_DEMO_H

#include <stdint.h>

#include "engine.h"

/* The demo's stage titles, in order (also the headings of demo_stages_text). */
#define DEMO_N_STAGES 11
extern const char *const DEMO_STAGE_TITLES[DEMO_N_STAGES];

/* The demo's run config: a tiny model on a slice of the shipped novel, one BLAS thread (same numbers every
 * time), train.steps fixed so training stops at the same step; seed = train.seed. run_dir "" = runs/demo.
 * Returns LW_OK or an error naming the missing corpus. */
int demo_config(Config *c, uint64_t seed, const char *run_dir, LwError *e);
/* The finetuning stage: c = demo (the config demo_config made) turned into a classifier finetuned from the
 * checkpoint init_from on corpora/classify/word_order_sentences.tsv (word order decides; naive Bayes is at chance),
 * balanced, all weights trainable, DEMO_FT_STEPS steps evaluated every 25, run in run_dir; same seed, one thread.
 * Not validated here (init_from may not exist yet: the worker saves it first and validates on WC_OPEN_CONFIG).
 * Returns LW_OK or the cfg_set error. */
#define DEMO_FT_STEPS 150
#define DEMO_FT_STEPS_STR "150"
/* The sentence the demo classifies as written, then with its words shuffled (the classifier's data come from
 * other novels). */
#define DEMO_FT_SENTENCE "it is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife"
#define DEMO_FT_SHUFFLED "a truth must in a of be wife single want man universally it good possession acknowledged, that fortune is a in"
int demo_finetune_config(Config *c, const Config *demo, const char *init_from, const char *run_dir, LwError *e);
/* The encoder stage: c = demo (same novel slice, tokenizer settings, width, seed, one thread) turned into a BERT
 * (model.arch bert, pre-LN) trained from scratch with masked-language modelling for DEMO_BERT_STEPS steps in
 * run_dir; its probe is the demo's sentence between BERT's markers, so its full-square maps sit beside the GPT's
 * triangle of the same words. Returns LW_OK or the cfg_set error. */
#define DEMO_BERT_STEPS 300
#define DEMO_BERT_STEPS_STR "300"
#define DEMO_BERT_PROBE "[CLS]It is a truth universally acknowledged[SEP]"
/* The blank the encoder fills on the Chat screen (a lone _ is a [MASK]). */
#define DEMO_BERT_FILL "It is a truth universally _, that a single man"
int demo_bert_config(Config *c, const Config *demo, const char *run_dir, LwError *e);
/* The translation stage: the original Transformer (model.arch encdec, 2 + 2 post-LN layers, d_model 64) trained
 * from scratch on corpora/translate/en_fr.tsv for DEMO_TR_STEPS steps in run_dir, greedy, no dropout; the demo's
 * seed, one thread. Its probe sentence is DEMO_TR_PROBE; the Chat screen translates DEMO_TR_SENTENCE. */
#define DEMO_TR_STEPS 400
#define DEMO_TR_STEPS_STR "400"
#define DEMO_TR_PROBE "the young rabbit finds the red house"
#define DEMO_TR_SENTENCE "the young dog wants the blue key"
int demo_translate_config(Config *c, const Config *demo, const char *run_dir, LwError *e);

/* The models the demo's script reopens the engine on (`demo-open NAME`; `demo-finetune` is `demo-open finetune`),
 * one row each. The worker first pauses training, then (save_first) saves the current model to
 * <run>/pretrained, then opens config's run in <run>/<dir>, or, without config, the checkpoint <run>/<dir> for
 * inference with the demo's probe sentence. run = the demo's run directory. */
typedef struct DemoModel {
    const char *name;
    const char *dir;
    int save_first;
    int (*config)(Config *c, const Config *demo, const char *run, const char *run_dir, LwError *e);
} DemoModel;
/* The row named name, or NULL. */
const DemoModel *demo_model(const char *name);
/* Whether the demo's run directory run holds a checkpoint of one of the stages (the demo then starts over and
 * keeps the old run aside). */
int demo_run_has_checkpoint(const char *run);
/* The stages as a lesson file (lesson.h format); static text. */
const char *demo_stages_text(void);
/* The key script (docs/user-guide.md, Scripted mode, plus `stage N` and `pause`); static text. */
const char *demo_script_text(void);

/* `llmwb export --run DIR [--out DIR] [--ckpt DIR]`: loss.png/.svg from DIR/metrics.csv and, when a checkpoint
 * (DIR/latest, or --ckpt) exists, attention.png/.svg (grid) for the probe sentence. argv[0] is "export".
 * Returns the exit status (0, 1 failure, 2 usage). */
int demo_export_main(int argc, char **argv);

#endif
