using System.Diagnostics;

namespace AkiDb.Queue.Worker.Inference;

/// <summary>
/// A padded batch of token ids for one model, ready for a lane. Row i holds <c>Lengths[i]</c> real ids
/// followed by zeros up to <see cref="SequenceLength"/>.
/// </summary>
public sealed class InferenceBatch
{
    public required string Model { get; init; }
    public required int Rows { get; init; }
    public required int SequenceLength { get; init; }
    public required long[] InputIds { get; init; }
    public required int[] Lengths { get; init; }

    /// <summary>The span the lane call belongs to, carried into the bridge as a W3C traceparent.</summary>
    public ActivityContext TraceContext { get; init; }

    /// <summary>Narrow (the lane's share of the cores) or wide (every core); a lane without a wide session runs narrow.</summary>
    public Parallelism Parallelism { get; init; }

    public int RealTokens => Lengths.Sum();

    public int PaddedTokens => Rows * SequenceLength;
}
