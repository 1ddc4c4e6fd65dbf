using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using CliWrap;

namespace AkiDb.Queue.Testing;

/// <summary>
/// The worker as a separate operating-system process, exactly as deployed (dotnet AkiDb.Queue.Worker.dll with
/// environment variables), for what only a real process shows: SIGTERM, kill -9, SIGSTOP, two workers on one queue,
/// start-up time and memory. Ready when it logs "worker ready" (bridge up, model loaded, broker connected).
/// </summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    /// <summary>Start-up steps, by the first log line that shows each, and what reports call them.</summary>
    private static readonly (string Text, string Name)[] MilestoneLines =
    [
        ("Configured endpoint", "host built (first log line)"),
        ("Bridge Python:", "python interpreter located"),
        ("Bridge lane 0 ready", "bridge 0 ready (model loaded)"),
        ("Native ONNX Runtime backend ready", "native model loaded"),
        ("Bus started", "broker connected"),
        ("worker ready", "worker ready"),
    ];

    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _bridgePoolStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _kill = new();
    private readonly ConcurrentDictionary<int, int> _bridgePids = new();
    private readonly ConcurrentDictionary<string, double> _milestones = new();
    private readonly CommandTask<CommandResult> _execution;
    private readonly long _spawnedAt = Stopwatch.GetTimestamp();
    private readonly TimeSpan? _stopGrace;

    private readonly string _logDirectory;

    private WorkerProcess(string name, IReadOnlyDictionary<string, string?> environment, TimeSpan? stopGrace, string workerDll, string logDirectory, Network.LabHost? place)
    {
        Name = name;
        _stopGrace = stopGrace;
        _logDirectory = logDirectory;
        // In a network lab the worker (and so its bridge processes) runs in its host's namespace; `ip netns exec` execs
        // dotnet in place, so the pid is the worker's all the same.
        _execution = (place is null ? Cli.Wrap("dotnet").WithArguments([workerDll]) : Network.NetworkLab.Exec(place, "dotnet", [workerDll]))
            .WithWorkingDirectory(RepoPaths.Root)
            .WithEnvironmentVariables(environment)
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(PipeTarget.ToDelegate(OnLine))
            .WithStandardErrorPipe(PipeTarget.ToDelegate(OnLine))
            .ExecuteAsync(_kill.Token, CancellationToken.None);
        Exited = ObserveExitAsync();
    }

    public string Name { get; }

    public int Pid => _execution.ProcessId;

    /// <summary>Every bridge process the worker reported ready, by lane (the latest, after restarts).</summary>
    public IReadOnlyDictionary<int, int> BridgePids => _bridgePids;

    /// <summary>
    /// Completes when every bridge lane has made its first start attempt. The worker is ready once lane 0 is up and
    /// starts the others after it; <see cref="StartAsync"/> waits for this unless told not to.
    /// </summary>
    public Task BridgePoolStarted => _bridgePoolStarted.Task;

    /// <summary>The exit code once the process has ended.</summary>
    public Task<int> Exited { get; }

    public IReadOnlyCollection<string> Lines => _lines;

    /// <summary>From just before the process was spawned to the "worker ready" line arriving here.</summary>
    public TimeSpan ReadyAfter { get; private set; }

    /// <summary>What the worker itself reports (from its process start time to ApplicationStarted).</summary>
    public double? SelfReportedReadyMs { get; private set; }

    /// <summary>Milliseconds from spawn to the arrival of the first log line of each start-up step.</summary>
    public IReadOnlyDictionary<string, double> Milestones => _milestones;

    /// <param name="settings">Configuration keys (<c>Bridge:Processes</c> or <c>Bridge__Processes</c>), passed as environment variables.</param>
    /// <param name="stopGrace">
    /// Disposing sends SIGTERM and waits this long for the worker to drain and exit, as a deployment stops it; null
    /// (the default) kills it at once.
    /// </param>
    /// <param name="workerDll">The worker to run; the one its project built (<see cref="RepoPaths.WorkerDll"/>) when null.</param>
    /// <param name="logDirectory">Where its log is written when it ends; .artifacts/worker-logs when null.</param>
    /// <param name="place">A network lab host whose namespace the worker runs in; null for this machine's network.</param>
    public static async Task<WorkerProcess> StartAsync(
        string name, string amqpUrl, IEnumerable<KeyValuePair<string, string?>>? settings = null, TimeSpan? stopGrace = null, string? workerDll = null, string? logDirectory = null,
        Network.LabHost? place = null, bool untilEveryBridge = true)
    {
        var environment = new Dictionary<string, string?>
        {
            ["RabbitMq__Url"] = amqpUrl,
            ["Embedding__CacheDirectory"] = RepoPaths.ModelCache,
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        };
        foreach (var (key, value) in settings ?? [])
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var worker = new WorkerProcess(name, environment, stopGrace, workerDll ?? RepoPaths.WorkerDll, logDirectory ?? Path.Combine(RepoPaths.Artifacts, "worker-logs"), place);
        var first = await Task.WhenAny(worker._ready.Task, worker.Exited, Task.Delay(TimeSpan.FromMinutes(2)));
        if (first != worker._ready.Task)
        {
            await worker.DisposeAsync();
            throw new InvalidOperationException($"Worker {name} did not become ready:\n{string.Join('\n', worker._lines.TakeLast(40))}");
        }

        // The python backend is ready with lane 0's bridge and starts the others after it; most callers want the
        // whole pool (throughput, every bridge's pid), a start-up measurement the moment the worker takes messages.
        if (untilEveryBridge && !worker._bridgePids.IsEmpty &&
            await Task.WhenAny(worker._bridgePoolStarted.Task, worker.Exited, Task.Delay(TimeSpan.FromMinutes(2))) != worker._bridgePoolStarted.Task)
        {
            await worker.DisposeAsync();
            throw new InvalidOperationException($"Worker {name} did not start every bridge lane:\n{string.Join('\n', worker._lines.TakeLast(40))}");
        }

        return worker;
    }

    public void Signal(int signal) => Signals.Send(Pid, signal);

    public bool LogContains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        if (!Exited.IsCompleted && _stopGrace is { } grace)
        {
            // SIGTERM: the worker drains and stops its bridge (EOF on the bridge's stdin), as in a deployment.
            Signal(Signals.Term);
            await Task.WhenAny(Exited, Task.Delay(grace));
        }

        if (!Exited.IsCompleted)
        {
            await _kill.CancelAsync();
        }

        await Exited;
        _kill.Dispose();
        File.WriteAllLines(Path.Combine(Directory.CreateDirectory(_logDirectory).FullName, $"{Name}-{Pid}.log"), _lines);
    }

    private void OnLine(string line)
    {
        _lines.Enqueue(line);
        foreach (var (text, milestone) in MilestoneLines)
        {
            if (!_milestones.ContainsKey(milestone) && line.Contains(text, StringComparison.Ordinal))
            {
                _milestones.TryAdd(milestone, Stopwatch.GetElapsedTime(_spawnedAt).TotalMilliseconds);
            }
        }

        if (BridgeReady().Match(line) is { Success: true } match)
        {
            _bridgePids[int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)] = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        }

        if (line.Contains("Python bridge pool ready", StringComparison.Ordinal))
        {
            _bridgePoolStarted.TrySetResult();
        }

        if (!_ready.Task.IsCompleted && line.Contains("worker ready", StringComparison.Ordinal))
        {
            ReadyAfter = Stopwatch.GetElapsedTime(_spawnedAt);
            if (SelfReported().Match(line) is { Success: true } self)
            {
                SelfReportedReadyMs = double.Parse(self.Groups[1].Value, CultureInfo.InvariantCulture);
            }

            _ready.TrySetResult();
        }
    }

    private async Task<int> ObserveExitAsync()
    {
        try
        {
            return (await _execution).ExitCode;
        }
        catch (OperationCanceledException)
        {
            return -9;
        }
    }

    [GeneratedRegex(@"Bridge lane (\d+) ready: pid (\d+)")]
    private static partial Regex BridgeReady();

    [GeneratedRegex(@"worker ready in (\d+) ms")]
    private static partial Regex SelfReported();
}
