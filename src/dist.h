/* dist.h — data-parallel training over MPI (docs/distributed.md): `mpirun -np N llmwb train -c CONFIG` runs N
 * ranks, each holding the whole model. Each step every rank builds the same global batch (train.batch_size rows,
 * the task's loader is unchanged, so step s sees the same sequences whatever N is) and computes the gradients of
 * its own rows, rank r taking rows [r*B/N, (r+1)*B/N) (shares differ by at most one row). Each share's loss and
 * gradient are weighted by its part of the batch's counted targets, so the summed gradient is the one-process
 * gradient whatever the split. Gradients are summed with MPI_Iallreduce in buckets started during the backward
 * (ArchOps.set_grad_hook: a block's bucket as soon as its gradients are final) and waited for after it; clipping,
 * AdamW and the schedule then run identically on every rank.
 *
 * Built with LLMWB_MPI (the Makefile defines it when OpenMPI's pkg-config file is found, unless MPI=0); without it,
 * or when the process was not started by mpirun, every function is the single-process version: rank 0 of 1,
 * dist_agree returns rc, dist_sum and dist_open do nothing. MPI is used from one thread (the caller of dist_init).
 * dist.c is the only file that includes mpi.h. */
#ifndef LLMWB_DIST_H
#define LLMWB_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct ArchOps;

/* Starts MPI when the process was launched by mpirun (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE in the
 * environment) and sets MPI_ERRORS_RETURN, so a failed MPI call (a rank died) is an error, not an abort.
 * Once per process; LW_ERR_UNSUPPORTED when launched by mpirun but built without MPI. */
int dist_init(LwError *e);
/* Ends MPI (MPI_Finalize; MPI_Abort when an MPI call failed, so no rank waits on a dead one). */
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* Ranks on this machine (train.threads 0 shares its cores among them). */
int dist_local_size(void);
/* One line for --version: "MPI: Open MPI v4.1.4 ..." or "MPI: not built in ...". */
const char *dist_describe(void);

/* This rank's rows [*r0, *r1) of a global batch of B rows. */
void dist_rows(int B, int *r0, int *r1);

/* Every rank calls it at the same point with its own rc: LW_OK when every rank had LW_OK. Otherwise every rank
 * returns the same failure: the first rank with a real error (else the first interrupted one, LW_ERR_ABORTED)
 * sends its code and message, which the others return as "rank K: message"; a failing rank keeps its own e. */
int dist_agree(int rc, LwError *e);
/* v (n) summed over the ranks, in place, identical on every rank. */
int dist_sum(double *v, int n, LwError *e);
/* Checks that every rank has the same 64-bit checksum h (of its weights, at step step); LW_ERR_INVALID naming
 * the ranks that differ. *all (may be NULL) gets "h0 h1 ..." in hex for the record. */
int dist_check_same(uint64_t h, long step, char *all, size_t n, LwError *e);
/* An order-sensitive checksum of x (n floats, bit patterns): any changed bit or swapped pair changes it. */
uint64_t dist_checksum(const float *x, size_t n);

/* ---- gradient buckets ---- */
typedef struct Dist Dist;
/* The buckets of model m (its trainable gradient tensors, grouped by ArchOps.grad_stage); NULL when there is one
 * rank (then the step's dist_grads_* calls below do nothing). Free with dist_close. */
Dist *dist_open(const struct ArchOps *arch, void *m);
void dist_close(Dist *d);
/* Before the last backward of a step: installs the backward hook that starts each bucket's MPI_Iallreduce when its
 * gradients are final (arch->set_grad_hook; without one every bucket starts in dist_grads_end). */
void dist_grads_begin(Dist *d);
/* After it: starts the buckets not started yet, waits for all, removes the hook. Every rank then holds the sum. */
int dist_grads_end(Dist *d, LwError *e);

#endif
