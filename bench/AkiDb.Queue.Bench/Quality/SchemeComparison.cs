using System.Diagnostics;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Bench.Quality;

/// <summary>One quantisation scheme measured against fp32: worst quality over every corpus, batch dependence, cost.</summary>
public sealed record SchemeResult(string Label, string Settings, double WorstMean, double WorstMin, double WorstOverlap,
    IReadOnlyList<string> Missed, double BatchDependence, double CpuRatioShort, double CpuRatioMixed);

/// <summary>
/// The alternatives side by side on one model, for docs/quality.md: each scheme is quantised, embeds every corpus
/// (quality), embeds 32 mixed-length texts alone and as one batch (batch dependence: the largest difference of any
/// vector component), and runs the short and mixed corpora interleaved with fp32 (fp32, scheme, scheme, fp32, ...).
/// Cost is this process's CPU time per pass, not wall time: on a machine shared with other work the CPU time a pass
/// takes is what the scheme costs, where wall time also counts the waits for a core.
/// </summary>
internal static class SchemeComparison
{
    public static IReadOnlyList<(string Label, QuantizationOptions Options)> Schemes { get; } =
    [
        ("per-row activations, fused graph, all MatMuls int8 (the default)", QuantizationOptions.Default),
        ("per-tensor activations (DynamicQuantizeMatMul), fused graph, all MatMuls int8", new QuantizationOptions { Activations = ActivationScales.PerTensor }),
        ("per-tensor activations, unfused graph, FFN-in of layers 0-2 fp32 (the previous default)",
            new QuantizationOptions { Activations = ActivationScales.PerTensor, FuseFirst = false, KeepFp32 = ["#4", "#10", "#16"] }),
    ];

    public static List<SchemeResult> Run(ModelDefinition fp32, Embedder reference, IReadOnlyList<Corpus> corpora, QuantizedModelCache cache, int threads)
    {
        var results = new List<SchemeResult>();
        var referenceVectors = corpora.ToDictionary(c => c.Name, reference.Embed);
        var mixed = corpora.First(c => c.Name == "mixed");
        var probe = new Corpus("probe", "32 mixed-length texts", mixed.Texts.Take(32).ToList());
        foreach (var (label, options) in Schemes)
        {
            var path = cache.PathFor(fp32.OnnxPath, options);
            cache.Ensure(fp32.Name + "-int8", fp32.OnnxPath, path, options);
            using var candidate = new Embedder(fp32 with { OnnxPath = path, Precision = ModelPrecision.Int8 }, threads);
            var qualities = corpora.Select(c => QualityMetrics.Compare(c.Name, referenceVectors[c.Name], candidate.Embed(c))).ToList();
            var together = candidate.Embed(probe);
            var dependence = probe.Texts.Select((t, i) =>
            {
                var alone = candidate.Embed(new Corpus("one", "one text", [t]))[0];
                return alone.Zip(together[i], (a, b) => (double)Math.Abs(a - b)).Max();
            }).Max();
            var missed = qualities.Where(q => !QualityReport.Meets(q)).Select(q => q.Corpus).ToList();
            var result = new SchemeResult(label, options.Describe(), qualities.Min(q => q.MeanCosine), qualities.Min(q => q.MinCosine),
                qualities.Min(q => q.Top10Overlap), missed, dependence,
                CpuRatio(reference, candidate, corpora.First(c => c.Name == "short")), CpuRatio(reference, candidate, mixed));
            Log.Info($"  {label}: worst mean {result.WorstMean:F4}, worst min {result.WorstMin:F4}, worst top-10 {result.WorstOverlap:F3}, " +
                     $"batch dependence {result.BatchDependence:E1}, fp32/int8 CPU time short {result.CpuRatioShort:F2}x mixed {result.CpuRatioMixed:F2}x");
            results.Add(result);
        }

        return results;
    }

    /// <summary>Median over 3 pairs of fp32 CPU seconds / scheme CPU seconds for one pass over the corpus.</summary>
    private static double CpuRatio(Embedder fp32, Embedder int8, Corpus corpus)
    {
        var ratios = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var (first, second) = i % 2 == 0 ? (fp32, int8) : (int8, fp32);
            var a = CpuSeconds(first, corpus);
            var b = CpuSeconds(second, corpus);
            ratios.Add(i % 2 == 0 ? a / b : b / a);
        }

        return Stats.Median(ratios);
    }

    private static double CpuSeconds(Embedder embedder, Corpus corpus)
    {
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        embedder.Embed(corpus);
        return (Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds;
    }
}
