/* watch.c — an engine on a run directory that another process writes (engine_open_watch, llmwb tui --watch):
 * its checkpoint for chat and token texts, and the growing files of runlog.h replayed into the published state
 * (metrics, events, probe snapshots) that the screens read as they read a training engine's. Read-only: nothing
 * here opens a file of the run for writing. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_impl.h"

#define WATCH_PROBE_LIST (4 * RUNLOG_PROBES_MAX)

struct EngineWatch {
    RunLogCursor metrics_cur, events_cur, samples_cur;
    MetricPoint *rows;          /* metrics.csv as read so far (published into g->metrics) */
    int n_rows, cap_rows;
    long last_probe;            /* the newest snapshot step loaded (-1 = none) */
    int replaced_ckpt_probe;    /* the checkpoint's own probe gave way to the run's snapshot files */
    int have_events;            /* events.log exists (else samples.txt gives the samples of an older run) */
    int started, ended;         /* a start line seen; an end line after the last start line */
    long pid;
    char host[128], end_text[256], error[256];
    long ckpt_step, disk_ckpt_step;
    long total_steps;
};

void engine_watch_free(struct EngineWatch *w) {
    if (!w) return;
    free(w->rows);
    free(w);
}

/* A file could not be read: said once as a warning event, kept in WatchStatus.error. */
static void watch_error(Engine *g, const char *msg) {
    struct EngineWatch *w = g->watch;
    if (!strcmp(w->error, msg)) return;
    pthread_mutex_lock(&g->mu);
    snprintf(w->error, sizeof w->error, "%s", msg);
    pthread_mutex_unlock(&g->mu);
    engine_push_event(g, g->step, EV_WARNING, msg);
}

/* The run's own tokenizer when latest/ has no checkpoint yet: its cached BPE vocabulary, the configured GPT-2
 * one, or raw bytes (then a BPE run's neighbour tokens show as bytes until the first checkpoint). */
static Tokenizer *watch_tokenizer(const Engine *g) {
    char dir[CFG_PATH_MAX + 32];
    Tokenizer *t = NULL;
    snprintf(dir, sizeof dir, "%s/tokenizer", g->run_dir);
    if (lw_is_dir(dir) && tok_load_dir(&t, dir, NULL) == LW_OK) return t;
    if (g->cfg.tokenizer.kind == TOK_GPT2 && g->cfg.tokenizer.path[0] && tok_load_dir(&t, g->cfg.tokenizer.path, NULL) == LW_OK)
        return t;
    return tok_new_bytes();
}

/* An engine with the run's config and tokenizer but no model: the curves and snapshots can be shown before the
 * trainer saves its first checkpoint. */
