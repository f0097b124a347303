/* demo.c — the classroom demo: a fixed-seed run config, its stages (shown in the lesson panel) and the key
 * script that plays them through tui.c's script player; and `llmwb export`, which writes the loss curves and the
 * attention grid of a finished run as PNG and SVG. */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h" /* export_* (export.h, part of the public API) */

const char *const DEMO_STAGE_TITLES[DEMO_N_STAGES] = {
    "Stage 1: a tokenizer learns merges", "Stage 2: tokens become vectors", "Stage 3: pretraining a tiny GPT",
    "Stage 4: attention forms",           "Stage 5: talking to the model",  "Stage 6: finetuning a classifier",
    "Stage 7: the classifier answers",    "Stage 8: an encoder sees both ways",
    "Stage 9: an encoder fills blanks", "Stage 10: the original Transformer",
    "Stage 11: the translator answers"};

/* The stage texts are a lesson file: the panel code (lesson.c) draws them. Headings = DEMO_STAGE_TITLES. */
static const char DEMO_STAGES[] =
    "---\n"
    "title: llmwb demo (fixed seed)\n"
    "screen: tokenizer\n"
    "---\n"
    "## Stage 1: a tokenizer learns merges\n"
    "screen: tokenizer\n"
    "try: watch three single merges, then the run to the target vocabulary\n"
    "look for: the highlighted pair, the merge log, compression rising\n"
    "\n"
    "Byte-pair encoding starts from the 256 byte values and repeatedly glues together the most frequent "
    "neighbouring pair into a new token.\n"
    "\n"
    "Each merge shortens the text; the compression figure counts bytes per token.\n"
    "## Stage 2: tokens become vectors\n"
    "screen: embed\n"
    "try: read one token's three strips from left to right\n"
    "look for: token row + position row = the input of block 0\n"
    "\n"
    "Every id selects a row of the token-embedding table and every position a row of the position table; their "
    "sum is what the transformer blocks receive.\n"
    "\n"
    "The model has not trained yet: these rows are still random.\n"
    "## Stage 3: pretraining a tiny GPT\n"
    "screen: train\n"
    "try: watch the training run to its last step\n"
    "look for: the train curve falling, val (labelled) following it\n"
    "\n"
    "At every position the model predicts the next token; the loss is the cross-entropy of that guess.\n"
    "\n"
    "It starts near ln(vocabulary size), the score of a uniform guess, and falls as the model picks up "
    "spelling and common words.\n"
    "## Stage 4: attention forms\n"
    "screen: attention\n"
    "try: compare the first snapshot (step 0) with the trained heads\n"
    "look for: uniform rows at step 0, sharper patterns after training\n"
    "\n"
    "Each tile is one head: rows are queries, columns keys, the hatched upper triangle is the causal mask.\n"
    "\n"
    "At step 0 a token spreads its attention evenly over the past; after training heads specialise, for "
    "example on the previous token.\n"
    "## Stage 5: talking to the model\n"
    "screen: chat\n"
    "try: send the prompt and watch tokens stream in\n"
    "look for: the next-token probabilities beside the reply\n"
    "\n"
    "Generation repeats one step: score every token, pick one (temperature, top-k, top-p), append it, and go on.\n"
    "\n"
    "A model this small writes word-like text, not sense: it trained on one novel for a few hundred steps.\n"
    "## Stage 6: finetuning a classifier\n"
    "screen: train\n"
    "try: watch the loss and the accuracy as the classifier trains\n"
    "look for: accuracy rising above the naive-Bayes baseline (about 50%)\n"
    "\n"
    "The pretrained weights are saved and reopened with a classification head on the last token: is a "
    "sentence as written, or are its words shuffled?\n"
    "\n"
    "A bag of words cannot tell (the naive-Bayes baseline is a coin toss); only word order decides. The loss "
    "starts near ln 2 = 0.69.\n"
    "## Stage 7: the classifier answers\n"
    "screen: chat\n"
    "try: send a sentence as written, then the same words shuffled\n"
    "look for: the class probabilities beside the transcript\n"
    "\n"
    "The model reads the whole sentence and the head scores the two labels from its last token.\n"
    "\n"
    "Bigger runs: llmwb tui -c configs/finetune-word-order.yaml or finetune-instruct.yaml.\n"
    "## Stage 8: an encoder sees both ways\n"
    "screen: attention\n"
    "try: compare the GPT's maps with the encoder's on the same sentence\n"
    "look for: a hatched upper triangle (causal), then full squares (bidirectional)\n"
    "\n"
    "First the pretrained GPT again: a token may only look back, so the future half of every map is masked.\n"
    "\n"
    "Then a BERT-style encoder trains on the same text for " DEMO_BERT_STEPS_STR " steps, predicting hidden "
    "tokens from both sides: nothing is masked, every map is a full square (its rows still nearly even this "
    "early).\n"
    "\n"
    "Its probe is the same sentence between BERT's markers [CLS] and [SEP].\n"
    "## Stage 9: an encoder fills blanks\n"
    "screen: chat\n"
    "try: send a sentence with a blank (_) and read the candidates\n"
    "look for: the bars of the tokens that could fill the blank\n"
    "\n"
    "An encoder does not continue text: it fills each [MASK] with the tokens it finds most probable on both "
    "sides. Esc, Up/Down and Enter write one in.\n"
    "\n"
    "After " DEMO_BERT_STEPS_STR " steps it knows only which pieces are frequent (stage 8's unigram baseline); "
    "configs/bert-tiny.yaml trains long enough to read the context.\n"
    "## Stage 10: the original Transformer\n"
    "screen: train\n"
    "try: watch the loss fall and the sample translations improve; then the three kinds of map\n"
    "look for: English -> French in the Sample box; x: encoder self, decoder self, cross-attention\n"
    "\n"
    "An encoder reads the English sentence, a decoder writes the French one token by token: " DEMO_TR_STEPS_STR
    " steps on the shipped pairs.\n"
    "\n"
    "The encoder's maps are full squares, the decoder's causal; the cross-attention grid (French rows, English "
    "columns) is the alignment it found itself.\n"
    "## Stage 11: the translator answers\n"
    "screen: chat\n"
    "try: send an English sentence and watch the French stream in\n"
    "look for: the cross-attention bars of the last token and one alignment line per token\n"
    "\n"
    "The source is encoded once; each French token is decoded from the tokens already written and the "
    "encoder's output.\n"
    "\n"
    "That is the end of the demo; the workbench stays open to explore. Bigger runs: "
    "llmwb tui -c configs/transformer-translate.yaml, configs/bert-tiny.yaml.\n";

