/* cli.c — main(): the headless subcommands, and the TUI when run without one.
 * Exit status: 0 success, 1 a run failed (I/O, diverged, interrupted), 2 bad usage or bad input. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "config.h"
#include "engine.h"
#include "util.h"

#ifndef LLMWB_VERSION
#define LLMWB_VERSION "0.1.0"
#endif

int tui_main(int argc, char **argv); /* ui/tui.c */
int demo_export_main(int argc, char **argv); /* ui/demo.c */

static volatile int g_abort;
static void on_sigint(int sig) {
    (void)sig;
    if (g_abort) _exit(130); /* a second Ctrl-C while we save: leave at once */
    g_abort = 1;
}

static const char *usage_text =
    "usage: llmwb [COMMAND] [OPTIONS]\n"
    "\n"
    "The LLM workbench: build a small GPT from scratch and watch every stage work.\n"
    "Without a command, opens the terminal UI on configs/default.yaml.\n"
    "\n"
    "commands:\n"
    "  tui [-c CONFIG] [--train] [--no-mouse] [--theme dark|light] [--ascii] [--ckpt DIR] [--script FILE]\n"
    "                           open the workbench (see `llmwb tui --help`)\n"
    "  lesson [NAME|all] [--restart] [--lessons-dir DIR] [tui options]\n"
    "                           follow the lessons of docs/lessons/ in a side panel; resumes where you left\n"
    "  demo [--headless] [--seed N] [--dump-dir DIR] [--run-dir DIR] [--theme dark|light]\n"
    "                           play the fixed-seed classroom demo, stage by stage (Space continues)\n"
    "  export --run DIR [--out DIR] [--ckpt DIR] [--layer N] [--head N]\n"
    "                           write loss.png/.svg and attention.png/.svg of a run for slides\n"
    "  train -c CONFIG [--steps N] [--resume DIR] [--run-dir DIR] [--set KEY=VALUE]...\n"
    "                           pretrain (or finetune) headless; Ctrl-C saves a checkpoint and stops\n"
    "  generate --ckpt DIR --prompt TEXT [--temperature T] [--top-k K] [--top-p P]\n"
    "           [--max-tokens N] [--seed S] [--ids]\n"
    "                           stream a continuation (with --ids: print only the new ids)\n"
    "  chat --ckpt DIR [sampling options]\n"
    "                           a plain line REPL on stdin/stdout (no curses)\n"
    "  merge --ckpt DIR --out DIR\n"
    "                           write weights only, LoRA adapters merged, as a plain Hugging Face GPT-2 directory\n"
    "  translate --ckpt DIR [--beam N] [--align] [sampling options] TEXT\n"
    "                           translate TEXT with an encoder-decoder checkpoint (greedy unless --temperature;\n"
    "                           --beam N lists N beam candidates; --align shows each token's cross-attention)\n"
    "  classify --ckpt DIR TEXT\n"
    "                           the label and class probabilities of TEXT from a classifier checkpoint\n"
    "  tokenize [--vocab DIR|gpt2] [--ids] [--color] [TEXT|-]\n"
    "                           show tokens, ids and counts of TEXT (or stdin)\n"
    "  bpe train -c CONFIG [--out DIR]\n"
    "                           train the config's BPE vocabulary and save it in GPT-2 format\n"
    "  config [-c CONFIG] [--set KEY=VALUE]... (--check | --dump | --docs)\n"
    "                           validate a config, print the effective config, or print docs/config.md\n"
    "  import-gpt2 DIR [--out DIR]\n"
    "                           load OpenAI GPT-2 weights from a Hugging Face download and check them\n"
    "\n"
    "options:\n"
    "  -h, --help               show this help\n"
    "  --version                show the version\n"
    "\n"
    "Exit status: 0 success, 1 a run failed or was interrupted, 2 bad usage or bad input.\n"
    "Documentation: docs/user-guide.md, docs/config.md, man llmwb.\n";

static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llmwb: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see llmwb --help)\n");
    va_end(ap);
    return 2;
}

/* Options shared by the subcommands; each subcommand accepts the ones it uses and rejects the others. */
typedef struct Opts {
    const char *config, *resume, *run_dir, *ckpt, *prompt, *vocab, *out;
    const char *sets[32];
    int n_sets;
    long steps;
    int ids, color, check, dump, docs;
    int beam, align, temp_set;
    SampleParams sp;
    const char *positional[8];
    int n_positional;
} Opts;

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "llmwb: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

