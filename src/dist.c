/* dist.c — data-parallel training over MPI (dist.h); the only file that includes mpi.h. Without LLMWB_MPI, or in
 * a process mpirun did not start, it is the single-process version: rank 0 of 1. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch.h"

#ifdef LLMWB_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_local = 1;

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
int dist_local_size(void) { return g_local; }

void dist_rows(int B, int *r0, int *r1) {
    *r0 = (int)((long)B * g_rank / g_size);
    *r1 = (int)((long)B * (g_rank + 1) / g_size);
}

uint64_t dist_checksum(const float *x, size_t n) {
    /* sum of bits[i] * (2i + 1) mod 2^64: a changed element changes it (odd factors are invertible), a swapped pair
     * too (different factors); vectorises, so it costs one pass over memory */
    uint64_t h = (uint64_t)n;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        h += (uint64_t)b * (2 * (uint64_t)i + 1);
    }
    return h;
}

/* A 64-bit checksum per rank, "h0 h1 ..." into all. */
static void format_all(const uint64_t *h, int n, char *all, size_t cap) {
    if (!all || !cap) return;
    size_t len = 0;
    all[0] = 0;
    for (int r = 0; r < n && len + 18 < cap; r++)
        len += (size_t)snprintf(all + len, cap - len, "%s%016llx", r ? " " : "", (unsigned long long)h[r]);
}

#ifdef LLMWB_MPI

/* ---------------------------------------------------------------- with MPI */

static int g_started, g_broken;

/* Waits for n requests without spinning for long: Open MPI's blocking calls poll at full speed, which on a shared
 * machine takes a core from the rank being waited for (rank 0 saving a checkpoint, a slower peer). */
static int wait_all(int n, MPI_Request *req) {
    double t0 = lw_now();
    for (;;) {
        int done = 0, err = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (err != MPI_SUCCESS || done) return err;
        if (lw_now() - t0 > 1e-3) {
            struct timespec ts = {0, 100000}; /* 0.1 ms */
            nanosleep(&ts, NULL);
        }
    }
}

static int mpi_fail(int err, const char *what, LwError *e) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    g_broken = 1;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", err);
    return lw_fail(e, LW_ERR_IO, "MPI %s failed on rank %d: %s (did another rank stop?)", what, g_rank, s);
}

int dist_init(LwError *e) {
    if (g_started) return LW_OK;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_SIZE")) return LW_OK;
    int provided = 0, err;
    if ((err = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
        return lw_fail(e, LW_ERR_IO, "MPI_Init_thread failed (error %d)", err);
    g_started = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &g_local);
        MPI_Comm_free(&node);
    }
    return LW_OK;
}

void dist_finalize(void) {
    if (!g_started) return;
    g_started = 0;
    if (g_broken) MPI_Abort(MPI_COMM_WORLD, 1); /* a peer is gone: MPI_Finalize could wait for it forever */
    else MPI_Finalize();
}

const char *dist_describe(void) {
    static char line[MPI_MAX_LIBRARY_VERSION_STRING + 96];
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    char *cut = strpbrk(lib, ",\n");
    if (cut) *cut = 0;
    snprintf(line, sizeof line, "MPI: %s (data-parallel training: mpirun -np N llmwb train)", lib);
    return line;
}

typedef struct AgreeMsg {
    int code;
    char msg[LW_ERRLEN];
} AgreeMsg;

int dist_agree(int rc, LwError *e) {
    if (g_size == 1) return rc;
    /* priority: 2 a real error, 1 interrupted, 0 fine; MAXLOC picks the lowest rank of the highest */
    struct {
        int v, r;
    } in = {rc == LW_OK ? 0 : rc == LW_ERR_ABORTED ? 1 : 2, g_rank}, out;
    MPI_Request req;
    int err = MPI_Iallreduce(&in, &out, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD, &req);
    if (err == MPI_SUCCESS) err = wait_all(1, &req);
    if (err != MPI_SUCCESS) return mpi_fail(err, "MPI_Allreduce", e);
    if (out.v == 0) return LW_OK;
    AgreeMsg m = {.code = rc};
    if (out.r == g_rank) snprintf(m.msg, sizeof m.msg, "%s", e && rc ? e->msg : "stopped");
    err = MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, out.r, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) return mpi_fail(err, "MPI_Bcast", e);
    if (out.r == g_rank) return rc;
    return lw_fail(e, m.code, "rank %d: %s", out.r, m.msg);
}

int dist_sum(double *v, int n, LwError *e) {
    if (g_size == 1) return LW_OK;
    int err = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return err == MPI_SUCCESS ? LW_OK : mpi_fail(err, "MPI_Allreduce", e);
}

int dist_check_same(uint64_t h, long step, char *all, size_t n, LwError *e) {
    if (g_size == 1) {
        format_all(&h, 1, all, n);
        return LW_OK;
    }
    uint64_t *hs = lw_malloc((size_t)g_size * sizeof *hs);
    int err = MPI_Allgather(&h, 1, MPI_UINT64_T, hs, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) {
        free(hs);
        return mpi_fail(err, "MPI_Allgather", e);
    }
    format_all(hs, g_size, all, n);
    int bad = -1;
    for (int r = 1; r < g_size && bad < 0; r++)
        if (hs[r] != hs[0]) bad = r;
    int rc = LW_OK;
    if (bad >= 0)
        rc = lw_fail(e, LW_ERR_INVALID, "the weights of rank %d differ from rank 0's at step %ld (checksums %016llx, "
                                        "%016llx)", bad, step, (unsigned long long)hs[bad], (unsigned long long)hs[0]);
    free(hs);
    return rc;
}

/* ---- gradient buckets ---- */