/* Same screens every time: train.steps ends training at a fixed step (DONE), sampling is seeded, and the
 * screens hide wall-clock figures (App.repro). Dumps name the stage. `demo-open NAME` reopens the engine on a
 * row of DEMO_MODELS (tui.c): `finetune` saves the pretrained model and finetunes a classifier from it, `gpt`
 * reopens that model, `bert` and `translate` train their own. A stage that trains waits for its model's new
 * run ("Step 0/N") before its pause, and starts it with the script's own Space after the pause. */
static const char DEMO_SCRIPT[] =
    "# llmwb demo: plays each stage, pauses for the presenter (Space continues); headless: no pauses\n"
    "timeout 300\n"
    "resize 150 42\n"
    "stage 1\n"
    "wait-text bytes/token\n"
    "key s\n"
    "key s\n"
    "key s\n"
    "wait-text BPE merges 3/\n"
    "dump stage1-tokenizer\n"
    "pause\n"
    "key +\n"
    "key Space\n"
    "wait-text merges 127/127\n"
    "dump stage1-tokenizer-done\n"
    "key z\n"
    "dump stage1-tokenizer-large\n"
    "key z\n"
    "pause\n"
    "stage 2\n"
    "key 2\n"
    "wait-text dims; blue\n"
    "dump stage2-embed\n"
    "key z\n"
    "dump stage2-embed-large\n"
    "key z\n"
    "pause\n"
    "stage 3\n"
    "key 4\n"
    "key Space\n"
    "wait-text State DONE\n"
    "wait-text training complete\n"   /* the last step has returned: not "(stepping)" in one run only */
    "sleep-frames 3\n"
    "dump stage3-train\n"
    "key z\n"
    "dump stage3-train-large\n"
    "key z\n"
    "pause\n"
    "stage 4\n"
    "key 3\n"
    "wait-text LIVE\n"
    "key g\n"
    "key Home\n"
    "wait-text snapshot 1/\n"
    "dump stage4-attention-step0\n"
    "pause\n"
    "key End\n"
    "wait-text LIVE\n"
    "dump stage4-attention-trained\n"
    "key Enter\n"
    "wait-text query 0\n"
    "dump stage4-attention-zoom\n"
    "key Esc\n"
    "key g\n"
    "pause\n"
    "stage 5\n"
    "key 5\n"
    "type It is a truth\n"
    "key Enter\n"
    "wait-text reply:\n"
    "dump stage5-chat\n"
    "key Esc\n"
    "key z\n"
    "dump stage5-chat-large\n"
    "key z\n"
    "pause\n"
    "stage 6\n"
    "key 4\n"
    "demo-finetune\n"
    "wait-text Step 0/" DEMO_FT_STEPS_STR "\n"
    "wait-text naive Bayes\n"
    "wait-text opened demo-finetune\n" /* the engine has opened: its last event is in the log, its note said */
    "sleep-frames 3\n"
    "dump stage6-finetune-start\n"
    "pause\n"
    "key Space\n"
    "wait-text step " DEMO_FT_STEPS_STR ": train\n"
    "sleep-frames 3\n"
    "dump stage6-finetune\n"
    "pause\n"
    "stage 7\n"
    "key 5\n"
    "key i\n"
    "type " DEMO_FT_SENTENCE "\n"
    "key Enter\n"
    "wait-text predicted:\n"
    "type " DEMO_FT_SHUFFLED "\n"
    "key Enter\n"
    "wait-text predicted:\n"
    "dump stage7-classify\n"
    "pause\n"
    "stage 8\n"
    "key Esc\n"
    "demo-open gpt\n"
    "wait-text probe sentence set\n" /* the worker's last message, before a key would clear it: the same dump */
    "key 3\n"
    "wait-text step 300  snapshot 1/1\n"
    "dump stage8-gpt-causal\n"
    "pause\n"
    "key 4\n"
    "demo-open bert\n"
    "wait-text Step 0/" DEMO_BERT_STEPS_STR "\n"
    "sleep-frames 3\n"
    "dump stage8-bert-start\n"
    "key Space\n"
    "wait-text State DONE\n"
    "sleep-frames 3\n"
    "dump stage8-bert\n"
    "key 3\n"
    "wait-text LIVE  step " DEMO_BERT_STEPS_STR "  snapshot\n"
    "dump stage8-bert-bidirectional\n"
    "key Enter\n"
    "wait-text query 0\n"
    "dump stage8-bert-zoom\n"
    "key Esc\n"
    "pause\n"
    "stage 9\n"
    "key 5\n"
    "key i\n"
    "type " DEMO_BERT_FILL "\n"
    "key Enter\n"
    "wait-text filled:\n"
    "dump stage9-fill\n"
    "key Esc\n"
    "key Enter\n"
    "sleep-frames 3\n"
    "dump stage9-fill-in\n"
    "key Esc\n"
    "pause\n"
    "stage 10\n"
    "key 4\n"
    "demo-open translate\n"
    "wait-text Step 0/" DEMO_TR_STEPS_STR "\n"
    "sleep-frames 3\n"
    "dump stage10-translate-start\n"
    "pause\n"
    "key Space\n"
    "wait-text State DONE\n"
    "sleep-frames 3\n"
    "dump stage10-translate\n"
    "pause\n"
    "key 3\n"
    "wait-text encoder self-attention\n"
    "dump stage10-encoder\n"
    "key x\n"
    "wait-text decoder self-attention\n"
    "dump stage10-decoder\n"
    "key x\n"
    "wait-text cross-attention: target rows\n"
    "dump stage10-cross\n"
    "pause\n"
    "stage 11\n"
    "key 5\n"
    "key i\n"
    "key C-u\n"
    "type " DEMO_TR_SENTENCE "\n"
    "key Enter\n"
    "wait-text reply:\n"
    "sleep-frames 3\n"
    "dump stage11-translate\n"
    "pause\n";

