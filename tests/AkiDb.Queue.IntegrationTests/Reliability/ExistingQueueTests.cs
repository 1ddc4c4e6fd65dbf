using AkiDb.Queue.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Reliability;

/// <summary>
/// Queues that already exist with other arguments (an older version's, or an operator's): the worker says which
/// queue and which argument in one line, uses an error queue as it is, and answers every request exactly once.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ExistingQueueTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_plain_error_queue_is_used_as_it_is_and_every_request_is_answered_exactly_once()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("plain-error");
        // What an older version (or an operator) left: a durable queue with no arguments at all.
        var factory = new ConnectionFactory { Uri = new Uri(url) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("embed-requested_error", durable: true, exclusive: false, autoDelete: false);
        }

        await using var results = await ResultCollector.StartAsync(url, watchErrorQueue: false);
        await using var worker = await WorkerHost.StartAsync(url);
        for (var i = 0; i < 20; i++)
        {
            if (i % 7 == 3)
            {
                // Wrong field type: MassTransit moves it to embed-requested_error, the worker answers malformed_message.
                await results.PublishAsync($$"""{"requestId":"bad-{{i}}","texts":5}""");
            }

            await results.PublishAsync(ResultCollector.Request($"good-{i}", $"good request number {i}"));
        }

        Assert.True(await results.WaitForAsync(23, Patience), $"{results.Results.Count} of 23 answered");
        using var management = broker.Management();
        Assert.Equal(3, (await management.WaitForQueueAsync(vhost, "embed-requested_error", q => q.Messages == 3, Patience))?.Messages);
        Assert.Equal(0, (await management.WaitForQueueAsync(vhost, "embed-requested", q => q.Messages == 0, Patience))?.Messages);
        // A last request as a fence: anything answered twice before it would have arrived by its answer.
        await results.PublishAsync(ResultCollector.Request("fence", "the last one"));
        await results.WaitForAsync("fence", Patience);

        var ids = results.Results.Select(r => r.RequestId).ToList();
        output.WriteLine(string.Join(", ", ids));
        Assert.Equal(24, ids.Count);
        Assert.Equal(24, ids.Distinct().Count());
        Assert.Equal(3, results.Failed.Count(r => r.Code == "malformed_message"));
        var line = Assert.Single(worker.Logs.Entries, e => e.Message.Contains("embed-requested_error", StringComparison.Ordinal) && e.Message.Contains("x-max-length", StringComparison.Ordinal));
        output.WriteLine(line.Message);
        Assert.Contains("as it is", line.Message, StringComparison.Ordinal);
        Assert.Contains("README", line.Message, StringComparison.Ordinal);
        Assert.Equal("{}", (await management.GetQueueAsync(vhost, "embed-requested_error"))!.Arguments.Replace(" ", "", StringComparison.Ordinal));

        // A second worker finds the queues the first declared as it declares them: no line about them, only the error queue's.
        await using var second = await WorkerHost.StartAsync(url);
        var lines = second.Logs.Entries.Where(e => e.Category.EndsWith("QueueArgumentCheck", StringComparison.Ordinal)).Select(e => e.Message).ToList();
        Assert.Contains("embed-requested_error", Assert.Single(lines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_input_queue_with_other_arguments_is_not_consumed_and_ready_says_why()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("plain-input");
        var factory = new ConnectionFactory { Uri = new Uri(url) };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeclareAsync("embed-requested", durable: true, exclusive: false, autoDelete: false);
        }

        await using var worker = await WorkerHost.StartAsync(url);

        var line = Assert.Single(worker.Logs.Entries, e => e.Category.EndsWith("QueueArgumentCheck", StringComparison.Ordinal));
        output.WriteLine(line.Message);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains(worker.Logs.Entries, e => e.Message.StartsWith("AkiDb.Queue worker started", StringComparison.Ordinal) && e.Message.Contains("not ready", StringComparison.Ordinal));
        Assert.StartsWith("Queue embed-requested exists", line.Message, StringComparison.Ordinal);
        Assert.Matches("x-max-priority|x-dead-letter-exchange", line.Message);
        Assert.Contains("does not consume it", line.Message, StringComparison.Ordinal);
        Assert.Contains("README", line.Message, StringComparison.Ordinal);
        var ready = await worker.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains("ready"));
        Assert.Equal(HealthStatus.Unhealthy, ready.Status);
        Assert.Contains("queue embed-requested exists with other arguments", ready.Entries["queues"].Description, StringComparison.Ordinal);
        using var management = broker.Management();
        var queue = await management.GetQueueAsync(vhost, "embed-requested");
        Assert.Equal(0, queue!.Consumers);
        Assert.Equal("{}", queue.Arguments.Replace(" ", "", StringComparison.Ordinal));
        Assert.DoesNotContain(worker.Logs.Entries, e => e.Message.Contains("PRECONDITION_FAILED", StringComparison.Ordinal));
    }
}
