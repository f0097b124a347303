/* config.c — see config.h. The only file that includes <yaml.h>.
 *
 * One table (cfg_keys) drives everything: cfg_defaults applies each row's default text through the same
 * setter the YAML loader and cfg_set use, so defaults, range checks, --set, cfg_dump and docs/config.md
 * cannot disagree. Loading a file:
 *   read bytes -> reject non-UTF-8 -> libyaml document -> top level must be a mapping -> `base:` first
 *   (recursively, cycles rejected) -> each section's keys (model.preset before the other model keys) ->
 *   derived values (model.vocab_size following the tokenizer, the GPT-2 tokenizer directory).
 * Every error is one line "file:line:col: section.key: what is wrong"; a failed load leaves c untouched. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* ------------------------------------------------------------------------------------------------------------ */
/* The schema table                                                                                              */

typedef enum {
    CFG_INT,
    CFG_FLOAT,
    CFG_BOOL,
    CFG_STRING,
    CFG_PATH,
    CFG_ENUM,        /* stored as an int index into names, or as a string when size > 0 */
    CFG_STRING_LIST,
    CFG_PATH_LIST,
    CFG_U64
} CfgType;

#define CFG_NOT_STORED ((size_t)-1) /* `base:` is handled by the loader, not stored in Config */

typedef struct CfgKey {
    const char *section;      /* "" = top level */
    const char *key;
    CfgType type;
    size_t off;               /* offsetof(Config, field), or CFG_NOT_STORED */
    size_t size;              /* string/path: buffer bytes; list: bytes per item; enum: 0 = int, else buffer bytes */
    size_t count_off;         /* lists: offsetof(Config, the int item count) */
    int max_items;            /* lists */
    const char *def;          /* default as text, parsed by the setter; lists: comma-separated */
    double min, max;          /* int/float range (inclusive) */
    const char *const *names; /* enum values, NULL-terminated */
    int (*check)(const char *value, char *why, size_t n); /* extra check for a string, or NULL */
    const char *help;
    int old_name;             /* an old name, still read because every checkpoint stores every key: neither
                               * dumped nor documented; layer_end moves its value to the new key */
} CfgKey;

static const char *const tok_kind_names[] = {"bpe", "gpt2", "bytes", "words", NULL};
static const char *const ft_mode_names[] = {"none", "classify", "instruct", NULL};
static const char *const ft_trainable_names[] = {"head", "last_blocks", "all", NULL};
static const char *const template_names[] = {"alpaca", "phi3", NULL};
static const char *const preset_names[] = {"tiny", "gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl", NULL};
static const char *const task_names[] = {"auto", "lm", "mlm", "classify", "instruct", "translate", NULL}; /* src/task.c */
static const char *const arch_names[] = {"gpt", "bert", "encdec", NULL}; /* the tables of src/arch.c */
static const char *const attention_names[] = {"causal", "bidirectional", NULL};
static const char *const layer_norm_names[] = {"auto", "post", "pre", NULL};
static const char *const position_names[] = {"sinusoidal", "learned", NULL};
static const char *const lora_target_names[] = {"attn", "proj", "fc", "fcproj", "head", NULL};

static int cfg_check_lora_targets(const char *s, char *why, size_t n);
static int cfg_check_tsv_columns(const char *s, char *why, size_t n);

#define OFF(field) offsetof(Config, field)
#define FSIZE(field) sizeof(((Config *)0)->field)
#define ROW_INT(sec, k, field, def, lo, hi, help) \
    {sec, k, CFG_INT, OFF(field), 0, 0, 0, def, lo, hi, NULL, NULL, help, 0}
#define ROW_FLOAT(sec, k, field, def, lo, hi, help) \
    {sec, k, CFG_FLOAT, OFF(field), 0, 0, 0, def, lo, hi, NULL, NULL, help, 0}
#define ROW_BOOL(sec, k, field, def, help) {sec, k, CFG_BOOL, OFF(field), 0, 0, 0, def, 0, 1, NULL, NULL, help, 0}
#define ROW_STR(sec, k, field, def, check, help) \
    {sec, k, CFG_STRING, OFF(field), FSIZE(field), 0, 0, def, 0, 0, NULL, check, help, 0}
#define ROW_PATH(sec, k, field, def, help) \
    {sec, k, CFG_PATH, OFF(field), FSIZE(field), 0, 0, def, 0, 0, NULL, NULL, help, 0}
#define ROW_ENUM(sec, k, field, def, names, help) \
    {sec, k, CFG_ENUM, OFF(field), 0, 0, 0, def, 0, 0, names, NULL, help, 0}
#define ROW_ENUM_STR(sec, k, field, def, names, help) \
    {sec, k, CFG_ENUM, OFF(field), FSIZE(field), 0, 0, def, 0, 0, names, NULL, help, 0}
#define ROW_LIST(sec, k, type, field, count, def, help) \
    {sec, k, type, OFF(field), FSIZE(field[0]), OFF(count), (int)LW_ARRAY_LEN(((Config *)0)->field), def, 0, 0, \
     NULL, NULL, help, 0}

