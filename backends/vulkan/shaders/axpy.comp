// y[i] += alpha x[i]. 0 x, 1 y, 2 n, 3 alpha
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), y = P(1), n = P(2); float alpha = F(3);
    for (uint i = gstart(); i < n; i += gstride()) arena[y + i] += alpha * arena[x + i];
}
