using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// Adaptive parallelism with the real model: the vectors are the same (to 1e-6) whichever session ran them, on the
/// native backend's wide and narrow sessions and end to end through the broker and the bridge, with adaptive
/// parallelism on (a lone request runs wide) and off (always narrow).
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class AdaptiveParallelismTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    private static readonly string[] Texts =
    [
        "hello world",
        "A man is playing a guitar on stage.",
        "The quarterly tax filing deadline is next Tuesday, and the forms are due at the office before noon.",
        string.Join(' ', Walking.EndToEndTests.Sentences),
    ];

    [Fact]
    public void Native_wide_and_narrow_sessions_give_identical_vectors()
    {
        var cache = Path.Combine(Path.GetTempPath(), "akidb-queue-tests", "models");
        var (onnx, vocab) = new BundledModelExtractor(cache, Path.Combine(AppContext.BaseDirectory, "models"), NullLogger.Instance).Extract(BundledModels.MiniLm);
        var definition = new ModelOptions { Output = "last_hidden_state" }.ToDefinition("all-MiniLM-L6-v2", onnx, vocab);
        var tokenizer = TextTokenizer.Load(vocab, lowerCase: true, maxTokens: 256);
        using var session = new NativeModelSession(definition, intraOpThreads: 1, [ExecutionProvider.CPU], allowSpinning: false, wideThreads: 2);
        Assert.Equal(2, session.WideThreads);
        Assert.Null(session.WeightsNotShared);
        Assert.False(session.ReleaseMemory()); // nothing ran yet

        foreach (var rows in new[] { Texts[..1], Texts })
        {
            var narrow = session.Run(Batch(tokenizer, rows, Parallelism.Narrow));
            var wide = session.Run(Batch(tokenizer, rows, Parallelism.Wide));
            Assert.Equal((1, 2), (narrow.Threads, wide.Threads));
            var worst = narrow.Vectors.Zip(wide.Vectors, (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"{rows.Length} texts: max abs diff wide vs narrow {worst:E2}");
            Assert.True(worst <= 1e-6, $"max abs diff {worst:E2} exceeds 1e-6");
        }

        Assert.True(session.ReleaseMemory());
        Assert.False(session.ReleaseMemory());
        var afterRelease = session.Run(Batch(tokenizer, Texts[..1], Parallelism.Wide));
        Assert.InRange(VectorMath.Norm(afterRelease.Vectors), 0.9999, 1.0001);
    }

    [Fact]
    public async Task A_lone_request_gives_the_same_vectors_with_adaptive_parallelism_on_and_off()
    {
        var (_, adaptiveUrl) = await broker.CreateVirtualHostAsync("adaptive-on");
        var (_, narrowUrl) = await broker.CreateVirtualHostAsync("adaptive-off");
        await using var adaptiveResults = await ResultCollector.StartAsync(adaptiveUrl);
        await using var narrowResults = await ResultCollector.StartAsync(narrowUrl);
        await using var adaptive = await WorkerHost.StartAsync(adaptiveUrl, new Dictionary<string, string?> { ["Bridge:WideIntraOpThreads"] = "2", ["Batching:WideFromTokens"] = "0" });
        await using var narrow = await WorkerHost.StartAsync(narrowUrl, new Dictionary<string, string?> { ["Batching:AdaptiveParallelism"] = "false" });

        for (var i = 0; i < Texts.Length; i++)
        {
            // One at a time, each answered before the next: every request is a lone batch.
            var body = ResultCollector.Request($"lone-{i}", [Texts[i]]);
            await adaptiveResults.PublishAsync(body);
            await narrowResults.PublishAsync(body);
            var fromAdaptive = await adaptiveResults.WaitForAsync($"lone-{i}", Patience);
            var fromNarrow = await narrowResults.WaitForAsync($"lone-{i}", Patience);
            Assert.True(fromAdaptive.IsCompleted, fromAdaptive.Message);
            Assert.True(fromNarrow.IsCompleted, fromNarrow.Message);
            var worst = VectorMath.MaxAbsDiff(fromAdaptive.Embeddings[0], fromNarrow.Embeddings[0]);
            output.WriteLine($"text {i}: max abs diff adaptive vs narrow {worst:E2}");
            Assert.True(worst <= 1e-6, $"text {i}: max abs diff {worst:E2} exceeds 1e-6");
        }
    }

    private static InferenceBatch Batch(TextTokenizer tokenizer, string[] texts, Parallelism parallelism)
    {
        var encoded = texts.Select(t => tokenizer.Encode(t).Ids).ToList();
        var seq = encoded.Max(e => e.Length);
        var ids = new long[encoded.Count * seq];
        for (var i = 0; i < encoded.Count; i++)
        {
            encoded[i].CopyTo(ids.AsSpan(i * seq));
        }

        return new InferenceBatch
        {
            Model = "all-MiniLM-L6-v2", Rows = encoded.Count, SequenceLength = seq, InputIds = ids,
            Lengths = encoded.Select(e => e.Length).ToArray(), Parallelism = parallelism,
        };
    }
}
