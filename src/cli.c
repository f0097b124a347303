/* cli.c — main(): the headless subcommands, and the TUI when run without one.
 * One table (cli_cmds below) names every subcommand, its synopsis and its options with their help text: main()
 * dispatches through it, parse_opts() accepts exactly the options of the running command, and `llmwb --help`,
 * `llmwb CMD --help` and `llmwb help CMD` print from it (tests/test_cli.c checks it against the man page and the
 * user guide). Exit status: 0 success, 1 a run failed (I/O, diverged, interrupted), 2 bad usage or bad input. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "bpe.h"
#include "checkpoint.h"
#include "config.h"
#include "dist.h"
#include "engine.h"
#include "run.h"
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

/* ---- the command table ---- */

/* One option of a command. key is the Opts field it sets (see parse_opts); 0 for the options of commands whose
 * parser lives in ui/ (tui, lesson, demo, export: the table gives their help only). arg is the value's
 * placeholder, NULL for a flag. */
typedef struct OptSpec {
    char key;
    const char *name, *alias, *arg, *help;
} OptSpec;

typedef struct CmdSpec {
    const char *name;     /* as typed after llmwb ("bpe" takes the word "train" first) */
    const char *usage;    /* the synopsis after "llmwb " */
    const char *summary;  /* one line for llmwb --help */
    const char *about;    /* what llmwb CMD --help adds: what the command does, what it writes */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    OptSpec opts[16];
} CmdSpec;

#define OPT_HELP {'h', "--help", "-h", NULL, "show this help and exit"}
#define OPT_NONFINITE {'N', "--allow-nonfinite", NULL, NULL, "load a checkpoint even if it holds NaN or Inf values"}
#define OPT_SAMPLING                                                                                     \
    {'T', "--temperature", NULL, "T", "sampling temperature; 0 = greedy"},                               \
    {'K', "--top-k", NULL, "K", "sample among the K most likely tokens; 0 = off"},                      \
    {'P', "--top-p", NULL, "P", "nucleus sampling: the smallest set with probability P; 1 = off"},     \
    {'M', "--max-tokens", NULL, "N", "stop after N new tokens"},                                        \
    {'E', "--seed", NULL, "S", "the sampling seed: the same seed gives the same text"}
#define OPTS_TUI                                                                                                \
    {0, "--config", "-c", "CONFIG", "the run config (default configs/default.yaml, else the installed one)"},     \
    {0, "--train", NULL, NULL, "start training at once, on the Train screen (what `make run` does)"},          \
    {0, "--fresh", NULL, NULL, "start from step 0 without asking; an existing run is moved aside (runs/NAME.1, ...)"}, \
    {0, "--no-mouse", NULL, NULL, "start with mouse reporting off, so the terminal can select text (m toggles)"}, \
    {0, "--theme", NULL, "dark|light", "colour theme; light is a high-contrast theme for projectors"},          \
    {0, "--ascii", NULL, NULL, "draw with ASCII only (automatic without a UTF-8 locale)"},                      \
    {0, "--ckpt", NULL, "DIR", "load a checkpoint to chat with (opens on the Chat screen)"},                  \
    {0, "--script", NULL, "FILE", "play a key script headless and exit (docs/user-guide.md, Scripted mode)"}, \
    {0, "--dump-dir", NULL, "DIR", "where the script's dump and stats commands write (default .)"},          \
    {0, "--run-dir", NULL, "DIR", "override train.run_dir"},                                                    \
    {0, "--watch", NULL, "RUN_DIR", "watch a run another process trains, read-only; another --watch overlays its curves"}

static int cmd_config(int argc, char **argv);
static int cmd_train(int argc, char **argv);
static int cmd_generate(int argc, char **argv);
static int cmd_chat(int argc, char **argv);
static int cmd_merge(int argc, char **argv);
static int cmd_classify(int argc, char **argv);
static int cmd_fill(int argc, char **argv);
static int cmd_translate(int argc, char **argv);
static int cmd_lens(int argc, char **argv);
static int cmd_ablate(int argc, char **argv);
static int cmd_heads(int argc, char **argv);
static int cmd_tokenize(int argc, char **argv);
static int cmd_bpe(int argc, char **argv);
static int cmd_import_gpt2(int argc, char **argv);
static int cmd_export(int argc, char **argv) { return demo_export_main(argc, argv); }

