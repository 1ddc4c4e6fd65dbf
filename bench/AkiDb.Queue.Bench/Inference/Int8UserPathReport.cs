using System.Globalization;
using System.Text;
using AkiDb.Queue.Bench.Report;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>benchmarks-int8.md's start-up and embed sections, and the targets they measure.</summary>
internal static class Int8UserPathReport
{
    private const string Int8Preloaded = "int8 as the default model";
    private static readonly string[] StepOrder =
        ["host built (first log line)", "python interpreter located", "broker connected", "native model loaded", "bridge 0 ready (model loaded)", "worker ready"];

    public static void Render(StringBuilder s, Int8UserPathResults user)
    {
        string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);
        s.AppendLine();
        s.AppendLine("## Start-up with the int8 model preloaded");
        s.AppendLine();
        s.AppendLine("The worker as deployed (`dotnet .artifacts/bench/worker/AkiDb.Queue.Worker.dll`, Release, ReadyToRun), a fresh process each start, configurations");
        s.AppendLine("alternating; \"worker ready\": spawn to its \"worker ready\" log line at the bench (lane 0's bridge up with the preloaded models, broker connected;");
        s.AppendLine("the other bridges start after lane 0's, so the first one loads with a core to itself); \"first result\": that plus one short text sent at that moment");
        s.AppendLine("and answered (the session's first run, while the other bridges load). The int8 file is the cached one");
        s.AppendLine("(fused, per-row scales), made by this run's in-process section before the first start.");
        s.AppendLine();
        s.AppendLine("| configuration | starts | worker ready, median (each) | first result, median (each) | quantised at start | " + string.Join(" | ", StepOrder) + " |");
        s.AppendLine("|---|---|---|---|---|" + string.Concat(StepOrder.Select(_ => "---|")));
        foreach (var r in user.Startups)
        {
            s.Append(CultureInfo.InvariantCulture,
                $"| {r.Config} | {r.ReadyMs.Count} | {F(r.Ready)} ms ({string.Join(", ", r.ReadyMs.Select(x => F(x)))}) | {F(r.FirstResult)} ms ({string.Join(", ", r.FirstResultMs.Select(x => F(x)))}) | {(r.Quantised ? "**yes**" : "no")} | ");
            s.AppendLine(string.Join(" | ", StepOrder.Select(k => r.Steps.TryGetValue(k, out var v) ? F(v) : "-")) + " |");
        }

