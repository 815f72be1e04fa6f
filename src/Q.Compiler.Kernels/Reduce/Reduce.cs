#nullable enable
using System;
using System.Numerics;

// Requires: VectorMath
namespace Q.Compiler.Kernels
{
    /// <summary>
    /// Reductions. Codes: 0 Sum, 1 Mean, 2 Max, 3 Min, 4 Prod, 5 SumSquare, 6 L1, 7 L2, 8 LogSum, 9 LogSumExp.
    /// <see cref="Run"/> handles the common float case where the input is [outer, r, inner] and r is reduced: with inner = 1
    /// each output is a horizontal reduction of a contiguous row; otherwise whole rows of inner values are combined
    /// element by element, so both cases walk memory contiguously and vectorize.
    /// </summary>
    internal static partial class Reduce
    {
        public const int Sum = 0, Mean = 1, Max = 2, Min = 3, Prod = 4, SumSquare = 5, L1 = 6, L2 = 7, LogSum = 8, LogSumExp = 9;

        public static void Run(ReadOnlySpan<float> x, Span<float> y, int outer, int r, int inner, int code)
        {
            if (inner == 1)
            {
                for (int o = 0; o < outer; o++) y[o] = Row(x.Slice(o * r, r), code);
                return;
            }
            for (int o = 0; o < outer; o++)
            {
                Span<float> yo = y.Slice(o * inner, inner);
                ReadOnlySpan<float> xo = x.Slice(o * r * inner, r * inner);
                switch (code)
                {
                    case Sum: case Mean: case LogSum:
                        yo.Clear();
                        for (int k = 0; k < r; k++) VectorMath.AddInto(xo.Slice(k * inner, inner), yo);
                        break;
                    case Max:
                        yo.Fill(float.NegativeInfinity);
                        for (int k = 0; k < r; k++) VectorMath.MaxInto(xo.Slice(k * inner, inner), yo);
                        break;
                    case Min:
                        yo.Fill(float.PositiveInfinity);
                        for (int k = 0; k < r; k++) VectorMath.MinInto(xo.Slice(k * inner, inner), yo);
                        break;
                    case Prod:
                        yo.Fill(1f);
                        for (int k = 0; k < r; k++) VectorMath.MultiplyInto(xo.Slice(k * inner, inner), yo);
                        break;
                    case SumSquare: case L2:
                        yo.Clear();
                        for (int k = 0; k < r; k++) VectorMath.AddSquaresInto(xo.Slice(k * inner, inner), yo);
                        break;
                    case L1:
                        yo.Clear();
                        for (int k = 0; k < r; k++)
                        {
                            ReadOnlySpan<float> xs = xo.Slice(k * inner, inner);
                            for (int j = 0; j < inner; j++) yo[j] += MathF.Abs(xs[j]);
                        }
                        break;
                    default: throw new ArgumentOutOfRangeException(nameof(code));
                }
                Finish(yo, r, code);
            }
        }

        /// <summary>LogSumExp over the middle axis of [outer, r, inner] with inner &gt; 1; <paramref name="max"/> holds inner floats.</summary>
        public static void LogSumExpStrided(ReadOnlySpan<float> x, Span<float> y, Span<float> max, int outer, int r, int inner)
        {
            for (int o = 0; o < outer; o++)
            {
                Span<float> yo = y.Slice(o * inner, inner);
                ReadOnlySpan<float> xo = x.Slice(o * r * inner, r * inner);
                max.Fill(float.NegativeInfinity);
                for (int k = 0; k < r; k++) VectorMath.MaxInto(xo.Slice(k * inner, inner), max);
                yo.Clear();
                for (int k = 0; k < r; k++)
                {
                    ReadOnlySpan<float> xs = xo.Slice(k * inner, inner);
                    for (int j = 0; j < inner; j++) if (!float.IsInfinity(max[j])) yo[j] += MathF.Exp(xs[j] - max[j]);
                }
                for (int j = 0; j < inner; j++) yo[j] = float.IsInfinity(max[j]) ? max[j] : max[j] + MathF.Log(yo[j]);
            }
        }

        private static void Finish(Span<float> y, int r, int code)
        {
            switch (code)
            {
                case Mean: VectorMath.Scale(y, 1f / r); break;
                case L2: for (int j = 0; j < y.Length; j++) y[j] = MathF.Sqrt(y[j]); break;
                case LogSum: for (int j = 0; j < y.Length; j++) y[j] = MathF.Log(y[j]); break;
            }
        }

