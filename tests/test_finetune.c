/* test_finetune.c — finetuning data: TSV and JSON/JSONL loading and their errors, balancing, splits, batches
 * (the book's collate example), templates, the naive-Bayes baseline, response scoring and the JSONL writer. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bpe.h"
#include "config.h"
#include "finetune.h"

#define FX "tests/data/finetune/"

/* ---- log capture: warnings must be logged, not printed ---- */
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

TestSuite(ftdata_cls, .init = log_setup, .fini = log_teardown);
TestSuite(ftdata_nb, .init = log_setup, .fini = log_teardown);
TestSuite(ftdata_ins, .init = log_setup, .fini = log_teardown);
TestSuite(ftdata_eval, .init = log_setup, .fini = log_teardown);

static FinetuneCfg ft_cfg(void) {
    FinetuneCfg f;
    memset(&f, 0, sizeof f);
    f.truncate = 1;
    snprintf(f.template_name, sizeof f.template_name, "alpaca");
    return f;
}

/* Loads path expecting failure; returns the message. */
static const char *cls_load_err(const char *path, const FinetuneCfg *f, int max_len, int want_code) {
    static LwError e;
    ClsData d;
    Tokenizer *tok = tok_new_bytes();
    int rc = cls_load(&d, path, f, tok, max_len, &e);
    cr_assert_eq(rc, want_code, "rc %d, msg: %s", rc, rc ? e.msg : "");
    cr_assert_eq(d.n, 0);
    cls_free(&d);
    tok_free(tok);
    return e.msg;
}

/* ================= classification ================= */

