// Sum or max over any set of axes. `outer` walks the kept axes (operand 0: the input's strides
// on them), `inner` the reduced axes (operand 0: the input's strides on them); one block per
// output element reduces its `n_red` inputs.

extern "C" __global__ void reduce_axes(int is_max, Layout outer, Layout inner, const float* x, float* out, i64 n_out, i64 n_red) {
    __shared__ float scratch[32];
    for (i64 o = blockIdx.x; o < n_out; o += gridDim.x) {
        i64 base = layout_at(outer, 0, o);
        float acc = is_max ? NEG_INF : 0.0f;
        for (i64 r = threadIdx.x; r < n_red; r += blockDim.x) {
            float v = x[base + layout_at(inner, 0, r)];
            acc = is_max ? fmaxf(acc, v) : acc + v;
        }
        acc = block_reduce(acc, is_max != 0, scratch);
        if (threadIdx.x == 0) out[o] = acc;
        __syncthreads();
    }
}
