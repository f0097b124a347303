/* fuzz_probe.c — the probe snapshot reader (runlog_read_probe): a snapshot, or a nonzero status with a one-line
 * message; a snapshot it accepts has its sizes in range (the screens index its arrays by them). */
#include "engine.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "step-00000005.safetensors", data, size);
    ProbeSnapshot *p = NULL;
    LwError e = {0};
    if (runlog_read_probe(path, &p, &e) != 0) {
        fuzz_check_error(&e);
        if (p) abort();
        return 0;
    }
    if (p->T < 1 || p->T > SNAP_MAX_PROBE || p->Tt < 0 || p->Tt > SNAP_MAX_PROBE || p->L < 1 || p->NH < 1) abort();
    volatile float sink = 0;
    for (size_t i = 0; i < (size_t)p->L * p->NH * p->T * p->T; i++) sink += p->att[i];
    for (size_t i = 0; i < (size_t)p->T * p->C; i++) sink += p->tok_emb[i] + p->pos_emb[i];
    for (int i = 0; i <= p->L; i++) sink += p->act_mean[i] + p->act_std[i];
    (void)sink;
    engine_probe_free(p);
    return 0;
}
