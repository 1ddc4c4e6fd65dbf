using System.Diagnostics;
using System.Text.Json;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.UserPath;
using AkiDb.Queue.Testing;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Native;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>
/// The int8 model as a user meets it, in the same run as <see cref="Int8Bench"/>'s in-process limit: the worker as
/// deployed starting with all-MiniLM-L6-v2-int8 preloaded (the quantised file cached), to "worker ready" and to the
/// first result; and <c>akidb-queue embed --model all-MiniLM-L6-v2-int8</c> (its default texts per message) on short
/// texts through a real broker to a worker serving the int8 model, in rounds side by side with the int8 and fp32
/// in-process limits on the same texts.
/// </summary>
internal sealed class Int8UserPath(ModelFiles model, LimitSessions fp32, LimitSessions int8, IReadOnlyList<CorpusText> texts, int rounds, int starts)
{
    private const string Int8Name = "all-MiniLM-L6-v2-int8";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    /// <summary>Start-up configurations, each started <c>starts</c> times, alternating.</summary>
    private static readonly (string Name, Dictionary<string, string?> Settings)[] StartConfigs =
    [
        ("fp32 (the default)", new()),
        // What a user sets to serve int8: the default model loads at start-up (an unset LoadAtStartup), its fp32 source does not.
        ("int8 as the default model", new() { ["Embedding__DefaultModel"] = Int8Name }),
        // int8 preloaded beside the fp32 default: both load in every bridge process.
        ("int8 preloaded beside the fp32 default", new() { [$"Embedding__Models__{Int8Name}__LoadAtStartup"] = "true" }),
        ("int8 as the default model, native backend", new() { ["Embedding__Backend"] = "native", ["Embedding__DefaultModel"] = Int8Name }),
    ];

    public async Task<Int8UserPathResults> RunAsync()
    {
        var broker = BrokerFixture.From("AKIDB_BENCH_RABBITMQ", Paths.BrokerData);
        Cleanup.Broker = broker;
        try
        {
            Log.Info("Starting the broker (AKIDB_BENCH_RABBITMQ_URL, else a private one with its data in .artifacts/bench/broker)");
            await broker.InitializeAsync();
            var startups = await StartupsAsync(broker);
            var embed = await EmbedAsync(broker);
            return new Int8UserPathResults(startups, embed);
        }
        finally
        {
            Cleanup.Broker = null;
            await broker.DisposeAsync();
        }
    }

    private async Task<IReadOnlyList<StartupRow>> StartupsAsync(BrokerFixture broker)
    {
        Log.Section($"int8 start-up: the worker as deployed, spawn -> \"worker ready\" -> first result, {starts} starts per configuration, alternating");
        var ready = StartConfigs.ToDictionary(c => c.Name, _ => new List<double>());
        var first = StartConfigs.ToDictionary(c => c.Name, _ => new List<double>());
        var steps = StartConfigs.ToDictionary(c => c.Name, _ => new List<IReadOnlyDictionary<string, double>>());
        var quantised = StartConfigs.ToDictionary(c => c.Name, _ => false);
        for (var i = 0; i < starts; i++)
        {
            foreach (var (name, configured) in StartConfigs)
            {
                var vhost = $"bench-int8-start-{Array.FindIndex(StartConfigs, c => c.Name == name)}-{i}";
                await broker.CreateVirtualHostNamedAsync(vhost);
                try
                {
                    var url = broker.UrlFor(vhost);
                    // The first result is sent the moment the worker takes messages: with lane 0's bridge up, the others still starting.
                    await using var worker = await StartWorkerAsync($"int8-start-{i}", url, configured, untilEveryBridge: false);
                    var readyMs = worker.ReadyAfter.TotalMilliseconds;
                    // The first result: one short text sent the moment the worker says it is ready (the session's first run included).
                    await using var client = await DrainClient.ConnectAsync(url);
                    var drained = await client.RunAsync("first-", [texts[i % texts.Count].Text], null, 1, Patience);
                    ready[name].Add(readyMs);
                    first[name].Add(readyMs + drained.Seconds * 1000);
                    steps[name].Add(worker.Milestones.ToDictionary());
                    quantised[name] |= worker.LogContains("Quantised ");
                    Log.Info($"  {name,-48} #{i + 1}: ready {readyMs,5:F0} ms, first result {first[name][^1],5:F0} ms; " +
                             string.Join(", ", worker.Milestones.OrderBy(m => m.Value).Select(m => $"{m.Key} {m.Value:F0}")));
                }
                finally
                {
                    await broker.DeleteVirtualHostAsync(vhost);
                }
            }
        }

        return StartConfigs.Select(c => new StartupRow(c.Name, ready[c.Name], first[c.Name],
            steps[c.Name].SelectMany(m => m.Keys).Distinct().ToDictionary(k => k, k => Stats.Median(steps[c.Name].Where(m => m.ContainsKey(k)).Select(m => m[k]))),
            quantised[c.Name])).ToList();
    }

