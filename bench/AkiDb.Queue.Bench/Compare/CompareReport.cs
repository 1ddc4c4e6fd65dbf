using System.Globalization;
using System.Text;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.Compare;

/// <summary>docs/benchmarks-architecture.md: ratios within pairs, their medians, the verdicts, the conditions and the counts.</summary>
public static class CompareReport
{
    /// <summary>Saturation throughput of this tree at least this share of the baseline's (median of per-pair ratios).</summary>
    public const double MinThroughputRatio = 0.97;

    /// <summary>p95 at 10 % load "no worse": the median of per-pair ratios current/baseline at most 1.</summary>
    public const double MaxP95Ratio = 1.00;

    public static string Render(CompareSettings options, CompareConditions conditions, IReadOnlyList<CompareRun> runs,
        IReadOnlyDictionary<string, IReadOnlyList<ArchitectureCount>> counts)
    {
        var md = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        md.AppendLine("# The worker before and after the architecture step (issue 21)").AppendLine();
        md.AppendLine(c, $"Written by `./bench.sh compare` ({conditions.Started:yyyy-MM-dd HH:mm} to {conditions.Ended:HH:mm} UTC); do not edit by hand. ")
            .AppendLine(c, $"**baseline** = `{options.Baseline.Commit}` (main just before the architecture merge), **current** = `{options.Current.Commit}`. ")
            .AppendLine("Both workers are published by bench.sh as the full run publishes its worker (Release, ReadyToRun, this machine's runtime), " +
                        "the baseline from a temporary git worktree, and run with the default configuration (Python bridge, one process per core, cache off) " +
                        "against one broker with the same texts. Each run is a fresh worker, warmed up as in the full run, then a saturation phase " +
                        "(the whole corpus published at once) and a phase paced at 10 % of the first saturation measured on that corpus (the same rate for both). " +
                        "Runs alternate in pairs (odd pairs baseline first, even pairs current first); each ratio is current / baseline within one pair, " +
                        "and the verdict uses the median over pairs.").AppendLine();

        md.AppendLine("## Verdict").AppendLine();
        foreach (var line in Verdicts(runs))
        {
            md.AppendLine(c, $"- {line}");
        }

        md.AppendLine().AppendLine("## Pairs").AppendLine();
        md.AppendLine("| pair | corpus | load average at pair start | baseline msg/s | current msg/s | ratio | 10 % rate /s | baseline p95 ms | current p95 ms | ratio | samples | machine busy cores (sat. b/c) | missing / failed |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (pair, baseline, current) in Pairs(runs))
        {
            md.AppendLine(c, $"| {pair} | {baseline.Corpus} | {baseline.LoadAverage} | {baseline.Saturation.Throughput:F1} | {current.Saturation.Throughput:F1} | " +
                             $"{current.Saturation.Throughput / baseline.Saturation.Throughput:F3} | {baseline.PacedRate:F1} | {baseline.Paced.Latency.P95:F1} | {current.Paced.Latency.P95:F1} | " +
                             $"{current.Paced.Latency.P95 / baseline.Paced.Latency.P95:F3} | {baseline.Paced.Latency.Samples} / {current.Paced.Latency.Samples} | " +
                             $"{baseline.Saturation.MachineBusyCores:F2} / {current.Saturation.MachineBusyCores:F2} | " +
                             $"{baseline.Saturation.Missing + baseline.Paced.Missing} / {baseline.Saturation.Failed + baseline.Paced.Failed}, " +
                             $"{current.Saturation.Missing + current.Paced.Missing} / {current.Saturation.Failed + current.Paced.Failed} |");
        }

        md.AppendLine().AppendLine("## Counts in the two trees").AppendLine();
        md.AppendLine("Read from each tree by `scripts/architecture-counts.sh TREE` (this tree's script for both; `--lines` lists the matching lines). " +
                      "Comment lines are not counted.").AppendLine();
        md.AppendLine("| count | baseline | current | what it counts |").AppendLine("|---|---|---|---|");
        foreach (var row in counts["current"])
        {
            var before = counts["baseline"].FirstOrDefault(b => b.Key == row.Key)?.Value.ToString(c) ?? "-";
            md.AppendLine(c, $"| {row.Key} | {before} | {row.Value} | {row.Description} |");
        }

        md.AppendLine().AppendLine("## Conditions").AppendLine();
        md.AppendLine(c, $"- {conditions.Cpu}, {conditions.Cores} cores shared with other work; load average at start {conditions.LoadAtStart}, at end {conditions.LoadAtEnd} (per pair in the table).");
        md.AppendLine(c, $"- {conditions.Pairs} pairs; corpora short {conditions.Settings.ShortTexts}, long {conditions.Settings.LongTexts}, mixed {conditions.Settings.MixedTexts} texts (seed {conditions.Settings.Seed}); " +
                         $"warm-up at least {conditions.Settings.WarmupDuration.TotalSeconds:F0} s and {conditions.Settings.WarmupMessages} messages; paced phases {conditions.Settings.MinRateDuration.TotalSeconds:F0}-{conditions.Settings.MaxRateDuration.TotalSeconds:F0} s.");
        md.AppendLine(c, $"- Bridge Python for both: {conditions.Python}. The benchmark, the broker, the worker and its bridges share the cores; nothing is pinned.");
        md.AppendLine().AppendLine(c, $"Reproduce: `./bench.sh compare --baseline {options.Baseline.Commit} --pairs {conditions.Pairs}`.");
        return md.ToString();
    }

    public static IEnumerable<string> Verdicts(IReadOnlyList<CompareRun> runs)
    {
        var pairs = Pairs(runs).ToList();
        foreach (var corpus in pairs.Select(p => p.Baseline.Corpus).Distinct())
        {
            var mine = pairs.Where(p => p.Baseline.Corpus == corpus).ToList();
            var throughput = mine.Select(p => p.Current.Saturation.Throughput / p.Baseline.Saturation.Throughput).ToList();
            var p95 = mine.Select(p => p.Current.Paced.Latency.P95 / p.Baseline.Paced.Latency.P95).ToList();
            var t = Stats.Median(throughput);
            var l = Stats.Median(p95);
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{corpus}: saturation throughput current/baseline median {t:F3} (pairs {string.Join(", ", throughput.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}) " +
                $"- {(t >= MinThroughputRatio ? "MET" : "MISSED")} (at least {MinThroughputRatio:F2}); " +
                $"p95 at 10 % load current/baseline median {l:F3} (pairs {string.Join(", ", p95.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}) " +
                $"- {(l <= MaxP95Ratio ? "MET" : "MISSED")} (at most {MaxP95Ratio:F2})");
        }
    }

    private static IEnumerable<(int Pair, CompareRun Baseline, CompareRun Current)> Pairs(IReadOnlyList<CompareRun> runs) =>
        runs.GroupBy(r => (r.Pair, r.Corpus))
            .Where(g => g.Any(r => r.Side == "baseline") && g.Any(r => r.Side == "current"))
            .Select(g => (g.Key.Pair, g.Single(r => r.Side == "baseline"), g.Single(r => r.Side == "current")));
}
