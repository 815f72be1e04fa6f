#nullable enable
using System;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// DepthToSpace / SpaceToDepth between the depth side [n, c·b², h, w] and the space side [n, c, h·b, w·b].
    /// Channel of block offset (i, j): DCR (i·b + j)·c + ch, CRD (ch·b + i)·b + j. Each depth-side row of w values
    /// maps to every b-th element of a space-side row.
    /// </summary>
    internal static class PixelShuffle
    {
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y, int n, int c, int h, int w, int b, bool crd, bool toSpace)
        {
            int planeD = h * w, sw = w * b;
            for (int bn = 0; bn < n; bn++)
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < b; i++)
                        for (int j = 0; j < b; j++)
                        {
                            int dc = crd ? (ch * b + i) * b + j : (i * b + j) * c + ch;
                            int dBase = (bn * c * b * b + dc) * planeD;
                            int sBase = (bn * c + ch) * planeD * b * b;
                            for (int hh = 0; hh < h; hh++)
                            {
                                int d = dBase + hh * w;
                                int s = sBase + (hh * b + i) * sw + j;
                                if (toSpace)
                                    for (int ww = 0; ww < w; ww++) y[s + ww * b] = x[d + ww];
                                else
                                    for (int ww = 0; ww < w; ww++) y[d + ww] = x[s + ww * b];
                            }
                        }
        }
    }
}
