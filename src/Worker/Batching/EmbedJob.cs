using System.Diagnostics;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>The vectors of one request, filled in as its texts come back from whichever batches they ran in.</summary>
internal sealed class EmbedJob
{
    private readonly TaskCompletionSource<EmbedJobResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly float[]?[] _vectors;
    private readonly bool[] _cached;
    private readonly HashSet<long> _batches = [];
    private int _remaining;
    private double _inferenceMs;
    private long _lastBatchStarted;
    private string _provider = "";
    private int _dimensions;

    public EmbedJob(int texts, ActivityContext trace, RequestUrgency urgency = default, DateTimeOffset? sentAt = null)
    {
        Trace = trace;
        Urgency = urgency;
        SentAt = sentAt ?? DateTimeOffset.UtcNow;
        _vectors = new float[texts][];
        _cached = new bool[texts];
        _remaining = texts;
    }

    /// <summary>The consuming span, so the batch span can link back to every request in it.</summary>
    public ActivityContext Trace { get; }

    /// <summary>The request's class and deadline, which the planner orders and expires by.</summary>
    public RequestUrgency Urgency { get; }

    /// <summary>When the request was sent (or received), for the age of the oldest waiting request.</summary>
    public DateTimeOffset SentAt { get; }

    public Task<EmbedJobResult> Completion => _completion.Task;

    public bool IsFinished => _completion.Task.IsCompleted;

    public void SetVector(int index, float[] vector, BatchRun run)
    {
        lock (_vectors)
        {
            if (IsFinished || _vectors[index] is not null)
            {
                return;
            }

            _vectors[index] = vector;
            _dimensions = vector.Length;
            _provider = run.Provider;
            if (_batches.Add(run.Id))
            {
                _inferenceMs += run.InferenceMs;
                _lastBatchStarted = Math.Max(_lastBatchStarted, run.StartedAt);
            }

            CompleteIfDone();
        }
    }

    /// <summary>A vector from the embedding cache; <paramref name="foundAt"/> stands in for a batch start in queuedMs.</summary>
    public void SetCached(int index, float[] vector, long foundAt)
    {
        lock (_vectors)
        {
            if (IsFinished || _vectors[index] is not null)
            {
                return;
            }

            _vectors[index] = vector;
            _cached[index] = true;
            _dimensions = vector.Length;
            _lastBatchStarted = Math.Max(_lastBatchStarted, foundAt);
            CompleteIfDone();
        }
    }

    private void CompleteIfDone()
    {
        if (--_remaining == 0)
        {
            _completion.TrySetResult(new EmbedJobResult(_vectors!, _dimensions, _inferenceMs, _lastBatchStarted, _provider, _batches.Count, _cached));
        }
    }

    public void Fail(Exception error) => _completion.TrySetException(error);

    public void Cancel(CancellationToken token) => _completion.TrySetCanceled(token);
}

/// <param name="LastBatchStarted">Stopwatch timestamp at which the last batch holding one of the texts started.</param>
/// <param name="Cached">Per text: whether its vector came from the embedding cache.</param>
internal sealed record EmbedJobResult(float[][] Vectors, int Dimensions, double InferenceMs, long LastBatchStarted, string Provider, int Batches, bool[] Cached);

/// <summary>One completed model call, as the jobs that had texts in it see it.</summary>
internal sealed record BatchRun(long Id, long StartedAt, double InferenceMs, string Provider);
