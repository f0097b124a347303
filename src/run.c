/* run.c — run directories: resume or start fresh, never lose a checkpoint (see run.h). */
#include "run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"

#define RUN_PATH (CFG_PATH_MAX + 64)

/* The keys a resumed run may change: they steer the rest of the run (how long, the schedule, what is evaluated,
 * sampled and probed, threads) but cannot make the checkpoint, its tokenizer or its place in the data invalid. */
#define SAFE(k, field) {k, offsetof(Config, field), sizeof(((Config *)0)->field)}
static const struct {
    const char *key;
    size_t off, size;
} RUN_SAFE[] = {
    SAFE("train.steps", train.steps),
    SAFE("train.epochs", train.epochs),
    SAFE("train.lr", train.lr),
    SAFE("train.min_lr", train.min_lr),
    SAFE("train.warmup", train.warmup),
    SAFE("train.weight_decay", train.weight_decay),
    SAFE("train.grad_clip", train.grad_clip),
    SAFE("train.eval_every", train.eval_every),
    SAFE("train.eval_batches", train.eval_batches),
    SAFE("train.sample_every", train.sample_every),
    SAFE("train.sample_prompt", train.sample_prompt),
    SAFE("train.sample_tokens", train.sample_tokens),
    SAFE("train.checkpoint_every", train.checkpoint_every),
    SAFE("train.threads", train.threads),
    SAFE("probe.text", probe.text),
    SAFE("probe.snapshot_every", probe.snapshot_every),
};
#undef SAFE
/* Keys that name the run rather than describe it: the run directory decides them. */
static const char *const RUN_IGNORED[] = {"name", "train.run_dir"};

int run_key_is_safe(const char *key) {
    for (size_t i = 0; i < LW_ARRAY_LEN(RUN_SAFE); i++)
        if (!strcmp(RUN_SAFE[i].key, key)) return 1;
    return 0;
}

static int key_is_ignored(const char *key) {
    for (size_t i = 0; i < LW_ARRAY_LEN(RUN_IGNORED); i++)
        if (!strcmp(RUN_IGNORED[i], key)) return 1;
    return 0;
}

void run_dir_for(const Config *cfg, const char *override, char *out, size_t n) {
    if (override && *override) snprintf(out, n, "%s", override);
    else if (cfg->train.run_dir[0]) snprintf(out, n, "%s", cfg->train.run_dir);
    else snprintf(out, n, "runs/%s", cfg->name[0] ? cfg->name : "default");
    size_t l = strlen(out);
    while (l > 1 && out[l - 1] == '/') out[--l] = '\0';
}

long run_checkpoint_step(const char *run_dir) {
    char latest[RUN_PATH];
    lw_path_join(latest, sizeof latest, run_dir, "latest");
    if (!lw_is_dir(latest) || !ckpt_has_state(latest)) return -1;
    TrainState st;
    return ckpt_read_state(latest, &st, NULL, NULL) == LW_OK ? st.step : -1;
}