static const CmdSpec cli_cmds[] = {
    {"tui", "tui [-c CONFIG] [--train] [--fresh] [--no-mouse] [--theme dark|light] [--ascii] [--ckpt DIR] [--script FILE] "
            "[--dump-dir DIR] [--run-dir DIR] [--watch RUN_DIR]...",
     "open the workbench (also what plain `llmwb` does)",
     "Opens the workbench: five screens (Tokenizer, Embed, Attention, Train, Chat) that show each stage of\n"
     "building a small GPT while it happens. Press ? on any screen for its keys; docs/user-guide.md lists them.",
     tui_main, {OPTS_TUI, OPT_HELP}},
    {"lesson", "lesson [NAME|all] [--restart] [--lessons-dir DIR] [tui options]",
     "follow the lessons of docs/lessons/ in a side panel; resumes where you left",
     "Opens the workbench with a lesson panel: the lessons of docs/lessons/ in order, or the one NAME picks\n"
     "(file name, name without its number, or the number). Ctrl-N / Ctrl-P step, Ctrl-O hides the panel.\n"
     "The place is saved in $LLMWB_LESSON_STATE (default ~/.local/state/llmwb/lessons.txt).\n"
     "Every option of `llmwb tui` applies too.",
     tui_main,
     {{0, "--restart", NULL, NULL, "start from the first lesson instead of where you left"},
      {0, "--lessons-dir", NULL, "DIR", "read the lessons from DIR (default docs/lessons)"},
      OPT_HELP}},
    {"demo", "demo [--headless] [--seed N] [--until N] [--dump-dir DIR] [--run-dir DIR] [--theme dark|light] [--no-mouse] [--ascii]",
     "play the fixed-seed classroom demo, stage by stage (Space continues)",
     "Plays a scripted session with a fixed seed, pausing after each stage until Space is pressed:\n"
     "1 a tokenizer learns merges, 2 tokens become vectors, 3 pretraining a tiny GPT, 4 attention forms,\n"
     "5 talking to the model, 6 finetuning a classifier (word order), 7 the classifier answers,\n"
     "8 an encoder sees both ways (GPT's causal maps, then BERT's full squares), 9 an encoder fills blanks,\n"
     "10 the original Transformer (an encoder-decoder learns to translate: its encoder, decoder and cross-attention\n"
     "maps), 11 the translator answers. The same seed gives the same screens.",
     tui_main,
     {{0, "--headless", NULL, NULL, "play without a terminal and without pauses, writing each stage's screen"},
      {0, "--seed", NULL, "N", "the demo's seed (default 123)"},
      {0, "--until", NULL, "N", "end the demo after stage N (default 11, all of them)"},
      {0, "--dump-dir", NULL, "DIR", "where --headless writes the stages' screens (default .)"},
      {0, "--run-dir", NULL, "DIR", "where the demo's runs go"},
      {0, "--theme", NULL, "dark|light", "colour theme; light is a high-contrast theme for projectors"},
      {0, "--no-mouse", NULL, NULL, "start with mouse reporting off"},
      {0, "--ascii", NULL, NULL, "draw with ASCII only"},
      OPT_HELP}},
    {"export", "export --run DIR [--out DIR] [--ckpt DIR] [--layer N] [--head N]",
     "write loss.png/.svg and attention.png/.svg of a run for slides",
     "Writes loss.png and loss.svg from DIR/metrics.csv and, when DIR/latest (or --ckpt) holds a checkpoint,\n"
     "attention.png and attention.svg for its probe sentence (every layer and head, or one layer and head).",
     cmd_export,
     {{0, "--run", NULL, "DIR", "the run directory (holds metrics.csv and latest/)"},
      {0, "--out", NULL, "DIR", "where the pictures go (default DIR/exports)"},
      {0, "--ckpt", NULL, "DIR", "the checkpoint whose attention is drawn (default DIR/latest)"},
      {0, "--layer", NULL, "N", "draw layer N only"},
      {0, "--head", NULL, "N", "with --layer: draw head N only (default: the average of the heads)"},
      OPT_HELP}},
    {"train", "train -c CONFIG [--steps N] [--resume DIR] [--fresh] [--run-dir DIR] [--set KEY=VALUE]... [--allow-nonfinite]",
     "pretrain (or finetune) headless; Ctrl-C saves a checkpoint and stops",
     "Pretrains (or, when the config says finetune.mode, finetunes) with a progress bar and ETA on a terminal,\n"
     "plain lines in a pipe. Writes metrics.csv, samples.txt and the newest checkpoint (latest/) in the run\n"
     "directory (runs/NAME). Ctrl-C saves a checkpoint and stops. Under mpirun -np N, N processes train the\n"
     "one model, each on its share of every batch (docs/distributed.md).",
     cmd_train,
     {{'c', "--config", "-c", "CONFIG", "the run config (YAML; keys in docs/config.md)"},
      {'n', "--steps", NULL, "N", "train up to step N in all (sets train.steps; a resumed run goes on to N)"},
      {'r', "--resume", NULL, "DIR", "continue from the checkpoint in DIR (weights, optimizer, data position)"},
      {'d', "--run-dir", NULL, "DIR", "override train.run_dir (default runs/NAME)"},
      {'S', "--set", NULL, "KEY=VALUE", "override one config key, e.g. --set train.lr=1e-3 (repeatable)"},
      {'F', "--fresh", NULL, NULL, "start again from step 0; an existing run is moved aside (runs/NAME.1, ...)"},
      OPT_NONFINITE, OPT_HELP}},
    {"generate", "generate --ckpt DIR --prompt TEXT [--echo|--no-echo] [--ids] [--no-cache] [--temperature T] "
                 "[--top-k K] [--top-p P] [--max-tokens N] [--seed S]",
     "stream a continuation of TEXT from a checkpoint",
     "Streams a continuation of TEXT. On a terminal the prompt is printed first (in bold), so the line reads\n"
     "as the model sees it; in a pipe only the continuation is printed unless --echo is given. On a terminal\n"
     "a last line on stderr gives the tokens per second and whether the KV cache was used.",
     cmd_generate,
     {{'k', "--ckpt", NULL, "DIR", "the checkpoint directory (e.g. runs/default/latest)"},
      {'p', "--prompt", NULL, "TEXT", "the text to continue"},
      {'e', "--echo", NULL, NULL, "print the prompt before its continuation (the default on a terminal)"},
      {'q', "--no-echo", NULL, NULL, "print only the continuation (the default in a pipe)"},
      {'i', "--ids", NULL, NULL, "print only the new token ids, space-separated"},
      {'Z', "--no-cache", NULL, NULL, "recompute the whole sequence for every token instead of using the KV cache "
                                      "(slower, the same tokens)"},
      OPT_SAMPLING, OPT_NONFINITE, OPT_HELP}},
    {"chat", "chat --ckpt DIR [--temperature T] [--top-k K] [--top-p P] [--max-tokens N] [--seed S]",
     "a plain line REPL on stdin/stdout (no curses)",
     "Each input line is a prompt and each reply one line; the model keeps no history between lines.\n"
     "An instruction-tuned checkpoint wraps each line in its prompt template and prints only the response;\n"
     "a classifier prints the label. Lines that start with / are commands: /help, /reset, /exit (or /quit);\n"
     "start a line with // to send a prompt that begins with /. Ctrl-D also quits.",
     cmd_chat,
     {{'k', "--ckpt", NULL, "DIR", "the checkpoint directory"}, OPT_SAMPLING, OPT_NONFINITE, OPT_HELP}},
    {"merge", "merge --ckpt DIR --out DIR",
     "write weights only, LoRA adapters merged, as a plain Hugging Face GPT-2 directory",
     "Writes the checkpoint's weights alone (no optimizer state) as a plain Hugging Face GPT-2 directory,\n"
     "with LoRA adapters merged into the base weights.",
     cmd_merge,
     {{'k', "--ckpt", NULL, "DIR", "the checkpoint directory"},
      {'o', "--out", NULL, "DIR", "where the merged directory goes"},
      OPT_NONFINITE, OPT_HELP}},
    {"classify", "classify --ckpt DIR TEXT",
     "the label and class probabilities of TEXT from a classifier checkpoint",
     "Prints the label of TEXT, then the probability of every class, from a checkpoint finetuned with\n"
     "finetune.mode classify. TEXT must not be empty.",
     cmd_classify,
     {{'k', "--ckpt", NULL, "DIR", "the classifier checkpoint (e.g. runs/finetune-sentiment/latest)"}, OPT_NONFINITE,
      OPT_HELP}},
    {"fill", "fill --ckpt DIR [--top-k K] TEXT",
     "fill each [MASK] (or _) of TEXT from a BERT checkpoint: top-k candidates",
     "For each [MASK] of TEXT (a lone _ is short for it), prints the K most likely tokens with their\n"
     "probabilities as bars, then TEXT with every blank filled by its best candidate. Needs a checkpoint trained\n"
     "with the mlm task (model.arch bert, or model.attention bidirectional).",
     cmd_fill,
     {{'k', "--ckpt", NULL, "DIR", "the masked-LM checkpoint (e.g. runs/bert-tiny/latest)"},
      {'K', "--top-k", NULL, "K", "how many candidates per blank (default 5)"},
      OPT_NONFINITE, OPT_HELP}},
    {"lens", "lens --ckpt DIR TEXT",
     "the logit lens: what a GPT checkpoint would predict after each layer, at each token of TEXT",
     "For each token of TEXT (cut to the model's context) and each layer, the most likely next token and its\n"
     "probability if the model stopped there: the final LayerNorm and the output head applied to the residual\n"
     "stream after the embeddings and after every block (the last row is the model's own prediction). A * marks\n"
     "the token that really comes next; the last lines give its rank at each layer.",
     cmd_lens,
     {{'k', "--ckpt", NULL, "DIR", "a GPT checkpoint (e.g. runs/default/latest)"}, OPT_NONFINITE, OPT_HELP}},
    {"ablate", "ablate --ckpt DIR [--file PATH] [--mean] [TEXT]",
     "head ablation: the loss change on a text with each attention head of a GPT checkpoint knocked out",
     "Scores the next-token loss on TEXT, or on the file PATH, or by default on the validation part (the\n"
     "last data.val_fraction) of the corpus the checkpoint was trained on, at most 8 context-length windows;\n"
     "then again with each head in turn knocked out (its output zero before the attention's projection, or\n"
     "with --mean its mean over the window's positions), and prints a layers x heads table of the loss\n"
     "changes. The heads whose loss rises most matter most.",
     cmd_ablate,
     {{'k', "--ckpt", NULL, "DIR", "a GPT checkpoint (e.g. runs/default/latest)"},
      {'f', "--file", NULL, "PATH", "score the text of PATH (UTF-8)"},
      {'a', "--mean", NULL, NULL, "mean ablation: replace a head's output by its mean over the positions, not by zero"},
      OPT_NONFINITE, OPT_HELP}},
    {"heads", "heads --ckpt DIR [--length N] [--seed S]",
     "head roles: which attention heads of a GPT checkpoint look at the previous token, the first, or do induction",
     "Feeds random token sequences, each repeated once, and scores every head by where its attention goes:\n"
     "prev (to the token before), first (to the first token: an attention sink), induction (from the second copy\n"
     "to the token after the same token in the first copy: what an induction head does). Scores are mean\n"
     "attention weights in [0, 1]; a role is named when its score passes 0.4.",
     cmd_heads,
     {{'k', "--ckpt", NULL, "DIR", "a GPT checkpoint (e.g. runs/induction/latest)"},
      {'L', "--length", NULL, "N", "tokens of each random sequence before its repeat (default 12)"},
      {'E', "--seed", NULL, "S", "the seed of the random sequences (default 1)"},
      OPT_NONFINITE, OPT_HELP}},
    {"translate", "translate --ckpt DIR [--beam N] [--align] [--temperature T] [--top-k K] [--top-p P] "
                  "[--max-tokens N] [--seed S] TEXT",
     "translate TEXT with an encoder-decoder checkpoint (train.task translate)",
     "Translates TEXT, greedy unless --temperature is given. --beam N runs beam search and lists the N\n"
     "candidates with their scores; --align prints, for each target token, the source tokens its\n"
     "cross-attention weighs most.",
     cmd_translate,
     {{'k', "--ckpt", NULL, "DIR", "the encoder-decoder checkpoint (e.g. runs/transformer-translate/latest)"},
      {'B', "--beam", NULL, "N", "beam search of width N (1-16), listing the candidates"},
      {'A', "--align", NULL, NULL, "show each target token's cross-attention over the source"},
      OPT_SAMPLING, OPT_NONFINITE, OPT_HELP}},
    {"tokenize", "tokenize [--vocab DIR|gpt2|bytes] [--ids] [--color] [TEXT|-]",
     "show tokens, ids and counts of TEXT (or stdin)",
     "Shows the tokens of TEXT (or of standard input, with - or no TEXT) separated by |, their ids, and the\n"
     "counts: tokens, bytes, bytes per token and the vocabulary size.",
     cmd_tokenize,
     {{'v', "--vocab", NULL, "DIR|gpt2|bytes", "a saved vocabulary (vocab.json + merges.txt), GPT-2's (default), or raw bytes"},
      {'i', "--ids", NULL, NULL, "print only the ids"},
      {'C', "--color", NULL, NULL, "colour the tokens on a terminal (not with NO_COLOR)"},
      OPT_HELP}},
    {"bpe", "bpe train -c CONFIG [--set KEY=VALUE]... [--out DIR]",
     "train the config's BPE vocabulary and save it in GPT-2 format",
     "Trains the config's byte-level BPE vocabulary (tokenizer.vocab_size) on its data.paths and saves it as\n"
     "vocab.json and merges.txt, the files GPT-2 uses.",
     cmd_bpe,
     {{'c', "--config", "-c", "CONFIG", "the run config"},
      {'S', "--set", NULL, "KEY=VALUE", "override one config key (repeatable)"},
      {'o', "--out", NULL, "DIR", "where the vocabulary goes (default RUN_DIR/tokenizer)"},
      OPT_HELP}},
    {"config", "config [-c CONFIG] [--set KEY=VALUE]... (--check | --dump | --docs)",
     "validate a config, print the effective config, or print docs/config.md",
     "Without -c, reads configs/default.yaml (else the installed one, else the built-in defaults).",
     cmd_config,
     {{'c', "--config", "-c", "CONFIG", "the config to read"},
      {'S', "--set", NULL, "KEY=VALUE", "override one config key (repeatable)"},
      {'x', "--check", NULL, NULL, "validate: print FILE: ok, or the error with file, line, column and key"},
      {'u', "--dump", NULL, NULL, "print the effective config (every key, defaults filled in) as YAML"},
      {'D', "--docs", NULL, NULL, "print the configuration reference (docs/config.md)"},
      OPT_HELP}},
    {"import-gpt2", "import-gpt2 DIR [--out DIR]",
     "load OpenAI GPT-2 weights from a Hugging Face download and check them",
     "Loads GPT-2 weights from a Hugging Face GPT-2 directory (config.json + model.safetensors, as the model\n"
     "gpt2, gpt2-medium, gpt2-large or gpt2-xl is downloaded), reports the model and, with --out, saves it as\n"
     "a workbench checkpoint. OpenAI's TensorFlow files (the book's gpt2/124M) are not read; a model the book's\n"
     "code saved with torch.save (model.pth) converts with scripts/book_pth_to_hf.py.",
     cmd_import_gpt2,
     {{'o', "--out", NULL, "DIR", "save the loaded model as a workbench checkpoint in DIR"}, OPT_HELP}},
};