/* allowed: a string of option letters this subcommand accepts (see table in parse_opts). */
static int parse_opts(int argc, char **argv, Opts *o, const char *allowed) {
    memset(o, 0, sizeof *o);
    o->steps = -1;
    engine_sample_defaults(&o->sp);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        char key = 0;
        if (!strcmp(a, "-c") || !strcmp(a, "--config")) key = 'c';
        else if (!strcmp(a, "--steps")) key = 'n';
        else if (!strcmp(a, "--resume")) key = 'r';
        else if (!strcmp(a, "--run-dir")) key = 'd';
        else if (!strcmp(a, "--set")) key = 'S';
        else if (!strcmp(a, "--ckpt")) key = 'k';
        else if (!strcmp(a, "--prompt")) key = 'p';
        else if (!strcmp(a, "--temperature")) key = 'T';
        else if (!strcmp(a, "--top-k")) key = 'K';
        else if (!strcmp(a, "--top-p")) key = 'P';
        else if (!strcmp(a, "--max-tokens")) key = 'M';
        else if (!strcmp(a, "--seed")) key = 'E';
        else if (!strcmp(a, "--ids")) key = 'i';
        else if (!strcmp(a, "--color")) key = 'C';
        else if (!strcmp(a, "--vocab")) key = 'v';
        else if (!strcmp(a, "--out")) key = 'o';
        else if (!strcmp(a, "--check")) key = 'x';
        else if (!strcmp(a, "--dump")) key = 'u';
        else if (!strcmp(a, "--docs")) key = 'D';
        else if (!strcmp(a, "--beam")) key = 'B';
        else if (!strcmp(a, "--align")) key = 'A';
        else if (a[0] == '-' && a[1]) return die_usage("unknown option '%s'", a);
        else {
            if (o->n_positional == (int)LW_ARRAY_LEN(o->positional)) return die_usage("too many arguments at '%s'", a);
            o->positional[o->n_positional++] = a;
            continue;
        }
        if (!strchr(allowed, key)) return die_usage("option '%s' does not apply to this command", a);
        int takes_value = !strchr("iCxuDA", key);
        if (takes_value && !val) return die_usage("option '%s' needs a value", a);
        double d;
        switch (key) {
        case 'c': o->config = val; break;
        case 'r': o->resume = val; break;
        case 'd': o->run_dir = val; break;
        case 'k': o->ckpt = val; break;
        case 'p': o->prompt = val; break;
        case 'v': o->vocab = val; break;
        case 'o': o->out = val; break;
        case 'S':
            if (o->n_sets == (int)LW_ARRAY_LEN(o->sets)) return die_usage("too many --set options at '%s'", val);
            o->sets[o->n_sets++] = val;
            break;
        case 'n':
            if (parse_num(a, val, 0, 1e9, &d)) return 2;
            o->steps = (long)d;
            break;
        case 'T':
            if (parse_num(a, val, 0, 100, &d)) return 2;
            o->sp.temperature = (float)d;
            o->temp_set = 1;
            break;
        case 'K':
            if (parse_num(a, val, 0, 1e7, &d)) return 2;
            o->sp.top_k = (int)d;
            break;
        case 'P':
            if (parse_num(a, val, 0, 1, &d)) return 2;
            o->sp.top_p = (float)d;
            break;
        case 'M':
            if (parse_num(a, val, 1, 1e6, &d)) return 2;
            o->sp.max_tokens = (int)d;
            break;
        case 'E':
            if (parse_num(a, val, 0, 1.8e19, &d)) return 2;
            o->sp.seed = (uint64_t)d;
            break;
        case 'i': o->ids = 1; break;
        case 'C': o->color = 1; break;
        case 'x': o->check = 1; break;
        case 'u': o->dump = 1; break;
        case 'D': o->docs = 1; break;
        case 'A': o->align = 1; break;
        case 'B':
            if (parse_num(a, val, 1, 16, &d)) return 2;
            o->beam = (int)d;
            break;
        }
        if (takes_value) i++;
    }
    return 0;
}

