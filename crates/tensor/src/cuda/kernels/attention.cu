// Flash-style scaled dot-product attention, forward and backward side by side (FlashAttention-2's
// algorithm on CUDA cores): no (Tq × Tk) matrix in memory. The forward keeps, per query row,
// a running maximum, sum and output over tiles of 32 keys (online softmax) and stores the
// row's log-sum-exp; the backward recomputes the probabilities from it.
//
// q (BH, Tq, D), k and v (BH, Tk, D), out (BH, Tq, D), lse (BH, Tq); D ≤ 128, contiguous.
// Causal: query i sees keys j ≤ i + (Tk − Tq) (the queries are the last Tq positions; the
// host requires Tq ≤ Tk), so every row sees at least one key.
// The bf16 variants (autocast) round q, k, v (and dO) to bf16 as they load them and
// accumulate in f32.
//
// Blocks of 8 warps own 32 rows (4 per warp); a row's vectors sit in registers with lane ↔ d
// (element c·32 + lane in slot c). Tiles in shared memory are transposed, tile[d·33 + r], so
// both lane ↔ row and lane ↔ d reads are free of bank conflicts.

#define ATT_TILE 32
#define ATT_WARPS 8
#define ATT_ROWS 4
#define ATT_DC 4
#define ATT_DMAX (32 * ATT_DC)
#define ATT_STRIDE 33
#define ATT_FULL 0xffffffffu

// x rounded to the nearest bf16 (ties to even), kept in a float; x itself when !bf16
__device__ __forceinline__ float att_round(float x, bool bf16) {
    if (!bf16) return x;
    unsigned int u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;
    u += 0x7fffu + ((u >> 16) & 1u);
    return __uint_as_float(u & 0xffff0000u);
}

// rows [row0, row0 + 32) of src (n rows × D) → dst[d·33 + r], rows past n as zeros
__device__ __forceinline__ void att_load_tile(const float* __restrict__ src, int row0, int n, int D,
                                              float* __restrict__ dst, bool bf16) {
    for (int e = threadIdx.x; e < ATT_TILE * D; e += blockDim.x) {
        int r = e / D, d = e - r * D;
        int row = row0 + r;
        dst[d * ATT_STRIDE + r] = row < n ? att_round(src[(size_t)row * D + d], bf16) : 0.0f;
    }
}

// row `row` of src (n rows × D) → reg, lane ↔ d; zeros past D or past n
__device__ __forceinline__ void att_load_row(const float* __restrict__ src, int row, int n, int D, int lane,
                                             float (&reg)[ATT_DC], bool bf16) {
#pragma unroll
    for (int c = 0; c < ATT_DC; ++c) {
        int d = c * 32 + lane;
        reg[c] = (row < n && d < D) ? att_round(src[(size_t)row * D + d], bf16) : 0.0f;
    }
}

// s[r] = Σ_d a[r][d]·tile[d][lane]: dot products of the warp's rows with tile row `lane`
__device__ __forceinline__ void att_dots(const float (&a)[ATT_ROWS][ATT_DC], const float* __restrict__ tile,
                                         int D, int lane, float (&s)[ATT_ROWS]) {
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) s[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < ATT_DC; ++c) {
        if (c * 32 >= D) break;
        for (int l = 0; l < 32; ++l) {
            int d = c * 32 + l;
            if (d >= D) break;
            float t = tile[d * ATT_STRIDE + lane];
#pragma unroll
            for (int r = 0; r < ATT_ROWS; ++r) s[r] += __shfl_sync(ATT_FULL, a[r][c], l) * t;
        }
    }
}

