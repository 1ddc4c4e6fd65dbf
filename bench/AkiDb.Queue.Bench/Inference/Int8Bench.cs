using System.Diagnostics;
using System.Globalization;
using System.Text;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Bench.Report;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>
/// <c>./bench.sh int8</c>: the in-process limit of all-MiniLM-L6-v2 in fp32 and int8 side by side, without the broker,
/// bridges and end-to-end phases of the full run (minutes instead of half an hour), written to docs/benchmarks-int8.md:
/// passes alternate fp32, int8, int8, fp32, ... on each corpus (length-sorted batches of 32, each pass the faster of 2 intra-op
/// threads and 2 single-threaded lanes, <see cref="LimitSessions"/>, the
/// native backend's session), the ratio is taken per pair of back-to-back passes, and the median over pairs is reported.
/// It also reports the arithmetic each reached (multiply-adds per second, from the model's shapes) against this CPU's
/// peak, whether a text gets the same int8 vector alone and in a batch, and how long loading each file takes.
/// </summary>
public static class Int8Bench
{
    private const int Threads = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var pairs = args.SkipWhile(a => a != "--pairs").Skip(1).FirstOrDefault() is { } p ? int.Parse(p, CultureInfo.InvariantCulture) : quick ? 1 : 3;
        var output = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault() is { } dir ? Path.GetFullPath(dir)
            : quick ? Path.Combine(Paths.Artifacts, "quick") : Path.Combine(Paths.Root, "docs");
        // The full run's short corpus, half its long and mixed ones (the same seed: the same kind of texts), to keep it to minutes.
        var settings = quick ? new BenchSettings { ShortTexts = 64, LongTexts = 16, MixedTexts = 32 } : new BenchSettings { LongTexts = 100, MixedTexts = 200 };
        var started = DateTime.UtcNow;
        var load = ProcStat.LoadAverage();
        var cpuAtStart = ProcStat.MachineCpu();
        var peak = CpuPeak.Read();
        Log.Section($"int8 against fp32, in-process: {peak.Model}, {Environment.ProcessorCount} cores, load average {load}");
        Log.Info(peak.Describe());

        var model = ModelFiles.Load();
        var int8 = Int8Files.For(model.Definition);
        if (args.SkipWhile(a => a != "--int8-file").Skip(1).FirstOrDefault() is { } other)
        {
            // An experiment: another int8 file of the same model in place of the cached one.
            int8 = int8 with { OnnxPath = Path.GetFullPath(other) };
        }

        var builder = new CorpusBuilder(model.Tokenizer, settings.Seed);
        Corpus[] corpora = [builder.BuildShort(settings.ShortTexts), builder.BuildLong(settings.LongTexts), builder.BuildMixed(settings.MixedTexts)];
        var spinning = new NativeOptions().AllowSpinning;
        var loadMs = MeasureLoads(model.Definition, int8, quick ? 1 : 3, spinning);
        using var fp32Limit = new LimitSessions(model.Definition, Threads, spinning);
        using var int8Limit = new LimitSessions(int8, Threads, spinning);
        var arithmetic = ModelArithmetic.Of(model.Definition.OnnxPath);
        Log.Info($"Model arithmetic: {arithmetic.LinearMacsPerToken / 1e6:F2} M weight multiply-adds per token, {arithmetic.Layers} layers, hidden {arithmetic.Hidden}");

        // Where each model's time goes on the short corpus, before the timed passes (docs/benchmarks-int8.md, "Where the time goes").
        var shortBatches = corpora[0].SortedBatches(32, model.Name);
        IReadOnlyList<ProfileSplit> profile = [Int8Profile.Measure("fp32", model.Definition, shortBatches, Threads, spinning), Int8Profile.Measure("int8", int8, shortBatches, Threads, spinning)];
        foreach (var split in profile)
        {
            Log.Info($"Profile, short corpus: {split.Describe()}");
        }

        if (args.Contains("--profile-only"))
        {
            var table = new StringBuilder();
            Int8Profile.Render(table, profile, "short");
            Console.WriteLine(table);
            return 0;
        }