static Engine *open_modelless(const Config *cfg, const char *run_dir, const EngineOpenOpts *o) {
    Engine *g = lw_calloc(1, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    g->cfg = *cfg;
    g->abort_flag = o ? o->abort_flag : NULL;
    g->val_loss = g->train_loss = NAN;
    snprintf(g->run_dir, sizeof g->run_dir, "%s", run_dir);
    g->arch = arch_find(cfg->model.arch[0] ? cfg->model.arch : "gpt");
    if (!g->arch) g->arch = arch_find("gpt");
    g->tok = watch_tokenizer(g);
    g->inference_only = 1;
    engine_push_event(g, 0, EV_INFO, "no checkpoint in latest/ yet: curves and snapshots from the run's files");
    return g;
}

int engine_open_watch(Engine **out, const char *run_dir, const EngineOpenOpts *opts, LwError *e) {
    *out = NULL;
    char path[CFG_PATH_MAX + 64], dir[CFG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", run_dir);
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') dir[--l] = '\0';
    if (!lw_is_dir(dir)) return lw_fail(e, LW_ERR_IO, "%s: no such run directory", dir);
    const char *marks[] = {"metrics.csv", "events.log", "config.yaml", "latest"};
    int found = 0;
    for (size_t i = 0; i < LW_ARRAY_LEN(marks) && !found; i++)
        found = lw_file_exists(lw_path_join(path, sizeof path, dir, marks[i])) || lw_is_dir(path);
    if (!found)
        return lw_fail(e, LW_ERR_INVALID, "%s: not a run directory (no metrics.csv, events.log, config.yaml or latest/)", dir);
    Config *cfg = lw_malloc(sizeof *cfg);
    cfg_defaults(cfg);
    LwError ce;
    if (lw_file_exists(lw_path_join(path, sizeof path, dir, "config.yaml")) && cfg_load(cfg, path, &ce)) {
        lw_log(LW_LOG_WARN, "%s (the built-in defaults name the model's shape)", ce.msg);
        cfg_defaults(cfg);
    }
    snprintf(cfg->train.run_dir, sizeof cfg->train.run_dir, "%s", dir);
    /* the checkpoint, unless the trainer replaced it while it was read (then again) */
    Engine *g = NULL;
    long step = -1;
    char latest[CFG_PATH_MAX + 16];
    lw_path_join(latest, sizeof latest, dir, "latest");
    LwError le = {0};
    for (int attempt = 0; attempt < 3 && !g; attempt++) {
        step = run_checkpoint_step(dir);
        if (step < 0 && !lw_file_exists(lw_path_join(path, sizeof path, latest, "config.json"))) break;
        EngineOpenOpts o = {.ckpt_dir = latest, .run_dir = dir, .abort_flag = opts ? opts->abort_flag : NULL};
        int rc = engine_open(&g, cfg, &o, &le);
        if (rc == LW_OK && run_checkpoint_step(dir) != step) {
            engine_close(g);
            g = NULL;
        } else if (rc) {
            g = NULL;
            if (run_checkpoint_step(dir) == step) break; /* not a race: a checkpoint that does not load */
        }
    }
    if (!g) {
        g = open_modelless(cfg, dir, opts);
        if (le.msg[0]) engine_push_event(g, 0, EV_WARNING, le.msg);
        step = -1;
    }
    free(cfg);
    struct EngineWatch *w = lw_calloc(1, sizeof *w);
    w->last_probe = -1;
    w->ckpt_step = w->disk_ckpt_step = step;
    w->total_steps = g->cfg.train.steps;
    g->watch = w;
    g->state = ENGINE_READY;
    g->total_steps = w->total_steps;
    engine_watch_poll(g);
    *out = g;
    return LW_OK;
}

/* The metrics rows read so far become the published ones; the latest row is the run's state. */
static void publish_rows(Engine *g) {
    struct EngineWatch *w = g->watch;
    pthread_mutex_lock(&g->mu);
    if (g->cap_metrics < w->n_rows) {
        g->cap_metrics = w->cap_rows;
        g->metrics = lw_realloc(g->metrics, (size_t)g->cap_metrics * sizeof *g->metrics);
    }
    memcpy(g->metrics, w->rows, (size_t)w->n_rows * sizeof *w->rows);
    g->n_metrics = w->n_rows;
    if (w->n_rows > 0) {
        const MetricPoint *p = &w->rows[w->n_rows - 1];
        g->step = g->last_ckpt_step = p->step;
        g->tokens_seen = p->tokens;
        g->train_loss = p->train_loss;
        g->lr = p->lr;
        g->grad_norm = p->grad_norm;
        g->tps = p->tokens_per_sec;
        g->train_time = p->elapsed;
        for (int i = w->n_rows - 1; i >= 0; i--)
            if (isfinite(w->rows[i].val_loss)) {
                g->val_loss = w->rows[i].val_loss;
                break;
            }
    }
    g->seq++;
    pthread_mutex_unlock(&g->mu);
}

/* A start line: "pid P host H steps FROM TOTAL". */
static void note_start(Engine *g, const char *text) {
    struct EngineWatch *w = g->watch;
    long pid = 0, from = 0, total = 0;
    char host[128] = "";
    int ok = sscanf(text, "pid %ld host %127s steps %ld %ld", &pid, host, &from, &total) == 4;
    pthread_mutex_lock(&g->mu);
    if (ok) {
        w->pid = pid;
        snprintf(w->host, sizeof w->host, "%s", host);
        if (total > 0) w->total_steps = total;
    }
    w->started = 1;
    w->ended = 0;
    w->end_text[0] = '\0';
    pthread_mutex_unlock(&g->mu);
}

/* The run ended, as text says. */
static void note_end(Engine *g, const char *text) {
    pthread_mutex_lock(&g->mu);
    g->watch->ended = 1;
    snprintf(g->watch->end_text, sizeof g->watch->end_text, "%.*s", (int)sizeof g->watch->end_text - 1, text);
    pthread_mutex_unlock(&g->mu);
}

static int poll_events(Engine *g) {
    struct EngineWatch *w = g->watch;
    char path[CFG_PATH_MAX + 32];
    lw_path_join(path, sizeof path, g->run_dir, "events.log");
    w->have_events = w->have_events || lw_file_exists(path);
    RunLogCursor *cur = w->have_events ? &w->events_cur : &w->samples_cur;
    if (!w->have_events) lw_path_join(path, sizeof path, g->run_dir, "samples.txt");
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) < cur->offset) { /* started over (--fresh): read it again */
        cur->offset = 0, cur->line = 0;
        w->last_probe = -1, w->replaced_ckpt_probe = 0; /* and the new run's snapshots replace the old ones */
    }
    if (fseek(f, cur->offset, SEEK_SET)) {
        fclose(f);
        return 0;
    }
    int changed = 0;
    char line[SNAP_EVENT_TEXT + 64];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            if (n == sizeof line - 1) { /* longer than an event: its start is shown, the rest skipped */
                cur->offset += (long)n;
                continue;
            }
            break; /* being written: next time */
        }
        cur->offset += (long)n;
        cur->line++;
        line[--n] = '\0';
        long step;
        int kind;
        char text[SNAP_EVENT_TEXT];
        if (!w->have_events) { /* samples.txt: "step N: text" */
            int at = 0;
            if (sscanf(line, "step %ld: %n", &step, &at) < 1 || !at) continue;
            engine_push_event(g, step, EV_SAMPLE, line + at);
            changed = 1;
            continue;
        }
        if (runlog_parse_event(line, n, &step, &kind, text, sizeof text)) {
            char msg[CFG_PATH_MAX + 96];
            snprintf(msg, sizeof msg, "%s:%d: not an event line (STEP<TAB>KIND<TAB>TEXT): skipped", path, cur->line);
            watch_error(g, msg);
            continue;
        }
        changed = 1;
        if (kind == RUNLOG_START) {
            note_start(g, text);
            char t[SNAP_EVENT_TEXT + 32];
            snprintf(t, sizeof t, "trainer started: %s", text);
            engine_push_event(g, step, EV_INFO, t);
        } else if (kind == RUNLOG_END) {
            note_end(g, text);
            char t[SNAP_EVENT_TEXT + 32];
            snprintf(t, sizeof t, "run ended: %s", text);
            engine_push_event(g, step, EV_INFO, t);
        } else {
            engine_push_event(g, step, (EventKind)kind, text);
        }
    }
    fclose(f);
    return changed;
}

