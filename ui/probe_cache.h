/* probe_cache.h — the newest (or a chosen) probe snapshot, shared by the Embed and Attention screens so a
 * deep copy is taken only when the engine recorded a new one. UI thread only. */
#ifndef LLMWB_UI_PROBE_CACHE_H
#define LLMWB_UI_PROBE_CACHE_H

#include "engine.h"

/* The snapshot at index (-1 = newest) of eng, refreshed when the engine's probe count or the engine changed.
 * Borrowed: valid until the next call. *count gets engine_n_probes. NULL if there is none. */
const ProbeSnapshot *probe_cache_get(Engine *eng, int index, int *count);

#endif
