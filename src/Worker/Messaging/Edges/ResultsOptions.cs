using System.ComponentModel.DataAnnotations;

namespace AkiDb.Queue.Worker.Messaging.Edges;

/// <summary>Configuration section <c>Results</c>: where a result goes when no queue is bound to its exchange, and its bounds.</summary>
public sealed class ResultsOptions
{
    public const string Section = "Results";

    /// <summary>
    /// Durable queue that keeps results published while no queue was bound to <c>embed-completed</c> or
    /// <c>embed-failed</c>. Consume (or shovel) it to recover them.
    /// </summary>
    [Required]
    [RegularExpression("^(?!amq\\.)[A-Za-z0-9._:-]{1,200}$", ErrorMessage = "Results:ParkingQueue must be 1-200 characters of letters, digits, '.', '_', ':' or '-' and must not start with 'amq.'.")]
    public string ParkingQueue { get; set; } = "embed-results-unrouted";

    /// <summary>Most results the parking queue holds; beyond it the broker refuses the publish and the request stays in its queue.</summary>
    [Range(1, 10_000_000)]
    public int ParkingMaxLength { get; set; } = 10_000;

    /// <summary>Most bytes of results the parking queue holds (the same refusal as <see cref="ParkingMaxLength"/>).</summary>
    [Range(1_048_576, long.MaxValue)]
    public long ParkingMaxBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Longest wait for the broker to take a reply to reply_to or a response address; after it the reply is dropped (and counted).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan ReplyTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