const char *demo_stages_text(void) { return DEMO_STAGES; }
const char *demo_script_text(void) { return DEMO_SCRIPT; }

static const char *demo_corpus(char *buf, size_t n) {
    const char *rel = "corpora/austen_prideprejudice.txt";
    if (lw_file_exists(rel)) return rel;
#ifdef LLMWB_SHARE
    snprintf(buf, n, "%s/%s", LLMWB_SHARE, rel);
    if (lw_file_exists(buf)) return buf;
#endif
    return rel;
}

int demo_config(Config *c, uint64_t seed, const char *run_dir, LwError *e) {
    cfg_defaults(c);
    char corpus[1200], set[1400], seedset[64], rd[1200];
    snprintf(set, sizeof set, "data.paths=%s", demo_corpus(corpus, sizeof corpus));
    snprintf(seedset, sizeof seedset, "train.seed=%llu", (unsigned long long)seed);
    snprintf(rd, sizeof rd, "train.run_dir=%s", run_dir && *run_dir ? run_dir : "runs/demo");
    const char *sets[] = {
        set, "model.n_layer=2", "model.n_head=4", "model.d_model=64", "model.context_length=32",
        "model.vocab_size=384", "model.dropout=0", "tokenizer.vocab_size=384", "data.max_chars=120000",
        "data.val_fraction=0.1", "train.batch_size=8", "train.grad_accum=1", "train.steps=300", "train.lr=0.003",
        "train.min_lr=0.0003", "train.warmup=20", "train.eval_every=25", "train.eval_batches=4",
        "train.sample_every=100", "train.sample_tokens=24", "train.checkpoint_every=100000", "train.threads=1",
        seedset, rd, "probe.snapshot_every=50", "probe.text=It is a truth universally acknowledged"};
    for (size_t i = 0; i < LW_ARRAY_LEN(sets); i++) {
        int rc = cfg_set(c, sets[i], e);
        if (rc) return rc;
    }
    snprintf(c->name, sizeof c->name, "demo");
    return LW_OK;
}

