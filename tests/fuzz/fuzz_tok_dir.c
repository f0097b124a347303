/* fuzz_tok_dir.c — a saved tokenizer directory (tok_load_dir): vocab.json, FUZZ_SEP, merges.txt; a first byte
 * 'W' adds the word-tokenizer marker file, so the words loader is fuzzed too. */
#include "fuzz.h"
#include "fuzz_tok_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int words = size > 0 && data[0] == 'W';
    if (words) data++, size--;
    const uint8_t *p[2];
    size_t n[2];
    fuzz_split(data, size, 2, p, n);
    char marker[300];
    snprintf(marker, sizeof marker, "%s/llmwb_tokenizer.json", fuzz_dir());
    if (words) fuzz_write(2, "llmwb_tokenizer.json", "{\"kind\": \"words\"}", 17);
    else unlink(marker);
    fuzz_write(0, "vocab.json", p[0], n[0]);
    fuzz_write(1, "merges.txt", p[1], n[1]);
    Tokenizer *t;
    LwError e = {0};
    if (tok_load_dir(&t, fuzz_dir(), &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    fuzz_tok_check(t);
    tok_free(t);
    return 0;
}
