// Prepended to every kernel source of loam-tensor before NVRTC compiles it: sizes, the strided
// layout that kernels walk, and warp/block reductions.

typedef long long i64;

// -infinity (NVRTC has no <math.h> INFINITY).
#define NEG_INF (__int_as_float(0xff800000))

// The most axes a strided kernel walks (Rust: cuda::launch::MAX_RANK).
#define LOAM_MAX_RANK 8

// Up to three operands viewed over one row-major index space of `shape`: element `i` of the
// index space is at `offset[k] + sum_d idx_d * strides[k][d]` in operand `k` (stride 0 on a
// broadcast axis). Mirrors the Rust struct `cuda::launch::Layout` field by field.
struct Layout {
    int rank;
    int small;  // 1 when the index space has fewer than 2^32 elements: 32-bit index math
    i64 shape[LOAM_MAX_RANK];
    i64 strides[3][LOAM_MAX_RANK];
    i64 offset[3];
};

// Offset in operand `k` of linear index `i`.
__device__ __forceinline__ i64 layout_at(const Layout& l, int k, i64 i) {
    i64 off = l.offset[k];
    if (l.small) {
        // 32-bit division is several times cheaper than 64-bit on the GPU
        unsigned int u = (unsigned int)i;
        for (int d = l.rank - 1; d >= 0; --d) {
            unsigned int n = (unsigned int)l.shape[d];
            off += (i64)(u % n) * l.strides[k][d];
            u /= n;
        }
        return off;
    }
    for (int d = l.rank - 1; d >= 0; --d) {
        i64 n = l.shape[d];
        off += (i % n) * l.strides[k][d];
        i /= n;
    }
    return off;
}

// Grid-stride loop over `n` elements.
#define FOR_EACH(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}

// Sum (is_max = false) or max of `v` over the block; every thread gets the result. `scratch`
// holds 32 floats of shared memory. blockDim.x must be a multiple of 32.
__device__ float block_reduce(float v, bool is_max, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = is_max ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float ident = is_max ? NEG_INF : 0.0f;
    v = lane < warps ? scratch[lane] : ident;
    v = is_max ? warp_max(v) : warp_sum(v);
    return v;
}
