using AkiDb.Queue.Bench.Bridges;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Worker.Bridge;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using ILogger = Microsoft.Extensions.Logging.ILogger;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Bench.Micro;

/// <summary>One BenchmarkDotNet figure: per operation, in microseconds.</summary>
public sealed record MicroResult(string Benchmark, string Parameters, double MedianUs, double MeanUs, double StdErrUs, int Iterations, string Job);

/// <summary>Runs the BenchmarkDotNet classes in this process and returns their medians.</summary>
internal static class MicroBench
{
    public static async Task<List<MicroResult>> RunAsync(BenchSettings settings, ModelFiles model, IReadOnlyList<Corpus> corpora, PythonInterpreter python, ILogger logger)
    {
        Log.Section("BenchmarkDotNet micro-measurements (in-process toolchain)");
        TokenizerBenchmarks.Tokenizer = model.Tokenizer;
        foreach (var corpus in corpora)
        {
            TokenizerBenchmarks.Samples[corpus.Name] = corpus.Texts.Take(32).Select(t => t.Text).ToArray();
        }

        var shortCorpus = corpora.First(c => c.Name == "short");
        var rows = shortCorpus.Texts.Take(32).ToList();
        IpcBenchmarks.Batch = Corpus.ToBatch(rows, "echo");
        IpcBenchmarks.Ids = rows.Select(r => r.Ids).ToList();
        await using var binary = await BinaryBridge.StartAsync(InferenceBench.BridgeDefaults(2, Path.Combine(Paths.Bridges, "echo_bridge.py")), python, [], logger);
        var jsonOptions = InferenceBench.BridgeDefaults(2, Path.Combine(Paths.Bridges, "json_bridge.py"), "--echo");
        var (json, _) = await JsonBridge.StartAsync(new BridgeLaunchFactory(Options.Create(jsonOptions)).Create(python), InferenceBench.JsonInit(jsonOptions, []));
        await using var jsonBridge = json;
        IpcBenchmarks.Binary = binary;
        IpcBenchmarks.Json = json;

        var artifacts = Directory.CreateDirectory(Path.Combine(Paths.Artifacts, "bdn")).FullName;
        var job = (settings.Quick ? Job.Dry : Job.ShortRun).WithToolchain(InProcessEmitToolchain.Instance);
        await using var logFile = new StreamWriter(Path.Combine(artifacts, "benchmarkdotnet.log"));
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddLogger(new StreamLogger(logFile))
            .AddColumnProvider(BenchmarkDotNet.Columns.DefaultColumnProviders.Instance)
            .WithArtifactsPath(artifacts)
            .WithOptions(ConfigOptions.DisableLogFile);

        var results = new List<MicroResult>();
        // BenchmarkDotNet's runner is synchronous and blocks on its async benchmarks itself: run it off this context.
        var summaries = await Task.Run(() => new[] { BenchmarkRunner.Run<IpcBenchmarks>(config), BenchmarkRunner.Run<TokenizerBenchmarks>(config) });
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var statistics = report.ResultStatistics;
            if (statistics is null)
            {
                Log.Info($"BenchmarkDotNet: {report.BenchmarkCase.DisplayInfo} produced no result (see {artifacts}/benchmarkdotnet.log)");
                continue;
            }

            var parameters = report.BenchmarkCase.Parameters.DisplayInfo;
            results.Add(new MicroResult(report.BenchmarkCase.Descriptor.WorkloadMethod.Name, parameters, statistics.Median / 1000, statistics.Mean / 1000,
                statistics.StandardError / 1000, statistics.N, settings.Quick ? "Dry" : "ShortRun"));
            Log.Info($"BenchmarkDotNet {results[^1].Benchmark} {parameters}: median {results[^1].MedianUs:F1} us/op, mean {results[^1].MeanUs:F1} us/op ({statistics.N} iterations)");
        }

        return results;
    }
}