static const CmdSpec *g_cmd; /* the command running, for its error messages */

static const CmdSpec *cli_find(const char *name) {
    for (size_t i = 0; i < LW_ARRAY_LEN(cli_cmds); i++)
        if (!strcmp(cli_cmds[i].name, name)) return &cli_cmds[i];
    return NULL;
}

/* The option of c named a (long name or alias), or NULL. */
static const OptSpec *cli_find_opt(const CmdSpec *c, const char *a) {
    for (const OptSpec *o = c->opts; o->name; o++)
        if (!strcmp(o->name, a) || (o->alias && !strcmp(o->alias, a))) return o;
    return NULL;
}

/* Prints lead then text, breaking it at spaces and newlines so lines stay within 80 columns; continuation lines
 * are indented by indent spaces. With groups, a bracketed or parenthesised part (an option of a synopsis) is never
 * split. */
static void print_wrapped(FILE *f, const char *lead, const char *text, int indent, int groups) {
    int col = fprintf(f, "%s", lead), first = 1;
    for (const char *p = text; *p;) {
        if (*p == ' ' || *p == '\n') {
            p++;
            continue;
        }
        const char *q = p;
        int depth = 0;
        while (*q && ((groups && depth > 0) || (*q != ' ' && *q != '\n'))) {
            if (groups) depth += (*q == '[' || *q == '(') - (*q == ']' || *q == ')');
            q++;
        }
        int len = (int)(q - p);
        if (!first && col + 1 + len > 80) col = fprintf(f, "\n%*s", indent, "") - 1;
        else if (!first) col += fprintf(f, " ");
        col += fprintf(f, "%.*s", len, p);
        first = 0;
        p = q;
    }
    fputc('\n', f);
}

