/* fuzz_gpt2_tok.c — OpenAI's GPT-2 tokenizer files: encoder.json, then FUZZ_SEP, then vocab.bpe
 * (tok_load_gpt2); a loaded tokenizer must round-trip text. */
#include "fuzz.h"
#include "fuzz_tok_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p[2];
    size_t n[2];
    fuzz_split(data, size, 2, p, n);
    const char *enc = fuzz_write(0, "encoder.json", p[0], n[0]);
    const char *bpe = fuzz_write(1, "vocab.bpe", p[1], n[1]);
    Tokenizer *t;
    LwError e = {0};
    if (tok_load_gpt2(&t, enc, bpe, &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    fuzz_tok_check(t);
    tok_free(t);
    return 0;
}
