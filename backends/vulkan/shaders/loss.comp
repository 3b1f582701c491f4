// Mean loss over rows (one workgroup; see LossKind). 0 kind (0 mse, 1 softmax CE,
// 2 hinge), 1 pred, 2 target, 3 rows, 4 cols, 5 out, 6 grad, 7 has_grad, 8 margin.
// For kinds 1 and 2, target[r] is a label element: its bits are the index
// (see LABEL_VIEW).
LABEL_VIEW
layout(local_size_x = 256) in;
shared float part[256];
void main() {
    uint kind = P(0), pred = P(1), target = P(2), rows = P(3), cols = P(4), out_ = P(5), grad = P(6);
    bool hg = P(7) != 0u; float margin = F(8);
    uint tid = gl_LocalInvocationID.x;
    float norm = kind == 0u ? float(rows) * float(cols) : float(rows);
    float acc = 0.0;
    for (uint r = tid; r < rows; r += 256u) {
        uint o = r * cols;
        if (kind == 0u) {
            for (uint j = 0u; j < cols; j++) {
                float d = arena[pred + o + j] - arena[target + o + j];
                acc += d * d;
                if (hg) arena[grad + o + j] = 2.0 * d / norm;
            }
            continue;
        }
        uint t = arena_bits[target + r];
        if (t >= cols) {
            if (hg) for (uint j = 0u; j < cols; j++) arena[grad + o + j] = 0.0;
            continue;
        }
        if (kind == 1u) {
            float mx = -1.0 / 0.0;
            for (uint j = 0u; j < cols; j++) mx = max(mx, arena[pred + o + j]);
            float s = 0.0;
            for (uint j = 0u; j < cols; j++) s += exp(arena[pred + o + j] - mx);
            acc += mx + log(s) - arena[pred + o + t];
            if (hg) {
                for (uint j = 0u; j < cols; j++) {
                    float p = exp(arena[pred + o + j] - mx) / s;
                    arena[grad + o + j] = (p - (j == t ? 1.0 : 0.0)) / norm;
                }
            }
        } else {
            float pt = arena[pred + o + t];
            float cnt = 0.0;
            for (uint j = 0u; j < cols; j++) {
                if (j == t) continue;
                float mj = arena[pred + o + j] - pt + margin;
                if (mj > 0.0) { acc += mj; cnt += 1.0; }
                if (hg) arena[grad + o + j] = mj > 0.0 ? 1.0 / norm : 0.0;
            }
            if (hg) arena[grad + o + t] = -cnt / norm;
        }
    }
    part[tid] = acc;
    barrier();
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (tid < h) part[tid] += part[tid + h];
        barrier();
    }
    if (tid == 0u) arena[out_] = rows == 0u || (kind == 0u && cols == 0u) ? 0.0 : part[0] / norm;
}