static const CfgKey cfg_keys[] = {
    ROW_STR("", "name", name, "default", NULL,
            "Run name: the run directory is runs/<name> unless train.run_dir is set. "
            "When a file does not set it, the file's base name (without .yaml) is used."),
    {"", "base", CFG_PATH, CFG_NOT_STORED, 0, 0, 0, "", 0, 0, NULL, NULL,
     "Another config to start from: a preset name such as `default` or `gpt2-small` (the file <name>.yaml next to "
     "this one, else configs/<name>.yaml under the current directory) or a path. "
     "The base is loaded first and this file overrides its keys.", 0},

    ROW_ENUM_STR("model", "arch", model.arch, "gpt", arch_names,
                 "The architecture: gpt = GPT-2, a decoder with causal self-attention (the book's GPTModel); bert = BERT, "
                 "an encoder with bidirectional self-attention, post-LayerNorm blocks, a masked-LM head tied to the "
                 "token embedding and a [CLS] pooler for classification (train.task mlm or classify). "
                 "encdec = the encoder-decoder Transformer of \"Attention Is All You Need\" (train.task: translate). "
                 "A checkpoint's config.json (model_type) decides it when a run starts from one."),
    ROW_ENUM_STR("model", "preset", model.preset, "", preset_names,
                 "Sets every model key at once to a named size (tiny = the default model; gpt2-small = the book's "
                 "GPT_CONFIG_124M). Model keys given explicitly in the same file override the preset whatever "
                 "their order. Empty = no preset."),
    ROW_INT("model", "n_layer", model.n_layer, "4", 1, 256, "Number of transformer blocks."),
    ROW_INT("model", "n_head", model.n_head, "4", 1, 256, "Attention heads per block; must divide model.d_model."),
    ROW_INT("model", "d_model", model.d_model, "128", 1, 16384,
            "Embedding width (the book's emb_dim); each head gets d_model / n_head dimensions."),
    ROW_INT("model", "context_length", model.context_length, "64", 1, 65536,
            "Longest sequence the model sees (positions in the position embedding); also the training window."),
    ROW_INT("model", "vocab_size", model.vocab_size, "1024", 1, 1048576,
            "Rows of the token embedding. It follows the tokenizer unless set explicitly: tokenizer.vocab_size for "
            "bpe and words, 257 for bytes (256 bytes + <|endoftext|>), and 50257 for gpt2, where it must be 50257."),
    ROW_FLOAT("model", "dropout", model.dropout, "0", 0, 0.99,
              "Dropout rate on embeddings, attention weights and residual branches (the book's drop_rate)."),
    ROW_BOOL("model", "qkv_bias", model.qkv_bias, "false",
             "Bias terms in the query/key/value projections (the book: false; OpenAI's GPT-2 weights: true)."),
    ROW_ENUM("model", "attention", model.attention, "causal", attention_names,
             "GPT's self-attention: causal = each token sees only the tokens before it (a decoder: next-token "
             "prediction); bidirectional = every token sees the whole row, as in BERT's encoder, so the same GPT-sized "
             "model can learn train.task mlm and its attention maps become full squares. bidirectional needs "
             "train.task mlm (a model that sees the next token cannot learn to predict it). model.arch bert is always "
             "bidirectional."),
    ROW_ENUM("model", "layer_norm", model.layer_norm, "auto", layer_norm_names,
             "Where each block normalises: post = LN(x + sublayer(x)), the original Transformer's and BERT's; pre = "
             "x + sublayer(LN(x)) with a final LayerNorm, GPT-2's, which trains from scratch more easily (no long "
             "plateau at a high learning rate). auto = the architecture's own: gpt pre (GPT is always pre), bert "
             "post, encdec post (the paper's LayerNorm after each residual add; pre adds a final LayerNorm per "
             "stack). The old name model.norm (encdec) is still read, so older checkpoints load."),
    ROW_BOOL("model", "tie_embeddings", model.tie_embeddings, "true",
             "Share the token embedding with the output head (GPT-2 does; the book's GPTModel keeps a separate "
             "head: 163M instead of 124M parameters)."),

    ROW_INT("model", "encoder_layers", model.encoder_layers, "0", 0, 256,
            "encdec: encoder blocks (bidirectional self-attention + MLP); 0 = model.n_layer."),
    ROW_INT("model", "decoder_layers", model.decoder_layers, "0", 0, 256,
            "encdec: decoder blocks (causal self-attention, cross-attention over the encoder output, MLP); "
            "0 = model.n_layer."),
    ROW_INT("model", "d_ff", model.d_ff, "0", 0, 1048576, "encdec: hidden width of each MLP; 0 = 4 x model.d_model."),
    ROW_ENUM("model", "positions", model.positions, "sinusoidal", position_names,
             "encdec: sinusoidal = the paper's fixed sine/cosine table (not a parameter); learned = a position "
             "embedding per side."),
    /* model.norm: the old name of model.layer_norm for encdec, written into every checkpoint before */
    {"model", "norm", CFG_ENUM, OFF(model.old_norm), 0, 0, 0, "auto", 0, 0, layer_norm_names, NULL,
     "The old name of model.layer_norm (read, never written).", 1},
    ROW_BOOL("model", "shared_vocab", model.shared_vocab, "true",
             "encdec: one token embedding for source and target (the paper); false = one per side. "
             "model.tie_embeddings ties the output projection to the target embedding."),
    ROW_INT("model", "beam", model.beam, "1", 1, 16,
            "encdec: decoding for evaluation, chat and llmwb translate: 1 = greedy, > 1 = beam search of that "
            "width."),
    ROW_FLOAT("model", "length_penalty", model.length_penalty, "1", 0, 4,
              "encdec: a beam hypothesis scores sum(log p) / length^length_penalty (0 = raw sum, 1 = mean "
              "log-probability per token)."),

    ROW_ENUM("tokenizer", "kind", tokenizer.kind, "bpe", tok_kind_names,
             "bpe = byte-level BPE trained on the data; gpt2 = OpenAI's GPT-2 vocabulary (encoder.json + vocab.bpe); "
             "bytes = one token per byte; words = the book's chapter-2 regex word tokenizer."),
    ROW_INT("tokenizer", "vocab_size", tokenizer.vocab_size, "1024", 257, 1048576,
            "bpe: target vocabulary (256 bytes + merges + <|endoftext|>). words: the largest word vocabulary "
            "allowed (unique words + <|endoftext|> + <|unk|>). Ignored for gpt2 and bytes."),
    ROW_PATH("tokenizer", "path", tokenizer.path, "",
             "kind=gpt2: directory holding encoder.json and vocab.bpe. Empty = <dir of the config>/../corpora/gpt2 "
             "when that exists (the repository layout)."),

    ROW_LIST("data", "paths", CFG_PATH_LIST, data.paths, data.n_paths, "corpora/austen_prideprejudice.txt",
             "Pretraining text files (UTF-8), concatenated; or the finetuning dataset (first entry: TSV for "
             "classify, Alpaca JSON/JSONL for instruct). A YAML list or a single string."),
    ROW_FLOAT("data", "val_fraction", data.val_fraction, "0.1", 0, 0.5,
              "Fraction held out for validation (the end of the text for pretraining)."),
    ROW_FLOAT("data", "test_fraction", data.test_fraction, "0.1", 0, 0.5,
              "Fraction held out for testing (finetuning splits)."),
    ROW_INT("data", "window", data.window, "0", 0, 1048576,
            "Training sequence length in tokens (the book's max_length), at most model.context_length; "
            "0 = model.context_length."),
    ROW_INT("data", "stride", data.stride, "0", 0, 1048576,
            "Sliding-window stride in tokens; 0 = the window (windows do not overlap)."),
    ROW_INT("data", "max_chars", data.max_chars, "0", 0, INT_MAX,
            "Use only the first max_chars bytes of the text; 0 = all of it."),

    ROW_ENUM_STR("train", "task", train.task, "auto", task_names,
                 "What the model is trained for: lm = predict the next token (pretraining); mlm = masked language "
                 "modelling as BERT (15% of the tokens chosen, 80% of those become [MASK], 10% a random token, 10% "
                 "stay; each row is [CLS] text [SEP]); classify = a class head "
                 "(data: TSV label<TAB>text); instruct = instruction tuning (data: Alpaca JSON or JSONL). "
                 "auto = the task finetune.mode names (none = lm), so older configs keep working; setting both to "
                 "different tasks is an error."),
    ROW_INT("train", "batch_size", train.batch_size, "16", 1, 65536, "Sequences per micro-batch."),
    ROW_INT("train", "grad_accum", train.grad_accum, "1", 1, 65536,
            "Micro-batches accumulated per optimizer step (effective batch = batch_size * grad_accum)."),
    ROW_INT("train", "steps", train.steps, "3000", 0, 1000000000,
            "The run's total optimizer steps, counted from step 0 and including the steps done before a resume "
            "(`llmwb train --steps N` sets it); 0 = derive from train.epochs."),
    ROW_FLOAT("train", "epochs", train.epochs, "0", 0, 1000000,
              "Passes over the training data, used when train.steps is 0."),
    ROW_FLOAT("train", "lr", train.lr, "3e-3", 1e-9, 10, "Peak learning rate of AdamW."),
    ROW_FLOAT("train", "min_lr", train.min_lr, "3e-4", 0, 10,
              "Learning rate at the end of the cosine decay; must not exceed train.lr (equal = constant rate)."),
    ROW_INT("train", "warmup", train.warmup, "50", 0, 1000000000, "Linear warmup steps before the cosine decay."),
    ROW_FLOAT("train", "weight_decay", train.weight_decay, "0.1", 0, 10,
              "AdamW decoupled weight decay (not applied to biases and LayerNorm)."),
    ROW_FLOAT("train", "grad_clip", train.grad_clip, "1.0", 0, 1000000,
              "Clip the global gradient norm to this value; 0 = no clipping."),
    ROW_INT("train", "eval_every", train.eval_every, "50", 0, 1000000000,
            "Evaluate train and validation loss every N steps; 0 = never."),
    ROW_INT("train", "eval_batches", train.eval_batches, "8", 1, 1000000, "Batches averaged per evaluation."),
    ROW_INT("train", "sample_every", train.sample_every, "200", 0, 1000000000,
            "Generate a sample every N steps; 0 = never."),
    ROW_STR("train", "sample_prompt", train.sample_prompt, "It is a truth", NULL, "Prompt for the samples."),
    ROW_INT("train", "sample_tokens", train.sample_tokens, "40", 0, 65536, "Tokens generated per sample."),
    ROW_INT("train", "checkpoint_every", train.checkpoint_every, "500", 0, 1000000000,
            "Save a checkpoint every N steps; 0 = only at the end."),
    {"train", "seed", CFG_U64, OFF(train.seed), 0, 0, 0, "123", 0, 0, NULL, NULL,
     "Seed of the random number generator (initialisation, batches, dropout, sampling).", 0},
    ROW_INT("train", "threads", train.threads, "0", 0, 1024, "CPU threads for the matrix products; 0 = all cores (shared by the MPI ranks on one machine)."),
    ROW_PATH("train", "run_dir", train.run_dir, "",
             "Where metrics, samples and checkpoints go; empty = runs/<name>."),

    ROW_ENUM("finetune", "mode", finetune.mode, "none", ft_mode_names,
             "none = pretraining; classify = a classification head on the last token (data: TSV label<TAB>text); "
             "instruct = instruction tuning (data: Alpaca JSON or JSONL)."),
    ROW_PATH("finetune", "init_from", finetune.init_from, "",
             "Checkpoint directory to start from (ours, or a Hugging Face GPT-2 directory); empty = from scratch."),
    ROW_LIST("finetune", "labels", CFG_STRING_LIST, finetune.labels, finetune.n_labels, "",
             "classify: the class labels in output order; empty = take the label set from the data."),
    ROW_STR("finetune", "tsv_columns", finetune.tsv_columns, "", cfg_check_tsv_columns,
            "classify: the columns of a TSV file that has no header line, in order, e.g. label,text for the book's "
            "SMSSpamCollection (whose name has no .tsv: any extension is then accepted); columns named neither label "
            "nor text are ignored. Empty = the first line is a header naming a label and a text column."),
    ROW_BOOL("finetune", "balance", finetune.balance, "false",
             "classify: undersample every class to the size of the smallest (the book's spam set)."),
    ROW_ENUM("finetune", "trainable", finetune.trainable, "last_blocks", ft_trainable_names,
             "Which weights train: head = the new head only; last_blocks = the head, the final LayerNorm and the "
             "last finetune.train_last_blocks blocks; all = everything."),
    ROW_INT("finetune", "train_last_blocks", finetune.train_last_blocks, "1", 1, 256,
            "trainable=last_blocks: how many of the last transformer blocks train; at most model.n_layer."),
    ROW_ENUM_STR("finetune", "template", finetune.template_name, "alpaca", template_names,
                 "instruct: the prompt template (alpaca = the book's; phi3 = <|user|>/<|assistant|>)."),
    ROW_BOOL("finetune", "mask_prompt", finetune.mask_prompt, "false",
             "instruct: exclude the prompt tokens from the loss (the book's exercise 7.2)."),
    ROW_BOOL("finetune", "truncate", finetune.truncate, "true",
             "Truncate examples longer than model.context_length with a warning; false = stop with an error."),
    ROW_INT("finetune", "lora_rank", finetune.lora_rank, "0", 0, 4096,
            "LoRA rank; 0 = no LoRA (ordinary finetuning). At most model.d_model."),
    ROW_FLOAT("finetune", "lora_alpha", finetune.lora_alpha, "16", 0, 1000000,
              "LoRA scale numerator: the update is (alpha / rank) * B A x."),
    ROW_STR("finetune", "lora_targets", finetune.lora_targets, "attn,proj,fc,fcproj", cfg_check_lora_targets,
            "Comma list of the layers that get LoRA adapters: attn (query/key/value), proj (attention output), "
            "fc (feed-forward in), fcproj (feed-forward out), head (the class head, or an untied LM head)."),

    ROW_STR("probe", "text", probe.text, "It is a truth universally acknowledged, that a single man", NULL,
            "The sentence the Embed and Attention screens show."),
    ROW_INT("probe", "snapshot_every", probe.snapshot_every, "25", 0, 1000000000,
            "Record the probe's attention maps every N steps; 0 = never."),
};

static const char *const section_names[] = {"model", "tokenizer", "data", "train", "finetune", "probe", NULL};

static const char *const section_help[] = {
    "The network: sizes of the GPT-2 style transformer.",
    "How text becomes token ids.",
    "Which text to train on and how it is split into windows.",
    "The optimizer, schedule, evaluation, samples and checkpoints.",
    "Classification and instruction finetuning, LoRA.",
    "What the visualisation screens probe.",
};

/* Book names a learner may type, mapped to ours (only for "did you mean" hints). */
static const char *const key_aliases[][2] = {
    {"emb_dim", "model.d_model"},        {"n_embd", "model.d_model"},     {"drop_rate", "model.dropout"},
    {"n_heads", "model.n_head"},         {"n_layers", "model.n_layer"},   {"n_positions", "model.context_length"},
    {"n_ctx", "model.context_length"},   {"learning_rate", "train.lr"},   {"max_length", "model.context_length"},
    {"num_epochs", "train.epochs"},      {"eval_freq", "train.eval_every"}, {"eval_iter", "train.eval_batches"},
    {"path", "data.paths"},              {"file", "data.paths"},          {"files", "data.paths"},
};

/* ------------------------------------------------------------------------------------------------------------ */
/* Small helpers                                                                                                 */

static void *field_ptr(Config *c, size_t off) { return (char *)c + off; }

static int section_is_known(const char *s) {
    for (int i = 0; section_names[i]; i++)
        if (strcmp(section_names[i], s) == 0) return 1;
    return 0;
}

static const CfgKey *cfg_find(const char *section, const char *key) {
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++)
        if (strcmp(cfg_keys[i].section, section) == 0 && strcmp(cfg_keys[i].key, key) == 0) return &cfg_keys[i];
    return NULL;
}

