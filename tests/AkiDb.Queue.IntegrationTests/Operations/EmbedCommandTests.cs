using System.Text;
using System.Text.Json;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Worker.Vectors;
using CliWrap;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>`akidb-queue embed` end to end: the real broker, worker, bridge and model.</summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbedCommandTests(BrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-embed-");

    [Fact]
    public async Task Embed_writes_one_line_per_chunk_in_input_order_with_the_vectors_of_a_direct_request()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("embed");
        await using var worker = await WorkerHost.StartAsync(url);
        var sentences = Walking.EndToEndTests.Sentences;
        var input = Path.Combine(_work.FullName, "in.jsonl");
        var rows = Enumerable.Range(0, 40).Select(i => new Dictionary<string, object>
        {
            ["id"] = $"doc-{i}",
            // Every seventh document is long enough to need several chunks of 64 tokens.
            ["text"] = i % 7 == 3 ? string.Join(' ', sentences) : sentences[i % sentences.Length],
            ["metadata"] = new Dictionary<string, string> { ["n"] = $"{i}" },
        }).ToList();
        await File.WriteAllLinesAsync(input, rows.Select(r => JsonSerializer.Serialize(r)));
        var outFile = Path.Combine(_work.FullName, "out.jsonl");

        var run = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", url, "--chunk-tokens", "64", "--overlap-tokens", "8", "--texts-per-message", "5", "--include-text");

        Assert.Equal(0, run.ExitCode);
        var lines = ReadLines(outFile);
        // In input order: ids as in the file, chunks of one document consecutive and numbered from 0.
        Assert.Equal(rows.Select(r => (string)r["id"]), lines.Select(l => l.Id).Distinct());
        foreach (var group in lines.GroupBy(l => l.Id))
        {
            Assert.Equal(Enumerable.Range(0, group.Count()), group.Select(l => l.Chunk));
            Assert.Equal(group.Key["doc-".Length..], group.First().Json.GetProperty("metadata").GetProperty("n").GetString());
        }

        Assert.Contains(lines, l => l.Chunk > 0);
        Assert.All(lines, l => Assert.False(l.Json.GetProperty("truncated").GetBoolean()));
        Assert.All(lines, l => Assert.InRange(l.Json.GetProperty("tokens").GetInt32(), 3, 64));
        Assert.Contains($"Wrote {lines.Count} chunks", run.StandardOutput, StringComparison.Ordinal);

        // The same texts sent directly come back with the same vectors.
        var sample = lines.Where((_, i) => i % 9 == 0).ToList();
        await using var direct = await ResultCollector.StartAsync(url);
        await direct.PublishAsync(ResultCollector.Request("direct", [.. sample.Select(l => l.Json.GetProperty("text").GetString()!)]));
        var answer = await direct.WaitForAsync("direct", Patience);
        for (var i = 0; i < sample.Count; i++)
        {
            Assert.True(VectorMath.MaxAbsDiff(answer.Embeddings[i], sample[i].Vector) < 1e-5, $"{sample[i].Id} chunk {sample[i].Chunk}");
        }

        // Each encoding decodes to those vectors within its precision.
        foreach (var encoding in new[] { VectorEncoding.Base64, VectorEncoding.Int8, VectorEncoding.Binary })
        {
            var encodedFile = Path.Combine(_work.FullName, $"out-{encoding}.jsonl");
            var encoded = await CliRunner.RunAsync(output, "embed", input, "--out", encodedFile, "--url", url, "--chunk-tokens", "64", "--overlap-tokens", "8", "--encoding", VectorEncodings.WireName(encoding));
            Assert.Equal(0, encoded.ExitCode);
            var encodedLines = ReadLines(encodedFile);
            Assert.Equal(lines.Select(l => (l.Id, l.Chunk)), encodedLines.Select(l => (l.Id, l.Chunk)));
            foreach (var (plain, compact) in lines.Zip(encodedLines))
            {
                Assert.Equal(VectorEncodings.WireName(encoding), compact.Json.GetProperty("encoding").GetString());
                var scale = compact.Json.TryGetProperty("scale", out var s) ? s.GetSingle() : 1f;
                var decoded = VectorDecoder.Decode(encoding, compact.Json.GetProperty("embedding").GetString()!, 384, scale);
                switch (encoding)
                {
                    case VectorEncoding.Base64:
                        Assert.True(VectorMath.MaxAbsDiff(plain.Vector, decoded) < 1e-5);
                        break;
                    case VectorEncoding.Int8:
                        Assert.True(VectorMath.MaxAbsDiff(plain.Vector, decoded) <= scale / 2 + 1e-5, $"int8 off by more than half its scale {scale}");
                        break;
                    default:
                        // A sign bit per dimension; values within 1e-5 of zero may land either side between two runs.
                        Assert.All(plain.Vector.Zip(decoded), p => Assert.True(Math.Abs(p.First) < 1e-5 || (p.First > 0) == (p.Second > 0)));
                        break;
                }
            }
        }
    }

    [Fact]
    public async Task An_interrupted_embed_resumes_with_only_what_it_had_not_written()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("embed-resume");
        var input = Path.Combine(_work.FullName, "many.jsonl");
        var sentences = Walking.EndToEndTests.Sentences;
        // Enough that the first run cannot finish before it is interrupted (it has at most 64 chunks sent and not
        // written, and wrote 140 when measured), few enough that the resumed run is short on a loaded machine.
        var ids = Enumerable.Range(0, 1200).Select(i => $"t{i}").ToList();
        await File.WriteAllLinesAsync(input, ids.Select((id, i) => JsonSerializer.Serialize(new { id, text = $"{i}: {sentences[i % sentences.Length]}" })));
        var outFile = Path.Combine(_work.FullName, "many-out.jsonl");

        var first = await WorkerHost.StartAsync(url);
        var log = new StringBuilder();
        var interrupted = CliRunner.Start(log, "embed", input, "--out", outFile, "--url", url, "--texts-per-message", "2", "--max-in-flight", "64");
        Assert.True(await WaitForLinesAsync(outFile, 10), "the first run wrote nothing");
        // No worker: the run waits for answers that will not come, and Ctrl+C is what stops it.
        await first.DisposeAsync();
        Signals.Send(interrupted.ProcessId, 2 /* SIGINT */);
        var stopped = await interrupted;
        output.WriteLine(log.ToString());

        Assert.Equal(130, stopped.ExitCode);
        Assert.Contains("Interrupted", log.ToString(), StringComparison.Ordinal);
        var written = ReadLines(outFile);
        Assert.InRange(written.Count, 10, ids.Count - 1);
        Assert.Equal(ids.Take(written.Count), written.Select(l => l.Id)); // what was written is a prefix, in order

        await using var second = await WorkerHost.StartAsync(url);
        var resumed = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", url);

        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains($"{written.Count} already in", resumed.StandardOutput, StringComparison.Ordinal);
        Assert.Contains($"Wrote {ids.Count - written.Count} chunks", resumed.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(ids, ReadLines(outFile).Select(l => l.Id));

        // The interrupted run's unanswered requests were answered to a reply queue that died with it: nobody can claim
        // those results, so none is parked (parked, each interrupted run would fill the parking queue a little more).
        await using var client = await Edges.EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);
        Assert.Equal(0, await client.WaitForDepthAsync("embed-requested", d => d == 0, Patience));
        Assert.Contains(second.Logs.Entries, e => e.Message.Contains("its caller has gone", StringComparison.Ordinal));
        Assert.Equal(0u, await CliInterruptTests.ReadyAsync(url, "embed-results-unrouted"));
    }

    /// <summary>
    /// Each run's results come back as replies to its own queue, which nothing else reaches: a result someone else
    /// publishes to the results exchange while two runs wait is routed to no queue (the broker returns it), and the
    /// runs' results, delivered as replies, are not parked although nothing is bound to the exchanges.
    /// </summary>
    [Fact]
    public async Task Two_runs_side_by_side_each_get_only_their_own_results_as_replies()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("embed-side-by-side");
        // A worker declares its queues and goes: the runs below send into a queue nobody consumes yet.
        await (await WorkerHost.StartAsync(url)).DisposeAsync();
        var sentences = Walking.EndToEndTests.Sentences;
        var runs = new List<(string Out, List<string> Ids, StringBuilder Log, CommandTask<CommandResult> Task)>();
        foreach (var name in new[] { "a", "b" })
        {
            var ids = Enumerable.Range(0, 20).Select(i => $"{name}{i}").ToList();
            var input = Path.Combine(_work.FullName, $"side-{name}.jsonl");
            await File.WriteAllLinesAsync(input, ids.Select((id, i) => JsonSerializer.Serialize(new { id, text = $"{name} {i}: {sentences[i % sentences.Length]}" })));
            var outFile = Path.Combine(_work.FullName, $"side-{name}-out.jsonl");
            var log = new StringBuilder();
            runs.Add((outFile, ids, log, CliRunner.Start(log, "embed", input, "--out", outFile, "--url", url, "--texts-per-message", "2")));
        }

        // No worker yet: both runs have set up their queues and sent every request (10 each) before anything is answered.
        Assert.True(await CliInterruptTests.UntilAsync(async () => await CliInterruptTests.ReadyAsync(url, "embed-requested") == 20),
            $"the runs did not send their 20 requests:\n{runs[0].Log}\n{runs[1].Log}");
        Assert.True(await PublishedToNoQueueAsync(url, "embed-completed"), "a result published to embed-completed reached a queue: a run is bound to the exchange");

        await using var worker = await WorkerHost.StartAsync(url);
        foreach (var (outFile, ids, log, task) in runs)
        {
            var run = await task;
            output.WriteLine(log.ToString());
            Assert.Equal(0, run.ExitCode);
            Assert.Equal(ids, ReadLines(outFile).Select(l => l.Id));
        }

        Assert.Equal(0u, await CliInterruptTests.ReadyAsync(url, "embed-results-unrouted"));
    }

    [Fact]
    public async Task An_embed_user_with_only_the_documented_permissions_gets_its_results_and_cannot_bind_to_the_results()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("embed-least-privilege");
        await using var worker = await WorkerHost.StartAsync(url);
        var (configure, write, read) = DocumentedPermissions.For("akidb-embed");
        var user = $"akidb-embed-{Guid.NewGuid():N}"[..20];
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        using (var management = broker.Management())
        {
            await management.CreateUserAsync(user, password, vhost, configure, write, read);
        }

        var asUser = new UriBuilder(url) { UserName = user, Password = password }.Uri.AbsoluteUri;
        var ids = Enumerable.Range(0, 9).Select(i => $"p{i}").ToList();
        var input = Path.Combine(_work.FullName, "least.jsonl");
        await File.WriteAllLinesAsync(input, ids.Select((id, i) => JsonSerializer.Serialize(new { id, text = Walking.EndToEndTests.Sentences[i % Walking.EndToEndTests.Sentences.Length] })));
        var outFile = Path.Combine(_work.FullName, "least-out.jsonl");

        var run = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", asUser, "--texts-per-message", "4");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(ids, ReadLines(outFile).Select(l => l.Id));
        Assert.DoesNotContain(password, run.StandardOutput + run.StandardError, StringComparison.Ordinal);

        // The same user can not listen to the results of others.
        await using var connection = await new ConnectionFactory { Uri = new Uri(asUser) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        var refused = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.QueueBindAsync(queue, "embed-completed", ""));
        Assert.Equal((ushort)403, refused.ShutdownReason?.ReplyCode);
    }

    /// <summary>Publishes a stand-in result to <paramref name="exchange"/>, mandatory and confirmed; true when the broker returned it as routed to no queue.</summary>
    private static async Task<bool> PublishedToNoQueueAsync(string url, string exchange)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(url) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        var body = JsonSerializer.SerializeToUtf8Bytes(new { requestId = "someone-else", embeddings = Array.Empty<float[]>() });
        try
        {
            await channel.BasicPublishAsync(exchange, "", mandatory: true, new BasicProperties(), body);
            return false;
        }
        catch (PublishException e) when (e.IsReturn)
        {
            return true;
        }
    }

    [Fact]
    public async Task Embed_exits_non_zero_naming_what_failed_and_writes_the_rest()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("embed-fail");
        await using var worker = await WorkerHost.StartAsync(url);
        var input = Path.Combine(_work.FullName, "bad.jsonl");
        await File.WriteAllLinesAsync(input,
        [
            """{"id":"good-1","text":"A fine sentence."}""",
            """{"id":"blank","text":"   "}""",
            """{"id":"good-2","text":"Another fine sentence."}""",
        ]);
        var outFile = Path.Combine(_work.FullName, "bad-out.jsonl");

        var run = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", url, "--texts-per-message", "3");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("1 failed", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("blank", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("invalid_request", run.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(["good-1", "good-2"], ReadLines(outFile).Select(l => l.Id));
    }

    [Fact]
    public async Task Default_chunking_of_the_repositorys_docs_leaves_nothing_for_the_model_to_truncate()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("embed-docs");
        await using var worker = await WorkerHost.StartAsync(url);
        var outFile = Path.Combine(_work.FullName, "docs.jsonl");

        var run = await CliRunner.RunAsync(output, "embed", Path.Combine(RepoPaths.Root, "docs"), "--out", outFile, "--url", url);

        Assert.Equal(0, run.ExitCode);
        var lines = ReadLines(outFile);
        Assert.True(lines.Count > 10);
        Assert.Contains(lines, l => l.Json.GetProperty("tokens").GetInt32() > 200); // chunks are filled, not tiny
        Assert.All(lines, l => Assert.False(l.Json.GetProperty("truncated").GetBoolean(), $"{l.Id} chunk {l.Chunk} truncated"));
        Assert.Contains("0 failed, 0 truncated by the model", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_fails_at_once_when_the_input_queue_does_not_exist()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("embed-noqueue");
        var input = Path.Combine(_work.FullName, "one.txt");
        await File.WriteAllTextAsync(input, "One short text.");

        var run = await CliRunner.RunAsync(output, "embed", input, "--out", Path.Combine(_work.FullName, "none.jsonl"), "--url", url);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("Queue 'embed-requested' does not exist", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_and_publish_accept_the_int8_catalogue_names_without_extra_options()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("embed-int8");
        // The embedding cache off, so the request of 7 below is run by the model, not answered with the CLI's vectors.
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Cache:Enabled"] = "false" });
        var texts = Walking.EndToEndTests.Sentences.Take(7).ToArray();
        var input = Path.Combine(_work.FullName, "int8.jsonl");
        await File.WriteAllLinesAsync(input, texts.Select((t, i) => JsonSerializer.Serialize(new { id = $"d{i}", text = t })));
        var outFile = Path.Combine(_work.FullName, "int8-out.jsonl");

        var run = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", url, "--model", "all-MiniLM-L6-v2-int8", "--texts-per-message", "3");

        Assert.Equal(0, run.ExitCode);
        var lines = ReadLines(outFile);
        Assert.Equal(texts.Select((_, i) => $"d{i}"), lines.Select(l => l.Id));
        // The same texts as one request of 7 (the CLI sent 3 + 3 + 1): int8 vectors do not depend on their batch.
        await using var direct = await ResultCollector.StartAsync(url);
        await direct.PublishAsync(JsonSerializer.Serialize(new { requestId = "direct-int8", texts, model = "all-MiniLM-L6-v2-int8" }));
        var answer = await direct.WaitForAsync("direct-int8", Patience);
        Assert.True(answer.IsCompleted, answer.Message);
        Assert.Equal("int8", answer.Body.GetProperty("precision").GetString());
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.True(VectorMath.MaxAbsDiff(answer.Embeddings[i], lines[i].Vector) <= 1e-6, $"text {i}");
        }

        var docs = Directory.CreateDirectory(Path.Combine(_work.FullName, "int8-docs"));
        await File.WriteAllTextAsync(Path.Combine(docs.FullName, "one.md"), string.Join("\n\n", texts));
        var publish = await CliRunner.RunAsync(output, "publish", docs.FullName, "--url", url, "--management-url", broker.ManagementUrl,
            "--model", "snowflake-arctic-embed-xs-int8", "--results-queue", "int8-results");
        Assert.Equal(0, publish.ExitCode);
        Assert.Matches(@"Published [1-9]\d* requests", publish.StandardOutput);
    }

    public void Dispose() => _work.Delete(recursive: true);

    private static async Task<bool> WaitForLinesAsync(string path, int count)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(path) && File.ReadLines(path).Count() >= count)
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    private static List<Line> ReadLines(string path) =>
        [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement).Select(j => new Line(j.GetProperty("id").GetString()!, j.GetProperty("chunk").GetInt32(), j))];

    private sealed record Line(string Id, int Chunk, JsonElement Json)
    {
        public float[] Vector => [.. Json.GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())];
    }
}
