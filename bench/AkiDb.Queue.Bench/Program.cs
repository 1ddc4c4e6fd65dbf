using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Bench.Micro;
using AkiDb.Queue.Testing;
using AkiDb.Queue.Bench.Report;
using AkiDb.Queue.Bench.UserPath;
using AkiDb.Queue.Worker.Bridge;
using Microsoft.Extensions.Logging;

if (args is ["quality", .. var qualityArgs])
{
    // ./bench.sh quality: docs/quality.md, the int8 variants against fp32 (Quality/QualityBench.cs).
    return await AkiDb.Queue.Bench.Quality.QualityBench.RunAsync(qualityArgs);
}

if (args is ["int8", .. var int8Args])
{
    // ./bench.sh int8: the in-process limit, fp32 against int8 side by side, and the arithmetic against this CPU's peak (Inference/Int8Bench.cs).
    return await AkiDb.Queue.Bench.Inference.Int8Bench.RunAsync(int8Args);
}

if (args is ["compare", .. var compareArgs])
{
    // ./bench.sh compare: a baseline commit's worker against this tree's, side by side in pairs (Compare/WorkerCompare.cs).
    return await AkiDb.Queue.Bench.Compare.WorkerCompare.RunAsync(compareArgs);
}

BenchSettings settings;
try
{
    settings = BenchSettings.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 64;
}

var jsonOptions = new JsonSerializerOptions
{
    WriteIndented = true,
    PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
};

if (settings.RenderOnly)
{
    // Re-render benchmarks.md and the plots from an existing benchmarks.json (after a change to the report's layout).
    var saved = JsonSerializer.Deserialize<BenchReport>(await File.ReadAllTextAsync(Path.Combine(settings.OutputDirectory, "benchmarks.json")), jsonOptions)!;
    await File.WriteAllTextAsync(Path.Combine(settings.OutputDirectory, "benchmarks.md"), Markdown.Render(saved, AkiDb.Queue.Bench.AroundModel.PathSummary.SupplementSections(settings.OutputDirectory)));
    Log.Info($"Rendered {string.Join(", ", Plots.Write(saved, settings.OutputDirectory).Prepend(Path.Combine(settings.OutputDirectory, "benchmarks.md")))}");
    return 0;
}

Cleanup.Install();
var startedUtc = DateTime.UtcNow;
var machineAtStart = ProcStat.MachineCpu();
var loadAtStart = ProcStat.LoadAverage();
using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var logger = loggerFactory.CreateLogger("bench");

Log.Section($"AkiDb.Queue benchmark{(settings.Quick ? " (--quick smoke run)" : "")}: {ProcStat.CpuModel()}, {Environment.ProcessorCount} cores, load average {loadAtStart}");
Log.Info($"Output: {settings.OutputDirectory}");

var model = ModelFiles.Load();
Log.Info($"Model {model.Name}: {model.Definition.OnnxPath}");
var builder = new CorpusBuilder(model.Tokenizer, settings.Seed);
var corpora = new List<Corpus> { builder.BuildShort(settings.ShortTexts), builder.BuildLong(settings.LongTexts), builder.BuildMixed(settings.MixedTexts) }
    .Where(c => settings.Corpora.Count == 0 || settings.Corpora.Contains(c.Name)).ToList();
var corpusStats = corpora.Select(c => c.Describe()).ToList();
foreach (var s in corpusStats)
{
    Log.Info($"Corpus {s.Name,-6} {s.Texts,5} texts, tokens min {s.MinTokens:F0} / median {s.MedianTokens:F0} / max {s.MaxTokens:F0}, mean {s.MeanTokens:F1}; " +
             $"padding efficiency of sorted batches of 32: {s.SortedBatch32PaddingEfficiency * 100:F1} %  ({s.Description})");
}

var python = await new PythonLocator(
        Microsoft.Extensions.Options.Options.Create(new AkiDb.Queue.Worker.Models.EmbeddingOptions { CacheDirectory = Paths.ModelCache }),
        TimeProvider.System,
        loggerFactory.CreateLogger<PythonLocator>())
    .LocateAsync(null, CancellationToken.None);
Log.Info($"Bridge Python: {python.Path} (Python {python.Version}, numpy {python.NumpyVersion})");

if (settings.RunPath)
{
    return await AkiDb.Queue.Bench.AroundModel.PathSection.RunAsync(settings, model, builder, python.Path);
}

if (settings.RunPriorities)
{
    return await AkiDb.Queue.Bench.Priorities.PriorityScenario.RunAsync(settings, builder, python.Path);
}

InferenceResults? inference = null;
if (settings.RunInference)
{
    inference = await new InferenceBench(settings, model, corpora, python, logger).RunAsync();
}

var micro = settings.RunMicro ? await MicroBench.RunAsync(settings, model, corpora, python, logger) : [];

