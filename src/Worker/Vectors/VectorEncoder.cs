using System.Buffers.Binary;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Worker.Vectors;

/// <summary>
/// Turns a result's float vectors into the encoding its request asked for. Hand-written because the formats are
/// a few lines each and must match other producers' byte for byte (OpenAI/TEI base64, numpy packbits), which a
/// general serialisation library would not promise.
/// </summary>
public static class VectorEncoder
{
    /// <summary>The result with its vectors in the requested encoding (unchanged for float).</summary>
    public static EmbedCompleted Apply(EmbedCompleted completed, VectorEncoding encoding)
    {
        if (encoding == VectorEncoding.Float)
        {
            return completed;
        }

        var vectors = completed.Embeddings;
        var encoded = new string[vectors.Count];
        float[]? scales = encoding == VectorEncoding.Int8 ? new float[vectors.Count] : null;
        for (var i = 0; i < vectors.Count; i++)
        {
            encoded[i] = encoding switch
            {
                VectorEncoding.Base64 => Convert.ToBase64String(Float32LittleEndian(vectors[i])),
                VectorEncoding.Int8 => Convert.ToBase64String(QuantizeInt8(vectors[i], out scales![i])),
                _ => Convert.ToBase64String(SignBits(vectors[i])),
            };
        }

        return completed with { Embeddings = [], Encoding = VectorEncodings.WireName(encoding), EncodedEmbeddings = encoded, Scales = scales };
    }

    public static byte[] Float32LittleEndian(float[] vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        for (var i = 0; i < vector.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
        }

        return bytes;
    }

    /// <summary>Symmetric scalar quantisation: scale = max |x| ÷ 127, byte = round(x ÷ scale); each value comes back within scale ÷ 2.</summary>
    public static byte[] QuantizeInt8(float[] vector, out float scale)
    {
        var max = 0f;
        foreach (var x in vector)
        {
            max = Math.Max(max, Math.Abs(x));
        }

        scale = max > 0 ? max / 127f : 1f;
        var bytes = new byte[vector.Length];
        for (var i = 0; i < vector.Length; i++)
        {
            bytes[i] = unchecked((byte)(sbyte)Math.Clamp(MathF.Round(vector[i] / scale), -127, 127));
        }

        return bytes;
    }

    /// <summary>Bit = 1 where the value is above 0, packed most significant bit first, the last byte zero-padded (numpy.packbits).</summary>
    public static byte[] SignBits(float[] vector)
    {
        var bytes = new byte[(vector.Length + 7) / 8];
        for (var i = 0; i < vector.Length; i++)
        {
            if (vector[i] > 0)
            {
                bytes[i / 8] |= (byte)(0x80 >> (i % 8));
            }
        }

        return bytes;
    }
}
