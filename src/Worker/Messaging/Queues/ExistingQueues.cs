namespace AkiDb.Queue.Worker.Messaging.Queues;

/// <summary>
/// What the start-up check found about the worker's queues (<see cref="QueueArgumentCheck"/>): written once, before
/// MassTransit's bus is built, and read by its configuration, the parking-queue declarer and <c>/health/ready</c>.
/// </summary>
internal sealed class ExistingQueues
{
    private volatile IReadOnlyDictionary<QueueRole, QueueFinding>? _findings;

    /// <summary>True once the check ran (or gave up: then nothing is known to differ).</summary>
    public bool Checked => _findings is not null;

    public void Record(IReadOnlyDictionary<QueueRole, QueueFinding> findings) => _findings = findings;

    public QueueFinding? For(QueueRole role) => _findings?.GetValueOrDefault(role);

    /// <summary>False when the queue exists with other arguments and is consumed (input, expired): the worker leaves it alone.</summary>
    public bool Consume(QueueRole role) => For(role) is not { Difference: not null };

    /// <summary>The existing queue's own arguments, for a queue used as it is; null when it is used as declared.</summary>
    public IReadOnlyDictionary<string, object?>? AsItIs(QueueRole role) => For(role) is { Difference: not null, Existing: { } existing } ? existing : null;

    /// <summary>Why the worker does not consume a queue it should, for /health/ready; null when it consumes all of them.</summary>
    public string? NotConsuming
    {
        get
        {
            var refused = (_findings?.Values ?? []).Where(f => f.Difference is not null && f.Role is QueueRole.Input or QueueRole.Expired)
                .Select(f => $"queue {f.Name} exists with other arguments ({f.Difference!.Describe()}); not consumed until it is migrated (README, \"Queues that already exist\")")
                .ToList();
            return refused.Count == 0 ? null : string.Join("; ", refused);
        }
    }
}

/// <summary>One queue's state at start: missing (declared as usual), as declared, or different (and how).</summary>
/// <param name="Role">What the worker does with it.</param>
/// <param name="Name">The queue.</param>
/// <param name="Difference">The first argument that differs; null when the queue is missing or as declared.</param>
/// <param name="Existing">The existing queue's arguments, learned from the broker; null when unknown or not needed.</param>
internal sealed record QueueFinding(QueueRole Role, string Name, QueueArgumentDifference? Difference, IReadOnlyDictionary<string, object?>? Existing);
