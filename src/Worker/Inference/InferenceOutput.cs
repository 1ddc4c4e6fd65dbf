namespace AkiDb.Queue.Worker.Inference;

/// <summary>Pooled sentence vectors for a batch: <c>Rows x Dimensions</c> floats, row-major.</summary>
public sealed record InferenceOutput(float[] Vectors, int Dimensions, InferenceTimings Timings, string ExecutionProvider)
{
    /// <summary>Intra-op threads of the session that ran the batch (0 where the backend does not say).</summary>
    public int Threads { get; init; }

    public ReadOnlySpan<float> Row(int index) => Vectors.AsSpan(index * Dimensions, Dimensions);
}

/// <summary>Where the time of one lane call went. <see cref="TransportMs"/> is what the call cost beyond the model itself.</summary>
public readonly record struct InferenceTimings(double InferenceMs, double PoolingMs, double TotalMs, double TransportMs);
