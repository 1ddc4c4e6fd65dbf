using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The int8 variants through the real broker, bridge and model: derived from the bundled fp32 files on first use (the
/// Python worker, lazily) or at start-up (the native worker), close to fp32, saying which precision produced them,
/// the same from both backends, and the same for a text alone as among 31 others of any lengths.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class Int8ModelTests(BrokerFixture broker, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = PythonAndNativeWorkers.Patience;
    private static readonly string[] Texts = PythonAndNativeWorkers.Texts;
    private PythonAndNativeWorkers _workers = null!;

    public async Task InitializeAsync() => _workers = await PythonAndNativeWorkers.StartAsync(broker, "int8", new Dictionary<string, string?>
    {
        ["Embedding:Models:all-MiniLM-L6-v2-int8:LoadAtStartup"] = "true",
        ["Embedding:Models:snowflake-arctic-embed-xs-int8:LoadAtStartup"] = "true",
    },
    // The embedding cache off: with it, a text sent alone after its batch would be answered from the cache with the
    // batch's vector, and the batch-invariance test below would compare a vector with itself.
    bothSettings: new Dictionary<string, string?> { ["Cache:Enabled"] = "false" });

    public async Task DisposeAsync() => await _workers.DisposeAsync();

    [Theory]
    [InlineData("all-MiniLM-L6-v2")]
    [InlineData("snowflake-arctic-embed-xs")]
    public async Task The_int8_variant_gives_unit_vectors_close_to_fp32_and_reports_its_precision(string model)
    {
        var int8 = model + "-int8";
        await _workers.Python.PublishAsync(JsonSerializer.Serialize(new { requestId = $"{int8}-all", texts = Texts, model = int8 }));
        await _workers.Python.PublishAsync(JsonSerializer.Serialize(new { requestId = $"{model}-all", texts = Texts, model }));

        var quantized = await _workers.Python.WaitForAsync($"{int8}-all", Patience);
        var reference = await _workers.Python.WaitForAsync($"{model}-all", Patience);

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
    public async Task A_text_gets_the_same_int8_vector_alone_as_among_31_others_and_from_both_backends(string model)
    {
        // 32 texts from one word to a long paragraph: the worker pads them to the longest and sorts them by length, so
        // each sits among others at some position with padding after it. Alone, it is a batch of one without padding.
        var batch = MixedLengths();
        var body = JsonSerializer.Serialize(new { requestId = $"{model}-batch", texts = batch, model });
        var (pythonBatch, nativeBatch) = await _workers.BothCompletedAsync($"{model}-batch", body);
        Assert.Equal("int8", nativeBatch.Body.GetProperty("precision").GetString());
        Assert.Equal("native", nativeBatch.Body.GetProperty("backend").GetString());
        Assert.Equal("python", pythonBatch.Body.GetProperty("backend").GetString());

        var parity = pythonBatch.Embeddings.Zip(nativeBatch.Embeddings, VectorMath.MaxAbsDiff).Max();
        output.WriteLine($"{model}: batch of {batch.Length}, max abs diff python vs native {parity:E2}");
        Assert.True(parity <= 1e-6, $"python vs native: max abs diff {parity:E2} exceeds 1e-6");

        // The shortest, the longest, and texts in between: each alone, answered before the next is sent (a lone batch).
        foreach (var i in new[] { 0, 5, 13, 21, 30, 31 })
        {
            var alone = JsonSerializer.Serialize(new { requestId = $"{model}-alone-{i}", texts = new[] { batch[i] }, model });
            var (fromPython, fromNative) = await _workers.BothCompletedAsync($"{model}-alone-{i}", alone);
            var python = VectorMath.MaxAbsDiff(fromPython.Embeddings[0], pythonBatch.Embeddings[i]);
            var native = VectorMath.MaxAbsDiff(fromNative.Embeddings[0], nativeBatch.Embeddings[i]);
            output.WriteLine($"{model} text {i} ({batch[i].Length} chars): alone vs in the batch, python {python:E2}, native {native:E2}");
            Assert.True(python <= 1e-6, $"python, text {i}: alone vs in the batch {python:E2} exceeds 1e-6");
            Assert.True(native <= 1e-6, $"native, text {i}: alone vs in the batch {native:E2} exceeds 1e-6");
        }
    }

    /// <summary>32 distinct texts of very different lengths, in no length order.</summary>
    private static string[] MixedLengths()
    {
        var sentences = Walking.EndToEndTests.Sentences;
        var texts = new List<string> { "refund", "dark mode settings" };
        for (var i = 0; texts.Count < 31; i++)
        {
            texts.Add(string.Join(' ', Enumerable.Range(0, 1 + (i * 7 % 9)).Select(k => sentences[(i + k) % sentences.Length])) + $" ({i})");
        }

        texts.Add(string.Join(' ', sentences)); // the longest, cut at the model's limit
        return [.. texts];
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
