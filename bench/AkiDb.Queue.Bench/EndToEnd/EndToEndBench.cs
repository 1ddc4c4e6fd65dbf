using System.Diagnostics;
using System.Globalization;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.EndToEnd;

/// <summary>
/// Sections 4-5: publish to <c>EmbedCompleted</c> received, through a real RabbitMQ and the worker as a separate
/// process. Every scenario (configuration x corpus x load) gets a fresh virtual host and a fresh worker, warmed up
/// with <see cref="BenchSettings.WarmupMessages"/> messages before the measured phase, so queues start empty and no
/// phase measures a cold process.
/// </summary>
internal sealed class EndToEndBench(BenchSettings settings, IReadOnlyList<Corpus> corpora, BrokerFixture broker, string brokerDescription, string pythonPath)
{
    private static readonly Dictionary<string, Dictionary<string, string>> ConfigSettings = new()
    {
        // The defaults: one single-threaded bridge process per core.
        [Configs.Python] = [],
        [Configs.Native] = new() { ["Embedding__Backend"] = "native" },
        [Configs.Narrow] = new() { ["Batching__AdaptiveParallelism"] = "false" },
        [Configs.Pool] = new() { ["Bridge__Processes"] = "1", ["Bridge__IntraOpThreads"] = $"{Environment.ProcessorCount}" },
        [Configs.PythonInt8] = new() { ["Embedding__DefaultModel"] = "all-MiniLM-L6-v2-int8", ["Embedding__Models__all-MiniLM-L6-v2-int8__LoadAtStartup"] = "true" },
    };

    private readonly Dictionary<string, Dictionary<string, string>> _configSettings = new(ConfigSettings)
    {
        // The same, without probing every python3 on PATH (here the first is a pyenv shim) for numpy at start-up.
        [Configs.PythonPathSet] = new() { ["Bridge__PythonPath"] = pythonPath },
    };

    private readonly string _run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
    private int _scenarios;

    public async Task<EndToEndResults> RunAsync()
    {
        Log.Section("Section 4: end to end through RabbitMQ (publish -> EmbedCompleted received)");
        var phases = new List<PhaseResult>();
        foreach (var corpus in corpora.Where(_ => Wanted(Configs.Python)))
        {
            var saturation = await TryScenarioAsync(Configs.Python, corpus, null);
            if (saturation is null)
            {
                continue;
            }

            phases.Add(saturation);
            foreach (var fraction in settings.LoadFractions)
            {
                phases.AddRange(await TryScenarioAsync(Configs.Python, corpus, (fraction, fraction * saturation.ThroughputPerSecond)) is { } p ? [p] : []);
            }
        }

        // Each alternative side by side with the default, corpus by corpus.
        foreach (var corpus in corpora)
        {
            foreach (var config in new[] { Configs.Narrow, Configs.Native, Configs.Pool }.Where(Wanted))
            {
                if (config == Configs.Pool && corpus.Name == "mixed")
                {
                    continue;
                }

                phases.AddRange(await TryScenarioAsync(config, corpus, null) is { } p ? [p] : []);
            }
        }

        // int8 side by side with fp32: saturation and 10 % of its own saturation, every corpus.
        foreach (var corpus in corpora.Where(_ => Wanted(Configs.PythonInt8)))
        {
            if (await TryScenarioAsync(Configs.PythonInt8, corpus, null) is { } saturation)
            {
                phases.Add(saturation);
                phases.AddRange(await TryScenarioAsync(Configs.PythonInt8, corpus, (0.10, 0.10 * saturation.ThroughputPerSecond)) is { } p ? [p] : []);
            }
        }

        Log.Section("Section 5: cold start (process start -> \"worker ready\": bridge up, model loaded, broker connected)");
        var cold = new List<ColdStart>();
        // int8 last: its scenarios above have quantised and cached the file, so these starts only load it.
        foreach (var backend in new[] { Configs.Python, Configs.PythonPathSet, Configs.Native, Configs.PythonInt8 }.Where(c => settings.ColdStarts > 0 && Wanted(c)))
        {
            try
            {
                cold.Add(await ColdStartsAsync(backend));
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException or RabbitMQ.Client.Exceptions.RabbitMQClientException)
            {
                Log.Info($"cold start {backend} FAILED: {e.Message}");
            }
        }

        return new EndToEndResults(brokerDescription, phases, cold);
    }

    private bool Wanted(string config) => settings.EndToEndConfigs is not { Count: > 0 } only || only.Contains(config);

