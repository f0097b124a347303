/* test_gpt2_parity.c — GPT-2 BPE ids equal tiktoken's (r50k_base) on the shipped vectors and the book's examples;
 * both loaders give the same tokenizer; arbitrary bytes round-trip. Runs from the repo root. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "rng.h"

#define ENC "corpora/gpt2/encoder.json"
#define BPE "corpora/gpt2/vocab.bpe"
#define TIK "corpora/gpt2/r50k_base.tiktoken"

static Tokenizer *load_gpt2(void) {
    Tokenizer *t = NULL;
    LwError e = {0};
    int rc = tok_load_gpt2(&t, ENC, BPE, &e);
    cr_assert_eq(rc, LW_OK, "load: %s", e.msg);
    return t;
}

static void expect_ids(const Tokenizer *t, const char *text, size_t len, int allow, const int *want, size_t n,
                       const char *what) {
    IntVec v = {0};
    tok_encode(t, text, len, allow, &v);
    cr_assert_eq(v.len, n, "%s: %zu ids, want %zu", what, v.len, n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(v.data[i], want[i], "%s: id %zu is %d, want %d", what, i, v.data[i], want[i]);
    size_t dl;
    char *d = tok_decode(t, v.data, v.len, &dl);
    cr_assert(dl == len && memcmp(d, text, len) == 0, "%s: decode differs", what);
    free(d);
    ivec_free(&v);
}

#define EXPECT(t, s, allow, ...)                                                                                       \
    do {                                                                                                               \
        static const int want_[] = {__VA_ARGS__};                                                                      \
        expect_ids(t, s, strlen(s), allow, want_, LW_ARRAY_LEN(want_), s);                                             \
    } while (0)

Test(gpt2parity, book_tea_with_endoftext) {
    Tokenizer *t = load_gpt2();
    cr_assert_eq(tok_vocab_size(t), 50257);
    cr_assert_eq(tok_eot(t), 50256);
    EXPECT(t, "Hello, do you like tea? <|endoftext|> In the sunlit terracesof someunknownPlace.", 1, 15496, 11, 466,
           345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 1659, 617, 34680, 27271, 13);
    tok_free(t);
}

Test(gpt2parity, book_akwirw) {
    Tokenizer *t = load_gpt2();
    EXPECT(t, "Akwirw ier", 0, 33901, 86, 343, 86, 220, 959);
    tok_free(t);
}

Test(gpt2parity, book_short_examples) {
    Tokenizer *t = load_gpt2();
    EXPECT(t, "Hello, I am", 0, 15496, 11, 314, 716);
    EXPECT(t, "This is some text", 0, 1212, 318, 617, 2420);
    EXPECT(t, "hello world", 0, 31373, 995);
    EXPECT(t, "\n", 0, 198);
    tok_free(t);
}

Test(gpt2parity, endoftext_not_allowed_is_text) {
    Tokenizer *t = load_gpt2();
    IntVec a = {0}, b = {0};
    tok_encode(t, "x<|endoftext|>y", 15, 0, &a);
    tok_encode(t, "x<|endoftext|>y", 15, 1, &b);
    for (size_t i = 0; i < a.len; i++) cr_assert_neq(a.data[i], 50256);
    cr_assert_gt(a.len, 3);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(b.data[1], 50256);
    int l;
    const unsigned char *s = tok_bytes(t, 50256, &l);
    cr_assert(l == 13 && !memcmp(s, "<|endoftext|>", 13));
    cr_assert_null(tok_bytes(t, 50257, &l));
    cr_assert_null(tok_bytes(t, -1, &l));
    ivec_free(&a);
    ivec_free(&b);
    tok_free(t);
}

/* TestPlans.txt: blocks "EncodingName: X\nSample: <text>\nEncoded: [ids]\n\n"; the text runs up to "\nEncoded: ". */
static int run_testplans(const Tokenizer *t) {
    char *data;
    size_t n;
    LwError e;
    cr_assert_eq(lw_read_file("tests/vectors/TestPlans.txt", &data, &n, &e), LW_OK, "%s", e.msg);
    int cases = 0;
    char *p = data;
    while ((p = strstr(p, "EncodingName: "))) {
        p += 14;
        int r50k = !strncmp(p, "r50k_base\n", 10);
        char *s = strstr(p, "\nSample: ");
        cr_assert_not_null(s);
        s += 9;
        char *enc = strstr(s, "\nEncoded: [");
        cr_assert_not_null(enc);
        size_t slen = (size_t)(enc - s);
        char *q = enc + 11;
        p = q;
        if (!r50k) continue;
        int want[4096];
        size_t nw = 0;
        while (*q != ']') {
            char *end;
            long v = strtol(q, &end, 10);
            cr_assert(end != q, "bad id list");
            cr_assert_lt(nw, LW_ARRAY_LEN(want));
            want[nw++] = (int)v;
            q = end;
            while (*q == ',' || *q == ' ') q++;
        }
        char what[64];
        snprintf(what, sizeof what, "TestPlans r50k case %d", cases);
        expect_ids(t, s, slen, 0, want, nw, what);
        cases++;
    }
    free(data);
    return cases;
}

