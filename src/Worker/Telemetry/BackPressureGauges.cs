using System.Diagnostics.Metrics;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.Hosting;

namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>
/// The signals a producer or an autoscaler acts on (meter <c>AkiDb.Queue</c>): how much work waits, in texts and in
/// seconds, and how old the oldest waiting request is. docs/operations.md scales on them with KEDA.
/// </summary>
internal sealed class BackPressureGauges : IHostedService
{
    public BackPressureGauges(IMeterFactory meterFactory, EmbeddingScheduler scheduler, InputQueueDepth queue, IInferenceBackend backend, WorkerTelemetry telemetry)
    {
        var meter = meterFactory.Create(WorkerTelemetry.Name);
        meter.CreateObservableGauge("akidb.backlog.waiting_texts", () => Waiting(scheduler.Backlog), "{text}",
            "Texts in this worker waiting for a model call, by priority (interactive, normal, background).");
        meter.CreateObservableGauge("akidb.backlog.oldest_age", () => OldestAge(scheduler.Backlog), "s",
            "Age of the oldest request waiting in this worker, since it was sent.");
        meter.CreateObservableGauge("akidb.planner.longest_pass_over", () => scheduler.Backlog.LongestPassOver.TotalSeconds, "s",
            "Longest time a text was passed over by higher-priority texts before it ran, since start (bounded by Batching:MaxPassOver plus one batch).");
        meter.CreateObservableGauge("akidb.backlog.queue_messages", () => queue.ReadyMessages is { } ready ? [new Measurement<long>(ready)] : Array.Empty<Measurement<long>>(), "{message}",
            "Ready messages in the input queue (polled every RabbitMq:QueueDepthPollInterval).");
        meter.CreateObservableGauge("akidb.backlog.texts", () => Texts() is { } texts ? [new Measurement<double>(texts)] : Array.Empty<Measurement<double>>(), "{text}",
            "Texts waiting: in the input queue (messages x mean texts per request) and in this worker.");
        meter.CreateObservableGauge("akidb.backlog.seconds", () => Seconds() is { } seconds ? [new Measurement<double>(seconds)] : Array.Empty<Measurement<double>>(), "s",
            "Estimated seconds this one worker would need for akidb.backlog.texts at its measured capacity.");
        meter.CreateObservableGauge("akidb.capacity.texts_per_second", () => Capacity() is { } capacity ? [new Measurement<double>(capacity)] : Array.Empty<Measurement<double>>(), "{text}/s",
            "Texts per second this worker embeds with every lane busy, from its recent model calls.");

        double? Capacity() => telemetry.Capacity.TextsPerSecond(backend.Lanes.Count);

        double? Texts() => queue.ReadyMessages is { } ready ? ready * telemetry.Capacity.TextsPerRequest + scheduler.Backlog.TotalTexts : null;

        double? Seconds() => Texts() switch
        {
            null => null,
            0 => 0,
            var texts => Capacity() is { } capacity ? texts / capacity : null,
        };
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static IEnumerable<Measurement<int>> Waiting(BacklogSnapshot backlog) =>
        Enum.GetValues<RequestPriority>().Select(p => new Measurement<int>(backlog.Texts(p), new KeyValuePair<string, object?>("priority", WorkerTelemetry.PriorityTag(p))));

    private static double OldestAge(BacklogSnapshot backlog) =>
        backlog.OldestSentAt is { } oldest ? Math.Max(0, (DateTimeOffset.UtcNow - oldest).TotalSeconds) : 0;
}