        var rows = new List<Int8Row>();
        foreach (var corpus in corpora)
        {
            var batches = corpus.SortedBatches(32, model.Name);
            var macs = batches.Sum(arithmetic.Macs);
            var linearShare = batches.Sum(b => arithmetic.Macs(b) * arithmetic.LinearShare(b)) / macs;
            fp32Limit.Best(batches);
            int8Limit.Best(batches); // warm-up: arenas grow to the largest batch
            var fp32Seconds = new List<LimitPass>();
            var int8Seconds = new List<LimitPass>();
            for (var i = 0; i < pairs; i++)
            {
                // A B B A: each takes the first slot of a pair as often as the second.
                if (i % 2 == 0)
                {
                    fp32Seconds.Add(fp32Limit.Best(batches));
                    int8Seconds.Add(int8Limit.Best(batches));
                }
                else
                {
                    int8Seconds.Add(int8Limit.Best(batches));
                    fp32Seconds.Add(fp32Limit.Best(batches));
                }

                Log.Info($"{corpus.Name,-6} pair {i + 1}/{pairs}: fp32 {corpus.Count / fp32Seconds[^1].Wall,7:F1} texts/s, int8 {corpus.Count / int8Seconds[^1].Wall,7:F1} texts/s, " +
                         $"ratio {fp32Seconds[^1].Wall / int8Seconds[^1].Wall:F2}x wall, {fp32Seconds[^1].Cpu / int8Seconds[^1].Cpu:F2}x CPU time; " +
                         $"faster shape fp32 {Describe(fp32Seconds[^1], corpus.Count)}, int8 {Describe(int8Seconds[^1], corpus.Count)}");
            }

            var row = new Int8Row(corpus.Name, corpus.Count, Stats.Median(fp32Seconds.Select(s => corpus.Count / s.Wall)), Stats.Median(int8Seconds.Select(s => corpus.Count / s.Wall)),
                fp32Seconds.Zip(int8Seconds, (a, b) => a.Wall / b.Wall).ToList(), fp32Seconds.Zip(int8Seconds, (a, b) => a.Cpu / b.Cpu).ToList(),
                Stats.Median(fp32Seconds.Select(s => corpus.Count / s.Cpu)), Stats.Median(int8Seconds.Select(s => corpus.Count / s.Cpu)), macs / corpus.Count, linearShare)
            {
                Fp32Shapes = fp32Seconds.Select(s => Describe(s, corpus.Count)).ToList(),
                Int8Shapes = int8Seconds.Select(s => Describe(s, corpus.Count)).ToList(),
            };
            Log.Info($"{corpus.Name,-6} median: fp32 {row.Fp32TextsPerSecond:F1} texts/s, int8 {row.Int8TextsPerSecond:F1} texts/s, int8/fp32 {row.Ratio:F2}x wall, {row.CpuRatio:F2}x CPU time; " +
                     $"{row.Fp32Macs / 1e9:F1} G MAC/s fp32 ({row.Fp32Macs / peak.Fp32PeakMacs * 100:F1} % of peak), {row.Int8Macs / 1e9:F1} G MAC/s int8 ({row.Int8Macs / peak.Int8PeakMacs * 100:F1} % of the int8 peak)");
            rows.Add(row);
        }

        var dependence = BatchDependence(int8Limit.Threads, corpora[2], model.Name);
        Log.Info($"int8 batch dependence: 32 mixed-length texts alone vs as one batch, max abs diff {dependence:E1}");

        Int8UserPathResults? userPath = null;
        if (!args.Contains("--skip-user-path"))
        {
            try
            {
                // The short corpus, repeated with numbered prefixes to the embed size (every text distinct, about the same length).
                var embedCount = Option(args, "--embed-texts") ?? (quick ? 200 : 10_000);
                var embedTexts = Enumerable.Range(0, embedCount)
                    .Select(i => i < corpora[0].Count ? corpora[0].Texts[i] : Retokenised($"{i / corpora[0].Count}. {corpora[0].Texts[i % corpora[0].Count].Text}", model))
                    .ToList();
                userPath = await new Int8UserPath(model, fp32Limit, int8Limit, embedTexts, Option(args, "--rounds") ?? (quick ? 1 : 3), Option(args, "--starts") ?? (quick ? 1 : 3)).RunAsync();
            }
            catch (InvalidOperationException e)
            {
                // No broker or no worker: the in-process figures are still written.
                Log.Info($"int8 user path FAILED: {e.Message}");
            }
        }

