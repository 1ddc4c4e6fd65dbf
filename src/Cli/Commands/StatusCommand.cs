using System.Text.Json;
using AkiDb.Queue.Cli.Broker;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>Queue depth, consumers and rates of the worker's queues, from the management API.</summary>
internal sealed class StatusCommand : AsyncCommand<BrokerSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, BrokerSettings settings, CancellationToken cancellationToken)
    {
        using var api = new ManagementApi(settings.EffectiveManagementUrl, settings.EffectiveUrl);
        var table = new Table().AddColumns("queue", "ready", "unacked", "consumers", "in /s", "delivered /s", "acked /s");
        foreach (var queue in new[] { settings.Queue, settings.Queue + "_error", "akidb-results" })
        {
            if (await api.GetQueueAsync(settings.VirtualHost, queue, cancellationToken) is not { } q)
            {
                continue;
            }

            table.AddRow(queue, Number(q, "messages_ready"), Number(q, "messages_unacknowledged"), Number(q, "consumers"),
                Rate(q, "publish_details"), Rate(q, "deliver_get_details"), Rate(q, "ack_details"));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Management UI: [link]{Markup.Escape(settings.EffectiveManagementUrl)}[/]");
        return 0;
    }

    private static string Number(JsonElement q, string name) =>
        q.TryGetProperty(name, out var v) ? v.ToString() : "0";

    private static string Rate(JsonElement q, string name) =>
        q.TryGetProperty("message_stats", out var stats) && stats.TryGetProperty(name, out var details) && details.TryGetProperty("rate", out var rate)
            ? rate.GetDouble().ToString("F1", System.Globalization.CultureInfo.InvariantCulture)
            : "0.0";
}
