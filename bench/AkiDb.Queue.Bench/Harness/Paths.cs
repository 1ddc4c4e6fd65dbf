namespace AkiDb.Queue.Bench.Harness;

/// <summary>Where things are in the repository the benchmark runs from.</summary>
public static class Paths
{
    public static string Root { get; } = FindRoot();

    public static string Artifacts => Path.Combine(Root, ".artifacts", "bench");

    /// <summary>The bundled model is extracted here once and shared by the in-process runs, the bridges and the workers.</summary>
    public static string ModelCache => Path.Combine(Artifacts, "models");

    public static string Corpus => Path.Combine(Root, "bench", "data", "corpus.txt");

    public static string Bridges => Path.Combine(Root, "bench", "bridges");

    /// <summary>A private broker keeps its data here between the scenarios of one run.</summary>
    public static string BrokerData => Path.Combine(Artifacts, "broker");

    public static string WorkerLogs => Path.Combine(Artifacts, "worker-logs");

    public static string PythonPackage => Path.Combine(Root, "python");

    /// <summary>The worker as deployed: published for this machine's runtime, precompiled (ReadyToRun), by bench.sh.</summary>
    public static string WorkerDll => Path.Combine(Root, ".artifacts", "bench", "worker", "AkiDb.Queue.Worker.dll");

    private static string FindRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "AkiDb.Queue.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("Cannot find the repository root (AkiDb.Queue.sln) above the current directory or " + AppContext.BaseDirectory);
    }
}
