namespace Q.Compiler.Tests.Support.Images;

/// <summary>
/// A small baseline JPEG decoder for test data (ITU T.81): sequential Huffman (SOF0/SOF1), 8-bit, 1 (gray) or 3
/// (YCbCr, JFIF) components in one interleaved scan, any sampling factors, restart intervals. Separable IDCT in double;
/// chroma upsampled by replication (libjpeg's default "fancy" triangle upsampling differs by a few levels at chroma
/// edges), so pixels may differ slightly from libjpeg's, which is fine for calibration data. Progressive, arithmetic,
/// lossless, 12-bit, CMYK and multi-scan sequential files are refused with <see cref="NotSupportedException"/>.
/// </summary>
public static class JpegDecoder
{
    /// <summary>Natural (row-major) index of the k-th coefficient in zigzag order.</summary>
    private static readonly int[] ZigZag =
    {
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    };

    /// <summary>cos((2x+1)uπ/16)·C(u)/2, C(0) = 1/√2: the 1-D IDCT basis, [x, u].</summary>
    private static readonly double[] Basis = MakeBasis();

    private static double[] MakeBasis()
    {
        var b = new double[64];
        for (int x = 0; x < 8; x++)
            for (int u = 0; u < 8; u++)
                b[x * 8 + u] = (u == 0 ? Math.Sqrt(0.5) : 1.0) / 2 * Math.Cos((2 * x + 1) * u * Math.PI / 16);
        return b;
    }

    public static bool IsJpeg(ReadOnlySpan<byte> file) => file.Length > 3 && file[0] == 0xFF && file[1] == 0xD8 && file[2] == 0xFF;

    private sealed class Component
    {
        public int Id, H, V, Quant, Dc, Ac, Pred, Stride;
        public byte[] Pixels = Array.Empty<byte>();
    }

    private sealed class Huffman
    {
        private readonly int[] _maxCode = new int[18], _valPtr = new int[17], _minCode = new int[17];
        private readonly byte[] _values;

        public Huffman(ReadOnlySpan<byte> counts, byte[] values)
        {
            _values = values;
            int code = 0, k = 0;
            for (int l = 1; l <= 16; l++)
            {
                _valPtr[l] = k; _minCode[l] = code;
                code += counts[l - 1]; k += counts[l - 1];
                _maxCode[l] = counts[l - 1] > 0 ? code - 1 : -1;
                code <<= 1;
            }
            _maxCode[17] = int.MaxValue;
        }

        public int Decode(BitReader r)
        {
            int code = 0;
            for (int l = 1; l <= 16; l++)
            {
                code = (code << 1) | r.Bit();
                if (code <= _maxCode[l]) return _values[_valPtr[l] + code - _minCode[l]];
            }
            throw new InvalidDataException("invalid JPEG Huffman code");
        }
    }

    private sealed class BitReader
    {
        private readonly byte[] _d;
        private int _bits, _count;
        public int Pos;

        public BitReader(byte[] d, int pos) { _d = d; Pos = pos; }

        public int Bit()
        {
            if (_count == 0)
            {
                // Past the end of the entropy data (a marker or the end of the file), feed zeros.
                if (Pos >= _d.Length) _bits = 0;
                else if (_d[Pos] == 0xFF)
                {
                    if (Pos + 1 < _d.Length && _d[Pos + 1] == 0x00) { _bits = 0xFF; Pos += 2; }
                    else _bits = 0;
                }
                else _bits = _d[Pos++];
                _count = 8;
            }
            _count--;
            return (_bits >> _count) & 1;
        }

        public int Bits(int n)
        {
            int v = 0;
            for (int i = 0; i < n; i++) v = (v << 1) | Bit();
            return v;
        }

        /// <summary>At a restart interval: drop the partial byte and skip the RSTn marker.</summary>
        public void Restart()
        {
            _count = 0;
            if (Pos + 1 < _d.Length && _d[Pos] == 0xFF && _d[Pos + 1] is >= 0xD0 and <= 0xD7) Pos += 2;
            else throw new InvalidDataException($"JPEG restart marker expected at byte {Pos}");
        }
    }

