/* worker.c — the engine driver thread (see worker.h). */
#include "worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void wk_msg(Worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wk_msg(Worker *w, const char *fmt, ...) {
    pthread_mutex_lock(&w->mu);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->st.msg, sizeof w->st.msg, fmt, ap);
    va_end(ap);
    w->st.msg_seq++;
    w->st.seq++;
    pthread_mutex_unlock(&w->mu);
}

static double wk_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void wk_progress(void *ud, const char *what, double done, double total) {
    Worker *w = ud;
    pthread_mutex_lock(&w->mu);
    snprintf(w->st.what, sizeof w->st.what, "%s", what ? what : "");
    w->st.done = done, w->st.total = total;
    w->st.seq++;
    pthread_mutex_unlock(&w->mu);
}

static void wk_set(Worker *w, int *field, int v) {
    pthread_mutex_lock(&w->mu);
    if (*field != v) *field = v, w->st.seq++;
    pthread_mutex_unlock(&w->mu);
}

/* Opens an engine for cfg (or the checkpoint ckpt); on success swaps it in under the write lock. */
static int wk_open(Worker *w, const char *ckpt, LwError *e) {
    EngineOpenOpts o;
    memset(&o, 0, sizeof o);
    o.ckpt_dir = ckpt && *ckpt ? ckpt : NULL;
    o.run_dir = w->run_dir[0] ? w->run_dir : NULL;
    o.resume_dir = !o.ckpt_dir && w->resume_dir[0] ? w->resume_dir : NULL;
    o.abort_flag = (int *)&w->abort_flag;
    o.progress = wk_progress;
    o.progress_ud = w;
    Engine *eng = NULL;
    int rc = w->watch_dir[0] ? engine_open_watch(&eng, w->watch_dir, &o, e) : engine_open(&eng, &w->cfg, &o, e);
    w->resume_dir[0] = '\0'; /* only the first open resumes */
    if (rc) return rc;
    pthread_rwlock_wrlock(&w->eng_lock);
    Engine *old = w->eng;
    w->eng = eng;
    pthread_rwlock_unlock(&w->eng_lock);
    if (old) engine_close(old);
    pthread_mutex_lock(&w->mu);
    w->st.phase = WK_READY;
    w->st.running = w->st.bpe_running = w->st.gen_active = 0;
    w->st.seq++;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void wk_chat_push(Worker *w, const GenToken *t) {
    double now = wk_now();
    pthread_mutex_lock(&w->mu);
    if (w->chat_n == 0) w->chat_t_first = now;
    w->chat_t_last = now;
    if (w->chat_n == w->chat_cap) {
        int cap = w->chat_cap ? 2 * w->chat_cap : 256;
        GenToken *c = realloc(w->chat, sizeof(GenToken) * (size_t)cap);
        if (!c) { pthread_mutex_unlock(&w->mu); return; }
        w->chat = c, w->chat_cap = cap;
    }
    w->chat[w->chat_n++] = *t;
    w->st.seq++;
    pthread_mutex_unlock(&w->mu);
}

static void wk_gen_end(Worker *w) {
    pthread_mutex_lock(&w->mu);
    w->chat_done = 1;
    w->st.gen_active = 0;
    w->st.seq++;
    pthread_mutex_unlock(&w->mu);
}

/* A translation by beam search of width c->n: the candidates kept (worker_beam_read), the best one streamed as the
 * reply in pieces of a GenToken's text (no cross-attention rows: the search keeps none). */
static void wk_beam(Worker *w, Engine *eng, const WorkerCmd *c) {
    LwError e = {0};
    char *hyps[WORKER_BEAM] = {0};
    float scores[WORKER_BEAM];
    int width = c->n < WORKER_BEAM ? (int)c->n : WORKER_BEAM;
    wk_set(w, &w->st.stepping, 1);
    int n = engine_translate(eng, c->text, width, hyps, scores, width, &e);
    wk_set(w, &w->st.stepping, 0);
    if (n < 0) {
        wk_msg(w, "translate: %s", e.msg);
    } else {
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < n; i++) {
            snprintf(w->beam_text[i], sizeof w->beam_text[i], "%s", hyps[i] ? hyps[i] : "");
            w->beam_score[i] = scores[i];
        }
        w->beam_n = n;
        pthread_mutex_unlock(&w->mu);
        const char *best = n > 0 && hyps[0] ? hyps[0] : "";
        for (size_t off = 0, len = strlen(best); off < len;) {
            GenToken t;
            memset(&t, 0, sizeof t);
            size_t k = len - off < sizeof t.text - 1 ? len - off : sizeof t.text - 1;
            memcpy(t.text, best + off, k);
            t.id = -1;
            wk_chat_push(w, &t);
            off += k;
        }
    }
    for (int i = 0; i < WORKER_BEAM; i++) free(hyps[i]);
    wk_gen_end(w);
}

