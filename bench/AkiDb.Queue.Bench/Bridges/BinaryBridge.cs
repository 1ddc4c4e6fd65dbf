using System.Runtime.InteropServices;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Bench.Bridges;

/// <summary>
/// A bridge process spoken to exactly as <see cref="BridgeLane"/> does: the worker's launch factory, process
/// supervision and frame codec; one <c>embed</c> at a time, payload copied out of the batch, vectors copied out of
/// the reply. Only the lane's supervision (restarts, pings, tracing) is left out, which costs nothing per batch.
/// </summary>
internal sealed class BinaryBridge : IAsyncDisposable
{
    private readonly BridgeProcess _process;
    private readonly BridgeOptions _options;
    private long _nextId;

    private BridgeBinaryReady? _ready;

    private BinaryBridge(BridgeProcess process, BridgeOptions options)
    {
        _process = process;
        _options = options;
    }

    public int ProcessId => _process.ProcessId;

    public BridgeBinaryReady Ready => _ready ?? throw new InvalidOperationException("Not initialised.");

    /// <summary>Starts the bridge and sends <c>init</c> (the worker's defaults: runtime auto, providers CoreML, CUDA, CPU).</summary>
    public static async Task<BinaryBridge> StartAsync(BridgeOptions options, PythonInterpreter python, IReadOnlyList<ModelDefinition> models, ILogger logger)
    {
        var factory = new BridgeLaunchFactory(Options.Create(options));
        var launch = factory.Create(python);
        var init = new InitHeader(
            EnumSettings.Name(options.Runtime),
            factory.ResolveOrtLibrary(),
            ["CoreML", "CUDA", "CPU"],
            options.EffectiveIntraOpThreads,
            options.InterOpThreads,
            options.MaxPayloadBytes,
            EnumSettings.Name(options.LogLevel),
            models.Select(BridgeClient.ToSpec).ToList(),
            options.AllowSpinning);
        var process = BridgeProcess.Start(launch, FrameLimits.Default with { MaxPayloadBytes = options.MaxPayloadBytes }, logger, 0);
        var bridge = new BinaryBridge(process, options);
        try
        {
            var ready = await process.InitializeAsync(init, options.StartTimeout, CancellationToken.None);
            bridge._ready = new BridgeBinaryReady(ready.Runtime ?? "?", ready.OrtVersion ?? "?", ready.Python ?? "?", ready.Numpy ?? "?",
                ready.StartupMs ?? 0, ready.Models is { Count: > 0 } loaded ? loaded[0].Provider : "-", init.IntraOpThreads);
            return bridge;
        }
        catch
        {
            await bridge.DisposeAsync();
            throw;
        }
    }

    /// <summary>One embed round trip, as BridgeLane.RunAsync makes it; returns the vectors (rows x dim).</summary>
    public async Task<float[]> EmbedAsync(string model, InferenceBatch batch)
    {
        var id = ++_nextId;
        var header = BridgeJsonContext.Serialize(new EmbedHeader(id, model, batch.Rows, batch.SequenceLength, batch.Lengths, null));
        var payload = MemoryMarshal.AsBytes(batch.InputIds.AsSpan()).ToArray();
        var (reply, vectors) = await _process.RequestAsync(header, payload, id, _options.DeadlineFor(batch.Rows), CancellationToken.None);
        if (reply.Type != BridgeReplyType.Result || reply.Batch != batch.Rows || vectors.Length != batch.Rows * (reply.Dim ?? 0) * sizeof(float))
        {
            throw new InvalidOperationException($"Bad reply from the bridge: {reply.Type} {reply.Code} {reply.Message} (batch {reply.Batch}, dim {reply.Dim}, {vectors.Length} bytes)");
        }

        return MemoryMarshal.Cast<byte, float>(vectors.Span).ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await _process.StopAsync(TimeSpan.FromSeconds(5));
        await _process.DisposeAsync();
    }
}

/// <summary>What the bridge's <c>ready</c> said.</summary>
public sealed record BridgeBinaryReady(string Runtime, string OrtVersion, string Python, string Numpy, double StartupMs, string Provider, int IntraOpThreads);