/* "section.key", or "key" for top-level rows. */
static const char *key_name(const CfgKey *k, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s", k->section, *k->section ? "." : "", k->key);
    return buf;
}

/* Copies s into a fixed buffer, zero-filling the rest so configs compare equal with memcmp. */
static void set_str(char *dst, size_t n, const char *s) {
    memset(dst, 0, n);
    snprintf(dst, n, "%s", s);
}

/* Levenshtein distance (case-insensitive), capped for long strings. */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = diag + cost;
            if (row[j] + 1 < v) v = row[j] + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    return row[lb];
}

/* A value shown in a message: quoted, control bytes replaced, cut at 40 bytes. */
static const char *show_value(const char *s, char *buf, size_t n) {
    size_t j = 0, max = n > 8 ? n - 8 : 0;
    buf[j++] = '\'';
    for (size_t i = 0; s[i] && j < max; i++) {
        if (i >= 40) {
            j += (size_t)snprintf(buf + j, n - j, "...");
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        buf[j++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    buf[j++] = '\'';
    buf[j] = 0;
    return buf;
}

/* A key as typed, for messages: control bytes replaced, cut at 40 bytes. */
static const char *clean_name(const char *s, char *buf, size_t n) {
    show_value(s, buf, n);
    size_t l = strlen(buf);
    memmove(buf, buf + 1, l - 2);
    buf[l - 2] = 0;
    return buf;
}

/* Where a value came from, for messages: "file:line:col" or "--set 'a.b=c'". */
typedef struct Where {
    char at[CFG_PATH_MAX + 300];
} Where;

static void where_mark(Where *w, const char *file, size_t line0, size_t col0) {
    snprintf(w->at, sizeof w->at, "%s:%zu:%zu", file, line0 + 1, col0 + 1);
}

/* Where errors go while loading: with no sink (cfg_load) the first error stops the load; with one (cfg_check)
 * each error is reported as its own line and loading goes on with the next key. pos[] remembers where each row of
 * cfg_keys was last set, so the cross-field checks can point at a line too. */
typedef struct Sink {
    CfgReportFn fn;
    void *ud;
    int n;
    int unreadable; /* a file (the config or a base) could not be read or parsed at all */
    Where *pos; /* LW_ARRAY_LEN(cfg_keys) entries; at[0] == 0 = not set by a file or --set */
} Sink;

/* After a failed step: reports e and returns 1 (go on) when collecting, else 0 (stop with the error). */
static int sink_keep(Sink *s, const LwError *e) {
    if (!s) return 0;
    s->fn(s->ud, e->msg);
    s->n++;
    return 1;
}

/* Fails with "<at>: section.key: <what>". */
static int key_fail(LwError *e, int code, const Where *w, const CfgKey *k, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int key_fail(LwError *e, int code, const Where *w, const CfgKey *k, const char *fmt, ...) {
    char what[400], name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lw_fail(e, code, "%s: %s: %s", w->at, key_name(k, name, sizeof name), what);
}

/* Lexically normalises an absolute or relative path: drops "." and empty segments, folds "dir/..". */
static void path_normalize(char *p) {
    int abs = p[0] == '/';
    char *seg[512];
    int nseg = 0;
    char tmp[CFG_PATH_MAX * 2];
    snprintf(tmp, sizeof tmp, "%s", p);
    for (char *save = NULL, *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0) continue;
        if (strcmp(t, "..") == 0) {
            if (nseg > 0 && strcmp(seg[nseg - 1], "..") != 0) {
                nseg--;
                continue;
            }
            if (abs) continue; /* "/.." is "/" */
        }
        if (nseg < (int)LW_ARRAY_LEN(seg)) seg[nseg++] = t;
    }
    size_t j = 0, cap = strlen(p) + 2;
    char *out = lw_malloc(cap + 2);
    if (abs) out[j++] = '/';
    for (int i = 0; i < nseg; i++) {
        size_t l = strlen(seg[i]);
        if (i > 0) out[j++] = '/';
        memcpy(out + j, seg[i], l);
        j += l;
    }
    if (j == 0) out[j++] = '.';
    out[j] = 0;
    memcpy(p, out, j + 1); /* never longer than the input */
    free(out);
}

/* Resolves p against dir (absolute, or "" = leave relative paths as given) into out. Returns 0, or -1 if the
 * result does not fit. */
static int path_resolve(char *out, size_t n, const char *dir, const char *p) {
    char buf[CFG_PATH_MAX * 2];
    if (!*p) {
        out[0] = 0;
        return 0;
    }
    int w;
    if (p[0] == '/' || !*dir)
        w = snprintf(buf, sizeof buf, "%s", p);
    else
        w = snprintf(buf, sizeof buf, "%s/%s", dir, p);
    if (w < 0 || (size_t)w >= sizeof buf) return -1;
    path_normalize(buf);
    if (strlen(buf) >= n) return -1;
    set_str(out, n, buf);
    return 0;
}

/* finetune.tsv_columns: "" or a comma list naming label and text exactly once each. */
static int cfg_check_tsv_columns(const char *s, char *why, size_t n) {
    if (!*s) return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int n_label = 0, n_text = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t l = strlen(t);
        while (l > 0 && t[l - 1] == ' ') t[--l] = 0;
        n_label += !strcmp(t, "label");
        n_text += !strcmp(t, "text");
    }
    if (n_label != 1 || n_text != 1) {
        snprintf(why, n, "must name the columns label and text once each (e.g. label,text), got '%.60s'", s);
        return -1;
    }
    return 0;
}

static int cfg_check_lora_targets(const char *s, char *why, size_t n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t l = strlen(t);
        while (l > 0 && t[l - 1] == ' ') t[--l] = 0;
        int ok = 0;
        for (int i = 0; lora_target_names[i]; i++) ok |= strcmp(t, lora_target_names[i]) == 0;
        if (!ok) {
            snprintf(why, n, "unknown LoRA target '%.40s' (valid: attn, proj, fc, head)", t);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Presets and derived values                                                                                    */

int cfg_model_preset(const char *name, ModelCfg *m) {
    static const struct {
        const char *name;
        int n_layer, n_head, d_model, context_length, vocab_size;
        float dropout;
    } presets[] = {
        {"tiny", 4, 4, 128, 64, 1024, 0.0f},
        {"gpt2-small", 12, 12, 768, 1024, 50257, 0.1f},
        {"gpt2-medium", 24, 16, 1024, 1024, 50257, 0.1f},
        {"gpt2-large", 36, 20, 1280, 1024, 50257, 0.1f},
        {"gpt2-xl", 48, 25, 1600, 1024, 50257, 0.1f},
    };
    for (size_t i = 0; i < LW_ARRAY_LEN(presets); i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        set_str(m->preset, sizeof m->preset, name);
        m->n_layer = presets[i].n_layer;
        m->n_head = presets[i].n_head;
        m->d_model = presets[i].d_model;
        m->context_length = presets[i].context_length;
        m->vocab_size = presets[i].vocab_size;
        m->dropout = presets[i].dropout;
        m->qkv_bias = 0;
        m->tie_embeddings = 1;
        return 0;
    }
    return -1;
}

/* The model.vocab_size the tokenizer implies. */
static int derived_vocab(const Config *c) {
    switch (c->tokenizer.kind) {
    case TOK_GPT2: return 50257;
    case TOK_BYTES: return 257;
    default: return c->tokenizer.vocab_size;
    }
}

/* One layer of settings (a file, or one --set): tracks what it set so derived values can follow. */
typedef struct Layer {
    char dir[CFG_PATH_MAX]; /* absolute directory that relative paths resolve against; "" = leave them as given */
    int from_file;     /* a YAML file (else a --set) */
    int follows;       /* model.vocab_size equalled the derived value before this layer */
    int set_vocab, set_preset, set_name, set_layer_norm;
} Layer;

static void layer_begin(Layer *L, const Config *c) {
    L->follows = c->model.vocab_size == derived_vocab(c);
    L->set_vocab = L->set_preset = L->set_name = L->set_layer_norm = 0;
}

/* After a layer: model.vocab_size follows the tokenizer unless this layer set it; the GPT-2 tokenizer directory
 * defaults to <config dir>/../corpora/gpt2 (or ./corpora/gpt2 with no config file). */
static void layer_end(Layer *L, Config *c) {
    /* model.norm, the old name of model.layer_norm, meant encdec's only; checkpoints written before hold both
     * keys (layer_norm auto), so it counts where this layer left model.layer_norm unset or auto */
    if (c->model.old_norm != NORM_AUTO) {
        if (!strcmp(c->model.arch, "encdec") && (!L->set_layer_norm || c->model.layer_norm == NORM_AUTO))
            c->model.layer_norm = c->model.old_norm;
        c->model.old_norm = NORM_AUTO;
    }
    if (!L->set_vocab && (L->follows || L->set_preset)) c->model.vocab_size = derived_vocab(c);
    if (c->tokenizer.kind == TOK_GPT2 && !c->tokenizer.path[0]) {
        char guess[CFG_PATH_MAX], dir[CFG_PATH_MAX], *real = NULL;
        const char *rel = "../corpora/gpt2";
        if (L->from_file) {
            snprintf(dir, sizeof dir, "%s", L->dir);
        } else if (c->source[0]) { /* --set on a loaded config: next to that config */
            lw_dirname(dir, sizeof dir, c->source);
            real = realpath(dir, NULL);
            if (real) snprintf(dir, sizeof dir, "%s", real);
        } else { /* --set on the defaults: the cwd, like the default data path */
            snprintf(dir, sizeof dir, "%s", L->dir);
            rel = "corpora/gpt2";
        }
        free(real);
        if (path_resolve(guess, sizeof guess, dir, rel) == 0 && lw_is_dir(guess))
            set_str(c->tokenizer.path, sizeof c->tokenizer.path, guess);
    }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* The setter: one value (text, or a list of texts) into one row. Shared by defaults, YAML and --set.            */

static int parse_bool(const char *s, int *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

static const char *enum_list(const CfgKey *k, char *buf, size_t n) {
    size_t j = 0;
    buf[0] = 0;
    for (int i = 0; k->names[i] && j < n; i++)
        j += (size_t)snprintf(buf + j, n - j, "%s%s", i ? ", " : "", k->names[i]);
    return buf;
}

static int cfg_apply_scalar(Config *c, const CfgKey *k, const char *s, Layer *L, const Where *w, LwError *e) {
    char shown[64];
    void *p = field_ptr(c, k->off);
    if (strlen(s) > 4096) return key_fail(e, LW_ERR_PARSE, w, k, "value too long");
    switch (k->type) {
    case CFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || end == s || isspace((unsigned char)*s))
            return key_fail(e, LW_ERR_PARSE, w, k, "expected an integer, got %s",
                            *s ? show_value(s, shown, sizeof shown) : "nothing");
        if (errno == ERANGE || v < (long long)k->min || v > (long long)k->max)
            return key_fail(e, LW_ERR_INVALID, w, k, "must be between %.0f and %.0f, got %s", k->min, k->max,
                            show_value(s, shown, sizeof shown));
        *(int *)p = (int)v;
        break;
    }
    case CFG_U64: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!isdigit((unsigned char)*s) || *end)
            return key_fail(e, LW_ERR_PARSE, w, k, "expected a non-negative integer, got %s",
                            *s ? show_value(s, shown, sizeof shown) : "nothing");
        if (errno == ERANGE)
            return key_fail(e, LW_ERR_INVALID, w, k, "must be between 0 and %" PRIu64 ", got %s", UINT64_MAX,
                            show_value(s, shown, sizeof shown));
        *(uint64_t *)p = (uint64_t)v;
        break;
    }
    case CFG_FLOAT: {
        char *end;
        float v = strtof(s, &end);
        int hexish = strchr(s, 'x') || strchr(s, 'X');
        if (!*s || *end || end == s || isspace((unsigned char)*s) || hexish || !isfinite(v))
            return key_fail(e, LW_ERR_PARSE, w, k, "expected a number, got %s",
                            *s ? show_value(s, shown, sizeof shown) : "nothing");
        if (v < k->min || v > k->max)
            return key_fail(e, LW_ERR_INVALID, w, k, "must be between %g and %g, got %s", k->min, k->max,
                            show_value(s, shown, sizeof shown));
        *(float *)p = v;
        break;
    }
    case CFG_BOOL: {
        int v;
        if (parse_bool(s, &v) != 0)
            return key_fail(e, LW_ERR_PARSE, w, k, "expected true or false, got %s",
                            *s ? show_value(s, shown, sizeof shown) : "nothing");
        *(int *)p = v;
        break;
    }
    case CFG_STRING:
        if (strlen(s) >= k->size)
            return key_fail(e, LW_ERR_INVALID, w, k, "too long (at most %zu bytes)", k->size - 1);
        if (k->check) {
            char why[200];
            if (k->check(s, why, sizeof why) != 0) return key_fail(e, LW_ERR_INVALID, w, k, "%s", why);
        }
        set_str(p, k->size, s);
        break;
    case CFG_PATH:
        if (k->off == CFG_NOT_STORED) break; /* base: handled by the loader */
        if (path_resolve(p, k->size, L->dir, s) != 0)
            return key_fail(e, LW_ERR_INVALID, w, k, "path too long (at most %zu bytes)", k->size - 1);
        break;
    case CFG_ENUM: {
        int idx = -1;
        for (int i = 0; k->names[i]; i++)
            if (strcmp(k->names[i], s) == 0) idx = i;
        if (idx < 0 && !(k->size && !*s && !*k->def)) {
            char list[200];
            return key_fail(e, LW_ERR_INVALID, w, k, "%s is not one of: %s",
                            *s ? show_value(s, shown, sizeof shown) : "nothing", enum_list(k, list, sizeof list));
        }
        if (k->size)
            set_str(p, k->size, s);
        else
            *(int *)p = idx;
        if (k->off == OFF(model.preset) && *s) {
            cfg_model_preset(s, &c->model);
            L->set_preset = 1;
        }
        break;
    }
    default: LW_ASSERT(!"scalar setter called on a list key");
    }
    if (k->off == OFF(model.vocab_size)) L->set_vocab = 1;
    if (k->off == OFF(name)) L->set_name = 1;
    if (k->off == OFF(model.layer_norm)) L->set_layer_norm = 1;
    return 0;
}

static int cfg_apply_list(Config *c, const CfgKey *k, const char *const *items, int n, Layer *L, const Where *w,
                          LwError *e) {
    LW_ASSERT(k->max_items < CFG_MAX_DATA + CFG_MAX_LABELS + 1); /* callers' item arrays */
    if (n > k->max_items) return key_fail(e, LW_ERR_INVALID, w, k, "at most %d entries, got %d", k->max_items, n);
    int *count = field_ptr(c, k->count_off);
    char *base = field_ptr(c, k->off);
    memset(base, 0, k->size * (size_t)k->max_items);
    for (int i = 0; i < n; i++) {
        char *dst = base + k->size * (size_t)i, shown[64];
        if (!*items[i]) return key_fail(e, LW_ERR_INVALID, w, k, "entry %d is empty", i + 1);
        if (k->type == CFG_PATH_LIST) {
            if (path_resolve(dst, k->size, L->dir, items[i]) != 0)
                return key_fail(e, LW_ERR_INVALID, w, k, "path too long (at most %zu bytes)", k->size - 1);
        } else {
            if (strlen(items[i]) >= k->size)
                return key_fail(e, LW_ERR_INVALID, w, k, "entry %s too long (at most %zu bytes)",
                                show_value(items[i], shown, sizeof shown), k->size - 1);
            for (int j = 0; j < i; j++)
                if (strcmp(base + k->size * (size_t)j, items[i]) == 0)
                    return key_fail(e, LW_ERR_INVALID, w, k, "duplicate entry %s",
                                    show_value(items[i], shown, sizeof shown));
            set_str(dst, k->size, items[i]);
        }
    }
    *count = n;
    return 0;
}

/* Splits a comma list (trimming spaces) into at most max items pointing into buf (modified). */
static int split_commas(char *buf, const char **items, int max) {
    int n = 0;
    if (!*buf) return 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        while (*p == ' ') p++;
        size_t l = strlen(p);
        while (l > 0 && p[l - 1] == ' ') p[--l] = 0;
        if (n < max) items[n] = p;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

static int is_list(const CfgKey *k) { return k->type == CFG_STRING_LIST || k->type == CFG_PATH_LIST; }

void cfg_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    Layer L = {0};
    Where w;
    snprintf(w.at, sizeof w.at, "(defaults)");
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++) {
        const CfgKey *k = &cfg_keys[i];
        if (k->off == CFG_NOT_STORED) continue;
        int rc;
        if (is_list(k)) {
            char buf[CFG_PATH_MAX];
            const char *items[CFG_MAX_DATA + CFG_MAX_LABELS];
            snprintf(buf, sizeof buf, "%s", k->def);
            int n = split_commas(buf, items, (int)LW_ARRAY_LEN(items));
            rc = cfg_apply_list(c, k, items, n, &L, &w, NULL);
        } else {
            rc = cfg_apply_scalar(c, k, k->def, &L, &w, NULL);
        }
        LW_ASSERT(rc == 0); /* a bad default in the table is a programming error */
    }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Unknown keys: the nearest valid name                                                                          */

static void suggest_key(const char *section, const char *key, char *out, size_t n) {
    out[0] = 0;
    for (size_t i = 0; i < LW_ARRAY_LEN(key_aliases); i++)
        if (strcasecmp(key, key_aliases[i][0]) == 0) {
            const char *target = key_aliases[i][1], *dot = strchr(target, '.');
            size_t sl = strlen(section);
            if (sl && strncmp(target, section, sl) == 0 && target[sl] == '.') target = dot + 1; /* same section */
            snprintf(out, n, " (did you mean '%s'?)", target);
            return;
        }
    const char *best = NULL;
    const CfgKey *best_row = NULL;
    int bestd = 99;
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++) {
        if (strcmp(cfg_keys[i].section, section) != 0) continue;
        int d = edit_distance(key, cfg_keys[i].key);
        if (d < bestd) bestd = d, best = cfg_keys[i].key;
    }
    if (!*section)
        for (int i = 0; section_names[i]; i++) {
            int d = edit_distance(key, section_names[i]);
            if (d < bestd) bestd = d, best = section_names[i];
        }
    int len = (int)strlen(key);
    if (best && bestd <= LW_MAX(2, len / 3)) {
        snprintf(out, n, " (did you mean '%s'?)", best);
        return;
    }
    /* The key exists in another section: say where it belongs. */
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++) {
        int d = edit_distance(key, cfg_keys[i].key);
        if (d <= LW_MAX(1, len / 4) && d < bestd) bestd = d, best_row = &cfg_keys[i];
    }
    if (best_row) {
        snprintf(out, n, " (did you mean '%s.%s'?)", best_row->section, best_row->key);
        return;
    }
    /* Nothing close: list the valid names. */
    size_t j = (size_t)snprintf(out, n, " (valid: ");
    int first = 1;
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys) && j < n; i++) {
        if (strcmp(cfg_keys[i].section, section) != 0 || cfg_keys[i].old_name) continue;
        j += (size_t)snprintf(out + j, n - j, "%s%s", first ? "" : ", ", cfg_keys[i].key);
        first = 0;
    }
    if (!*section)
        for (int i = 0; section_names[i] && j < n; i++) j += (size_t)snprintf(out + j, n - j, ", %s", section_names[i]);
    if (j < n) snprintf(out + j, n - j, ")");
}

