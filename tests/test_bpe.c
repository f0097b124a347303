/* test_bpe.c — pre-tokenizer (fast scanner vs PCRE2), the step-wise BPE trainer (vs a naive recounting trainer,
 * stepping back and forward, segments), trained vocabularies saved and reloaded, bytes and word tokenizers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "pretok.h"
#include "rng.h"

static char *read_all(const char *path, size_t *n) {
    char *d;
    LwError e;
    cr_assert_eq(lw_read_file(path, &d, n, &e), LW_OK, "%s", e.msg);
    return d;
}

/* Pieces of both pre-tokenizer paths must be identical and tile the text. */
static void check_pretok_paths(const char *s, size_t n, const char *what) {
    PretokIter a, b;
    pretok_iter_init(&a, s, n, 1);
    pretok_iter_init(&b, s, n, 0);
    size_t sa, la, sb, lb, at = 0;
    for (;;) {
        int ma = pretok_next(&a, &sa, &la), mb = pretok_next(&b, &sb, &lb);
        cr_assert_eq(ma, mb, "%s: piece counts differ at byte %zu", what, at);
        if (!ma) break;
        cr_assert(sa == sb && la == lb, "%s: pieces differ at byte %zu (%zu vs %zu bytes)", what, at, la, lb);
        cr_assert(sa == at && la > 0, "%s: pieces do not tile the text", what);
        at += la;
    }
    cr_assert_eq(at, n, "%s", what);
    pretok_iter_free(&a);
    pretok_iter_free(&b);
}

Test(bpetok, pretok_fast_equals_pcre_on_novels_and_vectors) {
    const char *files[] = {"corpora/austen_prideprejudice.txt", "corpora/austen_emma.txt",
                           "corpora/dickens_great_expectations.txt", "corpora/melville_moby_dick.txt",
                           "corpora/wells_war_of_the_worlds.txt", "tests/vectors/TestPlans.txt",
                           "tests/vectors/gpt2_reference.jsonl"};
    for (size_t i = 0; i < LW_ARRAY_LEN(files); i++) {
        size_t n;
        char *d = read_all(files[i], &n);
        check_pretok_paths(d, n, files[i]);
        free(d);
    }
}

Test(bpetok, pretok_fast_equals_pcre_on_random_bytes) {
    Rng r;
    rng_seed(&r, 7);
    char buf[512];
    static const char alpha[] = " \t\n\r\v\f'sltdmrev aZ09.,!-\xc2\xa0\xc2\x85\xc3\xa9\xe2\x80\x83\xd9\xa3\x80\xff";
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = rng_below(&r, sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = iter % 4 == 0 ? (char)rng_u32(&r) : alpha[rng_below(&r, sizeof alpha - 1)];
        check_pretok_paths(buf, n, "random");
    }
}

static int pieces(const char *s, char out[][32], int max) {
    PretokIter it;
    pretok_iter_init(&it, s, strlen(s), 0);
    size_t st, l;
    int n = 0;
    while (n < max && pretok_next(&it, &st, &l)) {
        snprintf(out[n++], 32, "%.*s", (int)l, s + st);
    }
    pretok_iter_free(&it);
    return n;
}

Test(bpetok, pretok_pattern_cases) {
    char p[16][32];
    cr_assert_eq(pieces("a   b", p, 16), 3);
    cr_assert_str_eq(p[1], "  ");
    cr_assert_str_eq(p[2], " b");
    cr_assert_eq(pieces("He's ''s", p, 16), 4);
    cr_assert_str_eq(p[1], "'s");
    cr_assert_str_eq(p[2], " ''");
    cr_assert_str_eq(p[3], "s");
    /* U+0085 (NEL) is White_Space, as in tiktoken: " " then NEL alone (were it not, " NEL" would be one piece) */
    cr_assert_eq(pieces("x \xc2\x85y", p, 16), 4);
    cr_assert_str_eq(p[1], " ");
    cr_assert_str_eq(p[2], "\xc2\x85");
    cr_assert_eq(pieces("12ab !?", p, 16), 3);
    cr_assert_str_eq(p[2], " !?");
    cr_assert_eq(pieces("a\xff\xfe b", p, 16), 4); /* invalid bytes are pieces of one byte */
    cr_assert_str_eq(p[1], "\xff");
}

