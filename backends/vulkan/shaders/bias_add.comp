// out[r][c] += bias[c]. 0 bias, 1 out, 2 rows, 3 cols
layout(local_size_x = 256) in;
void main() {
    uint bias = P(0), out_ = P(1), rows = P(2), cols = P(3);
    uint n = rows * cols;
    for (uint i = gstart(); i < n; i += gstride()) arena[out_ + i] += arena[bias + i % cols];
}
