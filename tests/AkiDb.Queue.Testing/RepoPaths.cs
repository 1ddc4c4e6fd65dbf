namespace AkiDb.Queue.Testing;

/// <summary>Paths in the repository the tests and the benchmark run from.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The bridge with injectable faults (python/tools/fault_bridge.py).</summary>
    public static string FaultBridge => Path.Combine(Root, "python", "tools", "fault_bridge.py");

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>The worker as built by its own project, to run as a separate process.</summary>
    public static string WorkerDll => Path.Combine(Root, "src", "Worker", "bin", Configuration, "net10.0", "AkiDb.Queue.Worker.dll");

    /// <summary>The akidb-queue CLI as built by its own project.</summary>
    public static string CliDll => Path.Combine(Root, "src", "Cli", "bin", Configuration, "net10.0", "akidb-queue.dll");

    public static string Artifacts => Path.Combine(Root, ".artifacts");

    /// <summary>The model cache the tests and the benchmark share, so a model is extracted once per machine.</summary>
    public static string ModelCache => Path.Combine(Path.GetTempPath(), "akidb-queue-tests", "models");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AkiDb.Queue.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root (AkiDb.Queue.sln) above " + AppContext.BaseDirectory);
    }
}