        /// <summary>The reduction of one contiguous row.</summary>
        private static float Row(ReadOnlySpan<float> v, int code)
        {
            switch (code)
            {
                case Sum: return VectorMath.Sum(v);
                case Mean: return VectorMath.Sum(v) / v.Length;
                case Max: return VectorMath.Max(v);
                case Min: return VectorMath.Min(v);
                case Prod: { float p = 1f; for (int i = 0; i < v.Length; i++) p *= v[i]; return p; }
                case SumSquare: return VectorMath.SumSquares(v);
                case L1: { float s = 0f; for (int i = 0; i < v.Length; i++) s += MathF.Abs(v[i]); return s; }
                case L2: return MathF.Sqrt(VectorMath.SumSquares(v));
                case LogSum: return MathF.Log(VectorMath.Sum(v));
                case LogSumExp:
                {
                    float m = VectorMath.Max(v);
                    if (float.IsInfinity(m)) return m;
                    float s = 0f;
                    for (int i = 0; i < v.Length; i++) s += MathF.Exp(v[i] - m);
                    return m + MathF.Log(s);
                }
                default: throw new ArgumentOutOfRangeException(nameof(code));
            }
        }

        /// <summary>
        /// Any reduction of any numeric type: kept and reduced dimensions with their element strides in x (the output is the
        /// kept dimensions in row-major order). Sum, Max, Min and Prod accumulate in T; the others in double.
        /// </summary>
        public static void Generic<T>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<int> keptDims, ReadOnlySpan<int> keptStrides,
            ReadOnlySpan<int> reducedDims, ReadOnlySpan<int> reducedStrides, int code) where T : unmanaged, INumber<T>
        {
            int count = 1;
            for (int d = 0; d < reducedDims.Length; d++) count *= reducedDims[d];
            Span<int> ki = stackalloc int[keptDims.Length];
            Span<int> ri = stackalloc int[reducedDims.Length];
            int kbase = 0;
            for (int o = 0; o < y.Length; o++)
            {
                T acc = code switch { Max => Lowest<T>(), Min => Highest<T>(), Prod => T.One, _ => T.Zero };
                double dacc = 0, dmax = double.NegativeInfinity;
                if (code == LogSumExp)
                {
                    ri.Clear();
                    int off0 = kbase;
                    for (int k = 0; k < count; k++)
                    {
                        dmax = Math.Max(dmax, double.CreateTruncating(x[off0]));
                        off0 = Next(ri, reducedDims, reducedStrides, off0);
                    }
                }
                ri.Clear();
                int off = kbase;
                for (int k = 0; k < count; k++)
                {
                    T v = x[off];
                    switch (code)
                    {
                        case Sum: acc += v; break;
                        case Max: if (v > acc || T.IsNaN(v)) acc = v; break;
                        case Min: if (v < acc || T.IsNaN(v)) acc = v; break;
                        case Prod: acc *= v; break;
                        case LogSumExp: if (!double.IsInfinity(dmax)) dacc += Math.Exp(double.CreateTruncating(v) - dmax); break;
                        default:
                        {
                            double d = double.CreateTruncating(v);
                            dacc += code == SumSquare || code == L2 ? d * d : code == L1 ? Math.Abs(d) : d;
                            break;
                        }
                    }
                    off = Next(ri, reducedDims, reducedStrides, off);
                }
                y[o] = code switch
                {
                    Sum or Max or Min or Prod => acc,
                    Mean => T.CreateTruncating(dacc / count),
                    L2 => T.CreateTruncating(Math.Sqrt(dacc)),
                    LogSum => T.CreateTruncating(Math.Log(dacc)),
                    LogSumExp => T.CreateTruncating(double.IsInfinity(dmax) ? dmax : dmax + Math.Log(dacc)),
                    _ => T.CreateTruncating(dacc),
                };
                kbase = Next(ki, keptDims, keptStrides, kbase);
            }
        }

        /// <summary>Advances a multi-index and its element offset.</summary>
        private static int Next(Span<int> idx, ReadOnlySpan<int> dims, ReadOnlySpan<int> strides, int off)
        {
            for (int d = idx.Length - 1; d >= 0; d--)
            {
                off += strides[d];
                if (++idx[d] < dims[d]) return off;
                off -= strides[d] * dims[d];
                idx[d] = 0;
            }
            return off;
        }

        private static T Lowest<T>() where T : unmanaged, INumber<T> =>
            typeof(T) == typeof(float) ? (T)(object)float.NegativeInfinity : typeof(T) == typeof(double) ? (T)(object)double.NegativeInfinity
            : T.CreateSaturating(double.MinValue);

        private static T Highest<T>() where T : unmanaged, INumber<T> =>
            typeof(T) == typeof(float) ? (T)(object)float.PositiveInfinity : typeof(T) == typeof(double) ? (T)(object)double.PositiveInfinity
            : T.CreateSaturating(double.MaxValue);
    }
}
