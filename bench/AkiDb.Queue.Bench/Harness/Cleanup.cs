using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.Harness;

/// <summary>
/// Ctrl+C or SIGTERM in the middle of a run: kill the workers this run started and stop its private broker, so no
/// process outlives the benchmark (bridges exit by themselves when their stdin closes with this process).
/// </summary>
internal static class Cleanup
{
    private static readonly ConcurrentDictionary<int, byte> Workers = new();
    private static readonly List<PosixSignalRegistration> Registrations =
    [
        PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
        PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
    ];

    public static BrokerFixture? Broker { get; set; }

    /// <summary>Registers the signal handlers (the static initialiser does it; this only makes sure it has run).</summary>
    public static void Install() => _ = Registrations.Count;

    public static void Track(int workerPid) => Workers[workerPid] = 0;

    /// <summary>A process the benchmark ended itself (a Redis it killed on purpose): nothing left to clean up.</summary>
    public static void Untrack(int pid) => Workers.TryRemove(pid, out _);

    private static void OnSignal(PosixSignalContext context)
    {
        Console.Error.WriteLine($"bench: {context.Signal}: stopping the workers and the broker this run started");
        foreach (var pid in Workers.Keys)
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // Already gone: workers are tracked from start to the end of the run, not untracked when they exit.
            }
        }

        Broker?.DisposeAsync().GetAwaiter().GetResult();
    }
}
