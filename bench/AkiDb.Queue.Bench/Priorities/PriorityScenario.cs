using System.Globalization;
using System.Text.Json;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.Priorities;

/// <summary>Entry point of <c>--priorities</c>: its own broker, worker and report (docs/benchmarks-priorities.md and .json).</summary>
internal static class PriorityScenario
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static async Task<int> RunAsync(BenchSettings settings, CorpusBuilder builder, string pythonPath)
    {
        var scenario = PrioritySettings.For(settings.Quick);
        var corpus = builder.BuildShort(settings.ShortTexts);
        var load = ProcStat.LoadAverage();
        var started = DateTime.UtcNow;
        PriorityResults results;
        var broker = BrokerFixture.From("AKIDB_BENCH_RABBITMQ", Paths.BrokerData);
        Cleanup.Broker = broker;
        try
        {
            await broker.InitializeAsync();
            results = await new PriorityBench(scenario, corpus, broker, pythonPath).RunAsync();
        }
        finally
        {
            Cleanup.Broker = null;
            await broker.DisposeAsync();
        }

        var conditions = $"Run {started.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}, {(DateTime.UtcNow - started).TotalMinutes:F1} min, " +
                         $"{ProcStat.CpuModel()}, {Environment.ProcessorCount} cores, load average {load} at the start, {ProcStat.LoadAverage()} at the end; " +
                         "the load client, broker, worker and bridges share the cores (and, here, the machine with other work).";
        Directory.CreateDirectory(settings.OutputDirectory);
        var md = Path.Combine(settings.OutputDirectory, "benchmarks-priorities.md");
        await File.WriteAllTextAsync(md, PriorityReport.Render(results, conditions));
        await File.WriteAllTextAsync(Path.Combine(settings.OutputDirectory, "benchmarks-priorities.json"),
            JsonSerializer.Serialize(results, Json));
        Log.Section("Targets");
        foreach (var (target, measured, met) in results.Targets())
        {
            Log.Info($"[{(met ? "MET" : "MISSED")}] {target}: {measured}");
        }

        Log.Info($"Wrote {Path.GetRelativePath(Paths.Root, md)}");
        return 0;
    }
}