/* Loads -c CONFIG (or the defaults) and applies --set overrides; prints the one-line error. */
static int load_config(const Opts *o, Config *cfg, int validate) {
    LwError e = {0};
    /* without -c: configs/default.yaml here, else the installed one, else the built-in defaults */
    const char *path = o->config;
    if (!path && lw_file_exists("configs/default.yaml")) path = "configs/default.yaml";
    if (!path && lw_file_exists(LLMWB_SHARE "/configs/default.yaml")) path = LLMWB_SHARE "/configs/default.yaml";
    if (path) {
        if (cfg_load(cfg, path, &e)) goto fail;
    } else {
        cfg_defaults(cfg);
    }
    for (int i = 0; i < o->n_sets; i++)
        if (cfg_set(cfg, o->sets[i], &e)) goto fail;
    if (validate && cfg_validate(cfg, &e)) goto fail;
    return 0;
fail:
    fprintf(stderr, "llmwb: %s\n", e.msg);
    return 2;
}

static int cmd_config(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "cSxuD")) return 2;
    if (o.n_positional) return die_usage("config: unexpected argument '%s'", o.positional[0]);
    if (o.docs) {
        cfg_write_docs(stdout);
        return 0;
    }
    Config *cfg = lw_malloc(sizeof *cfg);
    int rc = load_config(&o, cfg, 1);
    if (rc == 0) {
        if (o.dump)
            cfg_dump(cfg, stdout);
        else
            printf("%s: ok\n", cfg->source[0] ? cfg->source : "(built-in defaults)");
    }
    free(cfg);
    return rc;
}

/* ---- progress display: a bar with ETA on a terminal, plain lines in a pipe ---- */
static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void progress_line(int tty, const char *what, double done, double total, const char *extra, double t0) {
    double el = lw_now() - t0;
    double eta = done > 0 && total > done ? el * (total - done) / done : 0;
    char etas[32], els[32];
    fmt_duration(etas, sizeof etas, eta);
    fmt_duration(els, sizeof els, el);
    if (tty) {
        int width = 30, fill = total > 0 ? (int)(width * done / total) : 0;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %.0f/%.0f %s elapsed %s ETA %s", what, bar,
                total > 0 ? 100 * done / total : 0, done, total, extra ? extra : "", els, etas);
    } else {
        fprintf(stderr, "%s %.0f/%.0f %s elapsed %s\n", what, done, total, extra ? extra : "", els);
    }
    fflush(stderr);
}

typedef struct SetupProgress {
    int tty;
    double t0, last;
} SetupProgress;

static void on_setup_progress(void *ud, const char *what, double done, double total) {
    SetupProgress *p = ud;
    double now = lw_now();
    if (done < total && now - p->last < (p->tty ? 0.1 : 2.0)) return;
    p->last = now;
    progress_line(p->tty, what, done, total, NULL, p->t0);
    if (p->tty && done >= total) fputc('\n', stderr);
}

static void cli_log(void *ud, int level, const char *msg) {
    int tty = *(int *)ud;
    if (tty) fprintf(stderr, "\r\033[K");
    if (level == LW_LOG_DEBUG && !getenv("LLMWB_DEBUG")) return;
    if (level >= LW_LOG_WARN)
        fprintf(stderr, "llmwb: %s: %s\n", level == LW_LOG_WARN ? "warning" : "error", msg);
    else
        fprintf(stderr, "%s\n", msg);
}

