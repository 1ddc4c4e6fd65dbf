namespace AkiDb.Queue.Worker.Batching;

/// <summary>One text of one request, tokenised, waiting for (or in) a model call.</summary>
internal sealed class PendingText(EmbedJob job, int index, long[] ids, long sequence)
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

    public TokenKey Key { get; } = new(ids);
}

/// <summary>Identity of a token sequence, for computing identical texts once per batch.</summary>
internal readonly struct TokenKey(long[] ids) : IEquatable<TokenKey>
{
    private readonly long[] _ids = ids;
    private readonly int _hash = Hash(ids);

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
