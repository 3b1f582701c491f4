// x += col2im(cols): each image element gathers the window elements copied
// from it (no two invocations write one element). Slot as im2col's: 0 cols,
// 1 x, 2 rows, 3 channels, 4 height, 5 width, 6 kh, 7 kw, 8 stride, 9 pad_h,
// 10 pad_w, 11 layout (0 conv, 1 pool), 12 out_h, 13 out_w
layout(local_size_x = 256) in;
void main() {
    uint cols = P(0), x = P(1), rows = P(2), ch = P(3), h = P(4), w = P(5);
    uint kh = P(6), kw = P(7), stride = P(8), ph = P(9), pw = P(10), pool = P(11);
    uint oh = P(12), ow = P(13);
    uint k = kh * kw, pos = oh * ow;
    uint n = rows * ch * h * w;
    for (uint idx = gstart(); idx < n; idx += gstride()) {
        uint xx = idx % w;
        uint rest = idx / w;
        uint yy = rest % h;
        rest /= h;
        uint c = rest % ch, r = rest / ch;
        float s = 0.0;
        for (uint i = 0u; i < kh; i++) {
            // Window row oy covers padded row yy + ph at offset i.
            uint py = yy + ph;
            if (py < i || (py - i) % stride != 0u) continue;
            uint oy = (py - i) / stride;
            if (oy >= oh) continue;
            for (uint j = 0u; j < kw; j++) {
                uint px = xx + pw;
                if (px < j || (px - j) % stride != 0u) continue;
                uint ox = (px - j) / stride;
                if (ox >= ow) continue;
                uint p = oy * ow + ox;
                uint at = pool != 0u ? ((r * ch + c) * pos + p) * k : ((r * pos + p) * ch + c) * k;
                s += arena[cols + at + i * kw + j];
            }
        }
        arena[x + idx] += s;
    }
}