static int cmd_train(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "cnrdS")) return 2;
    if (o.n_positional) return die_usage("train: unexpected argument '%s'", o.positional[0]);
    if (!o.config && !o.resume) return die_usage("train: %s", "give a config with -c CONFIG (or --resume DIR)");
    Config *cfg = lw_malloc(sizeof *cfg);
    int rc = load_config(&o, cfg, 1);
    if (rc) {
        free(cfg);
        return rc;
    }
    int tty = isatty(2);
    lw_set_log(cli_log, &tty);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);

    SetupProgress sp = {tty, lw_now(), 0};
    EngineOpenOpts eo = {.resume_dir = o.resume, .run_dir = o.run_dir, .abort_flag = &g_abort,
                         .progress = on_setup_progress, .progress_ud = &sp};
    LwError e = {0};
    Engine *eng = NULL;
    if (engine_open(&eng, cfg, &eo, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        free(cfg);
        return e.code == LW_ERR_ABORTED ? 1 : (e.code == LW_ERR_IO || e.code == LW_ERR_NOMEM ? 1 : 2);
    }
    TrainSnapshot ts;
    engine_get_train(eng, &ts);
    long target = ts.total_steps;
    if (o.steps >= 0) target = ts.step + o.steps;
    fprintf(stderr, "llmwb: training %s: %ld parameters, %d layers, %d heads, d_model %d, context %d, vocab %d; "
                    "steps %ld..%ld; run dir %s\n",
            cfg->name, ts.n_params, ts.n_layer, ts.n_head, ts.d_model, ts.context_length, ts.vocab_size, ts.step,
            target, ts.run_dir);
    double t0 = lw_now(), last = 0;
    long first = ts.step;
    long ev_seq = 0;
    rc = 0;
    while (ts.step < target && !g_abort) {
        int st = engine_train_step(eng, &e);
        if (st == LW_ERR_DIVERGED) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "llmwb: %s\n", e.msg);
            rc = 1;
            break;
        }
        if (st == LW_ERR_ABORTED) break;
        if (st) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "llmwb: %s\n", e.msg);
            rc = 1;
            break;
        }
        engine_get_train(eng, &ts);
        EngineEvent evs[16];
        int n;
        while ((n = engine_get_events(eng, ev_seq, evs, 16)) > 0) {
            for (int i = 0; i < n; i++) {
                if (tty) fprintf(stderr, "\r\033[K");
                if (evs[i].kind == EV_SAMPLE)
                    fprintf(stderr, "step %ld sample: %s\n", evs[i].step, evs[i].text);
                else if (evs[i].kind != EV_INFO || !tty)
                    fprintf(stderr, "step %ld: %s\n", evs[i].step, evs[i].text);
                ev_seq = evs[i].seq;
            }
        }
        double now = lw_now();
        if (now - last > (tty ? 0.2 : 5.0) || ts.step == target) {
            last = now;
            char extra[160];
            char val[32] = "";
            if (!isnan(ts.val_loss)) snprintf(val, sizeof val, " val %.4f", ts.val_loss);
            snprintf(extra, sizeof extra, "loss %.4f%s lr %.2e %.0f tok/s", ts.train_loss, val, ts.lr,
                     ts.tokens_per_sec);
            progress_line(tty, "step", (double)(ts.step - first), (double)(target - first), extra, t0);
        }
    }
    if (tty) fputc('\n', stderr);
    if (rc == 0 || g_abort) {
        /* Interrupted or finished: keep the work. After a divergence the engine already kept the last good
         * checkpoint, so nothing is written here. */
        if (engine_save(eng, NULL, &e)) {
            fprintf(stderr, "llmwb: %s\n", e.msg);
            rc = 1;
        } else {
            engine_get_train(eng, &ts);
            fprintf(stderr, "llmwb: %s at step %ld; checkpoint in %s/latest\n", g_abort ? "interrupted" : "done",
                    ts.step, ts.run_dir);
        }
    }
    if (g_abort && rc == 0) rc = 130;
    engine_close(eng);
    free(cfg);
    return rc;
}

/* Opens an engine on a checkpoint for inference. */
static int open_ckpt(const Opts *o, Engine **eng) {
    if (!o->ckpt) return die_usage("%s", "--ckpt DIR is required");
    Config *cfg = lw_malloc(sizeof *cfg);
    cfg_defaults(cfg);
    EngineOpenOpts eo = {.ckpt_dir = o->ckpt, .abort_flag = &g_abort};
    LwError e = {0};
    int rc = engine_open(eng, cfg, &eo, &e);
    free(cfg);
    if (rc) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        return 2;
    }
    return 0;
}

static int generate_once(Engine *eng, const char *prompt, const SampleParams *sp, int ids_only, FILE *out) {
    LwError e = {0};
    if (engine_gen_begin(eng, prompt, sp, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        return 2;
    }
    GenToken t;
    int n = 0, r;
    while (!g_abort && (r = engine_gen_next(eng, &t)) > 0) {
        if (ids_only)
            fprintf(out, "%s%d", n ? " " : "", t.id);
        else
            fputs(t.text, out);
        fflush(out);
        n++;
    }
    fputc('\n', out);
    return 0;
}

static int cmd_generate(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "kpTKPMEi")) return 2;
    if (o.n_positional) return die_usage("generate: unexpected argument '%s'", o.positional[0]);
    if (!o.prompt) return die_usage("generate: %s", "--prompt TEXT is required");
    signal(SIGINT, on_sigint);
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    int rc = generate_once(eng, o.prompt, &o.sp, o.ids, stdout);
    engine_close(eng);
    return rc;
}