/* ---- naive reference trainer: recounts every pair at every step ---- */
typedef struct {
    int n;
    int *len, **tok;
    long *count;
} NaiveWords;

static void naive_init(NaiveWords *w, const char *s, size_t n) {
    memset(w, 0, sizeof *w);
    PretokIter it;
    pretok_iter_init(&it, s, n, 1);
    size_t st, l;
    while (pretok_next(&it, &st, &l)) {
        int found = -1;
        for (int i = 0; i < w->n && found < 0; i++) {
            if ((size_t)w->len[i] != l) continue;
            int same = 1;
            for (size_t k = 0; k < l; k++) same &= w->tok[i][k] == (unsigned char)s[st + k];
            if (same) found = i;
        }
        if (found < 0) {
            found = w->n++;
            w->len = realloc(w->len, (size_t)w->n * sizeof *w->len);
            w->tok = realloc(w->tok, (size_t)w->n * sizeof *w->tok);
            w->count = realloc(w->count, (size_t)w->n * sizeof *w->count);
            w->len[found] = (int)l;
            w->tok[found] = malloc(l * sizeof(int));
            for (size_t k = 0; k < l; k++) w->tok[found][k] = (unsigned char)s[st + k];
            w->count[found] = 0;
        }
        w->count[found]++;
    }
    pretok_iter_free(&it);
}

/* One step: the pair of highest count (ties: smaller left, then smaller right); returns 0 when none has count >= 2. */
static int naive_step(NaiveWords *w, int new_id, int *left, int *right, long *count, long *n_tokens) {
    int cap = 1 << 16, np = 0;
    int *pa = malloc((size_t)cap * sizeof(int)), *pb = malloc((size_t)cap * sizeof(int));
    long *pc = malloc((size_t)cap * sizeof(long));
    for (int i = 0; i < w->n; i++)
        for (int k = 0; k + 1 < w->len[i]; k++) {
            int j = 0;
            while (j < np && !(pa[j] == w->tok[i][k] && pb[j] == w->tok[i][k + 1])) j++;
            if (j == np) {
                cr_assert_lt(np, cap);
                pa[np] = w->tok[i][k], pb[np] = w->tok[i][k + 1], pc[np++] = 0;
            }
            pc[j] += w->count[i];
        }
    int best = -1;
    for (int j = 0; j < np; j++)
        if (best < 0 || pc[j] > pc[best] || (pc[j] == pc[best] && (pa[j] < pa[best] || (pa[j] == pa[best] && pb[j] < pb[best]))))
            best = j;
    int ok = best >= 0 && pc[best] >= 2;
    if (ok) {
        *left = pa[best], *right = pb[best], *count = pc[best];
        *n_tokens = 0;
        for (int i = 0; i < w->n; i++) {
            int k2 = 0;
            for (int k = 0; k < w->len[i]; k++) {
                if (k + 1 < w->len[i] && w->tok[i][k] == *left && w->tok[i][k + 1] == *right) {
                    w->tok[i][k2++] = new_id;
                    k++;
                } else {
                    w->tok[i][k2++] = w->tok[i][k];
                }
            }
            w->len[i] = k2;
            *n_tokens += (long)k2 * w->count[i];
        }
    }
    free(pa);
    free(pb);
    free(pc);
    return ok;
}

static void naive_free(NaiveWords *w) {
    for (int i = 0; i < w->n; i++) free(w->tok[i]);
    free(w->tok);
    free(w->len);
    free(w->count);
}

static BpeTrainer *open_trainer(const char *s, size_t n, int vocab) {
    BpeTrainer *b = NULL;
    LwError e;
    cr_assert_eq(bpe_trainer_open(&b, s, n, vocab, &e), LW_OK, "%s", e.msg);
    return b;
}