static void cli_usage(FILE *f) {
    fputs("usage: llmwb [COMMAND] [OPTIONS]\n"
          "\n"
          "The LLM workbench: build a small GPT from scratch and watch every stage work.\n"
          "Without a command, opens the terminal UI on configs/default.yaml.\n"
          "\n"
          "commands (llmwb COMMAND --help shows a command's options):\n",
          f);
    for (size_t i = 0; i < LW_ARRAY_LEN(cli_cmds); i++) {
        print_wrapped(f, "  ", cli_cmds[i].usage, 4 + (int)strlen(cli_cmds[i].name), 1);
        print_wrapped(f, "                           ", cli_cmds[i].summary, 27, 0);
    }
    fputs("\n"
          "options:\n"
          "  -h, --help               show this help\n"
          "  --version                show the version\n"
          "\n"
          "Exit status: 0 ok, 1 a run failed or was interrupted, 2 bad usage or bad input.\n"
          "Documentation: docs/user-guide.md, docs/config.md, man llmwb.\n",
          f);
}

static void cli_cmd_usage(const CmdSpec *c, FILE *f) {
    print_wrapped(f, "usage: llmwb ", c->usage, 13 + (int)strlen(c->name), 1);
    fputc('\n', f);
    print_wrapped(f, "", c->about, 0, 0);
    fputs("\noptions:\n", f);
    for (const OptSpec *o = c->opts; o->name; o++) {
        char flags[64];
        snprintf(flags, sizeof flags, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name,
                 o->arg ? " " : "", o->arg ? o->arg : "");
        char lead[80];
        snprintf(lead, sizeof lead, "  %-24s ", flags);
        print_wrapped(f, lead, o->help, 27, 0);
    }
    if (cli_find_opt(c, "--temperature")) {
        SampleParams sp;
        engine_sample_defaults(&sp);
        fprintf(f, "\nsampling defaults: temperature %g, top-k %d, top-p %g, max tokens %d, seed %llu\n",
                sp.temperature, sp.top_k, sp.top_p, sp.max_tokens, (unsigned long long)sp.seed);
    }
    fputs("\nExit status: 0 ok, 1 a run failed or was interrupted, 2 bad usage or bad input.\n", f);
}

/* 1 when argv (after the command name) asks for help: -h or --help where an option is expected (not as the value
 * of an option of c that takes one). */
static int cli_wants_help(const CmdSpec *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
        const OptSpec *o = cli_find_opt(c, argv[i]);
        if (o && o->arg) i++;
    }
    return 0;
}

static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llmwb: ");
    vfprintf(stderr, fmt, ap);
    if (g_cmd) fprintf(stderr, " (see llmwb %s --help)\n", g_cmd->name);
    else fprintf(stderr, " (see llmwb --help)\n");
    va_end(ap);
    return 2;
}

/* Options shared by the subcommands; each subcommand accepts the ones its table row lists. */
typedef struct Opts {
    const char *config, *resume, *run_dir, *ckpt, *prompt, *vocab, *out, *file;
    const char *sets[32];
    int n_sets;
    long steps;
    int ids, color, check, dump, docs, fresh, allow_nonfinite;
    int echo; /* -1 = on a terminal only */
    int beam, align, temp_set;
    int length; /* heads --length */
    int mean;   /* ablate --mean */
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

/* Parses argv (the words after the command name) into o, accepting exactly the options of g_cmd's table row. */
static int parse_opts(int argc, char **argv, Opts *o) {
    memset(o, 0, sizeof *o);
    o->steps = -1;
    o->echo = -1;
    engine_sample_defaults(&o->sp);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-' || !a[1]) {
            if (o->n_positional == (int)LW_ARRAY_LEN(o->positional)) return die_usage("too many arguments at '%s'", a);
            o->positional[o->n_positional++] = a;
            continue;
        }
        const OptSpec *spec = cli_find_opt(g_cmd, a);
        if (!spec) {
            for (size_t c = 0; c < LW_ARRAY_LEN(cli_cmds); c++)
                if (cli_find_opt(&cli_cmds[c], a)) return die_usage("option '%s' does not apply to this command", a);
            return die_usage("unknown option '%s'", a);
        }
        if (spec->arg && !val) return die_usage("option '%s' needs a value", a);
        double d;
        switch (spec->key) {
        case 'c': o->config = val; break;
        case 'r': o->resume = val; break;
        case 'd': o->run_dir = val; break;
        case 'k': o->ckpt = val; break;
        case 'p': o->prompt = val; break;
        case 'v': o->vocab = val; break;
        case 'o': o->out = val; break;
        case 'f': o->file = val; break;
        case 'Z': o->sp.no_cache = 1; break;
        case 'a': o->mean = 1; break;
        case 'L':
            if (parse_num(a, val, 2, 1000, &d)) return 2;
            o->length = (int)d;
            break;
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
        case 'F': o->fresh = 1; break;
        case 'A': o->align = 1; break;
        case 'B':
            if (parse_num(a, val, 1, 16, &d)) return 2;
            o->beam = (int)d;
            break;
        case 'N': o->allow_nonfinite = 1; break;
        case 'e': o->echo = 1; break;
        case 'q': o->echo = 0; break;
        default: LW_ASSERT(!"an option row without a parser key");
        }
        if (spec->arg) i++;
    }
    return 0;
}

/* -c CONFIG, else configs/default.yaml here, else the installed one, else NULL (the built-in defaults). */
static const char *config_path(const Opts *o) {
    const char *path = o->config;
    if (!path && lw_file_exists("configs/default.yaml")) path = "configs/default.yaml";
    if (!path && lw_file_exists(LLMWB_SHARE "/configs/default.yaml")) path = LLMWB_SHARE "/configs/default.yaml";
    return path;
}

