// Selection by a boolean mask: out = mask ? on_true : on_false, all three read through the
// layout over the output's index space (operand 0: the mask, 1: on_true, 2: on_false; stride
// 0 on broadcast axes, so a scalar fill value is a one-element buffer).

extern "C" __global__ void where_select(Layout l, const unsigned char* mask, const float* on_true, const float* on_false, float* out, i64 n) {
    FOR_EACH(i, n) out[i] = mask[layout_at(l, 0, i)] ? on_true[layout_at(l, 1, i)] : on_false[layout_at(l, 2, i)];
}
