/* lwref.c — see lwref.h. */
#include "lwref.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

void lwref_load(LwRef *rf, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    LwError e = {0};
    cr_assert_eq(lw_read_file(path, &buf, &len, &e), 0, "%s", e.msg);
    cr_assert(len >= 12 && memcmp(buf, "LWREF1\0\0", 8) == 0, "%s: not an LWREF1 file", path);
    uint32_t count;
    memcpy(&count, buf + 8, 4);
    rf->arr = calloc(count, sizeof(LwRefArray));
    rf->n = (int)count;
    size_t off = 12;
    for (uint32_t i = 0; i < count; i++) {
        LwRefArray *a = &rf->arr[i];
        uint32_t nl, nd;
        cr_assert(off + 4 <= len);
        memcpy(&nl, buf + off, 4);
        off += 4;
        cr_assert(nl < sizeof a->name && off + nl + 4 <= len, "%s: bad name", path);
        memcpy(a->name, buf + off, nl);
        off += nl;
        memcpy(&nd, buf + off, 4);
        off += 4;
        cr_assert(nd <= 6 && off + 4 * nd <= len);
        a->ndim = (int)nd;
        a->n = 1;
        for (uint32_t d = 0; d < nd; d++) {
            memcpy(&a->dims[d], buf + off, 4);
            off += 4;
            a->n *= a->dims[d];
        }
        cr_assert(off + 4 * a->n <= len, "%s: array %s truncated", path, a->name);
        a->data = malloc(a->n * sizeof(float) + 1);
        memcpy(a->data, buf + off, a->n * sizeof(float));
        off += 4 * a->n;
    }
    cr_assert_eq(off, len, "%s: trailing bytes", path);
    free(buf);
}

void lwref_free(LwRef *rf) {
    for (int i = 0; i < rf->n; i++) free(rf->arr[i].data);
    free(rf->arr);
    rf->arr = NULL;
    rf->n = 0;
}

const LwRefArray *lwref_find(const LwRef *rf, const char *name) {
    for (int i = 0; i < rf->n; i++)
        if (strcmp(rf->arr[i].name, name) == 0) return &rf->arr[i];
    return NULL;
}

const LwRefArray *lwref_get(const LwRef *rf, const char *name) {
    const LwRefArray *a = lwref_find(rf, name);
    cr_assert_not_null(a, "reference array %s missing", name);
    return a;
}

int lwref_count_prefix(const LwRef *rf, const char *prefix) {
    int n = 0;
    for (int i = 0; i < rf->n; i++) n += strncmp(rf->arr[i].name, prefix, strlen(prefix)) == 0;
    return n;
}

int *lwref_ints(const LwRef *rf, const char *name, size_t expect_n) {
    const LwRefArray *a = lwref_get(rf, name);
    cr_assert_eq(a->n, expect_n, "%s has %zu values, want %zu", name, a->n, expect_n);
    int *out = malloc((a->n + 1) * sizeof(int));
    for (size_t i = 0; i < a->n; i++) out[i] = (int)a->data[i];
    return out;
}

double lwref_check_close(const char *what, const float *c, const float *r, size_t n, double abs_tol, double rel_tol) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)c[i] - r[i]);
        cr_assert(isfinite(c[i]), "%s[%zu] is %f", what, i, (double)c[i]);
        cr_assert(d <= abs_tol + rel_tol * fabs(r[i]), "%s[%zu]: C %.9g vs torch %.9g (diff %.3g)", what, i,
                  (double)c[i], (double)r[i], d);
        if (d > worst) worst = d;
    }
    return worst;
}

double lwref_maxabs(const float *r, size_t n) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(r[i]));
    return mx;
}
