using System.Diagnostics.Metrics;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Worker.Models;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace AkiDb.Queue.IntegrationTests.Walking;

/// <summary>The walking skeleton, all real: RabbitMQ, the bridge process, ONNX Runtime and all-MiniLM-L6-v2.</summary>
[Collection(BrokerCollection.Name)]
public sealed class EndToEndTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    private WorkerHost _worker = null!;
    private ResultCollector _results = null!;
    private string _url = "";

    public async Task InitializeAsync()
    {
        (_, _url) = await broker.CreateVirtualHostAsync("e2e");
        _results = await ResultCollector.StartAsync(_url);
        _worker = await WorkerHost.StartAsync(_url);
    }

    public async Task DisposeAsync()
    {
        await _worker.DisposeAsync();
        await _results.DisposeAsync();
    }

    [Fact]
    public async Task Two_hundred_requests_from_plain_JSON_and_MassTransit_producers_each_get_one_unit_vector_per_text()
    {
        var random = new Random(7);
        var expected = new Dictionary<string, string[]>();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(_url)));
        await bus.StartAsync();
        try
        {
            for (var i = 0; i < 200; i++)
            {
                var id = $"req-{i}";
                var texts = Enumerable.Range(0, random.Next(1, 6)).Select(t => $"Document {i} passage {t}: {Sentences[(i + t) % Sentences.Length]}").ToArray();
                expected[id] = texts;
                switch (i % 4)
                {
                    case 0:
                        await _results.PublishAsync(ResultCollector.Request(id, texts));
                        break;
                    case 1:
                        await _results.PublishAsync(ResultCollector.Request(id, texts), withContentType: false);
                        break;
                    default:
                        await bus.Publish(new EmbedRequested { RequestId = id, Texts = texts, Metadata = new Dictionary<string, string> { ["n"] = $"{i}" } });
                        break;
                }
            }

            Assert.True(await _results.WaitForAsync(200, Patience), $"only {_results.Results.Count} of 200 results arrived");
        }
        finally
        {
            await bus.StopAsync();
        }

        Assert.Empty(_results.Failed);
        var completed = _results.Completed.ToList();
        Assert.Equal(200, completed.Count);
        Assert.Equal(expected.Keys.Order(), completed.Select(r => r.RequestId!).Order());
        foreach (var result in completed)
        {
            var embeddings = result.Embeddings;
            Assert.Equal(expected[result.RequestId!].Length, embeddings.Length);
            Assert.Equal(384, result.Dimensions);
            Assert.All(embeddings, e => Assert.Equal(384, e.Length));
            Assert.All(embeddings, e => Assert.InRange(VectorMath.Norm(e), 0.9999, 1.0001));
            Assert.Equal(embeddings.Length, result.Body.GetProperty("tokenCounts").GetArrayLength());
            Assert.Equal("all-MiniLM-L6-v2", result.Body.GetProperty("model").GetString());
        }

        // MassTransit-published requests had metadata; it comes back untouched.
        var withMetadata = completed.Single(r => r.RequestId == "req-2");
        Assert.Equal("2", withMetadata.Body.GetProperty("metadata").GetProperty("n").GetString());
    }

    [Fact]
    public async Task A_paraphrase_is_closer_than_an_unrelated_text()
    {
        await _results.PublishAsync(ResultCollector.Request("para",
            "A man is playing a guitar on stage.",
            "Someone performs music with a guitar in front of an audience.",
            "The quarterly tax filing deadline is next Tuesday."));

        var result = await _results.WaitForAsync("para", Patience);

        Assert.True(result.IsCompleted, result.Message);
        var v = result.Embeddings;
        var paraphrase = VectorMath.Cosine(v[0], v[1]);
        var unrelated = VectorMath.Cosine(v[0], v[2]);
        Assert.True(paraphrase > unrelated + 0.3, $"paraphrase {paraphrase:F3} vs unrelated {unrelated:F3}");
    }

    [Fact]
    public async Task Bridge_vectors_equal_in_process_ONNX_Runtime_for_the_same_token_ids()
    {
        string[] texts = ["hello world", "Héllo 🙂 wörld!\nA new line, with punctuation; and symbols: #$%&.", Sentences[3], string.Join(' ', Sentences)];
        await _results.PublishAsync(ResultCollector.Request("parity", texts));
        var result = await _results.WaitForAsync("parity", Patience);
        Assert.True(result.IsCompleted, result.Message);

        var model = _worker.Services.GetRequiredService<ModelCatalog>().Default;
        using var reference = new ReferenceEmbedder(model.Definition.OnnxPath);
        var worst = 0.0;
        for (var i = 0; i < texts.Length; i++)
        {
            var ids = model.Tokenize(texts[i], InputType.Document).Ids;
            worst = Math.Max(worst, VectorMath.MaxAbsDiff(reference.Embed(ids), result.Embeddings[i]));
        }

        Assert.True(worst <= 1e-5, $"max abs diff {worst:E2} exceeds 1e-5");
    }

    [Fact]
    public async Task Under_a_burst_the_model_is_called_with_more_than_one_text()
    {
        var batchSizes = new List<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "akidb.batch.size")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) =>
        {
            lock (batchSizes)
            {
                batchSizes.Add(value);
            }
        });
        listener.Start();

        for (var i = 0; i < 64; i++)
        {
            await _results.PublishAsync(ResultCollector.Request($"burst-{i}", $"{i}: {Sentences[i % Sentences.Length]}"));
        }

        Assert.True(await _results.WaitForAsync(64, Patience));
        lock (batchSizes)
        {
            // Distinct texts: every one is computed exactly once, in some batch.
            Assert.Equal(64, batchSizes.Sum());
            Assert.True(batchSizes.Max() > 1, $"every model call had one text: {string.Join(",", batchSizes)}");
        }
    }

    internal static readonly string[] Sentences =
    [
        "The cat sat on the mat and watched the rain.",
        "Quantum computers use qubits that can be in superposition.",
        "Fresh bread is best eaten on the day it is baked.",
        "The committee postponed the vote until next month.",
        "Glaciers carve valleys over thousands of years.",
        "She learned to play the violin at the age of six.",
        "Interest rates affect the price of mortgages.",
        "A lighthouse guides ships safely into the harbour.",
        "The museum opened a new exhibition on ancient Egypt.",
        "Regular exercise improves sleep and mood.",
        "The train to Edinburgh leaves at half past nine.",
        "Volcanic soil is often very fertile.",
        "He repaired the bicycle with a borrowed wrench.",
        "The recipe calls for two cups of flour and an egg.",
        "Solar panels convert sunlight into electricity.",
        "The children built a sandcastle near the shore.",
        "Encryption protects data as it travels across networks.",
        "Migratory birds navigate using the Earth's magnetic field.",
        "The novel was translated into more than forty languages.",
        "A sudden storm knocked out power across the city.",
        "Honeybees communicate through a waggle dance.",
        "The startup raised its first round of funding.",
        "Tea ceremonies follow a precise sequence of steps.",
        "The bridge was closed for maintenance over the weekend.",
        "Octopuses can change colour to blend into their surroundings.",
        "The orchestra tuned their instruments before the concert.",
        "Compilers translate source code into machine instructions.",
        "The marathon route passes through five boroughs.",
        "Wildflowers bloomed along the edge of the motorway.",
        "The detective found a clue hidden in the library.",
        "Rivers deposit sediment where they meet the sea.",
        "A good night's sleep helps memory consolidation.",
    ];
}