int demo_finetune_config(Config *c, const Config *demo, const char *init_from, const char *run_dir, LwError *e) {
    *c = *demo;
    char data[1200], set[1400], init[1300], rd[1300];
    const char *rel = "corpora/classify/word_order_sentences.tsv";
    const char *path = rel;
    if (!lw_file_exists(rel)) {
#ifdef LLMWB_SHARE
        snprintf(data, sizeof data, "%s/%s", LLMWB_SHARE, rel);
        if (lw_file_exists(data)) path = data;
#endif
    }
    snprintf(set, sizeof set, "data.paths=%s", path);
    snprintf(init, sizeof init, "finetune.init_from=%s", init_from);
    snprintf(rd, sizeof rd, "train.run_dir=%s", run_dir);
    const char *sets[] = {
        set, init, rd, "finetune.mode=classify", "finetune.balance=true", "finetune.trainable=all",
        "finetune.truncate=true", "data.max_chars=0", "data.val_fraction=0.1", "data.test_fraction=0.2",
        "model.dropout=0", "train.batch_size=16", "train.grad_accum=1", "train.steps=" DEMO_FT_STEPS_STR,
        "train.lr=0.001", "train.min_lr=0.0001", "train.warmup=10", "train.weight_decay=0.1",
        "train.eval_every=25", "train.eval_batches=8", "train.sample_every=0", "train.checkpoint_every=100000"};
    for (size_t i = 0; i < LW_ARRAY_LEN(sets); i++) {
        int rc = cfg_set(c, sets[i], e);
        if (rc) return rc;
    }
    snprintf(c->name, sizeof c->name, "demo-finetune");
    return LW_OK;
}

int demo_bert_config(Config *c, const Config *demo, const char *run_dir, LwError *e) {
    *c = *demo;
    char rd[1300];
    snprintf(rd, sizeof rd, "train.run_dir=%s", run_dir);
    /* pre-LN: a post-LN encoder this small stays on the unigram plateau (configs/bert-tiny.yaml) */
    const char *sets[] = {
        rd, "model.arch=bert", "model.layer_norm=pre", "model.dropout=0", "train.task=mlm",
        "train.batch_size=32", "train.grad_accum=1", "train.steps=" DEMO_BERT_STEPS_STR, "train.lr=0.003",
        "train.min_lr=0.0003", "train.warmup=20", "train.eval_every=50", "train.eval_batches=4",
        "train.sample_every=0", "train.checkpoint_every=100000", "probe.snapshot_every=50",
        "probe.text=" DEMO_BERT_PROBE};
    for (size_t i = 0; i < LW_ARRAY_LEN(sets); i++) {
        int rc = cfg_set(c, sets[i], e);
        if (rc) return rc;
    }
    snprintf(c->name, sizeof c->name, "demo-bert");
    return LW_OK;
}

