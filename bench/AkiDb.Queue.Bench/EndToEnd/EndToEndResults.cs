using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.EndToEnd;

/// <summary>
/// CPU used during a measured phase, in cores (CPU seconds / wall seconds) per process, the whole machine's busy cores,
/// what none of the run's processes account for (other tenants of the machine, kernel work), and the hypervisor's steal.
/// </summary>
public sealed record CpuUse(double WallSeconds, double WorkerCores, double BridgeCores, double BrokerCores, double BenchCores, double MachineBusyCores, double StealPercent)
{
    public double OtherCores => Math.Max(0, MachineBusyCores - WorkerCores - BridgeCores - (double.IsNaN(BrokerCores) ? 0 : BrokerCores) - BenchCores);
}

/// <summary>Resident memory after the measured phase (the worker warm, the model loaded and used).</summary>
public sealed record MemoryUse(double WorkerRssMiB, IReadOnlyList<double> BridgeRssMiB)
{
    public double TotalMiB => WorkerRssMiB + BridgeRssMiB.Sum();

    public string Describe() => $"{TotalMiB:F0} MiB (worker {WorkerRssMiB:F0}" +
                                (BridgeRssMiB.Count > 0 ? $" + bridges {string.Join(" + ", BridgeRssMiB.Select(m => m.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}" : "") + ")";
}

/// <summary>One measured phase of one scenario: a configuration, a corpus, a load.</summary>
public sealed record PhaseResult(
    string Config,
    string Corpus,
    string Load,
    double LoadFraction,
    double OfferedPerSecond,
    int Messages,
    double DurationSeconds,
    double ThroughputPerSecond,
    LatencyStats Latency,
    double QueuedMsP50,
    double QueuedMsP99,
    double InferenceMsP50,
    double InferenceMsP99,
    double PacerLagP99Ms,
    int Failed,
    int Missing,
    CpuUse Cpu,
    MemoryUse? Memory,
    double WorkerReadyMs,
    string VirtualHost)
{
    /// <summary>Resident memory when the worker reported ready, before the warm-up.</summary>
    public MemoryUse? MemoryAtReady { get; init; }

    /// <summary>Resident memory after the phase and then a quiet minute (the mixed saturation phase of the default only).</summary>
    public MemoryUse? MemoryAfterIdle { get; init; }

    /// <summary>How long the worker idled before <see cref="MemoryAfterIdle"/> was read.</summary>
    public double IdleSeconds { get; init; }
}

/// <summary>Process start to "worker ready", per start.</summary>
public sealed record ColdStart(
    string Backend, IReadOnlyList<double> ReadyMs, IReadOnlyList<double> SelfReportedMs, IReadOnlyList<double> WorkerRssAtReadyMiB, IReadOnlyList<double> BridgeRssAtReadyMiB,
    IReadOnlyDictionary<string, double> MedianMilestonesMs)
{
    public double Median => Stats.Median(ReadyMs);
}

public sealed record EndToEndResults(string Broker, IReadOnlyList<PhaseResult> Phases, IReadOnlyList<ColdStart> ColdStarts)
{
    public PhaseResult? Find(string config, string corpus, string load) =>
        Phases.FirstOrDefault(p => p.Config == config && p.Corpus == corpus && p.Load == load);
}

public static class Configs
{
    /// <summary>The worker's defaults: as many single-threaded bridge processes as cores, at most 4 (2 x 1 on 2 cores).</summary>
    public const string Python = "python default";
    /// <summary>The default pool with adaptive parallelism off (Batching__AdaptiveParallelism=false): every batch on one core, the layout before it.</summary>
    public const string Narrow = "python narrow only";
    public const string Native = "native";
    /// <summary>The alternative pool: one bridge process with all the cores as intra-op threads.</summary>
    public const string Pool = "python 1 process";
    public const string PythonPathSet = "python default, Bridge__PythonPath set";
    /// <summary>The default pool serving all-MiniLM-L6-v2-int8 (preloaded) as the default model.</summary>
    public const string PythonInt8 = "python int8";
    public const string Saturation = "saturation";
}