Test(ftdata_cls, tsv_header_extra_columns_crlf_and_quotes) {
    FinetuneCfg f = ft_cfg();
    Tokenizer *tok = tok_new_bytes();
    ClsData d;
    LwError e;
    cr_assert_eq(cls_load(&d, FX "ok.tsv", &f, tok, 1000, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n, 4);
    cr_assert_eq(d.n_labels, 2);
    cr_assert_str_eq(d.labels[0], "neg"); /* sorted */
    cr_assert_str_eq(d.labels[1], "pos");
    cr_assert_str_eq(d.ex[0].text, "A \"great\" film, truly."); /* quotes kept, no \r */
    cr_assert_eq(d.ex[0].label, 1);
    cr_assert_eq(d.ex[0].line, 2);
    cr_assert_str_eq(d.ex[2].text, "Works great"); /* extra column after text ignored */
    cr_assert_eq(d.ex[2].line, 5);                /* the blank line 4 is skipped but counted */
    cr_assert_str_eq(d.ex[3].text, "\"Bad\" bad bad");
    cr_assert_eq(d.ex[3].label, 0);
    /* bytes tokenizer: ids are the bytes */
    cr_assert_eq(d.ex[1].n, (int)strlen("Not good at all"));
    cr_assert_eq(d.ex[1].ids[0], 'N');
    cr_assert_eq(d.n_truncated, 0);
    cr_assert_eq(g_warns, 0);
    cls_free(&d);
    tok_free(tok);
}

Test(ftdata_cls, columns_found_by_name_and_labels_from_config_order) {
    FinetuneCfg f = ft_cfg();
    f.n_labels = 2;
    snprintf(f.labels[0], sizeof f.labels[0], "b");
    snprintf(f.labels[1], sizeof f.labels[1], "a");
    Tokenizer *tok = tok_new_bytes();
    ClsData d;
    LwError e;
    cr_assert_eq(cls_load(&d, FX "swapped.tsv", &f, tok, 1000, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n, 3); /* last line has no newline */
    cr_assert_str_eq(d.labels[0], "b");
    cr_assert_eq(d.ex[0].label, 0);
    cr_assert_eq(d.ex[1].label, 1);
    cr_assert_str_eq(d.ex[2].text, "hello again");
    cr_assert_eq(cls_label_index(&d, "a"), 1);
    cr_assert_eq(cls_label_index(&d, "zzz"), -1);
    cls_free(&d);
    tok_free(tok);
}

/* The book's SMSSpamCollection: label<TAB>text, no header, no extension; finetune.tsv_columns says so. */
Test(ftdata_cls, headerless_sms_spam_layout_with_tsv_columns) {
    FinetuneCfg f = ft_cfg();
    snprintf(f.tsv_columns, sizeof f.tsv_columns, "label,text");
    Tokenizer *tok = tok_new_bytes();
    ClsData d;
    LwError e;
    cr_assert_eq(cls_load(&d, FX "SMSSpamCollection", &f, tok, 1000, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n, 6, "the first line is data, not a header; the blank line is skipped");
    cr_assert_eq(d.n_labels, 2);
    cr_assert_str_eq(d.labels[0], "ham");
    cr_assert_str_eq(d.labels[1], "spam");
    cr_assert_str_eq(d.ex[0].text, "Go home now, dinner is ready.");
    cr_assert_eq(d.ex[0].line, 1);
    cr_assert_str_eq(d.ex[1].text, "WINNER!! You have won a 1000 prize. Call 09061701461 now"); /* no \r */
    cr_assert_eq(d.ex[1].label, 1);
    cr_assert_str_eq(d.ex[3].text, "A tab\tinside the text stays", "the last column keeps the rest of the line");
    cr_assert_eq(d.ex[3].line, 5);
    cr_assert_str_eq(d.ex[5].text, "\"Quotes\" are kept as written");
    cls_free(&d);
    /* text first, then label: the order is the config's */
    snprintf(f.tsv_columns, sizeof f.tsv_columns, "text,label");
    cr_assert_eq(cls_load(&d, FX "SMSSpamCollection", &f, tok, 1000, &e), 0, "%s", e.msg);
    cr_assert_str_eq(d.ex[0].text, "ham");
    cr_assert_eq(d.ex[3].label, cls_label_index(&d, "A tab"));
    cls_free(&d);
    /* without the key the first line is taken for a header, and the error says what to set */
    f.tsv_columns[0] = 0;
    cr_assert_neq(cls_load(&d, FX "SMSSpamCollection", &f, tok, 1000, &e), 0);
    cr_assert(strstr(e.msg, "SMSSpamCollection:1:"), "%s", e.msg);
    cr_assert(strstr(e.msg, "finetune.tsv_columns"), "%s", e.msg);
    tok_free(tok);
}

Test(ftdata_cls, malformed_rows_name_file_and_line) {
    FinetuneCfg f = ft_cfg();
    const char *m = cls_load_err(FX "missing_tab.tsv", &f, 1000, LW_ERR_PARSE);
    cr_assert(strstr(m, "missing_tab.tsv:3: expected 2 tab-separated columns, found 1 (missing tab?)"), "%s", m);
    m = cls_load_err(FX "empty_text.tsv", &f, 1000, LW_ERR_PARSE);
    cr_assert(strstr(m, "empty_text.tsv:3: empty text"), "%s", m);
    m = cls_load_err(FX "bad_header.tsv", &f, 1000, LW_ERR_PARSE);
    cr_assert(strstr(m, "bad_header.tsv:1:") && strstr(m, "\"label\""), "%s", m);
    m = cls_load_err(FX "bad_utf8.tsv", &f, 1000, LW_ERR_PARSE);
    cr_assert(strstr(m, "bad_utf8.tsv:2:10: invalid UTF-8"), "%s", m);
    m = cls_load_err(FX "no_such_file.tsv", &f, 1000, LW_ERR_IO);
    cr_assert(strstr(m, "no_such_file.tsv"), "%s", m);
}

Test(ftdata_cls, unknown_label_names_line_and_label) {
    FinetuneCfg f = ft_cfg();
    f.n_labels = 2;
    snprintf(f.labels[0], sizeof f.labels[0], "neg");
    snprintf(f.labels[1], sizeof f.labels[1], "pos");
    const char *m = cls_load_err(FX "unknown_label.tsv", &f, 1000, LW_ERR_INVALID);
    cr_assert(strstr(m, "unknown_label.tsv:4: unknown label 'spam' (labels: neg, pos)"), "%s", m);
}

Test(ftdata_cls, truncation_warns_or_fails) {
    FinetuneCfg f = ft_cfg();
    Tokenizer *tok = tok_new_bytes();
    ClsData d;
    LwError e;
    cr_assert_eq(cls_load(&d, FX "ok.tsv", &f, tok, 12, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n_truncated, 3); /* "Works great" has 11 bytes */
    cr_assert_eq(d.ex[0].n, 12);
    cr_assert_eq(memcmp(d.ex[0].ids, (int[]){'A', ' ', '"', 'g'}, 4 * sizeof(int)), 0); /* keeps the start */
    cr_assert_eq(d.ex[2].n, 11);
    cr_assert_eq(g_warns, 1);
    cr_assert(strstr(g_last_warn, "3 of 4 texts") && strstr(g_last_warn, "line 2"), "%s", g_last_warn);
    cls_free(&d);
    tok_free(tok);
    f.truncate = 0;
    const char *m = cls_load_err(FX "ok.tsv", &f, 12, LW_ERR_INVALID);
    cr_assert(strstr(m, "ok.tsv:2: text has 22 tokens, more than the context length 12"), "%s", m);
}

/* A ClsData with n examples and labels by a pattern, without a file. */
static void fake_cls(ClsData *d, int n, int n_labels, const int *label_of) {
    memset(d, 0, sizeof *d);
    d->ex = lw_calloc((size_t)n, sizeof(ClsExample));
    d->n = n;
    d->n_labels = n_labels;
    d->labels = lw_calloc((size_t)n_labels, sizeof(char *));
    for (int k = 0; k < n_labels; k++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", k);
        d->labels[k] = lw_strdup(name);
    }
    for (int i = 0; i < n; i++) {
        d->ex[i].label = label_of ? label_of[i] : i % n_labels;
        d->ex[i].n = 1 + i % 7;
        d->ex[i].ids = lw_malloc(sizeof(int) * (size_t)d->ex[i].n);
        for (int t = 0; t < d->ex[i].n; t++) d->ex[i].ids[t] = 100 * i + t;
        d->ex[i].text = lw_strdup("x");
    }
}

static void assert_partition(const FtSplit *s, int n_total, int n_items) {
    char *seen = calloc((size_t)n_total, 1);
    const int *lists[3] = {s->train, s->val, s->test};
    int counts[3] = {s->n_train, s->n_val, s->n_test};
    int total = 0;
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < counts[l]; i++) {
            cr_assert(lists[l][i] >= 0 && lists[l][i] < n_total);
            cr_assert_eq(seen[lists[l][i]], 0, "index %d appears twice", lists[l][i]);
            seen[lists[l][i]] = 1;
            total++;
        }
    cr_assert_eq(total, n_items);
    free(seen);
}

Test(ftdata_cls, split_sizes_follow_the_book_and_are_deterministic) {
    ClsData d;
    fake_cls(&d, 1494, 2, NULL);
    FtSplit a, b, c;
    LwError e;
    cr_assert_eq(cls_split(&a, &d, 0, 0.1f, 0.2f, 123, &e), 0, "%s", e.msg);
    cr_assert_eq(a.n_train, 1045); /* int(1494 * 0.7) */
    cr_assert_eq(a.n_val, 149);    /* int(1494 * 0.1) */
    cr_assert_eq(a.n_test, 300);   /* the rest */
    assert_partition(&a, d.n, d.n);
    cr_assert_eq(cls_split(&b, &d, 0, 0.1f, 0.2f, 123, &e), 0);
    cr_assert_eq(memcmp(a.train, b.train, sizeof(int) * (size_t)a.n_train), 0);
    cr_assert_eq(memcmp(a.test, b.test, sizeof(int) * (size_t)a.n_test), 0);
    cr_assert_eq(cls_split(&c, &d, 0, 0.1f, 0.2f, 124, &e), 0);
    cr_assert_neq(memcmp(a.train, c.train, sizeof(int) * (size_t)a.n_train), 0);
    /* shuffled: the train list is not the identity prefix */
    int in_order = 1;
    for (int i = 0; i < a.n_train; i++) in_order &= a.train[i] == i;
    cr_assert_not(in_order);
    ft_split_free(&a);
    ft_split_free(&b);
    ft_split_free(&c);
    cls_free(&d);
}

Test(ftdata_cls, balancing_undersamples_to_the_smallest_class) {
    int labels[20];
    for (int i = 0; i < 20; i++) labels[i] = i < 14 ? 0 : (i < 17 ? 1 : 2); /* 14, 3, 3 */
    ClsData d;
    fake_cls(&d, 20, 3, labels);
    FtSplit s;
    LwError e;
    cr_assert_eq(cls_split(&s, &d, 1, 0.2f, 0.2f, 7, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_train + s.n_val + s.n_test, 9);
    cr_assert_eq(s.n_train, 5); /* floor(9 * 0.6) */
    cr_assert_eq(s.n_val, 1);
    cr_assert_eq(s.n_test, 3);
    assert_partition(&s, d.n, 9);
    int count[3] = {0};
    const int *lists[3] = {s.train, s.val, s.test};
    int ns[3] = {s.n_train, s.n_val, s.n_test};
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < ns[l]; i++) count[d.ex[lists[l][i]].label]++;
    cr_assert_eq(count[0], 3);
    cr_assert_eq(count[1], 3);
    cr_assert_eq(count[2], 3);
    ft_split_free(&s);
    cls_free(&d);
}

Test(ftdata_cls, empty_split_and_bad_fractions_are_errors) {
    ClsData d;
    fake_cls(&d, 5, 2, NULL);
    FtSplit s;
    LwError e;
    cr_assert_eq(cls_split(&s, &d, 0, 0.1f, 0.1f, 1, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "validation split is empty") && strstr(e.msg, "5 examples"), "%s", e.msg);
    cr_assert_eq(s.n_train, 0);
    cr_assert_eq(cls_split(&s, &d, 0, 0.5f, 0.5f, 1, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "sum below 1"), "%s", e.msg);
    /* a fraction of 0 leaves that split empty on purpose */
    cr_assert_eq(cls_split(&s, &d, 0, 0.2f, 0.0f, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_train, 4);
    cr_assert_eq(s.n_val, 1);
    cr_assert_eq(s.n_test, 0);
    ft_split_free(&s);
    cls_free(&d);
}

Test(ftdata_cls, batch_pads_with_eot_and_reports_last_real_token) {
    ClsData d;
    fake_cls(&d, 10, 2, NULL); /* example i has 1 + i % 7 tokens: 100i, 100i+1, ... */
    int rows[3] = {2, 0, 6};   /* lengths 3, 1, 7 */
    cr_assert_eq(cls_max_len(&d, rows, 2), 3);
    int T = 4, inputs[12], last[3], labels[3];
    cls_batch(&d, rows, 3, T, 50256, inputs, last, labels);
    int want[12] = {200, 201, 202, 50256, 0, 50256, 50256, 50256, 600, 601, 602, 603};
    for (int i = 0; i < 12; i++) cr_assert_eq(inputs[i], want[i], "inputs[%d] = %d", i, inputs[i]);
    cr_assert_eq(last[0], 2);
    cr_assert_eq(last[1], 0);
    cr_assert_eq(last[2], 3); /* cut to T */
    cr_assert_eq(labels[0], 0);
    cr_assert_eq(labels[1], 0);
    cr_assert_eq(labels[2], 0);
    cls_free(&d);
}

Test(ftdata_cls, cursor_drops_last_and_resumes) {
    int rows[5] = {10, 11, 12, 13, 14};
    FtCursor c, r;
    LwError e;
    cr_assert_eq(ft_cursor_init(&c, rows, 5, 9, 1, &e), 0);
    cr_assert_eq(ft_cursor_n_batches(&c, 2), 2);
    int a[2], b[2], x[2];
    ft_cursor_next(&c, 2, a);
    ft_cursor_next(&c, 2, b);
    int seen = 0;
    for (int i = 0; i < 2; i++) seen |= 1 << (a[i] - 10), seen |= 1 << (b[i] - 10);
    cr_assert_eq(__builtin_popcount((unsigned)seen), 4); /* distinct within an epoch */
    cr_assert_eq(c.epoch, 0);
    long ep = c.epoch;
    int cur = c.cursor;
    ft_cursor_next(&c, 2, a); /* one row left: dropped, epoch 1 starts */
    cr_assert_eq(c.epoch, 1);
    cr_assert_eq(ft_cursor_init(&r, rows, 5, 9, 1, &e), 0);
    cr_assert_eq(ft_cursor_restore(&r, ep, cur, &e), 0);
    ft_cursor_next(&r, 2, x);
    cr_assert_eq(x[0], a[0]);
    cr_assert_eq(x[1], a[1]);
    cr_assert_eq(ft_cursor_restore(&r, 0, 6, &e), LW_ERR_INVALID);
    /* unshuffled, fewer rows than B: wraps in order */
    FtCursor w;
    cr_assert_eq(ft_cursor_init(&w, rows, 3, 1, 0, &e), 0);
    int big[4];
    ft_cursor_next(&w, 4, big);
    cr_assert_eq(big[0], 10);
    cr_assert_eq(big[2], 12);
    cr_assert_eq(big[3], 10);
    ft_cursor_free(&w);
    cr_assert_eq(ft_cursor_init(&w, rows, 0, 1, 0, &e), LW_ERR_INVALID);
    ft_cursor_free(&c);
    ft_cursor_free(&r);
    ft_cursor_free(&w);
}

/* ================= naive Bayes ================= */

static double nb_loglik(const NbModel *m, int k, const char *word) {
    for (int w = 0; w < m->n_words; w++)
        if (strcmp(m->words[w], word) == 0) return m->log_lik[(size_t)k * (size_t)m->n_words + (size_t)w];
    cr_assert_fail("word %s not in vocabulary", word);
    return 0;
}

Test(ftdata_nb, toy_set_matches_hand_computation) {
    const char *texts[4] = {"Good good, FUN!", "good movie", "bad movie", "bad bad\tboring"};
    int labels[4] = {0, 0, 1, 1};
    NbModel m;
    nb_fit(&m, texts, labels, 4, 2);
    cr_assert_eq(m.n_words, 5); /* good fun movie bad boring */
    cr_assert_float_eq(m.log_prior[0], log(0.5), 1e-12);
    /* class 0: 5 words (good 3, fun 1, movie 1), V = 5: P(good|0) = (3+1)/(5+5) */
    cr_assert_float_eq(nb_loglik(&m, 0, "good"), log(0.4), 1e-12);
    cr_assert_float_eq(nb_loglik(&m, 0, "bad"), log(0.1), 1e-12);
    cr_assert_float_eq(nb_loglik(&m, 1, "movie"), log(0.2), 1e-12);
    cr_assert_eq(nb_predict(&m, "movie, fun"), 0);
    cr_assert_eq(nb_predict(&m, "a BORING movie"), 1);
    cr_assert_eq(nb_predict(&m, "unseen words only"), 0); /* equal priors: ties go to the lower class */
    nb_free(&m);
}

static void nb_on_file(const char *path, int balance, double *val, double *test) {
    FinetuneCfg f = ft_cfg();
    Tokenizer *tok = tok_new_bytes();
    ClsData d;
    FtSplit s;
    LwError e;
    cr_assert_eq(cls_load(&d, path, &f, tok, 1 << 20, &e), 0, "%s", e.msg);
    cr_assert_eq(cls_split(&s, &d, balance, 0.1f, 0.2f, 123, &e), 0, "%s", e.msg);
    cls_baseline(&d, &s, val, test);
    ft_split_free(&s);
    cls_free(&d);
    tok_free(tok);
}

Test(ftdata_nb, shipped_sentiment_set_beats_chance) {
    double val, test;
    nb_on_file("corpora/classify/uci_sentiment_sentences.tsv", 1, &val, &test);
    cr_assert_gt(val, 0.70, "val accuracy %.3f", val);
    cr_assert_gt(test, 0.70, "test accuracy %.3f", test);
}

Test(ftdata_nb, shipped_authorship_set_is_easy_for_words) {
    double val, test;
    nb_on_file("corpora/classify/authorship_paragraphs.tsv", 0, &val, &test);
    cr_assert_gt(val, 0.85, "val accuracy %.3f", val);
    cr_assert_gt(test, 0.85, "test accuracy %.3f", test);
}

/* ================= instruction data ================= */

static void assert_ok_entries(const InsData *d, int line2, int line3) {
    cr_assert_eq(d->n, 3);
    cr_assert_str_eq(d->ex[0].instruction, "Give the plural of \"cat\".");
    cr_assert_str_eq(d->ex[0].input, "");
    cr_assert_str_eq(d->ex[0].output, "cats");
    cr_assert_str_eq(d->ex[1].input, "abc");
    cr_assert_str_eq(d->ex[1].output, "cba");
    cr_assert_str_eq(d->ex[2].input, ""); /* null or absent */
    cr_assert_eq(d->ex[1].line, line2);
    cr_assert_eq(d->ex[2].line, line3);
}

Test(ftdata_ins, loads_json_array_and_jsonl) {
    InsData d;
    LwError e;
    cr_assert_eq(ins_load(&d, FX "ok.json", &e), 0, "%s", e.msg);
    assert_ok_entries(&d, 4, 10);
    cr_assert_eq(d.ex[0].line, 2);
    ins_free(&d);
    cr_assert_eq(ins_load(&d, FX "ok.jsonl", &e), 0, "%s", e.msg);
    assert_ok_entries(&d, 3, 4); /* blank line 2 skipped, CRLF accepted */
    ins_free(&d);
}

static const char *ins_load_err(const char *path) {
    static LwError e;
    InsData d;
    int rc = ins_load(&d, path, &e);
    cr_assert_neq(rc, 0, "%s loaded", path);
    cr_assert_eq(d.n, 0);
    ins_free(&d);
    return e.msg;
}

Test(ftdata_ins, malformed_entries_name_file_line_and_problem) {
    const char *m = ins_load_err(FX "bad_syntax.jsonl");
    cr_assert(strstr(m, "bad_syntax.jsonl:3:") && strstr(m, "invalid JSON"), "%s", m);
    m = ins_load_err(FX "missing_output.json");
    cr_assert(strstr(m, "missing_output.json:5: missing string \"output\""), "%s", m);
    m = ins_load_err(FX "bad_input.jsonl");
    cr_assert(strstr(m, "bad_input.jsonl:2: \"input\" is not a string"), "%s", m);
    m = ins_load_err(FX "not_object.json");
    cr_assert(strstr(m, "not_object.json:3: entry is not an object"), "%s", m);
    m = ins_load_err(FX "bad_array.json");
    cr_assert(strstr(m, "bad_array.json:4:1: invalid JSON"), "%s", m);
    m = ins_load_err(FX "missing.jsonl");
    cr_assert(strstr(m, "missing.jsonl"), "%s", m);
}

Test(ftdata_ins, alpaca_template_is_the_books_text) {
    char *p = ins_format_prompt(INS_TEMPLATE_ALPACA, "Rewrite the sentence.", "The cake was baked by me.");
    cr_assert_str_eq(p, "Below is an instruction that describes a task. Write a response that appropriately completes "
                        "the request.\n\n### Instruction:\nRewrite the sentence.\n\n### Input:\nThe cake was baked "
                        "by me.\n\n### Response:\n");
    free(p);
    p = ins_format_full(INS_TEMPLATE_ALPACA, "Name a color.", "", "Blue.");
    cr_assert_str_eq(p, "Below is an instruction that describes a task. Write a response that appropriately completes "
                        "the request.\n\n### Instruction:\nName a color.\n\n### Response:\nBlue.");
    free(p);
    p = ins_format_full(INS_TEMPLATE_PHI3, "Reverse the word.", "abc", "cba");
    cr_assert_str_eq(p, "<|user|>\nReverse the word.\nabc<|end|>\n<|assistant|>\ncba");
    free(p);
    p = ins_format_prompt(INS_TEMPLATE_PHI3, "Say hi.", NULL);
    cr_assert_str_eq(p, "<|user|>\nSay hi.<|end|>\n<|assistant|>\n");
    free(p);
    InsTemplate t;
    LwError e;
    cr_assert_eq(ins_template_parse("phi3", &t, &e), 0);
    cr_assert_eq(t, INS_TEMPLATE_PHI3);
    cr_assert_eq(ins_template_parse("chatml", &t, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "alpaca, phi3"), "%s", e.msg);
}

/* The book's collate example: inputs [0..4], [5, 6], [7, 8, 9] padded with 50256. */
static void book_batch_data(InsData *d) {
    static int a[] = {0, 1, 2, 3, 4}, b[] = {5, 6}, c[] = {7, 8, 9};
    memset(d, 0, sizeof *d);
    d->ex = lw_calloc(3, sizeof(InsEntry));
    d->n = 3;
    int *ids[3] = {a, b, c}, ns[3] = {5, 2, 3}, np[3] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
        d->ex[i].ids = lw_malloc(sizeof(int) * (size_t)ns[i]);
        memcpy(d->ex[i].ids, ids[i], sizeof(int) * (size_t)ns[i]);
        d->ex[i].n = ns[i];
        d->ex[i].n_prompt = np[i];
    }
}

Test(ftdata_ins, batch_matches_the_books_collate) {
    InsData d;
    book_batch_data(&d);
    int rows[3] = {0, 1, 2};
    int T = ins_batch_len(&d, rows, 3, 1024);
    cr_assert_eq(T, 5);
    int in[15], tg[15];
    const int E = 50256, I = FT_IGNORE;
    ins_batch(&d, rows, 3, T, E, 0, in, tg);
    int want_in[15] = {0, 1, 2, 3, 4, 5, 6, E, E, E, 7, 8, 9, E, E};
    int want_tg[15] = {1, 2, 3, 4, E, 6, E, I, I, I, 8, 9, E, I, I};
    for (int i = 0; i < 15; i++) {
        cr_assert_eq(in[i], want_in[i], "inputs[%d] = %d", i, in[i]);
        cr_assert_eq(tg[i], want_tg[i], "targets[%d] = %d", i, tg[i]);
    }
    /* prompt masking: targets[0 : n_prompt-1] ignored (prompts of 3, 1, 2 tokens) */
    ins_batch(&d, rows, 3, T, E, 1, in, tg);
    int want_mask[15] = {I, I, 3, 4, E, 6, E, I, I, I, I, 9, E, I, I};
    for (int i = 0; i < 15; i++) cr_assert_eq(tg[i], want_mask[i], "masked targets[%d] = %d", i, tg[i]);
    /* capped at the context: the first T tokens, shifted targets, no end-of-text left */
    cr_assert_eq(ins_batch_len(&d, rows, 3, 3), 3);
    ins_batch(&d, rows, 1, 3, E, 0, in, tg);
    cr_assert_eq(in[2], 2);
    cr_assert_eq(tg[2], 3);
    ins_free(&d);
}

Test(ftdata_ins, tokenize_marks_prompt_and_truncates_or_fails) {
    InsData d;
    LwError e;
    Tokenizer *tok = tok_new_bytes();
    cr_assert_eq(ins_load(&d, FX "ok.json", &e), 0, "%s", e.msg);
    cr_assert_eq(ins_tokenize(&d, INS_TEMPLATE_ALPACA, tok, 4096, 0, &e), 0, "%s", e.msg);
    char *p = ins_format_prompt(INS_TEMPLATE_ALPACA, d.ex[1].instruction, d.ex[1].input);
    cr_assert_eq(d.ex[1].n_prompt, (int)strlen(p));
    cr_assert_eq(d.ex[1].n, (int)strlen(p) + 3);
    cr_assert_eq(d.ex[1].ids[d.ex[1].n - 1], 'a'); /* "cba" */
    free(p);
    cr_assert_eq(d.n_truncated, 0);
    cr_assert_eq(g_warns, 0);
    /* 123 bytes of template head: entries of 169, 177 and 149 tokens */
    cr_assert_eq(ins_tokenize(&d, INS_TEMPLATE_ALPACA, tok, 150, 0, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "ok.json:2: entry has 169 tokens, more than context_length 150"), "%s", e.msg);
    cr_assert_eq(ins_tokenize(&d, INS_TEMPLATE_ALPACA, tok, 150, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n_truncated, 2);
    cr_assert_eq(g_warns, 1);
    cr_assert(strstr(g_last_warn, "2 of 3 entries") && strstr(g_last_warn, "line 2"), "%s", g_last_warn);
    int rows[1] = {0};
    cr_assert_eq(ins_batch_len(&d, rows, 1, 150), 150);
    rows[0] = 2;
    cr_assert_eq(ins_batch_len(&d, rows, 1, 150), 149);
    ins_free(&d);
    tok_free(tok);
}

Test(ftdata_ins, gpt2_prompt_tokens_are_a_prefix_of_the_full_text) {
    Tokenizer *tok;
    LwError e;
    cr_assert_eq(tok_load_gpt2(&tok, "corpora/gpt2/encoder.json", "corpora/gpt2/vocab.bpe", &e), 0, "%s", e.msg);
    InsData d;
    cr_assert_eq(ins_load(&d, FX "ok.json", &e), 0, "%s", e.msg);
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(ins_tokenize(&d, (InsTemplate)t, tok, 1024, 0, &e), 0, "%s", e.msg);
        for (int i = 0; i < d.n; i++) {
            char *full = ins_format_full((InsTemplate)t, d.ex[i].instruction, d.ex[i].input, d.ex[i].output);
            IntVec v = {0};
            tok_encode(tok, full, strlen(full), 0, &v);
            cr_assert_eq((int)v.len, d.ex[i].n);
            cr_assert_eq(memcmp(v.data, d.ex[i].ids, v.len * sizeof(int)), 0);
            ivec_free(&v);
            free(full);
        }
        if (t == INS_TEMPLATE_ALPACA) cr_assert_eq(d.ex[0].ids[0], 21106); /* "Below" */
    }
    ins_free(&d);
    tok_free(tok);
}

Test(ftdata_ins, split_is_85_10_5) {
    FtSplit s;
    LwError e;
    cr_assert_eq(ins_split(&s, 1100, 0.05f, 0.1f, 123, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_train, 935); /* the book's figures for its 1,100 entries */
    cr_assert_eq(s.n_test, 110);
    cr_assert_eq(s.n_val, 55);
    assert_partition(&s, 1100, 1100);
    ft_split_free(&s);
    cr_assert_eq(ins_split(&s, 5, 0.05f, 0.1f, 123, &e), LW_ERR_INVALID);
    cr_assert(strstr(e.msg, "test split is empty"), "%s", e.msg);
}

/* ================= evaluation ================= */

Test(ftdata_eval, extract_response_strips_the_template) {
    char *r = ins_extract_response(INS_TEMPLATE_ALPACA,
                                   "Below is ...\n\n### Instruction:\nCapital?\n\n### Response:\n  Paris.<|endoftext|>x");
    cr_assert_str_eq(r, "Paris.");
    free(r);
    r = ins_extract_response(INS_TEMPLATE_ALPACA, "### Response:\ncats\n\n### Instruction:\nmore");
    cr_assert_str_eq(r, "cats");
    free(r);
    r = ins_extract_response(INS_TEMPLATE_ALPACA, " just text \n");
    cr_assert_str_eq(r, "just text");
    free(r);
    r = ins_extract_response(INS_TEMPLATE_PHI3, "<|user|>\nx<|end|>\n<|assistant|>\ncba<|end|>junk");
    cr_assert_str_eq(r, "cba");
    free(r);
}

Test(ftdata_eval, normalisation_exact_and_contains) {
    char *n = ins_normalize("  The   Big\tCat.  \n");
    cr_assert_str_eq(n, "the big cat");
    free(n);
    cr_assert(ins_exact_match("Paris.", " paris"));
    cr_assert(ins_exact_match("New  York", "new york."));
    cr_assert_not(ins_exact_match("Paris, France", "Paris"));
    cr_assert(ins_contains_answer("Paris, France", "Paris"));
    cr_assert(ins_contains_answer("The answer is 12.", "12"));
    cr_assert_not(ins_contains_answer("112", "12"));
    cr_assert_not(ins_contains_answer("anything", ""));
    cr_assert(ins_contains_answer("12", "12"));
}

Test(ftdata_eval, responses_written_as_jsonl) {
    InsData d;
    LwError e;
    cr_assert_eq(ins_load(&d, FX "ok.json", &e), 0, "%s", e.msg);
    char path[128];
    snprintf(path, sizeof path, "/tmp/llmwb-ftdata-%ld.jsonl", (long)getpid());
    int rows[3] = {0, 1, 2};
    const char *resp[3] = {"Cats.", "the word is cba", NULL};
    InsScore sc;
    cr_assert_eq(ins_write_responses(path, &d, rows, resp, 3, &sc, &e), 0, "%s", e.msg);
    cr_assert_eq(sc.n, 3);
    cr_assert_eq(sc.n_exact, 1);
    cr_assert_eq(sc.n_contains, 2);
    InsData back;
    cr_assert_eq(ins_load(&back, path, &e), LW_ERR_PARSE); /* no "output": it is not training data */
    char *text;
    size_t len;
    cr_assert_eq(lw_read_file(path, &text, &len, &e), 0);
    char *nl = strchr(text, '\n');
    cr_assert(nl);
    *nl = 0;
    cJSON *o = cJSON_Parse(text);
    cr_assert(o);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "expected")->valuestring, "cats");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "response")->valuestring, "Cats.");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "exact")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "contains")));
    cr_assert_str_eq(cJSON_GetObjectItem(o, "instruction")->valuestring, "Give the plural of \"cat\".");
    cJSON_Delete(o);
    int lines = 0;
    for (char *p = nl + 1; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 2);
    free(text);
    unlink(path);
    ins_free(&d);
}