/* Loads -c CONFIG (or the defaults) and applies --set overrides; prints the one-line error. */
static int load_config(const Opts *o, Config *cfg, int validate) {
    LwError e = {0};
    const char *path = config_path(o);
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

static void print_config_error(void *ud, const char *msg) {
    (void)ud;
    fprintf(stderr, "llmwb: %s\n", msg);
}

static int cmd_config(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional) return die_usage("config: unexpected argument '%s'", o.positional[0]);
    if (o.docs) {
        cfg_write_docs(stdout);
        return 0;
    }
    if (!o.dump) { /* --check: every error in one run, one line each */
        const char *path = config_path(&o);
        if (cfg_check(path, o.sets, o.n_sets, print_config_error, NULL)) return 2;
        printf("%s: ok\n", path ? path : "(built-in defaults)");
        return 0;
    }
    Config *cfg = lw_malloc(sizeof *cfg);
    int rc = load_config(&o, cfg, 1);
    if (rc == 0) cfg_dump(cfg, stdout);
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

static int train_run(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional) return die_usage("train: unexpected argument '%s'", o.positional[0]);
    if (!o.config && !o.resume) return die_usage("train: %s", "give a config with -c CONFIG (or --resume DIR)");
    Config *cfg = lw_malloc(sizeof *cfg);
    int rc = load_config(&o, cfg, o.config != NULL);
    if (rc) {
        free(cfg);
        return rc;
    }
    int tty = isatty(2);
    lw_set_log(cli_log, &tty);
    /* resume the run when it has a checkpoint, with its own saved config (run.h) */
    LwError e = {0};
    RunRequest rq = {.config_path = o.config, .cfg = cfg, .sets = o.sets, .n_sets = o.n_sets, .run_dir = o.run_dir,
                     .resume = o.resume, .fresh = o.fresh, .steps = o.steps, .strict = 1};
    RunPlan *plan = lw_malloc(sizeof *plan);
    /* under mpirun rank 0 prepares the run directory (recovers, sets aside) before the others look at it */
    rc = dist_size() > 1 && dist_rank() > 0 ? dist_agree(LW_OK, &e) : LW_OK; /* waits for rank 0's plan */
    if (!rc) rc = run_plan(&rq, plan, &e) || cfg_validate(&plan->cfg, &e) ? e.code : LW_OK;
    if (dist_size() > 1 && dist_rank() == 0) dist_agree(rc, &e);
    if (dist_size() > 1) rc = dist_agree(rc, &e); /* and the others' plans */
    if (rc) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        free(plan);
        free(cfg);
        return e.code == LW_ERR_IO ? 1 : 2;
    }
    *cfg = plan->cfg;
    if (plan->note[0]) fprintf(stderr, "llmwb: %s\n", plan->note);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    char bl[128];
    blas_describe(cfg->train.threads > 0 ? cfg->train.threads
                                         : LW_MAX(1, (int)sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size()),
                  bl, sizeof bl);
    fprintf(stderr, "llmwb: %s\n", bl);

    SetupProgress sp = {tty, lw_now(), 0};
    EngineOpenOpts eo = {.resume_dir = plan->action == RUN_RESUME ? plan->resume_dir : NULL,
                         .run_dir = plan->run_dir, .abort_flag = &g_abort, .allow_nonfinite = o.allow_nonfinite,
                         .progress = on_setup_progress, .progress_ud = &sp};
    Engine *eng = NULL;
    rc = engine_open(&eng, cfg, &eo, &e);
    free(plan);
    if (rc) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        free(cfg);
        return e.code == LW_ERR_ABORTED ? 1 : (e.code == LW_ERR_IO || e.code == LW_ERR_NOMEM ? 1 : 2);
    }
    TrainSnapshot ts;
    engine_get_train(eng, &ts);
    long target = ts.total_steps; /* --steps N is train.steps: the run's total, counted from step 0 */
    if (ts.step >= target) {
        fprintf(stderr, "llmwb: %s is at step %ld of %ld: nothing to train (--steps N trains on to step N)\n",
                ts.run_dir, ts.step, target);
        engine_close(eng);
        free(cfg);
        return 0;
    }
    char total[32], trainable[32], lora[48] = "";
    if (cfg->finetune.lora_rank > 0) snprintf(lora, sizeof lora, ": LoRA rank %d", cfg->finetune.lora_rank);
    fprintf(stderr, "llmwb: training %s: %s parameters (%s trainable%s), %d layers, %d heads, d_model %d, "
                    "context %d, vocab %d; steps %ld..%ld; run dir %s\n",
            cfg->name, lw_fmt_thousands(total, sizeof total, ts.n_params),
            lw_fmt_thousands(trainable, sizeof trainable, ts.n_trainable), lora, ts.n_layer, ts.n_head, ts.d_model,
            ts.context_length, ts.vocab_size, ts.step, target, ts.run_dir);
    double t0 = lw_now(), last = 0;
    long first = ts.step;
    long ev_seq = 0;
    rc = 0;
    /* under mpirun an interrupted rank stops every rank after the same step (engine_train_step agrees on it) */
    while (ts.step < target && (dist_size() > 1 || !g_abort)) {
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
    engine_get_train(eng, &ts);
    if ((rc == 0 || (g_abort && dist_size() == 1)) && ts.step > first) {
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

/* `llmwb train`, also as one rank of `mpirun -np N llmwb train` (dist.h): every rank runs the same command; the
 * ranks after 0 stay quiet (rank 0 reports their errors), unless LLMWB_DEBUG is set. */
static int cmd_train(int argc, char **argv) {
    LwError e = {0};
    if (dist_init(&e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        return 2;
    }
    if (dist_rank() > 0 && !getenv("LLMWB_DEBUG") && !freopen("/dev/null", "w", stderr)) return 1;
    int rc = train_run(argc, argv);
    dist_finalize();
    return rc;
}

#define HF_DIR_HINT "expected a Hugging Face GPT-2 directory: config.json + model.safetensors"

/* 1 when path ends with one of the suffixes in the NULL-terminated list. */
static int has_suffix(const char *path, const char *const *sufs) {
    size_t n = strlen(path);
    for (; *sufs; sufs++) {
        size_t k = strlen(*sufs);
        if (n >= k && !strcmp(path + n - k, *sufs)) return 1;
    }
    return 0;
}

/* When dir is not a checkpoint directory (ours or Hugging Face's: config.json + model.safetensors), writes a
 * one-line message naming what it is instead (missing, a run directory, a PyTorch .pth, OpenAI's TensorFlow
 * gpt2/124M layout) and what to do, and returns 1; returns 0 when both files are there (the loader then checks
 * their contents). */
static int ckpt_dir_hint(const char *dir, char *msg, size_t n) {
    static const char *const torch_sufs[] = {".pth", ".pt", ".bin", NULL};
    char p[1400], latest[1200];
    if (!lw_file_exists(dir) && !lw_is_dir(dir)) {
        snprintf(msg, n, "%s: no such directory; " HF_DIR_HINT, dir);
        return 1;
    }
    if (!lw_is_dir(dir)) {
        if (has_suffix(dir, torch_sufs))
            snprintf(msg, n, "%s: a PyTorch file (torch.save), which llmwb does not read; " HF_DIR_HINT
                             ": convert the book's model.pth with `python3 scripts/book_pth_to_hf.py %s DIR`", dir, dir);
        else
            snprintf(msg, n, "%s: a file, not a directory; " HF_DIR_HINT, dir);
        return 1;
    }
    int has_cfg = lw_file_exists(lw_path_join(p, sizeof p, dir, "config.json"));
    int has_st = lw_file_exists(lw_path_join(p, sizeof p, dir, "model.safetensors"));
    if (has_cfg && has_st) return 0;
    if (lw_file_exists(lw_path_join(p, sizeof p, lw_path_join(latest, sizeof latest, dir, "latest"), "config.json"))) {
        snprintf(msg, n, "%s: a run directory; its newest checkpoint is %s", dir, latest);
        return 1;
    }
    if (lw_file_exists(lw_path_join(p, sizeof p, dir, "hparams.json")) ||
        lw_file_exists(lw_path_join(p, sizeof p, dir, "model.ckpt.index"))) {
        snprintf(msg, n, "%s: OpenAI's TensorFlow checkpoint (checkpoint, hparams.json, model.ckpt.*: the book's "
                         "gpt2/124M), which llmwb does not read; " HF_DIR_HINT " (the Hugging Face model gpt2 "
                         "has the same 124M weights)", dir);
        return 1;
    }
    if (lw_file_exists(lw_path_join(p, sizeof p, dir, "model.pth"))) {
        snprintf(msg, n, "%s: holds model.pth (torch.save), which llmwb does not read; " HF_DIR_HINT
                         ": convert it with `python3 scripts/book_pth_to_hf.py %s/model.pth DIR`", dir, dir);
        return 1;
    }
    if (lw_file_exists(lw_path_join(p, sizeof p, dir, "pytorch_model.bin"))) {
        snprintf(msg, n, "%s: PyTorch weights (pytorch_model.bin) without model.safetensors, which llmwb does not "
                         "read; " HF_DIR_HINT " (download model.safetensors too)", dir);
        return 1;
    }
    snprintf(msg, n, "%s: no %s; " HF_DIR_HINT, dir,
             has_cfg ? "model.safetensors" : has_st ? "config.json" : "config.json or model.safetensors");
    return 1;
}

/* Opens an engine on a checkpoint for inference. */
static int open_ckpt(const Opts *o, Engine **eng) {
    if (!o->ckpt) return die_usage("%s", "--ckpt DIR is required");
    Config *cfg = lw_malloc(sizeof *cfg);
    cfg_defaults(cfg);
    EngineOpenOpts eo = {.ckpt_dir = o->ckpt, .abort_flag = &g_abort, .allow_nonfinite = o->allow_nonfinite};
    LwError e = {0};
    int rc = engine_open(eng, cfg, &eo, &e);
    free(cfg);
    if (rc) {
        /* the hint after the load, which first recovers a checkpoint a killed save left aside */
        char hint[4096];
        fprintf(stderr, "llmwb: %s\n", ckpt_dir_hint(o->ckpt, hint, sizeof hint) ? hint : e.msg);
        return 2;
    }
    return 0;
}

/* Streams one reply to prompt into out: the new token ids with ids_only, else the text (after the prompt itself,
 * in bold on a terminal, when echo is set; with one_line, line breaks in it become spaces, so a reply is one line
 * for a script reading the chat REPL). *n_tokens (when not NULL) = the tokens written. */
static int generate_once(Engine *eng, const char *prompt, const SampleParams *sp, int ids_only, int echo,
                         int one_line, FILE *out, int *n_tokens) {
    LwError e = {0};
    if (engine_gen_begin(eng, prompt, sp, &e)) {
        fprintf(stderr, "llmwb: %s\n", e.msg);
        return 2;
    }
    if (echo && !ids_only) {
        int bold = isatty(fileno(out)) && !getenv("NO_COLOR");
        fprintf(out, "%s%s%s", bold ? "\033[1m" : "", prompt, bold ? "\033[0m" : "");
    }
    GenToken t;
    int n = 0, r;
    while (!g_abort && (r = engine_gen_next(eng, &t)) > 0) {
        if (ids_only)
            fprintf(out, "%s%d", n ? " " : "", t.id);
        else if (one_line)
            for (const char *c = t.text; *c; c++) fputc(*c == '\n' || *c == '\r' ? ' ' : *c, out);
        else
            fputs(t.text, out);
        fflush(out);
        n++;
    }
    if (n_tokens) *n_tokens = n;
    fputc('\n', out);
    return 0;
}

static int cmd_generate(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional) return die_usage("generate: unexpected argument '%s'", o.positional[0]);
    if (!o.prompt) return die_usage("generate: %s", "--prompt TEXT is required");
    signal(SIGINT, on_sigint);
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    int echo = o.echo >= 0 ? o.echo : isatty(1);
    /* a classifier answers with its label alone unless the prompt is asked for */
    if (engine_n_classes(eng) > 0 && o.echo < 0) echo = 0;
    double t0 = lw_now();
    int n = 0, rc = generate_once(eng, o.prompt, &o.sp, o.ids, echo, 0, stdout, &n);
    double dt = lw_now() - t0;
    if (!rc && isatty(2) && engine_n_classes(eng) == 0)
        fprintf(stderr, "llmwb: %d tokens in %.2f s (%.0f tokens/s, KV cache %s)\n", n, dt, dt > 0 ? n / dt : 0.0,
                o.sp.no_cache ? "off" : "on");
    engine_close(eng);
    return rc;
}

/* ---- llmwb chat: lines that start with / are commands ---- */
typedef enum { CHAT_PROMPT, CHAT_HELP, CHAT_EXIT, CHAT_RESET, CHAT_UNKNOWN } ChatCmd;
static const struct {
    const char *name;
    ChatCmd cmd;
    const char *help; /* NULL: an alias, not listed */
} chat_cmds[] = {
    {"/help", CHAT_HELP, "this list"},
    {"/reset", CHAT_RESET, "start over: the sampling seed returns to its first value, so replies repeat"},
    {"/exit", CHAT_EXIT, "quit (so do /quit and Ctrl-D)"},
    {"/quit", CHAT_EXIT, NULL},
};

/* What line (trimmed, not blank) asks for. A prompt that must begin with '/' is typed "//..."; *prompt is then
 * the line without its first '/'. */
static ChatCmd chat_parse_line(const char *line, const char **prompt) {
    *prompt = line;
    if (line[0] != '/') return CHAT_PROMPT;
    if (line[1] == '/') {
        *prompt = line + 1;
        return CHAT_PROMPT;
    }
    size_t n = strcspn(line, " \t");
    for (size_t i = 0; i < LW_ARRAY_LEN(chat_cmds); i++)
        if (strlen(chat_cmds[i].name) == n && !strncmp(line, chat_cmds[i].name, n)) return chat_cmds[i].cmd;
    return CHAT_UNKNOWN;
}

static const char *skip_space(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return s;
}

static int cmd_chat(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional) return die_usage("chat: unexpected argument '%s'", o.positional[0]);
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    TrainSnapshot ts;
    engine_get_train(eng, &ts);
    char params[32], kind[256] = "a GPT";
    int K = engine_n_classes(eng);
    if (K > 0) {
        snprintf(kind, sizeof kind, "a classifier (");
        for (int k = 0; k < K; k++)
            snprintf(kind + strlen(kind), sizeof kind - strlen(kind), "%s%s", k ? ", " : "", engine_class_name(eng, k));
        snprintf(kind + strlen(kind), sizeof kind - strlen(kind), ")");
    }
    /* on stderr: the banner is for the person; stdout carries the replies alone, for scripts */
    fprintf(stderr, "llmwb chat: %s of %s parameters, %d layers, from %s; /help lists commands, /exit or Ctrl-D quits\n",
            kind, lw_fmt_thousands(params, sizeof params, ts.n_params), ts.n_layer, o.ckpt);
    int tty = isatty(0);
    uint64_t seed0 = o.sp.seed;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if ((n = getline(&line, &cap, stdin)) < 0) break;
        while (n > 0 && isspace((unsigned char)line[n - 1])) line[--n] = 0;
        const char *start = skip_space(line), *prompt;
        if (!*start) continue;
        ChatCmd c = chat_parse_line(start, &prompt);
        if (c == CHAT_EXIT) break;
        switch (c) {
        case CHAT_HELP:
            for (size_t i = 0; i < LW_ARRAY_LEN(chat_cmds); i++)
                if (chat_cmds[i].help) printf("  %-8s %s\n", chat_cmds[i].name, chat_cmds[i].help);
            printf("  %-8s %s\n", "//text", "send a prompt that begins with /");
            break;
        case CHAT_RESET:
            o.sp.seed = seed0;
            printf("(reset: seed %llu again; every line is a fresh prompt, the model keeps no history)\n",
                   (unsigned long long)seed0);
            break;
        case CHAT_UNKNOWN:
            printf("(unknown command '%.*s': /help lists the commands; start a line with // to send it as a prompt)\n",
                   (int)strcspn(start, " \t"), start);
            break;
        default:
            g_abort = 0;
            if (generate_once(eng, prompt, &o.sp, 0, 0, 1, stdout, NULL)) goto out;
            o.sp.seed++;
        }
        fflush(stdout);
    }
out:
    free(line);
    engine_close(eng);
    return 0;
}

