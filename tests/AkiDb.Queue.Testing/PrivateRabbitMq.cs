using System.Diagnostics;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// A private rabbitmq-server process started by scripts/rabbitmq-private.sh, on free ports, with its own data
/// directory. Stop and Start again on the same directory keep durable queues and persistent messages.
/// </summary>
public sealed class PrivateRabbitMq : IAsyncDisposable
{
    private PrivateRabbitMq(string directory) => Directory = directory;

    public string Directory { get; }

    public string AmqpUrl { get; private set; } = "";

    public string ManagementUrl { get; private set; } = "";

    public static bool IsInstalled => File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server");

    private static string Script => Path.Combine(AppContext.BaseDirectory, "scripts", "rabbitmq-private.sh");

    public static async Task<PrivateRabbitMq> StartNewAsync(string name)
    {
        var broker = new PrivateRabbitMq(Path.Combine(Path.GetTempPath(), $"akidb-test-broker-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..60]));
        await broker.StartAsync(["--amqp-port", "auto", "--mgmt-port", "auto"]);
        return broker;
    }

    /// <summary>Starts the broker (again) on the same data directory and ports.</summary>
    public Task StartAsync() => StartAsync([]);

    public async Task StopAsync()
    {
        var result = await Cli.Wrap("bash").WithArguments([Script, "stop", Directory]).WithValidation(CommandResultValidation.None).ExecuteBufferedAsync();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"Stopping the private broker failed: {result.StandardError}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task StartAsync(string[] options)
    {
        var started = Stopwatch.StartNew();
        var result = await Cli.Wrap("bash")
            .WithArguments([Script, "start", Directory, .. options, "--timeout", "120"])
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"The private broker did not start (exit {result.ExitCode}): {result.StandardError}");
        }

        foreach (var line in result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("AMQP_URL=", StringComparison.Ordinal))
            {
                AmqpUrl = line["AMQP_URL=".Length..];
            }
            else if (line.StartsWith("MANAGEMENT_URL=", StringComparison.Ordinal))
            {
                ManagementUrl = line["MANAGEMENT_URL=".Length..];
            }
        }

        Console.WriteLine($"Private RabbitMQ at {AmqpUrl} ready in {started.Elapsed.TotalSeconds:F1} s");
    }
}
