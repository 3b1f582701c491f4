// dbias[c] += sum_r dout[r][c]; one invocation per column. 0 dout, 1 dbias, 2 rows, 3 cols
layout(local_size_x = 256) in;
void main() {
    uint dout = P(0), dbias = P(1), rows = P(2), cols = P(3);
    for (uint c = gstart(); c < cols; c += gstride()) {
        float s = 0.0;
        for (uint r = 0u; r < rows; r++) s += arena[dout + r * cols + c];
        arena[dbias + c] += s;
    }
}
