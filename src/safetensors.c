/* safetensors.c — the safetensors reader (mmap + strict validation) and the F32 writer (atomic). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The format's own limit on the JSON header (100 MB); anything bigger is a corrupt length. */
#define ST_HEADER_MAX (100u * 1000u * 1000u)

struct StFile {
    char *path;
    unsigned char *map;     /* whole file, read-only */
    size_t size;
    size_t data_off;        /* 8 + header length */
    StTensor *t;            /* sorted by name */
    int n;
    char **meta;            /* key, value, key, value, ... */
    int n_meta;
};

static const struct {
    const char *name;
    StDtype d;
    size_t size;
} DTYPES[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8}, {"I64", ST_I64, 8},
    {"I32", ST_I32, 4}, {"I16", ST_I16, 2},  {"I8", ST_I8, 1},     {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1},
};

const char *st_dtype_name(StDtype d) {
    for (size_t i = 0; i < LW_ARRAY_LEN(DTYPES); i++)
        if (DTYPES[i].d == d) return DTYPES[i].name;
    return "?";
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    float f;
    if (exp == 0) {                 /* zero or subnormal: mant * 2^-24 */
        f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    uint32_t bits;
    if (exp == 31) bits = sign | 0x7f800000u | (mant << 13); /* inf / nan */
    else bits = sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13);
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void st_close(StFile *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->n_meta * 2; i++) free(f->meta[i]);
    free(f->meta);
    free(f->t);
    free(f->path);
    free(f);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* A JSON number that is a non-negative integer no larger than max; returns 0 on success. */
static int json_uint(const cJSON *j, double max, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0.0) || v > max || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_tensor(StFile *f, const cJSON *item, StTensor *t, size_t data_len, LwError *e) {
    const char *path = f->path, *name = item->string;
    if (strlen(name) >= ST_NAME_MAX)
        return lw_fail(e, LW_ERR_PARSE, "%s: tensor name longer than %d bytes: %.40s...", path, ST_NAME_MAX - 1,
                       name);
    snprintf(t->name, sizeof t->name, "%s", name);
    if (!cJSON_IsObject(item)) return lw_fail(e, LW_ERR_PARSE, "%s: %s: entry is not a JSON object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt)) return lw_fail(e, LW_ERR_PARSE, "%s: %s: missing or non-string \"dtype\"", path, name);
    size_t esz = 0;
    for (size_t i = 0; i < LW_ARRAY_LEN(DTYPES); i++)
        if (!strcmp(DTYPES[i].name, dt->valuestring)) {
            t->dtype = DTYPES[i].d;
            esz = DTYPES[i].size;
        }
    if (!esz)
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: %s: unsupported dtype \"%s\" (F32, F16, BF16 can be loaded)",
                       path, name, dt->valuestring);
    if (!cJSON_IsArray(sh)) return lw_fail(e, LW_ERR_PARSE, "%s: %s: missing or non-array \"shape\"", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: %s: %d dimensions (at most %d supported)", path, name, nd,
                       ST_MAX_DIMS);
    t->ndim = nd;
    size_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (json_uint(cJSON_GetArrayItem(sh, i), 9007199254740992.0, &d) != 0)
            return lw_fail(e, LW_ERR_PARSE, "%s: %s: shape[%d] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)d;
        if (d && numel > SIZE_MAX / d) overflow = 1;
        numel *= (size_t)d;
    }
    t->numel = numel;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: \"data_offsets\" must be [begin, end]", path, name);
    uint64_t b, en;
    if (json_uint(cJSON_GetArrayItem(off, 0), 9007199254740992.0, &b) ||
        json_uint(cJSON_GetArrayItem(off, 1), 9007199254740992.0, &en))
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: data_offsets are not non-negative integers", path, name);
    if (b > en)
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: data_offsets [%llu, %llu] end before they begin", path, name,
                       (unsigned long long)b, (unsigned long long)en);
    if (en > data_len)
        return lw_fail(e, LW_ERR_PARSE,
                       "%s: %s: data_offsets [%llu, %llu] beyond the %zu-byte data section (truncated file?)", path,
                       name, (unsigned long long)b, (unsigned long long)en, data_len);
    t->begin = (size_t)b;
    t->end = (size_t)en;
    if (overflow || numel > SIZE_MAX / esz || numel * esz != t->end - t->begin)
        return lw_fail(e, LW_ERR_PARSE, "%s: %s: shape holds %zu %s values (%zu bytes) but data_offsets span %zu bytes",
                       path, name, numel, dt->valuestring, overflow ? (size_t)0 : numel * esz, t->end - t->begin);
    return LW_OK;
}