/* ------------------------------------------------------------------------------------------------------------ */
/* YAML                                                                                                          */

#define CFG_MAX_DEPTH 8
#define CFG_MAX_FILE (1 << 20)
/* Bounds checked on libyaml's event stream before a document is built: libyaml's scanner is quadratic in the
 * nesting depth (100,000 '[' take minutes), and a config is 3 levels deep with a few dozen nodes. */
#define CFG_MAX_NESTING 16
#define CFG_MAX_NODES 10000

typedef struct Loader {
    yaml_document_t *doc;
    const char *file;
    Layer layer;
    LwError *e;
    Sink *sink;
} Loader;

static int load_file(Config *c, const char *path, const char *stack[], int depth, Sink *sink, LwError *e);

static Where at_node(const Loader *ld, const yaml_node_t *n) {
    Where w;
    where_mark(&w, ld->file, n->start_mark.line, n->start_mark.column);
    return w;
}

static const char *node_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

/* A scalar's text; a plain "~"/"null" or an empty plain value reads as "". Returns NULL for non-scalars or
 * scalars with NUL bytes. */
static const char *scalar_text(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) return NULL;
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) return NULL;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
        return "";
    return s;
}

static int is_null_node(const yaml_node_t *n) {
    const char *s = scalar_text(n);
    return s && !*s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int apply_node_(Config *c, Loader *ld, const CfgKey *k, const yaml_node_t *v, const Where *wp);

/* Applies one key's YAML value; remembers where it was set (for cfg_check's cross-field messages). */
static int apply_node(Config *c, Loader *ld, const CfgKey *k, const yaml_node_t *v) {
    Where w = at_node(ld, v);
    int rc = apply_node_(c, ld, k, v, &w);
    if (rc == 0 && ld->sink) ld->sink->pos[k - cfg_keys] = w;
    return rc;
}

static int apply_node_(Config *c, Loader *ld, const CfgKey *k, const yaml_node_t *v, const Where *wp) {
    Where w = *wp;
    if (is_list(k)) {
        const char *items[CFG_MAX_DATA + CFG_MAX_LABELS + 1];
        int n = 0;
        if (v->type == YAML_SCALAR_NODE) {
            const char *s = scalar_text(v);
            if (!s) return key_fail(ld->e, LW_ERR_PARSE, &w, k, "contains a NUL byte");
            if (*s || !is_null_node(v)) items[n++] = s;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
                const char *s = item ? scalar_text(item) : NULL;
                if (!s) {
                    Where wi = item ? at_node(ld, item) : w;
                    return key_fail(ld->e, LW_ERR_PARSE, &wi, k, "expected a list of strings, got %s in it",
                                    item ? node_kind(item) : "nothing");
                }
                if (n < (int)LW_ARRAY_LEN(items)) items[n] = s;
                n++;
            }
        } else {
            return key_fail(ld->e, LW_ERR_PARSE, &w, k, "expected a list or a single string, got a mapping");
        }
        return cfg_apply_list(c, k, items, n, &ld->layer, &w, ld->e);
    }
    const char *s = scalar_text(v);
    if (!s)
        return key_fail(ld->e, LW_ERR_PARSE, &w, k,
                        v->type == YAML_SCALAR_NODE ? "contains a NUL byte" : "expected a single value, got %s",
                        node_kind(v));
    return cfg_apply_scalar(c, k, s, &ld->layer, &w, ld->e);
}

