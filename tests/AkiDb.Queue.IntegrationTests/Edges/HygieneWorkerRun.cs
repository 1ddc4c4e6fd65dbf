using CliWrap;
using CliWrap.Buffered;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// The worker process run to its end, for what only its own output shows: how it fails at start. Everything it
/// writes, stdout and stderr, is kept.
/// </summary>
internal sealed record HygieneWorkerRun(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => StandardOutput + StandardError;

    public IReadOnlyList<string> Lines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToList();

    public static async Task<HygieneWorkerRun> RunAsync(IDictionary<string, string?> settings)
    {
        var environment = new Dictionary<string, string?>
        {
            ["Embedding__CacheDirectory"] = WorkerHost.ModelCache,
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Health__Urls"] = "",
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        // A worker that does not stop by itself within this has not failed at start, which is the test's failure.
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var result = await Cli.Wrap("dotnet")
            .WithArguments([RepoPaths.WorkerDll])
            .WithWorkingDirectory(RepoPaths.Root)
            .WithEnvironmentVariables(environment)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(patience.Token);
        return new HygieneWorkerRun(result.ExitCode, result.StandardOutput, result.StandardError);
    }
}