    /// <summary>A failed scenario is reported and left out; the rest of the run and the report go on.</summary>
    private async Task<PhaseResult?> TryScenarioAsync(string config, Corpus corpus, (double Fraction, double Rate)? pacing)
    {
        try
        {
            return await ScenarioAsync(config, corpus, pacing);
        }
        catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException or RabbitMQ.Client.Exceptions.RabbitMQClientException)
        {
            Log.Info($"{config} / {corpus.Name}: scenario FAILED: {e}");
            return null;
        }
    }

    private async Task<PhaseResult> ScenarioAsync(string config, Corpus corpus, (double Fraction, double Rate)? pacing)
    {
        var load = pacing is { } p ? $"{p.Fraction * 100:F0}%" : Configs.Saturation;
        var vhost = $"bench-{_run}-{++_scenarios:D2}-{config.Replace(' ', '-')}-{corpus.Name}-{load.TrimEnd('%')}";
        await broker.CreateVirtualHostNamedAsync(vhost);
        try
        {
            var url = broker.UrlFor(vhost);
            await using var worker = await StartWorkerAsync(vhost, url, config);
            await using var client = await LoadClient.ConnectAsync(url);
            var atReady = new MemoryUse(ProcStat.RssMiB(worker.Pid) ?? double.NaN, worker.BridgePids.Values.Select(pid => ProcStat.RssMiB(pid) ?? double.NaN).ToList());
            Log.Info($"{config} / {corpus.Name} / {load}: worker pid {worker.Pid} ready after {worker.ReadyAfter.TotalMilliseconds:F0} ms" +
                     (worker.BridgePids.Count > 0 ? $", bridge pid(s) {string.Join(", ", worker.BridgePids.OrderBy(b => b.Key).Select(b => b.Value))}" : "") +
                     $", vhost {vhost}");

            // Warm-up: bursts the worker must answer in full, for at least WarmupDuration, before the measurement starts.
            var warmClock = Stopwatch.StartNew();
            var warmed = 0;
            for (var round = 0; warmed < settings.WarmupMessages || warmClock.Elapsed < settings.WarmupDuration; round++)
            {
                var warm = Math.Min(Math.Max(settings.WarmupMessages, 64), corpus.Count);
                var prefix = $"w{round}-";
                var warmup = client.Begin(prefix, warm);
                var warmBodies = Enumerable.Range(0, warm).Select(i => LoadClient.Body(prefix, i, corpus.Texts[(corpus.Count - 1 - i) % corpus.Count].Text)).ToList();
                await Task.WhenAll(Enumerable.Range(0, warm).Select(i => client.PublishAsync(warmup, i, warmBodies[i])));
                if (!await warmup.WaitAsync(TimeSpan.FromMinutes(2)))
                {
                    throw new InvalidOperationException($"Warm-up of {vhost}: {warmup.ReceivedCount} of {warm} results after 2 minutes.");
                }

                warmed += warm;
            }

            Log.Info($"{config} / {corpus.Name} / {load}: warmed up with {warmed} messages in {warmClock.Elapsed.TotalSeconds:F0} s");

            var count = pacing is { } r
                ? (int)Math.Max(settings.Quick ? 5 : 20, Math.Round(r.Rate * Math.Clamp(settings.MinSamples / r.Rate, settings.MinRateDuration.TotalSeconds, settings.MaxRateDuration.TotalSeconds)))
                : corpus.Count;
            var bodies = Enumerable.Range(0, count).Select(i => LoadClient.Body("m-", i, corpus.Texts[i % corpus.Count].Text)).ToList();
            var bridgePids = worker.BridgePids.Values.ToList();
            var before = CpuSnapshot.Take(worker.Pid, bridgePids, broker.BeamPid);
            var phase = client.Begin("m-", count);
            var lags = new List<double>(count);
            var publishes = new List<Task>(count);
            if (pacing is { } rate)
            {
                Log.Info($"{config} / {corpus.Name} / {load}: publishing {count} messages at {rate.Rate:F1}/s ({count / rate.Rate:F1} s)");
                var period = Stopwatch.Frequency / rate.Rate;
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < count; i++)
                {
                    var due = start + (long)(i * period);
                    var wait = due - Stopwatch.GetTimestamp();
                    if (wait > 0)
                    {
                        // Paced publishing: the only sleep in the benchmark that is not a timeout.
                        await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
                    }

                    lags.Add((Stopwatch.GetTimestamp() - due) * 1000.0 / Stopwatch.Frequency);
                    publishes.Add(client.PublishAsync(phase, i, bodies[i]));
                }
            }
            else
            {
                Log.Info($"{config} / {corpus.Name} / {load}: publishing all {count} messages at once");
                for (var i = 0; i < count; i++)
                {
                    publishes.Add(client.PublishAsync(phase, i, bodies[i]));
                }
            }

            await Task.WhenAll(publishes);
            var patience = TimeSpan.FromSeconds(Math.Max(90, count / 5.0));
            var complete = await phase.WaitAsync(patience);
            var after = CpuSnapshot.Take(worker.Pid, bridgePids, broker.BeamPid);
            var memory = new MemoryUse(ProcStat.RssMiB(worker.Pid) ?? double.NaN, bridgePids.Select(pid => ProcStat.RssMiB(pid) ?? double.NaN).ToList());

            MemoryUse? afterIdle = null;
            var idle = TimeSpan.Zero;
            if (config == Configs.Python && corpus.Name == "mixed" && pacing is null)
            {
                // The memory target: after the burst and a quiet minute. The worker is left alone; this wait is the measurement.
                idle = settings.Quick ? TimeSpan.FromSeconds(12) : TimeSpan.FromSeconds(60);
                Log.Info($"{config} / {corpus.Name} / {load}: RSS right after the phase {memory.Describe()}; idling {idle.TotalSeconds:F0} s");
                await Task.Delay(idle);
                afterIdle = new MemoryUse(ProcStat.RssMiB(worker.Pid) ?? double.NaN, bridgePids.Select(pid => ProcStat.RssMiB(pid) ?? double.NaN).ToList());
                Log.Info($"{config} / {corpus.Name} / {load}: RSS after {idle.TotalSeconds:F0} s idle {afterIdle.Describe()}");
            }

            var received = Enumerable.Range(0, count).Where(i => phase.Received[i] != 0).ToList();
            var first = phase.Published.Min();
            var last = received.Count > 0 ? received.Max(i => phase.Received[i]) : first;
            var duration = (last - first) / (double)Stopwatch.Frequency;
            var latency = Stats.Latency(phase.LatenciesMs().ToList());
            var result = new PhaseResult(config, corpus.Name, load, pacing?.Fraction ?? 1.0, pacing?.Rate ?? double.NaN, count, duration,
                received.Count / Math.Max(duration, 1e-9), latency,
                Stats.Median(received.Select(i => phase.QueuedMs[i])), Stats.Percentile(received.Select(i => phase.QueuedMs[i]), 99),
                Stats.Median(received.Select(i => phase.InferenceMs[i])), Stats.Percentile(received.Select(i => phase.InferenceMs[i]), 99),
                lags.Count > 0 ? Stats.Percentile(lags, 99) : double.NaN,
                phase.Failed, count - received.Count, CpuSnapshot.Between(before, after), memory, worker.ReadyAfter.TotalMilliseconds, vhost)
            {
                MemoryAtReady = atReady, MemoryAfterIdle = afterIdle, IdleSeconds = idle.TotalSeconds,
            };
            Log.Info($"{config} / {corpus.Name} / {load}: {result.ThroughputPerSecond:F1} msg/s over {duration:F1} s; latency p50 {latency.P50:F1} ms, p95 {latency.P95:F1} ms, " +
                     $"p99 {latency.P99:F1} ms, max {latency.Max:F1} ms ({latency.Samples} samples); worker-reported median queued {result.QueuedMsP50:F1} ms, inference {result.InferenceMsP50:F1} ms" +
                     (lags.Count > 0 ? $"; pacer lag p99 {result.PacerLagP99Ms:F2} ms" : "") +
                     (complete ? "" : $"; {result.Missing} RESULTS MISSING after {patience.TotalSeconds:F0} s") + (result.Failed > 0 ? $"; {result.Failed} FAILED" : ""));
            var cpu = result.Cpu;
            Log.Info($"{config} / {corpus.Name} / {load}: CPU in cores - worker {cpu.WorkerCores:F2}, bridge {cpu.BridgeCores:F2}, broker {cpu.BrokerCores:F2}, bench {cpu.BenchCores:F2}; " +
                     $"machine busy {cpu.MachineBusyCores:F2} of {Environment.ProcessorCount} (other processes {cpu.OtherCores:F2}), steal {cpu.StealPercent:F1} %; RSS worker {memory.WorkerRssMiB:F0} MiB" +
                     (memory.BridgeRssMiB.Count > 0 ? $", bridge {string.Join(" + ", memory.BridgeRssMiB.Select(m => m.ToString("F0", CultureInfo.InvariantCulture)))} MiB" : ""));
            return result;
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }
    }

    private async Task<ColdStart> ColdStartsAsync(string config)
    {
        var vhost = $"bench-{_run}-cold-{config.Replace(' ', '-')}";
        await broker.CreateVirtualHostNamedAsync(vhost);
        try
        {
            var ready = new List<double>();
            var self = new List<double>();
            var workerRss = new List<double>();
            var bridgeRss = new List<double>();
            var milestones = new List<IReadOnlyDictionary<string, double>>();
            for (var i = 0; i < settings.ColdStarts; i++)
            {
                await using var worker = await StartWorkerAsync($"{vhost}-{i + 1}", broker.UrlFor(vhost), config);
                ready.Add(worker.ReadyAfter.TotalMilliseconds);
                milestones.Add(worker.Milestones.ToDictionary());
                self.Add(worker.SelfReportedReadyMs ?? double.NaN);
                workerRss.Add(ProcStat.RssMiB(worker.Pid) ?? double.NaN);
                bridgeRss.AddRange(worker.BridgePids.Values.Select(pid => ProcStat.RssMiB(pid) ?? double.NaN));
                Log.Info($"cold start {config} #{i + 1}: \"worker ready\" after {ready[^1]:F0} ms (worker's own figure {self[^1]:F0} ms); RSS at ready: worker {workerRss[^1]:F0} MiB" +
                         (worker.BridgePids.Count > 0 ? $", bridge {bridgeRss[^1]:F0} MiB" : "") +
                         "; " + string.Join(", ", worker.Milestones.OrderBy(m => m.Value).Select(m => $"{m.Key} {m.Value:F0} ms")));
            }

            var steps = milestones.SelectMany(m => m.Keys).Distinct()
                .ToDictionary(k => k, k => Stats.Median(milestones.Where(m => m.ContainsKey(k)).Select(m => m[k])));
            var result = new ColdStart(config, ready, self, workerRss, bridgeRss, steps);
            Log.Info($"cold start {config}: median {result.Median:F0} ms over {ready.Count} starts");
            return result;
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }
    }

    /// <summary>CPU seconds of the processes involved, and the machine's counters, at one instant.</summary>
    /// <summary>The worker as deployed (published, ReadyToRun), stopped with SIGTERM as a deployment stops it; Ctrl+C kills it.</summary>
    private async Task<WorkerProcess> StartWorkerAsync(string name, string url, string config)
    {
        var workerSettings = new Dictionary<string, string?>
        {
            ["Embedding__CacheDirectory"] = Paths.ModelCache,
            // Many workers start one after another: no health endpoint holding a port between them.
            ["Health__Urls"] = "",
            // The warm-up sends the measured texts too: with the embedding cache on, the measured phase would be all cache
            // hits. Section 6 (docs/benchmarks-cache.md) measures the cache on its own.
            ["Cache__Enabled"] = "false",
        };
        foreach (var (key, value) in _configSettings[config])
        {
            workerSettings[key] = value;
        }

        var worker = await WorkerProcess.StartAsync(name, url, workerSettings, stopGrace: TimeSpan.FromSeconds(30), workerDll: Paths.WorkerDll, logDirectory: Paths.WorkerLogs);
        Cleanup.Track(worker.Pid);
        return worker;
    }

    private sealed record CpuSnapshot(long At, double Worker, double Bridges, double Broker, double Bench, (long Total, long Steal, long Idle) Machine)
    {
        public static CpuSnapshot Take(int worker, IReadOnlyList<int> bridges, int? broker) => new(
            Stopwatch.GetTimestamp(),
            ProcStat.CpuSeconds(worker) ?? 0,
            bridges.Sum(b => ProcStat.CpuSeconds(b) ?? 0),
            broker is { } b ? ProcStat.CpuSeconds(b) ?? 0 : double.NaN,
            Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds,
            ProcStat.MachineCpu());

        public static CpuUse Between(CpuSnapshot a, CpuSnapshot b)
        {
            var wall = (b.At - a.At) / (double)Stopwatch.Frequency;
            var (busy, steal) = ProcStat.MachineUse(a.Machine, b.Machine);
            return new CpuUse(wall, (b.Worker - a.Worker) / wall, (b.Bridges - a.Bridges) / wall, (b.Broker - a.Broker) / wall, (b.Bench - a.Bench) / wall,
                busy, steal);
        }
    }
}
