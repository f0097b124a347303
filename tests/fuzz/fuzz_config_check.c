/* fuzz_config_check.c — `config --check` (cfg_check): collecting every error never crashes, every message is
 * one line, and it agrees with cfg_load about whether the file has errors. */
#include "config.h"
#include "fuzz.h"

static void count(void *ud, const char *msg) {
    if (!msg[0] || strchr(msg, '\n')) abort();
    (*(int *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "check.yaml", data, size);
    int n = 0;
    int found = cfg_check(path, NULL, 0, count, &n);
    if (found != n) abort();
    static Config c;
    LwError e = {0};
    int rc = cfg_load(&c, path, &e);
    if (rc == 0) rc = cfg_validate(&c, &e);
    if ((rc != 0) != (found > 0)) {
        fprintf(stderr, "cfg_load/cfg_validate say %d (%s), cfg_check found %d errors\n", rc, e.msg, found);
        abort();
    }
    return 0;
}
