// param -= lr grad. 0 param, 1 grad, 2 n, 3 lr
layout(local_size_x = 256) in;
void main() {
    uint p = P(0), g = P(1), n = P(2); float lr = F(3);
    for (uint i = gstart(); i < n; i += gstride()) arena[p + i] -= lr * arena[g + i];
}
