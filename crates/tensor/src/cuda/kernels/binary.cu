// Elementwise binary ops with broadcasting. `kind` (Rust: cuda::binary::Kind) picks the
// arithmetic; operands 0 and 1 of the layout are `a` and `b` read over the output's index
// space (stride 0 on broadcast axes).

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_EQ 4

__device__ __forceinline__ float binary_value(int kind, float x, float y) {
    switch (kind) {
        case B_ADD: return x + y;
        case B_SUB: return x - y;
        case B_MUL: return x * y;
        case B_DIV: return x / y;
        case B_EQ: return x == y ? 1.0f : 0.0f;
    }
    return 0.0f;
}

// a, b, out: n elements of one shape
extern "C" __global__ void binary_same(int kind, const float* a, const float* b, float* out, i64 n) {
    FOR_EACH(i, n) out[i] = binary_value(kind, a[i], b[i]);
}

// out: n elements of the broadcast shape; a, b read through the layout
extern "C" __global__ void binary_strided(int kind, Layout l, const float* a, const float* b, float* out, i64 n) {
    FOR_EACH(i, n) out[i] = binary_value(kind, a[layout_at(l, 0, i)], b[layout_at(l, 1, i)]);
}
