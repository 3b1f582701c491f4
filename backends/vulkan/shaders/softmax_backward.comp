// dx = y (dy - <dy, y>) per row. 0 y, 1 dy, 2 dx, 3 rows, 4 cols
layout(local_size_x = 256) in;
void main() {
    uint y = P(0), dy = P(1), dx = P(2), rows = P(3), cols = P(4);
    for (uint r = gstart(); r < rows; r += gstride()) {
        uint o = r * cols;
        float d = 0.0;
        for (uint j = 0u; j < cols; j++) d += arena[dy + o + j] * arena[y + o + j];
        for (uint j = 0u; j < cols; j++) arena[dx + o + j] = arena[y + o + j] * (arena[dy + o + j] - d);
    }
}
