using System.Globalization;

namespace AkiDb.Queue.Bench.Harness;

/// <summary>What Linux's /proc says about a process and the machine: resident memory, CPU time, steal.</summary>
public static class ProcStat
{
    // USER_HZ: the unit of utime/stime in /proc/PID/stat. 100 on every Linux the .NET runtime supports.
    private const double TicksPerSecond = 100.0;

    /// <summary>VmRSS of a process in MiB, or null when it is gone.</summary>
    public static double? RssMiB(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kib = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return kib / 1024.0;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>User + system CPU seconds a process has used so far (its threads included), or null when it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the command name and state.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The whole machine's CPU counters (jiffies): total and stolen by the hypervisor.</summary>
    public static (long Total, long Steal, long Idle) MachineCpu()
    {
        var first = File.ReadLines("/proc/stat").First();
        var parts = first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(p => long.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var steal = parts.Length > 7 ? parts[7] : 0;
        var idle = parts[3] + (parts.Length > 4 ? parts[4] : 0);
        return (parts.Take(8).Sum(), steal, idle);
    }

    /// <summary>Between two <see cref="MachineCpu"/> samples: cores busy (neither idle nor stolen) and the percentage stolen.</summary>
    public static (double BusyCores, double StealPercent) MachineUse((long Total, long Steal, long Idle) a, (long Total, long Steal, long Idle) b)
    {
        var total = Math.Max(1, b.Total - a.Total);
        var steal = b.Steal - a.Steal;
        return ((double)(total - (b.Idle - a.Idle) - steal) / total * Environment.ProcessorCount, 100.0 * steal / total);
    }

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }

    public static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