static int cmd_merge(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
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
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional != 1) return die_usage("classify: %s", "expected one TEXT argument (quote it)");
    if (!*skip_space(o.positional[0]))
        return die_usage("classify: %s", "TEXT is empty: give the text to classify, e.g. \"A wonderful film.\"");
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
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
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

/* fill: each mask's candidates with their probabilities as bars, then the text filled with the best ones. */
static int cmd_fill(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional != 1) return die_usage("fill: %s", "expected one TEXT argument with [MASK] or _ (quote it)");
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    LwError e = {0};
    FillResult *fr = lw_malloc(sizeof *fr);
    int rc = 0;
    int top_k = 5;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--top-k")) top_k = o.sp.top_k;
    if (engine_fill(eng, o.positional[0], top_k, fr, &e)) {
        fprintf(stderr, "llmwb: %s: %s\n", o.ckpt, e.msg);
        rc = 2;
    } else {
        for (int i = 0; i < fr->n_slots; i++) {
            const FillSlot *sl = &fr->slots[i];
            printf("[MASK] %d (token %d):\n", i + 1, sl->pos);
            for (int k = 0; k < sl->n; k++) {
                char bar[41] = "";
                int w = (int)(sl->probs[k] * 40 + 0.5f);
                for (int j = 0; j < w && j < 40; j++) bar[j] = '#';
                bar[w < 40 ? w : 40] = 0;
                char shown[2 * SNAP_TOKTEXT];
                size_t n = 0;
                for (const char *c = sl->text[k]; *c && n + 3 < sizeof shown; c++) {
                    if (*c == '\n') shown[n++] = '\\', shown[n++] = 'n';
                    else shown[n++] = *c;
                }
                shown[n] = 0;
                printf("  %-16s %6.2f%%  %s\n", shown, 100.0 * sl->probs[k], bar);
            }
        }
        printf("%s\n", fr->filled);
    }
    free(fr);
    engine_close(eng);
    return rc;
}

