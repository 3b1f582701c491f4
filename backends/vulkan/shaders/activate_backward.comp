// dx[i] = f'(x[i]) dy[i]. 0 x, 1 y, 2 dy, 3 dx, 4 n, 5 act, 6 param
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), y = P(1), dy = P(2), dx = P(3), n = P(4), act = P(5); float a = F(6);
    for (uint i = gstart(); i < n; i += gstride())
        arena[dx + i] = act_df(act, arena[x + i], arena[y + i], a) * arena[dy + i];
}
