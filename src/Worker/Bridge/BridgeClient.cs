using System.Diagnostics;
using System.Runtime.InteropServices;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// The requests a lane makes of its ready process: run a batch (loading its model first when needed), ping it. It
/// marshals batches into frames and replies into vectors, and turns bridge failures into the lane's exceptions.
/// The caller (<see cref="BridgeLane"/>) makes one request at a time.
/// </summary>
internal sealed class BridgeClient(int laneId, BridgeOptions options, TimeProvider clock, ILogger logger)
{
    private long _nextRequestId;

    public async Task<InferenceOutput> RunAsync(BridgeSession session, ModelDefinition model, InferenceBatch batch, CancellationToken cancellationToken)
    {
        var connection = session.Connection;
        using var call = BridgeSpans.StartCall(batch.TraceContext, connection.ProcessId, laneId);
        var started = Stopwatch.GetTimestamp();
        var startedAt = DateTimeOffset.UtcNow;
        try
        {
            var info = await EnsureLoadedAsync(session, model, cancellationToken);
            var id = Interlocked.Increment(ref _nextRequestId);
            var header = BridgeJsonContext.Serialize(new EmbedHeader(
                id, model.Name, batch.Rows, batch.SequenceLength, batch.Lengths, BridgeSpans.Traceparent(call?.Context ?? batch.TraceContext),
                batch.Parallelism == Parallelism.Wide ? "wide" : "narrow"));
            var payload = MemoryMarshal.AsBytes(batch.InputIds.AsSpan()).ToArray();
            var (reply, vectors) = await connection.RequestAsync(header, payload, id, options.DeadlineFor(batch.Rows), cancellationToken, clock);
            var elapsed = Stopwatch.GetElapsedTime(started);
            var output = ToOutput(connection, reply, vectors, batch, info, elapsed.TotalMilliseconds);
            BridgeSpans.RecordBridgeTimings(call, reply.Timings, startedAt, elapsed);
            return output;
        }
        catch (BridgeTimeoutException e)
        {
            throw new BatchFailedException(BatchFailureReason.Timeout, e.Message, e);
        }
        catch (BridgeExitedException e)
        {
            throw new BatchFailedException(e.InnerException is BridgeProtocolException ? BatchFailureReason.Protocol : BatchFailureReason.Crash, e.Message, e);
        }
        catch (BridgeProtocolException e)
        {
            throw new BatchFailedException(BatchFailureReason.Protocol, e.Message, e);
        }
    }

    /// <summary>
    /// An idle health check: a process that answers anything but <c>pong</c> is killed. The pong says the bridge's
    /// resident bytes after the ping and how many it gave back (a ping is when it releases memory).
    /// </summary>
    public async Task<(long? RssBytes, long? ReleasedBytes)> PingAsync(BridgeSession session, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextRequestId);
        var (reply, _) = await session.Connection.RequestAsync(
            BridgeJsonContext.Serialize(new PingHeader(id)), ReadOnlyMemory<byte>.Empty, id, options.PingTimeout, cancellationToken, clock);
        if (reply.Type != BridgeReplyType.Pong)
        {
            session.Connection.Kill($"answered a ping with '{BridgeProtocol.Name(reply.Type)}'");
            return (null, null);
        }

        return (reply.RssBytes, reply.ReleasedBytes);
    }

    internal static BridgeModelSpec ToSpec(ModelDefinition model) =>
        new(model.Name, model.OnnxPath, model.Output, Hosting.EnumSettings.Name(model.Pooling), model.Normalize);

    private static InferenceOutput ToOutput(IBridgeConnection connection, BridgeReply reply, ReadOnlyMemory<byte> payload, InferenceBatch batch, BridgeModelInfo info, double elapsedMs)
    {
        if (reply.Type == BridgeReplyType.Error)
        {
            throw new BatchFailedException(BatchFailureReason.RuntimeError, $"The bridge reported {reply.Code}: {reply.Message}");
        }

        var dim = reply.Dim ?? 0;
        if (reply.Type != BridgeReplyType.Result || reply.Batch != batch.Rows || dim != info.Dim || payload.Length != batch.Rows * dim * sizeof(float))
        {
            connection.Kill("malformed result");
            throw new BatchFailedException(BatchFailureReason.Protocol,
                $"Malformed result from the bridge: type {BridgeProtocol.Name(reply.Type)}, batch {reply.Batch} (sent {batch.Rows}), dim {reply.Dim} (model {info.Dim}), {payload.Length} payload bytes.");
        }

        var vectors = MemoryMarshal.Cast<byte, float>(payload.Span).ToArray();
        var timings = reply.Timings ?? new BridgeTimings(0, 0, 0, 0);
        return new InferenceOutput(vectors, dim,
            new InferenceTimings(timings.InferenceMs, timings.PoolingMs, elapsedMs, Math.Max(0, elapsedMs - timings.InferenceMs)),
            info.Provider) { Threads = reply.Threads ?? 0 };
    }

    private async Task<BridgeModelInfo> EnsureLoadedAsync(BridgeSession session, ModelDefinition model, CancellationToken cancellationToken)
    {
        if (session.Models.TryGetValue(model.Name, out var info))
        {
            return info;
        }

        var id = Interlocked.Increment(ref _nextRequestId);
        var header = BridgeJsonContext.Serialize(new LoadHeader(id, ToSpec(model)));
        var (reply, _) = await session.Connection.RequestAsync(header, ReadOnlyMemory<byte>.Empty, id, options.StartTimeout, cancellationToken, clock);
        if (reply.Type != BridgeReplyType.Loaded || reply.Model is null)
        {
            throw new BatchFailedException(BatchFailureReason.RuntimeError, $"The bridge could not load model '{model.Name}': {reply.Code}: {reply.Message}");
        }

        logger.LogInformation("Bridge lane {Lane} loaded model {Model} on {Provider} ({Dim} dimensions) in {Ms:F0} ms, +{MiB:F0} MiB resident",
            laneId, model.Name, reply.Model.Provider, reply.Model.Dim, reply.Model.LoadMs, (reply.Model.RssDeltaBytes ?? 0) / 1048576.0);
        session.Models[model.Name] = reply.Model;
        return reply.Model;
    }
}
