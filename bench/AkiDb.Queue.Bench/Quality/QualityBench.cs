using System.Diagnostics;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.Bench.Quality;

/// <summary>
/// <c>./bench.sh quality</c>: every bundled model's int8 variant (quantised exactly as the worker does) against its
/// fp32 source on the three benchmark corpora and each kind of the quality set (bench/data/quality-set.tsv), plus the
/// quantisation schemes side by side on all-MiniLM-L6-v2, written to docs/quality.md. <c>--sensitivity</c> instead writes
/// docs/quality-sensitivity.md, the measurement behind the choice of MatMuls kept in fp32 (all-MiniLM-L6-v2, short corpus).
/// </summary>
public static class QualityBench
{
    /// <summary>Paraphrase, anchor and unrelated text: the anchor must stay nearer the paraphrase in both precisions.</summary>
    public static IReadOnlyList<(string Anchor, string Paraphrase, string Unrelated)> Triples { get; } =
    [
        ("A man is playing a guitar on stage.", "Someone performs music with a guitar in front of an audience.", "The quarterly tax filing deadline is next Tuesday."),
        ("The kitten chased a ball of yarn across the floor.", "A young cat played with a toy.", "The quarterly tax filing deadline is next Tuesday."),
        ("Who is playing the guitar?", "A man is playing a guitar on stage.", "The quarterly tax filing deadline is next Tuesday."),
        ("How do I reset my password?", "Steps to recover access to your account after forgetting the login password.", "The recipe needs two cups of flour and one egg."),
        ("The stock market fell sharply today.", "Shares dropped steeply in today's trading session.", "My dog loves to swim in the lake."),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var sensitivity = args.Contains("--sensitivity");
        var quick = args.Contains("--quick");
        var output = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault() is { } dir ? Path.GetFullPath(dir) : Path.Combine(Paths.Root, "docs");
        var settings = quick ? new BenchSettings { ShortTexts = 64, LongTexts = 16, MixedTexts = 32 } : new BenchSettings();
        const int threads = 2;
        Log.Section($"Quality of the int8 variants against fp32: {ProcStat.CpuModel()}, {Environment.ProcessorCount} cores, load average {ProcStat.LoadAverage()}");

        var extractor = new BundledModelExtractor(Paths.ModelCache, Path.Combine(AppContext.BaseDirectory, "models"), NullLogger.Instance);
        var cache = new QuantizedModelCache(Paths.ModelCache, NullLogger.Instance);
        var models = new List<ModelQuality>();
        IReadOnlyList<SchemeResult> schemes = [];
        foreach (var bundled in BundledModels.All)
        {
            var (onnx, vocab) = extractor.Extract(bundled);
            var fp32 = bundled.DefaultOptions().ToDefinition(bundled.Name, onnx, vocab);
            var tokenizer = TextTokenizer.Load(vocab, fp32.LowerCase, fp32.MaxTokens);
            var builder = new CorpusBuilder(tokenizer, settings.Seed);
            Corpus[] corpora =
            [
                builder.BuildShort(settings.ShortTexts), builder.BuildLong(settings.LongTexts), builder.BuildMixed(settings.MixedTexts),
                .. QualitySet.Load(Paths.QualitySet, tokenizer, quick ? 40 : int.MaxValue),
            ];

            var int8Entry = BundledModels.Catalogue()[BundledModels.Int8Name(bundled)];
            var options = Int8Settings.For(int8Entry);
            // --keep-fp32 "#4,#10" (or "none") measures another setting than the default, for development.
            if (args.SkipWhile(a => a != "--keep-fp32").Skip(1).FirstOrDefault() is { } keep)
            {
                options = new QuantizationOptions { KeepFp32 = keep == "none" ? [] : keep.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
            }

            var int8Path = cache.PathFor(onnx, options);
            File.Delete(int8Path);
            var started = Stopwatch.GetTimestamp();
            cache.Ensure(BundledModels.Int8Name(bundled), onnx, int8Path, options);
            var quantizeSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            Log.Info($"{bundled.Name}: quantised in {quantizeSeconds:F1} s ({options.Describe()}), {new FileInfo(onnx).Length / 1e6:F1} MB -> {new FileInfo(int8Path).Length / 1e6:F1} MB");

            using var reference = new Embedder(fp32, threads);
            if (sensitivity)
            {
                // The search behind Int8Settings.DefaultKeepFp32, on the corpus where int8 loses most neighbours.
                var only = args.Select((a, i) => (a, i)).Where(x => x.a == "--keep" && x.i + 1 < args.Length).Select(x => args[x.i + 1]).ToList();
                var result = Sensitivity.Measure(fp32, reference, corpora[0], threads, only);
                Directory.CreateDirectory(output);
                var sensitivityPath = Path.Combine(output, "quality-sensitivity.md");
                await File.WriteAllTextAsync(sensitivityPath, QualityReport.RenderSensitivity(result, ProcStat.CpuModel(), ProcStat.LoadAverage(), quick));
                Log.Info($"Wrote {sensitivityPath}");
                return 0;
            }

            using var candidate = new Embedder(fp32 with { Name = BundledModels.Int8Name(bundled), OnnxPath = int8Path, Precision = ModelPrecision.Int8 }, threads);
            if (args.Contains("--speed"))
            {
                SpeedCheck.Run(reference, candidate, corpora, pairs: 3);
                continue;
            }

            if (bundled == BundledModels.MiniLm && !args.Contains("--no-schemes"))
            {
                Log.Info($"{bundled.Name}: the quantisation schemes side by side");
                schemes = SchemeComparison.Run(fp32, reference, corpora, cache, threads);
            }

            var perCorpus = new List<CorpusQuality>();
            foreach (var corpus in corpora)
            {
                var q = QualityMetrics.Compare(corpus.Name, reference.Embed(corpus), candidate.Embed(corpus));
                Log.Info($"  {corpus.Name,-6} {q.Texts,5} texts: cosine mean {q.MeanCosine:F4}, p1 {q.P1Cosine:F4}, min {q.MinCosine:F4}; top-10 overlap {q.Top10Overlap:F3} ({q.Queries} queries)");
                perCorpus.Add(q);
            }

            var triples = Triples.Select(t =>
            {
                // For a prefix-trained model the anchor is a query, as the worker embeds one sent with inputType "query".
                long[] Ids(string text, bool query) => tokenizer.Encode(query && fp32.QueryPrefix is { } p ? p + text : text).Ids;
                (double Paraphrase, double Unrelated) Score(Embedder e)
                {
                    var anchor = e.Embed([t.Anchor], s => Ids(s, true))[0];
                    var docs = e.Embed([t.Paraphrase, t.Unrelated], s => Ids(s, false));
                    return (QualityMetrics.Dot(anchor, docs[0]), QualityMetrics.Dot(anchor, docs[1]));
                }

                return new TripleQuality(t.Anchor, Score(reference), Score(candidate));
            }).ToList();
            models.Add(new ModelQuality(bundled.Name, BundledModels.Int8Name(bundled), options.Describe(), quantizeSeconds,
                new FileInfo(onnx).Length, new FileInfo(int8Path).Length, perCorpus, triples));

        }

        if (args.Contains("--speed"))
        {
            return 0;
        }

        var report = new QualityReport(DateTime.UtcNow, ProcStat.CpuModel(), Environment.ProcessorCount, ProcStat.LoadAverage(), threads, models, quick) { Schemes = schemes };
        Directory.CreateDirectory(output);
        var path = Path.Combine(output, "quality.md");
        await File.WriteAllTextAsync(path, QualityReport.Render(report));
        Log.Info($"Wrote {path}");
        return report.AllTargetsMet ? 0 : 1;
    }
}

public sealed record TripleQuality(string Anchor, (double Paraphrase, double Unrelated) Fp32, (double Paraphrase, double Unrelated) Quantized)
{
    public bool OrderKept => Quantized.Paraphrase > Quantized.Unrelated;
}

public sealed record ModelQuality(string Source, string Variant, string Settings, double QuantizeSeconds, long Fp32Bytes, long Int8Bytes,
    IReadOnlyList<CorpusQuality> Corpora, IReadOnlyList<TripleQuality> Triples);
