#nullable enable
using System;
using System.Numerics;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Resize kernels driven by tables computed at build time. Nearest: for each axis, the input element offset of each
    /// output index. Linear and cubic: for each output row and column, a fixed number of taps (input index, weight); the
    /// value is Σ_a Σ_b wy[a]·wx[b]·x[iy[a], ix[b]]. An index of −1 marks an output outside the crop box
    /// (tf_crop_and_resize), which takes the extrapolation value.
    /// </summary>
    internal static class Resize
    {
        public static void Nearest<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<int> offsets, ReadOnlySpan<int> outDims, float extrapolation)
            where T : unmanaged, INumber<T>
        {
            int r = outDims.Length, rowLen = outDims[r - 1];
            if (rowLen == 0 || y.Length == 0) return;
            Span<int> start = stackalloc int[r];
            Span<int> idx = stackalloc int[r];
            for (int d = 1; d < r; d++) start[d] = start[d - 1] + outDims[d - 1];
            ReadOnlySpan<int> last = offsets.Slice(start[r - 1], rowLen);
            T extra = T.CreateSaturating(extrapolation);
            int rows = y.Length / rowLen;
            for (int row = 0; row < rows; row++)
            {
                int b = 0;
                bool outside = false;
                for (int d = 0; d < r - 1; d++)
                {
                    int o = offsets[start[d] + idx[d]];
                    if (o < 0) outside = true;
                    b += o;
                }
                Span<T> yr = y.Slice(row * rowLen, rowLen);
                if (outside) yr.Fill(extra);
                else
                    for (int i = 0; i < rowLen; i++) { int o = last[i]; yr[i] = o < 0 ? extra : x[b + o]; }
                for (int d = r - 2; d >= 0; d--) { if (++idx[d] < outDims[d]) break; idx[d] = 0; }
            }
        }

        public static void Separable(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<int> rowIndex, ReadOnlySpan<float> rowWeight,
            ReadOnlySpan<int> colIndex, ReadOnlySpan<float> colWeight, int planes, int inH, int inW, int outH, int outW,
            int rowTaps, int colTaps, float extrapolation)
        {
            for (int p = 0; p < planes; p++)
            {
                ReadOnlySpan<float> xp = x.Slice(p * inH * inW, inH * inW);
                Span<float> yp = y.Slice(p * outH * outW, outH * outW);
                for (int oy = 0; oy < outH; oy++)
                {
                    Span<float> yr = yp.Slice(oy * outW, outW);
                    if (rowIndex[oy * rowTaps] < 0) { yr.Fill(extrapolation); continue; }
                    yr.Clear();
                    for (int a = 0; a < rowTaps; a++)
                    {
                        float wa = rowWeight[oy * rowTaps + a];
                        if (wa == 0f) continue;
                        ReadOnlySpan<float> xr = xp.Slice(rowIndex[oy * rowTaps + a] * inW, inW);
                        for (int ox = 0; ox < outW; ox++)
                        {
                            int t = ox * colTaps;
                            float s = 0f;
                            for (int b = 0; b < colTaps; b++) s += colWeight[t + b] * xr[Math.Max(colIndex[t + b], 0)];
                            yr[ox] += wa * s;
                        }
                    }
                    for (int ox = 0; ox < outW; ox++) if (colIndex[ox * colTaps] < 0) yr[ox] = extrapolation;
                }
            }
        }
    }
}
