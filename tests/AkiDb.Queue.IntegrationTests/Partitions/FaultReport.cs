using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Partitions;

/// <summary>
/// One row per fault scenario, appended to .artifacts/reliability/fault-rows.md; scripts/reliability-report.sh puts them
/// in the "Quiet faults" section of docs/reliability.md. Measurements, not assertions.
/// </summary>
public static class FaultReport
{
    private static readonly object Gate = new();

    public static void Record(string scenario, string injection, int requests, int answered, int duplicates, int lost, TimeSpan longestPause,
        TimeSpan resumed, TimeSpan? afterHeal, TimeSpan? held, TimeSpan total, string logLine, string reproduce)
    {
        var size = FaultScenario.Full ? "full" : "small";
        var row = $"| {scenario} | {injection} | {size} | {requests} | {answered} | {duplicates} | {lost} | {S(longestPause)} | " +
                  $"{(resumed == TimeSpan.Zero ? "no pause of 2 s" : S(resumed))} | {(afterHeal is { } h ? S(h) : "-")} | {(held is { } d ? S(d) : "-")} | {S(total)} | {logLine} | `{reproduce}` |";
        Console.WriteLine("reliability (faults): " + row);
        lock (Gate)
        {
            var folder = Directory.CreateDirectory(Path.Combine(RepoPaths.Artifacts, "reliability")).FullName;
            File.AppendAllLines(Path.Combine(folder, "fault-rows.md"), [row]);
        }
    }

    private static string S(TimeSpan t) => $"{t.TotalSeconds:F1} s";
}
