using System.Diagnostics;

namespace AkiDb.Queue.Tests.Bridge;

/// <summary>
/// The running clock of a worker that is frozen: it stands still while wall-clock timers keep firing. Readings are
/// counted, so a test can tell that a deadline's wall-clock wait ran out and the clock was looked at again.
/// </summary>
internal sealed class FrozenClock : TimeProvider
{
    private readonly long _frozenAt = Stopwatch.GetTimestamp();
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
    private int _readings;

    public override long TimestampFrequency => Stopwatch.Frequency;

    public int Readings => Volatile.Read(ref _readings);

    /// <summary>Completes once the clock has been read <paramref name="count"/> times in all.</summary>
    public Task WhenReadAsync(int count)
    {
        lock (_lock)
        {
            if (_readings >= count)
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, reached));
            return reached.Task;
        }
    }

    public override long GetTimestamp()
    {
        lock (_lock)
        {
            _readings++;
            foreach (var waiter in _waiters.Where(w => w.Count <= _readings).ToList())
            {
                waiter.Reached.TrySetResult();
                _waiters.Remove(waiter);
            }
        }

        return _frozenAt;
    }
}
