// Adam with bias correction (see Op::AdamStep).
// 0 param, 1 grad, 2 m, 3 v, 4 n, 5 lr, 6 beta1, 7 beta2, 8 eps, 9 bias1, 10 bias2
layout(local_size_x = 256) in;
void main() {
    uint p = P(0), g = P(1), m = P(2), v = P(3), n = P(4);
    float lr = F(5), b1 = F(6), b2 = F(7), eps = F(8), c1 = F(9), c2 = F(10);
    for (uint i = gstart(); i < n; i += gstride()) {
        float gi = arena[g + i];
        float mi = b1 * arena[m + i] + (1.0 - b1) * gi;
        float vi = b2 * arena[v + i] + (1.0 - b2) * gi * gi;
        arena[m + i] = mi;
        arena[v + i] = vi;
        arena[p + i] -= lr * (mi / c1) / (sqrt(vi / c2) + eps);
    }
}