// acc[r][d] += Σ_j w[r] (held by lane j) · tile[d][j]: the warp's rows of weights times the tile
__device__ __forceinline__ void att_accumulate(float (&acc)[ATT_ROWS][ATT_DC], const float (&w)[ATT_ROWS],
                                               const float* __restrict__ tile, int D, int lane) {
    for (int j = 0; j < ATT_TILE; ++j) {
        float wj[ATT_ROWS];
#pragma unroll
        for (int r = 0; r < ATT_ROWS; ++r) wj[r] = __shfl_sync(ATT_FULL, w[r], j);
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) {
            int d = c * 32 + lane;
            float t = d < D ? tile[d * ATT_STRIDE + j] : 0.0f;
#pragma unroll
            for (int r = 0; r < ATT_ROWS; ++r) acc[r][c] += wj[r] * t;
        }
    }
}

// whether query `i` may see key `j`
__device__ __forceinline__ bool att_visible(int i, int j, int Tq, int Tk, int causal) {
    return i < Tq && j < Tk && (!causal || j <= i + (Tk - Tq));
}

// grid (BH, ceil(Tq / 32)), block (256)
template <bool BF16>
__device__ void att_fwd(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                        float* __restrict__ out, float* __restrict__ lse, int Tq, int Tk, int D, int causal,
                        float scale) {
    __shared__ float kt[ATT_DMAX * ATT_STRIDE];
    __shared__ float vt[ATT_DMAX * ATT_STRIDE];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    size_t bh = blockIdx.x;
    const float* qb = q + bh * Tq * D;
    const float* kb = k + bh * Tk * D;
    const float* vb = v + bh * Tk * D;
    int q0 = blockIdx.y * ATT_TILE;
    int row[ATT_ROWS];
    float qr[ATT_ROWS][ATT_DC], o[ATT_ROWS][ATT_DC], m[ATT_ROWS], l[ATT_ROWS];
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) {
        row[r] = q0 + warp * ATT_ROWS + r;
        att_load_row(qb, row[r], Tq, D, lane, qr[r], BF16);
        m[r] = NEG_INF;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) o[r][c] = 0.0f;
    }
    int end = causal ? min(Tk, q0 + ATT_TILE + (Tk - Tq)) : Tk;
    for (int k0 = 0; k0 < end; k0 += ATT_TILE) {
        __syncthreads();
        att_load_tile(kb, k0, Tk, D, kt, BF16);
        att_load_tile(vb, k0, Tk, D, vt, BF16);
        __syncthreads();
        float s[ATT_ROWS], p[ATT_ROWS];
        att_dots(qr, kt, D, lane, s);
#pragma unroll
        for (int r = 0; r < ATT_ROWS; ++r) {
            bool ok = att_visible(row[r], k0 + lane, Tq, Tk, causal);
            float sv = ok ? s[r] * scale : NEG_INF;
            float m_new = fmaxf(m[r], warp_max(sv));
            // a row that has seen no key yet keeps m = −∞, l = 0, o = 0
            float alpha = m_new == NEG_INF ? 1.0f : expf(m[r] - m_new);
            p[r] = ok ? expf(sv - m_new) : 0.0f;
            l[r] = l[r] * alpha + warp_sum(p[r]);
            m[r] = m_new;
#pragma unroll
            for (int c = 0; c < ATT_DC; ++c) o[r][c] *= alpha;
        }
        att_accumulate(o, p, vt, D, lane);
    }
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) {
        if (row[r] >= Tq) continue;
        float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        float* orow = out + (bh * Tq + row[r]) * D;
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) {
            int d = c * 32 + lane;
            if (d < D) orow[d] = o[r][c] * inv;
        }
        if (lane == 0) lse[bh * Tq + row[r]] = m[r] + logf(l[r]);
    }
}

extern "C" __global__ void __launch_bounds__(256) attention_fwd_f32(
    const float* q, const float* k, const float* v, float* out, float* lse, int Tq, int Tk, int D, int causal,
    float scale) {
    att_fwd<false>(q, k, v, out, lse, Tq, Tk, D, causal, scale);
}

extern "C" __global__ void __launch_bounds__(256) attention_fwd_bf16(
    const float* q, const float* k, const float* v, float* out, float* lse, int Tq, int Tk, int D, int causal,
    float scale) {
    att_fwd<true>(q, k, v, out, lse, Tq, Tk, D, causal, scale);
}