/* The commands that change a run: refused while watching one. */
static const WorkerCmdKind WK_WRITES[] = {WC_RUN,  WC_PAUSE, WC_TOGGLE,    WC_STEP,     WC_SAVE,
                                          WC_PROBE, WC_SET_PROBE, WC_LOAD_CKPT, WC_OPEN_CONFIG};

int worker_is_readonly(WorkerCmdKind kind) {
    for (size_t i = 0; i < sizeof WK_WRITES / sizeof WK_WRITES[0]; i++)
        if (WK_WRITES[i] == kind) return 1;
    return 0;
}

/* Watching: what the run's files gained, the end of the run said once, a newer checkpoint loaded. Called with
 * w->mu held, and returns with it held. */
static void wk_watch_poll(Worker *w, int *ended_said) {
    Engine *eng = w->eng;
    pthread_mutex_unlock(&w->mu);
    if (!eng) { /* the run directory is not there yet (or not a run): try again */
        LwError oe = {0};
        if (wk_open(w, NULL, &oe)) {
            pthread_mutex_lock(&w->mu);
            if (strcmp(w->st.err, oe.msg)) snprintf(w->st.err, sizeof w->st.err, "%s", oe.msg), w->st.seq++;
            return;
        }
        eng = w->eng;
    }
    if (eng && engine_watch_poll(eng)) {
        pthread_mutex_lock(&w->mu);
        w->st.seq++;
        pthread_mutex_unlock(&w->mu);
    }
    WatchStatus ws;
    if (eng) engine_get_watch(eng, &ws);
    if (eng && ws.ended && !*ended_said) {
        *ended_said = 1;
        wk_msg(w, "run ended: %s", ws.end_text);
    } else if (eng && !ws.ended && *ended_said) {
        *ended_said = 0; /* resumed: its next end is said too */
        wk_msg(w, "watching %s: the run goes on (a trainer resumed it)", w->watch_dir);
    }
    LwError e = {0};
    if (eng && !w->st.gen_active && ws.disk_ckpt_step >= 0 && ws.disk_ckpt_step != ws.ckpt_step) {
        if (wk_open(w, NULL, &e)) wk_msg(w, "cannot load the run's new checkpoint: %s", e.msg);
        else if (!*ended_said) wk_msg(w, "watching %s: chat now uses its checkpoint of step %ld", w->watch_dir, ws.disk_ckpt_step);
        *ended_said = 0; /* the new engine read the run again: say its end again */
    }
    pthread_mutex_lock(&w->mu);
}

static void wk_inspect_clear(WorkerInspect *r) {
    engine_lens_free(&r->lens);
    engine_ablate_free(&r->ablate);
    engine_head_roles_free(&r->roles);
    engine_embed_map_free(&r->map);
}

