namespace AkiDb.Queue.Bench.Harness;

/// <summary>Sizes and durations of one run; <c>--quick</c> shrinks everything to a smoke run that still writes every output.</summary>
public sealed record BenchSettings
{
    public bool Quick { get; init; }

    public int Seed { get; init; } = 20261128;

    public int ShortTexts { get; init; } = 1000;
    public int LongTexts { get; init; } = 200;
    public int MixedTexts { get; init; } = 400;

    /// <summary>Passes over each corpus per method; passes of the methods are interleaved and the median is reported.</summary>
    public int Repetitions { get; init; } = 3;

    /// <summary>Short texts (the first of the corpus) in the batch-size sweep: batch 1 over the whole corpus would take too long.</summary>
    public int SweepTexts { get; init; } = 320;

    /// <summary>Idle time before an "idle" single-text inference: what a lone request at low load finds (ONNX Runtime's threads parked).</summary>
    public TimeSpan IdleGap { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Texts whose batch-of-one inference time is measured, per corpus (the latency target's "one single inference").</summary>
    public int SingleTexts { get; init; } = 60;

    public int EchoBinaryRounds { get; init; } = 2000;
    public int EchoJsonRounds { get; init; } = 150;

    /// <summary>Messages published before each end-to-end measurement (and waited for), so no scenario measures a cold worker.</summary>
    public int WarmupMessages { get; init; } = 64;

    /// <summary>
    /// Warm-up also lasts at least this long under saturating load. A fresh .NET process spends its first tens of seconds
    /// re-compiling hot methods (tiered JIT: up to half a core on this machine), which a long-running worker no longer
    /// pays; measuring inside that window would report start-up, not steady state.
    /// </summary>
    public TimeSpan WarmupDuration { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>A paced phase lasts MinSamples / rate seconds, clamped to [MinRateDuration, MaxRateDuration].</summary>
    public int MinSamples { get; init; } = 300;
    public TimeSpan MinRateDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan MaxRateDuration { get; init; } = TimeSpan.FromSeconds(40);

    public double[] LoadFractions { get; init; } = [0.10, 0.50, 0.80];

    public int ColdStarts { get; init; } = 3;

    public bool RunMicro { get; init; } = true;
    public bool RunInference { get; init; } = true;
    public bool RunEndToEnd { get; init; } = true;

    /// <summary>Encodings and <c>akidb-queue embed</c> (UserPath/UserPathBench.cs); alone, it writes only benchmarks-user-path.md.</summary>
    public bool RunUserPath { get; init; } = true;

    public bool OnlyUserPath { get; init; }

    /// <summary>JSONL lines for the <c>embed</c> row.</summary>
    public int EmbedTexts { get; init; } = 10_000;

    /// <summary>Section 6, the embedding cache (needs the broker and redis-server).</summary>
    public bool RunCache { get; init; } = true;

    /// <summary>End-to-end configurations to run (all when empty): for side-by-side runs of a few while developing.</summary>
    public IReadOnlyList<string> EndToEndConfigs { get; init; } = [];

    /// <summary>Corpora to run (all when empty).</summary>
    public IReadOnlyList<string> Corpora { get; init; } = [];

    /// <summary>Only re-render benchmarks.md and the plots from the benchmarks.json in the output directory.</summary>
    public bool RenderOnly { get; init; }

    public string OutputDirectory { get; init; } = Path.Combine(Paths.Root, "docs");

    /// <summary>Only the priority scenario (interactive next to a bulk backlog), with its own report.</summary>
    public bool RunPriorities { get; init; }

    /// <summary>--path: only the path around the model (issue 23's four targets), to benchmarks-path.md.</summary>
    public bool RunPath { get; init; }

    /// <summary>
    /// --path-latency: the path section without its two embed passes (lone requests, interactive behind bulk, memory;
    /// a few minutes), to benchmarks-path.md with the embed targets marked not measured.
    /// </summary>
    public bool PathLatencyOnly { get; init; }

    public static BenchSettings Parse(string[] args)
    {
        var quick = args.Contains("--quick");
        var settings = quick
            ? new BenchSettings
            {
                Quick = true,
                ShortTexts = 64,
                LongTexts = 16,
                MixedTexts = 32,
                SweepTexts = 64,
                Repetitions = 1,
                SingleTexts = 6,
                EchoBinaryRounds = 300,
                EchoJsonRounds = 20,
                WarmupMessages = 8,
                WarmupDuration = TimeSpan.FromSeconds(1),
                MinSamples = 5,
                MinRateDuration = TimeSpan.FromSeconds(2),
                MaxRateDuration = TimeSpan.FromSeconds(2),
                ColdStarts = 1,
                EmbedTexts = 200,
                // A smoke run must not overwrite the published figures.
                OutputDirectory = Path.Combine(Paths.Artifacts, "quick"),
            }
            : new BenchSettings();

        for (var i = 0; i < args.Length; i++)
        {
            settings = args[i] switch
            {
                "--quick" => settings,
                "--out" when i + 1 < args.Length => settings with { OutputDirectory = Path.GetFullPath(args[++i]) },
                "--skip-micro" => settings with { RunMicro = false },
                "--skip-inference" => settings with { RunInference = false },
                "--skip-e2e" => settings with { RunEndToEnd = false },
                "--skip-user-path" => settings with { RunUserPath = false },
                "--only-user-path" => settings with { RunMicro = false, RunInference = false, RunEndToEnd = false, RunUserPath = true, OnlyUserPath = true },
                "--skip-cache" => settings with { RunCache = false },
                "--render-only" => settings with { RenderOnly = true },
                "--priorities" => settings with { RunPriorities = true },
                "--path" => settings with { RunPath = true },
                "--path-latency" => settings with { RunPath = true, PathLatencyOnly = true },
                "--e2e-configs" when i + 1 < args.Length => settings with { EndToEndConfigs = List(args[++i]) },
                "--corpora" when i + 1 < args.Length => settings with { Corpora = List(args[++i]) },
                "-h" or "--help" => throw new ArgumentException(Usage),
                _ => throw new ArgumentException($"Unknown argument '{args[i]}'.\n{Usage}"),
            };
        }

        return settings;
    }

    private static string[] List(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public const string Usage =
        "usage: bench.sh [--quick] [--out DIR] [--skip-micro] [--skip-inference] [--skip-e2e] [--e2e-configs A,B] [--corpora A,B] [--skip-user-path] [--skip-cache] [--only-user-path] [--render-only] [--priorities] [--path] [--path-latency]\n" +
        "  --quick   tiny corpora and short phases: a smoke run of every section (~2 min), written to .artifacts/bench/quick\n" +
        "  --out     where benchmarks.md, benchmarks.json and the plots go (default docs/)\n" +
        "  --skip-*  leave a section out (for development; the report then lacks it)\n" +
        "  --only-user-path  only the encodings and akidb-queue embed rows, written to benchmarks-user-path.md (needs src/Cli built in Release)\n" +
        "  --e2e-configs  only these end-to-end configurations, e.g. \"python default,native\" (for development)\n" +
        "  --corpora  only these corpora: short, long, mixed (for development)\n" +
        "  --render-only  rewrite benchmarks.md and the plots from the benchmarks.json already in the output directory\n" +
        "  --priorities  only the priority scenario (bulk backlog + interactive requests), to benchmarks-priorities.md\n" +
        "  --path    only the path around the model: embed first pass and cached re-ingestion vs the fp32 limit, per process and stage; lone requests; interactive behind bulk; memory (benchmarks-path.md)\n" +
        "  --path-latency  the same without the two embed passes: lone requests, interactive behind bulk, memory (a few minutes)\n" +
        "  bench.sh int8 [--quick] [--pairs N] [--out DIR]: only the in-process limit, fp32 against int8, to benchmarks-int8.md\n" +
        "  bench.sh quality [--quick] [--sensitivity] [--no-schemes] [--out DIR]: the int8 models' quality, to quality.md\n" +
        "  AKIDB_BENCH_RABBITMQ_URL (+ AKIDB_BENCH_RABBITMQ_MANAGEMENT_URL): use that broker instead of starting a private one";
}
