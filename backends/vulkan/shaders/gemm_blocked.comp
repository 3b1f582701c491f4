// C = alpha op(A) op(B) + beta C, register-blocked: each invocation computes a
// 4x4 block of C from global loads (no shared memory); an 8x8 workgroup covers
// 32x32 outputs. Fastest on lavapipe (CPU); see ARCHITECTURE.md.
// 0 m, 1 n, 2 k, 3 a, 4 b, 5 c, 6 trans_a, 7 trans_b, 8 alpha, 9 beta
layout(local_size_x = 8, local_size_y = 8) in;
void main() {
    uint m = P(0), n = P(1), k = P(2), a = P(3), b = P(4), c = P(5), ta = P(6), tb = P(7);
    float alpha = F(8), beta = F(9);
    uint row0 = gl_GlobalInvocationID.y * 4u;
    uint col0 = gl_GlobalInvocationID.x * 4u;
    if (row0 >= m || col0 >= n) return;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++) for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;
    uint rmax = min(4u, m - row0), cmax = min(4u, n - col0);
    for (uint l = 0u; l < k; l++) {
        float av[4], bv[4];
        for (uint i = 0u; i < 4u; i++) {
            uint r = row0 + min(i, rmax - 1u);
            av[i] = arena[a + (ta != 0u ? l * m + r : r * k + l)];
            uint cc = col0 + min(i, cmax - 1u);
            bv[i] = arena[b + (tb != 0u ? cc * k + l : l * n + cc)];
        }
        for (uint i = 0u; i < 4u; i++) for (uint j = 0u; j < 4u; j++) acc[i][j] += av[i] * bv[j];
    }
    for (uint i = 0u; i < rmax; i++) for (uint j = 0u; j < cmax; j++) {
        uint idx = c + (row0 + i) * n + col0 + j;
        float r = alpha * acc[i][j];
        if (beta != 0.0) r += beta * arena[idx];
        arena[idx] = r;
    }
}
