// cols = im2col(x): every window element of rows channels-first images, 0 in
// the padding. 0 x, 1 cols, 2 rows, 3 channels, 4 height, 5 width, 6 kh, 7 kw,
// 8 stride, 9 pad_h, 10 pad_w, 11 layout (0 conv: [r][p][c][i][j], 1 pool:
// [r][c][p][i][j]), 12 out_h, 13 out_w
layout(local_size_x = 256) in;
void main() {
    uint x = P(0), cols = P(1), rows = P(2), ch = P(3), h = P(4), w = P(5);
    uint kh = P(6), kw = P(7), stride = P(8), ph = P(9), pw = P(10), pool = P(11);
    uint oh = P(12), ow = P(13);
    uint k = kh * kw, pos = oh * ow;
    uint n = rows * pos * ch * k;
    for (uint idx = gstart(); idx < n; idx += gstride()) {
        uint e = idx % k;
        uint rest = idx / k;
        uint c, p, r;
        if (pool != 0u) { p = rest % pos; rest /= pos; c = rest % ch; r = rest / ch; }
        else { c = rest % ch; rest /= ch; p = rest % pos; r = rest / pos; }
        uint i = e / kw, j = e % kw;
        // Coordinates in the padded image; unsigned, so "before the image"
        // is a value below the padding.
        uint py = (p / ow) * stride + i, px = (p % ow) * stride + j;
        float v = 0.0;
        if (py >= ph && py - ph < h && px >= pw && px - pw < w) {
            v = arena[x + ((r * ch + c) * h + (py - ph)) * w + (px - pw)];
        }
        arena[cols + idx] = v;
    }
}
