using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Bench.Priorities;
using AkiDb.Queue.Bench.UserPath;
using AkiDb.Queue.Testing;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// The path around the model (<c>./bench.sh --path</c>), the four targets of issue 23 side by side in one run:
/// <list type="number">
/// <item><c>akidb-queue embed</c> of the same short texts, first pass (worker A, empty Redis) and re-ingestion
/// (worker B, a fresh process sharing that Redis), against the in-process fp32 limit measured between them; per
/// process CPU seconds (/proc) and per stage (the worker's <c>akidb.request.stage</c>) over each pass;</item>
/// <item>lone short requests one at a time against one all-core in-process inference of the same texts, with the
/// worker's stages;</item>
/// <item>interactive behind a bulk backlog (the priorities scenario, <see cref="PriorityBench"/>);</item>
/// <item>RSS and PSS of the worker and its bridges 10 s after a burst of mixed lengths.</item>
/// </list>
/// </summary>
internal sealed class PathBench(BenchSettings settings, ModelFiles model, CorpusBuilder builder, BrokerFixture broker, string pythonPath)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);
    private const string RedisTimeout = "00:00:01"; // as the cache section: a loaded 2-core machine, see CacheBench
    private readonly string _run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
    private int _workers;

    private int EmbedTexts => settings.Quick ? 1_000 : 20_000;

    private int LoneRequests => settings.Quick ? 20 : 200;

    // Two rounds, not the benchmark's usual three: each round is two 20,000-text passes and two fresh workers (minutes on 2 cores).
    private int Rounds => settings.PathLatencyOnly ? 0 : settings.Quick ? 1 : Math.Min(settings.Repetitions, 2);

    public async Task<PathResults> RunAsync()
    {
        var cli = Path.Combine(Paths.Root, "src", "Cli", "bin", "Release", "net10.0", "akidb-queue.dll");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"{cli} is missing: build it with dotnet build src/Cli -c Release (bench.sh does).");
        }

        var shortTexts = builder.BuildShort(settings.ShortTexts).Texts.Select(t => t.Text).ToList();
        // Numbered repeats keep every text distinct (as the user-path section does) at about the same length.
        var texts = Enumerable.Range(0, EmbedTexts)
            .Select(i => i < shortTexts.Count ? shortTexts[i] : $"{i / shortTexts.Count}. {shortTexts[i % shortTexts.Count]}")
            .ToList();
        var input = Path.Combine(Paths.Artifacts, "path-input.jsonl");
        Directory.CreateDirectory(Paths.Artifacts);
        await File.WriteAllLinesAsync(input, texts.Select((t, i) => JsonSerializer.Serialize(new { id = $"t{i}", text = t })));
        var limitCorpus = new Corpus("path", "the embed texts", texts.Take(settings.Quick ? 500 : 2_000).Select(t => new CorpusText(t, model.Tokenizer.Encode(t).Ids)).ToList());

        Log.Section(Rounds == 0 ? "Path around the model: the in-process fp32 limit (--path-latency: no embed passes)" : $"Path around the model: embed of {texts.Count} short texts, first pass and re-ingestion through a second worker sharing Redis, {Rounds} rounds");
        using var native = new NativeModelSession(model.Definition, Environment.ProcessorCount, [ExecutionProvider.CPU], new NativeOptions().AllowSpinning);
        var batches = limitCorpus.SortedBatches(32, model.Name);
        foreach (var b in batches.Take(8))
        {
            native.Run(b); // warm-up
        }

        // The limit as every section defines it (the int8 section's LimitSessions): the faster of intra-op threads on every
        // core and one single-threaded lane per core, each pass. Intra-op threads alone measured 627-687 texts/s where
        // lanes did about 1,000 on the same machine, which flattered every ratio against the limit.
        using var limitSessions = new LimitSessions(model.Definition, Environment.ProcessorCount, new NativeOptions().AllowSpinning);
        limitSessions.Best([.. batches.Take(8)]); // warm-up

        await using var redis = await PrivateRedis.StartAsync();
        Cleanup.Track(redis.Pid!.Value);
        var passes = new List<EmbedPass>();
        var limits = new List<double>();
        for (var round = 0; round < Rounds; round++)
        {
            limits.Add(limitCorpus.Count / limitSessions.Best(batches).Wall);
            Log.Info($"  round {round + 1} in-process fp32 limit: {limits[^1]:F0} texts/s");
            await redis.FlushAsync();
            passes.Add(await EmbedPassAsync("first", round, cli, input, texts.Count, redis));
            passes.Add(await EmbedPassAsync("cached", round, cli, input, texts.Count, redis));
        }

        limits.Add(limitCorpus.Count / limitSessions.Best(batches).Wall);
        Log.Info($"  in-process fp32 limit after the passes: {limits[^1]:F0} texts/s");

        var (lone, loneCached, loneRpc, inference, memory) = await LoneAndMemoryAsync(native, shortTexts);

        PriorityResults? priorities = null;
        try
        {
            // Bulk as `akidb-queue embed` sends it, 16 texts a message; the second mixed phase is the same with bulk batches
            // not capped to Batching:BulkBatchTextsWhileInteractive while interactive requests arrive (the default before).
            var prioritySettings = PrioritySettings.For(settings.Quick) with
            {
                BulkTextsPerMessage = 16,
                SecondPhase = ("Batching:BulkBatchTextsWhileInteractive=0, bulk batches of up to 32 texts (the default before)",
                    new Dictionary<string, string?> { ["Batching:BulkBatchTextsWhileInteractive"] = "0" }),
            };
            priorities = await new PriorityBench(prioritySettings, builder.BuildShort(settings.ShortTexts), broker, pythonPath).RunAsync();
        }
        catch (InvalidOperationException e)
        {
            Log.Info($"  priorities FAILED: {e.Message}");
        }

        return new PathResults(texts.Count, Rounds, limits, passes, lone, loneCached, inference, priorities, memory) { LoneRpc = loneRpc };
    }

    private async Task<EmbedPass> EmbedPassAsync(string kind, int round, string cli, string input, int count, PrivateRedis redis)
    {
        var vhost = $"bench-{_run}-path-{round}";
        if (kind == "first")
        {
            await broker.CreateVirtualHostNamedAsync(vhost);
        }

        var url = broker.UrlFor(vhost);
        var metricsPort = FreePorts.Take(1)[0];
        await using var worker = await StartWorkerAsync($"path-{kind}-{round}", url, metricsPort, new() { ["Cache:Redis"] = redis.Configuration, ["Cache:RedisTimeout"] = RedisTimeout });
        await using (var client = await DrainClient.ConnectAsync(url))
        {
            // A fresh worker compiles its hot paths during its first thousands of texts; these warm it, not the cache.
            var warm = Enumerable.Range(0, settings.Quick ? 64 : 1_500).Select(i => $"warm {kind} {round}.{i}: the quick brown fox {i} jumps").ToList();
            await client.RunAsync($"warm-{kind}-{round}-", warm, null, 16, Patience);
        }

        var stagesBefore = await StageMetrics.ScrapeAsync(metricsPort);
        var processes = new List<(string, int)> { ("worker", worker.Pid), ("redis", redis.Pid!.Value), ("benchmark", Environment.ProcessId) };
        if (broker.BeamPid is { } beam)
        {
            processes.Add(("broker", beam));
        }

        processes.AddRange(worker.BridgePids.Values.Select(pid => ("bridges", pid)));
        var cpu = ProcessCpu.Start(processes);
        var run = await EmbedCli.RunAsync(cli, input, url, $"path-{kind}-{round}");
        var (seconds, busy) = cpu.Stop("cli");
        var stages = (await StageMetrics.ScrapeAsync(metricsPort)).TotalSince(stagesBefore);
        Log.Info($"  round {round + 1} embed {kind,-6}: {run.Seconds:F2} s ({count / run.Seconds:F0} texts/s, exit {run.ExitCode}, {run.Lines} lines{(run.InOrder ? "" : ", NOT IN ORDER")}); CPU s: " +
                 string.Join(", ", seconds.Select(s => $"{s.Key} {s.Value:F2}")) + $"; machine busy {busy:F2} cores");
        if (kind == "cached")
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }

        return new EmbedPass(kind, round, run.Seconds, count / run.Seconds, run.ExitCode == 0 && run.Lines == count && run.InOrder, seconds, busy, stages);
    }

    private async Task<(LoneResults Lone, LoneResults Cached, LoneResults Rpc, LatencyStats Inference, MemoryResults Memory)> LoneAndMemoryAsync(NativeModelSession native, List<string> shortTexts)
    {
        Log.Section($"Path around the model: {LoneRequests} lone short requests, one at a time; memory after a mixed burst");
        var loneTexts = Enumerable.Range(0, LoneRequests).Select(i => $"lone {i}: {shortTexts[(i * 13) % shortTexts.Count]}").ToList();
        // One all-core inference of each text alone, in process: the floor a lone request's latency is held against.
        var inferenceMs = new List<double>();
        foreach (var text in loneTexts.Concat(loneTexts))
        {
            var batch = Corpus.ToBatch([new CorpusText(text, model.Tokenizer.Encode(text).Ids)], model.Name);
            var clock = Stopwatch.StartNew();
            native.Run(batch);
            inferenceMs.Add(clock.Elapsed.TotalMilliseconds);
        }

        var inference = Stats.Latency(inferenceMs.Skip(loneTexts.Count).ToList()); // the first pass warms

        var vhost = $"bench-{_run}-path-lone";
        await broker.CreateVirtualHostNamedAsync(vhost);
        try
        {
            var url = broker.UrlFor(vhost);
            var metricsPort = FreePorts.Take(1)[0];
            await using var worker = await StartWorkerAsync("path-lone", url, metricsPort, []);
            await using var client = await PriorityClient.ConnectAsync(url);
            var warm = Enumerable.Range(0, settings.Quick ? 64 : 1_500).Select(i => $"warm-{i}").ToList();
            await Parallel.ForEachAsync(warm, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (id, _) => await client.PublishAsync(id, $"{id}: a warm-up text", interactive: false));
            await client.WaitForAsync(warm, Patience);
            for (var i = 0; i < 20; i++)
            {
                await OneAsync(client, $"warm-lone-{i}", $"warm lone {i}");
            }

            var lone = await LonePhaseAsync(client, metricsPort, "lone-", loneTexts);
            var cached = await LonePhaseAsync(client, metricsPort, "lone-again-", loneTexts);
            Log.Info($"  lone requests: p50 {lone.Latency.P50:F1} / p95 {lone.Latency.P95:F1} ms; cached p50 {cached.Latency.P50:F1} ms; one all-core inference p50 {inference.P50:F1} / p95 {inference.P95:F1} ms");

            // A burst of mixed lengths (up to 256 tokens), then 10 s of quiet, then the worker's and bridges' memory.
            var mixed = builder.BuildMixed(settings.Quick ? 64 : 400).Texts;
            var ids = Enumerable.Range(0, mixed.Count).Select(i => $"burst-{i}").ToList();
            var burstPeak = new MemorySample(0, 0);
            var sampling = Task.Run(async () =>
            {
                while (ids.Any(id => client.ReceivedAt(id) is null))
                {
                    var s = MemorySample.Of(worker);
                    burstPeak = burstPeak.Rss < s.Rss ? s : burstPeak;
                    await Task.Delay(100);
                }
            });
            await Parallel.ForEachAsync(Enumerable.Range(0, mixed.Count), new ParallelOptions { MaxDegreeOfParallelism = 32 },
                async (i, _) => await client.PublishAsync(ids[i], mixed[i].Text, interactive: false));
            await client.WaitForAsync(ids, Patience);
            await sampling;
            await Task.Delay(TimeSpan.FromSeconds(10)); // the target's wording: 10 s after the burst
            var after = MemorySample.Of(worker);
            Log.Info($"  memory: worker + bridges peak {burstPeak.Rss:F0} MiB RSS during the burst; 10 s after: {after.Rss:F0} MiB RSS, {after.Pss:F0} MiB PSS");

            // The RPC caller's path (reply_to, nothing bound to the result exchanges once the client above is gone):
            // the reply goes out before the result's publish to its exchange, which is then not mandatory, so
            // nothing is parked. New texts ("rpc" in front), so the in-process cache does not answer them.
            await client.DisposeAsync();
            await using var rpc = await RpcClient.ConnectAsync(url);
            for (var i = 0; i < 20; i++)
            {
                await rpc.CallAsync($"warm-rpc-{i}", $"warm rpc {i}", Patience);
            }

            var before = await StageMetrics.ScrapeAsync(metricsPort);
            var rpcLatencies = new List<double>();
            for (var i = 0; i < loneTexts.Count; i++)
            {
                rpcLatencies.Add(await rpc.CallAsync($"rpc-{i}", "rpc " + loneTexts[i], Patience));
            }

            var rpcLone = new LoneResults(Stats.Latency(rpcLatencies), (await StageMetrics.ScrapeAsync(metricsPort)).MeanSince(before));
            Log.Info($"  lone RPC requests (direct reply-to, nothing bound): p50 {rpcLone.Latency.P50:F1} / p95 {rpcLone.Latency.P95:F1} ms");
            return (lone, cached, rpcLone, inference, new MemoryResults(mixed.Count, burstPeak.Rss, after.Rss, after.Pss, after.Parts));
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }
    }

    private static async Task<LoneResults> LonePhaseAsync(PriorityClient client, int metricsPort, string prefix, List<string> texts)
    {
        var before = await StageMetrics.ScrapeAsync(metricsPort);
        var latencies = new List<double>();
        for (var i = 0; i < texts.Count; i++)
        {
            latencies.Add(await OneAsync(client, prefix + i.ToString(CultureInfo.InvariantCulture), texts[i]));
        }

        return new LoneResults(Stats.Latency(latencies), (await StageMetrics.ScrapeAsync(metricsPort)).MeanSince(before));
    }

    private static async Task<double> OneAsync(PriorityClient client, string id, string text)
    {
        await client.PublishAsync(id, text, interactive: false);
        if (!await client.WaitForAsync([id], Patience))
        {
            throw new InvalidOperationException($"no result for {id}");
        }

        return client.LatencyMs(id)!.Value;
    }

    private async Task<WorkerProcess> StartWorkerAsync(string name, string url, int metricsPort, Dictionary<string, string?> extra)
    {
        var workerSettings = new Dictionary<string, string?>
        {
            ["Bridge:PythonPath"] = pythonPath,
            ["Telemetry:PrometheusUrl"] = $"http://127.0.0.1:{metricsPort}/",
            ["Embedding:CacheDirectory"] = Paths.ModelCache,
            ["Health:Urls"] = "",
        };
        foreach (var (k, v) in extra)
        {
            workerSettings[k] = v;
        }

        var worker = await WorkerProcess.StartAsync($"{name}-{++_workers}", url, workerSettings, stopGrace: TimeSpan.FromSeconds(30), workerDll: Paths.WorkerDll, logDirectory: Paths.WorkerLogs);
        Cleanup.Track(worker.Pid);
        return worker;
    }
}