        var (busy, steal) = ProcStat.MachineUse(cpuAtStart, ProcStat.MachineCpu());
        var report = new Int8Report(started, peak, load, ProcStat.LoadAverage(), busy, steal, OrtEnv.Instance().GetVersionString(), Threads, spinning, pairs,
            int8.OnnxPath, rows, dependence, loadMs, quick, userPath, (DateTime.UtcNow - started).TotalMinutes) { Profile = profile };
        Directory.CreateDirectory(output);
        var path = Path.Combine(output, "benchmarks-int8.md");
        await File.WriteAllTextAsync(path, report.Render());
        Log.Info($"Wrote {path}");
        var summary = report.Summary();
        await Int8Summary.WriteAsync(output, summary);
        foreach (var t in summary.Targets)
        {
            Log.Info($"[{t.Met switch { true => "MET", false => "MISSED", _ => "n/a" }}] {t.Target}: {t.Measured}");
        }

        // docs/benchmarks.md carries these targets: re-rendered from the full run's benchmarks.json with this summary.
        if (await Int8Summary.RerenderMainReportAsync(output) is { } main)
        {
            Log.Info($"Re-rendered {main} with the int8 targets of this run");
        }

        return 0;
    }

    private static int? Option(string[] args, string name) =>
        args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;

    private static CorpusText Retokenised(string text, ModelFiles model) => new(text, model.Tokenizer.Encode(text).Ids);

    /// <summary>The shape that won a pass, its texts/s and the other shape's.</summary>
    private static string Describe(LimitPass pass, int texts) =>
        FormattableString.Invariant($"{(pass.Shape == LimitShape.Threads ? $"{Threads} threads" : $"{Threads} lanes")} {texts / pass.Wall:F0}/s (other {texts / pass.OtherWall:F0}/s)");

    private static double BatchDependence(NativeModelSession session, Corpus corpus, string model)
    {
        var texts = corpus.Texts.Take(32).ToList();
        var together = session.Run(Corpus.ToBatch(texts, model));
        return texts.Select((t, i) =>
        {
            var alone = session.Run(Corpus.ToBatch([t], model));
            return alone.Vectors.Zip(together.Row(i).ToArray(), (a, b) => (double)Math.Abs(a - b)).Max();
        }).Max();
    }

    /// <summary>
    /// Median wall and CPU milliseconds to open each file in a session (the narrow one, as a worker loads a model),
    /// alternating. CPU time is the work of loading; wall time also counts waiting for a core on a shared machine.
    /// </summary>
    private static LoadTimes MeasureLoads(ModelText.Models.ModelDefinition fp32, ModelText.Models.ModelDefinition int8, int times, bool spinning)
    {
        var wall = new[] { new List<double>(), new List<double>() };
        var cpu = new[] { new List<double>(), new List<double>() };
        for (var i = 0; i < times; i++)
        {
            foreach (var (definition, k) in new[] { (fp32, 0), (int8, 1) })
            {
                var clock = Stopwatch.StartNew();
                var before = Process.GetCurrentProcess().TotalProcessorTime;
                using (new NativeModelSession(definition, Threads, [ExecutionProvider.CPU], spinning))
                {
                    wall[k].Add(clock.Elapsed.TotalMilliseconds);
                    cpu[k].Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds);
                }
            }
        }

        var result = new LoadTimes(Stats.Median(wall[0]), Stats.Median(cpu[0]), Stats.Median(wall[1]), Stats.Median(cpu[1]), times);
        Log.Info($"Session load, median of {times}: fp32 {result.Fp32WallMs:F0} ms ({result.Fp32CpuMs:F0} ms CPU), int8 {result.Int8WallMs:F0} ms ({result.Int8CpuMs:F0} ms CPU)");
        return result;
    }
}

