/* lwref.h — reading the LWREF1 reference files that tests/make_*_ref.py write with PyTorch (format in
 * tests/make_model_ref.py) and comparing C arrays against them, for the architecture parity tests. */
#ifndef LLMWB_TESTS_LWREF_H
#define LLMWB_TESTS_LWREF_H

#include <stddef.h>
#include <stdint.h>

typedef struct LwRefArray {
    char name[96];
    int ndim;
    uint32_t dims[6];
    size_t n;
    float *data;
} LwRefArray;

typedef struct LwRef {
    LwRefArray *arr;
    int n;
} LwRef;

/* Loads path (fails the test on a malformed file). */
void lwref_load(LwRef *rf, const char *path);
void lwref_free(LwRef *rf);
/* The array called name, or NULL. */
const LwRefArray *lwref_find(const LwRef *rf, const char *name);
/* The array called name (fails the test if missing). */
const LwRefArray *lwref_get(const LwRef *rf, const char *name);
/* Number of arrays whose name starts with prefix. */
int lwref_count_prefix(const LwRef *rf, const char *prefix);
/* The array as ints (exact for ids and labels), malloc'd. */
int *lwref_ints(const LwRef *rf, const char *name, size_t expect_n);
/* Fails if any |c - r| > abs_tol + rel_tol |r| (or c is not finite); returns the largest difference. */
double lwref_check_close(const char *what, const float *c, const float *r, size_t n, double abs_tol, double rel_tol);
/* Largest |r| over an array. */
double lwref_maxabs(const float *r, size_t n);

#endif
