using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The int8 variants through the real broker, bridge and model: derived from the bundled fp32 files on first use (the
/// Python worker, lazily) or at start-up (the native worker), close to fp32, saying which precision produced them,
/// and the same from both backends.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class Int8ModelTests(BrokerFixture broker, ITestOutputHelper output) : IAsyncLifetime
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
        var (_, pythonUrl) = await broker.CreateVirtualHostAsync("int8-py");
        var (_, nativeUrl) = await broker.CreateVirtualHostAsync("int8-native");
        _pythonResults = await ResultCollector.StartAsync(pythonUrl);
        _nativeResults = await ResultCollector.StartAsync(nativeUrl);
        _python = await WorkerHost.StartAsync(pythonUrl, new Dictionary<string, string?> { ["Embedding:Backend"] = "python" });
        _native = await WorkerHost.StartAsync(nativeUrl, new Dictionary<string, string?>
        {
            ["Embedding:Backend"] = "native",
            ["Embedding:Models:all-MiniLM-L6-v2-int8:LoadAtStartup"] = "true",
            ["Embedding:Models:snowflake-arctic-embed-xs-int8:LoadAtStartup"] = "true",
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
    [InlineData("all-MiniLM-L6-v2")]
    [InlineData("snowflake-arctic-embed-xs")]
    public async Task The_int8_variant_gives_unit_vectors_close_to_fp32_and_reports_its_precision(string model)
    {
        var int8 = model + "-int8";
        await _pythonResults.PublishAsync(JsonSerializer.Serialize(new { requestId = $"{int8}-all", texts = Texts, model = int8 }));
        await _pythonResults.PublishAsync(JsonSerializer.Serialize(new { requestId = $"{model}-all", texts = Texts, model }));

        var quantized = await _pythonResults.WaitForAsync($"{int8}-all", Patience);
        var reference = await _pythonResults.WaitForAsync($"{model}-all", Patience);

        Assert.True(quantized.IsCompleted, quantized.Message);
        Assert.True(reference.IsCompleted, reference.Message);
        Assert.Equal(int8, quantized.Body.GetProperty("model").GetString());
        Assert.Equal("int8", quantized.Body.GetProperty("precision").GetString());
        Assert.Equal("fp32", reference.Body.GetProperty("precision").GetString());
        Assert.Equal("python", quantized.Body.GetProperty("backend").GetString());
        Assert.Equal(Texts.Length, quantized.Embeddings.Length);
        Assert.All(quantized.Embeddings, v => Assert.Equal(384, v.Length));
        Assert.All(quantized.Embeddings, v => Assert.InRange(VectorMath.Norm(v), 0.9999, 1.0001));
        var cosines = quantized.Embeddings.Zip(reference.Embeddings, VectorMath.Cosine).ToList();
        output.WriteLine($"{int8} vs {model}: cosine per text {string.Join(", ", cosines.Select(c => c.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.All(cosines, c => Assert.True(c > 0.98, $"cosine to fp32 {c:F4} <= 0.98"));
        Assert.NotEqual(reference.Embeddings[1], quantized.Embeddings[1]); // really a different model file
        var paraphrase = VectorMath.Cosine(quantized.Embeddings[1], quantized.Embeddings[2]);
        var unrelated = VectorMath.Cosine(quantized.Embeddings[1], quantized.Embeddings[3]);
        Assert.True(paraphrase > unrelated + 0.1, $"int8 paraphrase {paraphrase:F3} vs unrelated {unrelated:F3}");
    }

    [Theory]
    [InlineData("all-MiniLM-L6-v2-int8")]
    [InlineData("snowflake-arctic-embed-xs-int8")]
    public async Task Python_and_native_backends_give_the_same_int8_vectors(string model)
    {
        // One text per request, each answered before the next: ONNX Runtime quantises a MatMul's activations with one
        // scale per call, so an int8 vector depends (slightly) on what shares its batch. Alone, it is the same batch on both backends.
        for (var i = 0; i < Texts.Length; i++)
        {
            var body = JsonSerializer.Serialize(new { requestId = $"{model}-{i}", texts = new[] { Texts[i] }, model });
            await _pythonResults.PublishAsync(body);
            await _nativeResults.PublishAsync(body);
            var fromPython = await _pythonResults.WaitForAsync($"{model}-{i}", Patience);
            var fromNative = await _nativeResults.WaitForAsync($"{model}-{i}", Patience);

            Assert.True(fromPython.IsCompleted, fromPython.Message);
            Assert.True(fromNative.IsCompleted, fromNative.Message);
            Assert.Equal("int8", fromNative.Body.GetProperty("precision").GetString());
            Assert.Equal("native", fromNative.Body.GetProperty("backend").GetString());
            var diff = VectorMath.MaxAbsDiff(fromPython.Embeddings[0], fromNative.Embeddings[0]);
            output.WriteLine($"{model} text {i}: max abs diff python vs native {diff:E2}");
            Assert.True(diff <= 1e-5, $"text {i}: max abs diff {diff:E2} exceeds 1e-5");
        }
    }

    [Fact]
    public void The_quantised_files_are_cached_beside_their_fp32_sources()
    {
        // The native worker quantised (or found) both at start-up; later starts load these files without quantising.
        foreach (var model in new[] { "all-MiniLM-L6-v2", "snowflake-arctic-embed-xs" })
        {
            var folders = Directory.GetDirectories(Path.Combine(WorkerHost.ModelCache, model));
            var cached = folders.SelectMany(f => Directory.GetFiles(f, "model.int8-*.onnx")).ToList();
            Assert.NotEmpty(cached);
            Assert.All(cached, f => Assert.True(new FileInfo(f).Length < new FileInfo(Path.Combine(Path.GetDirectoryName(f)!, "model.onnx")).Length));
            Assert.Empty(folders.SelectMany(f => Directory.GetFiles(f, ".model.int8-*.tmp")));
        }
    }
}
