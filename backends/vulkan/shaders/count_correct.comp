// out += #{r : first argmax pred[r] == target[r]}. One workgroup.
// target[r] is a label element: its bits are the index (see LABEL_VIEW).
// 0 pred, 1 target, 2 rows, 3 cols, 4 out
LABEL_VIEW
layout(local_size_x = 256) in;
shared float part[256];
void main() {
    uint pred = P(0), target = P(1), rows = P(2), cols = P(3), out_ = P(4);
    uint tid = gl_LocalInvocationID.x;
    float cnt = 0.0;
    for (uint r = tid; r < rows; r += 256u) {
        if (cols == 0u) continue;
        uint o = pred + r * cols;
        uint bj = 0u; float best = arena[o];
        for (uint j = 1u; j < cols; j++) { float v = arena[o + j]; if (v > best) { best = v; bj = j; } }
        if (arena_bits[target + r] == bj) cnt += 1.0;
    }
    part[tid] = cnt;
    barrier();
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (tid < h) part[tid] += part[tid + h];
        barrier();
    }
    if (tid == 0u) arena[out_] += part[0];
}
