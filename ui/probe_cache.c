/* probe_cache.c — see probe_cache.h. */
#include "probe_cache.h"

#include <stddef.h>

static struct {
    Engine *eng;
    int index;         /* resolved index of the cached snapshot */
    int count;         /* engine_n_probes when fetched */
    uint64_t seq;      /* engine_seq when fetched (set_probe may replace snapshots at the same count) */
    ProbeSnapshot *p;
} pc = {NULL, -1, -1, 0, NULL};

const ProbeSnapshot *probe_cache_get(Engine *eng, int index, int *count) {
    int n = eng ? engine_n_probes(eng) : 0;
    if (count) *count = n;
    if (!eng || n == 0) return NULL;
    int want = index < 0 || index >= n ? n - 1 : index;
    uint64_t seq = engine_seq(eng);
    if (pc.p && pc.eng == eng && pc.index == want && pc.count == n && pc.seq == seq) return pc.p;
    engine_probe_free(pc.p);
    pc.p = engine_get_probe(eng, want);
    pc.eng = eng;
    pc.index = want;
    pc.count = n;
    pc.seq = seq;
    return pc.p;
}
