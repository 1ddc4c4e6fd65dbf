using System.Buffers;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// One result as received by a run, its body copied into a buffer rented from <see cref="ArrayPool{T}.Shared"/>: a
/// result of 16 vectors as JSON numbers is 60-130 KB, so a fresh array each time would mostly land on the large object
/// heap, be zeroed page by page and be collected only by a full collection, on the cores the model needs.
/// <see cref="Return"/> hands the buffer back once nothing reads it any more.
/// </summary>
internal sealed class PooledResult
{
    private byte[]? _buffer;

    private PooledResult(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlyMemory<byte> Body => _buffer is { } buffer ? buffer.AsMemory(0, Length) : throw new ObjectDisposedException(nameof(PooledResult));

    public static PooledResult CopyOf(ReadOnlySpan<byte> body)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(body.Length, 1));
        body.CopyTo(buffer);
        return new PooledResult(buffer, body.Length);
    }

    /// <summary>Gives the buffer back to the pool; a second call does nothing.</summary>
    public void Return()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
