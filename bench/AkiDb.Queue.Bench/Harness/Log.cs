using System.Diagnostics;

namespace AkiDb.Queue.Bench.Harness;

/// <summary>Progress and every figure, on stdout as it is measured.</summary>
public static class Log
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static void Section(string title) => Console.WriteLine($"\n[{Clock.Elapsed:mm\\:ss}] == {title} ==");

    public static void Info(string text) => Console.WriteLine($"[{Clock.Elapsed:mm\\:ss}] {text}");

    public static TimeSpan Elapsed => Clock.Elapsed;
}