static int cmd_chat(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "kTKPME")) return 2;
    if (o.n_positional) return die_usage("chat: unexpected argument '%s'", o.positional[0]);
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    int tty = isatty(0);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if ((n = getline(&line, &cap, stdin)) < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        g_abort = 0;
        if (generate_once(eng, line, &o.sp, 0, stdout)) break;
        o.sp.seed++;
    }
    free(line);
    engine_close(eng);
    return 0;
}

static int cmd_merge(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "ko")) return 2;
    if (o.n_positional) return die_usage("merge: unexpected argument '%s'", o.positional[0]);
    if (!o.out) return die_usage("merge: %s", "--out DIR is required");
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    LwError e = {0};
    int rc = 0;
    if (engine_save_merged(eng, o.out, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        rc = 1;
    } else {
        printf("%s: weights (LoRA adapters, if any, merged) written as a Hugging Face GPT-2 directory\n", o.out);
    }
    engine_close(eng);
    return rc;
}

static int cmd_classify(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "k")) return 2;
    if (o.n_positional != 1) return die_usage("classify: %s", "expected one TEXT argument (quote it)");
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    LwError e = {0};
    float p[CFG_MAX_LABELS];
    int K = engine_classify(eng, o.positional[0], p, CFG_MAX_LABELS, &e);
    if (K < 0) {
        fprintf(stderr, "llmwb: %s: %s\n", o.ckpt, e.msg);
        engine_close(eng);
        return 2;
    }
    int best = 0;
    for (int k = 1; k < K; k++)
        if (p[k] > p[best]) best = k;
    printf("%s\n", engine_class_name(eng, best));
    for (int k = 0; k < K; k++) printf("  %-12s %.4f\n", engine_class_name(eng, k), p[k]);
    engine_close(eng);
    return 0;
}

/* One line per target token: the source tokens its cross-attention row weighs most. */
static void print_alignment(Engine *eng, const char *text, const char *tok, const float *row, int S) {
    int ids[512];
    int n = LW_MIN(engine_source_tokens(eng, text, ids, 512), S);
    int best[3] = {-1, -1, -1};
    for (int s = 0; s < n; s++)
        for (int k = 0; k < 3; k++)
            if (best[k] < 0 || row[s] > row[best[k]]) {
                for (int j = 2; j > k; j--) best[j] = best[j - 1];
                best[k] = s;
                break;
            }
    printf("  %-8s <-", tok);
    for (int k = 0; k < 3 && best[k] >= 0; k++) {
        char t[64];
        engine_token_text(eng, ids[best[k]], t, sizeof t);
        for (char *c = t; *c; c++)
            if (*c == '\n' || *c == '\t') *c = ' ';
        printf(" '%s' %.2f", t, row[best[k]]);
    }
    putchar('\n');
}

static int cmd_translate(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "kTKPMEBA")) return 2;
    if (o.n_positional != 1) return die_usage("translate: %s", "expected one TEXT argument (quote it)");
    signal(SIGINT, on_sigint);
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    const char *text = o.positional[0];
    int rc = 0;
    LwError e = {0};
    if (!engine_is_translator(eng)) {
        fprintf(stderr, "llmwb: %s: not an encoder-decoder checkpoint (train one with model.arch: encdec, "
                        "train.task: translate)\n", o.ckpt);
        engine_close(eng);
        return 2;
    }
    if (o.beam > 1) {
        char *hyps[16] = {0};
        float scores[16];
        int n = engine_translate(eng, text, o.beam, hyps, scores, o.beam, &e);
        if (n < 0) {
            fprintf(stderr, "llmwb: %s\n", e.msg);
            rc = 2;
        } else {
            printf("%s\n", n ? hyps[0] : "");
            printf("beam candidates (width %d, score = sum log p / length^length_penalty):\n", o.beam);
            for (int i = 0; i < n; i++) printf("  %d. %8.4f  %s\n", i + 1, scores[i], hyps[i]);
        }
        for (int i = 0; i < 16; i++) free(hyps[i]);
        engine_close(eng);
        return rc;
    }
    if (!o.temp_set) o.sp.temperature = 0; /* greedy, as the evaluation decodes */
    if (engine_gen_begin(eng, text, &o.sp, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        engine_close(eng);
        return 2;
    }
    GenToken t;
    int n_tok = 0;
    float *cross = lw_malloc(512 * 64 * sizeof(float));
    int S = 0;
    char toks[64][SNAP_TOKTEXT];
    while (!g_abort && engine_gen_next(eng, &t) > 0) {
        fputs(t.text, stdout);
        fflush(stdout);
        if (o.align && n_tok < 64) {
            S = engine_gen_cross(eng, cross + (size_t)n_tok * 512, 512);
            snprintf(toks[n_tok], sizeof toks[0], "%s", t.text);
            n_tok++;
        }
    }
    fputc('\n', stdout);
    if (o.align) {
        printf("cross-attention (last decoder layer, mean of heads): each target token <- its top source tokens\n");
        for (int i = 0; i < n_tok; i++) print_alignment(eng, text, toks[i], cross + (size_t)i * 512, S);
    }
    free(cross);
    engine_close(eng);
    return rc;
}

