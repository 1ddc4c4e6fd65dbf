using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.EndToEnd;
using AkiDb.Queue.Bench.Inference;
using AkiDb.Queue.Bench.Micro;

namespace AkiDb.Queue.Bench.Report;

/// <summary>Everything one run measured: serialised as docs/benchmarks.json, rendered as docs/benchmarks.md and the plots.</summary>
public sealed record BenchReport(
    RunConditions Conditions,
    IReadOnlyList<CorpusStats> Corpora,
    InferenceResults? Inference,
    IReadOnlyList<MicroResult> Micro,
    EndToEndResults? EndToEnd,
    IReadOnlyList<TargetRow> Targets);

public sealed record RunConditions(
    string StartedUtc,
    double DurationMinutes,
    bool Quick,
    string CpuModel,
    int Cores,
    string MemoryGiB,
    string Kernel,
    string Dotnet,
    string Commit,
    string LoadAverageAtStart,
    string LoadAverageAtEnd,
    double StealPercentWholeRun,
    double MachineBusyCoresWholeRun,
    string Python,
    int Seed,
    int Repetitions,
    IReadOnlyList<string> Notes);

/// <summary>A target, the figure measured in this run, whether it is met, and the measured reason.</summary>
public sealed record TargetRow(string Target, string Measured, bool? Met, string Why);
