using System.Diagnostics;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// A clock that stands still while this process is not running: frozen by SIGSTOP, a paused container, a suspended
/// VM. A bridge deadline measured on the wall clock would pass during the freeze and be charged to a bridge that
/// answered in time; measured on this clock it is not. A background thread ticks every <c>Tick</c> and adds the real
/// time since its last tick, but never more than <c>MaxStep</c>: a gap longer than that means nothing here ran.
/// (No library offers this; <see cref="TimeProvider"/> is the shape it plugs into.) Under heavy CPU starvation the
/// clock may lose a little time too, which only makes deadlines more lenient, never stricter.
/// </summary>
internal sealed class RunningClock : TimeProvider
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    private static readonly long MaxStep = Stopwatch.Frequency; // one second

    private readonly Lock _lock = new();
    private long _running;
    private long _lastTick = Stopwatch.GetTimestamp();

    private RunningClock()
    {
        new Thread(TickForever) { IsBackground = true, Name = "akidb running clock" }.Start();
    }

    public static RunningClock Instance { get; } = new();

    public override long TimestampFrequency => Stopwatch.Frequency;

    public override long GetTimestamp()
    {
        lock (_lock)
        {
            return _running + Math.Min(Stopwatch.GetTimestamp() - _lastTick, MaxStep);
        }
    }

    private void TickForever()
    {
        while (true)
        {
            Thread.Sleep(Tick);
            lock (_lock)
            {
                var now = Stopwatch.GetTimestamp();
                _running += Math.Min(now - _lastTick, MaxStep);
                _lastTick = now;
            }
        }
    }
}
