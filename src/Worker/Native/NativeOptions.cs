using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Native;

/// <summary>Configuration section <c>Native</c>: ONNX Runtime inside the worker process (<c>Embedding:Backend=native</c>).</summary>
public sealed class NativeOptions
{
    public const string Section = "Native";

    /// <summary>
    /// Batches that may run at once; the lanes share the model's session (ONNX Runtime runs are thread-safe). 0 (default)
    /// follows <see cref="LanePool"/>, the same rule as the bridge pool.
    /// A session per lane (own memory arena, like each bridge process) was measured side by side on 2 cores: no faster
    /// (short 222 vs 224 msg/s, mixed 48 vs 50) and 1.5-1.7x the worker's memory, so the lanes share one.
    /// </summary>
    [Range(0, 64)]
    public int Lanes { get; set; }

    public int EffectiveLanes => LanePool.Size(Lanes);

    /// <summary>Intra-op threads of each session; 0 divides the machine's cores among the lanes.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>Let ONNX Runtime's threads spin between runs; off by default for the same reason as Bridge:AllowSpinning.</summary>
    public bool AllowSpinning { get; set; }

    public int EffectiveIntraOpThreads => LanePool.ThreadsPerLane(IntraOpThreads, EffectiveLanes);

    /// <summary>Intra-op threads of the wide session a lone batch runs on (Batching:AdaptiveParallelism); 0 is every core.</summary>
    [Range(0, 256)]
    public int WideIntraOpThreads { get; set; }

    /// <summary>As Bridge:WideAllowSpinning: let the wide session's threads spin between runs (off by default).</summary>
    public bool WideAllowSpinning { get; set; }

    public int EffectiveWideIntraOpThreads => LanePool.WideThreads(WideIntraOpThreads, EffectiveIntraOpThreads);

    /// <summary>As Bridge:ReleaseMemoryAboveTokens: a lane that goes idle after a batch this large releases memory at once.</summary>
    [Range(0, 1_048_576)]
    public int ReleaseMemoryAboveTokens { get; set; } = 1024;

    /// <summary>After this long without a batch, the sessions give back what the last burst left allocated.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ReleaseMemoryAfterIdle { get; set; } = TimeSpan.FromSeconds(5);
}
