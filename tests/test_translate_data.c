/* test_translate_data.c — the translate task's data: TSV and JSONL loading and their file:line errors, marked and
 * seeded splits (determinism; the shipped corpus holds out whole words and word pairs), tokenization limits,
 * teacher-forcing batches, scoring, and the copy and word-by-word baselines on the shipped corpus. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bpe.h"
#include "translate_data.h"

#define CORPUS "corpora/translate/en_fr.tsv"

static int g_warns;
static char g_last_warn[1024];
static void capture_log(void *ud, int level, const char *msg) {
    if (level == LW_LOG_WARN) {
        g_warns++;
        snprintf(g_last_warn, sizeof g_last_warn, "%s", msg);
    }
}
static void log_setup(void) {
    g_warns = 0;
    g_last_warn[0] = 0;
    lw_set_log(capture_log, NULL);
}
static void log_teardown(void) { lw_set_log(NULL, NULL); }
TestSuite(trdata, .init = log_setup, .fini = log_teardown);

/* Writes text to a per-process temporary file named after ext; returns its path (static buffer per call site). */
static const char *tmp_file(char *path, size_t n, const char *ext, const char *text) {
    snprintf(path, n, "/tmp/llmwb-trdata-%ld.%s", (long)getpid(), ext);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text (as a file with extension ext) and expects failure with code and a message equal to
 * "<path>:" + want (want starts with the line number). */
static void load_fails(const char *ext, const char *text, int code, const char *want) {
    char path[256], msg[768];
    tmp_file(path, sizeof path, ext, text);
    TrData d;
    LwError e = {0};
    int rc = tr_load(&d, path, &e);
    unlink(path);
    cr_assert_eq(rc, code, "rc %d for: %s (%s)", rc, text, e.msg);
    snprintf(msg, sizeof msg, "%s%s", path, want);
    cr_assert_str_eq(e.msg, msg);
    cr_assert_eq(d.n, 0);
    cr_assert_null(d.ex);
    tr_free(&d);
}

Test(trdata, tsv_loads) {
    char path[256];
    /* BOM, columns in another order, an extra column, CRLF, a blank line, no final newline */
    tmp_file(path, sizeof path, "tsv",
             "\xEF\xBB\xBFid\tTarget\tsource\r\n1\tle chat\tthe cat\r\n\r\n2\tla maison\tthe house");
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, path, &e), LW_OK, "%s", e.msg);
    unlink(path);
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.ex[0].source, "the cat");
    cr_assert_str_eq(d.ex[0].target, "le chat");
    cr_assert_str_eq(d.ex[1].source, "the house");
    cr_assert_eq(d.ex[1].line, 4);
    cr_assert_eq(d.has_marks, 0);
    cr_assert_eq(d.ex[0].mark, TR_MARK_NONE);
    tr_free(&d);
    /* a split column: every row marked */
    tmp_file(path, sizeof path, "tsv", "source\ttarget\tsplit\na\tb\ttrain\nc\td\tTEST\ne\tf\tvalidation\n");
    cr_assert_eq(tr_load(&d, path, &e), LW_OK, "%s", e.msg);
    unlink(path);
    cr_assert_eq(d.has_marks, 1);
    cr_assert_eq(d.ex[0].mark, TR_MARK_TRAIN);
    cr_assert_eq(d.ex[1].mark, TR_MARK_TEST);
    cr_assert_eq(d.ex[2].mark, TR_MARK_VAL);
    tr_free(&d);
}

Test(trdata, jsonl_loads) {
    char path[256];
    tmp_file(path, sizeof path, "jsonl",
             "{\"source\": \"the cat\", \"target\": \"le chat\", \"split\": \"test\", \"extra\": 1}\n"
             "\n"
             "{\"target\": \"la \\u00e9cole\", \"source\": \"the school\", \"split\": null}\n");
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, path, &e), LW_OK, "%s", e.msg);
    unlink(path);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.ex[0].mark, TR_MARK_TEST);
    cr_assert_eq(d.ex[1].mark, TR_MARK_NONE);
    cr_assert_str_eq(d.ex[1].target, "la \xc3\xa9" "cole");
    cr_assert_eq(d.ex[1].line, 3);
    tr_free(&d);
}

