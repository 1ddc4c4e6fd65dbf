using System.ComponentModel;
using System.Diagnostics;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Cli.Chunking;
using AkiDb.Queue.Cli.Ingestion;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.ModelText.Chunking;
using AkiDb.Queue.ModelText.Input;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>Sends a folder of text/markdown files (chunked) or a JSONL file of requests to the worker's queue.</summary>
internal sealed class PublishCommand : AsyncCommand<PublishCommand.Settings>
{
    public sealed class Settings : ChunkingSettings
    {
        [CommandArgument(0, "<PATH>")]
        [Description("A folder of .txt/.md files, a single text file, or a .jsonl file with one request per line")]
        public string Path { get; init; } = "";

        [CommandOption("--chunk-chars <N>")]
        [Description("Text input: chunk by characters instead of tokens, at most this many per chunk (the model may truncate)")]
        public int? ChunkChars { get; init; }

        [CommandOption("--overlap <N>")]
        [Description("With --chunk-chars: characters shared by consecutive chunks. Default: 100")]
        [DefaultValue(100)]
        public int Overlap { get; init; } = 100;

        [CommandOption("--texts-per-message <N>")]
        [Description("Folder input: chunks per request. Default: 8")]
        [DefaultValue(8)]
        public int TextsPerMessage { get; init; } = 8;

        [CommandOption("--model <NAME>")]
        [Description("Model name for every request (default: the worker's default model)")]
        public string? Model { get; init; }

        [CommandOption("--results-queue <NAME>")]
        [Description("Declare this durable, bounded queue for 'akidb-queue results --results-queue NAME' before publishing. Default: none (results nobody is bound for wait in the worker's parking queue)")]
        [DefaultValue("none")]
        public string ResultsQueue { get; init; } = "none";

        [CommandOption("--results-max-length <N>")]
        [Description("Most results --results-queue holds; when full the broker refuses more and the worker waits. Default: 100000")]
        [DefaultValue(100_000)]
        public int ResultsMaxLength { get; init; } = 100_000;

        [CommandOption("--max-in-flight <N>")]
        [Description("Publishes awaiting broker confirmation at once. Default: 256")]
        [DefaultValue(256)]
        public int MaxInFlight { get; init; } = 256;

        public override ValidationResult Validate() =>
            !File.Exists(Path) && !Directory.Exists(Path) ? ValidationResult.Error($"<PATH> {Path} is neither a file nor a folder.")
            : ChunkChars is < 1 ? ValidationResult.Error($"--chunk-chars {ChunkChars} must be at least 1.")
            : ChunkChars is { } chars && (Overlap < 0 || Overlap >= chars) ? ValidationResult.Error($"--overlap {Overlap} must be at least 0 and smaller than --chunk-chars {chars}.")
            : base.Validate();
    }

    // Tokens of the target model by default; characters only when asked (--chunk-chars), as before.
    private static Func<string, IEnumerable<Chunk>> Chunker(Settings settings) =>
        settings.ChunkChars is { } chars ? new Chunker(CharacterMeasure.Instance, chars, settings.Overlap).Split : settings.CreateChunker(settings.Model).Split;

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var requests = new List<EmbedRequested>();
        foreach (var request in JsonLines.IsJsonLines(settings.Path)
                     ? DocumentSource.FromJsonLines(settings.Path, settings.Model)
                     : DocumentSource.FromFolder(settings.Path, Chunker(settings), settings.TextsPerMessage, settings.Model))
        {
            // Chunking a large folder takes a while: Ctrl+C must not wait for it.
            cancellationToken.ThrowIfCancellationRequested();
            requests.Add(request);
        }

        var texts = requests.Sum(r => r.Texts?.Count ?? 0);
        if (requests.Count == 0)
        {
            AnsiConsole.MarkupLine($"[yellow]Nothing to publish in {Markup.Escape(settings.Path)}.[/]");
            return 1;
        }

        await using var client = await QueueClient.ConnectAsync(settings, settings.MaxInFlight, cancellationToken);
        try
        {
            await client.RequireQueueAsync(settings.Queue, cancellationToken);
        }
        catch (QueueMissingException e)
        {
            return QueueMissing(e, settings);
        }

        if (!string.Equals(settings.ResultsQueue, "none", StringComparison.OrdinalIgnoreCase))
        {
            await client.EnsureResultsQueueAsync(settings.ResultsQueue, settings.ResultsMaxLength, cancellationToken);
        }

        var clock = Stopwatch.StartNew();
        var confirmed = new ConfirmedCount();
        try
        {
            await PublishAllAsync(client, requests, settings, clock, confirmed, cancellationToken);
        }
        catch (QueueMissingException e)
        {
            return QueueMissing(e, settings);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Requests sent but not yet confirmed may or may not be on the queue: a re-run sends them again, and the
            // worker answers each request it takes (at least once, as for any producer).
            AnsiConsole.MarkupLine($"[yellow]Interrupted.[/] {confirmed.Value} of {requests.Count} requests were confirmed by the broker before Ctrl+C.");
            return Interruption.ExitCode;
        }

        AnsiConsole.MarkupLine($"Published {requests.Count} requests ({texts} texts) to [bold]{Markup.Escape(settings.Queue)}[/] in {clock.Elapsed.TotalSeconds:F1} s, every one confirmed by the broker.");
        if (!string.Equals(settings.ResultsQueue, "none", StringComparison.OrdinalIgnoreCase))
        {
            AnsiConsole.MarkupLine($"Results collect in queue [bold]{Markup.Escape(settings.ResultsQueue)}[/]: akidb-queue results --results-queue {Markup.Escape(settings.ResultsQueue)} --out results.jsonl (it counts the chunks the model truncated)");
        }

        return 0;
    }

    /// <summary>Nothing was kept: say which queue, and what to do (exit 2).</summary>
    private static int QueueMissing(QueueMissingException e, Settings settings)
    {
        AnsiConsole.MarkupLine($"[red]{Markup.Escape(e.Message)}[/] Start the worker once (it declares its queue), or check --queue and the virtual host in --url ({Markup.Escape(settings.VirtualHost)}).");
        return 2;
    }

    /// <summary>Requests the broker has confirmed so far, read after an interruption.</summary>
    private sealed class ConfirmedCount
    {
        public int Value { get; set; }
    }

    private static async Task PublishAllAsync(QueueClient client, List<EmbedRequested> requests, Settings settings, Stopwatch clock, ConfirmedCount confirmed, CancellationToken cancellationToken)
    {
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask("publishing", maxValue: requests.Count);
                var inFlight = new List<Task>(settings.MaxInFlight);
                var sent = 0;
                foreach (var request in requests)
                {
                    inFlight.Add(client.PublishAsync(request, settings.Queue, cancellationToken));
                    if (inFlight.Count >= settings.MaxInFlight)
                    {
                        await Task.WhenAll(inFlight);
                        sent += inFlight.Count;
                        confirmed.Value = sent;
                        inFlight.Clear();
                        task.Value = sent;
                        task.Description = $"publishing ({sent / Math.Max(clock.Elapsed.TotalSeconds, 0.001):F0} req/s)";
                    }
                }

                await Task.WhenAll(inFlight);
                confirmed.Value = requests.Count;
                task.Value = requests.Count;
                task.Description = $"published ({requests.Count / Math.Max(clock.Elapsed.TotalSeconds, 0.001):F0} req/s)";
            });
    }
}