// grid (ceil(rows / 8)), block (256): delta[i] = Σ_d dO[i, d]·O[i, d], one warp per row
extern "C" __global__ void attention_bwd_delta(const float* __restrict__ dout, const float* __restrict__ out,
                                               float* __restrict__ delta, int rows, int D) {
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s += dout[(size_t)row * D + d] * out[(size_t)row * D + d];
    s = warp_sum(s);
    if (lane == 0) delta[row] = s;
}

// grid (BH, ceil(Tk / 32)), block (256): the block owns 32 keys, lanes walk tiles of queries.
// p = exp(s·scale − lse);  dV_j = Σ_i p_ij dO_i;  ds = p(dO_i·v_j − delta_i);  dK_j = scale Σ_i ds_ij q_i
template <bool BF16>
__device__ void att_bwd_dkdv(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                             const float* __restrict__ dout, const float* __restrict__ lse,
                             const float* __restrict__ delta, float* __restrict__ dk, float* __restrict__ dv, int Tq,
                             int Tk, int D, int causal, float scale) {
    __shared__ float qt[ATT_DMAX * ATT_STRIDE];
    __shared__ float dot[ATT_DMAX * ATT_STRIDE];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    size_t bh = blockIdx.x;
    const float* qb = q + bh * Tq * D;
    const float* kb = k + bh * Tk * D;
    const float* vb = v + bh * Tk * D;
    const float* db = dout + bh * Tq * D;
    int k0 = blockIdx.y * ATT_TILE;
    int key[ATT_ROWS];
    float kr[ATT_ROWS][ATT_DC], vr[ATT_ROWS][ATT_DC], dkr[ATT_ROWS][ATT_DC], dvr[ATT_ROWS][ATT_DC];
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) {
        key[r] = k0 + warp * ATT_ROWS + r;
        att_load_row(kb, key[r], Tk, D, lane, kr[r], BF16);
        att_load_row(vb, key[r], Tk, D, lane, vr[r], BF16);
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) dkr[r][c] = dvr[r][c] = 0.0f;
    }
    int start = causal ? max(0, k0 - (Tk - Tq)) : 0;
    for (int i0 = start; i0 < Tq; i0 += ATT_TILE) {
        __syncthreads();
        att_load_tile(qb, i0, Tq, D, qt, BF16);
        att_load_tile(db, i0, Tq, D, dot, BF16);
        __syncthreads();
        int i = i0 + lane;
        float lse_i = i < Tq ? lse[bh * Tq + i] : 0.0f;
        float delta_i = i < Tq ? delta[bh * Tq + i] : 0.0f;
        float s[ATT_ROWS], dp[ATT_ROWS], p[ATT_ROWS], ds[ATT_ROWS];
        att_dots(kr, qt, D, lane, s);
        att_dots(vr, dot, D, lane, dp);
#pragma unroll
        for (int r = 0; r < ATT_ROWS; ++r) {
            p[r] = att_visible(i, key[r], Tq, Tk, causal) ? expf(s[r] * scale - lse_i) : 0.0f;
            ds[r] = p[r] * (dp[r] - delta_i);
        }
        att_accumulate(dvr, p, dot, D, lane);
        att_accumulate(dkr, ds, qt, D, lane);
    }
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) {
        if (key[r] >= Tk) continue;
        float* dkrow = dk + (bh * Tk + key[r]) * D;
        float* dvrow = dv + (bh * Tk + key[r]) * D;
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) {
            int d = c * 32 + lane;
            if (d < D) {
                dkrow[d] = dkr[r][c] * scale;
                dvrow[d] = dvr[r][c];
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) attention_bwd_dkdv_f32(
    const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta,
    float* dk, float* dv, int Tq, int Tk, int D, int causal, float scale) {
    att_bwd_dkdv<false>(q, k, v, dout, lse, delta, dk, dv, Tq, Tk, D, causal, scale);
}

extern "C" __global__ void __launch_bounds__(256) attention_bwd_dkdv_bf16(
    const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta,
    float* dk, float* dv, int Tq, int Tk, int D, int causal, float scale) {
    att_bwd_dkdv<true>(q, k, v, dout, lse, delta, dk, dv, Tq, Tk, D, causal, scale);
}

// grid (BH, ceil(Tq / 32)), block (256): the block owns 32 queries, lanes walk tiles of keys.
// dQ_i = scale Σ_j ds_ij k_j (a separate pass, so no atomics: the same bits on every run)
template <bool BF16>
__device__ void att_bwd_dq(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                           const float* __restrict__ dout, const float* __restrict__ lse,
                           const float* __restrict__ delta, float* __restrict__ dq, int Tq, int Tk, int D, int causal,
                           float scale) {
    __shared__ float kt[ATT_DMAX * ATT_STRIDE];
    __shared__ float vt[ATT_DMAX * ATT_STRIDE];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    size_t bh = blockIdx.x;
    const float* qb = q + bh * Tq * D;
    const float* kb = k + bh * Tk * D;
    const float* vb = v + bh * Tk * D;
    const float* db = dout + bh * Tq * D;
    int q0 = blockIdx.y * ATT_TILE;
    int row[ATT_ROWS];
    float qr[ATT_ROWS][ATT_DC], dor[ATT_ROWS][ATT_DC], dqr[ATT_ROWS][ATT_DC], lse_r[ATT_ROWS], delta_r[ATT_ROWS];
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) {
        row[r] = q0 + warp * ATT_ROWS + r;
        att_load_row(qb, row[r], Tq, D, lane, qr[r], BF16);
        att_load_row(db, row[r], Tq, D, lane, dor[r], BF16);
        lse_r[r] = row[r] < Tq ? lse[bh * Tq + row[r]] : 0.0f;
        delta_r[r] = row[r] < Tq ? delta[bh * Tq + row[r]] : 0.0f;
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) dqr[r][c] = 0.0f;
    }
    int end = causal ? min(Tk, q0 + ATT_TILE + (Tk - Tq)) : Tk;
    for (int k0 = 0; k0 < end; k0 += ATT_TILE) {
        __syncthreads();
        att_load_tile(kb, k0, Tk, D, kt, BF16);
        att_load_tile(vb, k0, Tk, D, vt, BF16);
        __syncthreads();
        float s[ATT_ROWS], dp[ATT_ROWS], ds[ATT_ROWS];
        att_dots(qr, kt, D, lane, s);
        att_dots(dor, vt, D, lane, dp);
#pragma unroll
        for (int r = 0; r < ATT_ROWS; ++r) {
            float p = att_visible(row[r], k0 + lane, Tq, Tk, causal) ? expf(s[r] * scale - lse_r[r]) : 0.0f;
            ds[r] = p * (dp[r] - delta_r[r]);
        }
        att_accumulate(dqr, ds, kt, D, lane);
    }
#pragma unroll
    for (int r = 0; r < ATT_ROWS; ++r) {
        if (row[r] >= Tq) continue;
        float* dqrow = dq + (bh * Tq + row[r]) * D;
#pragma unroll
        for (int c = 0; c < ATT_DC; ++c) {
            int d = c * 32 + lane;
            if (d < D) dqrow[d] = dqr[r][c] * scale;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) attention_bwd_dq_f32(
    const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta,
    float* dq, int Tq, int Tk, int D, int causal, float scale) {
    att_bwd_dq<false>(q, k, v, dout, lse, delta, dq, Tq, Tk, D, causal, scale);
}

extern "C" __global__ void __launch_bounds__(256) attention_bwd_dq_bf16(
    const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta,
    float* dq, int Tq, int Tk, int D, int causal, float scale) {
    att_bwd_dq<true>(q, k, v, dout, lse, delta, dq, Tq, Tk, D, causal, scale);
}
