namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// One row per injected fault, appended to .artifacts/reliability/rows.md as the tests run;
/// scripts/reliability-report.sh turns the rows into docs/reliability.md.
/// </summary>
public static class ReliabilityReport
{
    private static readonly object Gate = new();

    public static void Record(string fault, string injection, Outcome outcome, string recovery, string reproduce)
    {
        var row = $"| {fault} | {injection} | {outcome.Published} | {outcome.Completed} | {outcome.Failed} | {outcome.Lost} | {outcome.Duplicates} | {recovery} | `{reproduce}` |";
        Console.WriteLine("reliability: " + row);
        lock (Gate)
        {
            var folder = Directory.CreateDirectory(Path.Combine(RepoPaths.Artifacts, "reliability")).FullName;
            File.AppendAllLines(Path.Combine(folder, "rows.md"), [row]);
        }
    }

    /// <summary>Counts results against what was published: every id answered once is the goal.</summary>
    public static Outcome Count(IEnumerable<string> published, IEnumerable<ResultCollector.Result> results)
    {
        var ids = published.ToHashSet();
        var mine = results.Where(r => r.RequestId is not null && ids.Contains(r.RequestId)).ToList();
        var answered = mine.Select(r => r.RequestId!).ToHashSet();
        var completed = mine.Where(r => r.IsCompleted).Select(r => r.RequestId).Distinct().Count();
        var failed = answered.Count - completed;
        return new Outcome(ids.Count, completed, failed, ids.Count - answered.Count, mine.Count - answered.Count);
    }

    public sealed record Outcome(int Published, int Completed, int Failed, int Lost, int Duplicates);
}