/* A token's text for a table cell: quoted, control characters escaped, at most max bytes of it (a cut marked ~). */
static void cell_token(const Engine *eng, int id, char *out, size_t n, int max) {
    char raw[SNAP_TOKTEXT];
    engine_token_text(eng, id, raw, sizeof raw);
    size_t k = 0;
    out[k++] = '"';
    int shown = 0, cut = 0;
    for (const char *c = raw; *c && k + 4 < n; c++) {
        if (shown >= max) {
            cut = 1;
            break;
        }
        if (*c == '\n' || *c == '\t') out[k++] = '\\', out[k++] = *c == '\n' ? 'n' : 't';
        else out[k++] = *c;
        shown++;
    }
    out[k++] = cut ? '~' : '"';
    out[k] = 0;
}

#define LENS_CELL 14 /* columns of a lens cell: a token of up to 8 bytes in quotes, a mark and a percentage */

static int cmd_lens(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional != 1) return die_usage("lens: %s", "expected one TEXT argument (quote it)");
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    LensResult r;
    LwError e = {0};
    if (engine_lens(eng, o.positional[0], &r, &e)) {
        fprintf(stderr, "llmwb: %s: %s\n", o.ckpt, e.msg);
        engine_close(eng);
        return 2;
    }
    printf("logit lens of %d tokens: each cell is the top next token after that layer and its probability; * = the "
           "token that really comes next\n", r.T);
    const char *cols = getenv("COLUMNS");
    int width = cols && atoi(cols) >= 40 ? atoi(cols) : 100, per = LW_MAX(1, (width - 10) / LENS_CELL);
    char cell[64], tokbuf[48];
    for (int t0 = 0; t0 < r.T; t0 += per) {
        int t1 = LW_MIN(r.T, t0 + per);
        printf("\n%-10s", "token");
        for (int t = t0; t < t1; t++) {
            cell_token(eng, r.ids[t], tokbuf, sizeof tokbuf, 10);
            printf("%-*s", LENS_CELL, tokbuf);
        }
        printf("\n");
        for (int l = 0; l < r.n_rows; l++) {
            char lab[16];
            snprintf(lab, sizeof lab, l == 0 ? "embed" : "block %d", l);
            printf("%-10s", lab);
            for (int t = t0; t < t1; t++) {
                const LensCell *c = &r.cells[(size_t)l * r.T + t];
                cell_token(eng, c->ids[0], tokbuf, sizeof tokbuf, 6);
                int hit = t + 1 < r.T && c->ids[0] == r.ids[t + 1];
                snprintf(cell, sizeof cell, "%s%s%3.0f%%", tokbuf, hit ? "*" : " ", 100.0 * c->probs[0]);
                printf("%-*s", LENS_CELL, cell);
            }
            printf("\n");
        }
    }
    printf("\nrank of the true next token at each layer (1 = top), per position:\n");
    for (int t = 0; t + 1 < r.T; t++) {
        cell_token(eng, r.ids[t + 1], tokbuf, sizeof tokbuf, 12);
        printf("  %3d -> %-15s", t, tokbuf);
        for (int l = 0; l < r.n_rows; l++) printf(" %6d", r.cells[(size_t)l * r.T + t].rank_next);
        printf("\n");
    }
    engine_lens_free(&r);
    engine_close(eng);
    return 0;
}

/* The validation part of the corpus a checkpoint was trained on: the last data.val_fraction of its first data
 * file (from the run's config saved with the checkpoint), starting at a line or word boundary. NULL + message. */
