using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// The CLI against a broker that blocks its publishers (a memory alarm) or cannot be reached: Ctrl+C still ends every
/// command that waits on it, nothing is lost, and an unreachable broker is one line and a non-zero exit.
/// </summary>
public sealed class CliBrokerTroubleTests(ITestOutputHelper output) : IDisposable
{
    private const int Sigint = 2;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-cli-trouble-");

    [Fact]
    public async Task Ctrl_C_while_a_blocked_broker_holds_back_publish_redrive_and_embed_exits_130_and_loses_nothing()
    {
        // A broker of this test's own: its memory alarm would block every other test's connections.
        await using var broker = await PrivateRabbitMq.StartNewAsync("cli-alarm");
        var url = broker.AmqpUrl;
        await CliInterruptTests.DeclareQueuesAsync(url, "embed-requested", "embed-requested_error");
        await using (var connection = await new ConnectionFactory { Uri = new Uri(url) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.BasicPublishAsync("", "embed-requested_error", """{"requestId":"parked","texts":["x"]}"""u8.ToArray());
        }

        var input = Path.Combine(_work.FullName, "in.jsonl");
        await File.WriteAllLinesAsync(input, Enumerable.Range(0, 20).Select(i => JsonSerializer.Serialize(new { id = $"t{i}", text = $"Text number {i}." })));
        (string Name, string Connection, string[] Arguments)[] commands =
        [
            ("publish", "akidb-queue-cli", ["publish", input]),
            ("redrive", "akidb-queue-redrive", ["redrive"]),
            ("embed", "akidb-queue-embed", ["embed", input, "--out", Path.Combine(_work.FullName, "out.jsonl")]),
        ];

        await broker.RabbitMqCtlAsync("set_vm_memory_high_watermark", "absolute", "1");
        try
        {
            foreach (var (name, connectionName, arguments) in commands)
            {
                var log = new CliOutput();
                var run = CliRunner.Start(log, false, [.. arguments, "--url", url]);
                // Held back: the broker blocked the connection when it published, and stops reading from it.
                Assert.True(await CliInterruptTests.UntilAsync(() => IsBlockedAsync(broker.ManagementUrl, connectionName)), $"{name} was never blocked:\n{log}");
                Signals.Send(run.ProcessId, Sigint);
                var result = await run;
                output.WriteLine($"{name} -> {result.ExitCode}\n{log}");

                Assert.Equal(130, result.ExitCode);
                Assert.Contains("Interrupted", log.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            await broker.RabbitMqCtlAsync("set_vm_memory_high_watermark", "0.4");
        }

        // The message redrive could not move is still in the error queue.
        Assert.Equal(1u, await CliInterruptTests.ReadyAsync(url, "embed-requested_error"));
    }

    [Fact]
    public async Task A_broker_that_cannot_be_reached_is_one_line_and_a_non_zero_exit_for_every_command()
    {
        var closed = $"amqp://guest:guest@127.0.0.1:{FreePorts.Take(1)[0]}/";
        var input = Path.Combine(_work.FullName, "one.txt");
        await File.WriteAllTextAsync(input, "One short text.");
        var arguments = new Dictionary<string, string[]>
        {
            ["embed"] = ["embed", input, "--out", Path.Combine(_work.FullName, "none.jsonl")],
            ["publish"] = ["publish", input],
            ["results"] = ["results", "--out", Path.Combine(_work.FullName, "none-results.jsonl")],
            ["status"] = ["status"],
            ["redrive"] = ["redrive"],
            ["demo"] = ["demo"],
        };
        string[] offline = ["quantize"];

        foreach (var command in await CliRunner.CommandsAsync(output))
        {
            if (offline.Contains(command))
            {
                continue;
            }

            Assert.True(arguments.TryGetValue(command, out var args), $"'{command}' is new: add its arguments here (or to the offline list if it never talks to the broker)");
            var run = await CliRunner.RunAsync(output, [.. args, "--url", closed]);
            var text = run.StandardOutput + run.StandardError;

            Assert.NotEqual(0, run.ExitCode);
            Assert.Single(text.Split('\n'), l => l.Contains("is not reachable", StringComparison.Ordinal));
            Assert.Contains("Connection refused", text, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal); // no stack trace
        }
    }

    public void Dispose() => _work.Delete(recursive: true);

    private static async Task<bool> IsBlockedAsync(string managementUrl, string connectionName)
    {
        using var http = CliInterruptTests.ManagementHttp(managementUrl);
        using var response = await http.GetAsync("api/connections");
        if (!response.IsSuccessStatusCode)
        {
            return false;
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.EnumerateArray().Any(c =>
            c.TryGetProperty("state", out var state) && state.GetString() == "blocked"
            && c.TryGetProperty("client_properties", out var properties) && properties.TryGetProperty("connection_name", out var name)
            && name.GetString() == connectionName);
    }
}
