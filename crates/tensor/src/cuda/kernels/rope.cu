// Rotary position embedding in the rotate_half form (Llama, GPT-NeoX), forward and backward:
// the backward is the rotation by the opposite angle (sign = −1), the forward sign = +1.
//
// x (B, H, T, D), cos and sin (B or 1, T, D/2) -> y (B, H, T, D); one thread per element:
//   i < D/2:  y[i]       = x[i]·cos[t, i] − x[i + D/2]·sign·sin[t, i]
//             y[i + D/2] = x[i + D/2]·cos[t, i] + x[i]·sign·sin[t, i]
extern "C" __global__ void rope(const float* __restrict__ x, const float* __restrict__ cos_t,
                                const float* __restrict__ sin_t, float* __restrict__ y,
                                int B, int H, int T, int D, int per_batch, float sign) {
    i64 n = (i64)B * H * T * D;
    int half = D / 2;
    FOR_EACH(e, n) {
        i64 row = e / D;
        int j = (int)(e % D);
        int t = (int)(row % T);
        i64 b = row / ((i64)H * T);
        i64 at = ((per_batch ? b * T : 0) + t) * half;
        const float* xr = x + row * D;
        if (j < half) {
            y[e] = xr[j] * cos_t[at + j] - xr[j + half] * sign * sin_t[at + j];
        } else {
            y[e] = xr[j] * cos_t[at + j - half] + xr[j - half] * sign * sin_t[at + j - half];
        }
    }
}
