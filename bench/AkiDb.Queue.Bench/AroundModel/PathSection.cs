using System.Globalization;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>Runs <see cref="PathBench"/> on a broker of its own and writes benchmarks-path.md beside the main report.</summary>
internal static class PathSection
{
    public static async Task<int> RunAsync(BenchSettings settings, ModelFiles model, CorpusBuilder builder, string pythonPath)
    {
        var started = DateTime.UtcNow;
        var load = ProcStat.LoadAverage();
        var broker = BrokerFixture.From("AKIDB_BENCH_RABBITMQ", Paths.BrokerData);
        Cleanup.Broker = broker;
        PathResults results;
        try
        {
            await broker.InitializeAsync();
            results = await new PathBench(settings, model, builder, broker, pythonPath).RunAsync();
        }
        finally
        {
            Cleanup.Broker = null;
            await broker.DisposeAsync();
        }

        var minutes = (DateTime.UtcNow - started).TotalMinutes;
        var conditions = string.Create(CultureInfo.InvariantCulture, $"Run {started:yyyy-MM-dd HH:mm} UTC{(settings.Quick ? " (--quick smoke run)" : "")}, {minutes:F1} min, on {ProcStat.CpuModel()}, {Environment.ProcessorCount} cores; load average {load} at the start, {ProcStat.LoadAverage()} at the end (the machine is shared with other work); broker: {broker.Source}; medians of {results.Rounds} rounds. The CLI, broker, worker, bridges, Redis and the benchmark share the cores; nothing is pinned.");
        Directory.CreateDirectory(settings.OutputDirectory);
        var path = Path.Combine(settings.OutputDirectory, "benchmarks-path.md");
        await File.WriteAllTextAsync(path, results.ToMarkdown(conditions));
        var targets = results.Targets();
        await PathSummary.WriteAsync(settings.OutputDirectory, new PathSummary(
            string.Create(CultureInfo.InvariantCulture, $"{started:yyyy-MM-dd HH:mm} UTC"),
            string.Create(CultureInfo.InvariantCulture, $"{minutes:F1} min on {ProcStat.CpuModel()}, {Environment.ProcessorCount} cores, shared with other work: load average {load} at the start, {ProcStat.LoadAverage()} at the end."),
            settings.Quick, settings.PathLatencyOnly, targets));
        Log.Section("Path around the model: targets");
        foreach (var t in targets)
        {
            Log.Info($"[{t.Met switch { true => "MET", false => "MISSED", _ => "n/a" }}] {t.Target}: {t.Measured}");
        }

        Log.Info($"Wrote {Path.GetRelativePath(Paths.Root, path)} and {PathSummary.FileName}");
        if (await Int8Summary.RerenderMainReportAsync(settings.OutputDirectory) is { } main)
        {
            Log.Info($"Re-rendered {Path.GetRelativePath(Paths.Root, main)} with these targets");
        }
        return 0;
    }
}