static char *ablate_default_text(const char *ckpt, LwError *e) {
    TrainState st;
    char *yaml = NULL;
    if (ckpt_read_state(ckpt, &st, &yaml, e)) return NULL;
    if (!yaml) {
        lw_fail(e, LW_ERR_INVALID, "%s holds no run config to find its corpus: give TEXT or --file PATH", ckpt);
        return NULL;
    }
    Config *c = lw_malloc(sizeof *c);
    int rc = cfg_load_text(c, ckpt, yaml, strlen(yaml), e);
    free(yaml);
    char *buf = NULL;
    size_t len = 0;
    if (!rc && (!c->data.n_paths || !c->data.paths[0][0]))
        rc = lw_fail(e, LW_ERR_INVALID, "%s: its run config names no data file: give TEXT or --file PATH", ckpt);
    if (!rc) rc = lw_read_file(c->data.paths[0], &buf, &len, e);
    float frac = c->data.val_fraction > 0 ? c->data.val_fraction : 0.1f;
    free(c);
    if (rc) return NULL;
    size_t at = len - (size_t)(len * (double)frac);
    while (at < len && buf[at] != ' ' && buf[at] != '\n') at++;
    memmove(buf, buf + at, len - at);
    buf[len - at] = 0;
    return buf;
}

static int cmd_ablate(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional > 1) return die_usage("ablate: unexpected argument '%s'", o.positional[1]);
    if (o.n_positional == 1 && o.file) return die_usage("ablate: %s", "give TEXT or --file PATH, not both");
    signal(SIGINT, on_sigint);
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    LwError e = {0};
    char *text = NULL;
    size_t len = 0;
    const char *from = o.n_positional ? "TEXT" : o.file;
    if (o.n_positional) text = lw_strndup(o.positional[0], strlen(o.positional[0]));
    else if (o.file) lw_read_file(o.file, &text, &len, &e);
    else if ((text = ablate_default_text(o.ckpt, &e))) from = "the validation part of its corpus";
    AblateResult r;
    int rc = text ? engine_ablate(eng, text, o.mean ? ABLATE_MEAN : ABLATE_ZERO, &r, &e) : 1;
    free(text);
    if (rc) {
        fprintf(stderr, "llmwb: %s: %s\n", o.ckpt, e.msg);
        engine_close(eng);
        return 2;
    }
    printf("head ablation (%s) on %s: %d predictions in %d window%s; loss %.4f with every head\n",
           o.mean ? "a head's output replaced by its mean" : "a head's output set to zero", from, r.n_tokens,
           r.n_windows, r.n_windows == 1 ? "" : "s", r.base_loss);
    printf("loss change with one head knocked out (+ = the model needs it):\n%-8s", "");
    for (int h = 0; h < r.NH; h++) printf("  head %-3d", h);
    printf("\n");
    int bl = 0, bh = 0;
    for (int l = 0; l < r.L; l++) {
        printf("layer %-2d", l);
        for (int h = 0; h < r.NH; h++) {
            float d = r.loss[l * r.NH + h] - r.base_loss;
            if (d > r.loss[bl * r.NH + bh] - r.base_loss) bl = l, bh = h;
            printf(" %+9.4f", d);
        }
        printf("\n");
    }
    printf("most needed: layer %d head %d (loss %+.4f)\n", bl, bh, r.loss[bl * r.NH + bh] - r.base_loss);
    engine_ablate_free(&r);
    engine_close(eng);
    return 0;
}

static int cmd_heads(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional) return die_usage("heads: unexpected argument '%s'", o.positional[0]);
    uint64_t seed = 1;
    int length = o.length > 0 ? o.length : 12;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--seed")) seed = o.sp.seed;
    Engine *eng;
    if (open_ckpt(&o, &eng)) return 2;
    HeadRoles r;
    LwError e = {0};
    if (engine_head_roles(eng, 8, length, seed, &r, &e)) {
        fprintf(stderr, "llmwb: %s: %s\n", o.ckpt, e.msg);
        engine_close(eng);
        return 2;
    }
    printf("head roles on %d random sequences of %d tokens, each repeated once (mean attention weight; a role is "
           "named above %.1f)\n", r.n_seqs, r.seq_len, (double)HEAD_ROLE_STRONG);
    printf("%-8s %-6s %6s %6s %9s  %s\n", "layer", "head", "prev", "first", "induction", "role");
    for (int l = 0; l < r.L; l++)
        for (int h = 0; h < r.NH; h++) {
            int i = l * r.NH + h;
            const char *role = r.induction[i] > HEAD_ROLE_STRONG ? "induction"
                               : r.prev[i] > HEAD_ROLE_STRONG    ? "previous token"
                               : r.first[i] > HEAD_ROLE_STRONG   ? "attention sink"
                                                                 : "";
            printf("%-8d %-6d %6.3f %6.3f %9.3f  %s\n", l, h, r.prev[i], r.first[i], r.induction[i], role);
        }
    engine_head_roles_free(&r);
    engine_close(eng);
    return 0;
}

static int cmd_tokenize(int argc, char **argv) {
    Opts o;
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
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
    if (argc < 2 || strcmp(argv[1], "train")) return die_usage("bpe: expected 'bpe train -c CONFIG', got '%s'",
                                                               argc > 1 ? argv[1] : "");
    Opts o;
    if (parse_opts(argc - 2, argv + 2, &o)) return 2;
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
    if (parse_opts(argc - 1, argv + 1, &o)) return 2;
    if (o.n_positional != 1) return die_usage("import-gpt2: %s", "expected one directory (" HF_DIR_HINT ")");
    Opts oc = o;
    oc.ckpt = o.positional[0];
    Engine *eng;
    if (open_ckpt(&oc, &eng)) return 2;
    TrainSnapshot ts;
    engine_get_train(eng, &ts);
    char params[32];
    printf("loaded %s: %s parameters, %d layers, %d heads, d_model %d, context %d, vocab %d\n", oc.ckpt,
           lw_fmt_thousands(params, sizeof params, ts.n_params), ts.n_layer, ts.n_head, ts.d_model, ts.context_length,
           ts.vocab_size);
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
    char probe[256];
    int st = blas_startup(argv, probe, sizeof probe); /* may re-execute the program with a faster BLAS core */
    if (st >= 0) {
        puts(probe);
        return st;
    }
    if (argc < 2) return tui_main(argc, argv);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || (!strcmp(cmd, "help") && argc == 2)) {
        cli_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "help")) { /* llmwb help CMD */
        const CmdSpec *c = cli_find(argv[2]);
        if (!c) return die_usage("help: unknown command '%s'", argv[2]);
        cli_cmd_usage(c, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        char bl[128];
        blas_describe(0, bl, sizeof bl);
        printf("llmwb %s\n%s\n%s\n", LLMWB_VERSION, bl, dist_describe());
        return 0;
    }
    /* `llmwb --no-mouse` etc.: the tui's options without the word tui (argv[0], the program, stands for it) */
    int bare_tui = cmd[0] == '-';
    const CmdSpec *c = cli_find(bare_tui ? "tui" : cmd);
    if (!c) return die_usage("unknown command '%s'", cmd);
    g_cmd = c;
    char **args = bare_tui ? argv : argv + 1;
    int n = bare_tui ? argc : argc - 1;
    if (cli_wants_help(c, n, args)) {
        cli_cmd_usage(c, stdout);
        return 0;
    }
    return c->run(n, args);
}
