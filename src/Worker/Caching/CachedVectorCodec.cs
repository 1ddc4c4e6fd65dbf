using System.Buffers.Binary;
using System.Security.Cryptography;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>Why a stored entry was not used; anything but <see cref="Valid"/> is a miss.</summary>
public enum CacheEntryStatus
{
    Valid,
    TooShort,
    UnknownFormat,
    OtherModel,
    OtherText,
    WrongLength,
    WrongDimensions,
    ChecksumMismatch,
}

/// <summary>
/// The bytes of one cached vector. Layout, little-endian:
/// <c>"AKV1" | model identity (32) | token hash (32) | dimensions int32 | dimensions x float32 | checksum (16)</c>,
/// the checksum being the first 16 bytes of the SHA-256 of everything before it. Reading checks all of it, so an
/// entry written for another model or text, cut short, or changed in any byte is a miss, never a wrong vector.
/// </summary>
public static class CachedVectorCodec
{
    private const int HeaderLength = 4 + 32 + 32 + 4;
    private const int ChecksumLength = 16;
    private static ReadOnlySpan<byte> Magic => "AKV1"u8;

    /// <summary>The largest vector stored; far above any embedding model, and it bounds what a read allocates.</summary>
    public const int MaxDimensions = 65_536;

    public static int EncodedLength(int dimensions) => HeaderLength + (4 * dimensions) + ChecksumLength;

    public static byte[] Encode(ModelIdentity model, byte[] tokenHash, ReadOnlySpan<float> vector)
    {
        if (vector.IsEmpty || vector.Length > MaxDimensions)
        {
            throw new ArgumentOutOfRangeException(nameof(vector), vector.Length, $"A cached vector has 1 to {MaxDimensions} dimensions.");
        }

        var bytes = new byte[EncodedLength(vector.Length)];
        var span = bytes.AsSpan();
        Magic.CopyTo(span);
        model.Hash.CopyTo(span[4..]);
        tokenHash.CopyTo(span[36..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[68..], vector.Length);
        for (var i = 0; i < vector.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(span[(HeaderLength + (4 * i))..], vector[i]);
        }

        var body = span[..^ChecksumLength];
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(body, digest);
        digest[..ChecksumLength].CopyTo(span[^ChecksumLength..]);
        return bytes;
    }

    /// <param name="expectedDimensions">The model's vector length when known (0: not yet known, any length that is consistent).</param>
    public static CacheEntryStatus TryDecode(ReadOnlySpan<byte> entry, ModelIdentity model, byte[] tokenHash, int expectedDimensions, out float[]? vector)
    {
        vector = null;
        if (entry.Length < HeaderLength + ChecksumLength)
        {
            return CacheEntryStatus.TooShort;
        }

        if (!entry[..4].SequenceEqual(Magic))
        {
            return CacheEntryStatus.UnknownFormat;
        }

        if (!entry.Slice(4, 32).SequenceEqual(model.Hash))
        {
            return CacheEntryStatus.OtherModel;
        }

        if (!entry.Slice(36, 32).SequenceEqual(tokenHash))
        {
            return CacheEntryStatus.OtherText;
        }

        var dimensions = BinaryPrimitives.ReadInt32LittleEndian(entry[68..]);
        if (dimensions is <= 0 or > MaxDimensions || entry.Length != EncodedLength(dimensions))
        {
            return CacheEntryStatus.WrongLength;
        }

        if (expectedDimensions > 0 && dimensions != expectedDimensions)
        {
            return CacheEntryStatus.WrongDimensions;
        }

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(entry[..^ChecksumLength], digest);
        if (!digest[..ChecksumLength].SequenceEqual(entry[^ChecksumLength..]))
        {
            return CacheEntryStatus.ChecksumMismatch;
        }

        var values = new float[dimensions];
        for (var i = 0; i < dimensions; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(entry[(HeaderLength + (4 * i))..]);
        }

        vector = values;
        return CacheEntryStatus.Valid;
    }
}
