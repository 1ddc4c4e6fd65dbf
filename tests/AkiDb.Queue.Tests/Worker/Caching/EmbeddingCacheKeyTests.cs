using System.Security.Cryptography;
using AkiDb.Queue.Worker.Caching;

namespace AkiDb.Queue.Tests.Caching;

public sealed class EmbeddingCacheKeyTests
{
    private static readonly AkiDb.Queue.Worker.Caching.ModelIdentity ModelA = CacheTestModels.Identity("a");
    private static readonly AkiDb.Queue.Worker.Caching.ModelIdentity ModelB = CacheTestModels.Identity("b");

    [Fact]
    public void The_token_hash_is_sha256_of_the_ids_as_little_endian_int64()
    {
        long[] ids = [101, 7592, 2088, 102, long.MaxValue, -1];
        var bytes = new byte[ids.Length * 8];
        for (var i = 0; i < ids.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), ids[i]); // this machine is little-endian
        }

        Assert.True(BitConverter.IsLittleEndian);
        Assert.Equal(SHA256.HashData(bytes), EmbeddingCacheKey.HashTokens(ids));
    }

    [Fact]
    public void Long_sequences_hash_every_id_past_the_chunk_size()
    {
        var ids = Enumerable.Range(0, 300).Select(i => (long)i).ToArray();
        var changed = (long[])ids.Clone();
        changed[299] = 9999;
        Assert.NotEqual(EmbeddingCacheKey.HashTokens(ids), EmbeddingCacheKey.HashTokens(changed));
        Assert.Equal(EmbeddingCacheKey.HashTokens(ids), EmbeddingCacheKey.HashTokens(ids.ToArray()));
    }

    [Fact]
    public void A_key_names_the_model_and_the_tokens_and_nothing_else()
    {
        long[] ids = [101, 2000, 102];
        var key = EmbeddingCacheKey.For(ModelA, ids);
        Assert.Equal($"{EmbeddingCacheKey.Prefix}{ModelA.KeyPart}:{Convert.ToHexStringLower(EmbeddingCacheKey.HashTokens(ids))}", key.Value);
        Assert.Equal(EmbeddingCacheKey.Prefix.Length + 32 + 1 + 64, key.Value.Length);
    }

    [Fact]
    public void Another_model_or_other_tokens_give_another_key()
    {
        long[] ids = [101, 2000, 102];
        Assert.NotEqual(EmbeddingCacheKey.For(ModelA, ids).Value, EmbeddingCacheKey.For(ModelB, ids).Value);
        Assert.NotEqual(EmbeddingCacheKey.For(ModelA, ids).Value, EmbeddingCacheKey.For(ModelA, [101, 2001, 102]).Value);
        Assert.NotEqual(EmbeddingCacheKey.For(ModelA, [101, 102]).Value, EmbeddingCacheKey.For(ModelA, [101, 102, 0]).Value);
        Assert.Equal(EmbeddingCacheKey.For(ModelA, ids).Value, EmbeddingCacheKey.For(ModelA, [101, 2000, 102]).Value);
    }
}
