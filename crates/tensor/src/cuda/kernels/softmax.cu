// Softmax and log-softmax along one axis, forward and backward side by side, computed from
// the maximum for stability. A tensor is seen as (outer, n, inner) with the axis in the
// middle; one block per lane (outer·inner lanes), element j of lane l at
// (l / inner)·n·inner + j·inner + l % inner (inner = 1: the last axis, contiguous rows).
//
// forward:  x -> y;  backward: y, g -> dx
//   softmax:     dx = y ⊙ (g − Σ g⊙y)
//   log_softmax: dx = g − exp(y) Σ g

// grid (outer·inner), block (threads)
extern "C" __global__ void softmax_fwd(const float* __restrict__ x, float* __restrict__ y,
                                       int lanes, int n, int inner, int log) {
    __shared__ float scratch[32];
    int l = blockIdx.x;
    if (l >= lanes) return;
    size_t base = (size_t)(l / inner) * n * inner + l % inner;
    const float* xl = x + base;
    float* yl = y + base;
    float m = NEG_INF;
    for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, xl[(size_t)j * inner]);
    m = block_reduce(m, true, scratch);
    float s = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) s += expf(xl[(size_t)j * inner] - m);
    s = block_reduce(s, false, scratch);
    if (log) {
        float log_sum = logf(s);
        for (int j = threadIdx.x; j < n; j += blockDim.x) yl[(size_t)j * inner] = (xl[(size_t)j * inner] - m) - log_sum;
    } else {
        float inv = 1.0f / s;
        for (int j = threadIdx.x; j < n; j += blockDim.x) yl[(size_t)j * inner] = expf(xl[(size_t)j * inner] - m) * inv;
    }
}

// grid (outer·inner), block (threads)
extern "C" __global__ void softmax_bwd(const float* __restrict__ y, const float* __restrict__ g,
                                       float* __restrict__ dx, int lanes, int n, int inner, int log) {
    __shared__ float scratch[32];
    int l = blockIdx.x;
    if (l >= lanes) return;
    size_t base = (size_t)(l / inner) * n * inner + l % inner;
    const float* yl = y + base;
    const float* gl = g + base;
    float* dl = dx + base;
    float s = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        size_t k = (size_t)j * inner;
        s += log ? gl[k] : gl[k] * yl[k];
    }
    s = block_reduce(s, false, scratch);
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        size_t k = (size_t)j * inner;
        dl[k] = log ? gl[k] - expf(yl[k]) * s : yl[k] * (gl[k] - s);
    }
}
