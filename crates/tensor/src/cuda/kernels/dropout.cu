// Dropout with a counter-based generator: element i is kept when hash(seed, i) >= p, so the
// backward regenerates the same mask from the seed instead of storing it.

// splitmix64's finaliser: a bijective mix of a 64-bit counter.
__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// x, out: n; kept elements scaled by `scale` = 1/(1-p), dropped ones 0
extern "C" __global__ void dropout(unsigned long long seed, float p, float scale, const float* x, float* out, i64 n) {
    FOR_EACH(i, n) {
        unsigned long long h = mix64(seed + 0x9e3779b97f4a7c15ULL * (unsigned long long)(i + 1));
        float u = (float)(h >> 40) * (1.0f / 16777216.0f);
        out[i] = u < p ? 0.0f : x[i] * scale;
    }
}
