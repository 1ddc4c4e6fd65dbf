namespace AkiDb.Queue.Contracts;

/// <summary>
/// The broker names producers and the worker agree on: requests go to the <see cref="EmbedRequested"/> queue, results
/// come out of the <see cref="EmbedCompleted"/> and <see cref="EmbedFailed"/> fanout exchanges.
/// </summary>
public static class QueueNames
{
    /// <summary>The worker's input queue (the default of <c>RabbitMq:QueueName</c>).</summary>
    public const string EmbedRequested = "embed-requested";

    /// <summary>Fanout exchange of <see cref="EmbedCompleted"/> results.</summary>
    public const string EmbedCompleted = "embed-completed";

    /// <summary>Fanout exchange of <see cref="EmbedFailed"/> results.</summary>
    public const string EmbedFailed = "embed-failed";

    /// <summary>MassTransit's error queue (and exchange) for the input queue: messages that could not be processed.</summary>
    public const string EmbedRequestedError = EmbedRequested + "_error";
}
