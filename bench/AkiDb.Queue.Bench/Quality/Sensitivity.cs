using System.Diagnostics;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;

namespace AkiDb.Queue.Bench.Quality;

/// <summary>One quantiser setting measured against fp32 on one corpus: quality, and the time of one pass over the corpus.</summary>
public sealed record SensitivityRow(string Label, string Settings, CorpusQuality Quality, double Seconds);

public sealed record SensitivityResult(string Model, string Corpus, double Fp32Seconds, IReadOnlyList<SensitivityRow> Rows);

/// <summary>
/// Which MatMuls to keep in fp32: quantise all but a group (one role in every layer, or one whole layer) and see
/// what each group costs in quality and speed. The six weight MatMuls of a BERT layer, in graph order, are
/// query, key, value, attention output, FFN in and FFN out.
/// </summary>
internal static class Sensitivity
{
    private static readonly string[] Roles = ["query", "key", "value", "attention output", "FFN in", "FFN out"];

    /// <summary>Measures the groups below, or with <paramref name="only"/> (from <c>--keep LABEL=#4,#10</c>) just those and the baseline.</summary>
    public static SensitivityResult Measure(ModelDefinition fp32, Embedder reference, Corpus corpus, int threads, IReadOnlyList<string>? only = null)
    {
        var variants = only is { Count: > 0 }
            ? [("all quantised", new QuantizationOptions()), .. only.Select(Parse)]
            : Groups();
        return Measure(fp32, reference, corpus, threads, variants);
    }

    private static (string Label, QuantizationOptions Options) Parse(string spec) =>
        spec.Split('=', 2) is [var label, var list]
            ? (label, new QuantizationOptions { KeepFp32 = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) })
            : throw new ArgumentException($"--keep wants LABEL=#a,#b, not '{spec}'.");

    private static List<(string Label, QuantizationOptions Options)> Groups()
    {
        const int layers = 6;
        var variants = new List<(string Label, QuantizationOptions Options)>
        {
            ("all quantised", new QuantizationOptions()),
            ("all quantised, per-tensor scales", new QuantizationOptions { PerTensor = true }),
        };
        for (var r = 0; r < Roles.Length; r++)
        {
            variants.Add(($"{Roles[r]} of every layer kept", Keep(Enumerable.Range(0, layers).Select(l => 6 * l + r))));
        }

        for (var l = 0; l < layers; l++)
        {
            variants.Add(($"layer {l} kept", Keep(Enumerable.Range(6 * l, 6))));
        }

        variants.Add(("FFN in of layers 0-2 kept", Keep([4, 10, 16])));
        variants.Add(("FFN in of layers 3-5 kept", Keep([22, 28, 34])));
        variants.Add(("FFN in of layers 0, 2, 4 kept", Keep([4, 16, 28])));
        return variants;
    }

    private static SensitivityResult Measure(ModelDefinition fp32, Embedder reference, Corpus corpus, int threads, List<(string Label, QuantizationOptions Options)> variants)
    {

        reference.Embed(corpus);
        var started = Stopwatch.GetTimestamp();
        var baseline = reference.Embed(corpus);
        var fp32Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var folder = Path.Combine(Paths.Artifacts, "quality");
        Directory.CreateDirectory(folder);
        var rows = new List<SensitivityRow>();
        foreach (var (label, options) in variants)
        {
            var path = Path.Combine(folder, "sensitivity.onnx");
            OnnxQuantizer.QuantizeFile(fp32.OnnxPath, path, options);
            using var embedder = new Embedder(fp32 with { OnnxPath = path, Precision = ModelPrecision.Int8 }, threads);
            embedder.Embed(corpus); // warm-up pass: first runs pay ORT's allocations
            var t = Stopwatch.GetTimestamp();
            var vectors = embedder.Embed(corpus);
            var seconds = Stopwatch.GetElapsedTime(t).TotalSeconds;
            var quality = QualityMetrics.Compare(corpus.Name, baseline, vectors);
            Log.Info($"  {label,-36} cosine mean {quality.MeanCosine:F4} min {quality.MinCosine:F4}, top-10 {quality.Top10Overlap:F3}, {fp32Seconds / seconds:F2}x fp32 speed");
            rows.Add(new SensitivityRow(label, options.Describe(), quality, seconds));
            File.Delete(path);
        }

        return new SensitivityResult(fp32.Name, corpus.Name, fp32Seconds, rows);
    }

    private static QuantizationOptions Keep(IEnumerable<int> indices) =>
        new() { KeepFp32 = indices.Select(i => $"#{i}").ToArray() };
}