/* A mapping key's text, or NULL when the key is not a scalar (reported by check_mapping_keys). */
static const char *pair_key(const Loader *ld, const yaml_node_pair_t *p) {
    yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
    return kn ? scalar_text(kn) : NULL;
}

/* Checks a mapping's keys are scalars and unique; returns 0 or fails naming the offender (collecting: reports
 * each offender; the caller then skips keys that are not scalars). */
static int check_mapping_keys(Loader *ld, const yaml_node_t *map, const char *section) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
        const char *ks = kn ? scalar_text(kn) : NULL;
        if (!ks) {
            Where w = kn ? at_node(ld, kn) : (Where){"?"};
            int rc = lw_fail(ld->e, LW_ERR_PARSE, "%s: %s%skeys must be plain names, got %s", w.at, section,
                             *section ? ": " : "", kn ? node_kind(kn) : "nothing");
            if (!sink_keep(ld->sink, ld->e)) return rc;
            continue;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *kq = yaml_document_get_node(ld->doc, q->key);
            const char *qs = pair_key(ld, q);
            if (qs && strcmp(qs, ks) == 0) {
                Where w = at_node(ld, kn);
                int rc = lw_fail(ld->e, LW_ERR_PARSE, "%s: %s%s%s: duplicate key (first given on line %zu)", w.at,
                                 section, *section ? "." : "", ks, kq->start_mark.line + 1);
                if (!sink_keep(ld->sink, ld->e)) return rc;
                break;
            }
        }
    }
    return 0;
}

static int apply_section(Config *c, Loader *ld, const char *section, const yaml_node_t *map) {
    if (is_null_node(map)) return 0; /* "model:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE) {
        Where w = at_node(ld, map);
        return lw_fail(ld->e, LW_ERR_PARSE, "%s: %s: expected a mapping of keys (like '%s:' then indented "
                       "'key: value' lines), got %s", w.at, section, section, node_kind(map));
    }
    int rc = check_mapping_keys(ld, map, section);
    if (rc) return rc;
    /* Two passes so model.preset applies before the explicit model keys, whatever their order. */
    for (int pass = 0; pass < 2; pass++)
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
            yaml_node_t *vn = yaml_document_get_node(ld->doc, p->value);
            const char *ks = pair_key(ld, p);
            if (!ks) continue; /* reported above */
            const CfgKey *k = cfg_find(section, ks);
            int is_preset = k && k->off == OFF(model.preset);
            if ((pass == 0) != is_preset) continue;
            if (!k) {
                char hint[300], shown[64];
                Where w = at_node(ld, kn);
                suggest_key(section, ks, hint, sizeof hint);
                rc = lw_fail(ld->e, LW_ERR_PARSE, "%s: %s.%s: unknown key%s", w.at, section,
                             clean_name(ks, shown, sizeof shown), hint);
                if (!sink_keep(ld->sink, ld->e)) return rc;
                continue;
            }
            if ((rc = apply_node(c, ld, k, vn)) != 0 && !sink_keep(ld->sink, ld->e)) return rc;
        }
    return 0;
}

/* Finds the file a `base:` value names: a path (has '/' or ends in .yaml/.yml) relative to dir, or a preset name:
 * dir/<name>.yaml, else configs/<name>.yaml under the cwd. */
static int base_resolve(const char *dir, const char *v, char *out, size_t n, char *tried, size_t tn) {
    size_t l = strlen(v);
    int is_path = strchr(v, '/') || (l > 5 && strcmp(v + l - 5, ".yaml") == 0) ||
                  (l > 4 && strcmp(v + l - 4, ".yml") == 0);
    char name[CFG_PATH_MAX];
    snprintf(name, sizeof name, is_path ? "%s" : "%s.yaml", v);
    if (path_resolve(out, n, dir, name) != 0) return -1;
    snprintf(tried, tn, "%s", out);
    if (lw_file_exists(out) || is_path) return lw_file_exists(out) ? 0 : -1;
    char alt[CFG_PATH_MAX + 16];
    snprintf(alt, sizeof alt, "configs/%s", name);
    if (lw_file_exists(alt) && path_resolve(out, n, "", alt) == 0) return 0;
    return -1;
}

/* Line and column (1-based, in characters) of byte offset off in text. */
static void text_pos(const char *text, size_t off, size_t *line, size_t *col) {
    *line = 1, *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n')
            (*line)++, *col = 1;
        else if (((unsigned char)text[i] & 0xC0) != 0x80)
            (*col)++;
    }
}