/* The newer snapshot files, oldest first. The checkpoint's own probe (engine_open) goes when the files come. */
static int poll_probes(Engine *g) {
    struct EngineWatch *w = g->watch;
    long *steps = lw_malloc(WATCH_PROBE_LIST * sizeof *steps);
    int n = runlog_list_probes(g->run_dir, steps, WATCH_PROBE_LIST), changed = 0;
    for (int i = 0; i < n; i++) {
        if (steps[i] <= w->last_probe) continue;
        char path[CFG_PATH_MAX + 64];
        runlog_probe_path(g->run_dir, steps[i], path, sizeof path);
        ProbeSnapshot *p;
        LwError e;
        w->last_probe = steps[i];
        if (runlog_read_probe(path, &p, &e)) {
            if (e.code != LW_ERR_IO || lw_file_exists(path)) watch_error(g, e.msg); /* (thinned away meanwhile: fine) */
            continue;
        }
        if (!w->replaced_ckpt_probe) {
            w->replaced_ckpt_probe = 1;
            pthread_mutex_lock(&g->mu);
            for (int k = 0; k < g->n_probes; k++) engine_probe_free(g->probes[k]);
            g->n_probes = 0;
            g->probe_bytes = 0;
            pthread_mutex_unlock(&g->mu);
        }
        engine_probe_add(g, p);
        changed = 1;
    }
    free(steps);
    return changed;
}