    public static RgbImage Decode(byte[] d)
    {
        if (!IsJpeg(d)) throw new InvalidDataException("not a JPEG file");
        var quant = new int[4][];
        var dc = new Huffman?[4]; var ac = new Huffman?[4];
        Component[]? comps = null;
        int width = 0, height = 0, restart = 0;
        bool decoded = false;
        int pos = 2;
        while (true)
        {
            while (pos < d.Length && d[pos] != 0xFF) pos++;          // after a scan: up to its terminating marker
            while (pos < d.Length && d[pos] == 0xFF) pos++;          // fill bytes
            if (pos >= d.Length) throw new InvalidDataException("JPEG ends before EOI");
            int marker = d[pos++];
            if (marker == 0xD9) break;
            if (marker is >= 0xD0 and <= 0xD7 or 0x01) continue;
            if (pos + 2 > d.Length) throw new InvalidDataException("truncated JPEG segment");
            int len = (d[pos] << 8) | d[pos + 1];
            if (len < 2 || pos + len > d.Length) throw new InvalidDataException($"JPEG segment 0xFF{marker:X2} overruns the file");
            var seg = d.AsSpan(pos + 2, len - 2);
            pos += len;
            switch (marker)
            {
                case 0xDB:
                    for (int i = 0; i < seg.Length;)
                    {
                        int pq = seg[i] >> 4, tq = seg[i] & 15;
                        i++;
                        if (tq > 3) throw new InvalidDataException($"JPEG quantization table {tq}");
                        var t = new int[64];
                        for (int k = 0; k < 64; k++)
                        {
                            t[ZigZag[k]] = pq == 0 ? seg[i] : (seg[i] << 8) | seg[i + 1];
                            i += pq == 0 ? 1 : 2;
                        }
                        quant[tq] = t;
                    }
                    break;
                case 0xC4:
                    for (int i = 0; i < seg.Length;)
                    {
                        int tc = seg[i] >> 4, th = seg[i] & 15;
                        if (th > 3) throw new InvalidDataException($"JPEG Huffman table {th}");
                        var counts = seg.Slice(i + 1, 16);
                        int n = 0;
                        foreach (byte c in counts) n += c;
                        var table = new Huffman(counts, seg.Slice(i + 17, n).ToArray());
                        if (tc == 0) dc[th] = table; else ac[th] = table;
                        i += 17 + n;
                    }
                    break;
                case 0xDD:
                    restart = (seg[0] << 8) | seg[1];
                    break;
                case 0xC0:
                case 0xC1:
                    if (seg[0] != 8) throw new NotSupportedException($"{seg[0]}-bit JPEG is not supported");
                    height = (seg[1] << 8) | seg[2];
                    width = (seg[3] << 8) | seg[4];
                    int nc = seg[5];
                    if (nc is not (1 or 3)) throw new NotSupportedException($"JPEG with {nc} components is not supported");
                    if (width == 0 || height == 0) throw new NotSupportedException("JPEG with a DNL height is not supported");
                    comps = new Component[nc];
                    for (int c = 0; c < nc; c++)
                        comps[c] = new Component { Id = seg[6 + c * 3], H = seg[7 + c * 3] >> 4, V = seg[7 + c * 3] & 15, Quant = seg[8 + c * 3] & 3 };
                    break;
                case >= 0xC2 and <= 0xCF when marker is not (0xC4 or 0xC8 or 0xCC):
                    throw new NotSupportedException($"JPEG SOF{marker - 0xC0} (progressive, lossless or arithmetic) is not supported; baseline only");
                case 0xDA:
                    if (comps is null) throw new InvalidDataException("JPEG scan before the frame header");
                    if (decoded || seg[0] != comps.Length) throw new NotSupportedException("JPEG with more than one scan is not supported");
                    for (int s = 0; s < seg[0]; s++)
                    {
                        int id = seg[1 + s * 2];
                        var comp = comps.FirstOrDefault(c => c.Id == id) ?? throw new InvalidDataException("JPEG scan names an unknown component");
                        comp.Dc = seg[2 + s * 2] >> 4; comp.Ac = seg[2 + s * 2] & 15;
                        if (s != Array.IndexOf(comps, comp)) throw new NotSupportedException("JPEG scan component order differs from the frame's");
                    }
                    pos = DecodeScan(d, pos, comps, width, height, restart, quant, dc, ac);
                    decoded = true;
                    break;
            }
        }
        if (!decoded || comps is null) throw new InvalidDataException("JPEG has no image data");
        return ToRgb(comps, width, height);
    }

