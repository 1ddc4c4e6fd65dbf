using System.Globalization;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.UserPath;

/// <summary>Runs <see cref="UserPathBench"/> on a broker of its own and writes benchmarks-user-path.md beside the main report.</summary>
internal static class UserPathSection
{
    public static async Task RunAsync(BenchSettings settings, CorpusBuilder builder, DateTime startedUtc, string loadAtStart)
    {
        var shortTexts = builder.BuildShort(settings.ShortTexts).Texts.Select(t => t.Text).ToList();
        // The short corpus holds fewer distinct sentences than the embed row needs: numbered repeats keep every text
        // distinct (the worker answers identical texts in one batch once) at about the same length.
        var embedTexts = Enumerable.Range(0, settings.EmbedTexts)
            .Select(i => i < shortTexts.Count ? shortTexts[i] : $"{i / shortTexts.Count}. {shortTexts[i % shortTexts.Count]}")
            .ToList();
        try
        {
            var broker = BrokerFixture.From("AKIDB_BENCH_RABBITMQ", Paths.BrokerData);
            Cleanup.Broker = broker;
            try
            {
                await broker.InitializeAsync();
                var results = await new UserPathBench(settings, broker, shortTexts, embedTexts).RunAsync();
                var conditions = string.Create(CultureInfo.InvariantCulture,
                    $"Run {startedUtc:yyyy-MM-dd HH:mm} UTC{(settings.Quick ? " (--quick smoke run)" : "")} on {ProcStat.CpuModel()}, {Environment.ProcessorCount} cores, load average at start {loadAtStart}, broker: {broker.Source}.");
                Directory.CreateDirectory(settings.OutputDirectory);
                var path = Path.Combine(settings.OutputDirectory, "benchmarks-user-path.md");
                await File.WriteAllTextAsync(path, results.ToMarkdown(conditions));
                Log.Info($"Wrote {Path.GetRelativePath(Paths.Root, path)}: embed {results.EmbedVsSaturation:F2}x the worker at saturation");
            }
            finally
            {
                Cleanup.Broker = null;
                await broker.DisposeAsync();
            }
        }
        catch (InvalidOperationException e)
        {
            Log.Info($"User path section FAILED: {e.Message}");
        }
    }
}
