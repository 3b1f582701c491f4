// y[r][u] = max_j x[r][u k + j]. 0 x, 1 y, 2 rows, 3 units, 4 k
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), y = P(1), rows = P(2), units = P(3), k = P(4);
    uint n = rows * units;
    for (uint i = gstart(); i < n; i += gstride()) {
        uint base = x + i * k;
        float best = -1.0 / 0.0;
        if (k > 0u) {
            best = arena[base];
            for (uint j = 1u; j < k; j++) { float v = arena[base + j]; if (v > best) best = v; }
        }
        arena[y + i] = best;
    }
}
