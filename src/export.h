/* export.h — pictures and tables for slides and notes: the loss curves and the attention heatmaps as PNG
 * (libpng, the only file that includes <png.h>) and as SVG (a plain writer), and metrics.csv read back or
 * written for a spreadsheet. Inputs are the engine's copy-out structs (MetricPoint rows, a ProbeSnapshot), so
 * the TUI and the headless CLI export the same pictures. Nothing here draws on a terminal.
 *
 * Nothing is told by colour alone: the training curve is solid, validation dashed with square markers, and both
 * are labelled at their ends; heatmaps use a ramp whose luminance rises with the value (readable in grey), the
 * masked (future) cells are hatched, and small maps print each weight in its cell.
 *
 * Every writer writes its file atomically (lw_write_file_atomic) and returns an LW_* status with a message
 * naming the path. */
#ifndef LLMWB_EXPORT_H
#define LLMWB_EXPORT_H

#include "inspect.h"
#include "snapshot.h"
#include "util.h"

/* ---- loss curves ---- */

typedef struct ExportPlotOpts {
    int width, height;     /* pixels (PNG) or SVG user units; 0 = 960 x 540 */
    int logy;              /* log10 y axis (values <= 0 are skipped) */
    int by_tokens;         /* x = tokens seen instead of the step */
    const char *title;     /* NULL = "Loss" */
} ExportPlotOpts;

/* The loss plot of rows m[0..n) (n may be 0: axes and a "no steps yet" note). The SVG holds exactly one
 * <polyline> per non-empty series: train raw, train EMA (debiased, weight 0.9) and validation (rows whose
 * val_loss is finite); validation points also get one <rect> marker each. */
int export_loss_png(const char *path, const MetricPoint *m, int n, const ExportPlotOpts *o, LwError *e);
int export_loss_svg(const char *path, const MetricPoint *m, int n, const ExportPlotOpts *o, LwError *e);

/* ---- training health (the Health screen) ---- */

/* The update/weight ratio log10(|AdamW change| / |w|) of each group of points h[0..n) over the steps (n may be 0:
 * axes and a note), with the 1e-3 guideline (-3) dashed and labelled, a legend naming each group in its colour
 * (o->logy and o->by_tokens are ignored; title NULL = "Update/weight ratio"). The SVG holds exactly one <polyline>
 * per group with a finite ratio (its non-finite points left out) and one dashed <line> for the guideline. */
int export_health_png(const char *path, const HealthPoint *h, int n, const ExportPlotOpts *o, LwError *e);
int export_health_svg(const char *path, const HealthPoint *h, int n, const ExportPlotOpts *o, LwError *e);

/* ---- attention heatmaps ---- */

#define EXPORT_ALL_LAYERS (-1)  /* layer: the grid of every layer x head */
#define EXPORT_HEAD_AVG (-1)    /* head: the average over the heads of the layer */
#define EXPORT_CBAR_STEPS 10    /* rects of the colour bar in the SVG */

typedef struct ExportAttnOpts {
    int layer;             /* 0..L-1, or EXPORT_ALL_LAYERS */
    int head;              /* 0..NH-1, or EXPORT_HEAD_AVG (ignored for the grid) */
    int cell;              /* pixels per (query, key) cell; 0 = chosen from T (about 640 px per map) */
} ExportAttnOpts;

/* The probe's attention weights (rows = queries, columns = keys). The SVG of one map holds exactly
 * 1 + T*T + EXPORT_CBAR_STEPS <rect> elements (background, every cell including the hatched masked ones, the
 * colour bar); the grid holds 1 + L*NH*T*T + EXPORT_CBAR_STEPS. Token texts label the axes of one map (escaped;
 * bytes that are not valid UTF-8 become U+FFFD). Fails with LW_ERR_INVALID for a layer or head out of range
 * or a snapshot without attention. */
int export_attention_png(const char *path, const ProbeSnapshot *p, const ExportAttnOpts *o, LwError *e);
int export_attention_svg(const char *path, const ProbeSnapshot *p, const ExportAttnOpts *o, LwError *e);

/* ---- metrics.csv ---- */

/* Reads a run's metrics.csv (header "step,tokens,train_loss,val_loss,lr,grad_norm,tokens_per_sec,elapsed";
 * columns found by name, step and train_loss required, an empty field is NAN). *out is malloc'd (caller frees)
 * with *n rows. Errors name path:line:column. */
int export_metrics_read(const char *path, MetricPoint **out, int *n, LwError *e);
/* Writes rows in the same format (plain numbers, empty val_loss when not evaluated, '\n' line ends): the file
 * opens in a spreadsheet as it is. */
int export_metrics_write(const char *path, const MetricPoint *m, int n, LwError *e);

/* Writes text (e.g. a screen's text) to path atomically. */
int export_text(const char *path, const char *text, LwError *e);

#endif
