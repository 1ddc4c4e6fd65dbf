using System.Diagnostics;
using System.Globalization;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Testing;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Bench.Compare;

/// <summary>
/// <c>./bench.sh compare</c>: this tree's worker against a baseline commit's, both published the way the full run
/// publishes its worker (bench.sh builds the baseline in a temporary git worktree), through one broker with the same
/// texts. Runs alternate in pairs (baseline then current, then current then baseline, ...), each run a fresh worker
/// with the default configuration warmed up as the full run warms up, then a saturation phase and a phase paced at 10 %
/// of the first saturation measured on that corpus (the same rate for both workers). A ratio is taken within each pair,
/// and the report (<see cref="CompareReport"/>) gives the median over pairs: on a shared, noisy machine only runs side
/// by side are comparable.
/// </summary>
public static class WorkerCompare
{
    public static async Task<int> RunAsync(string[] args)
    {
        CompareSettings options;
        try
        {
            options = CompareSettings.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 64;
        }

        Cleanup.Install();
        var settings = options.Bench;
        var started = DateTime.UtcNow;
        var loadAtStart = ProcStat.LoadAverage();
        Log.Section($"Worker at {options.Baseline.Commit} against this tree: {ProcStat.CpuModel()}, {Environment.ProcessorCount} cores, load average {loadAtStart}");
        var model = ModelFiles.Load();
        var builder = new CorpusBuilder(model.Tokenizer, settings.Seed);
        var corpora = new List<Corpus> { builder.BuildShort(settings.ShortTexts), builder.BuildLong(settings.LongTexts), builder.BuildMixed(settings.MixedTexts) }
            .Where(c => settings.Corpora.Count == 0 || settings.Corpora.Contains(c.Name)).ToList();
        var python = (await new PythonLocator(
                Microsoft.Extensions.Options.Options.Create(new AkiDb.Queue.Worker.Models.EmbeddingOptions { CacheDirectory = Paths.ModelCache }),
                TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<PythonLocator>.Instance)
            .LocateAsync(null, CancellationToken.None)).Path;

        var broker = BrokerFixture.From("AKIDB_BENCH_RABBITMQ", Paths.BrokerData);
        Cleanup.Broker = broker;
        var runs = new List<CompareRun>();
        try
        {
            await broker.InitializeAsync();
            var rates = new Dictionary<string, double>();
            for (var pair = 1; pair <= options.Pairs; pair++)
            {
                var loadAtPair = ProcStat.LoadAverage();
                Log.Section($"Pair {pair} of {options.Pairs}, load average {loadAtPair}");
                foreach (var corpus in corpora)
                {
                    // Odd pairs run the baseline first, even pairs this tree first: neither side always follows the other.
                    var order = pair % 2 == 1 ? new[] { options.Baseline, options.Current } : [options.Current, options.Baseline];
                    foreach (var side in order)
                    {
                        try
                        {
                            var run = await RunAsync(broker, settings, side, corpus, pair, rates, python);
                            runs.Add(run with { LoadAverage = loadAtPair });
                        }
                        catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException or RabbitMQ.Client.Exceptions.RabbitMQClientException)
                        {
                            // The pair is left out of the ratios (the report lists only complete pairs); the rest goes on.
                            Log.Info($"pair {pair} / {corpus.Name} / {side.Label}: FAILED: {e.Message}");
                        }
                    }
                }
            }
        }
        finally
        {
            Cleanup.Broker = null;
            await broker.DisposeAsync();
        }

        var counts = new[] { options.Baseline, options.Current }.ToDictionary(s => s.Label, s => ArchitectureCount.Read(s.Root));
        var conditions = new CompareConditions(started, DateTime.UtcNow, loadAtStart, ProcStat.LoadAverage(), ProcStat.CpuModel(), Environment.ProcessorCount,
            options.Pairs, settings, python);
        var markdown = CompareReport.Render(options, conditions, runs, counts);
        Directory.CreateDirectory(Path.GetDirectoryName(options.OutputFile)!);
        await File.WriteAllTextAsync(options.OutputFile, markdown);
        Log.Info($"Wrote {Path.GetRelativePath(Paths.Root, options.OutputFile)} in {(DateTime.UtcNow - started).TotalMinutes:F1} min");
        foreach (var line in CompareReport.Verdicts(runs))
        {
            Log.Info(line);
        }

