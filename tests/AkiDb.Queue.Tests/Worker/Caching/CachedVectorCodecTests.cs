using AkiDb.Queue.Worker.Caching;

namespace AkiDb.Queue.Tests.Caching;

public sealed class CachedVectorCodecTests
{
    private static readonly ModelIdentity Model = CacheTestModels.Identity("codec-a");
    private static readonly ModelIdentity OtherModel = CacheTestModels.Identity("codec-b");
    private static readonly byte[] Tokens = EmbeddingCacheKey.HashTokens([101, 2023, 102]);
    private static readonly float[] Vector = Enumerable.Range(0, 384).Select(i => MathF.Sin(i) / 10f).ToArray();

    [Fact]
    public void A_vector_round_trips_bit_for_bit_in_its_documented_size()
    {
        float[] special = [0f, -0f, float.Epsilon, -1.5e-38f, 1f, float.MaxValue];
        foreach (var vector in new[] { Vector, special })
        {
            var entry = CachedVectorCodec.Encode(Model, Tokens, vector);
            Assert.Equal(4 + 32 + 32 + 4 + (4 * vector.Length) + 16, entry.Length);
            Assert.Equal(CacheEntryStatus.Valid, CachedVectorCodec.TryDecode(entry, Model, Tokens, vector.Length, out var decoded));
            Assert.Equal(vector.Select(BitConverter.SingleToInt32Bits), decoded!.Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Fact]
    public void The_vector_is_stored_as_raw_little_endian_float32_after_its_length()
    {
        var entry = CachedVectorCodec.Encode(Model, Tokens, [1f, -2f]);
        Assert.Equal("AKV1"u8.ToArray(), entry[..4]);
        Assert.Equal(Model.Hash, entry[4..36]);
        Assert.Equal(Tokens, entry[36..68]);
        Assert.Equal(2, BitConverter.ToInt32(entry, 68));
        Assert.Equal(1f, BitConverter.ToSingle(entry, 72));
        Assert.Equal(-2f, BitConverter.ToSingle(entry, 76));
    }

    [Fact]
    public void An_entry_of_another_model_or_another_text_is_a_miss()
    {
        var entry = CachedVectorCodec.Encode(Model, Tokens, Vector);
        Assert.Equal(CacheEntryStatus.OtherModel, CachedVectorCodec.TryDecode(entry, OtherModel, Tokens, 0, out var a));
        Assert.Equal(CacheEntryStatus.OtherText, CachedVectorCodec.TryDecode(entry, Model, EmbeddingCacheKey.HashTokens([101, 102]), 0, out var b));
        Assert.Null(a);
        Assert.Null(b);
    }

    [Fact]
    public void An_entry_of_the_wrong_size_is_a_miss()
    {
        var entry = CachedVectorCodec.Encode(Model, Tokens, Vector);
        Assert.Equal(CacheEntryStatus.WrongLength, CachedVectorCodec.TryDecode(entry.AsSpan(..^4), Model, Tokens, 0, out _));
        Assert.Equal(CacheEntryStatus.WrongLength, CachedVectorCodec.TryDecode([.. entry, 0, 0, 0, 0], Model, Tokens, 0, out _));
        Assert.Equal(CacheEntryStatus.TooShort, CachedVectorCodec.TryDecode(entry.AsSpan(..40), Model, Tokens, 0, out _));
        Assert.Equal(CacheEntryStatus.TooShort, CachedVectorCodec.TryDecode([], Model, Tokens, 0, out _));
        Assert.Equal(CacheEntryStatus.WrongDimensions, CachedVectorCodec.TryDecode(entry, Model, Tokens, 768, out _));

        var lying = (byte[])entry.Clone();
        BitConverter.TryWriteBytes(lying.AsSpan(68), int.MaxValue); // a length that would make a read allocate 8 GiB
        Assert.Equal(CacheEntryStatus.WrongLength, CachedVectorCodec.TryDecode(lying, Model, Tokens, 0, out _));
    }

    [Fact]
    public void Any_changed_byte_is_a_miss()
    {
        var entry = CachedVectorCodec.Encode(Model, Tokens, Vector);
        for (var i = 0; i < entry.Length; i += 7)
        {
            var corrupted = (byte[])entry.Clone();
            corrupted[i] ^= 0x10;
            Assert.NotEqual(CacheEntryStatus.Valid, CachedVectorCodec.TryDecode(corrupted, Model, Tokens, 0, out var vector));
            Assert.Null(vector);
        }
    }

    [Fact]
    public void Only_real_vectors_are_encoded()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CachedVectorCodec.Encode(Model, Tokens, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => CachedVectorCodec.Encode(Model, Tokens, new float[CachedVectorCodec.MaxDimensions + 1]));
    }
}
