// dst[i] = src[i]. 0 src, 1 dst, 2 n
layout(local_size_x = 256) in;
void main() {
    uint src = P(0), dst = P(1), n = P(2);
    for (uint i = gstart(); i < n; i += gstride()) arena[dst + i] = arena[src + i];
}
