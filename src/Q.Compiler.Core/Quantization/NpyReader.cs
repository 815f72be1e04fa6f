using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using Q.Compiler.Diagnostics;
using Q.Compiler.Ir;

namespace Q.Compiler.Quantization
{
    /// <summary>
    /// Reads NumPy .npy files (format versions 1.0, 2.0 and 3.0): little-endian or byte-order-free element types
    /// (float16/32/64, int8..int64, uint8..uint64, bool) in C order. Fortran order and big-endian data are refused
    /// with <see cref="DiagnosticIds.CalibrationUnreadable"/>, as is anything malformed or truncated.
    /// </summary>
    public static class NpyReader
    {
        private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

        public static Tensor Read(string path)
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(path); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                throw Fail(path, "cannot be read: " + e.Message);
            }
            return Parse(bytes, path);
        }

        public static Tensor Parse(byte[] bytes, string path)
        {
            if (bytes.Length < 10) throw Fail(path, "is too short to be a .npy file");
            for (int i = 0; i < Magic.Length; i++)
                if (bytes[i] != Magic[i]) throw Fail(path, "does not start with the .npy magic \\x93NUMPY");
            int major = bytes[6];
            int headerLen, headerStart;
            if (major == 1) { headerLen = bytes[8] | bytes[9] << 8; headerStart = 10; }
            else if (major == 2 || major == 3)
            {
                if (bytes.Length < 12) throw Fail(path, "is truncated in its header");
                long len = (uint)(bytes[8] | bytes[9] << 8 | bytes[10] << 16 | bytes[11] << 24);
                if (len > int.MaxValue) throw Fail(path, "declares an impossible header length");
                headerLen = (int)len; headerStart = 12;
            }
            else throw Fail(path, $"has .npy format version {major}.{bytes[7]}; versions 1, 2 and 3 are supported");
            if ((long)headerStart + headerLen > bytes.Length) throw Fail(path, "is truncated in its header");
            string header = (major == 3 ? Encoding.UTF8 : Encoding.ASCII).GetString(bytes, headerStart, headerLen);

            var dict = ParseHeader(header, path);
            if (!dict.TryGetValue("descr", out var descrObj) || !(descrObj is string descr)) throw Fail(path, "has no 'descr' in its header");
            if (!dict.TryGetValue("fortran_order", out var fo) || !(fo is bool fortran)) throw Fail(path, "has no 'fortran_order' in its header");
            if (!dict.TryGetValue("shape", out var shapeObj) || !(shapeObj is List<long> dims)) throw Fail(path, "has no 'shape' tuple in its header");
            if (fortran)
                throw Fail(path, "is in Fortran (column-major) order; save a C-ordered array (numpy.ascontiguousarray(x)) instead");
            var type = ElementType(descr, path);
            if (!Shape.TryCreate(dims, out var shape))
                throw Fail(path, "has shape (" + string.Join(", ", dims) + "), which is negative or more than 2^31-1 elements");
            int dataStart = headerStart + headerLen;
            long need = (long)shape!.ElementCount * type.SizeOf();
            if (bytes.Length - dataStart < need)
                throw Fail(path, $"is truncated: shape {shape} of {type.ShortName()} needs {need} bytes of data, the file has {bytes.Length - dataStart}");
            return Tensor.FromBytes(type, shape, new ReadOnlySpan<byte>(bytes, dataStart, (int)need));
        }

        private static DataType ElementType(string descr, string path)
        {
            if (descr.Length < 2) throw Fail(path, $"has element type '{descr}', which is not supported");
            char order = descr[0];
            string code = descr.Substring(1);
            if (order == '>' && code != "u1" && code != "i1" && code != "b1")
                throw Fail(path, $"is big-endian ('{descr}'); save it little-endian (x.astype(x.dtype.newbyteorder('<')))");
            if (order != '<' && order != '|' && order != '=' && order != '>')
                throw Fail(path, $"has element type '{descr}', which is not supported");
            switch (code)
            {
                case "f2": return DataType.Float16;
                case "f4": return DataType.Float;
                case "f8": return DataType.Double;
                case "i1": return DataType.Int8;
                case "u1": return DataType.UInt8;
                case "i2": return DataType.Int16;
                case "u2": return DataType.UInt16;
                case "i4": return DataType.Int32;
                case "u4": return DataType.UInt32;
                case "i8": return DataType.Int64;
                case "u8": return DataType.UInt64;
                case "b1": return DataType.Bool;
                default: throw Fail(path, $"has element type '{descr}', which is not supported (float16/32/64, int8..64, uint8..64, bool)");
            }
        }

        /// <summary>Parses the Python dict literal of a .npy header: string keys; string, True/False and int-tuple values.</summary>
        private static Dictionary<string, object> ParseHeader(string s, string path)
        {
            var d = new Dictionary<string, object>(StringComparer.Ordinal);
            int i = 0;
            void Ws() { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }
            Exception Bad() => Fail(path, "has a malformed header: " + s.Trim());
            string Str()
            {
                Ws();
                if (i >= s.Length || (s[i] != '\'' && s[i] != '"')) throw Bad();
                char quote = s[i++];
                int start = i;
                while (i < s.Length && s[i] != quote) i++;
                if (i >= s.Length) throw Bad();
                return s.Substring(start, i++ - start);
            }
            Ws();
            if (i >= s.Length || s[i++] != '{') throw Bad();
            while (true)
            {
                Ws();
                if (i < s.Length && s[i] == '}') break;
                string key = Str();
                Ws();
                if (i >= s.Length || s[i++] != ':') throw Bad();
                Ws();
                if (i >= s.Length) throw Bad();
                object value;
                if (s[i] == '\'' || s[i] == '"') value = Str();
                else if (string.CompareOrdinal(s, i, "True", 0, 4) == 0) { value = true; i += 4; }
                else if (string.CompareOrdinal(s, i, "False", 0, 5) == 0) { value = false; i += 5; }
                else if (s[i] == '(')
                {
                    i++;
                    var dims = new List<long>();
                    while (true)
                    {
                        Ws();
                        if (i < s.Length && s[i] == ')') { i++; break; }
                        int start = i;
                        while (i < s.Length && char.IsDigit(s[i])) i++;
                        if (i == start || !long.TryParse(s.Substring(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out long v)) throw Bad();
                        dims.Add(v);
                        Ws();
                        if (i < s.Length && s[i] == ',') i++;
                    }
                    value = dims;
                }
                else throw Bad();
                d[key] = value;
                Ws();
                if (i < s.Length && s[i] == ',') { i++; continue; }
                Ws();
                if (i < s.Length && s[i] == '}') break;
                throw Bad();
            }
            return d;
        }

        private static QcException Fail(string path, string what) =>
            new QcException(DiagnosticIds.CalibrationUnreadable, $"calibration file '{path}' {what}");
    }
}
