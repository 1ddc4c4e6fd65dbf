using System.Buffers.Binary;
using System.Security.Cryptography;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// The cache key of one text: the model's identity and a SHA-256 of the token ids the model sees (after the
/// input-type prefix and truncation, so two texts share an entry exactly when the model would see the same input).
/// Nothing of the text itself is in the key, and its length is fixed.
/// </summary>
public readonly record struct EmbeddingCacheKey(string Value, byte[] TokenHash)
{
    public const string Prefix = "akidb:embedding:v1:";

    public static EmbeddingCacheKey For(ModelIdentity model, ReadOnlySpan<long> tokenIds)
    {
        var tokenHash = HashTokens(tokenIds);
        return new EmbeddingCacheKey(Prefix + model.KeyPart + ":" + Convert.ToHexStringLower(tokenHash), tokenHash);
    }

    /// <summary>SHA-256 of the ids as little-endian int64, whatever the machine's byte order.</summary>
    public static byte[] HashTokens(ReadOnlySpan<long> tokenIds)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> chunk = stackalloc byte[8 * 64];
        while (!tokenIds.IsEmpty)
        {
            var count = Math.Min(64, tokenIds.Length);
            for (var i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(chunk[(i * 8)..], tokenIds[i]);
            }

            hash.AppendData(chunk[..(count * 8)]);
            tokenIds = tokenIds[count..];
        }

        return hash.GetHashAndReset();
    }
}
