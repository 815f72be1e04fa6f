using System;

namespace Q.Compiler.Ir
{
    /// <summary>Element types, numbered as ONNX's TensorProto.DataType.</summary>
    public enum DataType
    {
        Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7,
        String = 8, Bool = 9, Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13,
    }

    public static class DataTypes
    {
        public static int SizeOf(this DataType t) => t switch
        {
            DataType.Float => 4, DataType.UInt8 => 1, DataType.Int8 => 1, DataType.UInt16 => 2, DataType.Int16 => 2,
            DataType.Int32 => 4, DataType.Int64 => 8, DataType.Bool => 1, DataType.Float16 => 2, DataType.Double => 8,
            DataType.UInt32 => 4, DataType.UInt64 => 8,
            _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no fixed size"),
        };

        /// <summary>The C# type name used in generated code.</summary>
        public static string CSharpName(this DataType t) => t switch
        {
            DataType.Float => "float", DataType.UInt8 => "byte", DataType.Int8 => "sbyte", DataType.UInt16 => "ushort",
            DataType.Int16 => "short", DataType.Int32 => "int", DataType.Int64 => "long", DataType.Bool => "bool",
            DataType.Float16 => "global::System.Half", DataType.Double => "double", DataType.UInt32 => "uint",
            DataType.UInt64 => "ulong",
            _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no C# type"),
        };

        /// <summary>The short name used in plans and comments (float, f16, i64, ...).</summary>
        public static string ShortName(this DataType t) => t switch
        {
            DataType.Float => "f32", DataType.UInt8 => "u8", DataType.Int8 => "i8", DataType.UInt16 => "u16",
            DataType.Int16 => "i16", DataType.Int32 => "i32", DataType.Int64 => "i64", DataType.Bool => "bool",
            DataType.Float16 => "f16", DataType.Double => "f64", DataType.UInt32 => "u32", DataType.UInt64 => "u64",
            DataType.String => "string", _ => "undefined",
        };

        public static DataType ParseShortName(string s) => s switch
        {
            "f32" => DataType.Float, "u8" => DataType.UInt8, "i8" => DataType.Int8, "u16" => DataType.UInt16,
            "i16" => DataType.Int16, "i32" => DataType.Int32, "i64" => DataType.Int64, "bool" => DataType.Bool,
            "f16" => DataType.Float16, "f64" => DataType.Double, "u32" => DataType.UInt32, "u64" => DataType.UInt64,
            _ => throw new FormatException("unknown element type '" + s + "'"),
        };

        public static bool IsFloat(this DataType t) => t == DataType.Float || t == DataType.Double || t == DataType.Float16;

        public static bool IsInteger(this DataType t) => t switch
        {
            DataType.UInt8 or DataType.Int8 or DataType.UInt16 or DataType.Int16 or DataType.Int32 or DataType.Int64
                or DataType.UInt32 or DataType.UInt64 => true,
            _ => false,
        };

        public static Type ClrType(this DataType t) => t switch
        {
            DataType.Float => typeof(float), DataType.UInt8 => typeof(byte), DataType.Int8 => typeof(sbyte),
            DataType.UInt16 => typeof(ushort), DataType.Int16 => typeof(short), DataType.Int32 => typeof(int),
            DataType.Int64 => typeof(long), DataType.Bool => typeof(bool), DataType.Float16 => typeof(ushort),
            DataType.Double => typeof(double), DataType.UInt32 => typeof(uint), DataType.UInt64 => typeof(ulong),
            DataType.String => typeof(string),
            _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no CLR type"),
        };
    }
}