Test(trdata, errors_name_file_and_line) {
    load_fails("tsv", "source\ttarget\nthe cat\tle chat\nthe dog le chien\n", LW_ERR_PARSE,
               ":3: expected 2 tab-separated columns, found 1 (missing tab?)");
    load_fails("tsv", "source\ttarget\n \tle chat\n", LW_ERR_PARSE, ":2: empty source");
    load_fails("tsv", "source\ttarget\nthe cat\t\n", LW_ERR_PARSE, ":2: empty target");
    load_fails("tsv", "source\ttarget\tsplit\na\tb\ttrain\nc\td\tdev\n", LW_ERR_INVALID,
               ":3: split must be train, val or test (found 'dev')");
    load_fails("tsv", "source\ttarget\tsplit\na\tb\t\n", LW_ERR_INVALID, ":2: split must be train, val or test (found '')");
    load_fails("tsv", "source\ttarget\nok\tok\nab\xff" "c\td\n", LW_ERR_PARSE, ":3:3: invalid UTF-8");
    load_fails("tsv", "english\tfrench\na\tb\n", LW_ERR_PARSE,
               ":1: the header must name a \"source\" and a \"target\" column, tab-separated (found: english\tfrench)");
    load_fails("tsv", "\n  \n", LW_ERR_PARSE, ": empty file (expected a header \"source<TAB>target\")");
    load_fails("tsv", "source\ttarget\n\n", LW_ERR_PARSE, ": no pairs");
    load_fails("jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\" \"target\": \"b\"}\n",
               LW_ERR_PARSE, ":2:16: invalid JSON");
    load_fails("jsonl", "{\"source\": \"a\"}\n", LW_ERR_PARSE, ":1: missing string \"target\"");
    load_fails("jsonl", "{\"source\": 3, \"target\": \"b\"}\n", LW_ERR_PARSE, ":1: \"source\" is not a string");
    load_fails("jsonl", "{\"source\": \"a\", \"target\": \"b\", \"split\": \"x\"}\n", LW_ERR_INVALID,
               ":1: split must be train, val or test (found 'x')");
    load_fails("jsonl", "{\"source\": \"a\", \"target\": \"b\"} {}\n", LW_ERR_PARSE,
               ":1:32: invalid JSON (text after the object; one object per line)");
    load_fails("jsonl", "[{\"source\": \"a\", \"target\": \"b\"}]\n", LW_ERR_PARSE,
               ": a JSON array; parallel data is JSONL (one {\"source\": ..., \"target\": ...} per line) or TSV");
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, "/nonexistent/pairs.tsv", &e), LW_ERR_IO);
    cr_assert(strstr(e.msg, "/nonexistent/pairs.tsv"), "%s", e.msg);
}

static int same_list(const int *a, int na, const int *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, sizeof(int) * (size_t)na) == 0);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Sorted copy of a list, for comparing membership regardless of order. */
static int *sorted(const int *a, int n) {
    int *s = malloc(sizeof(int) * (size_t)(n ? n : 1));
    memcpy(s, a, sizeof(int) * (size_t)n);
    qsort(s, (size_t)n, sizeof(int), cmp_int);
    return s;
}