    private async Task<EmbedComparison> EmbedAsync(BrokerFixture broker)
    {
        Log.Section($"int8 end to end as users ingest: akidb-queue embed --model {Int8Name} ({texts.Count} short texts, default texts per message) vs the in-process limits, {rounds} rounds");
        var cli = Path.Combine(Paths.Root, "src", "Cli", "bin", "Release", "net10.0", "akidb-queue.dll");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"{cli} is missing: build it with dotnet build src/Cli -c Release (bench.sh does).");
        }

        const string vhost = "bench-int8-embed";
        await broker.CreateVirtualHostNamedAsync(vhost);
        var url = broker.UrlFor(vhost);
        var input = Path.Combine(Paths.Artifacts, "int8-embed-input.jsonl");
        Directory.CreateDirectory(Paths.Artifacts);
        await File.WriteAllLinesAsync(input, texts.Select((t, i) => JsonSerializer.Serialize(new { id = $"t{i}", text = t.Text })));
        var batches = new Corpus("embed", "the embed texts", texts).SortedBatches(32, model.Name);
        var runs = new List<EmbedRound>();
        try
        {
            // The worker's defaults, serving the int8 model (preloaded); the embedding cache off, since every round sends the same texts.
            await using var worker = await StartWorkerAsync("int8-embed", url, new()
            {
                ["Embedding__DefaultModel"] = Int8Name, ["Cache__Enabled"] = "false",
            });
            await using (var client = await DrainClient.ConnectAsync(url))
            {
                // A fresh worker compiles its hot paths during its first thousands of texts: warm it before measuring.
                await client.RunAsync("warm-", [.. texts.Take(Math.Min(texts.Count, 2000)).Select(t => t.Text)], null, 16, Patience);
            }

            int8.Best(batches);
            fp32.Best(batches);
            for (var round = 0; round < rounds; round++)
            {
                // Rotated each round, so none of the three always runs first or last.
                double limitInt8 = 0, limitFp32 = 0;
                EmbedRun? run = null;
                for (var k = 0; k < 3; k++)
                {
                    switch ((k + round) % 3)
                    {
                        case 0:
                            limitInt8 = texts.Count / int8.Best(batches).Wall;
                            break;
                        case 1:
                            run = await RunEmbedAsync(cli, input, url, worker, broker.BeamPid, round);
                            break;
                        default:
                            limitFp32 = texts.Count / fp32.Best(batches).Wall;
                            break;
                    }
                }

                runs.Add(new EmbedRound(texts.Count / run!.Seconds, limitInt8, limitFp32, run.Cores, run.ExitCode == 0 && run.Lines == texts.Count));
                Log.Info($"  round {round + 1}: embed {runs[^1].EmbedTextsPerSecond,6:F0} texts/s ({run.Seconds:F1} s, exit {run.ExitCode}, {run.Lines} lines), " +
                         $"int8 limit {limitInt8,6:F0}, fp32 limit {limitFp32,6:F0}: embed / int8 limit {runs[^1].VsInt8:F2}x, / fp32 limit {runs[^1].VsFp32:F2}x; " +
                         $"CPU cores during embed: {run.Cores}");
            }
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }

        return new EmbedComparison(texts.Count, runs);
    }

    private static async Task<WorkerProcess> StartWorkerAsync(string name, string url, Dictionary<string, string?> configured, bool untilEveryBridge = true)
    {
        var settings = new Dictionary<string, string?>(configured)
        {
            ["Embedding__CacheDirectory"] = Paths.ModelCache,
            ["Health__Urls"] = "",
        };
        var worker = await WorkerProcess.StartAsync(name, url, settings, stopGrace: TimeSpan.FromSeconds(30), workerDll: Paths.WorkerDll, logDirectory: Paths.WorkerLogs,
            untilEveryBridge: untilEveryBridge);
        Cleanup.Track(worker.Pid);
        return worker;
    }

    /// <summary>
    /// <c>akidb-queue embed</c> as a user runs it, timed from spawn to exit, with the CPU each process used meanwhile
    /// (the CLI's own read from /proc until it exits).
    /// </summary>
    private static async Task<EmbedRun> RunEmbedAsync(string cli, string input, string url, WorkerProcess worker, int? brokerPid, int round)
    {
        var bridges = worker.BridgePids.Values.ToList();
        double Cpu(int? pid) => pid is { } p ? ProcStat.CpuSeconds(p) ?? 0 : 0;
        var before = (Worker: Cpu(worker.Pid), Bridges: bridges.Sum(b => Cpu(b)), Broker: Cpu(brokerPid), Machine: ProcStat.MachineCpu());
        var run = await EmbedCli.RunAsync(cli, input, url, $"int8-{round}", "--model", Int8Name);
        var seconds = run.Seconds;
        var (busy, _) = ProcStat.MachineUse(before.Machine, ProcStat.MachineCpu());
        var cores = new EmbedCores((Cpu(worker.Pid) - before.Worker) / seconds, (bridges.Sum(b => Cpu(b)) - before.Bridges) / seconds,
            (Cpu(brokerPid) - before.Broker) / seconds, run.CpuSeconds / seconds, busy);
        return new EmbedRun(seconds, run.ExitCode, run.Lines, cores);
    }

    private sealed record EmbedRun(double Seconds, int ExitCode, int Lines, EmbedCores Cores);
}

