// dst[i] = value. 0 dst, 1 n, 2 value
layout(local_size_x = 256) in;
void main() {
    uint dst = P(0), n = P(1); float v = F(2);
    for (uint i = gstart(); i < n; i += gstride()) arena[dst + i] = v;
}
