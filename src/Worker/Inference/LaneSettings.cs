using System.ComponentModel.DataAnnotations;

namespace AkiDb.Queue.Worker.Inference;

/// <summary>
/// The lane settings both backends have, under their own sections and keys (<c>Bridge:IntraOpThreads</c>,
/// <c>Native:IntraOpThreads</c>, ...): threads of the narrow and wide sessions, spinning, and the memory-release
/// threshold. Only the lane count differs in name (<c>Bridge:Processes</c>, <c>Native:Lanes</c>).
/// </summary>
public abstract class LaneSettings
{
    /// <summary>ONNX Runtime intra-op threads of each lane's narrow session; 0 divides the machine's cores among the lanes.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Let ONNX Runtime's threads spin between runs (its own default). Off by default: on a machine where the lanes
    /// share a few cores with the worker and the broker, spinning threads take the CPU the others need; see
    /// docs/benchmarks.md for the measurement behind the default.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>
    /// Intra-op threads of each lane's wide session, the one a lone batch runs on (Batching:AdaptiveParallelism);
    /// 0 (default) is every core. It shares the model's weights with the narrow session, so it costs a few MiB.
    /// </summary>
    [Range(0, 256)]
    public int WideIntraOpThreads { get; set; }

    /// <summary>
    /// Let the wide session's threads spin between runs. In-process on 2 cores a lone short text took 5.0 ms spinning
    /// against 8.0 ms not, but after every run a spinning thread burns about 38 ms of a core (ONNX Runtime's bounded
    /// spin, <c>session.intra_op.spin_duration_us</c>, measured slower than not spinning at all). On 2 cores shared
    /// with the worker and the broker that made short texts at 10 % load slower end to end (p95 26.8 ms against
    /// 13.8 ms, two benchmark runs), so it is off by default; turn it on where cores are spare.
    /// </summary>
    public bool WideAllowSpinning { get; set; }

    /// <summary>
    /// A lane that goes idle after a batch of at least this many padded tokens gives back the memory the batch left
    /// allocated right away (the scheduler decides: <c>Batching.IdleMemory</c>). Smaller batches leave little to give
    /// back, and releasing after each would make the next one pay to grow the arena again.
    /// </summary>
    [Range(0, 1_048_576)]
    public int ReleaseMemoryAboveTokens { get; set; } = 1024;

    /// <summary>How many lanes run (from <c>Bridge:Processes</c> or <c>Native:Lanes</c>, <see cref="LanePool"/>).</summary>
    public abstract int EffectiveLanes { get; }

    public int EffectiveIntraOpThreads => LanePool.ThreadsPerLane(IntraOpThreads, EffectiveLanes);

    public int EffectiveWideIntraOpThreads => LanePool.WideThreads(WideIntraOpThreads, EffectiveIntraOpThreads);
}