EndToEndResults? e2e = null;
if (settings.RunEndToEnd || settings.RunCache)
{
    try
    {
        // AKIDB_BENCH_RABBITMQ_URL (+ _MANAGEMENT_URL), else a private broker with its data in .artifacts/bench/broker.
        var broker = BrokerFixture.From("AKIDB_BENCH_RABBITMQ", Paths.BrokerData);
        Cleanup.Broker = broker;
        try
        {
            Log.Info("Starting the broker (AKIDB_BENCH_RABBITMQ_URL, else a private one with its data in .artifacts/bench/broker)");
            await broker.InitializeAsync();
            using var management = broker.Management();
            var description = $"{await management.DescribeBrokerAsync()}, " + (broker.BeamPid is null ? "external broker" : "private broker started by the benchmark");
            Log.Info($"Broker ready ({broker.Source}): {description}");
            e2e = settings.RunEndToEnd ? await new EndToEndBench(settings, corpora, broker, description, python.Path).RunAsync() : null;
            if (settings.RunCache && corpora.FirstOrDefault(c => c.Name == "short") is { } shortCorpus)
            {
                // Its own report (benchmarks-cache.md), so the main report's layout is untouched.
                await new AkiDb.Queue.Bench.Caching.CacheBench(settings, model, shortCorpus, broker).RunAsync();
            }
        }
        finally
        {
            Cleanup.Broker = null;
            await broker.DisposeAsync();
        }
    }
    catch (InvalidOperationException e)
    {
        // No broker: the report is still written with what was measured.
        Log.Info($"End-to-end section FAILED: {e.Message}");
    }
}

if (settings.RunUserPath)
{
    await UserPathSection.RunAsync(settings, builder, startedUtc, loadAtStart);
    if (settings.OnlyUserPath)
    {
        return 0;
    }
}

var machineUse = ProcStat.MachineUse(machineAtStart, ProcStat.MachineCpu());
var conditions = new RunConditions(
    startedUtc.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
    (DateTime.UtcNow - startedUtc).TotalMinutes,
    settings.Quick,
    ProcStat.CpuModel(),
    Environment.ProcessorCount,
    MemTotal(),
    RuntimeInformation.OSDescription,
    RuntimeInformation.FrameworkDescription,
    Commit(),
    loadAtStart,
    ProcStat.LoadAverage(),
    machineUse.StealPercent,
    machineUse.BusyCores,
    $"{python.Path} (Python {python.Version}, numpy {python.NumpyVersion})",
    settings.Seed,
    settings.Repetitions,
    [
        "The benchmark process, the broker, the worker and the bridge share the same cores; nothing is pinned. The CPU columns show who used what.",
        $"Corpus sizes: short {settings.ShortTexts}, long {settings.LongTexts}, mixed {settings.MixedTexts}; end-to-end warm-up per scenario: bursts answered in full for at least {settings.WarmupDuration.TotalSeconds:F0} s and {settings.WarmupMessages} messages (a fresh worker re-compiles its hot code for the first tens of seconds); " +
        $"paced phases {settings.MinRateDuration.TotalSeconds:F0}-{settings.MaxRateDuration.TotalSeconds:F0} s (at least {settings.MinSamples} samples where that fits).",
    ]);

var report = new BenchReport(conditions, corpusStats, inference, micro, e2e, Targets.Evaluate(inference, e2e));
Directory.CreateDirectory(settings.OutputDirectory);
var jsonPath = Path.Combine(settings.OutputDirectory, "benchmarks.json");
await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(report, jsonOptions));
var mdPath = Path.Combine(settings.OutputDirectory, "benchmarks.md");
await File.WriteAllTextAsync(mdPath, Markdown.Render(report, AkiDb.Queue.Bench.AroundModel.PathSummary.SupplementSections(settings.OutputDirectory)));
var pngs = Plots.Write(report, settings.OutputDirectory);

Log.Section("Targets");
foreach (var t in report.Targets)
{
    Log.Info($"[{t.Met switch { true => "MET", false => "MISSED", _ => "n/a" }}] {t.Target}: {t.Measured}");
}

Log.Info($"Wrote {Path.GetRelativePath(Paths.Root, mdPath)}, {Path.GetRelativePath(Paths.Root, jsonPath)}, {string.Join(", ", pngs.Select(p => Path.GetRelativePath(Paths.Root, p)))} " +
         $"in {(DateTime.UtcNow - startedUtc).TotalMinutes:F1} min; machine steal over the run {conditions.StealPercentWholeRun:F1} %");
return 0;

static string MemTotal()
{
    var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
    return line is null ? "?" : $"{long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1048576.0:F1} GiB";
}

static string Commit()
{
    try
    {
        static string Git(string arguments)
        {
            var start = new ProcessStartInfo("git", arguments) { WorkingDirectory = Paths.Root, RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return output;
        }

        var head = Git("rev-parse --short HEAD");
        return head.Length == 0 ? "?" : head + (Git("status --porcelain").Length > 0 ? " (with uncommitted changes)" : "");
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return "?";
    }
}
