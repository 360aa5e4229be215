// Data movement without arithmetic: a copy between two strided views of one index space
// (operand 0: source, operand 1: destination). Permute, narrow, broadcast, concatenation and
// their backwards are all this kernel with different strides and offsets.

// n: elements of the index space
extern "C" __global__ void strided_copy(Layout l, const float* src, float* dst, i64 n) {
    FOR_EACH(i, n) dst[layout_at(l, 1, i)] = src[layout_at(l, 0, i)];
}

// dst[i] = value for n elements
extern "C" __global__ void fill(float value, float* dst, i64 n) {
    FOR_EACH(i, n) dst[i] = value;
}
