// C = alpha op(A) op(B) + beta C, tiled through workgroup shared memory:
// each 16x16 workgroup stages a 16x16 tile of op(A) and of op(B) per step of k.
// 0 m, 1 n, 2 k, 3 a, 4 b, 5 c, 6 trans_a, 7 trans_b, 8 alpha, 9 beta
layout(local_size_x = 16, local_size_y = 16) in;
shared float As[16][16];
shared float Bs[16][17];
void main() {
    uint m = P(0), n = P(1), k = P(2), a = P(3), b = P(4), c = P(5), ta = P(6), tb = P(7);
    float alpha = F(8), beta = F(9);
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint row = gl_WorkGroupID.y * 16u + ly;
    uint col = gl_WorkGroupID.x * 16u + lx;
    float acc = 0.0;
    for (uint t = 0u; t < k; t += 16u) {
        uint ak = t + lx;
        float av = 0.0;
        if (row < m && ak < k) av = arena[a + (ta != 0u ? ak * m + row : row * k + ak)];
        As[ly][lx] = av;
        uint bk = t + ly;
        float bv = 0.0;
        if (bk < k && col < n) bv = arena[b + (tb != 0u ? col * k + bk : bk * n + col)];
        Bs[ly][lx] = bv;
        barrier();
        for (uint i = 0u; i < 16u; i++) acc += As[ly][i] * Bs[i][lx];
        barrier();
    }
    if (row < m && col < n) {
        uint idx = c + row * n + col;
        float r = alpha * acc;
        if (beta != 0.0) r += beta * arena[idx];
        arena[idx] = r;
    }
}