Test(gpt2parity, testplans_r50k_all_64) {
    Tokenizer *t = load_gpt2();
    cr_assert_eq(run_testplans(t), 64);
    tok_free(t);
}

Test(gpt2parity, testplans_via_tiktoken_file) {
    Tokenizer *t = NULL;
    LwError e;
    cr_assert_eq(tok_load_tiktoken(&t, TIK, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(run_testplans(t), 64);
    tok_free(t);
}

Test(gpt2parity, reference_jsonl_all_24) {
    Tokenizer *t = load_gpt2();
    char *data;
    size_t n;
    LwError e;
    cr_assert_eq(lw_read_file("tests/vectors/gpt2_reference.jsonl", &data, &n, &e), LW_OK);
    int cases = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j);
        cJSON *text = cJSON_GetObjectItem(j, "text"), *ids = cJSON_GetObjectItem(j, "ids");
        cr_assert(cJSON_IsString(text) && cJSON_IsArray(ids));
        int nw = cJSON_GetArraySize(ids);
        int *want = malloc((size_t)(nw + 1) * sizeof *want);
        for (int i = 0; i < nw; i++) want[i] = cJSON_GetArrayItem(ids, i)->valueint;
        char what[64];
        snprintf(what, sizeof what, "jsonl case %d", cases);
        expect_ids(t, text->valuestring, strlen(text->valuestring), 0, want, (size_t)nw, what);
        free(want);
        cJSON_Delete(j);
        cases++;
    }
    cr_assert_eq(cases, 24);
    free(data);
    tok_free(t);
}

static void assert_same_tokenizer(const Tokenizer *a, const Tokenizer *b) {
    cr_assert_eq(tok_vocab_size(a), tok_vocab_size(b));
    cr_assert_eq(tok_eot(a), tok_eot(b));
    cr_assert_eq(tok_kind(a), tok_kind(b));
    for (int id = 0; id < tok_vocab_size(a); id++) {
        int la, lb;
        const unsigned char *x = tok_bytes(a, id, &la), *y = tok_bytes(b, id, &lb);
        cr_assert(la == lb && !memcmp(x, y, (size_t)la), "token %d differs", id);
    }
    cr_assert_eq(tok_n_merges(a), tok_n_merges(b));
    for (int r = 0; r < tok_n_merges(a); r++) {
        int l1, r1, i1, l2, r2, i2;
        cr_assert(tok_merge(a, r, &l1, &r1, &i1) && tok_merge(b, r, &l2, &r2, &i2));
        cr_assert(l1 == l2 && r1 == r2 && i1 == i2, "merge %d: %d+%d->%d vs %d+%d->%d", r, l1, r1, i1, l2, r2, i2);
    }
}