public sealed record LoadTimes(double Fp32WallMs, double Fp32CpuMs, double Int8WallMs, double Int8CpuMs, int Times);

/// <summary>
/// One corpus: wall-clock texts/s (median of passes), the per-pair ratios in wall and CPU time, and texts per CPU-second
/// (what the arithmetic rate is computed from: on a shared machine a pass's wall time includes waiting for a core).
/// </summary>
public sealed record Int8Row(string Corpus, int Texts, double Fp32TextsPerSecond, double Int8TextsPerSecond, IReadOnlyList<double> Ratios,
    IReadOnlyList<double> CpuRatios, double Fp32TextsPerCpuSecond, double Int8TextsPerCpuSecond, double MacsPerText, double LinearShare)
{
    /// <summary>Per pass: the shape of using the cores that was faster, its rate and the other shape's.</summary>
    public IReadOnlyList<string> Fp32Shapes { get; init; } = [];

    public IReadOnlyList<string> Int8Shapes { get; init; } = [];

    public double Ratio => Stats.Median(Ratios);

    public double CpuRatio => Stats.Median(CpuRatios);

    /// <summary>Multiply-adds per second of one core's time, times the threads: the rate if both cores ran only this.</summary>
    public double Fp32Macs => Fp32TextsPerCpuSecond * MacsPerText * 2;

    public double Int8Macs => Int8TextsPerCpuSecond * MacsPerText * 2;
}

