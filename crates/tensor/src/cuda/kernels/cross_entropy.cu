// Softmax + cross-entropy fused, forward and backward side by side, with the CPU op's
// semantics: targets checked on the host (−1 marks an ignored row), mean over the rows that
// count (the host passes inv_count = 1/count, or 0 when none counts: the loss is then 0).
//
// forward:  logits (rows, V), targets (rows) -> stats (rows, 2) = (max, log Σ exp(x − max)),
//           row_loss (rows); then loss () = inv_count · Σ row_loss, summed in double
// backward: g () -> dx (rows, V) = g·inv_count·(softmax(x) − onehot(t)), 0 on ignored rows

// grid (rows), block (threads)
extern "C" __global__ void cross_entropy_fwd(const float* __restrict__ x, const int* __restrict__ targets,
                                             float* __restrict__ stats, float* __restrict__ row_loss,
                                             int rows, int V) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (size_t)row * V;
    float m = NEG_INF;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_reduce(m, true, scratch);
    float s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) s += expf(xr[j] - m);
    float log_sum = logf(block_reduce(s, false, scratch));
    if (threadIdx.x == 0) {
        int t = targets[row];
        stats[2 * row] = m;
        stats[2 * row + 1] = log_sum;
        row_loss[row] = t < 0 ? 0.0f : log_sum - (xr[t] - m);
    }
}

// grid (1), block (threads, a power of two ≤ 1024): loss = inv_count · Σ row_loss, in double
extern "C" __global__ void cross_entropy_mean(const float* __restrict__ row_loss, float* __restrict__ loss,
                                              int rows, double inv_count) {
    __shared__ double partial[1024];
    double s = 0.0;
    for (int r = threadIdx.x; r < rows; r += blockDim.x) s += (double)row_loss[r];
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) loss[0] = (float)(partial[0] * inv_count);
}

// grid (rows), block (threads); g is the loss's gradient, a device scalar
extern "C" __global__ void cross_entropy_bwd(const float* __restrict__ x, const int* __restrict__ targets,
                                             const float* __restrict__ stats, const float* __restrict__ g,
                                             float* __restrict__ dx, int rows, int V, float inv_count) {
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (size_t)row * V;
    float* dr = dx + (size_t)row * V;
    int t = targets[row];
    if (t < 0) {
        for (int j = threadIdx.x; j < V; j += blockDim.x) dr[j] = 0.0f;
        return;
    }
    float scale = g[0] * inv_count;
    float m = stats[2 * row], log_sum = stats[2 * row + 1];
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float p = scale * expf((xr[j] - m) - log_sum);
        dr[j] = j == t ? p - scale : p;
    }
}