        var e = user.Embed;
        s.AppendLine();
        s.AppendLine("## End to end as users ingest: `akidb-queue embed --model all-MiniLM-L6-v2-int8`");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"{e.Texts:N0} short texts (the short corpus, repeated with numbered prefixes) in a JSONL file; `akidb-queue embed INPUT --out OUT --url ... --model all-MiniLM-L6-v2-int8`");
        s.AppendLine("(its defaults: 16 texts per message), timed from spawn to exit, to one worker with its defaults serving the int8 model (python backend, one");
        s.AppendLine("single-threaded bridge process per core, embedding cache off since every round sends the same texts), warmed up first. Each round also runs");
        s.AppendLine("the int8 and fp32 in-process limits (each the faster of 2 intra-op threads and 2 single-threaded lanes, as in the limit above) on the same texts in length-sorted batches of 32, the order rotating each round; the ratios are per round, the median over rounds.");
        s.AppendLine();
        s.AppendLine("| round | embed texts/s | int8 limit texts/s | fp32 limit texts/s | embed / int8 limit | embed / fp32 limit | CPU cores during embed | every line written |");
        s.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var (r, i) in e.Rounds.Select((r, i) => (r, i)))
        {
            s.AppendLine(CultureInfo.InvariantCulture,
                $"| {i + 1} | {F(r.EmbedTextsPerSecond)} | {F(r.Int8LimitTextsPerSecond)} | {F(r.Fp32LimitTextsPerSecond)} | {F(r.VsInt8, "F2")}x | {F(r.VsFp32, "F2")}x | {r.Cores} | {(r.AllLines ? "yes" : "**no**")} |");
        }

        s.AppendLine(CultureInfo.InvariantCulture, $"| **median** | | | | **{F(e.VsInt8, "F2")}x** | **{F(e.VsFp32, "F2")}x** | | |");
    }

    public static IEnumerable<TargetRow> Targets(Int8UserPathResults user)
    {
        string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);
        var int8 = user.Startups.FirstOrDefault(r => r.Config == Int8Preloaded);
        if (int8 is not null)
        {
            var others = string.Join("; ", user.Startups.Where(r => r != int8).Select(r => $"{r.Config}: ready {F(r.Ready)} ms, first result {F(r.FirstResult)} ms"));
            var steps = string.Join(", ", StepOrder.Where(int8.Steps.ContainsKey).Select(k => $"{k} {F(int8.Steps[k])}"));
            yield return new TargetRow("Start-up with all-MiniLM-L6-v2-int8 preloaded <= 2 s once the quantised file is cached (spawn to first result)",
                $"{F(int8.FirstResult / 1000, "F2")} s to the first result, {F(int8.Ready / 1000, "F2")} s to \"worker ready\" (median of {int8.ReadyMs.Count}, python backend, `Embedding__DefaultModel=all-MiniLM-L6-v2-int8`)",
                int8.FirstResult <= 2000 && !int8.Quantised,
                $"{(int8.Quantised ? "The worker quantised at start: the cached file was not found. " : "The cached int8 file was loaded, not made. ")}" +
                $"Median ms from spawn: {steps}. Same run: {others}. Each start is a fresh .NET host (JIT of the start-up path), " +
                "bridge processes each starting Python and numpy and loading the model, and a broker connection: all of it waits for a core when the machine is busy.");
        }

        var e = user.Embed;
        var median = e.Rounds.OrderBy(r => r.VsInt8).ElementAt(e.Rounds.Count / 2);
        yield return new TargetRow("End to end as users ingest (`akidb-queue embed --model all-MiniLM-L6-v2-int8`, short) >= 0.95x the int8 in-process limit",
            $"{F(e.VsInt8, "F2")}x (rounds {string.Join(", ", e.Rounds.Select(r => F(r.VsInt8, "F2")))}; {F(median.EmbedTextsPerSecond)} vs {F(median.Int8LimitTextsPerSecond)} texts/s in the median round)",
            e.VsInt8 >= 0.95 && e.Rounds.All(r => r.AllLines),
            $"CPU during the median round's embed, in cores: {median.Cores}. The limit gives ONNX Runtime both cores for nothing but the model; end to end the bridges share them with the worker, the broker and the CLI. " +
            ContentionWhy(e));
        yield return new TargetRow("End to end as users ingest (`akidb-queue embed`, int8, short) >= 1.9x the fp32 in-process limit",
            $"{F(e.VsFp32, "F2")}x (rounds {string.Join(", ", e.Rounds.Select(r => F(r.VsFp32, "F2")))})", e.VsFp32 >= 1.9,
            $"embed / int8 limit {F(e.VsInt8, "F2")}x times int8 limit / fp32 limit {F(Stats(e), "F2")}x on these texts in the same rounds.");
    }

    /// <summary>
    /// On a machine shared with other work, the pipeline (CLI, broker, worker, bridges, each waking on the other's
    /// message) loses more to it than one busy process running the limit: the round with the least other work shows
    /// what the path itself costs.
    /// </summary>
    private static string ContentionWhy(EmbedComparison e)
    {
        var quietest = e.Rounds.MinBy(r => r.Cores.Other)!;
        return FormattableString.Invariant(
            $"Other work on the machine took {string.Join(", ", e.Rounds.Select(r => r.Cores.Other.ToString("F2", CultureInfo.InvariantCulture)))} cores during the rounds' embed runs; ") +
               FormattableString.Invariant($"in the round with the least ({quietest.Cores.Other:F2} cores) embed reached {quietest.VsInt8:F2}x the int8 limit.");
    }

    private static double Stats(EmbedComparison e) => Harness.Stats.Median(e.Rounds.Select(r => r.Int8LimitTextsPerSecond / r.Fp32LimitTextsPerSecond));
}
