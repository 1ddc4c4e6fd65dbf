using System.Globalization;
using System.Text;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.Priorities;

/// <summary>docs/benchmarks-priorities.md: the scenario's numbers and its targets, met or not.</summary>
internal static class PriorityReport
{
    public static string Render(PriorityResults r, string conditions)
    {
        var md = new StringBuilder();
        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        string Row(string name, LatencyStats s) => $"| {name} | {s.Samples} | {F(s.P50)} | {F(s.P95)} | {F(s.P99)} | {F(s.Max)} |";
        md.AppendLine("# Benchmark: interactive requests next to a bulk backlog");
        md.AppendLine();
        md.AppendLine("Written by `./bench.sh --priorities`. One worker at a time (defaults: one single-threaded bridge process per core), one run,");
        md.AppendLine($"the phases side by side: on the first worker, bulk alone and bulk with interactive requests alternate, alone first and last ({r.AlternatingRounds} mixed phases; rates are the means of each kind, latencies pooled),");
        md.AppendLine($"and the second setting's mixed phases ({r.AlternatingRounds}, latencies pooled) run on a second worker with {r.SecondPhaseLabel}. Interactive requests carry AMQP priority 9 and `\"priority\": \"high\"`, one short");
        md.AppendLine($"query each, {r.InteractiveRequests} of them every {F(r.InteractiveIntervalMs)} ms; bulk requests are single short texts (12-20 tokens)");
        md.AppendLine($"without a priority, {r.BulkTexts} queued at once. Latency is publish to result received, in the load client.");
        md.AppendLine("After each bulk window the rest of the backlog is purged. The expired requests (half past their `expiresAt`, half");
        md.AppendLine("with a 1 ms AMQP expiration) are published while no worker runs; a fresh worker answers them, and its model-call");
        md.AppendLine("counter shows what inference went to them.");
        md.AppendLine();
        md.AppendLine(conditions);
        md.AppendLine();
        md.AppendLine("| interactive latency, ms | samples | p50 | p95 | p99 | max |");
        md.AppendLine("|---|---|---|---|---|---|");
        md.AppendLine(Row("idle worker", r.Idle));
        md.AppendLine(Row($"behind the bulk backlog, defaults ({r.Mixed.WaitingAtStart} -> {r.Mixed.WaitingAtEnd} bulk texts waiting)", r.Mixed.Interactive!));
        md.AppendLine(Row($"behind the bulk backlog, {r.SecondPhaseLabel} ({r.Capped.WaitingAtStart} -> {r.Capped.WaitingAtEnd} waiting)", r.Capped.Interactive!));
        md.AppendLine();
        md.AppendLine("| bulk, over the same window after the backlog was queued | texts/s | waiting at start | waiting at end |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine($"| bulk alone | {F(r.BulkAlone.BulkTextsPerSecond)} | {r.BulkAlone.WaitingAtStart} | {r.BulkAlone.WaitingAtEnd} |");
        md.AppendLine($"| bulk with the interactive requests | {F(r.Mixed.BulkTextsPerSecond)} | {r.Mixed.WaitingAtStart} | {r.Mixed.WaitingAtEnd} |");
        md.AppendLine($"| bulk with the interactive requests, {r.SecondPhaseLabel} | {F(r.Capped.BulkTextsPerSecond)} | {r.Capped.WaitingAtStart} | {r.Capped.WaitingAtEnd} |");
        md.AppendLine();
        md.AppendLine("| target | measured | met |");
        md.AppendLine("|---|---|---|");
        foreach (var (target, measured, met) in r.Targets())
        {
            md.AppendLine($"| {target} | {measured} | {(met ? "yes" : "**no**")} |");
        }

        md.AppendLine();
        md.AppendLine("Why the latency ratio is what it is: the broker delivers an interactive request ahead of the backlog and the planner");
        md.AppendLine("starts it on the next free lane, but a lane is busy with a bulk model call when it arrives, and a call cannot be");
        md.AppendLine("interrupted. The wait is therefore up to one bulk call; by default bulk calls hold at most 8 texts while");
        md.AppendLine("interactive requests arrive (`Batching:BulkBatchTextsWhileInteractive`), 32 otherwise, and smaller bulk batches");
        md.AppendLine("cost throughput. With 2 lanes on 2 cores no setting removes the wait; a lane kept free for interactive work would,");
        md.AppendLine("at the cost of half the bulk throughput.");
        return md.ToString();
    }
}