/* Copies src into dst (size n), cut to fit. */
static void set_path(char *dst, size_t n, const char *src) {
    size_t l = strlen(src);
    if (l >= n) l = n - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* Whether a and b name the same existing directory. */
static int same_dir(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int run_check_free(const char *run_dir, const char *resume_dir, LwError *e) {
    char latest[RUN_PATH];
    lw_path_join(latest, sizeof latest, run_dir, "latest");
    int rc = ckpt_recover(latest, e); /* a checkpoint only left as latest.old-* still counts */
    if (rc) return rc;
    if (!lw_is_dir(latest) || (resume_dir && same_dir(latest, resume_dir))) return LW_OK;
    long step = run_checkpoint_step(run_dir);
    char at[48] = "";
    if (step >= 0) snprintf(at, sizeof at, " (step %ld)", step);
    return lw_fail(e, LW_ERR_INVALID,
                   "%s already holds a checkpoint%s: resume it (llmwb train --resume %s), start over with --fresh "
                   "(it is kept aside as %s.N), or use another --run-dir",
                   run_dir, at, run_dir, run_dir);
}

int run_aside_name(const char *run_dir, char *out, size_t n) {
    struct stat sb;
    for (int k = 1; k < 100000; k++) {
        snprintf(out, n, "%s.%d", run_dir, k);
        if (lstat(out, &sb) != 0) return 0;
    }
    return -1;
}

int run_set_aside(const char *run_dir, char *out, size_t n, LwError *e) {
    if (run_aside_name(run_dir, out, n)) return lw_fail(e, LW_ERR_IO, "%s: no free name to keep it aside", run_dir);
    if (rename(run_dir, out) != 0) return lw_fail(e, LW_ERR_IO, "%s: cannot rename to %s: %s", run_dir, out, strerror(errno));
    char parent[RUN_PATH];
    lw_fsync_dir(lw_dirname(parent, sizeof parent, run_dir));
    return LW_OK;
}

/* Whether dir exists and holds anything. */
static int dir_has_files(const char *dir) {
    char p[RUN_PATH];
    const char *probe[] = {"latest", "metrics.csv", "config.yaml", "tokenizer", "samples.txt"};
    if (!lw_is_dir(dir)) return 0;
    for (size_t i = 0; i < LW_ARRAY_LEN(probe); i++)
        if (lw_file_exists(lw_path_join(p, sizeof p, dir, probe[i])) || lw_is_dir(p)) return 1;
    return 0;
}

static char *dump_text(const Config *c) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    LW_ASSERT(f);
    cfg_dump(c, f);
    fclose(f);
    return s;
}

/* Next line of *p into line (without the newline); 0 at the end. */
static int next_line(const char **p, char *line, size_t n) {
    if (!**p) return 0;
    const char *nl = strchr(*p, '\n');
    size_t len = nl ? (size_t)(nl - *p) : strlen(*p);
    snprintf(line, n, "%.*s", (int)(len < n ? len : n - 1), *p);
    *p += len + (nl != NULL);
    return 1;
}

/* Appends "key value" to a ", "-separated list. */
static void note_add(char *note, size_t n, const char *key, const char *value) {
    size_t l = strlen(note);
    if (l + 8 < n) snprintf(note + l, n - l, "%s%s %s", l ? ", " : "", key, value);
}

/* out = the config saved in checkpoint ckpt, with the safe keys the user gave (-c, --set, --steps). An unsafe
 * change is an error (--set; -c when strict) or noted as ignored. changed/ignored: "key value, ..." lists. */
static int resume_config(const RunRequest *rq, const char *ckpt, Config *out, char *changed, char *ignored,
                         size_t n, LwError *e) {
    changed[0] = ignored[0] = '\0';
    char *yaml = NULL, key[160];
    TrainState st;
    int rc = ckpt_read_state(ckpt, &st, &yaml, e);
    if (rc) return rc;
    if (!yaml) {
        *out = *rq->cfg; /* a checkpoint written before configs were saved with it */
        lw_log(LW_LOG_WARN, "%s: no config saved with the checkpoint: using %s", ckpt,
               rq->config_path ? rq->config_path : "the default config");
        return LW_OK;
    }
    char name[RUN_PATH];
    snprintf(name, sizeof name, "%s/trainer_state.json (config_yaml)", ckpt);
    rc = cfg_load_text(out, name, yaml, strlen(yaml), e);
    free(yaml);
    if (rc) return rc;
    if (rq->config_path) {
        /* cfg_dump writes every key in one order: the two dumps differ line by line where the configs differ */
        Config *given = lw_malloc(sizeof *given);
        *given = *rq->cfg;
        if (rq->steps >= 0) given->train.steps = (int)rq->steps;
        char *a = dump_text(out), *b = dump_text(given);
        const char *pa = a, *pb = b;
        char la[2048], lb[2048], section[64] = "";
        while (!rc && next_line(&pa, la, sizeof la) && next_line(&pb, lb, sizeof lb)) {
            if (la[0] == '#') continue;
            const char *colon = strchr(la, ':');
            if (!colon) continue;
            if (la[0] != ' ' && !colon[1]) { /* "section:" */
                snprintf(section, sizeof section, "%.*s", (int)(colon - la), la);
                continue;
            }
            const char *k = la + strspn(la, " ");
            snprintf(key, sizeof key, "%s%s%.*s", la[0] == ' ' ? section : "", la[0] == ' ' ? "." : "",
                     (int)(colon - k), k);
            if (!strcmp(la, lb) || key_is_ignored(key)) continue;
            const char *va = colon + 2, *vb = strchr(lb, ':') ? strchr(lb, ':') + 2 : "";
            if (run_key_is_safe(key)) {
                note_add(changed, n, key, vb);
            } else if (rq->strict) {
                rc = lw_fail(e, LW_ERR_INVALID,
                             "%s: %s is %s but the run's checkpoint %s was made with %s: a resume keeps the run's own "
                             "config (drop -c, or start a new run with --fresh or --run-dir)",
                             rq->config_path, key, vb, ckpt, va);
            } else {
                note_add(ignored, n, key, vb);
            }
        }
        free(a);
        free(b);
        for (size_t i = 0; i < LW_ARRAY_LEN(RUN_SAFE) && !rc; i++)
            memcpy((char *)out + RUN_SAFE[i].off, (const char *)given + RUN_SAFE[i].off, RUN_SAFE[i].size);
        free(given);
        if (rc) return rc;
    } else {
        for (int i = 0; i < rq->n_sets; i++) {
            const char *s = rq->sets[i], *eq = strchr(s, '=');
            snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
            if (key_is_ignored(key)) continue;
            if (!run_key_is_safe(key))
                return lw_fail(e, LW_ERR_INVALID,
                               "--set %s: %s cannot change when resuming %s (the checkpoint depends on it); start a "
                               "new run with --fresh or --run-dir to change it",
                               s, key, ckpt);
            if ((rc = cfg_set(out, s, e))) return rc;
            note_add(changed, n, key, eq ? eq + 1 : "");
        }
    }
    if (rq->steps >= 0 && out->train.steps != rq->steps) {
        char v[32];
        snprintf(v, sizeof v, "%ld", rq->steps);
        out->train.steps = (int)rq->steps;
        if (!strstr(changed, "train.steps")) note_add(changed, n, "train.steps", v);
    }
    return LW_OK;
}

/* The checkpoint and run directory a --resume argument names: a checkpoint (its parent is the run), or a run
 * directory (its latest/). */
static void locate(const char *arg, char *ckpt, size_t n, char *run, size_t rn) {
    char p[RUN_PATH];
    size_t l = strlen(arg);
    while (l > 1 && arg[l - 1] == '/') l--;
    char a[RUN_PATH];
    snprintf(a, sizeof a, "%.*s", (int)l, arg);
    if (lw_is_dir(a) && !lw_file_exists(lw_path_join(p, sizeof p, a, "config.json"))) {
        set_path(run, rn, a);
        lw_path_join(ckpt, n, a, "latest");
    } else {
        set_path(ckpt, n, a);
        lw_dirname(run, rn, a);
    }
}

int run_plan(const RunRequest *rq, RunPlan *p, LwError *e) {
    memset(p, 0, sizeof *p);
    p->cfg = *rq->cfg;
    char changed[512], ignored[512], latest[RUN_PATH];
    int rc;
    if (rq->resume) {
        if (rq->fresh)
            return lw_fail(e, LW_ERR_INVALID, "--fresh starts a new run and --resume continues one: give one of them");
        locate(rq->resume, p->resume_dir, sizeof p->resume_dir, p->run_dir, sizeof p->run_dir);
        if (rq->run_dir) run_dir_for(rq->cfg, rq->run_dir, p->run_dir, sizeof p->run_dir);
        if ((rc = ckpt_recover(p->resume_dir, e))) return rc;
        if (!lw_is_dir(p->resume_dir)) return lw_fail(e, LW_ERR_IO, "%s: no such checkpoint directory", p->resume_dir);
    } else {
        run_dir_for(rq->cfg, rq->run_dir, p->run_dir, sizeof p->run_dir);
        lw_path_join(latest, sizeof latest, p->run_dir, "latest");
        if ((rc = ckpt_recover(latest, e))) return rc;
        if (rq->fresh) {
            p->action = RUN_NEW;
            if (dir_has_files(p->run_dir)) {
                if ((rc = run_set_aside(p->run_dir, p->aside, sizeof p->aside, e))) return rc;
                p->action = RUN_FRESH;
                snprintf(p->note, sizeof p->note, "kept the previous run as %.480s; starting fresh in %.480s",
                         p->aside, p->run_dir);
            }
            if (rq->steps >= 0) p->cfg.train.steps = (int)rq->steps;
            snprintf(p->cfg.train.run_dir, sizeof p->cfg.train.run_dir, "%s", p->run_dir);
            return LW_OK;
        }
        if (!lw_is_dir(latest)) {
            p->action = RUN_NEW;
            if (rq->steps >= 0) p->cfg.train.steps = (int)rq->steps;
            snprintf(p->cfg.train.run_dir, sizeof p->cfg.train.run_dir, "%s", p->run_dir);
            return LW_OK;
        }
        if (!ckpt_has_state(latest))
            return lw_fail(e, LW_ERR_INVALID,
                           "%s holds weights without training state to resume: --fresh keeps it aside (%s.1) and "
                           "starts over, --run-dir DIR starts elsewhere",
                           latest, p->run_dir);
        set_path(p->resume_dir, sizeof p->resume_dir, latest);
    }
    TrainState st;
    if ((rc = ckpt_read_state(p->resume_dir, &st, NULL, e))) return rc;
    if ((rc = resume_config(rq, p->resume_dir, &p->cfg, changed, ignored, sizeof changed, e))) return rc;
    snprintf(p->cfg.train.run_dir, sizeof p->cfg.train.run_dir, "%s", p->run_dir);
    if ((rc = run_check_free(p->run_dir, p->resume_dir, e))) return rc;
    p->action = RUN_RESUME;
    p->step = st.step;
    size_t k = (size_t)snprintf(p->note, sizeof p->note, "resuming %s at step %ld with its saved config", p->resume_dir,
                                st.step);
    if (!rq->resume && rq->strict && k < sizeof p->note)
        k += (size_t)snprintf(p->note + k, sizeof p->note - k, " (--fresh starts over and keeps it aside)");
    if (changed[0] && k < sizeof p->note) k += (size_t)snprintf(p->note + k, sizeof p->note - k, "; changed: %s", changed);
    if (ignored[0] && k < sizeof p->note)
        snprintf(p->note + k, sizeof p->note - k, "; kept from the run, not from %s: %s", rq->config_path, ignored);
    return LW_OK;
}
