// x[r][c] += bias[c]; y[r][c] = f(x[r][c]) (bias add fused with the
// activation: one read of x). 0 bias, 1 x, 2 y, 3 rows, 4 cols, 5 act, 6 param
layout(local_size_x = 256) in;
void main() {
    uint bias = P(0), x = P(1), y = P(2), rows = P(3), cols = P(4), act = P(5);
    float a = F(6);
    uint n = rows * cols;
    for (uint i = gstart(); i < n; i += gstride()) {
        float z = arena[x + i] + arena[bias + i % cols];
        arena[x + i] = z;
        arena[y + i] = act_f(act, z, a);
    }
}
