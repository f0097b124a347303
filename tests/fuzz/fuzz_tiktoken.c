/* fuzz_tiktoken.c — tiktoken rank files ("<base64 token> <rank>" lines; tok_load_tiktoken). */
#include "fuzz.h"
#include "fuzz_tok_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "ranks.tiktoken", data, size);
    Tokenizer *t;
    LwError e = {0};
    if (tok_load_tiktoken(&t, path, &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    fuzz_tok_check(t);
    tok_free(t);
    return 0;
}
