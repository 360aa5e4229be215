// Root-mean-square normalization over the last axis with a weight (Llama's RMSNorm), forward
// and backward side by side: y = x·rstd·w, rstd = 1/√(mean(x²) + eps). One block per row for
// the forward and dx; dw in two stages (per-chunk column sums, then a sum over the chunks).
//
// forward:  x (rows, C), w (C) -> y (rows, C), rstd (rows)
// backward: g (rows, C) -> dx (rows, C); dw (C) through a partial (chunks, C) buffer

// grid (rows), block (threads)
extern "C" __global__ void rms_norm_fwd(const float* __restrict__ x, const float* __restrict__ w,
                                        float* __restrict__ y, float* __restrict__ rstd_out,
                                        int rows, int C, float eps) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* xr = x + (size_t)row * C;
    float* yr = y + (size_t)row * C;
    float q = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) q += xr[i] * xr[i];
    float rstd = 1.0f / sqrtf(block_reduce(q, false, scratch) / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) yr[i] = xr[i] * rstd * w[i];
    if (threadIdx.x == 0) rstd_out[row] = rstd;
}

// grid (rows), block (threads): x̂ = x·rstd;  dx̂ = g⊙w;  dx = rstd·(dx̂ − x̂·mean(dx̂⊙x̂))
extern "C" __global__ void rms_norm_bwd_dx(const float* __restrict__ g, const float* __restrict__ x,
                                           const float* __restrict__ w, const float* __restrict__ rstd,
                                           float* __restrict__ dx, int rows, int C) {
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= rows) return;
    const float* gr = g + (size_t)row * C;
    const float* xr = x + (size_t)row * C;
    float rs = rstd[row];
    float sdx = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) sdx += gr[i] * w[i] * xr[i] * rs;
    float mean_dx = block_reduce(sdx, false, scratch) / C;
    float* dr = dx + (size_t)row * C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) dr[i] = rs * (gr[i] * w[i] - xr[i] * rs * mean_dx);
}

// grid (ceil(C / blockDim.x), chunks), block (threads): column sums of g⊙x̂ over the rows
// [chunk·rows_per_chunk, …) → part_dw (chunks, C)
extern "C" __global__ void rms_norm_bwd_partial(const float* __restrict__ g, const float* __restrict__ x,
                                                const float* __restrict__ rstd, float* __restrict__ part_dw,
                                                int rows, int C, int rows_per_chunk) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rows_per_chunk;
    int r1 = min(rows, r0 + rows_per_chunk);
    float s = 0.0f;
    for (int r = r0; r < r1; ++r) s += g[(size_t)r * C + c] * x[(size_t)r * C + c] * rstd[r];
    part_dw[(size_t)blockIdx.y * C + c] = s;
}

// grid (ceil(C / blockDim.x)), block (threads): out[c] = Σ_k part[k, c] over `chunks` rows
extern "C" __global__ void rms_norm_column_sum(const float* __restrict__ part, float* __restrict__ out,
                                               int chunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; ++k) s += part[(size_t)k * C + c];
    out[c] = s;
}
