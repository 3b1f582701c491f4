// v = mu v + g; param -= lr v. 0 param, 1 grad, 2 velocity, 3 n, 4 lr, 5 mu
layout(local_size_x = 256) in;
void main() {
    uint p = P(0), g = P(1), v = P(2), n = P(3); float lr = F(4), mu = F(5);
    for (uint i = gstart(); i < n; i += gstride()) {
        float vi = mu * arena[v + i] + arena[g + i];
        arena[v + i] = vi;
        arena[p + i] -= lr * vi;
    }
}
