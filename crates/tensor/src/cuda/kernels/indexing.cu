// Selection by integer indices and its scatter-add backward. A tensor is viewed as
// (outer, d, inner) around the indexed axis.

// x: (outer, d, inner), ids: nids → out: (outer, nids, inner)
extern "C" __global__ void index_select(const float* x, const i64* ids, float* out, i64 outer, i64 d, i64 nids, i64 inner) {
    i64 n = outer * nids * inner;
    FOR_EACH(i, n) {
        i64 c = i % inner, j = (i / inner) % nids, o = i / (inner * nids);
        out[i] = x[(o * d + ids[j]) * inner + c];
    }
}

// g: (outer, nids, inner) added into dx: (outer, d, inner) at ids (repeats accumulate)
extern "C" __global__ void index_add(const float* g, const i64* ids, float* dx, i64 outer, i64 d, i64 nids, i64 inner) {
    i64 n = outer * nids * inner;
    FOR_EACH(i, n) {
        i64 c = i % inner, j = (i / inner) % nids, o = i / (inner * nids);
        atomicAdd(&dx[(o * d + ids[j]) * inner + c], g[i]);
    }
}

// x: (outer, d, inner), index: (outer, m, inner) → out: (outer, m, inner), out = x[o, index, c]
extern "C" __global__ void gather(const float* x, const i64* index, float* out, i64 outer, i64 d, i64 m, i64 inner) {
    i64 n = outer * m * inner;
    FOR_EACH(i, n) {
        i64 c = i % inner, o = i / (inner * m);
        out[i] = x[(o * d + index[i]) * inner + c];
    }
}

// g: (outer, m, inner) added into dx: (outer, d, inner) at index
extern "C" __global__ void scatter_add(const float* g, const i64* index, float* dx, i64 outer, i64 d, i64 m, i64 inner) {
    i64 n = outer * m * inner;
    FOR_EACH(i, n) {
        i64 c = i % inner, o = i / (inner * m);
        atomicAdd(&dx[(o * d + index[i]) * inner + c], g[i]);
    }
}
