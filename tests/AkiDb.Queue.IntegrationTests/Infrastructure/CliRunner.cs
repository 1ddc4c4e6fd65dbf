using System.Text;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>Runs the akidb-queue CLI as a user does: the built dll, as its own process.</summary>
public static class CliRunner
{
    public static async Task<BufferedCommandResult> RunAsync(ITestOutputHelper output, params string[] arguments)
    {
        var result = await Command(arguments).ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token);
        output.WriteLine($"akidb-queue {string.Join(' ', arguments)} -> {result.ExitCode}\n{result.StandardOutput}{result.StandardError}");
        return result;
    }

    /// <summary>Starts the CLI without waiting, for a test that signals it; its output collects in <paramref name="log"/>.</summary>
    public static CommandTask<CommandResult> Start(StringBuilder log, params string[] arguments) => Start(log, TimeSpan.FromMinutes(5), arguments);

    /// <summary>As <see cref="Start(StringBuilder, string[])"/>, killed after <paramref name="timeout"/> rather than 5 minutes.</summary>
    public static CommandTask<CommandResult> Start(StringBuilder log, TimeSpan timeout, params string[] arguments) =>
        Command(arguments)
            .WithStandardOutputPipe(PipeTarget.ToStringBuilder(log))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(log))
            .ExecuteAsync(new CancellationTokenSource(timeout).Token);

    private static Command Command(string[] arguments) =>
        Cli.Wrap("dotnet").WithArguments([RepoPaths.CliDll, .. arguments])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["COLUMNS"] = "200" })
            .WithValidation(CommandResultValidation.None);
}