/* A tab in the leading whitespace of some line up to last_line (1-based); fills its position. */
static int find_indent_tab(const char *text, size_t last_line, size_t *line, size_t *col) {
    size_t ln = 1;
    for (const char *p = text; *p && ln <= last_line; ln++) {
        const char *q = p;
        while (*q == ' ' || *q == '\t') {
            if (*q == '\t') {
                *line = ln, *col = (size_t)(q - p) + 1;
                return 1;
            }
            q++;
        }
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return 0;
}

/* Walks libyaml's event stream (no document is built) and fails at the first node nested deeper than
 * CFG_MAX_NESTING or beyond CFG_MAX_NODES nodes, so the document loader never does the quadratic work. A syntax
 * error is left to the loader, which reports it with its context. */
static int yaml_check_shape(const char *file, const char *text, size_t len, LwError *e) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return lw_fail(e, LW_ERR_NOMEM, "%s: cannot start the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0, depth = 0;
    long nodes = 0;
    for (int done = 0; !done && !rc;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > CFG_MAX_NESTING)
                rc = lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: nested more than %d levels deep (a config needs 3: "
                             "section, key, list)", file, ev.start_mark.line + 1, ev.start_mark.column + 1,
                             CFG_MAX_NESTING);
            /* fall through */
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (!rc && ++nodes > CFG_MAX_NODES)
                rc = lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: more than %d YAML nodes (a config has a few dozen)", file,
                             ev.start_mark.line + 1, ev.start_mark.column + 1, CFG_MAX_NODES);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Parses text (file's contents) and applies it onto c. With a sink, errors in keys are reported and skipped;
 * the return value is then nonzero only for an error that ends this file (syntax, empty, not a mapping), which
 * the caller reports. */
static int load_text(Config *c, const char *file, const char *text, size_t len, const char *stack[], int depth,
                     Sink *sink, LwError *e) {
    size_t bad, line, col;
    if (!lw_utf8_valid((const unsigned char *)text, len, &bad)) {
        text_pos(text, bad, &line, &col);
        return lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: not valid UTF-8 (byte 0x%02x); save the file as UTF-8", file,
                       line, col, (unsigned char)text[bad]);
    }
    if (strlen(text) != len) {
        text_pos(text, strlen(text), &line, &col);
        return lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: NUL byte in the file", file, line, col);
    }
    int shape = yaml_check_shape(file, text, len, e);
    if (shape) return shape;

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return lw_fail(e, LW_ERR_NOMEM, "%s: cannot start the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        size_t pl = parser.problem_mark.line + 1, pc = parser.problem_mark.column + 1;
        int rc;
        if (find_indent_tab(text, pl, &line, &col))
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: tabs are not allowed in indentation; indent with spaces",
                         file, line, col);
        else if (parser.context)
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: YAML syntax error: %s (%s at line %zu, column %zu)", file, pl,
                         pc, parser.problem ? parser.problem : "error", parser.context,
                         parser.context_mark.line + 1, parser.context_mark.column + 1);
        else
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: YAML syntax error: %s", file, pl, pc,
                         parser.problem ? parser.problem : "error");
        yaml_parser_delete(&parser);
        return rc;
    }

    Loader ld = {.doc = &doc, .file = file, .e = e, .sink = sink};
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null_node(root)) {
        rc = lw_fail(e, LW_ERR_PARSE, "%s:1:1: the file is empty (expected sections such as 'model:' and 'train:')",
                     file);
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        Where w = at_node(&ld, root);
        rc = lw_fail(e, LW_ERR_PARSE, "%s: the top level must be a mapping of sections (model:, train:, ...), got %s",
                     w.at, node_kind(root));
        goto done;
    }
    {
        yaml_document_t next;
        if (yaml_parser_load(&parser, &next)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2) {
                Where w = at_node(&ld, r2);
                rc = lw_fail(e, LW_ERR_PARSE, "%s: a second YAML document ('---'); a config holds one", w.at);
            }
            yaml_document_delete(&next);
            if (rc) goto done;
        } else {
            rc = lw_fail(e, LW_ERR_PARSE, "%s:%zu:%zu: YAML syntax error: %s", file,
                         parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "error");
            goto done;
        }
    }
    if ((rc = check_mapping_keys(&ld, root, "")) != 0) goto done;

    /* The directory relative paths resolve against, made absolute so stored paths work from anywhere. */
    {
        char d[CFG_PATH_MAX], *real;
        lw_dirname(d, sizeof d, file);
        real = realpath(d, NULL);
        set_str(ld.layer.dir, sizeof ld.layer.dir, real ? real : d);
        free(real);
    }

    /* base: first, into c, before this file's keys. */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        const char *ks = pair_key(&ld, p);
        if (!ks || strcmp(ks, "base") != 0) continue;
        const char *v = scalar_text(vn);
        Where w = at_node(&ld, vn);
        char bpath[CFG_PATH_MAX], tried[CFG_PATH_MAX], shown[64];
        if (!v || !*v) {
            rc = lw_fail(e, LW_ERR_PARSE, "%s: base: expected a preset name or a path, got %s", w.at,
                         v ? "nothing" : node_kind(vn));
            if (sink_keep(sink, e)) { rc = 0; continue; }
            goto done;
        }
        if (base_resolve(ld.layer.dir, v, bpath, sizeof bpath, tried, sizeof tried) != 0) {
            rc = lw_fail(e, LW_ERR_IO, "%s: base: no such preset or file %s (looked for %s)", w.at,
                         show_value(v, shown, sizeof shown), tried);
            if (sink_keep(sink, e)) { rc = 0; continue; }
            goto done;
        }
        char *real = realpath(bpath, NULL);
        for (int i = 0; real && i < depth; i++)
            if (strcmp(stack[i], real) == 0) {
                rc = lw_fail(e, LW_ERR_INVALID, "%s: base: cycle: %s is already being loaded (it is a base of "
                             "itself)", w.at, bpath);
                break;
            }
        if (!rc && depth >= CFG_MAX_DEPTH)
            rc = lw_fail(e, LW_ERR_INVALID, "%s: base: more than %d levels of base files", w.at, CFG_MAX_DEPTH);
        if (rc && sink_keep(sink, e)) rc = 0; /* the cycle or depth reported; the base is not loaded */
        else if (!rc) {
            stack[depth] = real ? real : bpath;
            rc = load_file(c, bpath, stack, depth + 1, sink, e); /* collecting: reports its own errors, returns 0 */
            stack[depth] = NULL;
        }
        free(real);
        if (rc) goto done;
    }

    layer_begin(&ld.layer, c);
    ld.layer.from_file = 1;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key), *vn = yaml_document_get_node(&doc, p->value);
        const char *ks = pair_key(&ld, p);
        if (!ks || strcmp(ks, "base") == 0) continue;
        if (section_is_known(ks)) {
            if ((rc = apply_section(c, &ld, ks, vn)) != 0) {
                if (!sink_keep(sink, e)) goto done;
                rc = 0;
            }
            continue;
        }
        const CfgKey *k = cfg_find("", ks);
        if (!k) {
            char hint[300], shown[64];
            Where w = at_node(&ld, kn);
            suggest_key("", ks, hint, sizeof hint);
            const CfgKey *elsewhere = NULL;
            for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys) && !elsewhere; i++)
                if (strcmp(cfg_keys[i].key, ks) == 0) elsewhere = &cfg_keys[i];
            clean_name(ks, shown, sizeof shown);
            if (elsewhere)
                rc = lw_fail(e, LW_ERR_PARSE, "%s: %s: unknown section; '%s' belongs under '%s:' (did you mean "
                             "'%s.%s'?)", w.at, shown, shown, elsewhere->section, elsewhere->section, shown);
            else
                rc = lw_fail(e, LW_ERR_PARSE, "%s: %s: unknown section%s", w.at, shown, hint);
            if (!sink_keep(sink, e)) goto done;
            rc = 0;
            continue;
        }
        if ((rc = apply_node(c, &ld, k, vn)) != 0) {
            if (!sink_keep(sink, e)) goto done;
            rc = 0;
        }
    }
    layer_end(&ld.layer, c);
    if (depth == 1) { /* the file cfg_load was given, not a base */
        if (!ld.layer.set_name) {
            const char *b = strrchr(file, '/');
            b = b ? b + 1 : file;
            char nm[sizeof c->name];
            snprintf(nm, sizeof nm, "%s", b);
            char *dot = strrchr(nm, '.');
            if (dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0)) *dot = 0;
            set_str(c->name, sizeof c->name, nm);
        }
        set_str(c->source, sizeof c->source, file);
    }
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* With a sink, every error (this file's or its bases') is reported there and 0 is returned. */
static int load_file(Config *c, const char *path, const char *stack[], int depth, Sink *sink, LwError *e) {
    struct stat st;
    int rc;
    if (stat(path, &st) != 0)
        rc = lw_fail(e, LW_ERR_IO, "%s: %s", path, lw_file_problem(path));
    else if (!S_ISREG(st.st_mode))
        rc = lw_fail(e, LW_ERR_IO, "%s: %s, not a config file", path, lw_file_problem(path));
    else if (st.st_size > CFG_MAX_FILE)
        rc = lw_fail(e, LW_ERR_INVALID, "%s: too large for a config (%lld bytes)", path, (long long)st.st_size);
    else {
        char *text;
        size_t len;
        rc = lw_read_file(path, &text, &len, e);
        if (!rc) {
            rc = load_text(c, path, text, len, stack, depth, sink, e);
            free(text);
        }
    }
    if (rc && sink_keep(sink, e)) rc = 0, sink->unreadable = 1;
    return rc;
}

/* cfg_load and cfg_load_text: defaults, then the file; c changes only on success. */
static int load_top(Config *c, const char *path, const char *text, size_t len, Sink *sink, LwError *e) {
    Config *tmp = lw_malloc(sizeof *tmp);
    cfg_defaults(tmp);
    const char *stack[CFG_MAX_DEPTH + 1] = {0};
    char *real = realpath(path, NULL);
    stack[0] = real ? real : path;
    int rc = text ? load_text(tmp, path, text, len, stack, 1, sink, e) /* depth = files on the stack */
                  : load_file(tmp, path, stack, 1, sink, e);
    if (rc && text && sink_keep(sink, e)) rc = 0;
    free(real);
    if (rc == 0) memcpy(c, tmp, sizeof *c);
    free(tmp);
    return rc;
}

int cfg_load(Config *c, const char *path, LwError *e) { return load_top(c, path, NULL, 0, NULL, e); }