Test(gpt2parity, loaders_identical_and_encode_novel_same) {
    Tokenizer *a = load_gpt2(), *b = NULL, *c = NULL;
    LwError e;
    cr_assert_eq(tok_load_tiktoken(&b, TIK, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_load_dir(&c, "corpora/gpt2", &e), LW_OK, "%s", e.msg);
    assert_same_tokenizer(a, b);
    assert_same_tokenizer(a, c);
    char *d;
    size_t n;
    cr_assert_eq(lw_read_file("corpora/wells_war_of_the_worlds.txt", &d, &n, &e), LW_OK);
    IntVec x = {0}, y = {0};
    tok_encode(a, d, n, 0, &x);
    tok_encode(b, d, n, 0, &y);
    cr_assert_eq(x.len, y.len);
    cr_assert(!memcmp(x.data, y.data, x.len * sizeof(int)));
    ivec_free(&x);
    ivec_free(&y);
    free(d);
    tok_free(a);
    tok_free(b);
    tok_free(c);
}

Test(gpt2parity, save_dir_roundtrip_is_identical) {
    Tokenizer *a = load_gpt2(), *b = NULL;
    LwError e;
    char dir[] = "/tmp/llmwb-tok-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(tok_save_dir(a, dir, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_load_dir(&b, dir, &e), LW_OK, "%s", e.msg);
    assert_same_tokenizer(a, b);
    /* merges.txt is byte-identical to OpenAI's vocab.bpe apart from the header line */
    char path[512], *m1, *m2;
    size_t n1, n2;
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    cr_assert_eq(lw_read_file(path, &m1, &n1, &e), LW_OK);
    cr_assert_eq(lw_read_file(BPE, &m2, &n2, &e), LW_OK);
    cr_assert(!strncmp(m1, "#version: 0.2\n", 14));
    char *b1 = strchr(m1, '\n') + 1, *b2 = strchr(m2, '\n') + 1;
    size_t l1 = n1 - (size_t)(b1 - m1), l2 = n2 - (size_t)(b2 - m2);
    while (l2 && b2[l2 - 1] == '\n') l2--;
    while (l1 && b1[l1 - 1] == '\n') l1--;
    cr_assert(l1 == l2 && !memcmp(b1, b2, l1), "merges.txt differs from vocab.bpe");
    free(m1);
    free(m2);
    lw_rmtree(dir);
    tok_free(a);
    tok_free(b);
}

Test(gpt2parity, random_bytes_roundtrip) {
    Tokenizer *t = load_gpt2();
    Rng r;
    rng_seed(&r, 1234);
    char buf[600];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = rng_below(&r, sizeof buf);
        int mode = iter % 3; /* raw bytes, mostly ASCII with some high bytes, broken UTF-8 around real text */
        for (size_t i = 0; i < n; i++) {
            unsigned v = rng_u32(&r);
            if (mode == 0) buf[i] = (char)v;
            else if (mode == 1) buf[i] = (v & 7) == 0 ? (char)(0x80 | (v >> 8)) : " ae'\n1.\xc3\xa9"[(v >> 8) % 10];
            else buf[i] = (char)"h\xe2\x82\xac\xf0\x9f\x98\x80 s'\r"[(v >> 8) % 12];
        }
        IntVec v = {0};
        tok_encode(t, buf, n, iter & 1, &v);
        for (size_t i = 0; i < v.len; i++) cr_assert(v.data[i] >= 0 && v.data[i] < 50257);
        size_t dl;
        char *d = tok_decode(t, v.data, v.len, &dl);
        cr_assert(dl == n && !memcmp(d, buf, n), "round trip failed at iteration %d", iter);
        free(d);
        ivec_free(&v);
    }
    tok_free(t);
}

Test(gpt2parity, invalid_utf8_bytes_are_byte_tokens) {
    Tokenizer *t = load_gpt2();
    /* a lone continuation byte and a truncated sequence between words: each invalid byte is its own piece */
    const char s[] = "caf\xe9 ok \x80\xff done \xe2\x82";
    IntVec v = {0};
    tok_encode(t, s, sizeof s - 1, 0, &v);
    IntVec w = {0};
    tok_encode(t, "\xe9", 1, 0, &w);
    cr_assert_eq(w.len, 1);
    int found = 0;
    for (size_t i = 0; i < v.len; i++) found |= v.data[i] == w.data[0];
    cr_assert(found);
    size_t dl;
    char *d = tok_decode(t, v.data, v.len, &dl);
    cr_assert(dl == sizeof s - 1 && !memcmp(d, s, dl));
    free(d);
    ivec_free(&v);
    ivec_free(&w);
    tok_free(t);
}

Test(gpt2parity, heap_merge_loop_equals_scan) {
    Tokenizer *t = load_gpt2();
    Rng r;
    rng_seed(&r, 99);
    unsigned char buf[400];
    for (int iter = 0; iter < 200; iter++) {
        size_t n = 1 + rng_below(&r, sizeof buf - 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v = rng_u32(&r);
            buf[i] = iter % 2 ? (unsigned char)v : (unsigned char)"aaaabcde =-"[v % 11];
        }
        IntVec a = {0}, b = {0};
        tok_encode_piece(t, buf, n, 0, &a);
        tok_encode_piece(t, buf, n, 1, &b);
        cr_assert_eq(a.len, b.len, "iteration %d", iter);
        cr_assert(!memcmp(a.data, b.data, a.len * sizeof(int)), "iteration %d", iter);
        ivec_free(&a);
        ivec_free(&b);
    }
    tok_free(t);
}

