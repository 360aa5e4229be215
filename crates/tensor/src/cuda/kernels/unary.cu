// Elementwise functions: y = f(x) and dx = g * f'(x, y), one kernel each, the function picked
// by `kind` (uniform across the grid, so the switch costs no divergence). The kinds and the
// arithmetic mirror ops/unary.rs (Rust: cuda::unary::Code).

#define K_NEG 0
#define K_ADD_SCALAR 1
#define K_MUL_SCALAR 2
#define K_POWF 3
#define K_SQRT 4
#define K_EXP 5
#define K_LOG 6
#define K_TANH 7
#define K_RELU 8
#define K_GELU 9
#define K_GELU_TANH 10
#define K_SILU 11
#define K_SIGMOID 12

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f
#define FRAC_1_SQRT_2 0.7071067811865476f
#define FRAC_1_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float sigmoidf(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

__device__ __forceinline__ float unary_value(int kind, float c, float x) {
    switch (kind) {
        case K_NEG: return -x;
        case K_ADD_SCALAR: return x + c;
        case K_MUL_SCALAR: return x * c;
        case K_POWF: return powf(x, c);
        case K_SQRT: return sqrtf(x);
        case K_EXP: return expf(x);
        case K_LOG: return logf(x);
        case K_TANH: return tanhf(x);
        case K_RELU: return fmaxf(x, 0.0f);
        case K_GELU: return 0.5f * x * (1.0f + erff(x * FRAC_1_SQRT_2));
        case K_GELU_TANH: return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
        case K_SILU: return x * sigmoidf(x);
        case K_SIGMOID: return sigmoidf(x);
    }
    return x;
}

__device__ __forceinline__ float unary_grad(int kind, float c, float g, float x, float y) {
    switch (kind) {
        case K_NEG: return -g;
        case K_ADD_SCALAR: return g;
        case K_MUL_SCALAR: return g * c;
        case K_POWF: return g * c * powf(x, c - 1.0f);
        case K_SQRT: return g * 0.5f / y;
        case K_EXP: return g * y;
        case K_LOG: return g / x;
        case K_TANH: return g * (1.0f - y * y);
        case K_RELU: return x > 0.0f ? g : 0.0f;
        case K_GELU: {
            float cdf = 0.5f * (1.0f + erff(x * FRAC_1_SQRT_2));
            float pdf = expf(-0.5f * x * x) * FRAC_1_SQRT_2PI;
            return g * (cdf + x * pdf);
        }
        case K_GELU_TANH: {
            float t = tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
            return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x));
        }
        case K_SILU: {
            float s = sigmoidf(x);
            return g * s * (1.0f + x * (1.0f - s));
        }
        case K_SIGMOID: return g * y * (1.0f - y);
    }
    return g;
}

// x, y: n
extern "C" __global__ void unary_forward(int kind, float c, const float* x, float* y, i64 n) {
    FOR_EACH(i, n) y[i] = unary_value(kind, c, x[i]);
}

// g, x, y, dx: n
extern "C" __global__ void unary_backward(int kind, float c, const float* g, const float* x, const float* y, float* dx, i64 n) {
    FOR_EACH(i, n) dx[i] = unary_grad(kind, c, g[i], x[i], y[i]);
}
