using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace AkiDb.Queue.Bench.Harness;

/// <summary>
/// The clock the cores really run at, measured: in a VM <c>/proc/cpuinfo</c>'s <c>cpu MHz</c> is the host's nominal
/// clock, and boost runs the cores well above it (3.3-3.45 GHz measured against 2.30 reported on the Intel VM), so a peak from
/// the reported clock made ONNX Runtime's GEMMs look faster than the hardware (130 % of peak on an AMD VM). No counter
/// tells a guest its clock (APERF/MPERF and perf events are hidden), so it is timed: a chain of dependent integer
/// <c>xor</c>/<c>add</c>, each waiting for the one before, runs one per cycle on every x86 core since the P6 whatever
/// the vector units do. One chain per core at once (all-core boost is lower than one core's), best of several rounds
/// (a round another process interrupts only reads lower).
/// </summary>
public static class CpuClock
{
    // Not readonly and not a constant: the JIT must not fold the chain into a multiply.
    private static ulong _salt = 0x9E3779B97F4A7C15;
    private static ulong _sink;

    /// <summary>Cycles per second, the best of <paramref name="rounds"/> rounds of all cores at once.</summary>
    public static double Measure(int cores, int rounds = 7, int iterations = 50_000_000)
    {
        Chain(1_000_000); // compiled before the clock starts
        var best = 0.0;
        for (var round = 0; round < rounds; round++)
        {
            var rates = new double[cores];
            Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, core => rates[core] = Chain(iterations));
            best = Math.Max(best, rates.Order().ElementAt(cores / 2)); // the median core: one preempted thread does not count
        }

        return best;
    }

    // Four dependent single-cycle operations per iteration; the loop counter runs beside them on other ports.
    // AggressiveOptimization: compiled fully at once, not first as unoptimised tier-0 code.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double Chain(int iterations)
    {
        ulong x = (ulong)iterations, y = _salt;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < iterations; i++)
        {
            x ^= y;
            x += y;
            x ^= y;
            x += y;
        }

        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        _sink = x;
        return iterations * 4.0 / seconds;
    }
}
