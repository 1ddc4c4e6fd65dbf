using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Cli.Operations;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>
/// The worker's queues now, and how fast they drain: depth and consumers exactly (AMQP), unacknowledged messages
/// from the management API, and texts/s and ETA from the results this command counts during a few seconds.
/// </summary>
internal sealed class StatusCommand : AsyncCommand<StatusCommand.Settings>
{
    public sealed class Settings : BrokerSettings
    {
        [CommandOption("--seconds <S>")]
        [Description("How long to count results for the rates and ETA. Default: 5")]
        [DefaultValue(5.0)]
        public double Seconds { get; init; } = 5;

        [CommandOption("--until-results <N>")]
        [Description("Stop counting early once this many results were seen")]
        public int? UntilResults { get; init; }

        public override ValidationResult Validate() =>
            Seconds is <= 0 or > 3600 ? ValidationResult.Error($"--seconds {Seconds} must be above 0 and at most 3600.")
            : UntilResults is < 1 ? ValidationResult.Error($"--until-results {UntilResults} must be at least 1.")
            : base.Validate();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var connection = await settings.ConnectAsync("akidb-queue-status", cancellationToken);
        await using var closing = connection.ClosesQuickly();
        var errorQueue = settings.Queue + "_error";
        if (await QueueProbe.ProbeAsync(connection, settings.Queue, cancellationToken) is not { } start)
        {
            AnsiConsole.MarkupLine($"[red]Queue {Markup.Escape(settings.Queue)} does not exist[/]: no worker has started on this broker yet.");
            return 1;
        }

        var estimate = await SampleAsync(connection, settings, start.Ready, cancellationToken);
        var table = new Table().AddColumns("queue", "ready", "unacked", "consumers");
        using var api = new ManagementApi(settings.EffectiveManagementUrl, settings.EffectiveUrl);
        foreach (var queue in new[] { settings.Queue, errorQueue, "embed-results-unrouted" })
        {
            if (await QueueProbe.ProbeAsync(connection, queue, cancellationToken) is { } now)
            {
                table.AddRow(queue, now.Ready.ToString(), await UnackedAsync(api, settings.VirtualHost, queue, cancellationToken), now.Consumers.ToString());
            }
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(char.ToUpperInvariant(estimate.Describe()[0]) + estimate.Describe()[1..]));
        AnsiConsole.MarkupLine($"Management UI: [link]{Markup.Escape(settings.EffectiveManagementUrl)}[/]");
        return 0;
    }

    /// <summary>Counts the results (and their texts) published while it listens, on a private queue bound to both result exchanges.</summary>
    private static async Task<DrainEstimate> SampleAsync(IConnection connection, Settings settings, long readyAtStart, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken)).QueueName;
        foreach (var exchange in new[] { "embed-completed", "embed-failed" })
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(queue, exchange, "", cancellationToken: cancellationToken);
        }

        int requests = 0, texts = 0;
        using var enough = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var count = TextsIn(delivery.Body.Span);
            if (Interlocked.Increment(ref requests) >= settings.UntilResults)
            {
                enough.Cancel();
            }

            Interlocked.Add(ref texts, count);
            return Task.CompletedTask;
        };
        var clock = Stopwatch.StartNew();
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer, cancellationToken);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(settings.Seconds), enough.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // --until-results reached: enough samples. Ctrl+C instead goes on up and ends the command (Interrupted, 130).
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var end = await QueueProbe.ProbeAsync(connection, settings.Queue, cancellationToken);
        return new DrainEstimate(seconds, Volatile.Read(ref requests), Volatile.Read(ref texts), readyAtStart, end?.Ready ?? 0);
    }

    // A completed result has one token count per text; a failure stands for one request whatever its size.
    private static int TextsIn(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var json = JsonDocument.ParseValue(ref reader);
            return json.RootElement.TryGetProperty("tokenCounts", out var counts) && counts.ValueKind == JsonValueKind.Array ? counts.GetArrayLength() : 1;
        }
        catch (JsonException)
        {
            return 1;
        }
    }

    private static async Task<string> UnackedAsync(ManagementApi api, string vhost, string queue, CancellationToken cancellationToken)
    {
        try
        {
            return await api.GetQueueAsync(vhost, queue, cancellationToken) is { } q && q.TryGetProperty("messages_unacknowledged", out var v) ? v.ToString() : "?";
        }
        catch (Exception e) when ((e is HttpRequestException or TaskCanceledException) && !cancellationToken.IsCancellationRequested)
        {
            return "?"; // the management plugin is optional for this command
        }
    }
}
