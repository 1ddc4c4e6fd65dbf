using System.Diagnostics;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Models;
using AkiDb.Queue.Worker.Native;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>How a pass of the in-process limit uses the cores.</summary>
public enum LimitShape
{
    /// <summary>One batch at a time, ONNX Runtime's intra-op threads across all cores (each operator split between them).</summary>
    Threads,

    /// <summary>One single-threaded run per core at once on the same session (as the worker's bridges, one per core, run).</summary>
    Lanes,
}

/// <summary>
/// One model's in-process limit: the best the machine does with it, so each pass runs both shapes of using the cores
/// (<see cref="LimitShape"/>) and keeps the faster. Which one wins depends on the model: a graph of many small operators
/// (the int8 file's per-row quantisation) pays a thread hand-off per operator with intra-op threads, which lanes avoid.
/// </summary>
internal sealed class LimitSessions : IDisposable
{
    private readonly NativeModelSession _lanes;

    public LimitSessions(ModelDefinition model, int cores, bool spinning)
    {
        Cores = cores;
        Threads = new NativeModelSession(model, cores, [ExecutionProvider.CPU], spinning);
        _lanes = new NativeModelSession(model, 1, [ExecutionProvider.CPU], spinning);
    }

    public int Cores { get; }

    /// <summary>The session with intra-op threads on every core (also what the batch-invariance check runs).</summary>
    public NativeModelSession Threads { get; }

    /// <summary>Both shapes, one after the other; the faster one's wall and CPU seconds, and the other's wall seconds.</summary>
    public LimitPass Best(IReadOnlyList<InferenceBatch> batches)
    {
        var threads = Pass(batches, LimitShape.Threads);
        var lanes = Pass(batches, LimitShape.Lanes);
        return threads.Wall <= lanes.Wall ? threads with { OtherWall = lanes.Wall } : lanes with { OtherWall = threads.Wall };
    }

    public LimitPass Pass(IReadOnlyList<InferenceBatch> batches, LimitShape shape)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        if (shape == LimitShape.Threads)
        {
            foreach (var batch in batches)
            {
                Threads.Run(batch);
            }
        }
        else
        {
            // Each lane takes the next batch when it finishes one: the length-sorted batches stay balanced between the cores.
            var next = -1;
            var lanes = Enumerable.Range(0, Cores).Select(_ => new Thread(() =>
            {
                for (var i = Interlocked.Increment(ref next); i < batches.Count; i = Interlocked.Increment(ref next))
                {
                    _lanes.Run(batches[i]);
                }
            })).ToList();
            lanes.ForEach(t => t.Start());
            lanes.ForEach(t => t.Join());
        }

        return new LimitPass(clock.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds, shape, double.NaN);
    }

    public void Dispose()
    {
        Threads.Dispose();
        _lanes.Dispose();
    }
}

/// <summary>One pass: wall and this process's CPU seconds, the shape that ran it, and (from <see cref="LimitSessions.Best"/>) the other shape's wall seconds.</summary>
public sealed record LimitPass(double Wall, double Cpu, LimitShape Shape, double OtherWall);