Test(bpetok, trainer_matches_naive_recount) {
    size_t n;
    char *d = read_all("corpora/austen_prideprejudice.txt", &n);
    n = 4000;
    NaiveWords w;
    naive_init(&w, d, n);
    BpeTrainer *b = open_trainer(d, n, 257 + 150);
    cr_assert_eq(bpe_trainer_n_tokens(b), (long)n);
    int steps = 0;
    for (;;) {
        int l = -1, r = -1;
        long c = 0, nt = 0;
        int ok = naive_step(&w, 256 + steps, &l, &r, &c, &nt);
        BpeStepInfo info;
        int got = bpe_trainer_step(b, &info);
        if (steps == 150) {
            cr_assert_eq(got, 0, "target reached");
            break;
        }
        cr_assert_eq(got, ok, "step %d", steps);
        if (!ok) break;
        cr_assert(info.left == l && info.right == r && info.count == c, "step %d: trainer %d+%d (%ld), naive %d+%d (%ld)",
                  steps, info.left, info.right, info.count, l, r, c);
        cr_assert_eq(info.new_id, 256 + steps);
        cr_assert(info.n_top >= 1 && info.top[0].left == l && info.top[0].right == r && info.top[0].count == c);
        for (int i = 1; i < info.n_top; i++) cr_assert_geq(info.top[i - 1].count, info.top[i].count);
        cr_assert_eq(bpe_trainer_n_tokens(b), nt, "step %d", steps);
        steps++;
    }
    cr_assert_eq(steps, 150);
    naive_free(&w);
    bpe_trainer_close(b);
    free(d);
}

Test(bpetok, trainer_stops_when_no_pair_repeats) {
    BpeTrainer *b = open_trainer("abcd", 4, 1000);
    cr_assert_eq(bpe_trainer_step(b, NULL), 0);
    bpe_trainer_close(b);
    b = open_trainer("abab abab", 9, 1000);
    BpeStepInfo info;
    cr_assert_eq(bpe_trainer_step(b, &info), 1);
    cr_assert(info.left == 'a' && info.right == 'b' && info.count == 4);
    cr_assert_eq(bpe_trainer_back(b), 1);
    cr_assert_eq(bpe_trainer_back(b), 0);
    bpe_trainer_close(b);
    LwError e;
    cr_assert_eq(bpe_trainer_open(&b, "x", 1, 100, &e), LW_ERR_INVALID);
}

typedef struct {
    int n;
    int l[400], r[400];
    long c[400];
    long n_tokens;
    int top_l[BPE_TRAINER_TOPK], top_r[BPE_TRAINER_TOPK];
    long top_c[BPE_TRAINER_TOPK];
    int n_top;
} TrainerState;

static void capture(const BpeTrainer *b, TrainerState *s) {
    memset(s, 0, sizeof *s);
    s->n = bpe_trainer_n_merges(b);
    for (int i = 0; i < s->n; i++) cr_assert(bpe_trainer_merge(b, i, &s->l[i], &s->r[i], &s->c[i]));
    s->n_tokens = bpe_trainer_n_tokens(b);
    s->n_top = bpe_trainer_top(b, BPE_TRAINER_TOPK, s->top_l, s->top_r, s->top_c);
}

static void assert_same_state(const TrainerState *a, const TrainerState *b, const char *what) {
    cr_assert_eq(a->n, b->n, "%s", what);
    cr_assert_eq(a->n_tokens, b->n_tokens, "%s", what);
    cr_assert_eq(a->n_top, b->n_top, "%s", what);
    for (int i = 0; i < a->n; i++)
        cr_assert(a->l[i] == b->l[i] && a->r[i] == b->r[i] && a->c[i] == b->c[i], "%s: merge %d", what, i);
    for (int i = 0; i < a->n_top; i++)
        cr_assert(a->top_l[i] == b->top_l[i] && a->top_r[i] == b->top_r[i] && a->top_c[i] == b->top_c[i],
                  "%s: candidate %d", what, i);
}