    private static int DecodeScan(byte[] d, int pos, Component[] comps, int width, int height, int restart, int[][] quant, Huffman?[] dc, Huffman?[] ac)
    {
        int hmax = comps.Max(c => c.H), vmax = comps.Max(c => c.V);
        // One component alone is not interleaved: its MCU is one block (T.81 A.2.2).
        if (comps.Length == 1) { comps[0].H = comps[0].V = hmax = vmax = 1; }
        int mcux = (width + 8 * hmax - 1) / (8 * hmax), mcuy = (height + 8 * vmax - 1) / (8 * vmax);
        foreach (var c in comps)
        {
            c.Stride = mcux * c.H * 8;
            c.Pixels = new byte[c.Stride * mcuy * c.V * 8];
            c.Pred = 0;
            if (quant[c.Quant] is null || dc[c.Dc] is null || ac[c.Ac] is null) throw new InvalidDataException("JPEG scan refers to a missing table");
        }
        var r = new BitReader(d, pos);
        var coef = new int[64];
        var block = new double[64];
        for (int m = 0; m < mcux * mcuy; m++)
        {
            if (restart > 0 && m > 0 && m % restart == 0)
            {
                r.Restart();
                foreach (var c in comps) c.Pred = 0;
            }
            int mx = m % mcux, my = m / mcux;
            foreach (var c in comps)
                for (int v = 0; v < c.V; v++)
                    for (int h = 0; h < c.H; h++)
                    {
                        DecodeBlock(r, c, quant[c.Quant], dc[c.Dc]!, ac[c.Ac]!, coef);
                        Idct(coef, block);
                        int x0 = (mx * c.H + h) * 8, y0 = (my * c.V + v) * 8;
                        for (int y = 0; y < 8; y++)
                            for (int x = 0; x < 8; x++)
                                c.Pixels[(y0 + y) * c.Stride + x0 + x] = (byte)Math.Clamp(Math.Round(block[y * 8 + x] + 128), 0, 255);
                    }
        }
        return r.Pos;
    }

    private static void DecodeBlock(BitReader r, Component c, int[] q, Huffman dc, Huffman ac, int[] coef)
    {
        Array.Clear(coef);
        int t = dc.Decode(r);
        c.Pred += t == 0 ? 0 : Extend(r.Bits(t), t);
        coef[0] = c.Pred * q[0];
        for (int k = 1; k < 64;)
        {
            int rs = ac.Decode(r), run = rs >> 4, size = rs & 15;
            if (size == 0)
            {
                if (run != 15) break;    // end of block
                k += 16;
                continue;
            }
            k += run;
            if (k > 63) throw new InvalidDataException("JPEG coefficient run past the block");
            coef[ZigZag[k]] = Extend(r.Bits(size), size) * q[ZigZag[k]];
            k++;
        }
    }

    private static int Extend(int v, int t) => v < 1 << (t - 1) ? v - (1 << t) + 1 : v;

    /// <summary>Separable 8×8 inverse DCT: rows, then columns.</summary>
    private static void Idct(int[] coef, double[] outp)
    {
        Span<double> tmp = stackalloc double[64];
        for (int v = 0; v < 8; v++)
            for (int x = 0; x < 8; x++)
            {
                double s = 0;
                for (int u = 0; u < 8; u++) s += Basis[x * 8 + u] * coef[v * 8 + u];
                tmp[v * 8 + x] = s;
            }
        for (int x = 0; x < 8; x++)
            for (int y = 0; y < 8; y++)
            {
                double s = 0;
                for (int v = 0; v < 8; v++) s += Basis[y * 8 + v] * tmp[v * 8 + x];
                outp[y * 8 + x] = s;
            }
    }

    /// <summary>Upsamples by replication and converts JFIF YCbCr (full range) to RGB; gray is replicated.</summary>
    private static RgbImage ToRgb(Component[] comps, int width, int height)
    {
        int hmax = comps.Max(c => c.H), vmax = comps.Max(c => c.V);
        var p = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = (y * width + x) * 3;
                double Y = Sample(comps[0], x, y, hmax, vmax);
                if (comps.Length == 1) { p[i] = p[i + 1] = p[i + 2] = (byte)Y; continue; }
                double cb = Sample(comps[1], x, y, hmax, vmax) - 128, cr = Sample(comps[2], x, y, hmax, vmax) - 128;
                p[i] = Clamp(Y + 1.402 * cr);
                p[i + 1] = Clamp(Y - 0.344136 * cb - 0.714136 * cr);
                p[i + 2] = Clamp(Y + 1.772 * cb);
            }
        return new RgbImage(width, height, p);
    }

    private static byte Sample(Component c, int x, int y, int hmax, int vmax) => c.Pixels[y * c.V / vmax * c.Stride + x * c.H / hmax];

    private static byte Clamp(double v) => (byte)Math.Clamp(Math.Round(v), 0, 255);
}
