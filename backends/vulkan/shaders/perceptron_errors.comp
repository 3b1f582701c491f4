// out = #{r : labels[r] (w . x_r) <= 0}. One workgroup; each row's dot product
// is sequential and `precise`, matching the reference's order.
// 0 weights, 1 samples, 2 labels, 3 rows, 4 cols, 5 out
layout(local_size_x = 256) in;
shared float part[256];
void main() {
    uint w = P(0), xs = P(1), lab = P(2), rows = P(3), cols = P(4), out_ = P(5);
    uint tid = gl_LocalInvocationID.x;
    float cnt = 0.0;
    for (uint r = tid; r < rows; r += 256u) {
        uint o = xs + r * cols;
        precise float s = 0.0;
        for (uint c = 0u; c < cols; c++) s += arena[w + c] * arena[o + c];
        precise float l = arena[lab + r];
        if (l * s <= 0.0) cnt += 1.0;
    }
    part[tid] = cnt;
    barrier();
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (tid < h) part[tid] += part[tid + h];
        barrier();
    }
    if (tid == 0u) arena[out_] = part[0];
}