/* Whether the trainer of the last start line is gone without an end line: only known on the same host. */
static void check_trainer(Engine *g) {
    struct EngineWatch *w = g->watch;
    if (w->ended || !w->started || w->pid <= 0) return;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    if (strcmp(host, w->host)) return;
    if (kill((pid_t)w->pid, 0) == 0 || errno != ESRCH) return;
    char how[200], t[SNAP_EVENT_TEXT];
    snprintf(how, sizeof how, "the trainer (pid %ld) is gone without an end line: killed or crashed at step %ld", w->pid,
             g->step);
    note_end(g, how);
    snprintf(t, sizeof t, "run ended: %s", how);
    engine_push_event(g, g->step, EV_WARNING, t);
}

int engine_watch_poll(Engine *g) {
    struct EngineWatch *w = g->watch;
    if (!w) return 0;
    char path[CFG_PATH_MAX + 32];
    LwError e;
    int changed = 0;
    int was_ended = w->ended;
    int rc = runlog_read_metrics(lw_path_join(path, sizeof path, g->run_dir, "metrics.csv"), &w->metrics_cur, &w->rows,
                                 &w->n_rows, &w->cap_rows, &e);
    if (rc < 0) watch_error(g, e.msg);
    if (rc != 0 || g->n_metrics != w->n_rows) publish_rows(g), changed = 1;
    changed |= poll_events(g);
    changed |= poll_probes(g);
    check_trainer(g);
    long disk = run_checkpoint_step(g->run_dir);
    pthread_mutex_lock(&g->mu);
    if (disk != w->disk_ckpt_step) w->disk_ckpt_step = disk, changed = 1;
    g->total_steps = w->total_steps > 0 ? w->total_steps : g->step;
    EngineState st = w->ended && g->step >= g->total_steps ? ENGINE_DONE : ENGINE_READY;
    if (w->ended && strstr(w->end_text, "diverged")) st = ENGINE_DIVERGED;
    if (st != g->state || w->ended != was_ended) g->state = st, changed = 1;
    if (changed) g->seq++;
    pthread_mutex_unlock(&g->mu);
    return changed;
}

void engine_get_watch(Engine *g, WatchStatus *out) {
    memset(out, 0, sizeof *out);
    out->ckpt_step = out->disk_ckpt_step = -1;
    struct EngineWatch *w = g->watch;
    if (!w) return;
    pthread_mutex_lock(&g->mu);
    out->ended = w->ended;
    snprintf(out->end_text, sizeof out->end_text, "%s", w->end_text);
    out->trainer_pid = w->pid;
    snprintf(out->trainer_host, sizeof out->trainer_host, "%s", w->host);
    out->ckpt_step = w->ckpt_step;
    out->disk_ckpt_step = w->disk_ckpt_step;
    snprintf(out->error, sizeof out->error, "%s", w->error);
    pthread_mutex_unlock(&g->mu);
}
