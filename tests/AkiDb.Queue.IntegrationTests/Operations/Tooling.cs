using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// External tools the operations tests drive (compose, python3 with pika, bash, curl). A missing tool fails the test
/// with the command that installs it: these tests exist to check the tool's view of our files, and a pass without the
/// tool would claim a check that never ran. ./test.sh installs all of them.
/// </summary>
internal static class Tooling
{
    /// <summary>The interpreter with the distribution's python3-pika; the python3 first on PATH may be another build.</summary>
    public const string SystemPython = "/usr/bin/python3";

    public sealed record Run(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    /// <summary>The executable's full path when it is on PATH, else null.</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, name))
        .FirstOrDefault(File.Exists);

    public static string Require(string name, string install) =>
        Which(name) ?? throw new InvalidOperationException($"'{name}' is not on PATH; this test needs it. Install it: {install} (./test.sh does).");

    public static async Task<Run> RunAsync(
        string program,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null,
        string? workingDirectory = null,
        string? stdin = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        var result = await Cli.Wrap(program)
            .WithArguments(arguments)
            .WithWorkingDirectory(workingDirectory ?? RepoPaths.Root)
            .WithEnvironmentVariables(environment ?? new Dictionary<string, string?>())
            .WithValidation(CommandResultValidation.None)
            .WithStandardInputPipe(stdin is null ? PipeSource.Null : PipeSource.FromString(stdin, Encoding.UTF8))
            .ExecuteBufferedAsync(Encoding.UTF8, cts.Token);
        return new Run(result.ExitCode, result.StandardOutput, result.StandardError);
    }

    /// <summary>Fails with instructions unless /usr/bin/python3 can import pika.</summary>
    public static async Task RequirePythonWithPikaAsync()
    {
        if (!File.Exists(SystemPython))
        {
            throw new InvalidOperationException($"{SystemPython} is missing; the Python examples need it with pika: apt-get install -y python3 python3-pika (./test.sh does).");
        }

        var probe = await RunAsync(SystemPython, ["-c", "import pika"]);
        if (probe.ExitCode != 0)
        {
            throw new InvalidOperationException($"{SystemPython} cannot import pika; install it: apt-get install -y python3-pika (./test.sh does).\n{probe}");
        }
    }
}