/* WC_INSPECT: computes into a fresh result outside the lock, then swaps it in. */
static void wk_inspect(Worker *w, Engine *eng, const WorkerCmd *c) {
    WorkerInspectKind k = (WorkerInspectKind)c->n;
    WorkerInspect r;
    memset(&r, 0, sizeof r);
    LwError e = {0};
    TrainSnapshot ts;
    engine_get_train(eng, &ts);
    r.step = ts.step;
    r.arg = c->target;
    snprintf(r.text, sizeof r.text, "%s", c->text);
    wk_set(w, &w->st.stepping, 1);
    int rc = 0;
    switch (k) {
    case WI_LENS: /* "": the probe sentence as the engine holds it (engine_set_probe keeps it in its config) */
        rc = engine_lens(eng, c->text[0] ? c->text : engine_config(eng)->probe.text, &r.lens, &e);
        break;
    case WI_ABLATE:
        rc = engine_ablate(eng, c->text, c->target == ABLATE_MEAN ? ABLATE_MEAN : ABLATE_ZERO, &r.ablate, &e);
        break;
    case WI_ROLES: rc = engine_head_roles(eng, 4, c->target > 0 ? c->target : 16, 1, &r.roles, &e); break;
    case WI_EMBED_MAP: rc = engine_embed_map_near(eng, c->target - 1, &r.map, &e); break; /* arg: 1 + the query */
    case WI_ABLATE_NEXT: {
        int nh = ts.n_head, head = c->target >= 0 ? c->target / 2 : -1; /* worker_ablate_next_arg */
        int l = head >= 0 && nh > 0 ? head / nh : -1, h = head >= 0 && nh > 0 ? head % nh : -1;
        rc = engine_ablate_next(eng, c->text, l, h, c->target >= 0 && c->target % 2 ? ABLATE_MEAN : ABLATE_ZERO,
                                &r.next, &e);
        break;
    }
    default: rc = lw_fail(&e, LW_ERR_INVALID, "unknown inspection %d", (int)k); break;
    }
    wk_set(w, &w->st.stepping, 0);
    if (rc) {
        wk_inspect_clear(&r);
        snprintf(r.err, sizeof r.err, "%s", e.msg[0] ? e.msg : "failed");
    }
    if (k < 0 || k >= WI_N) return;
    pthread_mutex_lock(&w->mu);
    WorkerInspect *dst = &w->insp[k];
    wk_inspect_clear(dst);
    r.seq = dst->seq + 1;
    *dst = r;
    w->st.seq++;
    pthread_mutex_unlock(&w->mu);
}

