#nullable enable
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

// Requires: Requantize
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// com.microsoft QLinearAdd and QLinearMul on uint8 with broadcasting (coalesced dims, element strides, 0 where broadcast),
    /// in integer fixed point so that every path gives the same bits:
    /// <list type="bullet">
    /// <item>Add: y = clamp(zy + ((a − za)·ma + (b − zb)·mb + 2^(s−1)) >> s, lo, hi) with ma, mb &lt; 2^21 (int32 throughout).</item>
    /// <item>Mul: y = clamp(zy + round((a − za)(b − zb) · m·2^−s), lo, hi), the product clamped to ±accLimit first, the
    /// rounding that of <see cref="Requantize"/> (64-bit product, ties toward +∞).</item>
    /// </list>
    /// The innermost dimension is vectorized when both operands are contiguous there or one is broadcast; on AVX2 a Mul of
    /// rows by one value per row (squeeze-excite's [C, H·W] × [C, 1]) runs in one call (see <see cref="MulAvx2"/>).
    /// </summary>
    internal static class QLinearBinary
    {
        public enum Path { Scalar, Vector128, Vector256 }

        public static Path Best => Vector256.IsHardwareAccelerated ? Path.Vector256 : Vector128.IsHardwareAccelerated ? Path.Vector128 : Path.Scalar;

        public static bool IsSupported(Path p) => p switch
        {
            Path.Vector256 => Vector256.IsHardwareAccelerated,
            Path.Vector128 => Vector128.IsHardwareAccelerated,
            _ => true,
        };

        /// <summary>QLinearAdd on the best path.</summary>
        public static void Add(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> y, ReadOnlySpan<int> dims, ReadOnlySpan<int> aStrides,
            ReadOnlySpan<int> bStrides, int za, int zb, int ma, int mb, int shift, int zy, int lo, int hi)
            => Run(Best, false, a, b, y, dims, aStrides, bStrides, za, zb, ma, mb, shift, int.MaxValue, zy, lo, hi);

        /// <summary>QLinearMul on the best path.</summary>
        public static void Mul(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> y, ReadOnlySpan<int> dims, ReadOnlySpan<int> aStrides,
            ReadOnlySpan<int> bStrides, int za, int zb, int m, int shift, int accLimit, int zy, int lo, int hi)
            => Run(Best, true, a, b, y, dims, aStrides, bStrides, za, zb, m, 0, shift, accLimit, zy, lo, hi);

        /// <summary>One path; <paramref name="mul"/> selects QLinearMul (then <paramref name="mb"/> is unused).</summary>
        public static void Run(Path path, bool mul, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> y, ReadOnlySpan<int> dims,
            ReadOnlySpan<int> aStrides, ReadOnlySpan<int> bStrides, int za, int zb, int ma, int mb, int shift, int accLimit, int zy, int lo, int hi)
        {
            if (!IsSupported(path)) throw new PlatformNotSupportedException("QLinearBinary path " + path);
            int rank = dims.Length;
            int inner = dims[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1];
            if (inner == 0) return;
            int rows = y.Length / inner;
            if (mul && path == Path.Vector256 && Avx2.IsSupported && lo >= 0 && hi <= 255 && rank == 2)
            {
                // Squeeze-excite's plane × one value per channel, after coalescing: [rows, inner] × [rows, 1] (either side).
                ref byte ar = ref MemoryMarshal.GetReference(a);
                ref byte br = ref MemoryMarshal.GetReference(b);
                if (sa == 1 && aStrides[0] == inner && sb == 0 && bStrides[0] == 1)
                {
                    MulAvx2(ref ar, za, inner, ref br, zb, 1, true, y, rows, inner, ma, shift, accLimit, zy, lo, hi);
                    return;
                }
                if (sb == 1 && bStrides[0] == inner && sa == 0 && aStrides[0] == 1)
                {
                    MulAvx2(ref br, zb, inner, ref ar, za, 1, true, y, rows, inner, ma, shift, accLimit, zy, lo, hi);
                    return;
                }
            }
            Span<int> idx = stackalloc int[rank];
            int ao = 0, bo = 0;
            for (int r = 0; r < rows; r++)
            {
                var yr = y.Slice(r * inner, inner);
                if (mul) MulRow(path, a, ao, sa, b, bo, sb, yr, za, zb, ma, shift, accLimit, zy, lo, hi);
                else AddRow(path, a, ao, sa, b, bo, sb, yr, za, zb, ma, mb, shift, zy, lo, hi);
                for (int d = rank - 2; d >= 0; d--)
                {
                    idx[d]++; ao += aStrides[d]; bo += bStrides[d];
                    if (idx[d] < dims[d]) break;
                    ao -= aStrides[d] * dims[d]; bo -= bStrides[d] * dims[d]; idx[d] = 0;
                }
            }
        }

        private static void AddRow(Path path, ReadOnlySpan<byte> a, int ao, int sa, ReadOnlySpan<byte> b, int bo, int sb, Span<byte> y,
            int za, int zb, int ma, int mb, int shift, int zy, int lo, int hi)
        {
            int n = y.Length, i = 0;
            ref byte ar = ref Unsafe.Add(ref MemoryMarshal.GetReference(a), ao);
            ref byte br = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), bo);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            // (a − za)·ma + (b − zb)·mb + 2^(s−1) = a·ma + b·mb + c; exact in wrapping int32 because the true value fits.
            int c = (1 << (shift - 1)) - za * ma - zb * mb;
            bool vec = (sa == 1 || sa == 0) && (sb == 1 || sb == 0) && !(sa == 0 && sb == 0);
            if (sa == 1 && sb == 1 && path == Path.Vector256 && Avx2.IsSupported && lo >= 0 && hi <= 255)
            {
                // a·ma + b·mb by vpmaddwd on (a, b) int16 pairs with the multipliers split in 11-bit halves,
                // m = mh·2^11 + ml (ml in [0, 2^11), |mh| < 2^10): (pairs·(mah, mbh) << 11) + pairs·(mal, mbl), the same
                // wrapping int32 value. Pairs of 32 elements come out of the in-lane unpacks as [0–3 | 16–19], [4–7 | 20–23],
                // [8–11 | 24–27], [12–15 | 28–31], which the in-lane saturating packs put back in order; the packs' [0, 255]
                // saturation is the clamp to the uint8 range, then [lo, hi] on the bytes.
                var mh = Vector256.Create(((ma >> 11) & 0xFFFF) | ((mb >> 11) << 16)).AsInt16();
                var ml = Vector256.Create((ma & 0x7FF) | ((mb & 0x7FF) << 16)).AsInt16();
                var vc = Vector256.Create(c); var vz = Vector256.Create(zy);
                var vlo = Vector256.Create((byte)lo); var vhi = Vector256.Create((byte)hi);
                var zero = Vector256<byte>.Zero;
                var count = Vector128.CreateScalar(shift);   // vpsrad by a register count
                for (; i + 32 <= n; i += 32)
                {
                    var va = Vector256.LoadUnsafe(ref ar, (nuint)i);
                    var vb = Vector256.LoadUnsafe(ref br, (nuint)i);
                    var ab0 = Avx2.UnpackLow(va, vb);
                    var ab1 = Avx2.UnpackHigh(va, vb);
                    var r0 = AddPairs(Avx2.UnpackLow(ab0, zero).AsInt16(), mh, ml, vc, count, vz);
                    var r1 = AddPairs(Avx2.UnpackHigh(ab0, zero).AsInt16(), mh, ml, vc, count, vz);
                    var r2 = AddPairs(Avx2.UnpackLow(ab1, zero).AsInt16(), mh, ml, vc, count, vz);
                    var r3 = AddPairs(Avx2.UnpackHigh(ab1, zero).AsInt16(), mh, ml, vc, count, vz);
                    var bytes = Avx2.PackUnsignedSaturate(Avx2.PackSignedSaturate(r0, r1), Avx2.PackSignedSaturate(r2, r3));
                    Avx2.Min(Avx2.Max(bytes, vlo), vhi).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            else if (vec && path == Path.Vector256)
            {
                // A broadcast operand folds into the constant.
                int cc = c + (sa == 0 ? ar * ma : 0) + (sb == 0 ? br * mb : 0);
                var vma = Vector256.Create(sa == 0 ? 0 : ma); var vmb = Vector256.Create(sb == 0 ? 0 : mb);
                var vc = Vector256.Create(cc); var vz = Vector256.Create(zy); var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
                for (; i + 32 <= n; i += 32)
                {
                    var va = sa == 0 ? Vector256<byte>.Zero : Vector256.LoadUnsafe(ref ar, (nuint)i);
                    var vb = sb == 0 ? Vector256<byte>.Zero : Vector256.LoadUnsafe(ref br, (nuint)i);
                    var (a0, a1, a2, a3) = Widen(va); var (b0, b1, b2, b3) = Widen(vb);
                    var r0 = AddFinish(a0 * vma + b0 * vmb + vc, shift, vz, vlo, vhi);
                    var r1 = AddFinish(a1 * vma + b1 * vmb + vc, shift, vz, vlo, vhi);
                    var r2 = AddFinish(a2 * vma + b2 * vmb + vc, shift, vz, vlo, vhi);
                    var r3 = AddFinish(a3 * vma + b3 * vmb + vc, shift, vz, vlo, vhi);
                    Vector256.Narrow(Vector256.Narrow(r0, r1).AsUInt16(), Vector256.Narrow(r2, r3).AsUInt16()).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            else if (vec && path == Path.Vector128)
            {
                int cc = c + (sa == 0 ? ar * ma : 0) + (sb == 0 ? br * mb : 0);
                var vma = Vector128.Create(sa == 0 ? 0 : ma); var vmb = Vector128.Create(sb == 0 ? 0 : mb);
                var vc = Vector128.Create(cc); var vz = Vector128.Create(zy); var vlo = Vector128.Create(lo); var vhi = Vector128.Create(hi);
                for (; i + 16 <= n; i += 16)
                {
                    var va = sa == 0 ? Vector128<byte>.Zero : Vector128.LoadUnsafe(ref ar, (nuint)i);
                    var vb = sb == 0 ? Vector128<byte>.Zero : Vector128.LoadUnsafe(ref br, (nuint)i);
                    var (a0, a1, a2, a3) = Widen(va); var (b0, b1, b2, b3) = Widen(vb);
                    var r0 = Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(a0 * vma + b0 * vmb + vc, shift) + vz, vlo), vhi);
                    var r1 = Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(a1 * vma + b1 * vmb + vc, shift) + vz, vlo), vhi);
                    var r2 = Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(a2 * vma + b2 * vmb + vc, shift) + vz, vlo), vhi);
                    var r3 = Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(a3 * vma + b3 * vmb + vc, shift) + vz, vlo), vhi);
                    Vector128.Narrow(Vector128.Narrow(r0, r1).AsUInt16(), Vector128.Narrow(r2, r3).AsUInt16()).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            for (; i < n; i++)
            {
                int v = ((Unsafe.Add(ref ar, i * sa) * ma + Unsafe.Add(ref br, i * sb) * mb + c) >> shift) + zy;
                Unsafe.Add(ref yr, i) = (byte)Math.Min(hi, Math.Max(lo, v));
            }
        }

        /// <summary>8 elements of ((a·ma + b·mb + c) &gt;&gt; shift) + zy from (a, b) int16 pairs and the split multipliers.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> AddPairs(Vector256<short> pairs, Vector256<short> mh, Vector256<short> ml, Vector256<int> c, Vector128<int> shift, Vector256<int> zy)
        {
            var v = Avx2.Add(Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(pairs, mh), 11), Avx2.MultiplyAddAdjacent(pairs, ml));
            return Avx2.Add(Avx2.ShiftRightArithmetic(Avx2.Add(v, c), shift), zy);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> AddFinish(Vector256<int> v, int shift, Vector256<int> zy, Vector256<int> lo, Vector256<int> hi) =>
            Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(v, shift) + zy, lo), hi);

        private static void MulRow(Path path, ReadOnlySpan<byte> a, int ao, int sa, ReadOnlySpan<byte> b, int bo, int sb, Span<byte> y,
            int za, int zb, int m, int shift, int accLimit, int zy, int lo, int hi)
        {
            int n = y.Length, i = 0;
            ref byte ar = ref Unsafe.Add(ref MemoryMarshal.GetReference(a), ao);
            ref byte br = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), bo);
            ref byte yr = ref MemoryMarshal.GetReference(y);
            bool vec = (sa == 1 || sa == 0) && (sb == 1 || sb == 0) && !(sa == 0 && sb == 0);
            if (vec && path == Path.Vector256 && Avx2.IsSupported && lo >= 0 && hi <= 255)   // (Vector256 accelerated means AVX2; uint8 bounds)
            {
                // Mul is symmetric: the contiguous operand goes first, a broadcast one becomes the row constant.
                if (sa == 0) MulAvx2(ref br, zb, 0, ref ar, za, 0, true, y, 1, n, m, shift, accLimit, zy, lo, hi);
                else MulAvx2(ref ar, za, 0, ref br, zb, 0, sb == 0, y, 1, n, m, shift, accLimit, zy, lo, hi);
                return;
            }
            else if (vec && path == Path.Vector128)
            {
                var vza = Vector128.Create(sa == 0 ? za - ar : za); var vzb = Vector128.Create(sb == 0 ? zb - br : zb);
                var vlim = Vector128.Create(accLimit); var vnlim = Vector128.Create(-accLimit);
                var vz = Vector128.Create(zy); var vlo = Vector128.Create(lo); var vhi = Vector128.Create(hi);
                for (; i + 16 <= n; i += 16)
                {
                    var va = sa == 0 ? Vector128<byte>.Zero : Vector128.LoadUnsafe(ref ar, (nuint)i);
                    var vb = sb == 0 ? Vector128<byte>.Zero : Vector128.LoadUnsafe(ref br, (nuint)i);
                    var (a0, a1, a2, a3) = Widen(va); var (b0, b1, b2, b3) = Widen(vb);
                    var r0 = MulFinish((a0 - vza) * (b0 - vzb), m, shift, vnlim, vlim, vz, vlo, vhi);
                    var r1 = MulFinish((a1 - vza) * (b1 - vzb), m, shift, vnlim, vlim, vz, vlo, vhi);
                    var r2 = MulFinish((a2 - vza) * (b2 - vzb), m, shift, vnlim, vlim, vz, vlo, vhi);
                    var r3 = MulFinish((a3 - vza) * (b3 - vzb), m, shift, vnlim, vlim, vz, vlo, vhi);
                    Vector128.Narrow(Vector128.Narrow(r0, r1).AsUInt16(), Vector128.Narrow(r2, r3).AsUInt16()).StoreUnsafe(ref yr, (nuint)i);
                }
            }
            for (; i < n; i++)
            {
                int acc = (Unsafe.Add(ref ar, i * sa) - za) * (Unsafe.Add(ref br, i * sb) - zb);
                acc = Math.Max(-accLimit, Math.Min(accLimit, acc));
                int v = Requantize.Apply(acc, m, shift) + zy;
                Unsafe.Add(ref yr, i) = (byte)Math.Min(hi, Math.Max(lo, v));
            }
        }

        /// <summary>
        /// AVX2 QLinearMul of <paramref name="rows"/> rows of <paramref name="inner"/> elements: row r of a starts at
        /// r·<paramref name="aStep"/>, b is contiguous there (at r·<paramref name="bStep"/>) or, when
        /// <paramref name="bScalar"/>, the one value b[r·bStep] (squeeze-excite's per-channel factor). (a − za) and
        /// (b − zb) are int16 lanes whose exact int32 products come from vpmullw/vpmulhw, unpacked in-lane.
        /// round(acc·m·2^−s) with ties toward +∞ is one vpmuldq per even and odd int32 lane and a uniform logical shift:
        /// the bias 2^62 (plus the rounding half) keeps acc·m (|acc·m| &lt; 2^47) non-negative, and the 2^(62−s) it adds
        /// after the shift is subtracted with zy, modulo 2^32, from the low halves. For s ≥ 32 the odd lanes shift by
        /// s − 32 only, which leaves their result in the high half where the blend takes it. |acc| ≤ 255², so the
        /// ±accLimit clamp is only needed when acc·m·2^−s could leave int32 (huge multipliers). The saturating packs clamp
        /// to [0, 255], then [lo, hi] on the bytes; a row's last inner mod 32 elements take the scalar formula.
        /// </summary>
        private static void MulAvx2(ref byte ar, int za, int aStep, ref byte br, int zb, int bStep, bool bScalar, Span<byte> y,
            int rows, int inner, int m, int shift, int accLimit, int zy, int lo, int hi)
        {
            ref byte y0 = ref MemoryMarshal.GetReference(y);
            var vza = Vector256.Create((short)za); var vzb = Vector256.Create((short)zb);
            bool clamp = accLimit < 255 * 255;
            var vlim = Vector256.Create(accLimit); var vnlim = Vector256.Create(-accLimit);
            var vm = Vector256.Create(m);
            var bias = Vector256.Create((1L << 62) + (1L << (shift - 1)));
            bool high = shift >= 32;
            var count = Vector128.CreateScalar((long)shift);
            var oddCount = Vector128.CreateScalar((long)(high ? shift - 32 : shift));
            var vz = Vector256.Create(unchecked(zy - (int)(1L << (62 - shift))));   // modulo 2^32: zy when 62 − s ≥ 32
            var vlo = Vector256.Create((byte)lo); var vhi = Vector256.Create((byte)hi);
            for (int r = 0; r < rows; r++)
            {
                ref byte arow = ref Unsafe.Add(ref ar, r * aStep);
                ref byte brow = ref Unsafe.Add(ref br, r * bStep);
                ref byte yr = ref Unsafe.Add(ref y0, r * inner);
                var vk = Vector256.Create((short)(brow - zb));
                int i = 0;
                for (; i + 32 <= inner; i += 32)
                {
                    var t0 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref arow, (nuint)i)) - vza;
                    var t1 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref arow, (nuint)(i + 16))) - vza;
                    var u0 = bScalar ? vk : Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref brow, (nuint)i)) - vzb;
                    var u1 = bScalar ? vk : Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref brow, (nuint)(i + 16))) - vzb;
                    var l0 = Avx2.MultiplyLow(t0, u0); var h0 = Avx2.MultiplyHigh(t0, u0);
                    var l1 = Avx2.MultiplyLow(t1, u1); var h1 = Avx2.MultiplyHigh(t1, u1);
                    // In-lane unpacks: [0–3 | 8–11], [4–7 | 12–15] (and +16), which the in-lane packs put back in order.
                    var acc0 = Avx2.UnpackLow(l0, h0).AsInt32(); var acc1 = Avx2.UnpackHigh(l0, h0).AsInt32();
                    var acc2 = Avx2.UnpackLow(l1, h1).AsInt32(); var acc3 = Avx2.UnpackHigh(l1, h1).AsInt32();
                    if (clamp)
                    {
                        acc0 = Avx2.Min(Avx2.Max(acc0, vnlim), vlim); acc1 = Avx2.Min(Avx2.Max(acc1, vnlim), vlim);
                        acc2 = Avx2.Min(Avx2.Max(acc2, vnlim), vlim); acc3 = Avx2.Min(Avx2.Max(acc3, vnlim), vlim);
                    }
                    var p0 = Avx2.PackSignedSaturate(MulRound(acc0, vm, bias, count, oddCount, high, vz), MulRound(acc1, vm, bias, count, oddCount, high, vz));
                    var p1 = Avx2.PackSignedSaturate(MulRound(acc2, vm, bias, count, oddCount, high, vz), MulRound(acc3, vm, bias, count, oddCount, high, vz));
                    var bytes = Avx2.Permute4x64(Avx2.PackUnsignedSaturate(p0, p1).AsInt64(), 0b11_01_10_00).AsByte();
                    Avx2.Min(Avx2.Max(bytes, vlo), vhi).StoreUnsafe(ref yr, (nuint)i);
                }
                for (; i < inner; i++)
                {
                    int acc = (Unsafe.Add(ref arow, i) - za) * ((bScalar ? brow : Unsafe.Add(ref brow, i)) - zb);
                    acc = Math.Max(-accLimit, Math.Min(accLimit, acc));
                    int v = Requantize.Apply(acc, m, shift) + zy;
                    Unsafe.Add(ref yr, i) = (byte)Math.Min(hi, Math.Max(lo, v));
                }
            }
        }

        /// <summary>8 lanes of round(acc·m·2^−s) + zy (ties toward +∞) for |acc·m| &lt; 2^62 with a result within int32; see <see cref="MulAvx2"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> MulRound(Vector256<int> acc, Vector256<int> m, Vector256<long> bias, Vector128<long> shift,
            Vector128<long> oddShift, bool high, Vector256<int> zy)
        {
            var even = Avx2.ShiftRightLogical(Avx2.Add(Avx2.Multiply(acc, m), bias), shift);
            var odd = Avx2.ShiftRightLogical(Avx2.Add(Avx2.Multiply(Avx2.ShiftRightLogical(acc.AsInt64(), 32).AsInt32(), m), bias), oddShift);
            if (!high) odd = Avx2.ShiftLeftLogical(odd, 32);
            return Avx2.Add(Avx2.Blend(even.AsInt32(), odd.AsInt32(), 0b10101010), zy);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> MulFinish(Vector128<int> acc, int m, int shift, Vector128<int> nlim, Vector128<int> lim,
            Vector128<int> zy, Vector128<int> lo, Vector128<int> hi)
        {
            acc = Vector128.Min(Vector128.Max(acc, nlim), lim);
            return Vector128.Min(Vector128.Max(Apply(acc, m, shift) + zy, lo), hi);
        }

        /// <summary>4 lanes of round(acc·m·2^−s): Arm's SMULL + SRSHL, else 64-bit lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> Apply(Vector128<int> acc, int m, int shift)
        {
            if (AdvSimd.Arm64.IsSupported) return Requantize.AdvSimdApply(acc, Vector128.Create(m), Vector128.Create(shift));
            var r = Vector128.Create(1L << (shift - 1));
            var lo = Vector128.ShiftRightArithmetic(Vector128.WidenLower(acc) * m + r, shift);
            var hi = Vector128.ShiftRightArithmetic(Vector128.WidenUpper(acc) * m + r, shift);
            return Vector128.Narrow(lo, hi);
        }

        /// <summary>32 bytes widened to four vectors of 8 int32, in element order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector256<int>, Vector256<int>, Vector256<int>, Vector256<int>) Widen(Vector256<byte> v)
        {
            var lo = Vector256.WidenLower(v); var hi = Vector256.WidenUpper(v);
            return (Vector256.WidenLower(lo).AsInt32(), Vector256.WidenUpper(lo).AsInt32(), Vector256.WidenLower(hi).AsInt32(), Vector256.WidenUpper(hi).AsInt32());
        }

        /// <summary>16 bytes widened to four vectors of 4 int32, in element order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector128<int>, Vector128<int>, Vector128<int>, Vector128<int>) Widen(Vector128<byte> v)
        {
            var lo = Vector128.WidenLower(v); var hi = Vector128.WidenUpper(v);
            return (Vector128.WidenLower(lo).AsInt32(), Vector128.WidenUpper(lo).AsInt32(), Vector128.WidenLower(hi).AsInt32(), Vector128.WidenUpper(hi).AsInt32());
        }
    }
}