Test(bpetok, back_then_forward_equals_fresh_run) {
    size_t n;
    char *d = read_all("corpora/wells_war_of_the_worlds.txt", &n);
    n = 60000;
    const int N = 300, K = 120;
    BpeTrainer *fresh = open_trainer(d, n, 257 + 1000);
    TrainerState s0, sk, sn, t;
    capture(fresh, &s0);
    for (int i = 0; i < N - K; i++) cr_assert_eq(bpe_trainer_step(fresh, NULL), 1);
    capture(fresh, &sk);
    for (int i = 0; i < K; i++) cr_assert_eq(bpe_trainer_step(fresh, NULL), 1);
    capture(fresh, &sn);

    BpeTrainer *b = open_trainer(d, n, 257 + 1000);
    for (int i = 0; i < N; i++) cr_assert_eq(bpe_trainer_step(b, NULL), 1);
    for (int i = 0; i < K; i++) cr_assert_eq(bpe_trainer_back(b), 1);
    capture(b, &t);
    assert_same_state(&sk, &t, "after back K");
    for (int i = 0; i < K; i++) cr_assert_eq(bpe_trainer_step(b, NULL), 1);
    capture(b, &t);
    assert_same_state(&sn, &t, "after forward K");
    /* segments agree too */
    long st1[256], st2[256];
    int l1[256], l2[256], i1[256], i2[256], j1[256], j2[256];
    int k1 = bpe_trainer_segments(fresh, 30000, 800, st1, l1, i1, j1, 256);
    int k2 = bpe_trainer_segments(b, 30000, 800, st2, l2, i2, j2, 256);
    cr_assert_eq(k1, k2);
    for (int i = 0; i < k1; i++) cr_assert(st1[i] == st2[i] && l1[i] == l2[i] && i1[i] == i2[i] && j1[i] == j2[i]);
    /* all the way back equals a fresh trainer */
    while (bpe_trainer_back(b)) {
    }
    capture(b, &t);
    assert_same_state(&s0, &t, "back to the start");
    bpe_trainer_close(b);
    bpe_trainer_close(fresh);
    free(d);
}

Test(bpetok, segments_cover_window_and_mark_last_merge) {
    size_t n;
    char *d = read_all("corpora/austen_prideprejudice.txt", &n);
    n = 50000;
    BpeTrainer *b = open_trainer(d, n, 257 + 200);
    for (int i = 0; i < 200; i++) cr_assert_eq(bpe_trainer_step(b, NULL), 1);
    long starts[2048];
    int lens[2048], ids[2048], just[2048];
    long off = 1003, len = 3000;
    int k = bpe_trainer_segments(b, off, len, starts, lens, ids, just, 2048);
    cr_assert_gt(k, 100);
    cr_assert_leq(starts[0], off);
    cr_assert_geq(starts[k - 1] + lens[k - 1], off + len);
    int newest = 0;
    for (int i = 0; i < k; i++) {
        if (i) cr_assert_eq(starts[i], starts[i - 1] + lens[i - 1], "segments are contiguous");
        int bl;
        const unsigned char *bytes = bpe_trainer_token_bytes(b, ids[i], &bl);
        cr_assert(bytes && bl == lens[i] && !memcmp(bytes, d + starts[i], (size_t)bl), "segment %d spells the text", i);
        cr_assert_eq(just[i], ids[i] == 455);
        newest += just[i];
    }
    /* the whole text: segments count equals n_tokens */
    long *all_s = malloc(sizeof(long) * 60000);
    int *all_l = malloc(sizeof(int) * 60000), *all_i = malloc(sizeof(int) * 60000);
    int total = bpe_trainer_segments(b, 0, (long)n, all_s, all_l, all_i, NULL, 60000);
    cr_assert_eq(total, bpe_trainer_n_tokens(b));
    free(all_s);
    free(all_l);
    free(all_i);
    bpe_trainer_close(b);
    free(d);
}

Test(bpetok, trainer_endoftext_is_separator) {
    const char s[] = "the cat<|endoftext|>the cat<|endoftext|>the hat";
    BpeTrainer *b = open_trainer(s, sizeof s - 1, 300);
    cr_assert_eq(bpe_trainer_n_tokens(b), (long)(sizeof s - 1) - 2 * 13 + 2);
    while (bpe_trainer_step(b, NULL)) {
    }
    int nm = bpe_trainer_n_merges(b);
    long st[64];
    int l[64], ids[64];
    int k = bpe_trainer_segments(b, 0, sizeof s - 1, st, l, ids, NULL, 64);
    int eots = 0;
    for (int i = 0; i < k; i++) eots += ids[i] == 256 + nm;
    cr_assert_eq(eots, 2);
    Tokenizer *t = bpe_trainer_build(b);
    cr_assert_eq(tok_eot(t), 256 + nm);
    IntVec v = {0};
    tok_encode(t, s, sizeof s - 1, 1, &v);
    cr_assert_eq((long)v.len, bpe_trainer_n_tokens(b));
    ivec_free(&v);
    tok_free(t);
    bpe_trainer_close(b);
}

