using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Cluster;

/// <summary>
/// One row per node-loss test, appended to .artifacts/reliability/cluster-rows.md; scripts/reliability-report.sh puts
/// them in the "A three-node cluster" section of docs/reliability.md. Beside the counts of
/// <see cref="ReliabilityReport"/>: how long the worker had no broker connection and how long results stopped.
/// </summary>
public static class ClusterReport
{
    private static readonly object Gate = new();

    public static void Record(string fault, string injection, ReliabilityReport.Outcome outcome, string withoutConnection, string pause, string reproduce)
    {
        var row = $"| {fault} | {injection} | {outcome.Published} | {outcome.Completed} | {outcome.Failed} | {outcome.Lost} | {outcome.Duplicates} | {withoutConnection} | {pause} | `{reproduce}` |";
        Console.WriteLine("reliability (cluster): " + row);
        lock (Gate)
        {
            var folder = Directory.CreateDirectory(Path.Combine(RepoPaths.Artifacts, "reliability")).FullName;
            File.AppendAllLines(Path.Combine(folder, "cluster-rows.md"), [row]);
        }
    }
}
