// out = (acc ? out : 0) + scale sum x^2. One workgroup. 0 x, 1 out, 2 n, 3 scale, 4 accumulate
layout(local_size_x = 256) in;
shared float part[256];
void main() {
    uint x = P(0), out_ = P(1), n = P(2); float scale = F(3); uint accumulate = P(4);
    uint tid = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint i = tid; i < n; i += 256u) { float v = arena[x + i]; s += v * v; }
    part[tid] = s;
    barrier();
    for (uint h = 128u; h > 0u; h >>= 1) {
        if (tid < h) part[tid] += part[tid + h];
        barrier();
    }
    if (tid == 0u) arena[out_] = (accumulate != 0u ? arena[out_] : 0.0) + scale * part[0];
}
