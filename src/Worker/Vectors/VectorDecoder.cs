using System.Buffers.Binary;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Worker.Vectors;

/// <summary>
/// The inverse of <see cref="VectorEncoder"/>, as a consumer of the wire contract decodes: the reference for
/// clients and the tests. <c>binary</c> decodes to ±1 per dimension (its sign), the usual input to a Hamming or
/// dot-product search.
/// </summary>
public static class VectorDecoder
{
    public static float[] Decode(VectorEncoding encoding, string encoded, int dimensions, float scale = 1f)
    {
        var bytes = Convert.FromBase64String(encoded);
        var vector = new float[dimensions];
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] = encoding switch
            {
                VectorEncoding.Base64 => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float))),
                VectorEncoding.Int8 => unchecked((sbyte)bytes[i]) * scale,
                VectorEncoding.Binary => (bytes[i / 8] & (0x80 >> (i % 8))) != 0 ? 1f : -1f,
                _ => throw new ArgumentOutOfRangeException(nameof(encoding), encoding, "float vectors are not encoded"),
            };
        }

        return vector;
    }
}