static Tokenizer *load_vocab(const char *vocab, LwError *e) {
    Tokenizer *t = NULL;
    if (!vocab || !strcmp(vocab, "gpt2")) {
        const char *dirs[] = {"corpora/gpt2", LLMWB_SHARE "/corpora/gpt2"};
        for (size_t i = 0; i < LW_ARRAY_LEN(dirs); i++)
            if (lw_is_dir(dirs[i])) return tok_load_dir(&t, dirs[i], e) ? NULL : t;
        lw_fail(e, LW_ERR_IO, "GPT-2 tokenizer files not found (looked in corpora/gpt2 and %s/corpora/gpt2)",
                LLMWB_SHARE);
        return NULL;
    }
    if (!strcmp(vocab, "bytes")) return tok_new_bytes();
    return tok_load_dir(&t, vocab, e) ? NULL : t;
}

static int cmd_tokenize(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "viC")) return 2;
    if (o.n_positional > 1) return die_usage("tokenize: unexpected argument '%s'", o.positional[1]);
    LwError e = {0};
    char *text = NULL;
    size_t len = 0;
    if (o.n_positional == 0 || !strcmp(o.positional[0], "-")) {
        if (lw_read_file("/dev/stdin", &text, &len, &e)) {
            fprintf(stderr, "llmwb: %s\n", e.msg);
            return 1;
        }
    } else {
        text = lw_strdup(o.positional[0]);
        len = strlen(text);
    }
    Tokenizer *t = load_vocab(o.vocab, &e);
    if (!t) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        free(text);
        return 2;
    }
    IntVec ids = {0};
    tok_encode(t, text, len, 1, &ids);
    if (o.ids) {
        for (size_t i = 0; i < ids.len; i++) printf("%s%d", i ? " " : "", ids.data[i]);
        printf("\n");
    } else {
        int color = o.color && isatty(1) && !getenv("NO_COLOR");
        static const int palette[] = {44, 42, 43, 45, 46, 41};
        for (size_t i = 0; i < ids.len; i++) {
            int bl;
            const unsigned char *b = tok_bytes(t, ids.data[i], &bl);
            if (color) printf("\033[30;%dm", palette[i % LW_ARRAY_LEN(palette)]);
            else printf("%s", i ? "|" : "");
            for (int k = 0; k < bl; k++) {
                if (b[k] == '\n') printf("\\n");
                else if (b[k] == '\t') printf("\\t");
                else putchar(b[k]);
            }
            if (color) printf("\033[0m");
        }
        printf("\n");
        for (size_t i = 0; i < ids.len; i++) printf("%s%d", i ? " " : "", ids.data[i]);
        printf("\n%zu tokens, %zu bytes, %.2f bytes/token, vocabulary %d\n", ids.len, len,
               ids.len ? (double)len / ids.len : 0.0, tok_vocab_size(t));
    }
    ivec_free(&ids);
    tok_free(t);
    free(text);
    return 0;
}

