// y[i] = f(x[i]). 0 x, 1 y, 2 n, 3 act, 4 param
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), y = P(1), n = P(2), act = P(3); float a = F(4);
    for (uint i = gstart(); i < n; i += gstride()) arena[y + i] = act_f(act, arena[x + i], a);
}
