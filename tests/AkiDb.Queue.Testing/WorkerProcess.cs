using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using CliWrap;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// The worker as a separate operating-system process, exactly as deployed (dotnet AkiDb.Queue.Worker.dll with
/// environment variables), for what only a real process shows: SIGTERM, kill -9, two workers on one queue.
/// </summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _kill = new();
    private readonly CommandTask<CommandResult> _execution;

    private WorkerProcess(string name, IReadOnlyDictionary<string, string?> environment)
    {
        Name = name;
        _execution = Cli.Wrap("dotnet")
            .WithArguments([RepoPaths.WorkerDll])
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

    private readonly ConcurrentDictionary<int, int> _bridgePids = new();

    /// <summary>Every bridge process the worker reported ready, by lane (the latest, after restarts).</summary>
    public IReadOnlyDictionary<int, int> BridgePids => _bridgePids;

    /// <summary>The exit code once the process has ended.</summary>
    public Task<int> Exited { get; }

    public IReadOnlyCollection<string> Lines => _lines;

    public static async Task<WorkerProcess> StartAsync(string name, string amqpUrl, IDictionary<string, string?>? settings = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["RabbitMq__Url"] = amqpUrl,
            ["Embedding__CacheDirectory"] = WorkerHost.ModelCache,
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var worker = new WorkerProcess(name, environment);
        var first = await Task.WhenAny(worker._ready.Task, worker.Exited, Task.Delay(TimeSpan.FromMinutes(2)));
        if (first != worker._ready.Task)
        {
            await worker.DisposeAsync();
            throw new InvalidOperationException($"Worker {name} did not become ready:\n{string.Join('\n', worker._lines.TakeLast(40))}");
        }

        return worker;
    }

    public void Signal(int signal) => Signals.Send(Pid, signal);

    public bool LogContains(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        if (!Exited.IsCompleted)
        {
            await _kill.CancelAsync();
        }

        await Exited;
        _kill.Dispose();
        File.WriteAllLines(Path.Combine(Directory.CreateDirectory(Path.Combine(RepoPaths.Artifacts, "worker-logs")).FullName, $"{Name}-{Pid}.log"), _lines);
    }

    private void OnLine(string line)
    {
        _lines.Enqueue(line);
        if (BridgeReady().Match(line) is { Success: true } match)
        {
            _bridgePids[int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)] =
                int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        if (line.Contains("worker ready", StringComparison.Ordinal))
        {
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
}