/* Runs one command; returns 1 when the thread should exit. */
static int wk_handle(Worker *w, const WorkerCmd *c) {
    LwError e = {0};
    Engine *eng = w->eng;
    if (c->kind == WC_QUIT) return 1;
    if (c->kind == WC_OPEN_CONFIG) {
        Config *old = malloc(sizeof *old);   /* to restore when opening fails */
        if (!c->cfg || !old) {
            free(old);
            wk_msg(w, "cannot open a new config: out of memory");
            return 0;
        }
        *old = w->cfg;
        char old_run[sizeof w->run_dir];
        memcpy(old_run, w->run_dir, sizeof old_run);
        w->cfg = *c->cfg;
        w->run_dir[0] = '\0';
        wk_msg(w, "opening %s ...", w->cfg.name);
        if (cfg_validate(&w->cfg, &e) || wk_open(w, NULL, &e)) {
            w->cfg = *old;
            memcpy(w->run_dir, old_run, sizeof old_run);
            wk_msg(w, "cannot open %s: %s", c->cfg->name, e.msg);
        } else {
            wk_msg(w, "opened %s", w->cfg.name);
        }
        free(old);
        return 0;
    }
    if (c->kind == WC_LOAD_CKPT) {
        wk_msg(w, "loading checkpoint %s ...", c->text);
        if (wk_open(w, c->text, &e)) wk_msg(w, "cannot load checkpoint: %s", e.msg);
        else wk_msg(w, "loaded checkpoint %s", c->text);
        return 0;
    }
    if (!eng) {
        if (c->kind == WC_INSPECT && c->n >= 0 && c->n < WI_N) { /* nothing to look at: said, not pending */
            pthread_mutex_lock(&w->mu);
            w->insp[c->n].pending = 0;
            w->insp[c->n].seq++;
            snprintf(w->insp[c->n].err, sizeof w->insp[c->n].err, "the engine is not open");
            w->st.seq++;
            pthread_mutex_unlock(&w->mu);
            return 0;
        }
        wk_msg(w, "the engine is not open");
        return 0;
    }
    switch (c->kind) {
    case WC_RUN: wk_set(w, &w->st.running, 1); break;
    case WC_PAUSE: wk_set(w, &w->st.running, 0); break;
    case WC_TOGGLE: wk_set(w, &w->st.running, !w->st.running); break;
    case WC_STEP: {
        wk_set(w, &w->st.running, 0);
        wk_set(w, &w->st.stepping, 1);
        int rc = engine_train_step(eng, &e);
        wk_set(w, &w->st.stepping, 0);
        if (rc) wk_msg(w, "step: %s", e.msg);
        break;
    }
    case WC_SAVE: {
        wk_set(w, &w->st.stepping, 1);
        int rc = engine_save(eng, c->text[0] ? c->text : NULL, &e);
        wk_set(w, &w->st.stepping, 0);
        if (rc) wk_msg(w, "save failed: %s", e.msg);
        else {
            TrainSnapshot ts;   /* the directory really written (engine_save picks it when text is "") */
            engine_get_train(eng, &ts);
            wk_msg(w, "checkpoint saved to %s (step %ld)", ts.last_ckpt, ts.step);
        }
        break;
    }
    case WC_PROBE:
        if (engine_probe_now(eng, &e)) wk_msg(w, "probe: %s", e.msg);
        break;
    case WC_SET_PROBE:
        if (engine_set_probe(eng, c->text, &e)) wk_msg(w, "probe text: %s", e.msg);
        else wk_msg(w, "probe sentence set");
        break;
    case WC_BPE_BEGIN:
        wk_set(w, &w->st.bpe_running, 0);
        wk_set(w, &w->st.stepping, 1);
        if (engine_bpe_begin(eng, (size_t)c->n, c->target, &e)) wk_msg(w, "tokenizer trainer: %s", e.msg);
        wk_set(w, &w->st.stepping, 0);
        break;
    case WC_BPE_STEP: wk_set(w, &w->st.bpe_running, 0); engine_bpe_step(eng); break;
    case WC_BPE_BACK: wk_set(w, &w->st.bpe_running, 0); engine_bpe_back(eng); break;
    case WC_BPE_RUN: wk_set(w, &w->st.bpe_running, 1); break;
    case WC_BPE_PAUSE: wk_set(w, &w->st.bpe_running, 0); break;
    case WC_BPE_GOTO: wk_set(w, &w->st.bpe_running, 0); engine_bpe_goto(eng, (int)c->n); break;
    case WC_BPE_RATE:
        pthread_mutex_lock(&w->mu);
        w->bpe_rate = c->n > 0 ? c->n : 0;
        w->bpe_next = 0;
        pthread_mutex_unlock(&w->mu);
        break;
    case WC_GEN: {
        pthread_mutex_lock(&w->mu);
        w->chat_n = 0;
        w->chat_done = 0;
        w->chat_id++;
        w->beam_n = 0;
        w->st.gen_active = 1;
        w->st.seq++;
        pthread_mutex_unlock(&w->mu);
        if (c->n > 1 && engine_is_translator(eng)) {
            wk_beam(w, eng, c);
            break;
        }
        if (engine_gen_begin(eng, c->text, &c->sp, &e)) {
            wk_msg(w, "generate: %s", e.msg);
            wk_gen_end(w);
        }
        break;
    }
    case WC_GEN_STOP: if (w->st.gen_active) wk_gen_end(w); break;
    case WC_INSPECT: wk_inspect(w, eng, c); break;
    default: break;
    }
    return 0;
}