/* ================= shipped instruction data ================= */

Test(ftdata_ins, shipped_task_files_load_split_and_batch) {
    InsData tr, te;
    LwError e;
    cr_assert_eq(ins_load(&tr, "corpora/instruct/tasks_train.jsonl", &e), 0, "%s", e.msg);
    cr_assert_eq(ins_load(&te, "corpora/instruct/tasks_test.jsonl", &e), 0, "%s", e.msg);
    cr_assert_gt(tr.n, 15000);
    cr_assert_gt(te.n, 1000);
    /* short answers (one word or number) */
    for (int i = 0; i < te.n; i++)
        cr_assert(strlen(te.ex[i].output) > 0 && strlen(te.ex[i].output) <= 40, "line %d", te.ex[i].line);
    FtSplit s;
    cr_assert_eq(ins_split(&s, tr.n, 0.05f, 0.1f, 123, &e), 0, "%s", e.msg);
    cr_assert_eq(s.n_train, (int)floor(tr.n * 0.85 + 1e-6));
    Tokenizer *tok = tok_new_bytes();
    cr_assert_eq(ins_tokenize(&tr, INS_TEMPLATE_ALPACA, tok, 256, 0, &e), 0, "%s", e.msg); /* all fit in 256 bytes */
    int rows[8];
    for (int i = 0; i < 8; i++) rows[i] = s.train[i];
    int T = ins_batch_len(&tr, rows, 8, 256);
    int *in = malloc(sizeof(int) * 8 * (size_t)T), *tg = malloc(sizeof(int) * 8 * (size_t)T);
    ins_batch(&tr, rows, 8, T, tok_eot(tok), 1, in, tg);
    for (int b = 0; b < 8; b++) { /* each row: exactly one end-of-text target, response targets not masked */
        const InsEntry *x = &tr.ex[rows[b]];
        int eots = 0, kept = 0;
        for (int t = 0; t < T; t++) eots += tg[b * T + t] == tok_eot(tok), kept += tg[b * T + t] != FT_IGNORE;
        cr_assert_eq(eots, 1);
        cr_assert_eq(kept, x->n - x->n_prompt + 1);
    }
    free(in);
    free(tg);
    tok_free(tok);
    ft_split_free(&s);
    ins_free(&tr);
    ins_free(&te);
}

Test(ftdata_ins, byte_order_mark_is_skipped) {
    InsData d;
    LwError e;
    cr_assert_eq(ins_load(&d, FX "bom.json", &e), 0, "%s", e.msg);
    cr_assert_eq(d.n, 1);
    ins_free(&d);
    FinetuneCfg f = ft_cfg();
    Tokenizer *tok = tok_new_bytes();
    ClsData c;
    cr_assert_eq(cls_load(&c, FX "bom.tsv", &f, tok, 100, &e), 0, "%s", e.msg);
    cr_assert_eq(c.n, 2);
    cls_free(&c);
    tok_free(tok);
}
