// AdamW over many parameters in one launch (multi-tensor apply). The host builds a table:
// per tensor i, the addresses of its parameter, gradient, first and second moment
// (ptrs[4i .. 4i + 4]) and its length; per block b, the tensor it works on and the first
// element of its chunk. The arithmetic is loam-nn's AdamW (PyTorch's), operation for
// operation, in round-to-nearest intrinsics so that no multiply-add is contracted and the
// result has the CPU's bits:
//   p ← p·decay;  m ← lerp(m, g, w1);  v ← v·β2 + w2·g·g;
//   denom = √v / bc2_sqrt + ε;  p ← p + (neg_step_size·m) / denom
// with decay = 1 − lr·wd, w1 = 1 − β1, w2 = 1 − β2, neg_step_size = −lr/(1 − β1ᵗ),
// bc2_sqrt = √(1 − β2ᵗ), formed on the host in double and rounded to float.

// PyTorch's lerp a + w(b − a), from the nearer end
__device__ __forceinline__ float adamw_lerp(float a, float b, float w) {
    return fabsf(w) < 0.5f ? __fadd_rn(a, __fmul_rn(w, __fsub_rn(b, a)))
                           : __fsub_rn(b, __fmul_rn(__fsub_rn(b, a), __fsub_rn(1.0f, w)));
}

// grid (blocks in the table), block (threads); each block updates `chunk` elements
extern "C" __global__ void adamw_multi(const unsigned long long* __restrict__ ptrs,
                                       const i64* __restrict__ lens,
                                       const int* __restrict__ block_tensor,
                                       const i64* __restrict__ block_start,
                                       i64 chunk, float decay, float w1, float beta2, float w2,
                                       float neg_step_size, float bc2_sqrt, float eps) {
    int i = block_tensor[blockIdx.x];
    float* p = (float*)ptrs[4 * i];
    const float* g = (const float*)ptrs[4 * i + 1];
    float* m = (float*)ptrs[4 * i + 2];
    float* v = (float*)ptrs[4 * i + 3];
    i64 start = block_start[blockIdx.x];
    i64 end = min(lens[i], start + chunk);
    for (i64 e = start + threadIdx.x; e < end; e += blockDim.x) {
        float gv = g[e];
        float pv = __fmul_rn(p[e], decay);
        float mv = adamw_lerp(m[e], gv, w1);
        float vv = __fadd_rn(__fmul_rn(v[e], beta2), __fmul_rn(__fmul_rn(w2, gv), gv));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vv), bc2_sqrt), eps);
        p[e] = __fadd_rn(pv, __fdiv_rn(__fmul_rn(neg_step_size, mv), denom));
        m[e] = mv;
        v[e] = vv;
    }
}
