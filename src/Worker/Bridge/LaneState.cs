namespace AkiDb.Queue.Worker.Bridge;

/// <summary>What a lane has been through; carried from state to state.</summary>
/// <param name="Restarts">Processes that ended after they were ready and were replaced.</param>
/// <param name="LastRecovery">From the last exit of a ready process to the next ready handshake: what a crash costs.</param>
/// <param name="ConsecutiveFailures">Failed starts and exits since the last successful batch; the restart backoff grows with it.</param>
/// <param name="ConsecutiveStartFailures">Failed starts since the last successful one; the circuit breaker opens on it.</param>
internal readonly record struct LaneCounters(int Restarts, TimeSpan? LastRecovery, int ConsecutiveFailures, int ConsecutiveStartFailures);

/// <summary>
/// A lane's state: one immutable value, replaced as a whole with <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>
/// (MassTransit's kill switch does the same with its states), so a reader on any thread sees one consistent
/// state. <see cref="Readiness"/> completes when the lane is ready; it is carried through starting and backing off
/// until then, and replaced by a fresh one when a ready process ends.
/// </summary>
internal abstract record LaneState(LaneCounters Counters, TaskCompletionSource Readiness)
{
    public virtual BridgeSession? Session => null;

    public static TaskCompletionSource NewReadiness() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Replaces <paramref name="state"/> with <paramref name="next"/>(current), retrying if another thread swapped it meanwhile.</summary>
    public static LaneState Swap(ref LaneState state, Func<LaneState, LaneState> next)
    {
        while (true)
        {
            var current = Volatile.Read(ref state);
            var proposed = next(current);
            if (ReferenceEquals(Interlocked.CompareExchange(ref state, proposed, current), current))
            {
                return proposed;
            }
        }
    }
}

/// <summary>A process has been launched and the lane waits for its ready handshake.</summary>
internal sealed record LaneStarting(LaneCounters Counters, TaskCompletionSource Readiness) : LaneState(Counters, Readiness);

/// <summary>A process is up and takes batches.</summary>
internal sealed record LaneReady(LaneCounters Counters, TaskCompletionSource Readiness, BridgeSession Ready) : LaneState(Counters, Readiness)
{
    public override BridgeSession Session => Ready;
}

/// <summary>The last process ended or failed to start; the next one starts after <see cref="Delay"/>.</summary>
internal sealed record LaneBackingOff(LaneCounters Counters, TaskCompletionSource Readiness, TimeSpan Delay) : LaneState(Counters, Readiness);

/// <summary>No process and none to come: the lane was stopped, or its process ended after shutdown began.</summary>
internal sealed record LaneStopped(LaneCounters Counters, TaskCompletionSource Readiness) : LaneState(Counters, Readiness);

/// <summary>A ready process, what its handshake said, and the models loaded in it; replaced as a whole on restart.</summary>
internal sealed record BridgeSession(IBridgeConnection Connection, Dictionary<string, BridgeModelInfo> Models);