int cfg_load_text(Config *c, const char *name, const char *text, size_t len, LwError *e) {
    if (len > CFG_MAX_FILE)
        return lw_fail(e, LW_ERR_INVALID, "%s: too large for a config (%zu bytes)", name, len);
    char *copy = lw_malloc(len + 1); /* the loader wants the NUL after the text */
    memcpy(copy, text, len);
    copy[len] = 0;
    int rc = load_top(c, name, copy, len, NULL, e);
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* --set                                                                                                         */

static int set_one(Config *c, const char *assignment, Sink *sink, LwError *e);

int cfg_set(Config *c, const char *assignment, LwError *e) { return set_one(c, assignment, NULL, e); }

static int set_one(Config *c, const char *assignment, Sink *sink, LwError *e) {
    Where w;
    snprintf(w.at, sizeof w.at, "--set '%.200s'", assignment);
    const char *eq = strchr(assignment, '=');
    if (!eq) return lw_fail(e, LW_ERR_PARSE, "%s: expected section.key=value", w.at);
    char name[128], section[64] = "", value[4096];
    size_t nl = (size_t)(eq - assignment);
    while (nl > 0 && assignment[nl - 1] == ' ') nl--;
    if (nl >= sizeof name) return lw_fail(e, LW_ERR_PARSE, "%s: key too long", w.at);
    memcpy(name, assignment, nl);
    name[nl] = 0;
    const char *v = eq + 1;
    while (*v == ' ') v++;
    snprintf(value, sizeof value, "%s", v);
    for (size_t l = strlen(value); l > 0 && value[l - 1] == ' ';) value[--l] = 0;

    const char *key = name, *dot = strchr(name, '.');
    if (dot) {
        if ((size_t)(dot - name) >= sizeof section) return lw_fail(e, LW_ERR_PARSE, "%s: unknown section", w.at);
        memcpy(section, name, (size_t)(dot - name));
        section[dot - name] = 0;
        key = dot + 1;
        if (!section_is_known(section)) {
            char hint[300];
            suggest_key("", section, hint, sizeof hint);
            return lw_fail(e, LW_ERR_PARSE, "%s: %s: unknown section%s", w.at, section, hint);
        }
    }
    const CfgKey *k = cfg_find(section, key);
    if (k && k->off == CFG_NOT_STORED)
        return lw_fail(e, LW_ERR_INVALID, "%s: %s: cannot be changed with --set; use -c FILE", w.at, name);
    if (!k) {
        char hint[300];
        suggest_key(section, key, hint, sizeof hint);
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: unknown key%s", w.at, name, hint);
    }

    Config *tmp = lw_malloc(sizeof *tmp);
    memcpy(tmp, c, sizeof *tmp);
    Layer L = {0};
    if (!getcwd(L.dir, sizeof L.dir)) L.dir[0] = 0;
    layer_begin(&L, tmp);
    int rc;
    if (is_list(k)) {
        /* "a,b" or "[a, b]" */
        char *s = value;
        size_t l = strlen(s);
        if (l >= 2 && s[0] == '[' && s[l - 1] == ']') s[l - 1] = 0, s++;
        const char *items[CFG_MAX_DATA + CFG_MAX_LABELS + 1];
        int n = split_commas(s, items, (int)LW_ARRAY_LEN(items));
        for (int i = 0; i < n && i < (int)LW_ARRAY_LEN(items); i++) {
            size_t il = strlen(items[i]);
            if (il >= 2 && (items[i][0] == '"' || items[i][0] == '\'') && items[i][il - 1] == items[i][0]) {
                ((char *)items[i])[il - 1] = 0;
                items[i]++;
            }
        }
        rc = cfg_apply_list(tmp, k, items, n, &L, &w, e); /* n > max_items fails before items are read */
    } else {
        /* one pair of matching quotes around the whole value is shell-style quoting, not part of it */
        char *s = value;
        size_t l = strlen(s);
        if (l >= 2 && (s[0] == '"' || s[0] == '\'') && s[l - 1] == s[0]) s[l - 1] = 0, s++;
        rc = cfg_apply_scalar(tmp, k, s, &L, &w, e);
    }
    if (rc == 0) {
        layer_end(&L, tmp);
        memcpy(c, tmp, sizeof *c);
        if (sink) sink->pos[k - cfg_keys] = w;
    }
    free(tmp);
    return rc;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Cross-field checks                                                                                            */

/* One cross-field check's failure: "<where the key was set, else the config file>: section.key: <what>". Returns
 * nonzero when validation stops here (no sink), 0 when it goes on (collecting). */
typedef struct Check {
    const Config *c;
    Sink *sink;
    LwError *e;
    int rc;
} Check;

static int vfail(Check *v, int code, size_t key_off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int vfail(Check *v, int code, size_t key_off, const char *fmt, ...) {
    const CfgKey *k = NULL;
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys) && !k; i++)
        if (cfg_keys[i].off == key_off) k = &cfg_keys[i];
    LW_ASSERT(k);
    char what[1024], name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *at = v->c->source[0] ? v->c->source : "(defaults)";
    if (v->sink && v->sink->pos[k - cfg_keys].at[0]) at = v->sink->pos[k - cfg_keys].at;
    v->rc = lw_fail(v->e, code, "%s: %s: %s", at, key_name(k, name, sizeof name), what);
    return !sink_keep(v->sink, v->e);
}

static int validate(const Config *c, Sink *sink, LwError *e) {
    Check v = {c, sink, e, 0};
    const ModelCfg *m = &c->model;
    /* The task: train.task, or finetune.mode's for "auto" (tasks that are not a finetune.mode count as none). */
    FtMode mode = c->finetune.mode;
    if (c->train.task[0] && strcmp(c->train.task, "auto") != 0) {
        FtMode tm = FT_NONE;
        for (int i = 1; ft_mode_names[i]; i++)
            if (!strcmp(c->train.task, ft_mode_names[i])) tm = (FtMode)i;
        if (mode != FT_NONE && mode != tm &&
            vfail(&v, LW_ERR_INVALID, OFF(train.task), "%s contradicts finetune.mode %s (set one of them)",
                  c->train.task, ft_mode_names[mode]))
            return v.rc;
        mode = tm;
    }
    if (m->d_model % m->n_head != 0 &&
        vfail(&v, LW_ERR_INVALID, OFF(model.d_model), "%d is not divisible by model.n_head (%d)", m->d_model,
              m->n_head))
        return v.rc;
    if (c->data.window > m->context_length && mode == FT_NONE &&
        vfail(&v, LW_ERR_INVALID, OFF(data.window), "%d is longer than model.context_length (%d)", c->data.window,
              m->context_length))
        return v.rc;
    switch (c->tokenizer.kind) {
    case TOK_GPT2:
        if (m->vocab_size != 50257 &&
            vfail(&v, LW_ERR_INVALID, OFF(model.vocab_size), "must be 50257 for tokenizer.kind gpt2, got %d",
                  m->vocab_size))
            return v.rc;
        {
            char a[CFG_PATH_MAX + 16], b[CFG_PATH_MAX + 16];
            lw_path_join(a, sizeof a, c->tokenizer.path, "encoder.json");
            lw_path_join(b, sizeof b, c->tokenizer.path, "vocab.bpe");
            const char *pa = lw_file_problem(a), *pb = lw_file_problem(b);
            if (!c->tokenizer.path[0] || (pa && pb)) {
                if (vfail(&v, LW_ERR_INVALID, OFF(tokenizer.path),
                          "no GPT-2 tokenizer files (encoder.json, vocab.bpe) in '%s'", c->tokenizer.path))
                    return v.rc;
            } else if ((pa || pb) && vfail(&v, LW_ERR_INVALID, OFF(tokenizer.path), "%s: %s", pa ? a : b,
                                           pa ? pa : pb)) {
                return v.rc;
            }
        }
        break;
    case TOK_BYTES:
        if (m->vocab_size < 257 &&
            vfail(&v, LW_ERR_INVALID, OFF(model.vocab_size), "must be at least 257 for tokenizer.kind bytes, got %d",
                  m->vocab_size))
            return v.rc;
        break;
    default:
        if (m->vocab_size < c->tokenizer.vocab_size &&
            vfail(&v, LW_ERR_INVALID, OFF(model.vocab_size), "%d is smaller than tokenizer.vocab_size (%d)",
                  m->vocab_size, c->tokenizer.vocab_size))
            return v.rc;
    }
    if (c->data.n_paths == 0 &&
        vfail(&v, LW_ERR_INVALID, OFF(data.paths), "no data files given%s",
              mode == FT_CLASSIFY   ? " (classify needs a TSV file: label<TAB>text)"
              : mode == FT_INSTRUCT ? " (instruct needs an Alpaca JSON or JSONL file)"
                                                : ""))
        return v.rc;
    for (int i = 0; i < c->data.n_paths; i++) {
        const char *why = lw_file_problem(c->data.paths[i]);
        if (!why) continue;
        if (!strcmp(why, "no such file") ? vfail(&v, LW_ERR_IO, OFF(data.paths), "no such file '%s'", c->data.paths[i])
                                          : vfail(&v, LW_ERR_IO, OFF(data.paths), "'%s' is %s, not a text file",
                                                  c->data.paths[i], why))
            return v.rc;
    }
    int mlm = !strcmp(c->train.task, "mlm"), bert = !strcmp(m->arch, "bert");
    if (m->attention == ATTN_BIDIRECTIONAL && !mlm &&
        vfail(&v, LW_ERR_INVALID, OFF(model.attention), "bidirectional needs train.task mlm (got %s): a model that "
              "sees the next token cannot learn to predict it", c->train.task))
        return v.rc;
    if (!strcmp(m->arch, "gpt") && m->layer_norm == NORM_POST &&
        vfail(&v, LW_ERR_INVALID, OFF(model.layer_norm), "post is for model.arch bert and encdec (GPT-2 is pre-LN)"))
        return v.rc;
    if (bert && !mlm && mode != FT_CLASSIFY &&
        vfail(&v, LW_ERR_INVALID, OFF(model.arch), "bert does not predict the next token: use train.task mlm or "
              "classify"))
        return v.rc;
    /* Finetuning reads a dataset, not prose: catch the default novel left in data.paths. */
    if (mode != FT_NONE && c->data.n_paths > 0) {
        const char *p = c->data.paths[0], *dot = strrchr(p, '.');
        int ok = mode == FT_CLASSIFY
                     ? c->finetune.tsv_columns[0] || (dot && (strcmp(dot, ".tsv") == 0 || strcmp(dot, ".csv") == 0))
                     : dot && (strcmp(dot, ".json") == 0 || strcmp(dot, ".jsonl") == 0);
        if (!ok && vfail(&v, LW_ERR_INVALID, OFF(data.paths), "finetune.mode %s needs %s as the first entry, got '%s'",
                         ft_mode_names[mode],
                         mode == FT_CLASSIFY
                             ? "a TSV file (label<TAB>text, .tsv; a file without a header and another name, like "
                               "SMSSpamCollection, needs finetune.tsv_columns: label,text)"
                             : "an Alpaca JSON or JSONL file (.json, .jsonl)",
                         p))
            return v.rc;
    }
    if (c->data.val_fraction + c->data.test_fraction >= 1.0f &&
        vfail(&v, LW_ERR_INVALID, OFF(data.test_fraction), "val_fraction + test_fraction must be below 1"))
        return v.rc;
    const TrainCfg *t = &c->train;
    if (t->steps == 0 && t->epochs <= 0.0f &&
        vfail(&v, LW_ERR_INVALID, OFF(train.steps), "0 steps and 0 epochs; set one of them"))
        return v.rc;
    if (t->min_lr > t->lr && vfail(&v, LW_ERR_INVALID, OFF(train.min_lr), "%g exceeds train.lr (%g)", t->min_lr, t->lr))
        return v.rc;
    const FinetuneCfg *f = &c->finetune;
    if (f->init_from[0] && !lw_is_dir(f->init_from)) {
        /* .../runs/NAME/latest not written yet: name the command that writes it when configs/NAME.yaml is here */
        const char *why = lw_file_problem(f->init_from);
        char run[CFG_PATH_MAX], cfgdir[CFG_PATH_MAX], pre[2 * CFG_PATH_MAX + 8] = "";
        const char *base = strrchr(f->init_from, '/');
        if (base && !strcmp(base + 1, "latest")) {
            lw_dirname(run, sizeof run, f->init_from);
            const char *name = strrchr(run, '/') ? strrchr(run, '/') + 1 : run;
            lw_dirname(cfgdir, sizeof cfgdir, c->source[0] ? c->source : "configs/x.yaml");
            snprintf(pre, sizeof pre, "%s/%s.yaml", cfgdir, name);
        }
        if (why && strcmp(why, "no such file")) {
            if (vfail(&v, LW_ERR_IO, OFF(finetune.init_from), "'%s' is %s, not a checkpoint directory", f->init_from,
                      why))
                return v.rc;
        } else if (pre[0] && lw_file_exists(pre)) {
            if (vfail(&v, LW_ERR_IO, OFF(finetune.init_from), "pretrain first: `llmwb train -c %.900s` (no checkpoint yet in %s)",
                      pre, f->init_from))
                return v.rc;
        } else if (vfail(&v, LW_ERR_IO, OFF(finetune.init_from), "no such checkpoint directory '%s': pretrain first "
                         "(`llmwb train -c CONFIG` writes runs/NAME/latest) or point it at a checkpoint", f->init_from))
            return v.rc;
    }
    if (mode != FT_NONE && f->trainable == FT_TRAIN_LAST_BLOCKS && f->train_last_blocks > m->n_layer &&
        vfail(&v, LW_ERR_INVALID, OFF(finetune.train_last_blocks), "%d exceeds model.n_layer (%d)",
              f->train_last_blocks, m->n_layer))
        return v.rc;
    if (mode == FT_CLASSIFY && f->n_labels == 1 &&
        vfail(&v, LW_ERR_INVALID, OFF(finetune.labels), "a classifier needs at least 2 labels"))
        return v.rc;
    if (f->lora_rank > m->d_model &&
        vfail(&v, LW_ERR_INVALID, OFF(finetune.lora_rank), "%d exceeds model.d_model (%d)", f->lora_rank, m->d_model))
        return v.rc;
    if (f->lora_rank > 0 && !f->lora_targets[0] &&
        vfail(&v, LW_ERR_INVALID, OFF(finetune.lora_targets), "empty while finetune.lora_rank is %d", f->lora_rank))
        return v.rc;
    return sink ? 0 : v.rc;
}

int cfg_validate(const Config *c, LwError *e) { return validate(c, NULL, e); }

int cfg_check(const char *path, const char *const *sets, int n_sets, CfgReportFn report, void *ud) {
    Sink sink = {report, ud, 0, 0, lw_calloc(LW_ARRAY_LEN(cfg_keys), sizeof(Where))};
    Config *c = lw_malloc(sizeof *c);
    LwError e = {0};
    if (path) {
        /* collecting, the load goes on past bad keys: c holds every value that could be set */
        load_top(c, path, NULL, 0, &sink, &e);
    } else {
        cfg_defaults(c);
    }
    for (int i = 0; i < n_sets; i++)
        if (set_one(c, sets[i], &sink, &e)) sink_keep(&sink, &e);
    if (!sink.unreadable) validate(c, &sink, &e); /* cross-field checks of half a config would mislead */
    free(c);
    free(sink.pos);
    return sink.n;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Dump and docs                                                                                                 */

static void yaml_quote(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Paths are written absolute so the dump reads back the same from any directory. */
static void dump_path(FILE *f, const char *p) {
    char abs[CFG_PATH_MAX * 2], cwd[CFG_PATH_MAX];
    if (p[0] && p[0] != '/' && getcwd(cwd, sizeof cwd) && path_resolve(abs, sizeof abs, cwd, p) == 0)
        yaml_quote(f, abs);
    else
        yaml_quote(f, p);
}

static void dump_value(FILE *f, const Config *c, const CfgKey *k) {
    const void *p = (const char *)c + k->off;
    switch (k->type) {
    case CFG_INT: fprintf(f, "%d", *(const int *)p); break;
    case CFG_U64: fprintf(f, "%" PRIu64, *(const uint64_t *)p); break;
    case CFG_FLOAT: { /* the shortest text that reads back to the same float */
        float v = *(const float *)p;
        char buf[32];
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
            if (strtof(buf, NULL) == v) break;
        }
        fputs(buf, f);
        break;
    }
    case CFG_BOOL: fputs(*(const int *)p ? "true" : "false", f); break;
    case CFG_STRING: yaml_quote(f, p); break;
    case CFG_PATH: dump_path(f, p); break;
    case CFG_ENUM:
        if (k->size)
            yaml_quote(f, p);
        else
            fputs(k->names[*(const int *)p], f);
        break;
    case CFG_STRING_LIST:
    case CFG_PATH_LIST: {
        int n = *(const int *)((const char *)c + k->count_off);
        fputc('[', f);
        for (int i = 0; i < n; i++) {
            const char *item = (const char *)p + k->size * (size_t)i;
            if (i) fputs(", ", f);
            if (k->type == CFG_PATH_LIST)
                dump_path(f, item);
            else
                yaml_quote(f, item);
        }
        fputc(']', f);
        break;
    }
    }
}

void cfg_dump(const Config *c, FILE *f) {
    fprintf(f, "# Effective llmwb config%s%s (every key; see docs/config.md).\n", c->source[0] ? " from " : "",
            c->source);
    for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++) {
        const CfgKey *k = &cfg_keys[i];
        if (*k->section || k->off == CFG_NOT_STORED) continue;
        fprintf(f, "%s: ", k->key);
        dump_value(f, c, k);
        fputc('\n', f);
    }
    for (int s = 0; section_names[s]; s++) {
        fprintf(f, "%s:\n", section_names[s]);
        for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++) {
            const CfgKey *k = &cfg_keys[i];
            if (strcmp(k->section, section_names[s]) != 0 || k->old_name) continue;
            fprintf(f, "  %s: ", k->key);
            dump_value(f, c, k);
            fputc('\n', f);
        }
    }
}

