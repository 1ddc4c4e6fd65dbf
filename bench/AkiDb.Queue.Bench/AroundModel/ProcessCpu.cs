using System.Runtime.InteropServices;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// CPU seconds per process over a phase, read from /proc/PID/stat at its start and end. A child that exits during the
/// phase (the CLI) is gone from /proc by then, so its time comes from getrusage(RUSAGE_CHILDREN), which counts children
/// once they are reaped; nothing else of the benchmark's children exits during a phase.
/// </summary>
internal sealed class ProcessCpu
{
    private readonly IReadOnlyList<(string Name, int Pid)> _processes;
    private readonly Dictionary<int, double> _start = [];
    private readonly double _childrenStart;
    private readonly (long Total, long Steal, long Idle) _machineStart;

    private ProcessCpu(IReadOnlyList<(string Name, int Pid)> processes)
    {
        _processes = processes;
        foreach (var (_, pid) in processes)
        {
            _start[pid] = ProcStat.CpuSeconds(pid) ?? 0;
        }

        _childrenStart = ChildrenSeconds();
        _machineStart = ProcStat.MachineCpu();
    }

    public static ProcessCpu Start(IReadOnlyList<(string Name, int Pid)> processes) => new(processes);

    /// <summary>CPU seconds per name (processes of one name summed: the bridges), the exited children as <paramref name="childName"/>, and the machine's busy cores.</summary>
    public (Dictionary<string, double> Seconds, double BusyCores) Stop(string? childName)
    {
        var seconds = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, pid) in _processes)
        {
            seconds[name] = seconds.GetValueOrDefault(name) + Math.Max(0, (ProcStat.CpuSeconds(pid) ?? _start[pid]) - _start[pid]);
        }

        if (childName is not null)
        {
            seconds[childName] = ChildrenSeconds() - _childrenStart;
        }

        return (seconds, ProcStat.MachineUse(_machineStart, ProcStat.MachineCpu()).BusyCores);
    }

    private static double ChildrenSeconds()
    {
        if (getrusage(-1 /* RUSAGE_CHILDREN */, out var usage) != 0)
        {
            return 0;
        }

        return usage.UserSeconds + usage.UserMicros / 1e6 + usage.SystemSeconds + usage.SystemMicros / 1e6;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicros;
        public long SystemSeconds;
        public long SystemMicros;
        // The rest of struct rusage (14 longs), unread.
        public long R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out RUsage usage);
}
