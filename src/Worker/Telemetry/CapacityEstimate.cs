namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>
/// How many texts per second this worker can embed, and how many texts a request carries on average: what turns a
/// queue depth in messages into texts and seconds of work. Capacity is measured from busy time (texts per second of
/// model call, times the lanes), not from the arrival rate, so an idle worker still knows what it could do.
/// </summary>
public sealed class CapacityEstimate
{
    // Enough recent batches to smooth one odd call, few enough to follow a change of corpus within seconds.
    private const int Window = 64;

    private readonly object _lock = new();
    private readonly (int Texts, double Ms)[] _batches = new (int, double)[Window];
    private int _next;
    private int _count;
    private long _requests;
    private long _texts;

    /// <summary>Records one model call of <paramref name="texts"/> texts that took <paramref name="ms"/> on its lane.</summary>
    public void RecordBatch(int texts, double ms)
    {
        lock (_lock)
        {
            _batches[_next] = (texts, Math.Max(ms, 0.001));
            _next = (_next + 1) % Window;
            _count = Math.Min(_count + 1, Window);
        }
    }

    public void RecordRequest(int texts)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _texts, texts);
    }

    /// <summary>Texts per second with every one of <paramref name="lanes"/> busy; null before the first batch.</summary>
    public double? TextsPerSecond(int lanes)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return null;
            }

            double texts = 0, ms = 0;
            for (var i = 0; i < _count; i++)
            {
                texts += _batches[i].Texts;
                ms += _batches[i].Ms;
            }

            return texts / (ms / 1000) * Math.Max(lanes, 1);
        }
    }

    /// <summary>Mean texts per request seen so far; 1 before the first.</summary>
    public double TextsPerRequest
    {
        get
        {
            var requests = Interlocked.Read(ref _requests);
            return requests == 0 ? 1 : (double)Interlocked.Read(ref _texts) / requests;
        }
    }
}
