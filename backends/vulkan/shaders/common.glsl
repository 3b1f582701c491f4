#version 450
// Shared prelude, prepended to every kernel by build.rs.
//
// Binding 0: the arena, one flat f32 buffer. Binding 1: the params buffer,
// 16 u32 words per recorded op ("slot"), rewritten before every submission.
// The push constant selects the slot, so a cached command buffer replays with
// new scalars (learning rate, Adam bias corrections, ...) without re-recording.
layout(set = 0, binding = 0) buffer Arena { float arena[]; };
layout(set = 0, binding = 1) readonly buffer Params { uint prm[]; };
layout(push_constant) uniform Push { uint slot; } pc;

uint P(uint i) { return prm[pc.slot * 16u + i]; }
float F(uint i) { return uintBitsToFloat(prm[pc.slot * 16u + i]); }

// Grid-stride loop helpers for 1-D kernels of 256 invocations per workgroup.
uint gstart() { return gl_GlobalInvocationID.x; }
uint gstride() { return gl_NumWorkGroups.x * 256u; }

// expm1 accurate near 0 (Taylor series below |x| < 0.5, exp elsewhere).
float expm1_(float x) {
    if (abs(x) < 0.5) {
        float t = x, s = x;
        for (int i = 2; i <= 11; i++) { t *= x / float(i); s += t; }
        return s;
    }
    return exp(x) - 1.0;
}

// log1p for t in [0, 1]: 2 atanh(t / (2 + t)), a series in s^2 <= 1/9, so the
// result is accurate to rounding without relying on log near 1.
float log1p01(float t) {
    float s = t / (2.0 + t);
    float s2 = s * s;
    float term = s, sum = s;
    for (int i = 1; i <= 9; i++) { term *= s2; sum += term / float(2 * i + 1); }
    return 2.0 * sum;
}

float sigmoid_(float x) {
    if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
    float e = exp(x);
    return e / (1.0 + e);
}

// Activation codes: 0 identity, 1 sigmoid, 2 tanh, 3 relu, 4 leaky relu,
// 5 elu, 6 softplus. `a` is the slope (leaky relu) or alpha (elu).
float act_f(uint code, float x, float a) {
    switch (code) {
    case 1u: return sigmoid_(x);
    case 2u: {
        // tanh |x| = -expm1(-2|x|) / (2 + expm1(-2|x|)), no cancellation near 0.
        float e = expm1_(-2.0 * abs(x));
        float t = -e / (2.0 + e);
        return x < 0.0 ? -t : t;
    }
    case 3u: return x > 0.0 ? x : 0.0;
    case 4u: return x > 0.0 ? x : a * x;
    case 5u: return x > 0.0 ? x : a * expm1_(x);
    case 6u: return max(x, 0.0) + log1p01(exp(-abs(x)));
    default: return x;
    }
}

float act_df(uint code, float x, float y, float a) {
    switch (code) {
    case 1u: return y * (1.0 - y);
    case 2u: return 1.0 - y * y;
    case 3u: return x > 0.0 ? 1.0 : 0.0;
    case 4u: return x > 0.0 ? 1.0 : a;
    case 5u: return x > 0.0 ? 1.0 : y + a;
    case 6u: return sigmoid_(x);
    default: return 1.0;
    }
}

// Label elements carry their class index in their bits, not as a value
// (Element::from_index): a kernel that reads labels declares the arena a second
// time as words, `LABEL_VIEW`, and reads `arena_bits[i]`, exact for every u32.
// A label is a class when that index is below cols.
#define LABEL_VIEW layout(set = 0, binding = 0) readonly buffer ArenaBits { uint arena_bits[]; };
