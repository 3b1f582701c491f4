// C = alpha op(A) op(B) + beta C, tiled through workgroup shared memory.
// A workgroup of 8x8 invocations computes a 32x32 tile of C; per step of 16
// along k it stages a 32x16 tile of op(A) and a 16x32 tile of op(B) in shared
// memory (8 loads per invocation each), then every invocation accumulates a
// 4x4 register block (rows ly + 8i, columns lx + 8j, so neighbouring
// invocations read neighbouring shared words and write neighbouring outputs).
// Each output's sum runs over k in order, as the CPU reference's does.
// 0 m, 1 n, 2 k, 3 a, 4 b, 5 c, 6 trans_a, 7 trans_b, 8 alpha, 9 beta
layout(local_size_x = 8, local_size_y = 8) in;
shared float As[32][17];
shared float Bs[16][33];
void main() {
    uint m = P(0), n = P(1), k = P(2), a = P(3), b = P(4), c = P(5), ta = P(6), tb = P(7);
    float alpha = F(8), beta = F(9);
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint tid = ly * 8u + lx;
    uint row0 = gl_WorkGroupID.y * 32u, col0 = gl_WorkGroupID.x * 32u;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++) for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;
    for (uint t = 0u; t < k; t += 16u) {
        for (uint e = tid; e < 512u; e += 64u) {
            uint r = e / 16u, kk = e % 16u;
            uint gr = row0 + r, gk = t + kk;
            float v = 0.0;
            if (gr < m && gk < k) v = arena[a + (ta != 0u ? gk * m + gr : gr * k + gk)];
            As[r][kk] = v;
        }
        for (uint e = tid; e < 512u; e += 64u) {
            uint kk = e / 32u, cc = e % 32u;
            uint gk = t + kk, gc = col0 + cc;
            float v = 0.0;
            if (gk < k && gc < n) v = arena[b + (tb != 0u ? gc * k + gk : gk * n + gc)];
            Bs[kk][cc] = v;
        }
        barrier();
        for (uint kk = 0u; kk < 16u; kk++) {
            float av[4], bv[4];
            for (uint i = 0u; i < 4u; i++) { av[i] = As[ly + 8u * i][kk]; bv[i] = Bs[kk][lx + 8u * i]; }
            for (uint i = 0u; i < 4u; i++) for (uint j = 0u; j < 4u; j++) acc[i][j] += av[i] * bv[j];
        }
        barrier();
    }
    for (uint i = 0u; i < 4u; i++) for (uint j = 0u; j < 4u; j++) {
        uint row = row0 + ly + 8u * i, col = col0 + lx + 8u * j;
        if (row < m && col < n) {
            uint idx = c + row * n + col;
            float r = alpha * acc[i][j];
            if (beta != 0.0) r += beta * arena[idx];
            arena[idx] = r;
        }
    }
}
