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

    /// <summary>
    /// Starts the CLI for a test that waits for a line of its output, then signals it. With
    /// <paramref name="sigintIgnored"/> it starts as a script's background job (<c>cmd &amp;</c>), some CI runners and
    /// test hosts start it: with SIGINT inherited as ignored (<c>trap '' INT</c>, kept across <c>exec</c>, so the process
    /// id is still the CLI's).
    /// </summary>
    public static CommandTask<CommandResult> Start(CliOutput log, bool sigintIgnored, params string[] arguments) =>
        (sigintIgnored
            ? Cli.Wrap("sh").WithArguments(["-c", "trap '' INT; exec dotnet \"$@\"", "sh", RepoPaths.CliDll, .. arguments])
                .WithEnvironmentVariables(new Dictionary<string, string?> { ["COLUMNS"] = "200" })
                .WithValidation(CommandResultValidation.None)
            : Command(arguments))
        .WithStandardOutputPipe(PipeTarget.ToDelegate(log.Append))
        .WithStandardErrorPipe(PipeTarget.ToDelegate(log.Append))
        .ExecuteAsync(new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token);

    /// <summary>The commands the CLI itself lists in <c>--help</c>: what its configuration registers, so a new command is included.</summary>
    public static async Task<IReadOnlyList<string>> CommandsAsync(ITestOutputHelper output)
    {
        var help = await RunAsync(output, "--help");
        Assert.Equal(0, help.ExitCode);
        var section = help.StandardOutput[(help.StandardOutput.IndexOf("COMMANDS:", StringComparison.Ordinal) + "COMMANDS:".Length)..];
        var commands = section.Split('\n').Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^ {4}([a-z][a-z0-9-]*)\b")).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(commands);
        return commands;
    }

    private static Command Command(string[] arguments) =>
        Cli.Wrap("dotnet").WithArguments([RepoPaths.CliDll, .. arguments])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["COLUMNS"] = "200" })
            .WithValidation(CommandResultValidation.None);
}
