/* runlog.h — the files a training process appends to in its run directory, and their readers, so that the run
 * can be continued (a resumed run's loss history) and watched from another process (llmwb tui --watch) while it
 * grows. docs/formats.md describes each file:
 *   metrics.csv          one row per optimizer step (MetricPoint)
 *   events.log           one line per event: "STEP<TAB>KIND<TAB>TEXT"; KIND is info, eval, sample, ckpt, warn,
 *                        error, or start / end, which open and close each training session of the run
 *   probes/step-N.safetensors  probe snapshots (ProbeSnapshot), one file per snapshot, written atomically
 * Readers never write, are incremental (a cursor remembers how far a file was read; a line still being written,
 * without its newline, waits for the next call) and reject a bad file with one line naming it, never a crash. */
#ifndef LLMWB_RUNLOG_H
#define LLMWB_RUNLOG_H

#include <stdio.h>
#include "snapshot.h"
#include "util.h"

#define RUNLOG_PROBES_DIR "probes"
#define RUNLOG_PROBES_MAX 64      /* snapshot files kept; past it every other one (not the first, not the newest) goes */

/* How far a growing text file has been read: the byte offset after the last complete line, and its line number. */
typedef struct RunLogCursor {
    long offset;
    int line;
} RunLogCursor;

/* ---- metrics.csv ---- */
/* The header line metrics.csv starts with (no newline). */
extern const char RUNLOG_METRICS_HEADER[];
/* Appends the rows of path complete since *cur to *rows (grown with lw_realloc; *n rows, *cap allocated),
 * advancing *cur; the header is skipped, a row with a step at or below the last one kept replaces the rows from
 * that step on (a resumed run rewrote them). Returns the number of rows added, 0 when the file does not exist
 * yet, or LW_ERR_INVALID naming "path:line" for a malformed row (the rows before it are kept). */
int runlog_read_metrics(const char *path, RunLogCursor *cur, MetricPoint **rows, int *n, int *cap, LwError *e);
/* One row as metrics.csv holds it (with the newline). */
void runlog_write_metric(FILE *f, const MetricPoint *p);

/* ---- events.log ---- */
/* The kinds of line besides EngineEvent's EventKind values. */
enum { RUNLOG_START = 100, RUNLOG_END = 101 };
/* The name of a kind ("eval", "end", ...), and back (-1 when unknown). */
const char *runlog_kind_name(int kind);
int runlog_kind_parse(const char *s, size_t n);
/* One line: step, kind, text with tabs and newlines flattened to spaces. */
void runlog_write_event(FILE *f, long step, int kind, const char *text);
/* One line of events.log parsed (without the newline): 0, or -1 when it is not "STEP<TAB>KIND<TAB>TEXT". */
int runlog_parse_event(const char *s, size_t n, long *step, int *kind, char *text, size_t tn);

/* ---- probe snapshots ---- */
/* Writes p to path as a safetensors file (atomically: a temporary file renamed over path; not fsynced, a training
 * step does not wait for the disk: after a power cut a snapshot may be unreadable, then skipped). Floats are tensors
 * (att, tok_emb, ...); integers and token texts are metadata (decimal lists, token bytes as hex). */
int runlog_write_probe(const char *path, const ProbeSnapshot *p, LwError *e);
/* Reads a file written by runlog_write_probe into a new snapshot (*out, freed with engine_probe_free). A file
 * that is not one, truncated, or whose sizes disagree gives LW_ERR_INVALID (LW_ERR_IO when unreadable) with one
 * line naming the file and what is wrong. */
int runlog_read_probe(const char *path, ProbeSnapshot **out, LwError *e);
/* The path of the snapshot of step in run_dir (run_dir/probes/step-00000042.safetensors). */
void runlog_probe_path(const char *run_dir, long step, char *out, size_t n);
/* The steps of the snapshot files in run_dir/probes, ascending, into steps (at most max); returns how many
 * (0 when the directory does not exist). Temporary files of a write in progress are skipped. */
int runlog_list_probes(const char *run_dir, long *steps, int max);
/* After writing a snapshot: past RUNLOG_PROBES_MAX files, deletes every other one but the first and the newest
 * (like the engine's memory history, the whole run stays covered, ever more thinly). */
void runlog_thin_probes(const char *run_dir);

#endif