        return 0;
    }

    private static async Task<CompareRun> RunAsync(BrokerFixture broker, BenchSettings settings, CompareSide side, Corpus corpus, int pair,
        Dictionary<string, double> rates, string python)
    {
        var label = $"pair {pair} / {corpus.Name} / {side.Label}";
        var vhost = $"compare-{DateTime.UtcNow:HHmmss}-{pair}-{corpus.Name}-{side.Label}";
        await broker.CreateVirtualHostNamedAsync(vhost);
        try
        {
            var url = broker.UrlFor(vhost);
            var workerSettings = new Dictionary<string, string?>
            {
                ["Embedding__CacheDirectory"] = Paths.ModelCache,
                ["Health__Urls"] = "",
                // As in the full run: the warm-up sends the measured texts, so a cache would turn the phase into hits.
                ["Cache__Enabled"] = "false",
                // Both workers start the same interpreter instead of probing PATH for one with numpy.
                ["Bridge__PythonPath"] = python,
            };
            await using var worker = await WorkerProcess.StartAsync(vhost, url, workerSettings, stopGrace: TimeSpan.FromSeconds(30), workerDll: side.WorkerDll,
                logDirectory: Paths.WorkerLogs);
            Cleanup.Track(worker.Pid);
            await using var client = await LoadClient.ConnectAsync(url);
            await WarmUpAsync(client, settings, corpus, label);

            var saturation = await PhaseAsync(client, corpus, corpus.Count, null, "s-");
            rates.TryAdd(corpus.Name, 0.10 * saturation.Throughput);
            var rate = rates[corpus.Name];
            var count = (int)Math.Max(20, Math.Round(rate * Math.Clamp(settings.MinSamples / rate, settings.MinRateDuration.TotalSeconds, settings.MaxRateDuration.TotalSeconds)));
            var paced = await PhaseAsync(client, corpus, count, rate, "p-");
            Log.Info($"{label}: saturation {saturation.Throughput:F1} msg/s ({saturation.Missing} missing, {saturation.Failed} failed); " +
                     $"10 % = {rate:F1}/s: p50 {paced.Latency.P50:F1} ms, p95 {paced.Latency.P95:F1} ms ({paced.Latency.Samples} samples, {paced.Missing} missing, {paced.Failed} failed); " +
                     $"machine busy {saturation.MachineBusyCores:F2} / {paced.MachineBusyCores:F2} cores");
            Cleanup.Untrack(worker.Pid);
            return new CompareRun(pair, corpus.Name, side.Label, saturation, paced, rate, "");
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }
    }

    /// <summary>Bursts answered in full for at least the full run's warm-up time: a fresh process re-compiles its hot code first.</summary>
    private static async Task WarmUpAsync(LoadClient client, BenchSettings settings, Corpus corpus, string label)
    {
        var clock = Stopwatch.StartNew();
        var warmed = 0;
        for (var round = 0; warmed < settings.WarmupMessages || clock.Elapsed < settings.WarmupDuration; round++)
        {
            var count = Math.Min(Math.Max(settings.WarmupMessages, 64), corpus.Count);
            var phase = await PhaseAsync(client, corpus, count, null, $"w{round}-", reversed: true);
            if (phase.Missing > 0)
            {
                throw new InvalidOperationException($"{label}: warm-up round {round}: {phase.Missing} of {count} results missing.");
            }

            warmed += count;
        }
    }

    /// <summary>Publishes <paramref name="count"/> single-text requests, all at once or paced at <paramref name="rate"/> per second, and waits for every result.</summary>
    private static async Task<ComparePhase> PhaseAsync(LoadClient client, Corpus corpus, int count, double? rate, string prefix, bool reversed = false)
    {
        var bodies = Enumerable.Range(0, count)
            .Select(i => LoadClient.Body(prefix, i, corpus.Texts[reversed ? (corpus.Count - 1 - i) % corpus.Count : i % corpus.Count].Text)).ToList();
        var machineBefore = ProcStat.MachineCpu();
        var phase = client.Begin(prefix, count);
        var publishes = new List<Task>(count);
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            if (rate is { } perSecond && start + (long)(i * Stopwatch.Frequency / perSecond) - Stopwatch.GetTimestamp() is var wait and > 0)
            {
                // Paced publishing, as the full run's paced phases: the only sleep here that is not a timeout.
                await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
            }

            publishes.Add(client.PublishAsync(phase, i, bodies[i]));
        }

        await Task.WhenAll(publishes);
        await phase.WaitAsync(TimeSpan.FromSeconds(Math.Max(90, count / 5.0)));
        var (busy, steal) = ProcStat.MachineUse(machineBefore, ProcStat.MachineCpu());
        var received = Enumerable.Range(0, count).Where(i => phase.Received[i] != 0).ToList();
        var first = phase.Published.Min();
        var seconds = ((received.Count > 0 ? received.Max(i => phase.Received[i]) : first) - first) / (double)Stopwatch.Frequency;
        return new ComparePhase(received.Count / Math.Max(seconds, 1e-9), Stats.Latency(phase.LatenciesMs().ToList()), count - received.Count, phase.Failed, busy, steal);
    }
}

/// <summary>One worker build under comparison: where its published worker and its source tree are.</summary>
public sealed record CompareSide(string Label, string Commit, string WorkerDll, string Root);

/// <summary>What one phase measured.</summary>
public sealed record ComparePhase(double Throughput, LatencyStats Latency, int Missing, int Failed, double MachineBusyCores, double StealPercent);

/// <summary>One worker run: its saturation phase and its phase at 10 % load.</summary>
public sealed record CompareRun(int Pair, string Corpus, string Side, ComparePhase Saturation, ComparePhase Paced, double PacedRate, string LoadAverage);

public sealed record CompareConditions(DateTime Started, DateTime Ended, string LoadAtStart, string LoadAtEnd, string Cpu, int Cores, int Pairs, BenchSettings Settings, string Python);