static const char *type_name(const CfgKey *k) {
    switch (k->type) {
    case CFG_INT: return "integer";
    case CFG_U64: return "integer (64-bit)";
    case CFG_FLOAT: return "number";
    case CFG_BOOL: return "boolean";
    case CFG_STRING: return "string";
    case CFG_PATH: return "path";
    case CFG_ENUM: return "one of";
    case CFG_STRING_LIST: return "list of strings";
    case CFG_PATH_LIST: return "list of paths";
    }
    return "?";
}

/* Markdown table cell text: '|' escaped, '<' and '>' as entities (help text mentions <|endoftext|>). */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else {
            if (*s == '|') fputc('\\', f);
            fputc(*s, f);
        }
    }
}

void cfg_write_docs(FILE *f) {
    fputs("# Configuration reference\n\n"
          "<!-- Generated by cfg_write_docs() from the schema table in src/config.c (`llmwb config --docs`). "
          "Do not edit by hand. -->\n\n"
          "A run is described by one YAML file, for example `configs/default.yaml`.\n"
          "It has a top-level `name`, an optional `base`, and the sections `model`, `tokenizer`, `data`, `train`, "
          "`finetune` and `probe`.\n"
          "Every key is optional: a key that is not given keeps its default (or the value from the base).\n"
          "`llmwb config --dump` prints the effective configuration with every key filled in.\n\n"
          "```yaml\n"
          "base: default          # start from configs/default.yaml\n"
          "name: bigger\n"
          "model:\n"
          "  n_layer: 6\n"
          "train:\n"
          "  lr: 1.0e-3\n"
          "```\n\n"
          "## Presets\n\n"
          "`model.preset` sets every model key at once.\n"
          "`tiny` is the default model (4 layers, 4 heads, width 128, context 64).\n"
          "`gpt2-small` is the book's GPT_CONFIG_124M: 12 layers, 12 heads, width 768, context 1024, vocabulary 50257, "
          "dropout 0.1, no QKV bias.\n"
          "`gpt2-medium` (24 layers, 16 heads, 1024), `gpt2-large` (36, 20, 1280) and `gpt2-xl` (48, 25, 1600) "
          "differ only in those sizes.\n"
          "Model keys written in the same file override the preset, whatever their order in the file.\n"
          "The directory `configs/` ships `default.yaml`, `gpt2-small.yaml`, `gpt2-medium.yaml`, `gpt2-large.yaml`, "
          "`gpt2-xl.yaml` and `tiny-words.yaml`.\n\n"
          "## Bases\n\n"
          "`base: NAME` loads `NAME.yaml` from the same directory as the file that names it (else "
          "`configs/NAME.yaml` under the current directory); `base: some/file.yaml` loads that path.\n"
          "The base is loaded first, then the file's own keys override it.\n"
          "A base may have its own base; a cycle is an error.\n"
          "`name` is not inherited: without a `name` key the run is named after the file loaded.\n\n"
          "## Paths\n\n"
          "Relative paths in a file are resolved against the directory of that file, not the current directory, "
          "and stored as absolute paths.\n"
          "So `configs/default.yaml` names its text as `../corpora/austen_prideprejudice.txt`.\n"
          "Paths given with `--set` are resolved against the current directory.\n\n"
          "## Overrides on the command line\n\n"
          "`--set section.key=value` changes one key after the file is loaded, with the same checks, "
          "e.g. `--set train.lr=1e-3`.\n"
          "Lists are written `a,b` or `[a, b]`.\n\n"
          "## The model vocabulary follows the tokenizer\n\n"
          "Unless `model.vocab_size` is set explicitly, it follows the tokenizer: `tokenizer.vocab_size` for `bpe` "
          "and `words`, 257 for `bytes`, 50257 for `gpt2`.\n"
          "With `tokenizer.kind: gpt2` it must be 50257.\n\n"
          "## Errors\n\n"
          "A config that cannot be used is rejected with one line naming the file, line, column and key, "
          "for example `configs/x.yaml:3:3: model.n_heads: unknown key (did you mean 'n_head'?)`.\n"
          "This covers unknown sections and keys (with the nearest valid name), values of the wrong type, values out "
          "of range (the message gives the range), values not among the allowed ones (the message lists them), YAML "
          "syntax errors, tabs used for indentation, duplicate keys, an empty file, bytes that are not UTF-8, a "
          "top level that is not a mapping, and YAML nested more than 16 levels deep or with more than 10000 nodes "
          "(refused before the YAML parser builds anything).\n"
          "After loading, cross-field checks reject, for example, a `d_model` not divisible by `n_head`, missing data "
          "files, a `gpt2` tokenizer with another vocabulary size, or a LoRA rank above `d_model`.\n"
          "Commands that run stop at the first error; `llmwb config -c FILE --check` reports every error it can find "
          "in one run, each on its own line (exit status 2), including those of `--set` overrides and of base files; "
          "a YAML syntax error ends the reading of its file.\n",
          f);
    for (int s = -1; s < 0 || section_names[s]; s++) {
        const char *sec = s < 0 ? "" : section_names[s];
        if (s < 0)
            fputs("\n## Top level\n\n", f);
        else
            fprintf(f, "\n## `%s`\n\n%s\n\n", sec, section_help[s]);
        fputs("| key | type | default | range / values | description |\n|---|---|---|---|---|\n", f);
        for (size_t i = 0; i < LW_ARRAY_LEN(cfg_keys); i++) {
            const CfgKey *k = &cfg_keys[i];
            if (strcmp(k->section, sec) != 0 || k->old_name) continue;
            char range[256] = "", def[300];
            switch (k->type) {
            case CFG_INT: snprintf(range, sizeof range, "%.0f to %.0f", k->min, k->max); break;
            case CFG_FLOAT: snprintf(range, sizeof range, "%g to %g", k->min, k->max); break;
            case CFG_U64: snprintf(range, sizeof range, "0 to 2^64-1"); break;
            case CFG_BOOL: snprintf(range, sizeof range, "`true`, `false`"); break;
            case CFG_ENUM: {
                size_t j = 0;
                for (int n = 0; k->names[n]; n++)
                    j += (size_t)snprintf(range + j, sizeof range - j, "%s`%s`", n ? ", " : "", k->names[n]);
                if (k->size && !*k->def) snprintf(range + j, sizeof range - j, ", or empty");
                break;
            }
            case CFG_STRING: snprintf(range, sizeof range, "up to %zu bytes", k->size - 1); break;
            case CFG_PATH:
            case CFG_STRING_LIST:
            case CFG_PATH_LIST:
                if (is_list(k)) snprintf(range, sizeof range, "up to %d entries", k->max_items);
                break;
            }
            if (is_list(k))
                snprintf(def, sizeof def, *k->def ? "`[%s]`" : "`[]`", k->def);
            else if (!*k->def)
                snprintf(def, sizeof def, "`\"\"`");
            else
                snprintf(def, sizeof def, "`%s`", k->def);
            fprintf(f, "| `%s` | %s | ", k->key, type_name(k));
            md_cell(f, def);
            fputs(" | ", f);
            md_cell(f, range);
            fputs(" | ", f);
            md_cell(f, k->help);
            fputs(" |\n", f);
        }
    }
}
