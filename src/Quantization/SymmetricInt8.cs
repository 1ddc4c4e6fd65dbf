namespace AkiDb.Queue.Quantization;

/// <summary>
/// Symmetric int8 quantisation of a row-major <c>[K, N]</c> MatMul weight, one scale per output column:
/// <c>q = round(w / scale)</c> in [-127, 127] with <c>scale = max|w| / 127</c> over the column, zero point 0.
/// The range is -127..127, not -128..127, so that +max and -max map to the same magnitude (what ONNX Runtime's
/// own quantiser does for symmetric weights).
/// </summary>
public static class SymmetricInt8
{
    public const int MaxLevel = 127;

    /// <summary>Quantises <paramref name="weights"/> (<paramref name="rows"/> x <paramref name="columns"/>, row-major).</summary>
    public static (sbyte[] Values, float[] Scales) QuantizePerColumn(ReadOnlySpan<float> weights, int rows, int columns)
    {
        if (weights.Length != (long)rows * columns)
        {
            throw new ArgumentException($"A {rows}x{columns} weight needs {(long)rows * columns} values, not {weights.Length}.", nameof(weights));
        }

        var maxAbs = new float[columns];
        for (var r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * columns, columns);
            for (var c = 0; c < columns; c++)
            {
                var a = MathF.Abs(row[c]);
                if (!float.IsFinite(a))
                {
                    throw new InvalidDataException($"Weight [{r}, {c}] is {row[c]}; only finite weights can be quantised.");
                }

                if (a > maxAbs[c])
                {
                    maxAbs[c] = a;
                }
            }
        }

        // An all-zero column quantises to zeros with any scale; 1 keeps the dequantised value exactly 0.
        var scales = maxAbs.Select(m => m > 0 ? m / MaxLevel : 1f).ToArray();
        var values = new sbyte[weights.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                var i = r * columns + c;
                var level = MathF.Round(weights[i] / scales[c], MidpointRounding.ToEven);
                values[i] = (sbyte)Math.Clamp(level, -MaxLevel, MaxLevel);
            }
        }

        return (values, scales);
    }

    /// <summary>The weight that <paramref name="value"/> stands for in a column with <paramref name="scale"/>.</summary>
    public static float Dequantize(sbyte value, float scale) => value * scale;
}
