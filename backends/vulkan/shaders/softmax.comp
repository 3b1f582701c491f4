// Row-wise stable softmax; one invocation per row. 0 x, 1 y, 2 rows, 3 cols
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), y = P(1), rows = P(2), cols = P(3);
    for (uint r = gstart(); r < rows; r += gstride()) {
        uint xo = x + r * cols, yo = y + r * cols;
        float mx = -1.0 / 0.0;
        for (uint j = 0u; j < cols; j++) mx = max(mx, arena[xo + j]);
        float s = 0.0;
        for (uint j = 0u; j < cols; j++) { float e = exp(arena[xo + j] - mx); arena[yo + j] = e; s += e; }
        for (uint j = 0u; j < cols; j++) arena[yo + j] = arena[yo + j] / s;
    }
}
