using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>Configuration section <c>Bridge</c>: the Python bridge processes and how they are supervised.</summary>
public sealed class BridgeOptions : LaneSettings, IValidatableObject
{
    public const string Section = "Bridge";

    /// <summary>The interpreter. When unset the worker probes python3 on PATH, /usr/bin/python3 and friends for one with numpy.</summary>
    public string? PythonPath { get; set; }

    /// <summary>The bridge script; the copy next to the worker (python/akidb_bridge.py) when unset.</summary>
    public string? EntryPoint { get; set; }

    /// <summary>Fixed extra arguments for the script. Never built from message content.</summary>
    public string[]? ExtraArguments { get; set; }

    /// <summary><c>auto</c> (official onnxruntime package when importable, else ctypes), <c>onnxruntime</c> or <c>ctypes</c>.</summary>
    public BridgeRuntime Runtime { get; set; } = BridgeRuntime.Auto;

    /// <summary>libonnxruntime for the ctypes runtime; the one NuGet restored next to the worker when unset.</summary>
    public string? OrtLibraryPath { get; set; }

    /// <summary>
    /// Bridge processes per worker; each runs one batch at a time. 0 (default) follows <see cref="LanePool"/>: one
    /// single-threaded process per core, at most 4, at the cost of a copy of the model per process.
    /// </summary>
    [Range(0, 64)]
    public int Processes { get; set; }

    public int EffectiveProcesses => LanePool.Size(Processes);

    public override int EffectiveLanes => EffectiveProcesses;

    [Range(1, 64)]
    public int InterOpThreads { get; set; } = 1;

    /// <summary>Time allowed from process start to the ready handshake (the model loads in it).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A batch's deadline is DeadlineBase + DeadlinePerText x texts, capped at MaxDeadline. Missing it kills the process.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:00:30")]
    public TimeSpan DeadlineBase { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan DeadlinePerText { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>No batch may take longer than this, whatever its size; 30 s at most.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:00:30")]
    public TimeSpan MaxDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>An idle bridge is pinged this often; a missed ping is a hang.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First restart delay after a crash; doubles per consecutive failure up to RestartBackoffMax.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RestartBackoffInitial { get; set; } = TimeSpan.FromMilliseconds(100);

    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan RestartBackoffMax { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>When every process has failed to start this many times in a row, the worker stops taking messages.</summary>
    [Range(1, 100)]
    public int FailedStartsToOpenCircuit { get; set; } = 3;

    /// <summary>Largest frame payload either side accepts.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Extra environment variables for the bridge, on top of the minimal set it gets.</summary>
    public Dictionary<string, string> Environment { get; set; } = [];

    /// <summary>What a bridge process may not do: no new privileges, no network, bounded resources.</summary>
    public BridgeSandboxOptions Sandbox { get; set; } = new();

    /// <summary>debug, info, warning or error.</summary>
    public BridgeLogLevel LogLevel { get; set; } = BridgeLogLevel.Info;

    public TimeSpan DeadlineFor(int texts)
    {
        var scaled = DeadlineBase + TimeSpan.FromTicks(DeadlinePerText.Ticks * texts);
        return scaled < MaxDeadline ? scaled : MaxDeadline;
    }

    /// <summary>The wait before the next start after <paramref name="failures"/> failures in a row: doubling, capped.</summary>
    public TimeSpan RestartDelay(int failures)
    {
        var factor = Math.Pow(2, Math.Min(failures - 1, 20));
        var delay = TimeSpan.FromMilliseconds(RestartBackoffInitial.TotalMilliseconds * factor);
        return delay < RestartBackoffMax ? delay : RestartBackoffMax;
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (RestartBackoffMax < RestartBackoffInitial)
        {
            yield return new ValidationResult("Bridge:RestartBackoffMax must not be below Bridge:RestartBackoffInitial.", [nameof(RestartBackoffMax)]);
        }

        if (PythonPath is not null && !File.Exists(PythonPath))
        {
            yield return new ValidationResult($"Bridge:PythonPath '{PythonPath}' does not exist.", [nameof(PythonPath)]);
        }

        if (Sandbox.MaxAddressSpaceMiB is not 0 and (< 1024 or > 1_048_576))
        {
            yield return new ValidationResult($"Bridge:Sandbox:MaxAddressSpaceMiB {Sandbox.MaxAddressSpaceMiB} must be 0 (no limit) or between 1024 and 1048576: a bridge with one model needs about 1 GiB of address space.", [nameof(Sandbox)]);
        }

        if (Sandbox.MaxOpenFiles is not 0 and (< 32 or > 1_048_576))
        {
            yield return new ValidationResult($"Bridge:Sandbox:MaxOpenFiles {Sandbox.MaxOpenFiles} must be 0 (inherited) or between 32 and 1048576.", [nameof(Sandbox)]);
        }

        if (EntryPoint is not null && !File.Exists(EntryPoint))
        {
            yield return new ValidationResult($"Bridge:EntryPoint '{EntryPoint}' does not exist.", [nameof(EntryPoint)]);
        }
    }
}