Test(trdata, split_unmarked_is_seeded_and_partitions) {
    char path[256], text[4096] = "source\ttarget\n";
    for (int i = 0; i < 100; i++) snprintf(text + strlen(text), sizeof text - strlen(text), "s%d\tt%d\n", i, i);
    tmp_file(path, sizeof path, "tsv", text);
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, path, &e), LW_OK, "%s", e.msg);
    unlink(path);
    FtSplit a, b, c;
    cr_assert_eq(tr_split(&a, &d, 0.1f, 0.2f, 7, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tr_split(&b, &d, 0.1f, 0.2f, 7, &e), LW_OK);
    cr_assert_eq(tr_split(&c, &d, 0.1f, 0.2f, 8, &e), LW_OK);
    /* ins_split arithmetic: 70 train, 20 test, 10 val */
    cr_assert_eq(a.n_train, 70);
    cr_assert_eq(a.n_test, 20);
    cr_assert_eq(a.n_val, 10);
    cr_assert(same_list(a.train, a.n_train, b.train, b.n_train) && same_list(a.val, a.n_val, b.val, b.n_val) &&
              same_list(a.test, a.n_test, b.test, b.n_test));
    cr_assert(!same_list(a.test, a.n_test, c.test, c.n_test), "another seed must give another split");
    /* a partition of 0..99 */
    int seen[100] = {0};
    for (int i = 0; i < a.n_train; i++) seen[a.train[i]]++;
    for (int i = 0; i < a.n_val; i++) seen[a.val[i]]++;
    for (int i = 0; i < a.n_test; i++) seen[a.test[i]]++;
    for (int i = 0; i < 100; i++) cr_assert_eq(seen[i], 1, "row %d", i);
    ft_split_free(&a);
    ft_split_free(&b);
    ft_split_free(&c);
    /* bad fractions */
    cr_assert_eq(tr_split(&a, &d, 0.6f, 0.5f, 7, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "val_fraction"), "%s", e.msg);
    cr_assert_null(a.train);
    tr_free(&d);
}

