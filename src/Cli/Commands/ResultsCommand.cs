using System.ComponentModel;
using System.Text;
using AkiDb.Queue.Cli.Broker;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>Follows embed-completed and embed-failed into a JSONL file, one result per line.</summary>
internal sealed class ResultsCommand : AsyncCommand<ResultsCommand.Settings>
{
    public sealed class Settings : BrokerSettings
    {
        [CommandOption("-o|--out <FILE>")]
        [Description("JSONL file to append results to. Default: results.jsonl")]
        [DefaultValue("results.jsonl")]
        public string Out { get; init; } = "results.jsonl";

        [CommandOption("--results-queue <NAME>")]
        [Description("A durable, bounded queue of this name that keeps collecting results while this command is not running (see publish --results-queue). Default: none, a private queue for this run only")]
        [DefaultValue("none")]
        public string ResultsQueue { get; init; } = "none";

        [CommandOption("--results-max-length <N>")]
        [Description("Most results the queue holds; when full the broker refuses more and the worker waits. Default: 100000")]
        [DefaultValue(100_000)]
        public int ResultsMaxLength { get; init; } = 100_000;

        [CommandOption("--from-parking [QUEUE]")]
        [Description("Read the worker's parking queue instead (results published while no queue was bound). Default queue: embed-results-unrouted")]
        public FlagValue<string>? FromParking { get; init; }

        public string? ParkingQueue => FromParking is { IsSet: true } flag ? (string.IsNullOrEmpty(flag.Value) ? "embed-results-unrouted" : flag.Value) : null;

        public string? NamedQueue => string.Equals(ResultsQueue, "none", StringComparison.OrdinalIgnoreCase) ? null : ResultsQueue;

        [CommandOption("--count <N>")]
        [Description("Stop after this many results. Default: run until Ctrl+C or --idle-seconds")]
        public int? Count { get; init; }

        [CommandOption("--idle-seconds <S>")]
        [Description("Stop when no result arrived for this long")]
        public int? IdleSeconds { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        await using var client = await QueueClient.ConnectAsync(settings, cancellationToken: cancellationToken);
        System.Threading.Channels.ChannelReader<ResultMessage> results;
        try
        {
            results = await client.SubscribeResultsAsync(settings.NamedQueue, settings.ResultsMaxLength, settings.ParkingQueue, cancellationToken);
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode is 404 or 406)
        {
            AnsiConsole.MarkupLine(e.ShutdownReason.ReplyCode == 404
                ? $"[red]Queue '{Markup.Escape(settings.ParkingQueue ?? "")}' does not exist on this virtual host.[/] The worker declares its parking queue at start."
                : $"[red]Queue '{Markup.Escape(settings.NamedQueue ?? "")}' exists with other settings ({Markup.Escape(e.ShutdownReason.ReplyText)}).[/] Read it with the settings it has, or delete it in the management UI.");
            return 2;
        }

        await using var output = new StreamWriter(settings.Out, append: true, new UTF8Encoding(false));
        int completed = 0, failed = 0, truncated = 0;
        AnsiConsole.MarkupLine($"Writing results to [bold]{Markup.Escape(settings.Out)}[/] (queue {Markup.Escape(client.Queue ?? "")}); Ctrl+C to stop.");
        try
        {
            while (settings.Count is null || completed + failed < settings.Count)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                if (settings.IdleSeconds is { } seconds)
                {
                    idle.CancelAfter(TimeSpan.FromSeconds(seconds));
                }

                var message = await results.ReadAsync(idle.Token);
                await output.WriteLineAsync(ToLine(message));
                await output.FlushAsync(cancellationToken);
                await message.AckAsync();
                if (message.Completed)
                {
                    completed++;
                    truncated += TruncatedTexts(message);
                }
                else
                {
                    failed++;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        AnsiConsole.MarkupLine($"{completed} completed, {failed} failed written to {Markup.Escape(settings.Out)}; {truncated} texts truncated by the model.");
        return 0;
    }

    private static int TruncatedTexts(ResultMessage message) =>
        message.Parse() is var json && json.TryGetProperty("truncated", out var flags) && flags.ValueKind == System.Text.Json.JsonValueKind.Array
            ? flags.EnumerateArray().Count(f => f.ValueKind == System.Text.Json.JsonValueKind.True)
            : 0;

    /// <summary>{"status":"completed"|"failed", ...the result's own fields}, compact, on one line whatever the producer's formatting.</summary>
    private static string ToLine(ResultMessage message)
    {
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("status", message.Completed ? "completed" : "failed");
            foreach (var property in message.Parse().EnumerateObject())
            {
                property.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
