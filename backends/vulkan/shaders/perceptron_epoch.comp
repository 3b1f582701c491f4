// One perceptron epoch in row order. Inherently sequential: one invocation.
// `precise` keeps the dot product in the reference's order (no fused multiply-add),
// so mistakes decide exactly as on the CPU.
// 0 weights, 1 samples, 2 labels, 3 rows, 4 cols, 5 average, 6 has_average, 7 stats
layout(local_size_x = 1) in;
void main() {
    uint w = P(0), xs = P(1), lab = P(2), rows = P(3), cols = P(4), avg = P(5), ha = P(6), st = P(7);
    for (uint r = 0u; r < rows; r++) {
        uint o = xs + r * cols;
        precise float s = 0.0;
        for (uint c = 0u; c < cols; c++) s += arena[w + c] * arena[o + c];
        precise float l = arena[lab + r];
        if (l * s <= 0.0) {
            for (uint c = 0u; c < cols; c++) { precise float nw = arena[w + c] + l * arena[o + c]; arena[w + c] = nw; }
            arena[st] += 1.0;
        }
        if (ha != 0u) for (uint c = 0u; c < cols; c++) arena[avg + c] += arena[w + c];
    }
}