#define BUCKET_MAX_FLOATS (1 << 26) /* MPI counts are ints; smaller buckets also start sooner */

typedef struct Bucket {
    size_t offset, n;       /* floats into the gradient block */
    int stage;              /* ArchOps.grad_stage of its tensors */
} Bucket;

struct Dist {
    const ArchOps *arch;
    void *m;
    int cap, n, next;       /* buckets allocated, used, started */
    Bucket *b;              /* (cap) in descending stage order, -1 last */
    MPI_Request *req;       /* (cap) */
    float *grads;
    int err;                /* the first failed MPI call's code, or MPI_SUCCESS */
    int logged;             /* the bucket count was logged (once) */
};

Dist *dist_open(const ArchOps *arch, void *m) {
    if (g_size == 1) return NULL;
    ArchParams p;
    arch->params(m, &p);
    Dist *d = lw_calloc(1, sizeof *d);
    d->arch = arch;
    d->m = m;
    d->cap = p.n_tensors + (int)(p.n_params / BUCKET_MAX_FLOATS) + 1;
    d->b = lw_calloc((size_t)d->cap, sizeof *d->b);
    d->req = lw_calloc((size_t)d->cap, sizeof *d->req);
    return d;
}

void dist_close(Dist *d) {
    if (!d) return;
    free(d->b);
    free(d->req);
    free(d);
}

static int bucket_order(const void *a, const void *b) {
    const Bucket *x = a, *y = b;
    if (x->stage != y->stage) return x->stage > y->stage ? -1 : 1; /* the backward finishes high stages first */
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The trainable tensors as buckets: runs of adjacent tensors of one stage, cut at BUCKET_MAX_FLOATS. Rebuilt each
 * step (the trainable set and the blocks can change between runs of a model), into the buffers of dist_open. */
static void buckets_build(Dist *d) {
    ArchParams p;
    d->arch->params(d->m, &p);
    d->grads = p.grads;
    d->n = 0;
    for (int i = 0; i < p.n_tensors; i++) {
        const GptTensor *t = &p.tensors[i];
        if (!t->trainable || !t->numel) continue;
        int stage = d->arch->grad_stage ? d->arch->grad_stage(d->m, i) : -1;
        Bucket *last = d->n ? &d->b[d->n - 1] : NULL;
        if (last && last->stage == stage && last->offset + last->n == t->offset &&
            last->n + t->numel <= BUCKET_MAX_FLOATS) {
            last->n += t->numel;
            continue;
        }
        for (size_t o = 0; o < t->numel; o += BUCKET_MAX_FLOATS) {
            LW_ASSERT(d->n < d->cap);
            d->b[d->n++] = (Bucket){.offset = t->offset + o, .n = LW_MIN((size_t)BUCKET_MAX_FLOATS, t->numel - o),
                                    .stage = stage};
        }
    }
    qsort(d->b, (size_t)d->n, sizeof *d->b, bucket_order);
    d->next = 0;
    d->err = MPI_SUCCESS;
}

/* Starts the buckets of the stages >= stage, then lets MPI progress the ones in flight (Open MPI moves
 * non-blocking collectives on only inside MPI calls). */
static void buckets_start(Dist *d, int stage) {
    for (; d->next < d->n && d->b[d->next].stage >= stage; d->next++) {
        const Bucket *b = &d->b[d->next];
        int err = MPI_Iallreduce(MPI_IN_PLACE, d->grads + b->offset, (int)b->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                 &d->req[d->next]);
        if (err != MPI_SUCCESS) {
            if (d->err == MPI_SUCCESS) d->err = err;
            d->req[d->next] = MPI_REQUEST_NULL;
        }
    }
    int flag;
    if (d->next) MPI_Testall(d->next, d->req, &flag, MPI_STATUSES_IGNORE);
}

static void dist_hook(void *ctx, int stage) { buckets_start(ctx, stage); }

void dist_grads_begin(Dist *d) {
    if (!d) return;
    buckets_build(d);
    if (d->arch->set_grad_hook) d->arch->set_grad_hook(d->m, dist_hook, d);
}

int dist_grads_end(Dist *d, LwError *e) {
    if (!d) return LW_OK;
    if (d->arch->set_grad_hook) d->arch->set_grad_hook(d->m, NULL, NULL);
    if (!d->logged && g_rank == 0) {
        d->logged = 1;
        lw_log(LW_LOG_DEBUG, "gradient buckets: %d, of which %d were started during the backward", d->n, d->next);
    }
    buckets_start(d, -1);
    int err = wait_all(d->n, d->req);
    if (d->err != MPI_SUCCESS) err = d->err;
    return err == MPI_SUCCESS ? LW_OK : mpi_fail(err, "MPI_Iallreduce of the gradients", e);
}

#else

/* ---------------------------------------------------------------- without MPI */

int dist_init(LwError *e) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE"))
        return lw_fail(e, LW_ERR_UNSUPPORTED, "started by mpirun, but this llmwb was built without MPI: install "
                                              "libopenmpi-dev (make deps) and rebuild");
    return LW_OK;
}

void dist_finalize(void) {}

const char *dist_describe(void) {
    return "MPI: not built in (data-parallel training needs libopenmpi-dev at build time)";
}

int dist_agree(int rc, LwError *e) {
    (void)e;
    return rc;
}

int dist_sum(double *v, int n, LwError *e) { return LW_OK; }

int dist_check_same(uint64_t h, long step, char *all, size_t n, LwError *e) {
    format_all(&h, 1, all, n);
    return LW_OK;
}

Dist *dist_open(const struct ArchOps *arch, void *m) { return NULL; }
void dist_close(Dist *d) {}
void dist_grads_begin(Dist *d) {}
int dist_grads_end(Dist *d, LwError *e) { return LW_OK; }

#endif
