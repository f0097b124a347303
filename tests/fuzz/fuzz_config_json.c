/* fuzz_config_json.c — a checkpoint's config.json (ckpt_read_config). */
#include "checkpoint.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(0, "config.json", data, size);
    GptConfig gc;
    LwError e = {0};
    if (ckpt_read_config(fuzz_dir(), &gc, &e) != 0) fuzz_check_error(&e);
    return 0;
}
