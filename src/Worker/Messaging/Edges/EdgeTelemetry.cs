using System.Diagnostics.Metrics;
using AkiDb.Queue.Worker.Telemetry;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>
/// Metrics of the result and reply edges, on the worker's meter (<see cref="WorkerTelemetry.Name"/>), so they are
/// exported with the others. Listed in the README's telemetry table.
/// </summary>
internal sealed class EdgeTelemetry
{
    public EdgeTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(WorkerTelemetry.Name);
        ResultsParked = meter.CreateCounter<long>("akidb.results.parked", "{result}",
            "Results no queue was bound for, kept in the parking queue instead.");
        ResultsRefused = meter.CreateCounter<long>("akidb.results.refused", "{result}",
            "Result publishes the broker refused (a full queue with reject-publish); each is retried while its request stays unacknowledged.");
        RepliesSent = meter.CreateCounter<long>("akidb.replies.sent", "{reply}",
            "Replies delivered to a request's reply_to or MassTransit response address.");
        RepliesDropped = meter.CreateCounter<long>("akidb.replies.dropped", "{reply}",
            "Replies not sent, by reason: rejected (not a reply queue of this broker and vhost), returned (no such queue), failed.");
    }

    public Counter<long> ResultsParked { get; }

    public Counter<long> ResultsRefused { get; }

    public Counter<long> RepliesSent { get; }

    public Counter<long> RepliesDropped { get; }
}
