/* fuzz_tok_check.h — what every loaded tokenizer must do: byte-level tokenizers decode what they encode, ids
 * stay in range, every merge names existing ids. */
#ifndef LLMWB_FUZZ_TOK_CHECK_H
#define LLMWB_FUZZ_TOK_CHECK_H

#include "bpe.h"

static void fuzz_tok_check(const Tokenizer *t) {
    static const char *const texts[] = {"Hello, world! It is a truth universally acknowledged.",
                                        "  \xc3\xa9t\xc3\xa9 <|endoftext|> 123 \n\n\t x", ""};
    int nv = tok_vocab_size(t);
    for (int r = 0; r < tok_n_merges(t); r++) {
        int l, rr, id;
        if (tok_merge(t, r, &l, &rr, &id) != 1 || l < 0 || l >= nv || rr < 0 || rr >= nv || id < 0 || id >= nv) abort();
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        IntVec ids = {0};
        size_t n = strlen(texts[i]);
        tok_encode(t, texts[i], n, 0, &ids);
        for (size_t k = 0; k < ids.len; k++)
            if (ids.data[k] < 0 || ids.data[k] >= nv) abort();
        size_t dl = 0;
        char *back = tok_decode(t, ids.data, ids.len, &dl);
        if (tok_kind(t) != TOKENIZER_WORDS && (dl != n || memcmp(back, texts[i], n) != 0)) {
            fprintf(stderr, "decode(encode(x)) != x for '%s'\n", texts[i]);
            abort();
        }
        free(back);
        ivec_free(&ids);
    }
}

#endif
