using System.Globalization;
using System.Text;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Priorities;
using AkiDb.Queue.Bench.Report;

namespace AkiDb.Queue.Bench.AroundModel;

/// <param name="Seconds">Wall time of <c>akidb-queue embed</c>, start to exit.</param>
/// <param name="CpuSeconds">CPU seconds per process over the pass (cli, broker, worker, bridges, redis, benchmark).</param>
/// <param name="StageTotalsMs">The worker's <c>akidb.request.stage</c> milliseconds, summed over the pass's requests.</param>
internal sealed record EmbedPass(string Kind, int Round, double Seconds, double TextsPerSecond, bool EveryLineInOrder,
    IReadOnlyDictionary<string, double> CpuSeconds, double BusyCores, IReadOnlyDictionary<string, double> StageTotalsMs);

/// <param name="StageMeansMs">Mean milliseconds per request in each of the worker's stages.</param>
internal sealed record LoneResults(LatencyStats Latency, IReadOnlyDictionary<string, double> StageMeansMs);

internal sealed record MemoryResults(int BurstTexts, double PeakRssMiB, double RssMiB, double PssMiB, IReadOnlyList<string>? Parts);

internal sealed record PathResults(int Texts, int Rounds, IReadOnlyList<double> Limits, IReadOnlyList<EmbedPass> Passes,
    LoneResults Lone, LoneResults LoneCached, LatencyStats Inference, PriorityResults? Priorities, MemoryResults Memory)
{
    /// <summary>Lone requests as RPC calls (direct reply-to, nothing bound); absent from runs before it was measured.</summary>
    public LoneResults? LoneRpc { get; init; }

    private static readonly string[] ProcessOrder = ["cli", "broker", "worker", "bridges", "redis", "benchmark"];

    private IEnumerable<EmbedPass> Of(string kind) => Passes.Where(p => p.Kind == kind);

    /// <summary>Per round: the pass's rate over the mean of the limits measured just before and just after it.</summary>
    private List<double> Ratios(string kind) => Of(kind).Select(p => p.TextsPerSecond / LimitAround(p)).ToList();

    /// <summary>The mean of the limits measured just before and just after a pass.</summary>
    private double LimitAround(EmbedPass pass) => (Limits[pass.Round] + Limits[pass.Round + 1]) / 2;

    /// <summary>Each target: what was measured, met or not (null: not measured), and the measured reason.</summary>
    public IReadOnlyList<TargetRow> Targets()
    {
        var limit = Stats.Median(Limits);
        var list = new List<TargetRow>();
        if (Passes.Count == 0)
        {
            const string skipped = "not measured (`--path-latency` leaves the embed passes out)";
            list.Add(new(ReingestionTarget, skipped, null, "-"));
            list.Add(new(FirstPassTarget, skipped, null, "-"));
        }
        else
        {
            var first = Stats.Median(Ratios("first"));
            var cached = Stats.Median(Ratios("cached"));
            list.Add(new(ReingestionTarget,
                F($"{cached:F2}x ({Stats.Median(Of("cached").Select(p => p.TextsPerSecond)):F0} texts/s against {limit:F0}; rounds {string.Join(", ", Ratios("cached").Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))})"),
                cached >= 5, PassWhy("cached")));
            list.Add(new(FirstPassTarget,
                F($"{first:F2}x ({Stats.Median(Of("first").Select(p => p.TextsPerSecond)):F0} texts/s; rounds {string.Join(", ", Ratios("first").Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))})"),
                first >= 0.95, PassWhy("first") + " " + ModelShareWhy()));
        }

        var loneWhy = LoneWhy();
        list.Add(new("Lone short request p95 at most one all-core inference + 5 ms",
            F($"{Lone.Latency.P95:F1} ms against {Inference.P95:F1} + 5 = {Inference.P95 + 5:F1} ms"), Lone.Latency.P95 <= Inference.P95 + 5, loneWhy));
        list.Add(new("Lone short request median at most one all-core inference + 3 ms",
            F($"{Lone.Latency.P50:F1} ms against {Inference.P50:F1} + 3 = {Inference.P50 + 3:F1} ms"), Lone.Latency.P50 <= Inference.P50 + 3, loneWhy));
        if (Priorities is { Mixed.Interactive: { } mixed } p)
        {
            var ratio = mixed.P95 / p.Idle.P95;
            var bulk = p.Mixed.BulkTextsPerSecond / p.BulkAlone.BulkTextsPerSecond;
            var why = F($"Idle p50 {p.Idle.P50:F1} / p95 {p.Idle.P95:F1} ms; behind the backlog p50 {mixed.P50:F1} / p95 {mixed.P95:F1} ms, {p.Mixed.WaitingAtEnd} bulk texts still waiting at the window's end. ") +
                      "An interactive message is delivered only when a held bulk message is acknowledged (every prefetch slot holds one), then waits for a lane: while interactive requests arrive, bulk batches hold at most 8 texts (Batching:BulkBatchTextsWhileInteractive) taken from the oldest first (Batching:FillWindowBatches), so a held 16-text message finishes about every second batch and a lane frees within one short batch. " +
                      F($"The idle p95 is itself one short inference plus the path ({Lone.Latency.P95:F1} ms for a lone request here), so 3x it leaves about two short bulk batches' time, and bulk messages of 16 texts at the bulk rate here are answered {16000.0 / p.Mixed.BulkTextsPerSecond:F0} ms apart on average.") +
                      (p.Capped.Interactive is { } before ? F($" Same run, {p.SecondPhaseLabel}: p95 {before.P95:F1} ms ({before.P95 / p.Idle.P95:F2}x idle), bulk {p.Capped.BulkTextsPerSecond:F0} texts/s.") : "");
            list.Add(new("Interactive p95 behind the bulk backlog at most 3x its idle p95", F($"{ratio:F2}x ({mixed.P95:F1} ms against {p.Idle.P95:F1} ms idle)"), ratio <= 3, why));
            list.Add(new("Bulk throughput with interactive requests at least 0.9x bulk alone",
                F($"{bulk:F2}x ({p.Mixed.BulkTextsPerSecond:F0} against {p.BulkAlone.BulkTextsPerSecond:F0} texts/s)"), bulk >= 0.9,
                F($"Bulk alone and bulk with interactive requests alternate on the same worker, alone first and last ({p.AlternatingRounds} mixed phases), so drift on the shared machine weighs on both; smaller bulk batches while interactive requests arrive are the cost.") +
                (p.Capped is { Interactive: not null } c ? F($" Same run, {p.SecondPhaseLabel}: {c.BulkTextsPerSecond:F0} texts/s on a second worker, minutes later, so not weighed against these alone windows (the machine's rate drifts between them).") : "")));
        }
        else
        {
            list.Add(new("Interactive p95 behind the bulk backlog at most 3x its idle p95", "not measured (the priorities scenario failed)", null, "-"));
        }

        list.Add(new("Worker plus bridges at most 450 MiB RSS 10 s after a mixed burst", F($"{Memory.RssMiB:F0} MiB RSS ({Memory.PssMiB:F0} MiB PSS)"), Memory.RssMiB <= 450,
            F($"Peak {Memory.PeakRssMiB:F0} MiB RSS during the burst of {Memory.BurstTexts} mixed-length texts; 10 s after, per process RSS/PSS MiB: {string.Join(", ", Memory.Parts ?? [])}.")));
        return list;
    }

    private const string ReingestionTarget = "Re-ingestion with `akidb-queue embed` through a second worker sharing Redis at least 5x the in-process fp32 limit";
    private const string FirstPassTarget = "First, uncached pass at least 0.95x the limit";

    /// <summary>Where a pass's CPU went (median of the rounds), the measured reason beside its target.</summary>
    private string PassWhy(string kind)
    {
        var passes = Of(kind).ToList();
        var cpu = ProcessOrder.Select(n => (n, Stats.Median(passes.Select(p => p.CpuSeconds.GetValueOrDefault(n))))).Where(c => c.Item2 > 0);
        return F($"CPU seconds over the pass ({Stats.Median(passes.Select(p => p.Seconds)):F1} s wall): ") +
               string.Join(", ", cpu.Select(c => F($"{c.n} {c.Item2:F1}"))) +
               F($"; the machine was busy {Stats.Median(passes.Select(p => p.BusyCores)):F2} of {Environment.ProcessorCount} cores (others' work included).");
    }

    /// <summary>
    /// The first pass split into the cores the bridges got and what they did with them: per bridge CPU-second against the
    /// limit's rate per core (the limit runs only the model, on every core). A ratio near 1 leaves the cores the CLI,
    /// the worker, the broker and the rest took as the gap; below it, the model calls themselves did worse (padding).
    /// </summary>
    private string ModelShareWhy()
    {
        var cores = Environment.ProcessorCount;
        var passes = Of("first").Where(p => p.CpuSeconds.GetValueOrDefault("bridges") > 0).ToList();
        if (passes.Count == 0)
        {
            return string.Empty;
        }

        var bridgeCores = Stats.Median(passes.Select(p => p.CpuSeconds["bridges"] / p.Seconds));
        var perCpuSecond = Stats.Median(passes.Select(p => Texts / p.CpuSeconds["bridges"] / (LimitAround(p) / cores)));
        var share = bridgeCores / cores;
        var larger = 1 - share > 1 - perCpuSecond ? "the cores the CLI, the worker, the broker and the rest took" : "the model calls themselves";
        return F($"The bridges ran on {bridgeCores:F2} of {cores} cores ({share:F2} of the machine) and per bridge CPU-second embedded {perCpuSecond:F2}x the limit's texts per core-second: {share:F2} x {perCpuSecond:F2} = {share * perCpuSecond:F2}x; the larger part of the gap is {larger}.");
    }

    /// <summary>Where a lone request's milliseconds went (means), the measured reason beside the two latency targets.</summary>
    private string LoneWhy()
    {
        var split = LoneSplit(Lone);
        return "Mean ms per request: " + string.Join(", ", split.Select(s => F($"{s.Part} {s.Ms:F2}"))) +
               F($" (client mean {Lone.Latency.Mean:F2}; one all-core inference in process: mean {Inference.Mean:F2}). Same texts again, served from the in-process cache: p50 {LoneCached.Latency.P50:F2} ms.");
    }

    /// <summary>
    /// A lone request's mean split: the worker's stages, the batch stage split into the model (inside the backend), the
    /// pipe and pooling, and the scheduler's hops; "broker and client" is the client's mean minus the worker's stages.
    /// </summary>
    private static List<(string Part, double Ms)> LoneSplit(LoneResults lone)
    {
        double At(string stage) => lone.StageMeansMs.GetValueOrDefault(stage);
        var model = At(StageMetrics.Model);
        var transport = At(StageMetrics.Transport);
        var total = StageMetrics.Order.Sum(At);
        return
        [
            ("broker and client (request in, result out)", lone.Latency.Mean - total),
            ("delivery, parse, tokenize", At("delivery") + At("parse") + At("tokenize")),
            ("cache lookup", At("cache")),
            ("wait for a lane", At("wait")),
            ("model (inside the backend)", Math.Min(model, At("batch"))),
            ("pipe, framing, pooling", Math.Min(transport, Math.Max(0, At("batch") - model))),
            ("scheduler hops (loop, lane, back to the consumer)", Math.Max(0, At("batch") - model - transport)),
            ("result message", At("result")),
            ("publish and the broker's confirm", At("publish")),
        ];
    }

    public string ToMarkdown(string conditions)
    {
        var md = new StringBuilder();
        md.AppendLine("# The path around the model");
        md.AppendLine();
        md.AppendLine(conditions);
        md.AppendLine();
        md.AppendLine("Generated by `./bench.sh --path`. Every number below comes from this one run; the in-process limit (the faster of intra-op threads on every core and one single-threaded lane per core, each pass, as in docs/benchmarks-int8.md) was measured between the passes, so each ratio compares neighbours in time.");
        md.AppendLine();
        md.AppendLine("## Targets");
        md.AppendLine();
        md.AppendLine("| target | measured | met | why (measured) |");
        md.AppendLine("|---|---|---|---|");
        foreach (var t in Targets())
        {
            md.AppendLine(F($"| {t.Target} | {t.Measured} | {t.Met switch { true => "yes", false => "**no**", _ => "n/a" }} | {t.Why} |"));
        }

        if (Passes.Count > 0)
        {
            md.AppendLine();
            md.AppendLine(F($"## `akidb-queue embed` of {Texts} short texts: first pass and cached re-ingestion"));
            md.AppendLine();
            md.AppendLine("First pass: worker A with an empty Redis. Re-ingestion: worker B, a fresh process (its in-process cache empty) sharing that Redis, so every text is a Redis hit. `embed` is timed from the process's start to its exit, as a user sees it (one worker, Python bridges, defaults, 16 texts per message).");
            md.AppendLine();
            md.AppendLine("| round | in-process fp32 limit before (texts/s) | first pass (texts/s) | vs limit | re-ingestion (texts/s) | vs limit | every line in order |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            for (var r = 0; r < Rounds; r++)
            {
                var f = Of("first").First(p => p.Round == r);
                var c = Of("cached").First(p => p.Round == r);
                md.AppendLine(F($"| {r + 1} | {Limits[r]:F0} | {f.TextsPerSecond:F0} | {Ratios("first")[r]:F2}x | {c.TextsPerSecond:F0} | {Ratios("cached")[r]:F2}x | {(f.EveryLineInOrder && c.EveryLineInOrder ? "yes" : "NO")} |"));
            }

            md.AppendLine();
            md.AppendLine("### CPU seconds per process over a pass (median of the rounds)");
            md.AppendLine();
            md.AppendLine("From /proc/PID/stat at the pass's start and end (the CLI from getrusage of the benchmark's children). The machine is shared: \"busy cores\" is everything that ran on it, others' work included.");
            md.AppendLine();
            md.AppendLine("| pass | wall s | " + string.Join(" | ", ProcessOrder) + " | machine busy cores |");
            md.AppendLine("|---|---|" + string.Concat(ProcessOrder.Select(_ => "---|")) + "---|");
            foreach (var kind in new[] { "first", "cached" })
            {
                var passes = Of(kind).ToList();
                md.AppendLine(F($"| {kind} | {Stats.Median(passes.Select(p => p.Seconds)):F2} | ") +
                              string.Join(" | ", ProcessOrder.Select(n => Stats.Median(passes.Select(p => p.CpuSeconds.GetValueOrDefault(n))).ToString("F2", CultureInfo.InvariantCulture))) +
                              F($" | {Stats.Median(passes.Select(p => p.BusyCores)):F2} |"));
            }

            md.AppendLine();
            md.AppendLine("### The worker's stages over a pass (milliseconds summed over its requests, median of the rounds)");
            md.AppendLine();
            md.AppendLine("`akidb.request.stage`: delivery (the producer's send time to the consumer's first line: the broker and MassTransit's receive pipeline; 0 when the message carries no send time, as the raw JSON of these clients does, and then that time is in the lone table's \"rest\"), parse, tokenize, cache (the lookup), wait (for a batch to start), batch (model, pipe, the loop's delivery, the hop back), result (building the message), publish (serialising, sending, the broker's confirm). Requests overlap, so the sums exceed the wall time; they say where the requests' time went, not where the CPU went.");
            md.AppendLine();
            md.AppendLine("| pass | " + string.Join(" | ", StageMetrics.Order) + " |");
            md.AppendLine("|---|" + string.Concat(StageMetrics.Order.Select(_ => "---|")));
            foreach (var kind in new[] { "first", "cached" })
            {
                var passes = Of(kind).ToList();
                md.AppendLine(F($"| {kind} | ") + string.Join(" | ", StageMetrics.Order.Select(s => Stats.Median(passes.Select(p => p.StageTotalsMs.GetValueOrDefault(s))).ToString("F0", CultureInfo.InvariantCulture))) + " |");
            }
        }

        md.AppendLine();
        md.AppendLine(F($"## Lone short requests ({Lone.Latency.Samples}, one at a time, publish to result at the client)"));
        md.AppendLine();
        md.AppendLine("| | p50 ms | p95 ms | p99 ms |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine(F($"| one all-core inference in process (the floor) | {Inference.P50:F2} | {Inference.P95:F2} | {Inference.P99:F2} |"));
        md.AppendLine(F($"| through the broker and the worker | {Lone.Latency.P50:F2} | {Lone.Latency.P95:F2} | {Lone.Latency.P99:F2} |"));
        md.AppendLine(F($"| the same texts again (in-process cache hits) | {LoneCached.Latency.P50:F2} | {LoneCached.Latency.P95:F2} | {LoneCached.Latency.P99:F2} |"));
        if (LoneRpc is { } rpc)
        {
            md.AppendLine(F($"| as RPC calls: `reply_to` (direct reply-to), nothing bound to the result exchanges, new texts | {rpc.Latency.P50:F2} | {rpc.Latency.P95:F2} | {rpc.Latency.P99:F2} |"));
        }

        md.AppendLine();
        md.AppendLine("Where a lone request's milliseconds go (means per request, from the worker's `akidb.request.stage`; \"rest\" is the client's mean minus the worker's stages: the request's way to the consumer through the broker and MassTransit, and the result's way back to the client):");
        md.AppendLine();
        md.AppendLine("| | " + string.Join(" | ", StageMetrics.Order) + " | worker total | client mean | rest |");
        md.AppendLine("|---|" + string.Concat(StageMetrics.Order.Select(_ => "---|")) + "---|---|---|");
        foreach (var (name, lone) in new[] { ("computed", Lone), ("cached", LoneCached), ("RPC", LoneRpc) })
        {
            if (lone is null)
            {
                continue;
            }

            var total = StageMetrics.Order.Sum(s => lone.StageMeansMs.GetValueOrDefault(s));
            md.AppendLine(F($"| {name} | ") + string.Join(" | ", StageMetrics.Order.Select(s => lone.StageMeansMs.GetValueOrDefault(s).ToString("F2", CultureInfo.InvariantCulture))) +
                          F($" | {total:F2} | {lone.Latency.Mean:F2} | {lone.Latency.Mean - total:F2} |"));
        }

        if (LoneRpc is not null)
        {
            md.AppendLine();
            md.AppendLine("RPC: the reply is sent first, at the start of the publish stage, which then also holds the result's publish to its exchange (not mandatory, as the reply was delivered, so not parked); the caller has its reply before the stage ends, hence a worker total above the client's time and a negative rest.");
        }

        md.AppendLine();
        md.AppendLine("The same means with the batch stage split by the backend's own clock (`akidb.batch.inference`: the model; `akidb.batch.transport`: framing, the pipe, pooling; the rest of the batch stage: the scheduler loop starting the batch on a lane, the lane's report back to the loop, the loop handing the vectors to the request, the consumer's continuation):");
        md.AppendLine();
        md.AppendLine("| part | computed, mean ms | cached, mean ms |");
        md.AppendLine("|---|---|---|");
        foreach (var (computed, cachedPart) in LoneSplit(Lone).Zip(LoneSplit(LoneCached)))
        {
            md.AppendLine(F($"| {computed.Part} | {computed.Ms:F2} | {cachedPart.Ms:F2} |"));
        }

        md.AppendLine(F($"| **client mean, publish to result** | **{Lone.Latency.Mean:F2}** | **{LoneCached.Latency.Mean:F2}** |"));
        md.AppendLine(F($"| one all-core inference in process (mean) | {Inference.Mean:F2} | |"));

        if (Priorities is { } prio)
        {
            md.AppendLine();
            md.AppendLine(F($"## Interactive behind {prio.BulkTexts} bulk texts"));
            md.AppendLine();
            md.AppendLine(F($"{prio.InteractiveRequests} single-text interactive requests (AMQP priority 9) every {prio.InteractiveIntervalMs:F0} ms behind bulk messages of {prio.BulkTextsPerMessage} texts each (as `akidb-queue embed` sends them; every prefetch slot holds one); the single-text scenario is `./bench.sh --priorities` (docs/benchmarks-priorities.md)."));
            md.AppendLine();
            md.AppendLine("| phase | interactive p50 ms | p95 ms | bulk texts/s |");
            md.AppendLine("|---|---|---|---|");
            md.AppendLine(F($"| idle worker | {prio.Idle.P50:F1} | {prio.Idle.P95:F1} | |"));
            md.AppendLine(F($"| bulk alone | | | {prio.BulkAlone.BulkTextsPerSecond:F0} |"));
            if (prio.Mixed.Interactive is { } m)
            {
                md.AppendLine(F($"| bulk with interactive (defaults) | {m.P50:F1} | {m.P95:F1} | {prio.Mixed.BulkTextsPerSecond:F0} |"));
            }

            if (prio.Capped.Interactive is { } c)
            {
                md.AppendLine(F($"| bulk with interactive, {prio.SecondPhaseLabel} | {c.P50:F1} | {c.P95:F1} | {prio.Capped.BulkTextsPerSecond:F0} |"));
            }

            if (prio is { Mixed.Interactive: { } a, Capped.Interactive: { } b })
            {
                md.AppendLine();
                md.AppendLine(F($"Side by side in this run: interactive p95 {a.P95:F1} ms with the defaults against {b.P95:F1} ms with {prio.SecondPhaseLabel} ({a.P95 / b.P95:F2}x), bulk {prio.Mixed.BulkTextsPerSecond:F0} against {prio.Capped.BulkTextsPerSecond:F0} texts/s ({prio.Mixed.BulkTextsPerSecond / prio.Capped.BulkTextsPerSecond:F2}x). The two phases ran one after the other on fresh workers, on a shared machine."));
            }
        }

        md.AppendLine();
        md.AppendLine(F($"## Memory 10 s after a burst of {Memory.BurstTexts} mixed-length texts"));
        md.AppendLine();
        md.AppendLine(F($"Worker plus bridges: {Memory.RssMiB:F0} MiB RSS, {Memory.PssMiB:F0} MiB PSS (shared pages counted once) 10 s after the burst; {Memory.PeakRssMiB:F0} MiB RSS at the burst's peak. Per process, RSS/PSS MiB: {string.Join(", ", Memory.Parts ?? [])}."));
        return md.ToString();
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
