using System.Globalization;
using AkiDb.Queue.Testing;

namespace AkiDb.Queue.Bench.AroundModel;

/// <summary>
/// RSS and PSS of a worker and its bridge processes, in MiB, from /proc/PID/smaps_rollup. PSS counts a page shared by
/// n processes as 1/n in each, so the sum over the processes counts the shared model pages and libraries once.
/// </summary>
internal sealed record MemorySample(double Rss, double Pss, IReadOnlyList<string>? Parts = null)
{
    public static MemorySample Of(WorkerProcess worker)
    {
        var pids = new List<(string Name, int Pid)> { ("worker", worker.Pid) };
        pids.AddRange(worker.BridgePids.Select(b => ($"bridge {b.Key}", b.Value)));
        double rss = 0, pss = 0;
        var parts = new List<string>();
        foreach (var (name, pid) in pids)
        {
            var (r, p) = Read(pid);
            rss += r;
            pss += p;
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {r:F0}/{p:F0}"));
        }

        return new MemorySample(rss, pss, parts);
    }

    private static (double Rss, double Pss) Read(int pid)
    {
        double rss = 0, pss = 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length >= 2 && fields[0] is "Rss:" or "Pss:")
                {
                    var mib = long.Parse(fields[1], CultureInfo.InvariantCulture) / 1024.0;
                    if (fields[0] == "Rss:")
                    {
                        rss = mib;
                    }
                    else
                    {
                        pss = mib;
                    }
                }
            }
        }
        catch (IOException)
        {
        }

        return (rss, pss);
    }
}
