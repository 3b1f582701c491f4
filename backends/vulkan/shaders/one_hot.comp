// y[r][c] = value where labels[r] carries the index c (its bits, see
// LABEL_VIEW), else 0; one invocation per element. 0 labels, 1 y, 2 rows,
// 3 cols, 4 value (f32)
LABEL_VIEW
layout(local_size_x = 256) in;
void main() {
    uint labels = P(0), y = P(1), rows = P(2), cols = P(3);
    float value = F(4);
    uint n = rows * cols;
    for (uint i = gstart(); i < n; i += gstride()) {
        uint r = i / cols, c = i % cols;
        bool hit = arena_bits[labels + r] == c;
        arena[y + i] = hit ? value : 0.0;
    }
}
