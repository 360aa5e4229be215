// Layer normalization over the last axis, forward and backward side by side.
// One block per row for the forward and dx; dw and db in two stages (per-chunk column sums,
// then a sum over the chunks), so no atomics and the same bits on every run.
//
// forward:  x (rows, C), w (C) or null, b (C) or null -> y (rows, C), mean (rows), rstd (rows)
// backward: g (rows, C) -> dx (rows, C); dw, db (C) through partial (chunks, C) buffers

// grid (rows), block (threads): two passes over the row in cache, mean then biased variance
extern "C" __global__ void layer_norm_fwd(const float* __restrict__ x, const float* __restrict__ w,
                                          const float* __restrict__ b, float* __restrict__ y,
                                          float* __restrict__ mean_out, float* __restrict__ rstd_out,
                                          int rows, int C, float eps) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (size_t)row * C;
    float* yr = y + (size_t)row * C;
    float s = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += xr[i];
    float mean = block_reduce(s, false, scratch) / C;
    float q = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float d = xr[i] - mean;
        q += d * d;
    }
    float rstd = 1.0f / sqrtf(block_reduce(q, false, scratch) / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float v = (xr[i] - mean) * rstd;
        if (w) v *= w[i];
        if (b) v += b[i];
        yr[i] = v;
    }
    if (threadIdx.x == 0) {
        mean_out[row] = mean;
        rstd_out[row] = rstd;
    }
}

// grid (rows), block (threads):
// dx̂ = g⊙w;  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂))
extern "C" __global__ void layer_norm_bwd_dx(const float* __restrict__ g, const float* __restrict__ x,
                                             const float* __restrict__ w, const float* __restrict__ mean,
                                             const float* __restrict__ rstd, float* __restrict__ dx,
                                             int rows, int C) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* gr = g + (size_t)row * C;
    const float* xr = x + (size_t)row * C;
    float mu = mean[row], rs = rstd[row];
    float sd = 0.0f, sdx = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float d = w ? gr[i] * w[i] : gr[i];
        sd += d;
        sdx += d * (xr[i] - mu) * rs;
    }
    float mean_d = block_reduce(sd, false, scratch) / C;
    float mean_dx = block_reduce(sdx, false, scratch) / C;
    float* dr = dx + (size_t)row * C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        float d = w ? gr[i] * w[i] : gr[i];
        float xh = (xr[i] - mu) * rs;
        dr[i] = rs * (d - mean_d - xh * mean_dx);
    }
}

// grid (ceil(C / blockDim.x), chunks), block (threads): column sums of g⊙x̂ and g over the
// rows [chunk·rows_per_chunk, …) → part_dw, part_db (chunks, C). Either output may be null.
extern "C" __global__ void layer_norm_bwd_partial(const float* __restrict__ g, const float* __restrict__ x,
                                                  const float* __restrict__ mean, const float* __restrict__ rstd,
                                                  float* __restrict__ part_dw, float* __restrict__ part_db,
                                                  int rows, int C, int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rows_per_chunk;
    int r1 = min(rows, r0 + rows_per_chunk);
    float sw = 0.0f, sb = 0.0f;
    for (int r = r0; r < r1; ++r) {
        float gv = g[(size_t)r * C + c];
        sw += gv * (x[(size_t)r * C + c] - mean[r]) * rstd[r];
        sb += gv;
    }
    if (part_dw) part_dw[(size_t)blockIdx.y * C + c] = sw;
    if (part_db) part_db[(size_t)blockIdx.y * C + c] = sb;
}

// grid (ceil(C / blockDim.x)), block (threads): out[c] = Σ_k part[k, c] over `chunks` rows
extern "C" __global__ void layer_norm_column_sum(const float* __restrict__ part, float* __restrict__ out,
                                                 int chunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; ++k) s += part[(size_t)k * C + c];
    out[c] = s;
}