static void *wk_main(void *arg) {
    Worker *w = arg;
    LwError e = {0};
    if (!w->no_open && wk_open(w, w->ckpt_dir, &e)) {
        pthread_mutex_lock(&w->mu);
        w->st.phase = WK_FAILED;
        snprintf(w->st.err, sizeof w->st.err, "%s", e.msg);
        w->st.seq++;
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_lock(&w->mu);
    int ended_said = 0;
    double next_poll = 0;
    for (;;) {
        if (w->watch_dir[0] && !w->abort_flag && wk_now() >= next_poll) { /* between commands and replies */
            wk_watch_poll(w, &ended_said);
            next_poll = wk_now() + 0.25;
            continue;
        }
        if (w->q_len > 0) {
            WorkerCmd c = w->queue[w->q_head];
            w->q_head = (w->q_head + 1) % WORKER_QUEUE;
            w->q_len--;
            w->busy_cmd = 1;
            pthread_mutex_unlock(&w->mu);
            int quit = wk_handle(w, &c);
            free(c.cfg);
            pthread_mutex_lock(&w->mu);
            w->busy_cmd = 0;
            if (quit) break;
            continue;
        }
        if (w->abort_flag) break;
        Engine *eng = w->eng;
        if (eng && w->st.gen_active) {
            /* generation goes first: the current training step has finished, training resumes after */
            pthread_mutex_unlock(&w->mu);
            GenToken t;
            memset(&t, 0, sizeof t);
            int r = engine_gen_next(eng, &t);
            if (r == 1) t.n_cross = engine_gen_cross(eng, t.cross, SNAP_MAX_PROBE); /* 0 unless a translator */
            if (r == 1) wk_chat_push(w, &t);
            else wk_gen_end(w);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        if (eng && w->st.bpe_running) {
            if (w->bpe_rate > 0) {   /* one merge every 1/rate seconds, so the vocabulary can be watched growing */
                double now = wk_now(), dt = 1.0 / (double)w->bpe_rate;
                if (now < w->bpe_next) {
                    struct timespec dl;
                    clock_gettime(CLOCK_REALTIME, &dl);
                    double wait = w->bpe_next - now;
                    dl.tv_sec += (time_t)wait;
                    dl.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
                    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
                    pthread_cond_timedwait(&w->cv, &w->mu, &dl);   /* a command wakes it early */
                    continue;
                }
                w->bpe_next = (w->bpe_next > now - dt ? w->bpe_next : now) + dt;
            }
            pthread_mutex_unlock(&w->mu);
            int r = engine_bpe_step(eng);
            pthread_mutex_lock(&w->mu);
            if (r != 1) w->st.bpe_running = 0, w->st.seq++;
            continue;
        }
        if (eng && w->st.running) {
            w->st.stepping = 1;
            pthread_mutex_unlock(&w->mu);
            int rc = engine_train_step(eng, &e);
            pthread_mutex_lock(&w->mu);
            w->st.stepping = 0;
            if (rc) {
                w->st.running = 0;
                if (rc != LW_ERR_ABORTED) {
                    snprintf(w->st.msg, sizeof w->st.msg, "training stopped: %.480s", e.msg);
                    w->st.msg_seq++;
                }
            } else {
                TrainSnapshot ts;
                engine_get_train(eng, &ts);
                if (ts.state == ENGINE_DONE) { /* the last step: a finished run is not an error */
                    w->st.running = 0;
                    snprintf(w->st.msg, sizeof w->st.msg, "training complete: %ld steps (S saves a checkpoint)", ts.step);
                    w->st.msg_seq++;
                }
            }
            w->st.seq++;
            continue;
        }
        if (w->watch_dir[0]) { /* until the next poll, or a command */
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 250 * 1000 * 1000;
            if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&w->cv, &w->mu, &dl);
            continue;
        }
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int worker_start(Worker *w, const Config *cfg, const char *ckpt_dir, const char *run_dir) {
    return worker_start_run(w, cfg, ckpt_dir, run_dir, NULL);
}

int worker_start_run(Worker *w, const Config *cfg, const char *ckpt_dir, const char *run_dir, const char *resume_dir) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_rwlock_init(&w->eng_lock, NULL);
    w->cfg = *cfg;
    snprintf(w->ckpt_dir, sizeof w->ckpt_dir, "%s", ckpt_dir ? ckpt_dir : "");
    snprintf(w->run_dir, sizeof w->run_dir, "%s", run_dir ? run_dir : "");
    snprintf(w->resume_dir, sizeof w->resume_dir, "%s", resume_dir ? resume_dir : "");
    w->st.phase = WK_OPENING;
    snprintf(w->st.what, sizeof w->st.what, "opening the engine");
    if (pthread_create(&w->thread, NULL, wk_main, w) != 0) return -1;
    w->started = 1;
    return 0;
}

int worker_start_watch(Worker *w, const char *run_dir) {
    Config cfg;
    cfg_defaults(&cfg);
    memset(w, 0, sizeof *w);
    snprintf(w->watch_dir, sizeof w->watch_dir, "%s", run_dir);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_rwlock_init(&w->eng_lock, NULL);
    w->cfg = cfg;
    w->st.phase = WK_OPENING;
    snprintf(w->st.what, sizeof w->st.what, "opening %s (read-only)", run_dir);
    if (pthread_create(&w->thread, NULL, wk_main, w) != 0) return -1;
    w->started = 1;
    return 0;
}

int worker_start_idle(Worker *w, const Config *cfg, const char *why) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_rwlock_init(&w->eng_lock, NULL);
    w->cfg = *cfg;
    w->no_open = 1;
    w->st.phase = WK_FAILED;
    snprintf(w->st.err, sizeof w->st.err, "%s", why);
    if (pthread_create(&w->thread, NULL, wk_main, w) != 0) return -1;
    w->started = 1;
    return 0;
}

int worker_stop(Worker *w, double max_wait) {
    if (!w->started) return 0;
    pthread_mutex_lock(&w->mu);
    w->abort_flag = 1;
    for (int i = 0; i < w->q_len; i++) {   /* the commands never run: free what they own */
        WorkerCmd *q = &w->queue[(w->q_head + i) % WORKER_QUEUE];
        free(q->cfg);
        q->cfg = NULL;
    }
    w->q_head = 0;
    w->q_len = 1;
    w->queue[0].kind = WC_QUIT;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->started = 0;
    if (max_wait >= 0) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += (time_t)max_wait;
        dl.tv_nsec += (long)((max_wait - (double)(time_t)max_wait) * 1e9);
        if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
        if (pthread_timedjoin_np(w->thread, NULL, &dl) != 0) {
            pthread_detach(w->thread);
            return 1;
        }
    } else {
        pthread_join(w->thread, NULL);
    }
    if (w->eng) engine_close(w->eng);
    w->eng = NULL;
    free(w->chat);
    w->chat = NULL;
    for (int k = 0; k < WI_N; k++) wk_inspect_clear(&w->insp[k]);
    pthread_rwlock_destroy(&w->eng_lock);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return 0;
}

