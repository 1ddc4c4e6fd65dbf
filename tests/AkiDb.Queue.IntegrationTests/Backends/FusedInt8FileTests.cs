using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.Quantization.Onnx;
using AkiDb.Queue.Testing;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;
using AkiDb.Queue.ModelText.Tokenization;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The int8 file the worker makes of the real all-MiniLM-L6-v2: fused by ONNX Runtime before it is quantised, loadable
/// on the CPU provider, and close to fp32 on a fixed sample of every kind of the quality set (bench/data/quality-set.tsv;
/// the full measurement is ./bench.sh quality, docs/quality.md).
/// </summary>
public sealed class FusedInt8FileTests(ITestOutputHelper output)
{
    private const int PerKind = 12;

    private static readonly Lazy<(ModelDefinition Fp32, ModelDefinition Int8, TextTokenizer Tokenizer)> Files = new(() =>
    {
        var (onnx, vocab) = new BundledModelExtractor(WorkerHost.ModelCache, Path.Combine(AppContext.BaseDirectory, "models"), NullLogger.Instance)
            .Extract(BundledModels.MiniLm);
        var cache = new QuantizedModelCache(WorkerHost.ModelCache, NullLogger.Instance);
        var int8Path = cache.PathFor(onnx, QuantizationOptions.Default);
        cache.Ensure("all-MiniLM-L6-v2-int8", onnx, int8Path, QuantizationOptions.Default);
        var fp32 = BundledModels.MiniLm.DefaultOptions().ToDefinition("all-MiniLM-L6-v2", onnx, vocab);
        return (fp32, fp32 with { Name = "all-MiniLM-L6-v2-int8", OnnxPath = int8Path, Precision = ModelPrecision.Int8 },
            TextTokenizer.Load(vocab, lowerCase: true, maxTokens: 256));
    });

    [Fact]
    public void The_int8_file_keeps_ONNX_Runtimes_fusions_quantises_every_weight_MatMul_and_runs_on_the_CPU_provider()
    {
        var (_, int8, tokenizer) = Files.Value;
        ModelProto model;
        using (var file = File.OpenRead(int8.OnnxPath))
        {
            model = ModelProto.Parser.ParseFrom(file);
        }

        var ops = model.Graph.Node.Select(n => n.OpType).ToHashSet();
        output.WriteLine($"{model.Graph.Node.Count} nodes: {string.Join(", ", model.Graph.Node.GroupBy(n => n.OpType).Select(g => $"{g.Key} {g.Count()}"))}");
        Assert.Contains("LayerNormalization", ops); // fused by ONNX Runtime before quantising
        Assert.Contains("BiasGelu", ops);
        Assert.Contains("FusedMatMul", ops);
        // 36 weight MatMuls in 24 integer GEMMs: each layer's query, key and value read one hidden state and share one GEMM.
        Assert.Equal(24, model.Graph.Node.Count(n => n.OpType == "MatMulIntegerToFloat"));
        Assert.Equal(6, model.Graph.Node.Count(n => n.OpType == "Split"));
        Assert.DoesNotContain("DynamicQuantizeMatMul", ops);
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet();
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "MatMul" && initializers.Contains(n.Input[1])); // no fp32 weight MatMul left

        using var session = new NativeModelSession(int8, intraOpThreads: 1, [ExecutionProvider.CPU], allowSpinning: false);
        Assert.Equal("CPU", session.Provider);
        var vector = session.Run(Batch(tokenizer, ["A man is playing a guitar on stage."])).Vectors;
        Assert.Equal(384, vector.Length);
        Assert.InRange(Math.Sqrt(vector.Sum(v => (double)v * v)), 0.9999, 1.0001);
    }

    [Fact]
    public void Without_fusion_the_per_row_file_still_loads_and_gives_a_text_the_same_vector_alone_and_in_a_batch()
    {
        // What a model ONNX Runtime cannot fuse looks like: the exported graph, whose output width is symbolic and, past
        // the run-time Reshape of the per-row subgraph, no longer statically known; the native session reads it from a probe run.
        var (fp32, _, tokenizer) = Files.Value;
        var path = Path.Combine(Path.GetTempPath(), $"akidb-unfused-{Environment.ProcessId}-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxQuantizer.QuantizeFile(fp32.OnnxPath, path, new QuantizationOptions { FuseFirst = false });
            using var session = new NativeModelSession(fp32 with { OnnxPath = path }, intraOpThreads: 1, [ExecutionProvider.CPU], allowSpinning: false);
            Assert.Equal(384, session.Dimensions);
            string[] texts = ["refund", "A man is playing a guitar on stage.", string.Join(' ', Walking.EndToEndTests.Sentences)];
            var together = session.Run(Batch(tokenizer, texts));
            for (var i = 0; i < texts.Length; i++)
            {
                Assert.Equal(session.Run(Batch(tokenizer, [texts[i]])).Vectors, together.Row(i).ToArray());
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void On_a_sample_of_every_kind_of_text_int8_stays_within_the_quality_floor()
    {
        var (fp32, int8, tokenizer) = Files.Value;
        using var reference = new NativeModelSession(fp32, intraOpThreads: 1, [ExecutionProvider.CPU], allowSpinning: false);
        using var quantized = new NativeModelSession(int8, intraOpThreads: 1, [ExecutionProvider.CPU], allowSpinning: false);
        var kinds = File.ReadLines(Path.Combine(RepoPaths.Root, "bench", "data", "quality-set.tsv"))
            .Select(l => l.Split('\t', 2)).GroupBy(p => p[0], p => Unescape(p[1])).ToList();
        Assert.Equal(8, kinds.Count);

        foreach (var kind in kinds)
        {
            var texts = kind.Take(PerKind).ToArray();
            var a = reference.Run(Batch(tokenizer, texts));
            var b = quantized.Run(Batch(tokenizer, texts));
            var cosines = Enumerable.Range(0, texts.Length).Select(i => Dot(a.Row(i), b.Row(i))).ToList();
            output.WriteLine($"{kind.Key}: cosine mean {cosines.Average():F4}, min {cosines.Min():F4}");
            Assert.True(cosines.Average() >= 0.99, $"{kind.Key}: mean cosine {cosines.Average():F4} < 0.99");
            Assert.True(cosines.Min() >= 0.98, $"{kind.Key}: min cosine {cosines.Min():F4} < 0.98 on \"{texts[cosines.IndexOf(cosines.Min())]}\"");
        }
    }

    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * (double)b[i];
        }

        return sum;
    }

    private static string Unescape(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text, @"\\(.)", m => m.Groups[1].Value switch { "n" => "\n", "t" => "\t", var other => other });

    private static InferenceBatch Batch(TextTokenizer tokenizer, string[] texts)
    {
        var encoded = texts.Select(t => tokenizer.Encode(t).Ids).ToList();
        var seq = encoded.Max(e => e.Length);
        var ids = new long[encoded.Count * seq];
        for (var i = 0; i < encoded.Count; i++)
        {
            encoded[i].CopyTo(ids.AsSpan(i * seq));
        }

        return new InferenceBatch { Model = "m", Rows = encoded.Count, SequenceLength = seq, InputIds = ids, Lengths = encoded.Select(e => e.Length).ToArray() };
    }
}
