/* fuzz_jsonl.c — instruction data, a JSON array or JSONL (ins_load), then templated and tokenized with the
 * byte tokenizer (ins_tokenize) into a small context. */
#include "bpe.h"
#include "finetune.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Tokenizer *tok;
    if (!tok) tok = tok_new_bytes();
    const char *path = fuzz_write(0, "data.jsonl", data, size);
    InsData d;
    LwError e = {0};
    if (ins_load(&d, path, &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    if (ins_tokenize(&d, size & 1 ? INS_TEMPLATE_PHI3 : INS_TEMPLATE_ALPACA, tok, 256, 1, &e) != 0)
        fuzz_check_error(&e);
    ins_free(&d);
    return 0;
}