/// <summary>CPU cores each process used during an embed run (CPU seconds / wall seconds) and the machine's busy cores.</summary>
public sealed record EmbedCores(double Worker, double Bridges, double Broker, double Cli, double MachineBusy)
{
    /// <summary>Cores busy with anything else on the machine (other engineers' work on a shared host).</summary>
    public double Other => Math.Max(0, MachineBusy - Bridges - Worker - Broker - Cli);

    public override string ToString() =>
        FormattableString.Invariant($"bridges {Bridges:F2}, worker {Worker:F2}, broker {Broker:F2}, embed CLI {Cli:F2}, other {Other:F2} (machine {MachineBusy:F2})");
}

public sealed record StartupRow(string Config, IReadOnlyList<double> ReadyMs, IReadOnlyList<double> FirstResultMs, IReadOnlyDictionary<string, double> Steps, bool Quantised)
{
    public double Ready => Stats.Median(ReadyMs);

    public double FirstResult => Stats.Median(FirstResultMs);
}

public sealed record EmbedRound(double EmbedTextsPerSecond, double Int8LimitTextsPerSecond, double Fp32LimitTextsPerSecond, EmbedCores Cores, bool AllLines)
{
    public double VsInt8 => EmbedTextsPerSecond / Int8LimitTextsPerSecond;

    public double VsFp32 => EmbedTextsPerSecond / Fp32LimitTextsPerSecond;
}

public sealed record EmbedComparison(int Texts, IReadOnlyList<EmbedRound> Rounds)
{
    public double VsInt8 => Stats.Median(Rounds.Select(r => r.VsInt8));

    public double VsFp32 => Stats.Median(Rounds.Select(r => r.VsFp32));
}

public sealed record Int8UserPathResults(IReadOnlyList<StartupRow> Startups, EmbedComparison Embed);
