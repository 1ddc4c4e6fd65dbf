using System.ComponentModel;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Cli.Operations;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>
/// Moves messages from the error queue back to the worker's input queue, one at a time: each is published with a
/// confirm (mandatory, so a missing input queue fails instead of dropping it) and only then removed from the
/// error queue. A crash in between leaves a copy in both, never in neither.
/// </summary>
internal sealed class RedriveCommand : AsyncCommand<RedriveCommand.Settings>
{
    public sealed class Settings : BrokerSettings
    {
        [CommandOption("--count <N>")]
        [Description("Move at most this many. Default: all")]
        public int? Count { get; init; }

        [CommandOption("--dry-run")]
        [Description("List what would move and leave every message where it is")]
        public bool DryRun { get; init; }

        [CommandOption("--from <QUEUE>")]
        [Description("Queue to take messages from. Default: the input queue's error queue (<queue>_error)")]
        public string? From { get; init; }

        public override ValidationResult Validate() =>
            Count is < 1 ? ValidationResult.Error($"--count {Count} must be at least 1.") : base.Validate();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var source = settings.From ?? settings.Queue + "_error";
        var connection = await settings.ConnectAsync("akidb-queue-redrive", cancellationToken);
        await using var closing = connection.ClosesQuickly();
        foreach (var queue in new[] { source, settings.Queue })
        {
            if (await QueueProbe.ProbeAsync(connection, queue, cancellationToken) is null)
            {
                AnsiConsole.MarkupLine($"[red]Queue {Markup.Escape(queue)} does not exist[/] on this broker.");
                return 1;
            }
        }

        // Not disposed on its own: it closes with the connection (QuickClose), which a blocked broker cannot delay.
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        var table = new Table().AddColumns("#", "message id", "request id", "fault");
        var moved = 0;
        // Ctrl+C stops between messages. A move under way gets a second to finish, so a message is not left in
        // both queues just because the key was pressed while its confirm was on the way; a broker that does not confirm
        // within them (blocked by an alarm) leaves it in the error queue, unacknowledged, and so still there.
        using var finishing = new CancellationTokenSource();
        await using var graceOnInterrupt = cancellationToken.Register(() => finishing.CancelAfter(MoveGrace));
        while ((settings.Count is null || moved < settings.Count) && !cancellationToken.IsCancellationRequested)
        {
            // A dry run holds what it read unacknowledged, so it never reads one twice; closing the channel puts them all back.
            var message = await channel.BasicGetAsync(source, autoAck: false, cancellationToken);
            if (message is null)
            {
                break;
            }

            if (!settings.DryRun)
            {
                try
                {
                    await channel.BasicPublishAsync("", settings.Queue, mandatory: true, Resend(message.BasicProperties), message.Body, finishing.Token);
                }
                catch (PublishException e)
                {
                    await channel.BasicNackAsync(message.DeliveryTag, false, requeue: true, CancellationToken.None);
                    AnsiConsole.MarkupLine($"[red]The broker did not take message {moved + 1} ({Markup.Escape(e.Message)}); it stays in {Markup.Escape(source)}.[/]");
                    break;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    AnsiConsole.MarkupLine($"[yellow]Interrupted[/] while the broker had not confirmed message {moved + 1}: it stays in {Markup.Escape(source)} (and may also be in {Markup.Escape(settings.Queue)}).");
                    break;
                }

                await channel.BasicAckAsync(message.DeliveryTag, false, CancellationToken.None);
            }

            moved++;
            table.AddRow(moved.ToString(), Markup.Escape(SafeText.Of(message.BasicProperties.MessageId)), Markup.Escape(SafeText.Of(RequestId(message.Body))),
                Markup.Escape(SafeText.Of(Header(message.BasicProperties, "MT-Fault-Message"))));
        }

        if (moved > 0)
        {
            AnsiConsole.Write(table);
        }

        AnsiConsole.MarkupLine(settings.DryRun
            ? $"Dry run: {moved} messages would move from {Markup.Escape(source)} to {Markup.Escape(settings.Queue)}; nothing moved."
            : $"Moved {moved} messages from {Markup.Escape(source)} to {Markup.Escape(settings.Queue)}, each confirmed by the broker.");
        if (cancellationToken.IsCancellationRequested)
        {
            AnsiConsole.MarkupLine("[yellow]Interrupted.[/] Run it again to move the rest.");
            return Interruption.ExitCode;
        }

        return 0;
    }

    private static readonly TimeSpan MoveGrace = TimeSpan.FromSeconds(1);

    /// <summary>The message's properties without MassTransit's fault headers, which describe the failure, not the request.</summary>
    private static BasicProperties Resend(IReadOnlyBasicProperties original)
    {
        var properties = new BasicProperties(original) { Persistent = true };
        if (original.Headers is { } headers)
        {
            properties.Headers = headers.Where(h => !h.Key.StartsWith("MT-Fault-", StringComparison.OrdinalIgnoreCase) && !h.Key.Equals("MT-Reason", StringComparison.OrdinalIgnoreCase))
                .ToDictionary(h => h.Key, h => h.Value);
        }

        return properties;
    }

    private static string? Header(IReadOnlyBasicProperties properties, string name) =>
        properties.Headers?.TryGetValue(name, out var value) == true
            ? value switch { byte[] bytes => Encoding.UTF8.GetString(bytes), null => null, _ => value.ToString() }
            : null;

    private static string? RequestId(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("requestId", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
