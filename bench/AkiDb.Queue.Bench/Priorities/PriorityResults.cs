using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.Priorities;

/// <summary>One bulk phase: bulk throughput over the interactive window and the backlog around it.</summary>
/// <param name="Interactive">Null in the bulk-alone phase.</param>
internal sealed record PhaseNumbers(double BulkTextsPerSecond, int WaitingAtStart, int WaitingAtEnd, LatencyStats? Interactive, int BulkFailed);

/// <param name="ExtraModelRows">Model rows (texts computed) by the fresh worker that answered only the expired requests: 0 when none went to them.</param>
internal sealed record PriorityResults(
    int BulkTexts,
    int InteractiveRequests,
    double InteractiveIntervalMs,
    double MaxPassOverMs,
    LatencyStats Idle,
    PhaseNumbers BulkAlone,
    PhaseNumbers Mixed,
    PhaseNumbers Capped,
    int SecondPhaseBulkBatchTexts,
    int ExpiredRequests,
    int ExpiredAnswered,
    double? ExtraModelRows,
    double? LongestPassOverMs)
{
    /// <summary>What the second mixed phase (<see cref="Capped"/>) changed, as the report names it.</summary>
    public string SecondPhaseLabel { get; init; } = "capped";

    public int BulkTextsPerMessage { get; init; } = 1;

    /// <summary>Mixed phases on the first worker, each between two bulk-alone phases.</summary>
    public int AlternatingRounds { get; init; } = 1;

    public double P95Ratio => Mixed.Interactive!.P95 / Idle.P95;

    public double ThroughputRatio => Mixed.BulkTextsPerSecond / BulkAlone.BulkTextsPerSecond;

    public IEnumerable<(string Target, string Measured, bool Met)> Targets()
    {
        yield return ($"interactive p95 with >= 10,000 bulk texts waiting <= 3x its p95 on an idle worker",
            $"{Mixed.Interactive!.P95:F1} ms vs {Idle.P95:F1} ms = {P95Ratio:F2}x ({Mixed.WaitingAtEnd} bulk texts still waiting at the window's end)",
            P95Ratio <= 3 && Mixed.WaitingAtEnd >= 10_000);
        yield return ("bulk throughput during that phase >= 0.9x bulk alone",
            $"{Mixed.BulkTextsPerSecond:F1} vs {BulkAlone.BulkTextsPerSecond:F1} texts/s = {ThroughputRatio:F2}x", ThroughputRatio >= 0.9);
        yield return ($"the same with {SecondPhaseLabel}: p95 <= 3x idle and bulk >= 0.9x alone",
            $"p95 {Capped.Interactive!.P95:F1} ms = {Capped.Interactive.P95 / Idle.P95:F2}x; bulk {Capped.BulkTextsPerSecond:F1} texts/s = {Capped.BulkTextsPerSecond / BulkAlone.BulkTextsPerSecond:F2}x",
            Capped.Interactive.P95 / Idle.P95 <= 3 && Capped.BulkTextsPerSecond / BulkAlone.BulkTextsPerSecond >= 0.9 && Capped.WaitingAtEnd >= 10_000);
        yield return ($"no text passed over longer than the bound (Batching:MaxPassOver = {MaxPassOverMs:F0} ms)",
            LongestPassOverMs is { } pass ? $"longest pass-over {pass:F0} ms" : "not measured", LongestPassOverMs is { } p && p <= MaxPassOverMs);
        yield return ("expired requests: 0 inference, each answered expired",
            $"{ExpiredAnswered} of {ExpiredRequests} answered expired; model rows spent on them: {ExtraModelRows?.ToString("F0", System.Globalization.CultureInfo.InvariantCulture) ?? "not measured"}",
            ExpiredAnswered == ExpiredRequests && ExtraModelRows == 0);
    }
}