int demo_translate_config(Config *c, const Config *demo, const char *run_dir, LwError *e) {
    *c = *demo;
    char data[1200], set[1400], rd[1300];
    const char *rel = "corpora/translate/en_fr.tsv", *path = rel;
    if (!lw_file_exists(rel)) {
#ifdef LLMWB_SHARE
        snprintf(data, sizeof data, "%s/%s", LLMWB_SHARE, rel);
        if (lw_file_exists(data)) path = data;
#endif
    }
    snprintf(set, sizeof set, "data.paths=%s", path);
    snprintf(rd, sizeof rd, "train.run_dir=%s", run_dir);
    /* configs/transformer-translate.yaml, shorter and without dropout: BLEU passes word-by-word within the run */
    const char *sets[] = {
        set, rd, "model.arch=encdec", "model.n_layer=2", "model.encoder_layers=2", "model.decoder_layers=2",
        "model.n_head=4", "model.d_model=64", "model.d_ff=256", "model.context_length=48", "model.dropout=0",
        "model.positions=sinusoidal", "model.norm=post", "model.shared_vocab=true", "model.tie_embeddings=true",
        "model.beam=1", "tokenizer.kind=bpe", "tokenizer.vocab_size=1000", "model.vocab_size=1000",
        "data.max_chars=0", "data.val_fraction=0.05", "data.test_fraction=0", "train.task=translate",
        "train.batch_size=32", "train.grad_accum=1", "train.steps=" DEMO_TR_STEPS_STR, "train.lr=0.002",
        "train.min_lr=0.0002", "train.warmup=50", "train.weight_decay=0.01", "train.eval_every=100",
        "train.eval_batches=4", "train.sample_every=100", "train.checkpoint_every=100000",
        "probe.snapshot_every=50", "probe.text=" DEMO_TR_PROBE};
    for (size_t i = 0; i < LW_ARRAY_LEN(sets); i++) {
        int rc = cfg_set(c, sets[i], e);
        if (rc) return rc;
    }
    snprintf(c->name, sizeof c->name, "demo-translate");
    return LW_OK;
}

static int demo_model_finetune(Config *c, const Config *demo, const char *run, const char *run_dir, LwError *e) {
    char init[1200];
    snprintf(init, sizeof init, "%s/pretrained", run);
    return demo_finetune_config(c, demo, init, run_dir, e);
}
static int demo_model_bert(Config *c, const Config *demo, const char *run, const char *run_dir, LwError *e) {
    (void)run;
    return demo_bert_config(c, demo, run_dir, e);
}
static int demo_model_translate(Config *c, const Config *demo, const char *run, const char *run_dir, LwError *e) {
    (void)run;
    return demo_translate_config(c, demo, run_dir, e);
}

static const DemoModel DEMO_MODELS[] = {
    {"finetune", "finetune", 1, demo_model_finetune},
    {"gpt", "pretrained", 0, NULL},
    {"bert", "bert", 0, demo_model_bert},
    {"translate", "translate", 0, demo_model_translate},
};

const DemoModel *demo_model(const char *name) {
    for (size_t i = 0; i < LW_ARRAY_LEN(DEMO_MODELS); i++)
        if (!strcmp(DEMO_MODELS[i].name, name)) return &DEMO_MODELS[i];
    return NULL;
}

int demo_run_has_checkpoint(const char *run) {
    char p[1400];
    if (lw_is_dir(lw_path_join(p, sizeof p, run, "latest"))) return 1;
    for (size_t i = 0; i < LW_ARRAY_LEN(DEMO_MODELS); i++) {
        snprintf(p, sizeof p, "%s/%s/latest", run, DEMO_MODELS[i].dir);
        if (DEMO_MODELS[i].config && lw_is_dir(p)) return 1;
    }
    return 0;
}

/* ---- llmwb export ---- */

