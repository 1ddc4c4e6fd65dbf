using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>
/// The worker's own spans and metrics, next to MassTransit's. Every instrument name is listed in the README's
/// telemetry table; the names are part of the operating contract.
/// </summary>
public sealed class WorkerTelemetry
{
    public const string Name = "AkiDb.Queue";

    public static readonly ActivitySource ActivitySource = new(Name);

    private Func<int> _lanesReady = () => 0;
    private int _messagesInFlight;

    public WorkerTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        RequestsConsumed = meter.CreateCounter<long>("akidb.requests.consumed", "{request}", "EmbedRequested messages taken from the queue.");
        TextsConsumed = meter.CreateCounter<long>("akidb.texts.consumed", "{text}", "Texts in consumed requests.");
        RequestsCompleted = meter.CreateCounter<long>("akidb.requests.completed", "{request}", "EmbedCompleted published.");
        RequestsFailed = meter.CreateCounter<long>("akidb.requests.failed", "{request}", "EmbedFailed published, by error code.");
        BatchSize = meter.CreateHistogram<int>("akidb.batch.size", "{text}", "Texts per model call (after de-duplication).");
        BatchTokens = meter.CreateHistogram<int>("akidb.batch.tokens", "{token}", "Padded tokens per model call (rows x sequence length).");
        PaddingEfficiency = meter.CreateHistogram<double>("akidb.batch.padding_efficiency", "1", "Real tokens / padded tokens per model call.");
        DuplicateTexts = meter.CreateCounter<long>("akidb.batch.duplicates", "{text}", "Texts served from an identical text in the same batch.");
        BatchFailures = meter.CreateCounter<long>("akidb.batch.failures", "{batch}", "Model calls that failed, by reason (crash, timeout, protocol, runtime_error).");
        QueuedTime = meter.CreateHistogram<double>("akidb.request.queued", "ms", "Time from the request being sent until its last batch started.");
        InferenceTime = meter.CreateHistogram<double>("akidb.batch.inference", "ms", "Model time per call, as measured inside the backend.");
        BatchThreads = meter.CreateHistogram<int>("akidb.batch.threads", "{thread}", "Intra-op threads of the session that ran each call: the lane's share (narrow) or every core (wide, a lone batch).");
        TransportTime = meter.CreateHistogram<double>("akidb.batch.transport", "ms", "Per call time beyond the model: framing, pipes, and pooling.");
        EndToEndTime = meter.CreateHistogram<double>("akidb.request.duration", "ms", "Time from the request being sent until its result was published.");
        Stage = meter.CreateHistogram<double>("akidb.request.stage", "ms",
            "Time a request spent in each stage of the worker (delivery, parse, tokenize, cache, wait, batch, result, publish): where the path around the model goes.");
        BridgeRecovery = meter.CreateHistogram<double>("akidb.bridge.recovery", "ms", "From a bridge process ending to its replacement being ready.");
        BridgeMemoryReleased = meter.CreateCounter<long>("akidb.bridge.memory_released", "By", "Resident bytes the bridge processes gave back when pinged idle (after a burst).");
        BridgeRestarts = meter.CreateCounter<long>("akidb.bridge.restarts", "{restart}", "Bridge processes that ended and were restarted, by reason.");
        RequestsExpired = meter.CreateCounter<long>("akidb.requests.expired", "{request}", "Requests answered 'expired' without inference, by where the deadline passed (worker, broker).");
        ErrorQueueMoves = meter.CreateCounter<long>("akidb.error_queue.moves", "{message}", "Messages moved to the _error queue, by reason (malformed_message, inference_failed).");
        meter.CreateObservableGauge("akidb.bridge.ready", () => Volatile.Read(ref _lanesReady)(), "{process}", "Bridge processes (or native lanes) ready for work.");
        meter.CreateObservableGauge("akidb.messages.in_flight", () => Volatile.Read(ref _messagesInFlight), "{message}", "Requests being processed by this worker.");
    }

    public Counter<long> RequestsConsumed { get; }
    public Counter<long> TextsConsumed { get; }
    public Counter<long> RequestsCompleted { get; }
    public Counter<long> RequestsFailed { get; }
    public Histogram<int> BatchSize { get; }
    public Histogram<int> BatchTokens { get; }
    public Histogram<double> PaddingEfficiency { get; }
    public Counter<long> DuplicateTexts { get; }
    public Counter<long> BatchFailures { get; }
    public Histogram<double> QueuedTime { get; }
    public Histogram<double> InferenceTime { get; }

    public Histogram<int> BatchThreads { get; }
    public Histogram<double> TransportTime { get; }
    public Histogram<double> EndToEndTime { get; }
    public Counter<long> BridgeRestarts { get; }

    /// <summary><c>akidb.bridge.memory_released</c>: bytes the bridges reported giving back on idle pings.</summary>
    public Counter<long> BridgeMemoryReleased { get; }

    /// <summary><c>akidb.request.stage</c>, tagged <c>stage</c>: see <see cref="RecordStage"/>.</summary>
    public Histogram<double> Stage { get; }
    public Histogram<double> BridgeRecovery { get; }
    public Counter<long> RequestsExpired { get; }
    public Counter<long> ErrorQueueMoves { get; }

    /// <summary>Capacity and texts per request, for the back-pressure gauges.</summary>
    public CapacityEstimate Capacity { get; } = new();

    /// <summary>The <c>priority</c> tag of <c>akidb.request.queued</c>: interactive, normal or background.</summary>
    public static string PriorityTag(Batching.RequestPriority priority) => priority switch
    {
        Batching.RequestPriority.Interactive => "interactive",
        Batching.RequestPriority.Background => "background",
        _ => "normal",
    };

    /// <summary>The backend says how to count its ready lanes (bridge processes or native lanes) for <c>akidb.bridge.ready</c>.</summary>
    public void ObserveReadyLanes(Func<int> count) => Volatile.Write(ref _lanesReady, count);

    /// <summary>
    /// Records the time from <paramref name="since"/> (a <c>Stopwatch</c> timestamp) to now under <paramref name="stage"/>,
    /// and returns now, the start of the next stage.
    /// </summary>
    public long RecordStage(string stage, long since)
    {
        var now = Stopwatch.GetTimestamp();
        Stage.Record(Stopwatch.GetElapsedTime(since, now).TotalMilliseconds, new KeyValuePair<string, object?>("stage", stage));
        return now;
    }

    public void MessageStarted() => Interlocked.Increment(ref _messagesInFlight);

    public void MessageFinished() => Interlocked.Decrement(ref _messagesInFlight);
}
