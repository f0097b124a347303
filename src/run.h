/* run.h — run directories, and the rule that nothing a user made in one is lost (docs/user-guide.md, "Runs").
 * A run directory (runs/<name>) holds config.yaml, metrics.csv, samples.txt, tokenizer/, the token cache and
 * latest/, its last checkpoint. A run whose latest/ is resumable is resumed, with the config saved in that
 * checkpoint; starting it over needs an explicit fresh start, and then the old directory is first renamed aside
 * (runs/<name>.1, .2, ...). The command line and the TUI decide with run_plan before they open an engine; the
 * engine refuses to start fresh over a checkpoint (run_check_free) whoever calls it. */
#ifndef LLMWB_RUN_H
#define LLMWB_RUN_H

#include <stddef.h>
#include "config.h"
#include "util.h"

/* The run directory of cfg: override when given, else train.run_dir, else runs/<name> ("default" when unnamed). */
void run_dir_for(const Config *cfg, const char *override, char *out, size_t n);

/* The saved step of <run_dir>/latest when it is a resumable checkpoint, else -1 (none, or weights only). */
long run_checkpoint_step(const char *run_dir);

/* LW_OK when starting fresh in run_dir loses nothing: no checkpoint in <run_dir>/latest, or it is the one being
 * resumed (resume_dir, may be NULL). Otherwise LW_ERR_INVALID with a message that says how to resume or keep it. */
int run_check_free(const char *run_dir, const char *resume_dir, LwError *e);

/* The first free "<run_dir>.N" (N = 1, 2, ...) into out (size n); 0, or -1 when none is free. */
int run_aside_name(const char *run_dir, char *out, size_t n);
/* Renames run_dir to run_aside_name's name; out (size n) gets it. */
int run_set_aside(const char *run_dir, char *out, size_t n, LwError *e);

/* What the user asked for. */
typedef struct RunRequest {
    const char *config_path;    /* -c FILE, or NULL: the default config, which a resumed run ignores */
    const Config *cfg;          /* the config of config_path (or the default one) with the --set options applied */
    const char *const *sets;    /* the --set assignments, in order */
    int n_sets;
    const char *run_dir;        /* --run-dir, or NULL */
    const char *resume;         /* --resume DIR (a checkpoint, or a run directory holding latest/), or NULL */
    int fresh;                  /* --fresh: start over; an existing run is renamed aside first */
    long steps;                 /* --steps N (train.steps: the run's total), or -1 */
    int strict;                 /* an unsafe difference between -c and the run's saved config is an error (CLI);
                                 * else it is ignored and named in the note (the TUI asks before it resumes) */
} RunRequest;

typedef enum { RUN_NEW, RUN_RESUME, RUN_FRESH } RunAction;

/* What will happen. */
typedef struct RunPlan {
    RunAction action;
    Config cfg;                 /* the config to open the engine with (train.run_dir set to run_dir) */
    char run_dir[CFG_PATH_MAX];
    char resume_dir[CFG_PATH_MAX + 16]; /* RUN_RESUME: the checkpoint to resume */
    char aside[CFG_PATH_MAX + 16];      /* RUN_FRESH: where the old run went ("" when there was none) */
    long step;                  /* RUN_RESUME: the checkpoint's step */
    char note[1024];            /* one line for the user: what is resumed or kept aside, and any overrides */
} RunPlan;

/* Decides between starting, resuming and starting fresh, and prepares the directory: leftovers of interrupted
 * checkpoint saves are recovered and cleaned (ckpt_recover); with fresh, an existing run is renamed aside.
 * A resume uses the config saved in the checkpoint; only the keys that cannot invalidate it (run_key_is_safe:
 * steps, schedule, evaluation, sampling, probe, threads) may be changed, by -c, --set or --steps, and the note
 * names each change. Errors (LW_ERR_INVALID, a message naming the key or directory): --fresh with --resume, a
 * checkpoint without training state, an unsafe --set on a resume, an unsafe -c difference when strict. */
int run_plan(const RunRequest *rq, RunPlan *p, LwError *e);

/* Whether "section.key" may differ between a checkpoint's saved config and the resumed run. */
int run_key_is_safe(const char *key);

#endif