static void demo_export_usage(FILE *f) {
    fputs("usage: llmwb export --run DIR [--out DIR] [--ckpt DIR] [--layer N] [--head N]\n"
          "  writes loss.png and loss.svg from DIR/metrics.csv and, when DIR/latest (or --ckpt) holds a\n"
          "  checkpoint, attention.png and attention.svg for its probe sentence (every layer and head, or\n"
          "  --layer N with --head N or the head average); --out defaults to DIR/exports\n",
          f);
}

int demo_export_main(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *ckpt = NULL;
    int layer = EXPORT_ALL_LAYERS, head = EXPORT_HEAD_AVG;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { demo_export_usage(stdout); return 0; }
        int takes = !strcmp(o, "--run") || !strcmp(o, "--out") || !strcmp(o, "--ckpt") || !strcmp(o, "--layer") ||
                    !strcmp(o, "--head");
        if (!takes) {
            fprintf(stderr, "llmwb export: unknown option '%s' (see llmwb export --help)\n", o);
            return 2;
        }
        if (!v) {
            fprintf(stderr, "llmwb export: %s needs a value\n", o);
            return 2;
        }
        i++;
        if (!strcmp(o, "--run")) run = v;
        else if (!strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--ckpt")) ckpt = v;
        else {
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 0) {
                fprintf(stderr, "llmwb export: %s needs a whole number >= 0, not '%s'\n", o, v);
                return 2;
            }
            if (!strcmp(o, "--layer")) layer = (int)n;
            else head = (int)n;
        }
    }
    if (!run) {
        fprintf(stderr, "llmwb export: --run DIR is required (see llmwb export --help)\n");
        return 2;
    }
    char outdir[1200], path[1400], ck[1200];
    snprintf(outdir, sizeof outdir, "%s", out ? out : "");
    if (!out) snprintf(outdir, sizeof outdir, "%s/exports", run);
    LwError e;
    if (lw_mkdirs(outdir, &e)) {
        fprintf(stderr, "llmwb export: %s\n", e.msg);
        return 1;
    }
    MetricPoint *m;
    int n;
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    if (export_metrics_read(path, &m, &n, &e)) {
        fprintf(stderr, "llmwb export: %s\n", e.msg);
        return e.code == LW_ERR_IO ? 1 : 2;
    }
    ExportPlotOpts po = {0, 0, 0, 0, "Loss"};
    int rc = 0;
    snprintf(path, sizeof path, "%s/loss.png", outdir);
    if (export_loss_png(path, m, n, &po, &e)) rc = 1, fprintf(stderr, "llmwb export: %s\n", e.msg);
    else printf("%s\n", path);
    snprintf(path, sizeof path, "%s/loss.svg", outdir);
    if (export_loss_svg(path, m, n, &po, &e)) rc = 1, fprintf(stderr, "llmwb export: %s\n", e.msg);
    else printf("%s\n", path);
    free(m);
    if (!ckpt) {
        snprintf(ck, sizeof ck, "%s/latest", run);
        if (lw_is_dir(ck)) ckpt = ck;
    }
    if (!ckpt) return rc;
    static Config cfg;
    cfg_defaults(&cfg);
    EngineOpenOpts oo;
    memset(&oo, 0, sizeof oo);
    oo.ckpt_dir = ckpt;
    Engine *eng = NULL;
    if (engine_open(&eng, &cfg, &oo, &e) || engine_probe_now(eng, &e)) {
        fprintf(stderr, "llmwb export: %s: %s\n", ckpt, e.msg);
        if (eng) engine_close(eng);
        return 1;
    }
    ProbeSnapshot *p = engine_get_probe(eng, -1);
    if (!p) {
        fprintf(stderr, "llmwb export: %s: no probe snapshot\n", ckpt);
        engine_close(eng);
        return 1;
    }
    ExportAttnOpts ao = {layer, head, 0};
    snprintf(path, sizeof path, "%s/attention.png", outdir);
    if (export_attention_png(path, p, &ao, &e)) rc = 1, fprintf(stderr, "llmwb export: %s\n", e.msg);
    else printf("%s\n", path);
    snprintf(path, sizeof path, "%s/attention.svg", outdir);
    if (export_attention_svg(path, p, &ao, &e)) rc = 1, fprintf(stderr, "llmwb export: %s\n", e.msg);
    else printf("%s\n", path);
    engine_probe_free(p);
    engine_close(eng);
    return rc;
}
