#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Q.Compiler.Kernels
{
    /// <summary>
    /// The uint8 planes of the int8 convolutions (QConv2D's depthwise path, QConvNchw), in <see cref="PaddedPlane"/>'s
    /// layout with Qw = PWs: the caller writes the padding (the input zero point) once, then copies each plane's interior.
    /// </summary>
    internal static partial class PaddedPlane
    {
        /// <summary>Where a channel's input rows go in the padded, phase-split plane.</summary>
        internal readonly struct Geometry
        {
            public readonly int H, W, PadTop, PadLeft, StrideW, Qw;

            public Geometry(int h, int w, int padTop, int padLeft, int strideW, int qw)
            {
                H = h; W = w; PadTop = padTop; PadLeft = padLeft; StrideW = strideW; Qw = qw;
            }
        }

        /// <summary>Copies one channel into the interior of the padded, phase-split plane (the padding is left as it is).</summary>
        internal static void CopyInterior(ReadOnlySpan<byte> xc, Span<byte> pad, in Geometry g)
        {
            int wd = g.W, qw = g.Qw, strideW = g.StrideW, padLeft = g.PadLeft;
            if (strideW == 1 && wd <= 16)
            {
                // Short rows (the late MobileNet layers): one 16-, 8- or 4-byte move a row where the width allows.
                if (xc.Length < g.H * wd || pad.Length < (g.PadTop + g.H) * qw) throw new ArgumentException("CopyInterior sizes do not match");
                ref byte src = ref MemoryMarshal.GetReference(xc);
                ref byte dst = ref Unsafe.Add(ref MemoryMarshal.GetReference(pad), g.PadTop * qw + padLeft);
                if (wd == 16)
                    for (int iy = 0; iy < g.H; iy++) Vector128.LoadUnsafe(ref src, (nuint)(iy * 16)).StoreUnsafe(ref dst, (nuint)(iy * qw));
                else if (wd == 8)
                    for (int iy = 0; iy < g.H; iy++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, iy * qw), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, iy * 8)));
                else if (wd == 4)
                    for (int iy = 0; iy < g.H; iy++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, iy * qw), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, iy * 4)));
                else
                    for (int iy = 0; iy < g.H; iy++) CopyRow(ref Unsafe.Add(ref src, iy * wd), ref Unsafe.Add(ref dst, iy * qw), wd);
                return;
            }
            for (int iy = 0; iy < g.H; iy++)
            {
                int rowBase = (iy + g.PadTop) * strideW * qw;
                if (strideW == 1) CopyRow(ref MemoryMarshal.GetReference(xc.Slice(iy * wd, wd)), ref pad[rowBase + padLeft], wd);
                else if (strideW == 2)
                {
                    // Even input columns go to phase padLeft % 2, odd ones to the other (see Deinterleave2).
                    int pe = padLeft % 2, po = 1 - pe;
                    Deinterleave2(xc.Slice(iy * wd, wd), pad.Slice(rowBase + pe * qw + padLeft / 2), pad.Slice(rowBase + po * qw + (padLeft + 1) / 2));
                }
                else
                    for (int phase = 0; phase < strideW; phase++)
                    {
                        // Input columns ix with (ix + padLeft) mod s = phase go to slots (ix + padLeft) div s, one apart.
                        int ix0 = ((phase - padLeft) % strideW + strideW) % strideW;
                        ref byte dst = ref pad[rowBase + phase * qw + (ix0 + padLeft) / strideW];
                        ref byte src = ref MemoryMarshal.GetReference(xc.Slice(iy * wd));
                        for (int ix = ix0, q = 0; ix < wd; ix += strideW, q++) Unsafe.Add(ref dst, q) = Unsafe.Add(ref src, ix);
                    }
            }
        }

        internal static void CopyRow(ref byte src, ref byte dst, int count)
        {
            int i = 0;
            for (; i + 16 <= count; i += 16) Vector128.LoadUnsafe(ref Unsafe.Add(ref src, i)).StoreUnsafe(ref Unsafe.Add(ref dst, i));
            if (i + 8 <= count) { Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, i))); i += 8; }
            if (i + 4 <= count) { Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, i), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, i))); i += 4; }
            for (; i < count; i++) Unsafe.Add(ref dst, i) = Unsafe.Add(ref src, i);
        }

        /// <summary>even[j] = src[2j], odd[j] = src[2j + 1]: 32 bytes at a time by byte shuffles (pshufb) or UZP1/UZP2, the rest scalar.</summary>
        internal static void Deinterleave2(ReadOnlySpan<byte> src, Span<byte> even, Span<byte> odd)
        {
            int n = src.Length, j = 0;
            if (even.Length < (n + 1) / 2 || odd.Length < n / 2) throw new ArgumentException("Deinterleave2 sizes do not match");
            ref byte s0 = ref MemoryMarshal.GetReference(src);
            ref byte e0 = ref MemoryMarshal.GetReference(even);
            ref byte o0 = ref MemoryMarshal.GetReference(odd);
            if (Ssse3.IsSupported)
            {
                var split = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                for (; 2 * j + 32 <= n; j += 16)
                {
                    var a = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j)), split).AsUInt64();
                    var b = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j + 16)), split).AsUInt64();
                    Sse2.UnpackLow(a, b).AsByte().StoreUnsafe(ref Unsafe.Add(ref e0, j));
                    Sse2.UnpackHigh(a, b).AsByte().StoreUnsafe(ref Unsafe.Add(ref o0, j));
                }
            }
            else if (AdvSimd.Arm64.IsSupported)
                for (; 2 * j + 32 <= n; j += 16)
                {
                    var a = Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j));
                    var b = Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j + 16));
                    AdvSimd.Arm64.UnzipEven(a, b).StoreUnsafe(ref Unsafe.Add(ref e0, j));
                    AdvSimd.Arm64.UnzipOdd(a, b).StoreUnsafe(ref Unsafe.Add(ref o0, j));
                }
            if (Ssse3.IsSupported)
            {
                // Short rows (the late MobileNet layers): 16 or 8 source bytes at a time, stores of exactly the bytes produced.
                var split = Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
                for (; 2 * j + 16 <= n; j += 8)
                {
                    var a = Ssse3.Shuffle(Vector128.LoadUnsafe(ref Unsafe.Add(ref s0, 2 * j)), split).AsUInt64();
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref e0, j), a.GetElement(0));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref o0, j), a.GetElement(1));
                }
                if (2 * j + 8 <= n)
                {
                    var a = Ssse3.Shuffle(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s0, 2 * j))).AsByte(),
                        Vector128.Create((byte)0, 2, 4, 6, 1, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15)).AsUInt32();
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref e0, j), a.GetElement(0));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref o0, j), a.GetElement(1));
                    j += 4;
                }
            }
            for (; 2 * j < n; j++)
            {
                Unsafe.Add(ref e0, j) = Unsafe.Add(ref s0, 2 * j);
                if (2 * j + 1 < n) Unsafe.Add(ref o0, j) = Unsafe.Add(ref s0, 2 * j + 1);
            }
        }
    }
}
