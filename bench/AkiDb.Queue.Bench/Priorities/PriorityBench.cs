using System.Diagnostics;
using System.Globalization;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.Priorities;

/// <summary>
/// Interactive next to bulk (<c>./bench.sh --priorities</c>): one worker, phases side by side in one run.
/// (1) interactive requests at a low rate on an idle worker; then, alternating, (2) a bulk backlog alone and (3) the
/// same backlog with the same interactive requests arriving while at least <see cref="PrioritySettings.MinWaiting"/>
/// bulk texts wait: alone first and last, <see cref="PrioritySettings.AlternatingRounds"/> mixed phases between, so the
/// machine's drift weighs on both sides alike (the alone phases' mean sits at the same time as the mixed phases').
/// Bulk throughput is counted over the same window after the backlog was queued in every phase.
/// </summary>
internal sealed class PriorityBench(PrioritySettings settings, Corpus corpus, BrokerFixture broker, string pythonPath)
{
    private int _interactivePhases;

    public async Task<PriorityResults> RunAsync()
    {
        Log.Section($"Priorities: {settings.BulkTexts} bulk texts queued, {settings.InteractiveRequests} interactive requests every {settings.InteractiveInterval.TotalMilliseconds:F0} ms");
        var vhost = "prio-" + DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
        await broker.CreateVirtualHostNamedAsync(vhost);
        try
        {
            var url = broker.UrlFor(vhost);
            var metricsPort = FreePorts.Take(1)[0];
            await using var client = await PriorityClient.ConnectAsync(url);
            LatencyStats idle;
            PhaseNumbers alone, mixed;
            double? longestPassOver;
            await using (var worker = await StartWorkerAsync(vhost, url, metricsPort))
            {
                var warm = await PublishBulkAsync(client, "warm-", settings.WarmupTexts);
                Check(await client.WaitForAsync(warm, settings.Patience), "warm-up");

                idle = Stats.Latency(await InteractiveAsync(client, "idle-"));
                Log.Info($"idle worker: interactive p50 {idle.P50:F1} / p95 {idle.P95:F1} / p99 {idle.P99:F1} ms");

                var alones = new List<(PhaseNumbers Numbers, List<double> Latencies)> { await BulkPhaseAsync(client, "alone-0", withInteractive: false) };
                var mixeds = new List<(PhaseNumbers Numbers, List<double> Latencies)>();
                for (var round = 1; round <= settings.AlternatingRounds; round++)
                {
                    mixeds.Add(await BulkPhaseAsync(client, $"mixed-{round}", withInteractive: true));
                    alones.Add(await BulkPhaseAsync(client, $"alone-{round}", withInteractive: false));
                }

                alone = Pool(alones);
                mixed = Pool(mixeds);
                Log.Info($"bulk alone {string.Join(", ", alones.Select(a => a.Numbers.BulkTextsPerSecond.ToString("F0", CultureInfo.InvariantCulture)))} texts/s, " +
                         $"with interactive {string.Join(", ", mixeds.Select(m => m.Numbers.BulkTextsPerSecond.ToString("F0", CultureInfo.InvariantCulture)))}: " +
                         $"{mixed.BulkTextsPerSecond / alone.BulkTextsPerSecond:F2}x; interactive p95 {mixed.Interactive!.P95:F1} ms over {mixed.Interactive.Samples} requests");
                longestPassOver = (await Metrics.ScrapeAsync(metricsPort)).Max("akidb_planner_longest_pass_over") * 1000;
            }

            // The same mixed phases with the second setting (by default bulk batches not capped): the latency-throughput trade.
            PhaseNumbers capped;
            var second = settings.SecondPhase ?? ($"Batching:BulkBatchTextsWhileInteractive={settings.SecondPhaseBulkBatchTexts}", (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?> { ["Batching:BulkBatchTextsWhileInteractive"] = settings.SecondPhaseBulkBatchTexts.ToString(CultureInfo.InvariantCulture) });
            await using (var worker = await StartWorkerAsync(vhost + "-second", url, metricsPort, second.Worker))
            {
                var warm = await PublishBulkAsync(client, "warm2-", settings.WarmupTexts);
                Check(await client.WaitForAsync(warm, settings.Patience), "warm-up");
                // As many mixed phases as on the first worker, latencies pooled: one window of 60 requests puts its p95
                // on the third slowest, too few to weigh two settings by.
                var seconds = new List<(PhaseNumbers Numbers, List<double> Latencies)>();
                for (var round = 1; round <= settings.AlternatingRounds; round++)
                {
                    seconds.Add(await BulkPhaseAsync(client, $"second-{round}", withInteractive: true));
                }

                capped = Pool(seconds);
                Log.Info($"  (second mixed phase: {second.Label})");
            }

            // Expired requests, published while no worker runs: half past their expiresAt (the worker answers them on
            // arrival), half with a 1 ms AMQP expiration (the broker expires them into embed-requested-expired). A fresh
            // worker then answers them all; it must not call the model once.
            var expiredIds = new List<string>();
            for (var i = 0; i < settings.ExpiredRequests; i++)
            {
                expiredIds.Add($"expired-{i}");
                await client.PublishExpiredAsync(expiredIds[^1], corpus.Texts[i % corpus.Count].Text, viaAmqpExpiration: i % 2 == 1);
            }

            double modelRows;
            await using (var worker = await StartWorkerAsync(vhost + "-2", url, metricsPort))
            {
                Check(await client.WaitForAsync(expiredIds, settings.Patience), "expired requests");
                modelRows = (await Metrics.ScrapeAsync(metricsPort)).Sum("akidb_batch_size", "_sum") ?? 0;
            }

            var results = new PriorityResults(
                settings.BulkTexts, settings.InteractiveRequests, settings.InteractiveInterval.TotalMilliseconds, settings.MaxPassOver.TotalMilliseconds,
                idle, alone, mixed, capped, settings.SecondPhaseBulkBatchTexts, expiredIds.Count, client.CodeCount(expiredIds, "expired"), modelRows, longestPassOver)
            {
                SecondPhaseLabel = second.Label,
                BulkTextsPerMessage = settings.BulkTextsPerMessage,
                AlternatingRounds = settings.AlternatingRounds,
            };
            Log.Info($"expired: {results.ExpiredAnswered}/{results.ExpiredRequests} answered expired; model rows spent on them: {results.ExtraModelRows}; longest pass-over {results.LongestPassOverMs:F0} ms");
            return results;
        }
        finally
        {
            await broker.DeleteVirtualHostAsync(vhost);
        }
    }

    /// <summary>Phases of one kind as one: the mean bulk rate, the backlog's smallest, the latencies together.</summary>
    private static PhaseNumbers Pool(List<(PhaseNumbers Numbers, List<double> Latencies)> phases) => new(
        phases.Average(p => p.Numbers.BulkTextsPerSecond),
        phases.Min(p => p.Numbers.WaitingAtStart),
        phases.Min(p => p.Numbers.WaitingAtEnd),
        phases[0].Numbers.Interactive is null ? null : Stats.Latency(phases.SelectMany(p => p.Latencies).ToList()),
        phases.Sum(p => p.Numbers.BulkFailed));

    private async Task<(PhaseNumbers Numbers, List<double> Latencies)> BulkPhaseAsync(PriorityClient client, string name, bool withInteractive)
    {
        var bulk = await PublishBulkAsync(client, name + "-bulk-", settings.BulkTexts);
        var windowStart = Stopwatch.GetTimestamp();
        var per = settings.BulkTextsPerMessage;
        var waitingAtStart = bulk.Count(id => client.ReceivedAt(id) is null) * per;
        var latencies = new List<double>();
        if (withInteractive)
        {
            latencies = await InteractiveAsync(client, name + "-query-");
        }
        else
        {
            await Task.Delay(settings.InteractiveInterval * settings.InteractiveRequests);
        }

        var windowEnd = windowStart + (long)((settings.InteractiveInterval * settings.InteractiveRequests).TotalSeconds * Stopwatch.Frequency);
        // The rest of the backlog is not needed: purge it, and wait for what the worker had already taken.
        var purged = await client.PurgeAsync();
        Check(await client.WaitForCountAsync(bulk, bulk.Count - (int)purged, settings.Patience), name + " bulk");
        var inWindow = bulk.Count(id => client.ReceivedAt(id) is { } at && at >= windowStart && at <= windowEnd) * per;
        var waitingAtEnd = bulk.Count(id => client.ReceivedAt(id) is not { } at || at > windowEnd) * per;
        var rate = inWindow / ((windowEnd - windowStart) / (double)Stopwatch.Frequency);
        var interactive = withInteractive ? Stats.Latency(latencies) : null;
        Log.Info($"{name}: bulk {rate:F1} texts/s in the window, {waitingAtStart} -> {waitingAtEnd} bulk texts waiting" +
                 (interactive is { } i ? $"; interactive p50 {i.P50:F1} / p95 {i.P95:F1} / p99 {i.P99:F1} ms" : ""));
        return (new PhaseNumbers(rate, waitingAtStart, waitingAtEnd, interactive, client.Failed(bulk)), latencies);
    }

    private async Task<WorkerProcess> StartWorkerAsync(string name, string url, int metricsPort, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var workerSettings = new Dictionary<string, string?>
        {
            ["Bridge:PythonPath"] = pythonPath,
            ["Telemetry:PrometheusUrl"] = $"http://127.0.0.1:{metricsPort}/",
            ["Batching:MaxPassOver"] = settings.MaxPassOver.ToString("c", CultureInfo.InvariantCulture),
            ["Embedding:CacheDirectory"] = Paths.ModelCache,
            ["Health:Urls"] = "",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            workerSettings[key] = value;
        }

        var worker = await WorkerProcess.StartAsync(name, url, workerSettings, stopGrace: TimeSpan.FromSeconds(30), workerDll: Paths.WorkerDll, logDirectory: Paths.WorkerLogs);
        Cleanup.Track(worker.Pid);
        Log.Info($"worker pid {worker.Pid} ready after {worker.ReadyAfter.TotalMilliseconds:F0} ms");
        return worker;
    }

    private async Task<List<double>> InteractiveAsync(PriorityClient client, string prefix)
    {
        var ids = new List<string>();
        var phase = _interactivePhases++;
        var tick = Stopwatch.GetTimestamp();
        for (var i = 0; i < settings.InteractiveRequests; i++)
        {
            ids.Add(prefix + i.ToString(CultureInfo.InvariantCulture));
            // A new query in every phase: a text seen in an earlier phase would be answered from the cache, without the
            // model, and the phases would no longer compare like with like.
            var query = (phase * settings.InteractiveRequests) + i;
            await client.PublishAsync(ids[^1], $"query {i}: {corpus.Texts[(query * 7) % corpus.Count].Text}", interactive: true);
            // Paced on a fixed schedule from the start, so a slow publish does not shift the rest.
            tick += (long)(settings.InteractiveInterval.TotalSeconds * Stopwatch.Frequency);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), tick);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
        }

