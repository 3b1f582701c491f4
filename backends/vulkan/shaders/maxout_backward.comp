// dx[r][u k + j] = dy[r][u] for the first arg max j, else 0. 0 x, 1 dy, 2 dx, 3 rows, 4 units, 5 k
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), dy = P(1), dx = P(2), rows = P(3), units = P(4), k = P(5);
    uint n = rows * units;
    for (uint i = gstart(); i < n; i += gstride()) {
        uint base = i * k;
        uint bj = 0u;
        if (k == 0u) continue;
        float best = arena[x + base];
        for (uint j = 1u; j < k; j++) { float v = arena[x + base + j]; if (v > best) { best = v; bj = j; } }
        for (uint j = 0u; j < k; j++) arena[dx + base + j] = j == bj ? arena[dy + i] : 0.0;
    }
}