static int parse_header(StFile *f, const char *json, size_t len, LwError *e) {
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &endp, 0);
    if (!root) {
        size_t at = endp ? (size_t)(endp - json) : 0;
        return lw_fail(e, LW_ERR_PARSE, "%s: header JSON is malformed at byte %zu of %zu", f->path, at, len);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lw_fail(e, LW_ERR_PARSE, "%s: header JSON is not an object", f->path);
    }
    /* The format allows only whitespace padding after the JSON object (writers pad with spaces to 8 bytes). */
    for (size_t at = endp ? (size_t)(endp - json) : len; at < len; at++)
        if (!strchr(" \t\r\n", json[at]) || !json[at]) {
            cJSON_Delete(root);
            return lw_fail(e, LW_ERR_PARSE, "%s: header has a byte 0x%02x at %zu after the JSON (only space padding is allowed)",
                           f->path, (unsigned char)json[at], at);
        }
    size_t data_len = f->size - f->data_off;
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) if (strcmp(it->string, "__metadata__")) n++;
    f->t = lw_calloc((size_t)(n ? n : 1), sizeof(StTensor));
    int rc = LW_OK;
    cJSON_ArrayForEach(it, root) {
        if (!strcmp(it->string, "__metadata__")) {
            if (!cJSON_IsObject(it)) {
                rc = lw_fail(e, LW_ERR_PARSE, "%s: \"__metadata__\" is not an object", f->path);
                break;
            }
            int m = cJSON_GetArraySize(it);
            f->meta = lw_calloc((size_t)(2 * m + 1), sizeof(char *));
            const cJSON *kv;
            cJSON_ArrayForEach(kv, it) {
                if (!cJSON_IsString(kv)) {
                    rc = lw_fail(e, LW_ERR_PARSE, "%s: __metadata__.%s is not a string", f->path, kv->string);
                    break;
                }
                f->meta[2 * f->n_meta] = lw_strdup(kv->string);
                f->meta[2 * f->n_meta + 1] = lw_strdup(kv->valuestring);
                f->n_meta++;
            }
            if (rc) break;
            continue;
        }
        if ((rc = parse_tensor(f, it, &f->t[f->n], data_len, e)) != LW_OK) break;
        f->n++;
    }
    cJSON_Delete(root);
    if (rc) return rc;

    qsort(f->t, (size_t)f->n, sizeof(StTensor), cmp_name);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->t[i].name, f->t[i - 1].name))
            return lw_fail(e, LW_ERR_PARSE, "%s: tensor %s appears twice in the header", f->path, f->t[i].name);
    /* The data section must be covered exactly once: sorted by offset, each tensor starts where the previous ends. */
    const StTensor **by = lw_malloc(sizeof(*by) * (size_t)(f->n ? f->n : 1));
    for (int i = 0; i < f->n; i++) by[i] = &f->t[i];
    qsort(by, (size_t)f->n, sizeof(*by), cmp_begin);
    size_t pos = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        if (by[i]->begin < pos)
            rc = lw_fail(e, LW_ERR_PARSE, "%s: %s: data_offsets [%zu, %zu] overlap %s", f->path, by[i]->name,
                         by[i]->begin, by[i]->end, by[i - 1]->name);
        else if (by[i]->begin > pos)
            rc = lw_fail(e, LW_ERR_PARSE, "%s: %s: data_offsets begin at %zu, leaving a hole after byte %zu",
                         f->path, by[i]->name, by[i]->begin, pos);
        pos = by[i]->end;
    }
    if (!rc && pos != data_len)
        rc = lw_fail(e, LW_ERR_PARSE, "%s: tensors cover %zu bytes of the %zu-byte data section", f->path, pos,
                     data_len);
    free(by);
    return rc;
}

