/* fuzz_safetensors.c — the safetensors reader: st_open validates header and offsets; then every tensor is read
 * (st_read_f32 for the float dtypes, st_data for the others) and the metadata looked up. */
#include "fuzz.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write(0, "model.safetensors", data, size);
    StFile *f;
    LwError e = {0};
    if (st_open(&f, path, &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    for (int i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        if (st_find(f, t->name) != t) abort();
        if (t->end < t->begin) abort();
        const unsigned char *raw = st_data(f, t);
        volatile unsigned char sink = 0;
        for (size_t b = t->begin; b < t->end; b++) sink ^= raw[b - t->begin]; /* every byte is inside the map */
        (void)sink;
        float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
        if (st_read_f32(f, t, out, &e) != 0) {
            fuzz_check_error(&e);
            if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) abort();
        }
        free(out);
    }
    st_metadata(f, "format");
    st_close(f);
    return 0;
}
