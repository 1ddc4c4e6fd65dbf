using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.EndToEnd;

/// <summary>
/// The worker as deployed: <c>dotnet src/Worker/bin/Release/net10.0/AkiDb.Queue.Worker.dll</c> with settings in
/// environment variables. Ready when it logs "worker ready" (bridge up, model loaded, broker connected).
/// </summary>
internal sealed partial class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<int, int> _bridgePids = new();
    private readonly ConcurrentDictionary<string, double> _milestones = new();

    /// <summary>Start-up steps, by the first log line that shows each, and what the bench calls them.</summary>
    private static readonly (string Text, string Name)[] MilestoneLines =
    [
        ("Configured endpoint", "host built (first log line)"),
        ("Bridge Python:", "python interpreter located"),
        ("Bridge lane 0 ready", "bridge 0 ready (model loaded)"),
        ("Native ONNX Runtime backend ready", "native model loaded"),
        ("Bus started", "broker connected"),
        ("worker ready", "worker ready"),
    ];
    private readonly long _spawnedAt;

    private WorkerProcess(string name, Process process, long spawnedAt)
    {
        Name = name;
        _process = process;
        _spawnedAt = spawnedAt;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    /// <summary>Bridge process ids by lane, from the "Bridge lane N ready: pid P" lines.</summary>
    public IReadOnlyDictionary<int, int> BridgePids => _bridgePids;

    /// <summary>From just before the process was spawned to the "worker ready" line arriving here.</summary>
    public TimeSpan ReadyAfter { get; private set; }

    /// <summary>What the worker itself reports (from its process start time to ApplicationStarted).</summary>
    public double? SelfReportedReadyMs { get; private set; }

    public string? ReadyLine { get; private set; }

    /// <summary>Milliseconds from spawn to the arrival of the first log line of each start-up step.</summary>
    public IReadOnlyDictionary<string, double> Milestones => _milestones;

    public static async Task<WorkerProcess> StartAsync(string name, string amqpUrl, IReadOnlyDictionary<string, string> settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Paths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Paths.WorkerDll);
        start.Environment["RabbitMq__Url"] = amqpUrl;
        start.Environment["Embedding__CacheDirectory"] = Paths.ModelCache;
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        // Many workers start one after another: no health endpoint holding a port between them.
        start.Environment["Health__Urls"] = "";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var spawnedAt = Stopwatch.GetTimestamp();
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        var worker = new WorkerProcess(name, process, spawnedAt);
        Cleanup.Track(process.Id);
        process.OutputDataReceived += (_, e) => worker.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => worker.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var first = await Task.WhenAny(worker._ready.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(2)));
        if (first != worker._ready.Task)
        {
            await worker.DisposeAsync();
            throw new InvalidOperationException($"Worker {name} did not become ready:\n{string.Join('\n', worker._lines.TakeLast(30))}");
        }

        return worker;
    }

    public double? RssMiB => ProcStat.RssMiB(Pid);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM: the worker drains and stops its bridge (EOF on the bridge's stdin), as in a deployment.
            _ = SysKill(_process.Id, 15);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        else
        {
            await _process.WaitForExitAsync();
        }

        Cleanup.Untrack(_process.Id);
        var logs = Directory.CreateDirectory(Path.Combine(Paths.Artifacts, "worker-logs")).FullName;
        await File.WriteAllLinesAsync(Path.Combine(logs, $"{Name}.log"), _lines);
        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        foreach (var (text, name) in MilestoneLines)
        {
            if (!_milestones.ContainsKey(name) && line.Contains(text, StringComparison.Ordinal))
            {
                _milestones.TryAdd(name, Stopwatch.GetElapsedTime(_spawnedAt).TotalMilliseconds);
            }
        }

        if (BridgeReady().Match(line) is { Success: true } bridge)
        {
            _bridgePids[int.Parse(bridge.Groups[1].Value, CultureInfo.InvariantCulture)] = int.Parse(bridge.Groups[2].Value, CultureInfo.InvariantCulture);
        }

        if (!_ready.Task.IsCompleted && line.Contains("worker ready", StringComparison.Ordinal))
        {
            ReadyAfter = Stopwatch.GetElapsedTime(_spawnedAt);
            ReadyLine = line;
            if (SelfReported().Match(line) is { Success: true } self)
            {
                SelfReportedReadyMs = double.Parse(self.Groups[1].Value, CultureInfo.InvariantCulture);
            }

            _ready.TrySetResult();
        }
    }

    [GeneratedRegex(@"Bridge lane (\d+) ready: pid (\d+)")]
    private static partial Regex BridgeReady();

    [GeneratedRegex(@"worker ready in (\d+) ms")]
    private static partial Regex SelfReported();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