Test(bpetok, trained_vocab_saves_gpt2_format_and_reloads) {
    size_t n;
    char *d = read_all("corpora/austen_prideprejudice.txt", &n);
    BpeTrainer *b = open_trainer(d, 200000, 257 + 400);
    while (bpe_trainer_step(b, NULL)) {
    }
    cr_assert_eq(bpe_trainer_n_merges(b), 400);
    Tokenizer *t = bpe_trainer_build(b), *u = NULL;
    cr_assert_eq(tok_vocab_size(t), 657);
    cr_assert_eq(tok_eot(t), 656);
    char dir[] = "/tmp/llmwb-toktrain-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    LwError e;
    cr_assert_eq(tok_save_dir(t, dir, &e), LW_OK, "%s", e.msg);
    char path[512], *m;
    size_t ml;
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    cr_assert_eq(lw_read_file(path, &m, &ml, &e), LW_OK);
    cr_assert(!strncmp(m, "#version: 0.2\n", 14));
    cr_assert_not_null(strstr(m, "\nt h\n"), "GPT-2 alphabet");
    cr_assert_not_null(strstr(m, "\xc4\xa0"), "space written as U+0120");
    free(m);
    cr_assert_eq(tok_load_dir(&u, dir, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_vocab_size(u), 657);
    cr_assert_eq(tok_eot(u), 656);
    for (int r = 0; r < 400; r++) {
        int a1, b1, i1, a2, b2, i2;
        cr_assert(tok_merge(t, r, &a1, &b1, &i1) && tok_merge(u, r, &a2, &b2, &i2));
        cr_assert(a1 == a2 && b1 == b2 && i1 == i2);
    }
    IntVec x = {0}, y = {0};
    tok_encode(t, d, n, 0, &x);
    tok_encode(u, d, n, 0, &y);
    cr_assert_eq(x.len, y.len);
    cr_assert(!memcmp(x.data, y.data, x.len * sizeof(int)), "the novel encodes the same after reload");
    cr_assert_lt(x.len, n / 2, "400 merges compress Pride and Prejudice below 2 bytes per token");
    size_t dl;
    char *back = tok_decode(u, y.data, y.len, &dl);
    cr_assert(dl == n && !memcmp(back, d, n));
    free(back);
    ivec_free(&x);
    ivec_free(&y);
    lw_rmtree(dir);
    tok_free(t);
    tok_free(u);
    bpe_trainer_close(b);
    free(d);
}

Test(bpetok, bytes_tokenizer) {
    Tokenizer *t = tok_new_bytes();
    cr_assert_eq(tok_kind(t), TOKENIZER_BYTES);
    cr_assert_eq(tok_vocab_size(t), 257);
    cr_assert_eq(tok_eot(t), 256);
    IntVec v = {0};
    tok_encode(t, "Hi<|endoftext|>\xff", 16, 1, &v);
    cr_assert_eq(v.len, 4);
    cr_assert(v.data[0] == 'H' && v.data[1] == 'i' && v.data[2] == 256 && v.data[3] == 255);
    char dir[] = "/tmp/llmwb-tokbytes-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    LwError e;
    Tokenizer *u = NULL;
    cr_assert_eq(tok_save_dir(t, dir, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_load_dir(&u, dir, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_kind(u), TOKENIZER_BYTES);
    IntVec w = {0};
    tok_encode(u, "Hi<|endoftext|>\xff", 16, 1, &w);
    cr_assert(w.len == 4 && !memcmp(v.data, w.data, 4 * sizeof(int)));
    lw_rmtree(dir);
    ivec_free(&v);
    ivec_free(&w);
    tok_free(t);
    tok_free(u);
}

static const char VERDICT[] =
    "I HAD always thought Jack Gisburn rather a cheap genius--though a good fellow enough--so it was no great "
    "surprise to me to hear that, in the height of his glory, he had dropped his painting, married a rich widow, "
    "and established himself in a villa on the Riviera. (Though I rather thought it would have been Rome or "
    "Florence.) \"The height of his glory\"--that was what the women called it.";

Test(bpetok, word_tokenizer_book_rules) {
    Tokenizer *t = NULL;
    LwError e;
    cr_assert_eq(tok_new_words(&t, VERDICT, strlen(VERDICT), &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_kind(t), TOKENIZER_WORDS);
    int n = tok_vocab_size(t);
    cr_assert_eq(tok_eot(t), n - 2);
    cr_assert_eq(tok_unk(t), n - 1);
    /* sorted: punctuation before capitals before lowercase; the first entries are ! " ' ( ) , -- . */
    int l;
    const unsigned char *s0 = tok_bytes(t, 0, &l);
    cr_assert(l == 1 && s0[0] == '"');
    for (int id = 1; id < n - 2; id++) {
        int la, lb;
        const unsigned char *a = tok_bytes(t, id - 1, &la), *b = tok_bytes(t, id, &lb);
        int c = memcmp(a, b, (size_t)LW_MIN(la, lb));
        cr_assert(c < 0 || (c == 0 && la < lb), "vocabulary is sorted");
    }
    const char *text = "\"It's the last he painted, you know,\" Mrs. Gisburn said with pardonable pride. <|endoftext|> "
                       "In the sunlit terraces of the palace.";
    IntVec v = {0};
    tok_encode(t, text, strlen(text), 1, &v);
    int unk = 0, eot = 0;
    for (size_t i = 0; i < v.len; i++) unk += v.data[i] == tok_unk(t), eot += v.data[i] == tok_eot(t);
    cr_assert_eq(eot, 1);
    cr_assert_gt(unk, 5);
    /* decode joins with spaces, none before punctuation */
    IntVec w = {0};
    const char *known = "he had dropped his painting, married a rich widow.";
    tok_encode(t, known, strlen(known), 0, &w);
    cr_assert_eq(w.len, 11);
    size_t dl;
    char *d = tok_decode(t, w.data, w.len, &dl);
    cr_assert_str_eq(d, known);
    free(d);
    /* streamed token by token (generation), each token after the first with the space decode would put: the same */
    char streamed[128] = "";
    for (size_t i = 0; i < w.len; i++) {
        int bl;
        const unsigned char *b = tok_bytes(t, w.data[i], &bl);
        if (i > 0 && tok_space_before(t, w.data[i])) strcat(streamed, " ");
        strncat(streamed, (const char *)b, (size_t)bl);
    }
    cr_assert_str_eq(streamed, known);
    cr_assert_eq(tok_space_before(t, w.data[5]), 0, "no space before the comma");
    cr_assert_eq(tok_space_before(t, w.data[4]), 1, "a space before a word");
    Tokenizer *bytes = tok_new_bytes();
    cr_assert_eq(tok_space_before(bytes, 'a'), 0, "byte-level tokens carry their own spaces");
    tok_free(bytes);
    /* save and restore */
    char dir[] = "/tmp/llmwb-tokwords-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    Tokenizer *u = NULL;
    cr_assert_eq(tok_save_dir(t, dir, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_load_dir(&u, dir, &e), LW_OK, "%s", e.msg);
    cr_assert_eq(tok_kind(u), TOKENIZER_WORDS);
    cr_assert_eq(tok_vocab_size(u), n);
    IntVec x = {0};
    tok_encode(u, text, strlen(text), 1, &x);
    cr_assert(x.len == v.len && !memcmp(x.data, v.data, v.len * sizeof(int)));
    lw_rmtree(dir);
    ivec_free(&v);
    ivec_free(&w);
    ivec_free(&x);
    tok_free(t);
    tok_free(u);
}

Test(bpetok, trace_of_trained_tokenizer) {
    size_t n;
    char *d = read_all("corpora/austen_prideprejudice.txt", &n);
    BpeTrainer *b = open_trainer(d, 100000, 257 + 300);
    while (bpe_trainer_step(b, NULL)) {
    }
    Tokenizer *t = bpe_trainer_build(b);
    EncodeTrace tr;
    cr_assert_eq(tok_encode_trace(t, " the", 4, &tr), LW_OK);
    cr_assert_eq(tr.n_toks[0], 4);
    cr_assert_eq(tr.ids[0][0], ' ');
    cr_assert_eq(tr.n_toks[tr.n_steps - 1], 1, "' the' is one token after 300 merges");
    for (int s = 1; s < tr.n_steps; s++) {
        int l, r, id;
        cr_assert(tok_merge(t, tr.merge_rank[s], &l, &r, &id));
        if (s > 1) cr_assert_gt(tr.merge_rank[s], tr.merge_rank[s - 1], "ranks increase here");
    }
    tok_free(t);
    bpe_trainer_close(b);
    free(d);
}
