// Row-wise stable log-softmax; one invocation per row. 0 x, 1 y, 2 rows, 3 cols
// (y may be x: each element is read before it is written).
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), y = P(1), rows = P(2), cols = P(3);
    for (uint r = gstart(); r < rows; r += gstride()) {
        uint xo = x + r * cols, yo = y + r * cols;
        float mx = -1.0 / 0.0;
        for (uint j = 0u; j < cols; j++) mx = max(mx, arena[xo + j]);
        float s = 0.0;
        for (uint j = 0u; j < cols; j++) s += exp(arena[xo + j] - mx);
        float lse = log(s);
        for (uint j = 0u; j < cols; j++) arena[yo + j] = arena[xo + j] - mx - lse;
    }
}
