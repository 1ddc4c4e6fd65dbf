using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Native;

/// <summary>
/// Configuration section <c>Native</c>: ONNX Runtime inside the worker process (<c>Embedding:Backend=native</c>); the
/// thread, spinning and memory-release keys are the bridge's too (<see cref="LaneSettings"/>).
/// </summary>
public sealed class NativeOptions : LaneSettings
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

    public override int EffectiveLanes => LanePool.Size(Lanes);

    /// <summary>After this long without a batch, the sessions give back what the last burst left allocated.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ReleaseMemoryAfterIdle { get; set; } = TimeSpan.FromSeconds(5);
}
