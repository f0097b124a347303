/* sampler.c — next-token selection over one logits row (V). See sampler.h for the order of operations. */
#include "sampler.h"

#include <math.h>

int sampler_argmax(const float *x, int V) {
    int best = 0;
    float bv = x[0];
    for (int i = 1; i < V; i++) {
        /* `!(bv >= x[i])` would pick NaN; compare so that NaN never wins over a number. */
        if (x[i] > bv || (isnan(bv) && !isnan(x[i]))) {
            bv = x[i];
            best = i;
        }
    }
    return best;
}

/* k-th largest (1-based) of a[0..n) by quickselect; a is permuted. NaN is treated as -INFINITY. */
static float kth_largest(float *a, int n, int k) {
    for (int i = 0; i < n; i++)
        if (isnan(a[i])) a[i] = -INFINITY;
    int lo = 0, hi = n - 1, want = k - 1; /* position in descending order */
    while (lo < hi) {
        float pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return a[want];
    }
    return a[want];
}

void sampler_top_k(float *logits, int V, int k, float *scratch) {
    if (k <= 0 || k >= V) return;
    for (int i = 0; i < V; i++) scratch[i] = logits[i];
    float kth = kth_largest(scratch, V, k);
    for (int i = 0; i < V; i++)
        if (!(logits[i] >= kth)) logits[i] = -INFINITY;
}

void sampler_softmax(float *x, int V, float temperature) {
    float inv = 1.0f / temperature;
    float mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) { /* nothing finite: uniform, rather than NaN */
        for (int i = 0; i < V; i++) x[i] = 1.0f / (float)V;
        return;
    }
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        float v = (x[i] == -INFINITY || isnan(x[i])) ? 0.0f : expf((x[i] - mx) * inv);
        x[i] = v;
        sum += v;
    }
    float s = (float)(1.0 / sum);
    for (int i = 0; i < V; i++) x[i] *= s;
}

/* a ranks before b: higher probability, then lower id. */
static int ranks_before(const float *probs, int a, int b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
}

static void heap_sift_down(int *h, int n, int i, const float *probs) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && ranks_before(probs, h[l], h[top])) top = l;
        if (r < n && ranks_before(probs, h[r], h[top])) top = r;
        if (top == i) return;
        int t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

void sampler_top_p(float *probs, int V, float p, int *idx) {
    if (!(p < 1.0f)) return;
    /* A max-heap of the nonzero entries, popped until the cumulative mass reaches p: O(V + k log V) for a nucleus
     * of k tokens, instead of sorting the whole vocabulary for every generated token. Popped ids are collected at
     * the end of idx (the heap shrinks from there). */
    int n = 0;
    for (int i = 0; i < V; i++)
        if (probs[i] > 0.0f) idx[n++] = i;
    if (n == 0) return;
    for (int i = n / 2 - 1; i >= 0; i--) heap_sift_down(idx, n, i, probs);
    double cum = 0.0;
    int heap = n;
    while (heap > 0) {
        int top = idx[0];
        idx[0] = idx[heap - 1];
        idx[heap - 1] = top;
        heap--;
        heap_sift_down(idx, heap, 0, probs);
        cum += probs[top];
        if (cum >= (double)p) break;
    }
    /* idx[heap..n) is the nucleus; idx[0..heap) the rest. */
    for (int j = 0; j < heap; j++) probs[idx[j]] = 0.0f;
    float s = (float)(1.0 / cum);
    for (int j = heap; j < n; j++) probs[idx[j]] *= s;
}

int sampler_draw(const float *probs, int V, Rng *r) {
    double total = 0.0;
    for (int i = 0; i < V; i++) total += probs[i];
    double u = (double)rng_uniform(r) * total, cum = 0.0;
    int last = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] <= 0.0f) continue;
        cum += probs[i];
        last = i;
        if (u < cum) return i;
    }
    return last; /* rounding left u just above the sum: the last nonzero entry */
}

int sampler_next(float *x, int V, float temperature, int top_k, float top_p, Rng *r, float *scratch, int *idx) {
    if (!(temperature > 0.0f)) {
        int id = sampler_argmax(x, V);
        for (int i = 0; i < V; i++) x[i] = 0.0f;
        x[id] = 1.0f;
        return id;
    }
    if (top_k > 0) sampler_top_k(x, V, top_k, scratch);
    sampler_softmax(x, V, temperature);
    if (top_p < 1.0f) sampler_top_p(x, V, top_p, idx);
    return sampler_draw(x, V, r);
}

int sampler_top_n(const float *probs, int V, int n, int *ids, float *out) {
    int m = n < V ? n : V;
    int have = 0;
    /* Insertion into a short sorted list: O(V * n) with n <= ~10. */
    for (int i = 0; i < V; i++) {
        float v = probs[i];
        if (isnan(v)) continue;
        if (have == m && !(v > out[m - 1])) continue;
        int j = have < m ? have++ : m - 1;
        while (j > 0 && v > out[j - 1]) {
            out[j] = out[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        out[j] = v;
        ids[j] = i;
    }
    return have;
}
