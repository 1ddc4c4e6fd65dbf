using System.Globalization;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.Compare;

/// <summary>The arguments of <c>./bench.sh compare</c>; bench.sh passes where it published each worker.</summary>
public sealed record CompareSettings(CompareSide Baseline, CompareSide Current, int Pairs, BenchSettings Bench, string OutputFile)
{
    public const string Usage =
        "usage: bench.sh compare [--baseline COMMIT] [--pairs N] [--corpora A,B] [--quick] [--out FILE]\n" +
        "  --baseline  the commit to compare against (default fd64925, main just before the issue-21 architecture merge)\n" +
        "  --pairs     baseline/current pairs per corpus (default 3; --quick 1)\n" +
        "  --out       the report (default docs/benchmarks-architecture.md; --quick .artifacts/bench/quick/benchmarks-architecture.md)";

    public static CompareSettings Parse(string[] args)
    {
        string? Value(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        string Required(string name) => Value(name) ?? throw new ArgumentException($"bench.sh passes {name}; run ./bench.sh compare.\n{Usage}");

        var quick = args.Contains("--quick");
        var bench = quick
            ? new BenchSettings { ShortTexts = 64, LongTexts = 16, MixedTexts = 32, WarmupMessages = 8, WarmupDuration = TimeSpan.FromSeconds(1), MinSamples = 5,
                MinRateDuration = TimeSpan.FromSeconds(2), MaxRateDuration = TimeSpan.FromSeconds(2) }
            // The full run's seed and kinds of text, half as many of each: a saturation phase still lasts seconds, and
            // three pairs of six runs fit in half an hour on a loaded machine.
            : new BenchSettings { ShortTexts = 500, LongTexts = 100, MixedTexts = 200 };
        if (Value("--corpora") is { } corpora)
        {
            bench = bench with { Corpora = corpora.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
        }

        var pairs = Value("--pairs") is { } p ? int.Parse(p, CultureInfo.InvariantCulture) : quick ? 1 : 3;
        var output = Value("--out") is { } o ? Path.GetFullPath(o)
            : Path.Combine(quick ? Path.Combine(Paths.Artifacts, "quick") : Path.Combine(Paths.Root, "docs"), "benchmarks-architecture.md");
        return new CompareSettings(
            new CompareSide("baseline", Required("--baseline-commit"), Required("--baseline-dll"), Required("--baseline-root")),
            new CompareSide("current", Required("--current-commit"), Paths.WorkerDll, Paths.Root),
            pairs,
            bench,
            output);
    }
}
