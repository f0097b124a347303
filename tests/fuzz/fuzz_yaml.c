/* fuzz_yaml.c — the YAML config loader (cfg_load_text): any bytes give a Config or a one-line error; a loaded
 * config validates without crashing and its dump loads back. */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dir();
    static Config c, back;
    LwError e = {0};
    if (cfg_load_text(&c, "fuzz.yaml", (const char *)data, size, &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    if (cfg_validate(&c, &e) != 0) fuzz_check_error(&e);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    cfg_dump(&c, f);
    fclose(f);
    if (cfg_load_text(&back, "fuzz.yaml", out, n, &e) != 0) {
        fprintf(stderr, "the dump of a loaded config does not load: %s\n%s\n", e.msg, out);
        abort();
    }
    free(out);
    return 0;
}
