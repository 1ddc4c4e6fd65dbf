namespace AkiDb.Queue.Worker.Inference;

/// <summary>
/// How many batches run at once and with how many ONNX Runtime threads each, when configuration leaves it to the
/// worker; the bridge pool and the native lanes follow the same rule. One single-threaded lane per core, at most 4,
/// measured on the 2-core reference machine (docs/benchmarks.md): two single-threaded lanes answered 1.29-1.37x the
/// short messages and 1.03-1.09x the long ones of one lane with two threads.
/// </summary>
public static class LanePool
{
    /// <summary>The configured number of lanes, or one per core (at most 4) for 0.</summary>
    public static int Size(int configured) => configured > 0 ? configured : Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>The configured threads per lane, or the cores divided among the lanes (at least 1) for 0.</summary>
    public static int ThreadsPerLane(int configured, int lanes) => configured > 0 ? configured : Math.Max(1, Environment.ProcessorCount / lanes);

    /// <summary>
    /// Threads of a lane's wide session (a lone batch on every core): the configured number, or every core for 0; 0
    /// (no wide session) where that is no more than the lane's own threads.
    /// </summary>
    public static int WideThreads(int configured, int threadsPerLane)
    {
        var wide = configured > 0 ? configured : Environment.ProcessorCount;
        return wide > threadsPerLane ? wide : 0;
    }
}