static int cmd_bpe(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "train")) return die_usage("bpe: expected 'bpe train -c CONFIG', got '%s'",
                                                               argc ? argv[0] : "");
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o, "cSo")) return 2;
    if (o.n_positional) return die_usage("bpe train: unexpected argument '%s'", o.positional[0]);
    Config *cfg = lw_malloc(sizeof *cfg);
    int rc = load_config(&o, cfg, 1);
    if (rc) {
        free(cfg);
        return rc;
    }
    LwError e = {0};
    /* The corpus: the config's text files joined, as the engine reads them. */
    char *text = NULL;
    size_t len = 0;
    for (int i = 0; i < cfg->data.n_paths; i++) {
        char *part;
        size_t plen;
        if (lw_read_file(cfg->data.paths[i], &part, &plen, &e)) {
            fprintf(stderr, "llmwb: %s\n", e.msg);
            free(text);
            free(cfg);
            return 2;
        }
        text = lw_realloc(text, len + plen + 1);
        memcpy(text + len, part, plen);
        len += plen;
        text[len] = 0;
        free(part);
    }
    if (cfg->data.max_chars > 0 && len > (size_t)cfg->data.max_chars) len = (size_t)cfg->data.max_chars;
    int tty = isatty(2);
    signal(SIGINT, on_sigint);
    double t0 = lw_now();
    BpeTrainer *b;
    if (bpe_trainer_open(&b, text, len, cfg->tokenizer.vocab_size, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        free(text);
        free(cfg);
        return 2;
    }
    int target = cfg->tokenizer.vocab_size - 257, last_print = 0;
    BpeStepInfo info;
    double last = 0;
    while (!g_abort && bpe_trainer_step(b, &info) == 1) {
        double now = lw_now();
        int n = bpe_trainer_n_merges(b);
        if (now - last > (tty ? 0.1 : 2.0) || n == target) {
            last = now;
            char extra[96];
            snprintf(extra, sizeof extra, "merge %d+%d -> %d (count %ld)", info.left, info.right, info.new_id,
                     info.count);
            progress_line(tty, "merges", n, target, extra, t0);
            last_print = n;
        }
    }
    (void)last_print;
    if (tty) fputc('\n', stderr);
    char out[CFG_PATH_MAX + 32];
    if (o.out) snprintf(out, sizeof out, "%s", o.out);
    else if (cfg->train.run_dir[0]) snprintf(out, sizeof out, "%s/tokenizer", cfg->train.run_dir);
    else snprintf(out, sizeof out, "runs/%s/tokenizer", cfg->name);
    Tokenizer *t = bpe_trainer_build(b);
    rc = 0;
    if (g_abort) {
        fprintf(stderr, "llmwb: interrupted after %d merges; nothing saved\n", bpe_trainer_n_merges(b));
        rc = 1;
    } else if (lw_mkdirs(out, &e) || tok_save_dir(t, out, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        rc = 1;
    } else {
        fprintf(stderr, "llmwb: %d merges in %.2f s; vocabulary of %d tokens saved to %s (vocab.json, merges.txt)\n",
                bpe_trainer_n_merges(b), lw_now() - t0, tok_vocab_size(t), out);
    }
    tok_free(t);
    bpe_trainer_close(b);
    free(text);
    free(cfg);
    return rc;
}

static int cmd_import_gpt2(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc, argv, &o, "oTKPME")) return 2;
    if (o.n_positional != 1) return die_usage("import-gpt2: %s", "expected one directory (config.json + model.safetensors)");
    Opts oc = o;
    oc.ckpt = o.positional[0];
    Engine *eng;
    if (open_ckpt(&oc, &eng)) return 2;
    TrainSnapshot ts;
    engine_get_train(eng, &ts);
    printf("loaded %s: %ld parameters, %d layers, %d heads, d_model %d, context %d, vocab %d\n", oc.ckpt, ts.n_params,
           ts.n_layer, ts.n_head, ts.d_model, ts.context_length, ts.vocab_size);
    int rc = 0;
    if (o.out) {
        LwError e = {0};
        if (engine_save_merged(eng, o.out, &e)) {
            fprintf(stderr, "llmwb: %s\n", e.msg);
            rc = 1;
        } else {
            printf("saved as a workbench checkpoint in %s\n", o.out);
        }
    }
    engine_close(eng);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return tui_main(argc, argv);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("llmwb %s\n", LLMWB_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "tui")) return tui_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "lesson") || !strcmp(cmd, "demo")) return tui_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return demo_export_main(argc - 1, argv + 1);
    if (cmd[0] == '-') return tui_main(argc, argv); /* `llmwb --no-mouse` etc. */
    if (!strcmp(cmd, "config")) return cmd_config(argc - 2, argv + 2);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "classify")) return cmd_classify(argc - 2, argv + 2);
    if (!strcmp(cmd, "translate")) return cmd_translate(argc - 2, argv + 2);
    if (!strcmp(cmd, "merge")) return cmd_merge(argc - 2, argv + 2);
    if (!strcmp(cmd, "bpe")) return cmd_bpe(argc - 2, argv + 2);
    if (!strcmp(cmd, "import-gpt2")) return cmd_import_gpt2(argc - 2, argv + 2);
    return die_usage("unknown command '%s'", cmd);
}
