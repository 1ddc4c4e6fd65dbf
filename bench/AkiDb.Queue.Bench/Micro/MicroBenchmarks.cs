using AkiDb.Queue.Bench.Bridges;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Inference;
using BenchmarkDotNet.Attributes;

namespace AkiDb.Queue.Bench.Micro;

// BenchmarkDotNet fits the micro-measurements (microseconds to milliseconds per call, many calls per iteration); it
// runs them in this process (in-process emit toolchain) because the state they need - running echo bridges, the
// loaded tokenizer - lives here. Everything that takes seconds per sample (passes over a corpus, broker scenarios,
// process start-ups) uses the custom harness instead: BenchmarkDotNet's pilot/warm-up/iteration cycle would
// multiply those runs by tens and could not pace publishing or read another process's /proc.

/// <summary>The worker's tokenizer on texts of each corpus: part of what the consumer does per message.</summary>
public class TokenizerBenchmarks
{
    internal static TextTokenizer? Tokenizer { get; set; }

    internal static Dictionary<string, string[]> Samples { get; } = [];

    [Params("short", "long", "mixed")]
    public string Corpus { get; set; } = "short";

    /// <summary>Tokenises 32 texts of the corpus (one operation).</summary>
    [Benchmark]
    public int Tokenize32Texts()
    {
        var tokens = 0;
        foreach (var text in Samples[Corpus])
        {
            tokens += Tokenizer!.Encode(text).Length;
        }

        return tokens;
    }
}

/// <summary>One round trip to an echo bridge (a fixed 32x384 float32 result, no inference), binary frames vs JSON lines.</summary>
public class IpcBenchmarks
{
    internal static BinaryBridge? Binary { get; set; }

    internal static JsonBridge? Json { get; set; }

    internal static InferenceBatch? Batch { get; set; }

    internal static List<long[]>? Ids { get; set; }

    // Instance methods: BenchmarkDotNet invokes benchmarks on an instance; the state is static because the harness owns it.
#pragma warning disable CA1822
    [Benchmark]
    public Task<float[]> BinaryFramesEcho32x384() => Binary!.EmbedAsync("echo", Batch!);

    [Benchmark]
    public Task<float[][]> JsonLinesEcho32x384() => Json!.EmbedAsync("echo", Ids!);
#pragma warning restore CA1822
}
