namespace AkiDb.Queue.Worker.Messaging.Queues;

/// <summary>The queues the worker declares, by what it does with them.</summary>
internal enum QueueRole
{
    /// <summary>Requests: consumed.</summary>
    Input,

    /// <summary>Requests the broker expired (the input queue's dead-letter target): consumed.</summary>
    Expired,

    /// <summary>Malformed or poison requests, moved there by MassTransit: only published to.</summary>
    Error,

    /// <summary>Results no queue was bound for: only published to.</summary>
    Parking,
}
