using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>`status` and `redrive` against the real broker (and, for status, a real worker draining its queue).</summary>
[Collection(BrokerCollection.Name)]
public sealed partial class QueueCommandTests(BrokerFixture broker, ITestOutputHelper output)
{
    [Fact]
    public async Task Status_shows_depth_consumers_texts_per_second_ETA_and_the_error_queue_of_a_draining_queue()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("status");
        await using var worker = await WorkerHost.StartAsync(url);
        var factory = new ConnectionFactory { Uri = new Uri(url) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.BasicPublishAsync("", "embed-requested", Encoding.UTF8.GetBytes("this is not JSON"));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (await ErrorDepthAsync(connection) != 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        const int requests = 3000;
        var sends = new List<Task>();
        for (var i = 0; i < requests; i++)
        {
            sends.Add(channel.BasicPublishAsync("", "embed-requested", Encoding.UTF8.GetBytes(ResultCollector.Request($"s{i}", $"Status sample text number {i}.", "And a second one."))).AsTask());
        }

        await Task.WhenAll(sends);

        var status = await CliRunner.RunAsync(output, "status", "--url", url, "--management-url", broker.ManagementUrl, "--until-results", "20", "--seconds", "120");

        Assert.Equal(0, status.ExitCode);
        var text = status.StandardOutput;
        var input = QueueRow().Matches(text).Single(m => m.Groups["name"].Value == "embed-requested");
        Assert.InRange(int.Parse(input.Groups["ready"].Value, CultureInfo.InvariantCulture), 0, requests);
        Assert.Equal("1", input.Groups["consumers"].Value);
        var error = QueueRow().Matches(text).Single(m => m.Groups["name"].Value == "embed-requested_error");
        Assert.Equal("1", error.Groups["ready"].Value);
        var answered = Answered().Match(text);
        Assert.True(answered.Success, "no rate line");
        var texts = int.Parse(answered.Groups["texts"].Value, CultureInfo.InvariantCulture);
        var seen = int.Parse(answered.Groups["requests"].Value, CultureInfo.InvariantCulture);
        Assert.True(seen >= 20, $"{seen} results counted");
        Assert.Equal(2 * seen, texts); // two texts per request: texts are counted, not messages
        Assert.True(double.Parse(answered.Groups["rate"].Value, CultureInfo.InvariantCulture) > 0);
        Assert.Matches("ETA [0-9]+ (s|min)|the queue is empty", text);
    }

    [Fact]
    public async Task Redrive_moves_exactly_what_it_reports_and_a_dry_run_moves_nothing()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("redrive");
        var factory = new ConnectionFactory { Uri = new Uri(url) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclareAsync("embed-requested", durable: true, exclusive: false, autoDelete: false);
        await channel.QueueDeclareAsync("embed-requested_error", durable: true, exclusive: false, autoDelete: false);
        for (var i = 0; i < 5; i++)
        {
            var properties = new BasicProperties
            {
                MessageId = $"m{i}",
                Headers = new Dictionary<string, object?> { ["MT-Fault-Message"] = Encoding.UTF8.GetBytes($"fault {i}\u001b[31m"), ["kept"] = "yes" },
            };
            await channel.BasicPublishAsync("", "embed-requested_error", mandatory: true, properties, Encoding.UTF8.GetBytes(ResultCollector.Request($"r{i}", "text")));
        }

        var dry = await CliRunner.RunAsync(output, "redrive", "--url", url, "--dry-run");
        Assert.Equal(0, dry.ExitCode);
        Assert.Contains("5 messages would move", dry.StandardOutput, StringComparison.Ordinal);
        Assert.Equal((5u, 0u), await DepthsAsync(channel));
        Assert.DoesNotContain("\u001b[31m", dry.StandardOutput, StringComparison.Ordinal); // header values are escaped

        var moved = await CliRunner.RunAsync(output, "redrive", "--url", url, "--count", "3");
        Assert.Equal(0, moved.ExitCode);
        Assert.Contains("Moved 3 messages", moved.StandardOutput, StringComparison.Ordinal);
        Assert.Equal((2u, 3u), await DepthsAsync(channel));
        for (var i = 0; i < 3; i++)
        {
            var message = await channel.BasicGetAsync("embed-requested", autoAck: true);
            Assert.NotNull(message);
            Assert.Equal($"m{i}", message.BasicProperties.MessageId);
            Assert.Contains($"r{i}", moved.StandardOutput, StringComparison.Ordinal);
            Assert.Equal(ResultCollector.Request($"r{i}", "text"), Encoding.UTF8.GetString(message.Body.Span));
            Assert.False(message.BasicProperties.Headers!.ContainsKey("MT-Fault-Message"));
            Assert.True(message.BasicProperties.Headers.ContainsKey("kept"));
        }

        var rest = await CliRunner.RunAsync(output, "redrive", "--url", url);
        Assert.Contains("Moved 2 messages", rest.StandardOutput, StringComparison.Ordinal);
        Assert.Equal((0u, 2u), await DepthsAsync(channel));
    }

    private static async Task<uint?> ErrorDepthAsync(IConnection connection)
    {
        await using var probe = await connection.CreateChannelAsync();
        try
        {
            return (await probe.QueueDeclarePassiveAsync("embed-requested_error")).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return null; // not declared yet
        }
    }

    private static async Task<(uint Error, uint Input)> DepthsAsync(IChannel channel) =>
        ((await channel.QueueDeclarePassiveAsync("embed-requested_error")).MessageCount, (await channel.QueueDeclarePassiveAsync("embed-requested")).MessageCount);

    // A table row: │ name │ ready │ unacked │ consumers │
    [GeneratedRegex(@"│\s*(?<name>[\w-]+)\s*│\s*(?<ready>\d+)\s*│\s*(?<unacked>[\d?]+)\s*│\s*(?<consumers>\d+)\s*│")]
    private static partial Regex QueueRow();

    [GeneratedRegex(@"nswered (?<texts>\d+) texts \((?<requests>\d+) requests\) in [\d.]+ s: (?<rate>[\d.]+) texts/s")]
    private static partial Regex Answered();
}
