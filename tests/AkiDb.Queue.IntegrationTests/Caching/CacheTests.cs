using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace AkiDb.Queue.IntegrationTests.Caching;

/// <summary>
/// The embedding cache with real parts: workers (real bridge, model, ONNX Runtime) on a real RabbitMQ, sharing a real
/// redis-server of the test's own.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class CacheTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>A small corpus with a repeated text in it, in requests of 1 to 3 texts.</summary>
    private static readonly string[][] Corpus = Enumerable.Range(0, 12)
        .Select(i => Enumerable.Range(0, (i % 3) + 1).Select(t => $"Passage {i}.{t}: {Walking.EndToEndTests.Sentences[(i + t) % Walking.EndToEndTests.Sentences.Length]}").ToArray())
        .Append(["A boilerplate footer that repeats across documents."])
        .Append(["A boilerplate footer that repeats across documents."])
        .ToArray();

    private static int DistinctTexts => Corpus.SelectMany(t => t).Distinct().Count();

    private static Dictionary<string, string?> WithRedis(PrivateRedis redis, params (string Key, string? Value)[] more)
    {
        // A generous timeout: on a loaded test machine a 250 ms Redis call can time out, and a miss would fail an
        // assertion about hits. The timeout's own behaviour is tested in RedisLevelTests.
        var settings = new Dictionary<string, string?> { ["Cache:Redis"] = redis.Configuration, ["Cache:RedisTimeout"] = "00:00:05", ["Cache:RedisCaFile"] = redis.CaFile };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_second_worker_sharing_redis_answers_a_corpus_the_first_embedded_from_the_cache_with_identical_vectors(bool tlsWithPassword)
    {
        // TLS only, with a password and a certificate signed by a private CA, trusted through Cache:RedisCaFile.
        await using var redis = await PrivateRedis.StartAsync(tls: tlsWithPassword, password: tlsWithPassword ? Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12)) : null);
        var (_, url) = await broker.CreateVirtualHostAsync("cache-share");
        await using var results = await ResultCollector.StartAsync(url);

        Dictionary<string, ResultCollector.Result> first;
        await using (var workerA = await WorkerHost.StartAsync(url, WithRedis(redis)))
        {
            first = await EmbedCorpusAsync(results, "a");
            // Every text's first occurrence is a miss. The corpus repeats its footer in a second request, which may
            // find the first one's vector already stored (when that request finished first) or not: either is right.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < Corpus.Length; i++)
            {
                var cached = Cached(first[$"a-{i}"]);
                for (var t = 0; t < Corpus[i].Length; t++)
                {
                    if (seen.Add(Corpus[i][t]))
                    {
                        Assert.False(cached[t], $"request a-{i} text {t}, seen for the first time, came from the cache");
                    }
                }
            }

            // The writes happen after the results are published; wait until all of them are in Redis.
            await WaitUntilAsync(async () => await redis.CountKeysAsync() >= DistinctTexts, "every distinct text stored in Redis");
        }

        Assert.Equal(DistinctTexts, await redis.CountKeysAsync());
        await using var workerB = await WorkerHost.StartAsync(url, WithRedis(redis));
        var second = await EmbedCorpusAsync(results, "b");

        for (var i = 0; i < Corpus.Length; i++)
        {
            var fresh = first[$"a-{i}"];
            var cached = second[$"b-{i}"];
            Assert.All(Cached(cached), Assert.True);
            Assert.Equal(0, cached.Body.GetProperty("inferenceMs").GetDouble()); // no model time: no lane was used
            Assert.Equal(Bits(fresh), Bits(cached));
        }

        if (redis.Password is { } password)
        {
            Assert.DoesNotContain(workerB.Logs.Entries, e => e.Message.Contains(password, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_worker_with_a_changed_model_identity_misses_what_another_stored()
    {
        await using var redis = await PrivateRedis.StartAsync();
        var (_, url) = await broker.CreateVirtualHostAsync("cache-identity");
        await using var results = await ResultCollector.StartAsync(url);
        await using (var workerA = await WorkerHost.StartAsync(url, WithRedis(redis)))
        {
            await EmbedCorpusAsync(results, "a");
            await WaitUntilAsync(async () => await redis.CountKeysAsync() >= DistinctTexts, "every distinct text stored in Redis");
        }

        // A different token limit cannot change these short texts' tokens, but it could change a vector, so it is
        // another model identity: nothing the first worker stored may be used.
        await using var workerB = await WorkerHost.StartAsync(url, WithRedis(redis, ("Embedding:Models:all-MiniLM-L6-v2:MaxTokens", "255")));
        var second = await EmbedCorpusAsync(results, "b");
        Assert.All(second.Values, r => Assert.All(Cached(r), Assert.False));
        await WaitUntilAsync(async () => await redis.CountKeysAsync() >= 2 * DistinctTexts, "the second model identity's entries stored beside the first's");
    }

    [Fact]
    public async Task A_corrupted_or_truncated_entry_is_a_miss_and_is_replaced_by_the_fresh_vector()
    {
        await using var redis = await PrivateRedis.StartAsync();
        var (_, url) = await broker.CreateVirtualHostAsync("cache-corrupt");
        await using var results = await ResultCollector.StartAsync(url);
        string[] texts = ["The first text, to be corrupted.", "The second text, to be cut short.", "The third text, left alone."];

        ResultCollector.Result fresh;
        await using (var workerA = await WorkerHost.StartAsync(url, WithRedis(redis)))
        {
            await results.PublishAsync(ResultCollector.Request("fresh", texts));
            fresh = await results.WaitForAsync("fresh", Patience);
            await WaitUntilAsync(async () => await redis.CountKeysAsync() >= 3, "three entries stored");
        }

        // Which key is which text: the worker would compute the same hash of the same token ids.
        var db = await redis.DatabaseAsync();
        var keys = await redis.KeysAsync(Worker.Caching.EmbeddingCacheKey.Prefix + "*");
        var byLength = new List<(string Key, byte[] Data)>();
        foreach (var key in keys)
        {
            byLength.Add((key, (byte[])(await db.StringGetAsync(key))!));
        }

        // Entries are the worker's own codec's bytes; the vector is at the end of each.
        var corrupted = byLength[0];
        corrupted.Data[^30] ^= 0x40;
        await db.StringSetAsync(corrupted.Key, corrupted.Data);
        var truncated = byLength[1];
        await db.StringSetAsync(truncated.Key, truncated.Data[..^8]);

        await using var workerB = await WorkerHost.StartAsync(url, WithRedis(redis));
        await results.PublishAsync(ResultCollector.Request("again", texts));
        var again = await results.WaitForAsync("again", Patience);
        Assert.True(again.IsCompleted, again.Message);
        Assert.Equal(1, Cached(again).Count(c => c)); // only the untouched entry was used
        Assert.Equal(Bits(fresh), Bits(again)); // and nothing wrong came back from the broken ones

        // The broken entries were overwritten with the fresh vectors: a third ask is all hits.
        await WaitUntilAsync(async () =>
        {
            var corruptedNow = (byte[])(await db.StringGetAsync(corrupted.Key))!;
            var truncatedNow = (byte[])(await db.StringGetAsync(truncated.Key))!;
            return corruptedNow.Length == corrupted.Data.Length && corruptedNow[^30] != corrupted.Data[^30] && truncatedNow.Length == truncated.Data.Length;
        }, "the broken entries rewritten");
        await using var workerC = await WorkerHost.StartAsync(url, WithRedis(redis));
        await workerB.StopAsync();
        await results.PublishAsync(ResultCollector.Request("third", texts));
        var third = await results.WaitForAsync("third", Patience);
        Assert.All(Cached(third), Assert.True);
        Assert.Equal(Bits(fresh), Bits(third));
    }

    [Fact]
    public async Task Redis_killed_in_the_middle_of_a_load_loses_nothing_and_is_used_again_once_back()
    {
        await using var redis = await PrivateRedis.StartAsync();
        var (_, url) = await broker.CreateVirtualHostAsync("cache-kill");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, WithRedis(redis, ("Cache:RedisBreakDuration", "00:00:01")));

        var ids = await Reliability.BridgeFaultTests.PublishLoadAsync(results, "kill-redis", 300);
        Assert.True(await results.WaitForAsync(60, Patience), "stalled before 60 results");
        var storedBeforeKill = await redis.CountKeysAsync();
        redis.Kill();

        Assert.True(await results.WaitForAsync(300, Patience), $"{results.Results.Count} of 300 results");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        output.WriteLine($"stored before the kill: {storedBeforeKill}; outcome: {outcome}");
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(0, outcome.Duplicates);
        Assert.Equal(300, outcome.Completed);
        Assert.True(storedBeforeKill > 0, "the worker was using Redis before the kill");
        Assert.True(worker.LogContains("embedding without it"), "the circuit's opening is logged");

        // Back, empty: the circuit probes it again and the worker stores new vectors there.
        await redis.RestartAsync();
        // The client reconnects in the background on its own schedule, and the circuit closes on the next call after
        // that: keep sending requests (each answered, Redis or not) until the closing is logged, bounded by Patience
        // rather than by a count, which a fast machine gets through before the reconnect.
        var sent = 0;
        await WaitUntilAsync(async () =>
        {
            if (worker.LogContains("answers again"))
            {
                return true;
            }

            var id = $"after-{sent++}";
            await results.PublishAsync(ResultCollector.Request(id, $"A new text after the restart, number {sent}."));
            Assert.True((await results.WaitForAsync(id, Patience)).IsCompleted);
            return worker.LogContains("answers again");
        }, "the circuit's closing is logged");
        await results.PublishAsync(ResultCollector.Request("stored-again", "This one is stored in the restarted Redis."));
        Assert.True((await results.WaitForAsync("stored-again", Patience)).IsCompleted);
        await WaitUntilAsync(async () => await redis.CountKeysAsync() > 0, "new entries in the restarted Redis");
    }

    [Fact]
    public async Task The_in_process_level_alone_answers_a_repeated_text_from_memory_with_no_redis_configured()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cache-memory");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);

        await results.PublishAsync(ResultCollector.Request("first", "Remember this sentence.", "And this one."));
        var first = await results.WaitForAsync("first", Patience);
        Assert.Equal(new[] { false, false }, Cached(first));

        // The write follows the publish; ask until the memory level has it (each ask is answered either way).
        ResultCollector.Result? again = null;
        for (var i = 0; i < 50 && (again is null || !Cached(again).All(c => c)); i++)
        {
            await results.PublishAsync(ResultCollector.Request($"again-{i}", "Remember this sentence.", "And this one."));
            again = await results.WaitForAsync($"again-{i}", Patience);
        }

        Assert.Equal(new[] { true, true }, Cached(again!));
        Assert.Equal(Bits(first), Bits(again!));
        Assert.True(worker.LogContains("Embedding cache: in process up to 256 MiB; entries live"), "no Redis level was configured");

        await results.PublishAsync(ResultCollector.Request("mixed", "Remember this sentence.", "Something never seen."));
        Assert.Equal(new[] { true, false }, Cached(await results.WaitForAsync("mixed", Patience)));
    }

    [Fact]
    public async Task Turned_off_nothing_is_cached()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cache-off");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Cache:Enabled"] = "false" });
        for (var i = 0; i < 3; i++)
        {
            await results.PublishAsync(ResultCollector.Request($"off-{i}", "The same text each time."));
            Assert.Equal(new[] { false }, Cached(await results.WaitForAsync($"off-{i}", Patience)));
        }
    }

    private static async Task<Dictionary<string, ResultCollector.Result>> EmbedCorpusAsync(ResultCollector results, string prefix)
    {
        for (var i = 0; i < Corpus.Length; i++)
        {
            await results.PublishAsync(ResultCollector.Request($"{prefix}-{i}", Corpus[i]));
        }

        var answered = new Dictionary<string, ResultCollector.Result>();
        for (var i = 0; i < Corpus.Length; i++)
        {
            var result = await results.WaitForAsync($"{prefix}-{i}", Patience);
            Assert.True(result.IsCompleted, result.Message);
            answered[$"{prefix}-{i}"] = result;
        }

        return answered;
    }

    private static bool[] Cached(ResultCollector.Result result) =>
        result.Body.GetProperty("cached").EnumerateArray().Select(c => c.GetBoolean()).ToArray();

    /// <summary>The vectors as their float32 bit patterns: "identical" means the same bytes, not close.</summary>
    private static int[][] Bits(ResultCollector.Result result) =>
        result.Embeddings.Select(v => v.Select(BitConverter.SingleToInt32Bits).ToArray()).ToArray();

    /// <summary>Polls a condition of Redis' own state (what the workers stored), not a clock.</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        using var cts = new CancellationTokenSource(Patience);
        while (!await condition())
        {
            Assert.False(cts.IsCancellationRequested, $"timed out waiting for: {what}");
            await Task.Delay(50);
        }
    }
}
