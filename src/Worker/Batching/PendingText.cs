using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// One text of one request, tokenised, waiting for (or in) a model call: with its model (resolved once at the edge)
/// and, when the cache is on, its cache key (its token ids hashed once, at lookup, and used again to store the vector).
/// </summary>
internal sealed class PendingText(EmbedJob job, int index, long[] ids, long sequence, EmbeddingModel? model = null, EmbeddingCacheKey? cacheKey = null)
{
    public EmbedJob Job { get; } = job;

    /// <summary>Position of the text in its request.</summary>
    public int Index { get; } = index;

    public long[] Ids { get; } = ids;

    public int Length => Ids.Length;

    /// <summary>Arrival order; the oldest pending text anchors the next batch so nothing starves.</summary>
    public long Sequence { get; } = sequence;

    /// <summary>
    /// When a batch of a higher class was first taken while this was the oldest waiting text; null while it has not been
    /// passed over. <see cref="BatchingOptions.MaxPassOver"/> bounds how long that can go on.
    /// </summary>
    public DateTimeOffset? PassedOverSince { get; set; }

    public RequestPriority Priority => Job.Urgency.Priority;

    /// <summary>How often this text failed in a batch of its own.</summary>
    public int FailuresAlone { get; set; }

    /// <summary>The model the text is for (null only in the planner's own tests, which plan by name).</summary>
    public EmbeddingModel? Model { get; } = model;

    public EmbeddingCacheKey? CacheKey { get; } = cacheKey;

    public TokenKey Key { get; } = new(ids, cacheKey?.TokenHash);
}

/// <summary>Identity of a token sequence, for computing identical texts once per batch.</summary>
internal readonly struct TokenKey(long[] ids, byte[]? cacheHash = null) : IEquatable<TokenKey>
{
    private readonly long[] _ids = ids;

    // The cache key's SHA-256 of the same ids, when there is one, rather than hashing them a second time.
    private readonly int _hash = cacheHash is { Length: >= 4 } ? BitConverter.ToInt32(cacheHash, 0) : Hash(ids);

    public bool Equals(TokenKey other) => _hash == other._hash && _ids.AsSpan().SequenceEqual(other._ids);

    public override bool Equals(object? obj) => obj is TokenKey other && Equals(other);

    public override int GetHashCode() => _hash;

    private static int Hash(long[] ids)
    {
        var hash = new HashCode();
        hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.AsSpan()));
        return hash.ToHashCode();
    }
}
