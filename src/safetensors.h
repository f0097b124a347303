/* safetensors.h — reader and writer for the safetensors format (Hugging Face):
 *   u64 little-endian N | N bytes of JSON header | data
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the
 * data section) and may hold "__metadata__": {string: string}. The reader maps the file read-only and checks
 * everything before any tensor is touched; tensors are converted to float on demand (F32, F16, BF16).
 * Assumes a little-endian host (checked at run time). */
#ifndef LLMWB_SAFETENSORS_H
#define LLMWB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define ST_MAX_DIMS 8
#define ST_NAME_MAX 256

typedef enum {
    ST_F32, ST_F16, ST_BF16,                    /* convertible to float */
    ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL /* recognised (sizes checked), not convertible */
} StDtype;

typedef struct StTensor {
    char name[ST_NAME_MAX];
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;          /* byte offsets into the data section */
} StTensor;

typedef struct StFile StFile;   /* an open, validated file */

/* Opens and validates path. Fails with a one-line message naming the file (and tensor) for: a file shorter than
 * 8 bytes, a header length beyond the file, bad JSON, anything but whitespace after the JSON, a missing/ill-typed
 * field, an unknown dtype, offsets out of bounds, overlapping or not covering the data section contiguously, or
 * shape x dtype size != byte length.
 * *out is freed with st_close. */
int st_open(StFile **out, const char *path, LwError *e);
void st_close(StFile *f);
const char *st_path(const StFile *f);
int st_count(const StFile *f);
/* Tensors in header (name) order, i in [0, st_count). */
const StTensor *st_tensor(const StFile *f, int i);
const StTensor *st_find(const StFile *f, const char *name);
/* A "__metadata__" value, or NULL. */
const char *st_metadata(const StFile *f, const char *key);
/* Raw bytes of a tensor (valid until st_close). */
const void *st_data(const StFile *f, const StTensor *t);
/* Converts t to float into out (t->numel floats). LW_ERR_UNSUPPORTED for a non-float dtype (names file+tensor). */
int st_read_f32(const StFile *f, const StTensor *t, float *out, LwError *e);
const char *st_dtype_name(StDtype d);

/* One tensor to write: F32 data of shape[0..ndim) (borrowed). */
typedef struct StEntry {
    const char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} StEntry;

/* Writes an F32 safetensors file: tensors sorted by name, data contiguous in that order, header padded with
 * spaces to a multiple of 8 bytes, optional metadata meta[0..n_meta) as key,value pairs (meta[2i], meta[2i+1]).
 * Atomic: written to path.tmp.<pid>, fsynced, renamed over path, directory fsynced. Duplicate names are an error. */
int st_write(const char *path, const StEntry *t, int n, const char *const *meta, int n_meta, LwError *e);
/* st_write with flags: ST_NO_SYNC skips the fsyncs (still atomic for readers: the rename; for files that can be
 * made again, such as probe snapshots, where a training step should not wait for the disk). */
#define ST_NO_SYNC 1
int st_write_flags(const char *path, const StEntry *t, int n, const char *const *meta, int n_meta, int flags,
                   LwError *e);

/* Half-precision conversions (exposed for tests). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);

#endif