public sealed record Int8Report(DateTime Utc, CpuPeak Peak, string LoadAtStart, string LoadAtEnd, double BusyCores, double StealPercent, string OrtVersion,
    int Threads, bool Spinning, int Pairs, string Int8File, IReadOnlyList<Int8Row> Rows, double BatchDependence, LoadTimes Load, bool Quick,
    Int8UserPathResults? UserPath, double Minutes)
{
    public IReadOnlyList<ProfileSplit> Profile { get; init; } = [];

    public static readonly Dictionary<string, double> Targets = new() { ["short"] = 2.0, ["mixed"] = 1.8 };

    public string Render()
    {
        var s = new StringBuilder();
        string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
        s.AppendLine("# int8 against fp32: the in-process limit, start-up and `akidb-queue embed`");
        s.AppendLine();
        s.AppendLine("Generated by `./bench.sh int8` (bench/AkiDb.Queue.Bench/Inference/Int8Bench.cs); do not edit by hand.");
        s.AppendLine(CultureInfo.InvariantCulture, $"Run {Utc:yyyy-MM-dd HH:mm} UTC on {Peak.Model}, {Peak.Cores} cores, ONNX Runtime {OrtVersion} (CPU), each model's limit the faster of {Threads} intra-op threads and {Threads} single-threaded lanes per pass, spinning {(Spinning ? "on" : "off")}{(Quick ? ", **--quick: not the published figures**" : string.Empty)}.");
        s.AppendLine(CultureInfo.InvariantCulture, $"Machine during the run: {F(BusyCores, "F2")} of {Peak.Cores} cores busy (this benchmark and everything else), {F(StealPercent)} % stolen; load average {LoadAtStart} at the start, {LoadAtEnd} at the end. The machine is shared: ratios of back-to-back passes are what to read, absolute rates move with the load.");
        s.AppendLine();
        s.AppendLine("The in-process limit: all-MiniLM-L6-v2 (fp32) and its int8 variant (the file the worker makes and caches:");
        s.AppendLine("fused by ONNX Runtime, int8 weights, per-row activation scales; docs/quality.md), each in the native backend's session,");
        s.AppendLine(CultureInfo.InvariantCulture, $"over the same length-sorted batches of 32. A limit is the best the machine does with a model, so each pass runs both ways of using the {Threads} cores,");
        s.AppendLine(CultureInfo.InvariantCulture, $"one batch at a time with {Threads} intra-op threads, and {Threads} single-threaded runs at once on one session (as the worker's bridges, one per core, run),");
        s.AppendLine("and counts the faster (the table below says which won each pass, and the other's rate).");
        s.AppendLine(CultureInfo.InvariantCulture, $"Passes alternate fp32, int8, int8, fp32, ... ({Pairs} pair(s) per corpus after a warm-up pass of each);");
        s.AppendLine("the ratio is fp32 time / int8 time per pair, the median over pairs, in wall time (the in-process limit as the targets define it)");
        s.AppendLine("and in this process's CPU time (the work each pass cost: on a machine shared with other work, wall time also counts waiting");
        s.AppendLine("for a core, which hits whichever pass the other work happened to overlap).");
        s.AppendLine();
        s.AppendLine("## Targets");
        s.AppendLine();
        s.AppendLine("| target | measured (this run) | met | why (measured) |");
        s.AppendLine("|---|---|---|---|");
        foreach (var t in Summary().Targets)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"| {t.Target} | {t.Measured} | {t.Met switch { true => "**yes**", false => "**no**", _ => "-" }} | {t.Why} |");
        }

        s.AppendLine();
        s.AppendLine("## The in-process limit");
        s.AppendLine();
        s.AppendLine("| corpus | texts | fp32 texts/s | int8 texts/s | int8 / fp32, wall (pairs) | int8 / fp32, CPU time (pairs) | target | met (wall) | met (CPU time) |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in Rows)
        {
            var target = Targets.TryGetValue(r.Corpus, out var t) ? t : (double?)null;
            string Met(double ratio) => target is { } w ? (ratio >= w ? "yes" : "**no**") : "-";
            s.AppendLine(CultureInfo.InvariantCulture, $"| {r.Corpus} | {r.Texts:N0} | {F(r.Fp32TextsPerSecond)} | {F(r.Int8TextsPerSecond)} | **{F(r.Ratio, "F2")}x** ({string.Join(", ", r.Ratios.Select(x => F(x, "F2")))}) | **{F(r.CpuRatio, "F2")}x** ({string.Join(", ", r.CpuRatios.Select(x => F(x, "F2")))}) | {(target is { } v ? $">= {F(v)}x" : "-")} | {Met(r.Ratio)} | {Met(r.CpuRatio)} |");
        }

        s.AppendLine();
        s.AppendLine("The faster way of using the cores in each pass (texts/s; \"other\": the other way in the same pass):");
        s.AppendLine();
        s.AppendLine("| corpus | fp32 passes | int8 passes |");
        s.AppendLine("|---|---|---|");
        foreach (var r in Rows)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"| {r.Corpus} | {string.Join("; ", r.Fp32Shapes)} | {string.Join("; ", r.Int8Shapes)} |");
        }

        s.AppendLine();
        s.AppendLine("## Distance to the hardware");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Peak: {Peak.Describe()}.");
        s.AppendLine("Reached: the multiply-adds of the GEMMs each pass must do on the padded batches (weight MatMuls from the model's shapes,");
        s.AppendLine(CultureInfo.InvariantCulture, $"attention products 2 x L x hidden per token and layer) per CPU-second of the pass, times the {Threads} threads: the rate both cores would");
        s.AppendLine("reach running only this (wall time on the shared machine would understate it by however much other work ran). int8 runs the weight MatMuls in integers and");
        s.AppendLine("the attention products (and everything else) in fp32, so its share of the int8 peak is an upper bound on how busy the integer units were.");
        s.AppendLine();
        s.AppendLine("| corpus | multiply-adds per text | in weight MatMuls | fp32 G MAC/s | of fp32 peak | int8 G MAC/s | of int8 peak |");
        s.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in Rows)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"| {r.Corpus} | {F(r.MacsPerText / 1e6)} M | {F(r.LinearShare * 100)} % | {F(r.Fp32Macs / 1e9)} | {F(r.Fp32Macs / Peak.Fp32PeakMacs * 100)} % | {F(r.Int8Macs / 1e9)} | {F(r.Int8Macs / Peak.Int8PeakMacs * 100)} % |");
        }

        if (Profile.Count > 0)
        {
            Int8Profile.Render(s, Profile, "short");
        }

        s.AppendLine();
        s.AppendLine("## Batch invariance and load time");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"- 32 mixed-length texts embedded alone and as one batch with the int8 file: largest difference of any vector component **{BatchDependence.ToString("0.0E+0", CultureInfo.InvariantCulture)}** (target: within 1e-6).");
        s.AppendLine(CultureInfo.InvariantCulture, $"- Opening a session on the cached file (in-process, the narrow session, median of {Load.Times}): fp32 {F(Load.Fp32WallMs, "F0")} ms wall / {F(Load.Fp32CpuMs, "F0")} ms CPU, int8 {F(Load.Int8WallMs, "F0")} ms wall / {F(Load.Int8CpuMs, "F0")} ms CPU (wall time includes waiting for a core on the shared machine).");
        s.AppendLine(CultureInfo.InvariantCulture, $"- int8 file: `{Path.GetFileName(Int8File)}` ({F(new FileInfo(Int8File).Length / 1e6)} MB).");
        if (UserPath is { } user)
        {
            Int8UserPathReport.Render(s, user);
        }

        return s.ToString();
    }

    /// <summary>The issue's targets, met or not, with the measured reason: benchmarks-int8.md's table and docs/benchmarks.md's int8 section.</summary>
    public Int8Summary Summary()
    {
        var rows = new List<TargetRow>();
        string F(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);
        var machine = $"machine {F(BusyCores)} of {Peak.Cores} cores busy over the run, load average {LoadAtStart} at the start, {LoadAtEnd} at the end";
        foreach (var r in Rows.Where(r => Targets.ContainsKey(r.Corpus)))
        {
            var target = Targets[r.Corpus];
            var wallMet = r.Ratio >= target;
            var why = wallMet
                ? $"{Pairs} side-by-side pairs, wall ratios {string.Join(", ", r.Ratios.Select(x => F(x)))}; in CPU time {F(r.CpuRatio)}x. {LinearWhy(r)}"
                : r.CpuRatio >= target
                    ? $"Wall time falls short while CPU time meets it ({F(r.CpuRatio)}x: pairs {string.Join(", ", r.CpuRatios.Select(x => F(x)))}): the two passes of a pair did the work the CPU-time ratio says, and wall time adds the time each waited for a core while other work ran ({machine}). {LinearWhy(r)}"
                    : $"CPU time too ({F(r.CpuRatio)}x): the integer GEMMs do not gain enough over fp32 here. {LinearWhy(r)}";
            rows.Add(new TargetRow($"int8 in-process limit >= {F(target, "F1")}x fp32, {r.Corpus} (wall time, median of side-by-side pairs)",
                $"{F(r.Ratio)}x wall ({F(r.Int8TextsPerSecond, "F0")} vs {F(r.Fp32TextsPerSecond, "F0")} texts/s); {F(r.CpuRatio)}x CPU time", wallMet, why));
        }

        rows.Add(new TargetRow("Same int8 vector alone and in a batch of 32 mixed lengths, within 1e-6",
            $"largest difference {BatchDependence.ToString("0.0E+0", CultureInfo.InvariantCulture)}", BatchDependence <= 1e-6,
            "Activations are quantised with one scale per row (token), so a text's rows never see its batch-mates' values; also tested through both backends (Int8ModelTests)."));
        if (UserPath is { } user)
        {
            rows.AddRange(Int8UserPathReport.Targets(user));
        }

        return new Int8Summary($"{Utc:yyyy-MM-dd HH:mm} UTC", FormattableString.Invariant($"{Peak.Model}, {Peak.Cores} cores; {machine}"), Minutes, Quick, rows);
    }

    private string LinearWhy(Int8Row r) =>
        FormattableString.Invariant($"Weight MatMuls are {r.LinearShare * 100:F1} % of the multiply-adds and run as integer GEMMs; the attention products, LayerNorm, GELU and softmax stay fp32. fp32 reached {r.Fp32Macs / Peak.Fp32PeakMacs * 100:F0} % of this CPU's fp32 peak, int8 {r.Int8Macs / Peak.Int8PeakMacs * 100:F0} % of the int8 peak (per CPU-second).");
}