        Check(await client.WaitForAsync(ids, settings.Patience), prefix + " interactive");
        if (client.Failed(ids) is > 0 and var failed)
        {
            throw new InvalidOperationException($"{failed} interactive requests failed");
        }

        return ids.Select(id => client.LatencyMs(id)!.Value).ToList();
    }

    /// <summary>Publishes <paramref name="count"/> bulk texts in messages of <see cref="PrioritySettings.BulkTextsPerMessage"/>; returns the messages' ids.</summary>
    private async Task<List<string>> PublishBulkAsync(PriorityClient client, string prefix, int count)
    {
        var per = settings.BulkTextsPerMessage;
        var ids = Enumerable.Range(0, count / per).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)).ToList();
        // Distinct texts: a repeated one would be computed once per batch and flatter the throughput.
        await Parallel.ForEachAsync(Enumerable.Range(0, ids.Count), new ParallelOptions { MaxDegreeOfParallelism = 64 },
            async (m, _) => await client.PublishAsync(ids[m], Enumerable.Range(m * per, per).Select(i => $"{prefix}{i}: {corpus.Texts[i % corpus.Count].Text}").ToArray(), interactive: false));
        return ids;
    }

    private static void Check(bool arrived, string what)
    {
        if (!arrived)
        {
            throw new InvalidOperationException($"not every result of the {what} phase arrived in time");
        }
    }
}
