/* fuzz_tsv.c — classification TSV (cls_load with the byte tokenizer); the first byte picks truncation and a
 * fixed label set, so both paths of the loader are reached. */
#include "bpe.h"
#include "finetune.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Tokenizer *tok;
    if (!tok) tok = tok_new_bytes();
    unsigned flags = size ? data[0] : 0;
    if (size) data++, size--;
    const char *path = fuzz_write(0, "data.tsv", data, size);
    static FinetuneCfg ft;
    memset(&ft, 0, sizeof ft);
    ft.truncate = flags & 1;
    if (flags & 2) {
        snprintf(ft.labels[0], sizeof ft.labels[0], "neg");
        snprintf(ft.labels[1], sizeof ft.labels[1], "pos");
        ft.n_labels = 2;
    }
    ClsData d;
    LwError e = {0};
    if (cls_load(&d, path, &ft, tok, 1 + (int)(flags >> 4), &e) != 0) {
        fuzz_check_error(&e);
        return 0;
    }
    for (int i = 0; i < d.n; i++)
        if (d.ex[i].label < 0 || d.ex[i].label >= d.n_labels || d.ex[i].n < 1 || d.ex[i].n > 1 + (int)(flags >> 4))
            abort();
    FtSplit s;
    if (cls_split(&s, &d, flags & 4, 0.1f, 0.1f, 7, &e) == 0) ft_split_free(&s);
    cls_free(&d);
    return 0;
}
