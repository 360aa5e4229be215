// Sum or max over any set of axes. `outer` walks the kept axes (operand 0: the input's strides
// on them), `inner` the reduced axes (operand 0: the input's strides on them). Each output's
// `n_red` inputs are split into `chunks` contiguous ranges, one block per (output, range):
// block b writes out[b] for output b / chunks, so with chunks > 1 `out` holds partials that a
// second launch reduces (a sum over a whole large tensor then uses the whole GPU, not one block).

extern "C" __global__ void reduce_axes(int is_max, Layout outer, Layout inner, const float* x, float* out, i64 n_out, i64 n_red, i64 chunks) {
    __shared__ float scratch[32];
    i64 per = (n_red + chunks - 1) / chunks;
    for (i64 b = blockIdx.x; b < n_out * chunks; b += gridDim.x) {
        i64 o = b / chunks, c = b % chunks;
        i64 base = layout_at(outer, 0, o);
        i64 lo = c * per, hi = min(lo + per, n_red);
        float acc = is_max ? NEG_INF : 0.0f;
        for (i64 r = lo + threadIdx.x; r < hi; r += blockDim.x) {
            float v = x[base + layout_at(inner, 0, r)];
            acc = is_max ? fmaxf(acc, v) : acc + v;
        }
        acc = block_reduce(acc, is_max != 0, scratch);
        if (threadIdx.x == 0) out[b] = acc;
        __syncthreads();
    }
}