void worker_send(Worker *w, const WorkerCmd *c) {
    pthread_mutex_lock(&w->mu);
    if (w->watch_dir[0] && worker_is_readonly(c->kind)) {
        free(c->cfg); /* owned by the queue, which does not take it */
        snprintf(w->st.msg, sizeof w->st.msg, "read-only: watching %.400s", w->watch_dir);
        w->st.msg_seq++;
        w->st.seq++;
        pthread_mutex_unlock(&w->mu);
        return;
    }
    if (w->q_len == WORKER_QUEUE) {
        /* full: drop the oldest (key repeat of steps can flood the queue) */
        WorkerCmd *old = &w->queue[w->q_head];
        free(old->cfg);
        old->cfg = NULL;
        if (old->kind == WC_INSPECT && old->n >= 0 && old->n < WI_N) w->insp[old->n].pending = 0; /* ask again */
        w->q_head = (w->q_head + 1) % WORKER_QUEUE;
        w->q_len--;
    }
    w->queue[(w->q_head + w->q_len) % WORKER_QUEUE] = *c;
    w->q_len++;
    /* commands that change run state show at once, before the worker gets to them */
    if (c->kind == WC_PAUSE || c->kind == WC_STEP) w->st.running = 0;
    else if (c->kind == WC_RUN) w->st.running = 1;
    else if (c->kind == WC_TOGGLE) w->st.running = !w->st.running;
    if (c->kind == WC_TOGGLE) {
        /* resolve the toggle now so a queued toggle cannot flip twice */
        w->queue[(w->q_head + w->q_len - 1) % WORKER_QUEUE].kind = w->st.running ? WC_RUN : WC_PAUSE;
    }
    w->st.seq++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void worker_send_kind(Worker *w, WorkerCmdKind k) {
    WorkerCmd c;
    memset(&c, 0, sizeof c);
    c.kind = k;
    worker_send(w, &c);
}

int worker_open_config(Worker *w, const Config *cfg) {
    WorkerCmd c;
    memset(&c, 0, sizeof c);
    c.kind = WC_OPEN_CONFIG;
    c.cfg = malloc(sizeof *c.cfg);
    if (!c.cfg) return -1;
    *c.cfg = *cfg;
    worker_send(w, &c);
    return 0;
}

void worker_drain(Worker *w) {
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int idle = w->q_len == 0 && !w->st.stepping && !w->busy_cmd;
        pthread_mutex_unlock(&w->mu);
        if (idle || !w->started) return;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void worker_status(Worker *w, WorkerStatus *out) {
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    pthread_mutex_unlock(&w->mu);
}

Engine *worker_engine_acquire(Worker *w) {
    pthread_rwlock_rdlock(&w->eng_lock);
    return w->eng;
}

void worker_engine_release(Worker *w) { pthread_rwlock_unlock(&w->eng_lock); }

int worker_beam_read(Worker *w, uint64_t chat_id, char (*text)[WORKER_BEAM_TEXT], float *score, int max) {
    pthread_mutex_lock(&w->mu);
    int n = w->chat_id == chat_id ? (w->beam_n < max ? w->beam_n : max) : 0;
    for (int i = 0; i < n; i++) {
        memcpy(text[i], w->beam_text[i], WORKER_BEAM_TEXT);
        score[i] = w->beam_score[i];
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

void worker_inspect(Worker *w, WorkerInspectKind k, const char *text, int arg) {
    if (k < 0 || k >= WI_N) return;
    pthread_mutex_lock(&w->mu);
    int pending = w->insp[k].pending;
    if (!pending) w->insp[k].pending = 1;
    pthread_mutex_unlock(&w->mu);
    if (pending) return;
    WorkerCmd c;
    memset(&c, 0, sizeof c);
    c.kind = WC_INSPECT;
    c.n = k;
    c.target = arg;
    snprintf(c.text, sizeof c.text, "%s", text ? text : "");
    worker_send(w, &c);
}

const WorkerInspect *worker_inspect_lock(Worker *w, WorkerInspectKind k) {
    pthread_mutex_lock(&w->mu);
    return &w->insp[k >= 0 && k < WI_N ? k : 0];
}

void worker_inspect_unlock(Worker *w) { pthread_mutex_unlock(&w->mu); }

int worker_chat_timing(Worker *w, uint64_t chat_id, double *seconds) {
    pthread_mutex_lock(&w->mu);
    int same = chat_id == w->chat_id, n = same ? w->chat_n : 0;
    *seconds = same && n > 0 ? w->chat_t_last - w->chat_t_first : 0;
    pthread_mutex_unlock(&w->mu);
    return n;
}

int worker_chat_read(Worker *w, int from, GenToken *out, int max, int *done, uint64_t *chat_id) {
    pthread_mutex_lock(&w->mu);
    int n = 0;
    for (int i = from; i < w->chat_n && n < max; i++) out[n++] = w->chat[i];
    *done = w->chat_done && from + n >= w->chat_n;
    *chat_id = w->chat_id;
    pthread_mutex_unlock(&w->mu);
    return n;
}