int st_open(StFile **out, const char *path, LwError *e) {
    *out = NULL;
    if (!host_is_little_endian())
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: safetensors needs a little-endian host", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(err));
    }
    StFile *f = lw_calloc(1, sizeof *f);
    f->path = lw_strdup(path);
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        st_close(f);
        return lw_fail(e, LW_ERR_PARSE, "%s: truncated: %zu bytes, shorter than the 8-byte header length", path,
                       (size_t)sb.st_size);
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st_close(f);
        return lw_fail(e, LW_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->map[i];
    if (hlen > f->size - 8 || hlen > ST_HEADER_MAX) {
        int rc = lw_fail(e, LW_ERR_PARSE, "%s: header length %llu is beyond the end of the %zu-byte file", path,
                         (unsigned long long)hlen, f->size);
        st_close(f);
        return rc;
    }
    f->data_off = 8 + (size_t)hlen;
    int rc = parse_header(f, (const char *)f->map + 8, (size_t)hlen, e);
    if (rc) {
        st_close(f);
        return rc;
    }
    *out = f;
    return LW_OK;
}

const char *st_path(const StFile *f) { return f->path; }
int st_count(const StFile *f) { return f->n; }
const StTensor *st_tensor(const StFile *f, int i) { return (i >= 0 && i < f->n) ? &f->t[i] : NULL; }

const StTensor *st_find(const StFile *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, f->t[mid].name);
        if (!c) return &f->t[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_metadata(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

const void *st_data(const StFile *f, const StTensor *t) { return f->map + f->data_off + t->begin; }

int st_read_f32(const StFile *f, const StTensor *t, float *out, LwError *e) {
    const unsigned char *p = st_data(f, t);
    switch (t->dtype) {
    case ST_F32: memcpy(out, p, t->numel * 4); return LW_OK;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            out[i] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
        return LW_OK;
    default:
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: %s: dtype %s cannot be loaded as float (F32, F16, BF16 can)",
                       f->path, t->name, st_dtype_name(t->dtype));
    }
}

/* ---- writer ---- */

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(const StEntry *const *)a)->name, (*(const StEntry *const *)b)->name);
}

int st_write(const char *path, const StEntry *t, int n, const char *const *meta, int n_meta, LwError *e) {
    return st_write_flags(path, t, n, meta, n_meta, 0, e);
}

int st_write_flags(const char *path, const StEntry *t, int n, const char *const *meta, int n_meta, int flags,
                   LwError *e) {
    if (!host_is_little_endian())
        return lw_fail(e, LW_ERR_UNSUPPORTED, "%s: safetensors needs a little-endian host", path);
    const StEntry **ord = lw_malloc(sizeof(*ord) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) ord[i] = &t[i];
    qsort(ord, (size_t)n, sizeof(*ord), cmp_entry);
    for (int i = 1; i < n; i++)
        if (!strcmp(ord[i]->name, ord[i - 1]->name)) {
            int rc = lw_fail(e, LW_ERR_INVALID, "%s: tensor %s given twice", path, ord[i]->name);
            free(ord);
            return rc;
        }
    cJSON *root = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StEntry *s = ord[i];
        size_t numel = 1;
        cJSON *o = cJSON_AddObjectToObject(root, s->name);
        cJSON_AddStringToObject(o, "dtype", "F32");
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < s->ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)s->shape[d]));
            numel *= (size_t)s->shape[d];
        }
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + numel * 4)));
        off += numel * 4;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        free(ord);
        return lw_fail(e, LW_ERR_NOMEM, "%s: cannot print the header", path);
    }
    size_t jlen = strlen(json), padded = (jlen + 7) / 8 * 8;
    unsigned char *head = lw_malloc(8 + padded);
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(head + 8, json, jlen);
    memset(head + 8 + jlen, ' ', padded - jlen);
    cJSON_free(json);

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = LW_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = lw_fail(e, LW_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    int bad = write_all(fd, head, 8 + padded);
    for (int i = 0; i < n && !bad; i++) {
        size_t numel = 1;
        for (int d = 0; d < ord[i]->ndim; d++) numel *= (size_t)ord[i]->shape[d];
        bad = write_all(fd, ord[i]->data, numel * 4);
    }
    if (bad || (!(flags & ST_NO_SYNC) && fsync(fd) != 0)) {
        rc = lw_fail(e, LW_ERR_IO, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        rc = lw_fail(e, LW_ERR_IO, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    char dir[4096];
    if (!(flags & ST_NO_SYNC)) lw_fsync_dir(lw_dirname(dir, sizeof dir, path));
done:
    free(head);
    free(ord);
    return rc;
}