Test(gpt2parity, long_runs_encode_like_tiktoken_semantics) {
    Tokenizer *t = load_gpt2();
    /* 5000 spaces then a word: long whitespace pieces take the heap path; result must equal the scan's */
    size_t n = 5000;
    char *s = malloc(n + 4);
    memset(s, ' ', n);
    memcpy(s + n, "abc", 4);
    IntVec v = {0}, w = {0};
    tok_encode(t, s, n + 3, 0, &v);
    tok_encode_piece(t, (const unsigned char *)s, n - 1, 0, &w); /* the whitespace piece, minus the space of " abc" */
    tok_encode(t, " abc", 4, 0, &w);
    cr_assert_eq(v.len, w.len);
    cr_assert(!memcmp(v.data, w.data, w.len * sizeof(int)));
    free(s);
    ivec_free(&v);
    ivec_free(&w);
    tok_free(t);
}

Test(gpt2parity, trace_shows_merges_in_order) {
    Tokenizer *t = load_gpt2();
    EncodeTrace tr;
    cr_assert_eq(tok_encode_trace(t, " terraces", 9, &tr), LW_OK);
    cr_assert_eq(tr.n_toks[0], 9);
    cr_assert_eq(tr.merge_rank[0], -1);
    cr_assert_gt(tr.n_steps, 2);
    for (int s = 1; s < tr.n_steps; s++) {
        cr_assert_eq(tr.n_toks[s], tr.n_toks[s - 1] - 1);
        if (s > 1) cr_assert_geq(tr.merge_rank[s], 0);
    }
    IntVec v = {0};
    tok_encode(t, " terraces", 9, 0, &v);
    int last = tr.n_steps - 1;
    cr_assert_eq((size_t)tr.n_toks[last], v.len);
    for (size_t i = 0; i < v.len; i++) cr_assert_eq(tr.ids[last][i], v.data[i]);
    ivec_free(&v);
    tok_free(t);
}

Test(gpt2parity, malformed_files_report_file_and_line) {
    char dir[] = "/tmp/llmwb-tokbad-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char vj[512], mg[512];
    snprintf(vj, sizeof vj, "%s/vocab.json", dir);
    snprintf(mg, sizeof mg, "%s/merges.txt", dir);
    LwError e;
    Tokenizer *t = NULL;
    /* a vocabulary lacking most bytes */
    cr_assert_eq(lw_write_file_atomic(vj, "{\"a\": 0, \"b\": 1}", 16, &e), LW_OK);
    cr_assert_eq(lw_write_file_atomic(mg, "#version: 0.2\n", 14, &e), LW_OK);
    cr_assert_eq(tok_load_dir(&t, dir, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "vocab.json") && strstr(e.msg, "has no token"), "%s", e.msg);
    cr_assert_null(t);
    /* not JSON */
    cr_assert_eq(lw_write_file_atomic(vj, "{\"a\": ", 6, &e), LW_OK);
    cr_assert_eq(tok_load_dir(&t, dir, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "vocab.json"), "%s", e.msg);
    /* a bad merge line in a real vocabulary */
    Tokenizer *g = load_gpt2();
    cr_assert_eq(tok_save_dir(g, dir, &e), LW_OK, "%s", e.msg);
    tok_free(g);
    cr_assert_eq(lw_write_file_atomic(mg, "#version: 0.2\n\xc4\xa0 t\nnotapair\n", 27, &e), LW_OK);
    cr_assert_eq(tok_load_dir(&t, dir, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "merges.txt:3:"), "%s", e.msg);
    cr_assert_eq(lw_write_file_atomic(mg, "#version: 0.2\nzzzq zzzq\n", 24, &e), LW_OK);
    cr_assert_eq(tok_load_dir(&t, dir, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "merges.txt:2:"), "%s", e.msg);
    /* missing files */
    cr_assert_eq(tok_load_dir(&t, "/nonexistent-llmwb", &e), LW_ERR_IO);
    cr_assert_eq(tok_load_tiktoken(&t, mg, &e), LW_ERR_PARSE);
    cr_assert(strstr(e.msg, "merges.txt:1:"), "%s", e.msg);
    lw_rmtree(dir);
}
