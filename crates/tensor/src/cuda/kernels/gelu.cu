// GELU (exact erf form and tanh approximation) and SiLU, forward and backward side by side,
// one thread per element (grid-stride). The forms are the CPU op's (ops/unary.rs).
//
// forward: x (n) -> y (n);  backward: x (n), g (n) -> dx (n) = g·f'(x)

#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f
#define GELU_FRAC_1_SQRT_2 0.7071067811865476f
#define GELU_FRAC_1_SQRT_2PI 0.3989422804014327f

// x·Φ(x)
extern "C" __global__ void gelu_fwd(const float* __restrict__ x, float* __restrict__ y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * GELU_FRAC_1_SQRT_2));
    }
}

// d/dx x·Φ(x) = Φ(x) + x·φ(x)
extern "C" __global__ void gelu_bwd(const float* __restrict__ x, const float* __restrict__ g,
                                    float* __restrict__ dx, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * GELU_FRAC_1_SQRT_2));
        float pdf = expf(-0.5f * v * v) * GELU_FRAC_1_SQRT_2PI;
        dx[i] = g[i] * (cdf + v * pdf);
    }
}

// 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
extern "C" __global__ void gelu_tanh_fwd(const float* __restrict__ x, float* __restrict__ y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(GELU_SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
    }
}

extern "C" __global__ void gelu_tanh_bwd(const float* __restrict__ x, const float* __restrict__ g,
                                         float* __restrict__ dx, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        float t = tanhf(GELU_SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
        float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * v * v);
        dx[i] = g[i] * d;
    }
}

// σ(x) without overflow for large |x|
__device__ __forceinline__ float gelu_sigmoid(float v) {
    if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
    float e = expf(v);
    return e / (1.0f + e);
}

// x·σ(x)
extern "C" __global__ void silu_fwd(const float* __restrict__ x, float* __restrict__ y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = v * gelu_sigmoid(v);
    }
}

// d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
extern "C" __global__ void silu_bwd(const float* __restrict__ x, const float* __restrict__ g,
                                    float* __restrict__ dx, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        float s = gelu_sigmoid(v);
        dx[i] = g[i] * s * (1.0f + v * (1.0f - s));
    }
}
