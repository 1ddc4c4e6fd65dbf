using System.ComponentModel;
using System.Text.Json;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Contracts;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>Publishes a few sample texts, waits for their vectors and shows what they mean: dimensions and similarities.</summary>
internal sealed class DemoCommand : AsyncCommand<DemoCommand.Settings>
{
    private static readonly (string Id, string[] Texts)[] Samples =
    [
        ("demo-music", ["A man is playing a guitar on stage.", "Someone performs a song with a guitar in front of a crowd."]),
        ("demo-pets", ["The kitten chased a ball of yarn across the floor.", "A young cat played with a toy."]),
        ("demo-tax", ["The quarterly tax filing deadline is next Tuesday."]),
    ];

    public sealed class Settings : BrokerSettings
    {
        [CommandOption("--timeout <SECONDS>")]
        [Description("How long to wait for the results. Default: 120")]
        [DefaultValue(120)]
        public int TimeoutSeconds { get; init; } = 120;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        await using var client = await QueueClient.ConnectAsync(settings, cancellationToken: cancellationToken);
        var results = await client.SubscribeResultsAsync(durableQueue: null, cancellationToken);
        foreach (var (id, texts) in Samples)
        {
            await client.PublishAsync(new EmbedRequested { RequestId = id, Texts = texts }, settings.Queue, cancellationToken);
        }

        AnsiConsole.MarkupLine($"Published {Samples.Length} requests ({Samples.Sum(s => s.Texts.Length)} texts) to [bold]{settings.Queue}[/] on {Markup.Escape(BrokerSettings.Redact(settings.EffectiveUrl))}");

        var vectors = new Dictionary<string, float[]>();
        var table = new Table().AddColumns("request", "outcome", "vectors", "model", "provider", "queued ms", "inference ms");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
        var pending = Samples.Select(s => s.Id).ToHashSet();
        try
        {
            while (pending.Count > 0)
            {
                var message = await results.ReadAsync(timeout.Token);
                await message.AckAsync();
                var body = message.Parse();
                var id = body.GetProperty("requestId").GetString() ?? "";
                if (!pending.Remove(id))
                {
                    continue;
                }

                if (!message.Completed)
                {
                    table.AddRow(id, $"[red]failed: {Markup.Escape(body.GetProperty("code").GetString() ?? "")}[/]", Markup.Escape(body.GetProperty("message").GetString() ?? ""), "", "", "", "");
                    continue;
                }

                var embeddings = body.GetProperty("embeddings").EnumerateArray().Select(e => e.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
                var texts = Samples.Single(s => s.Id == id).Texts;
                for (var i = 0; i < texts.Length; i++)
                {
                    vectors[texts[i]] = embeddings[i];
                }

                table.AddRow(id, "[green]completed[/]", $"{embeddings.Length} x {body.GetProperty("dimensions").GetInt32()}",
                    body.GetProperty("model").GetString() ?? "", Prop(body, "executionProvider"), Millis(body, "queuedMs"), Millis(body, "inferenceMs"));
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"[red]No result within {settings.TimeoutSeconds} s for: {string.Join(", ", pending)}.[/] Is a worker consuming {settings.Queue}?");
            return 1;
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("Cosine similarity (1 = same meaning):");
        var all = Samples.SelectMany(s => s.Texts).ToArray();
        foreach (var (a, b) in new[] { (all[0], all[1]), (all[2], all[3]), (all[0], all[4]), (all[2], all[4]) })
        {
            if (vectors.TryGetValue(a, out var va) && vectors.TryGetValue(b, out var vb))
            {
                AnsiConsole.MarkupLine($"  {Cosine(va, vb),5:F2}  \"{Markup.Escape(a)}\"  vs  \"{Markup.Escape(b)}\"");
            }
        }

        AnsiConsole.MarkupLine($"RabbitMQ management UI: [link]{Markup.Escape(settings.EffectiveManagementUrl)}[/] (queues: {settings.Queue}, exchanges: embed-completed, embed-failed)");
        return 0;
    }

    private static string Prop(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.ToString() : "";

    private static string Millis(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            ? value.GetDouble().ToString("F1", System.Globalization.CultureInfo.InvariantCulture)
            : "";

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