Test(trdata, split_honours_marks) {
    char path[256], text[4096] = "source\ttarget\tsplit\n";
    for (int i = 0; i < 60; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "s%d\tt%d\t%s\n", i, i, i % 6 == 0 ? "test" : "train");
    tmp_file(path, sizeof path, "tsv", text);
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, path, &e), LW_OK, "%s", e.msg);
    unlink(path);
    FtSplit a, b;
    /* test_fraction is not used: the 10 marked rows are the test split, for every seed */
    cr_assert_eq(tr_split(&a, &d, 0.1f, 0.3f, 1, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tr_split(&b, &d, 0.1f, 0.3f, 2, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(a.n_test, 10);
    cr_assert_eq(a.n_val, 5); /* 10% of the 50 train rows */
    cr_assert_eq(a.n_train, 45);
    for (int i = 0; i < a.n_test; i++) cr_assert_eq(d.ex[a.test[i]].mark, TR_MARK_TEST);
    for (int i = 0; i < a.n_val; i++) cr_assert_eq(d.ex[a.val[i]].mark, TR_MARK_TRAIN);
    int *ta = sorted(a.test, a.n_test), *tb = sorted(b.test, b.n_test);
    cr_assert(same_list(ta, a.n_test, tb, b.n_test), "marked test rows do not depend on the seed");
    cr_assert(!same_list(a.val, a.n_val, b.val, b.n_val), "val is cut with the seed");
    free(ta);
    free(tb);
    ft_split_free(&a);
    ft_split_free(&b);
    tr_free(&d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Words ("w") and adjacent word pairs ("w1 w2") of a sentence, appended to a growable string list. */
typedef struct Strs {
    char **s;
    size_t n, cap;
} Strs;
static void strs_push(Strs *v, char *x) {
    if (v->n == v->cap) v->s = realloc(v->s, sizeof(char *) * (v->cap = v->cap ? 2 * v->cap : 1024));
    v->s[v->n++] = x;
}
static void grams_of(Strs *v, const char *sentence) {
    char *src = strdup(sentence), *prev = NULL, *save = NULL;
    for (char *w = strtok_r(src, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        strs_push(v, strdup(w));
        if (prev) {
            char *bg = malloc(strlen(prev) + strlen(w) + 2);
            sprintf(bg, "%s %s", prev, w);
            strs_push(v, bg);
        }
        prev = w;
    }
    free(src);
}
static void strs_free(Strs *v) {
    for (size_t i = 0; i < v->n; i++) free(v->s[i]);
    free(v->s);
}

/* The shipped corpus holds out whole words: every test row has a source word or adjacent word pair that no train
 * or validation row has; at least 200 test rows have a word (a held-out name) that no other row has; no source
 * sentence repeats. The split is the loader's, with the seed the preset uses. */
Test(trdata, shipped_corpus_holds_out_words) {
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, CORPUS, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(d.n, 4400);
    FtSplit s;
    cr_assert_eq(tr_split(&s, &d, 0.1f, 0.0f, 42, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(s.n_test, 400);
    cr_assert_eq(s.n_val, 400);
    cr_assert_eq(s.n_train, 3600);
    Strs seen = {0}, sources = {0};
    for (int i = 0; i < s.n_train; i++) grams_of(&seen, d.ex[s.train[i]].source);
    for (int i = 0; i < s.n_val; i++) grams_of(&seen, d.ex[s.val[i]].source);
    qsort(seen.s, seen.n, sizeof(char *), cmp_str);
    int new_word_rows = 0;
    for (int i = 0; i < s.n_test; i++) {
        Strs g = {0};
        grams_of(&g, d.ex[s.test[i]].source);
        int unseen = 0, unseen_word = 0;
        for (size_t k = 0; k < g.n; k++) {
            if (bsearch(&g.s[k], seen.s, seen.n, sizeof(char *), cmp_str)) continue;
            unseen = 1;
            unseen_word |= strchr(g.s[k], ' ') == NULL;
        }
        cr_assert(unseen, "test row %d holds nothing unseen: %s", d.ex[s.test[i]].line, d.ex[s.test[i]].source);
        new_word_rows += unseen_word;
        strs_free(&g);
    }
    cr_assert_geq(new_word_rows, 200, "%d test rows with a word never seen in training", new_word_rows);
    for (int i = 0; i < d.n; i++) strs_push(&sources, strdup(d.ex[i].source));
    qsort(sources.s, sources.n, sizeof(char *), cmp_str);
    for (size_t i = 1; i < sources.n; i++) cr_assert_str_neq(sources.s[i - 1], sources.s[i]);
    strs_free(&seen);
    strs_free(&sources);
    ft_split_free(&s);
    tr_free(&d);
}

/* A toy tokenizer: each letter is one id, 'a' = 5, 'b' = 6, ...; spaces are skipped. */
static void enc_letters(void *ud, const char *text, IntVec *out) {
    for (const char *p = text; *p; p++)
        if (*p != ' ') ivec_push(out, *p - 'a' + 5);
}

/* The same without 'x' (so "x" makes no tokens). */
static void enc_no_x(void *ud, const char *text, IntVec *out) {
    for (const char *p = text; *p; p++)
        if (*p != ' ' && *p != 'x') ivec_push(out, *p - 'a' + 5);
}

static TrData toy(const char *text) {
    char path[256];
    tmp_file(path, sizeof path, "tsv", text);
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, path, &e), LW_OK, "%s", e.msg);
    unlink(path);
    return d;
}

Test(trdata, batch_teacher_forcing) {
    TrData d = toy("source\ttarget\nab\tc\nabcd\tcdef\n");
    LwError e = {0};
    cr_assert_eq(tr_tokenize(&d, enc_letters, NULL, enc_letters, NULL, 8, 8, 0, &e), LW_OK, "%s", e.msg);
    int rows[2] = {0, 1}, S, T;
    tr_batch_dims(&d, rows, 2, 9, &S, &T);
    cr_assert_eq(S, 5); /* 4 source letters + end of source */
    cr_assert_eq(T, 5); /* 4 target letters + end marker */
    /* the header's example: S = 4, T = 4, src_eos 9, bos 1, eos 2, pad 0 */
    int src[2 * 4], len[2], in[2 * 4], tg[2 * 4];
    tr_batch(&d, rows, 2, 4, 4, 9, 1, 2, 0, src, len, in, tg);
    int want_src[8] = {5, 6, 9, 0, /* cut: no room for the end marker */ 5, 6, 7, 8};
    int want_in[8] = {1, 7, 0, 0, 1, 7, 8, 9};
    int want_tg[8] = {7, 2, TR_IGNORE, TR_IGNORE, 7, 8, 9, 10}; /* cut: no eos */
    cr_assert_arr_eq(src, want_src, sizeof src);
    cr_assert_arr_eq(in, want_in, sizeof in);
    cr_assert_arr_eq(tg, want_tg, sizeof tg);
    cr_assert_eq(len[0], 3);
    cr_assert_eq(len[1], 4);
    /* wide enough: row 1 gets its eos; no source marker */
    int src5[2 * 5], in5[2 * 5], tg5[2 * 5];
    tr_batch(&d, rows, 2, 5, 5, -1, 1, 2, 0, src5, NULL, in5, tg5);
    int w_src5[10] = {5, 6, 0, 0, 0, 5, 6, 7, 8, 0};
    int w_in5[10] = {1, 7, 0, 0, 0, 1, 7, 8, 9, 10};
    int w_tg5[10] = {7, 2, TR_IGNORE, TR_IGNORE, TR_IGNORE, 7, 8, 9, 10, 2};
    cr_assert_arr_eq(src5, w_src5, sizeof src5);
    cr_assert_arr_eq(in5, w_in5, sizeof in5);
    cr_assert_arr_eq(tg5, w_tg5, sizeof tg5);
    tr_free(&d);
}

Test(trdata, tokenize_limits) {
    TrData d = toy("source\ttarget\nab\tc\nabcdef\tcd\nab\tcdefgh\n");
    LwError e = {0};
    cr_assert_eq(tr_tokenize(&d, enc_letters, NULL, enc_letters, NULL, 4, 8, 0, &e), LW_ERR_INVALID);
    char want[CFG_PATH_MAX + 128];
    snprintf(want, sizeof want, "%s:3: source has 6 tokens, more than 4 (set finetune.truncate: true to cut it)", d.path);
    cr_assert_str_eq(e.msg, want);
    cr_assert_eq(tr_tokenize(&d, enc_letters, NULL, enc_letters, NULL, 8, 6, 0, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, ":4: target has 6 tokens, more than 5"), "%s", e.msg);
    /* truncating: cut, counted, one warning naming the first line */
    cr_assert_eq(tr_tokenize(&d, enc_letters, NULL, enc_letters, NULL, 4, 6, 1, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(d.n_truncated, 2);
    cr_assert_eq(d.ex[1].n_src, 4);
    cr_assert_eq(d.ex[2].n_tgt, 5);
    cr_assert_eq(g_warns, 1);
    cr_assert(strstr(g_last_warn, "2 of 3 pairs") && strstr(g_last_warn, "line 3"), "%s", g_last_warn);
    tr_free(&d);
    /* a side that makes no tokens */
    d = toy("source\ttarget\nab\tc\nab\tx x\n");
    cr_assert_eq(tr_tokenize(&d, enc_letters, NULL, enc_no_x, NULL, 8, 8, 0, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, ":3: target makes no tokens"), "%s", e.msg);
    tr_free(&d);
    /* the Tokenizer adapter (bytes: one id per byte) */
    d = toy("source\ttarget\nhi\tsalut\n");
    Tokenizer *bytes = tok_new_bytes();
    cr_assert_eq(tr_tokenize(&d, tr_encode_tok, bytes, tr_encode_tok, bytes, 8, 8, 0, &e), LW_OK);
    cr_assert_eq(d.ex[0].n_src, 2);
    cr_assert_eq(d.ex[0].src_ids[0], 'h');
    cr_assert_eq(d.ex[0].n_tgt, 5);
    tok_free(bytes);
    tr_free(&d);
}

Test(trdata, score_and_baselines_on_shipped_corpus) {
    TrData d;
    LwError e = {0};
    cr_assert_eq(tr_load(&d, CORPUS, &e), LW_OK, "%s", e.msg);
    FtSplit s;
    cr_assert_eq(tr_split(&s, &d, 0.1f, 0.0f, 42, &e), LW_OK, "%s", e.msg);
    /* the references themselves score 100 / 100 / all exact */
    const char **refs = malloc(sizeof(char *) * (size_t)s.n_test);
    for (int i = 0; i < s.n_test; i++) refs[i] = d.ex[s.test[i]].target;
    TrScore sc;
    tr_score(&d, s.test, refs, s.n_test, &sc);
    cr_assert(sc.n == s.n_test && sc.n_exact == s.n_test && sc.bleu > 99.9999 && sc.chrf > 99.9999);
    free(refs);
    /* the lexicon learns content words from co-occurrence alone */
    TrLexicon lx;
    tr_lexicon_fit(&lx, &d, s.train, s.n_train);
    char *t = tr_lexicon_translate(&lx, "the cat sees Bruno");
    cr_assert(strstr(t, "chat") && strstr(t, "voit") && strstr(t, "Bruno"), "%s", t); /* unseen name copied */
    free(t);
    tr_lexicon_free(&lx);
    /* word by word beats copying, and neither comes near a grammar: no reordering, no agreement */
    TrBaseline b;
    tr_baseline(&d, &s, s.test, s.n_test, &b);
    cr_assert(b.word.bleu > b.copy.bleu + 10, "word %.1f copy %.1f", b.word.bleu, b.copy.bleu);
    cr_assert(b.word.chrf > b.copy.chrf);
    cr_assert(b.word.bleu < 60, "word-by-word BLEU %.1f is too good for a baseline", b.word.bleu);
    /* a transcription of sacreBLEU 2.x's BLEU and chrF code into plain Python (Counter n-grams, its regexes) gave
     * these values on the same 400 pairs, to 10 digits, when this test was written */
    cr_assert(fabs(b.word.bleu - 28.8466481873) < 1e-6, "%.10f", b.word.bleu);
    cr_assert(fabs(b.word.chrf - 72.9371291786) < 1e-6, "%.10f", b.word.chrf);
    cr_assert(fabs(b.copy.bleu - 0.0780678682) < 1e-6, "%.10f", b.copy.bleu);
    cr_assert(fabs(b.copy.chrf - 20.1566161610) < 1e-6, "%.10f", b.copy.chrf);
    char line[256];
    tr_baseline_format(&b, "test", line, sizeof line);
    cr_assert(strstr(line, "baseline on 400 test pairs: copy BLEU"), "%s", line);
    cr_log_info("%s", line);
    ft_split_free(&s);
    tr_free(&d);
}

Test(trdata, write_hypotheses) {
    TrData d = toy("source\ttarget\nthe cat\tle chat noir\nthe dog\tle chien\n");
    int rows[2] = {1, 0};
    const char *hyps[2] = {"le chien", NULL};
    char path[256];
    snprintf(path, sizeof path, "/tmp/llmwb-trdata-%ld-hyp.jsonl", (long)getpid());
    TrScore sc;
    LwError e = {0};
    cr_assert_eq(tr_write_hypotheses(path, &d, rows, hyps, 2, &sc, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(sc.n, 2);
    cr_assert_eq(sc.n_exact, 1);
    char *buf;
    size_t len;
    cr_assert_eq(lw_read_file(path, &buf, &len, &e), LW_OK);
    unlink(path);
    char *l2 = strchr(buf, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    cJSON *a = cJSON_ParseWithLength(buf, (size_t)(l2 - buf)), *b = cJSON_ParseWithLength(l2, (size_t)(l3 - l2));
    cJSON *c = cJSON_Parse(l3);
    cr_assert(a && b && c);
    cr_assert_eq(cJSON_GetObjectItem(a, "line")->valueint, 3);
    cr_assert_str_eq(cJSON_GetObjectItem(a, "hypothesis")->valuestring, "le chien");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "exact")));
    cr_assert_str_eq(cJSON_GetObjectItem(b, "target")->valuestring, "le chat noir");
    cr_assert_str_eq(cJSON_GetObjectItem(b, "hypothesis")->valuestring, "");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(b, "exact")));
    cr_assert_eq(cJSON_GetObjectItem(c, "exact")->valueint, 1);
    cr_assert_float_eq(cJSON_GetObjectItem(c, "bleu")->valuedouble, sc.bleu, 1e-9);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    free(buf);
    tr_free(&d);
}
