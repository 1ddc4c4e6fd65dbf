using System.ComponentModel;
using System.Diagnostics;
using AkiDb.Queue.Cli.Chunking;
using AkiDb.Queue.Cli.Embedding;
using AkiDb.Queue.Cli.Ingestion;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.ModelText.Chunking;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>
/// The whole path in one command: read documents, chunk them in model tokens, send them, and write one vector per
/// chunk to a JSONL file in input order. Resumable: a re-run with the same --out sends only what is not written.
/// </summary>
internal sealed class EmbedCommand : AsyncCommand<EmbedCommand.Settings>
{
    public sealed class Settings : ChunkingSettings
    {
        [CommandArgument(0, "<INPUT>")]
        [Description("A .jsonl file ({\"id\": \"...\", \"text\": \"...\", \"metadata\": {...}} per line), a text/markdown file, or a folder of them")]
        public string Input { get; init; } = "";

        [CommandOption("-o|--out <FILE>")]
        [Description("JSONL output, one line per chunk; appended to, and what it already holds is skipped (resume)")]
        public string Out { get; init; } = "";

        [CommandOption("--model <NAME>")]
        [Description("Model for every chunk. Default: the worker's default (all-MiniLM-L6-v2)")]
        public string? Model { get; init; }

        [CommandOption("--encoding <NAME>")]
        [Description("float (JSON numbers), base64 (float32), int8 (with a scale) or binary (sign bits). Default: float")]
        [DefaultValue("float")]
        public string Encoding { get; init; } = "float";

        [CommandOption("--include-text")]
        [Description("Write each chunk's text into its line")]
        public bool IncludeText { get; init; }

        [CommandOption("--texts-per-message <N>")]
        [Description("Chunks per request. Default: 16")]
        [DefaultValue(16)]
        public int TextsPerMessage { get; init; } = 16;

        [CommandOption("--max-in-flight <N>")]
        [Description("Chunks sent but not yet written, at most. Default: 8192")]
        [DefaultValue(8192)]
        public int MaxInFlight { get; init; } = 8192;

        [CommandOption("--result-timeout <SECONDS>")]
        [Description("Give up when no result arrived for this long. Default: 300")]
        [DefaultValue(300)]
        public int ResultTimeout { get; init; } = 300;

        public override ValidationResult Validate()
        {
            if (!File.Exists(Input) && !Directory.Exists(Input))
            {
                return ValidationResult.Error($"<INPUT> {Input} is neither a file nor a folder.");
            }

            if (string.IsNullOrWhiteSpace(Out))
            {
                return ValidationResult.Error("--out is required: the JSONL file to write the vectors to.");
            }

            if (!VectorEncodings.TryParse(Encoding, out _))
            {
                return ValidationResult.Error($"--encoding {Encoding} is not float, base64, int8 or binary.");
            }

            if (TextsPerMessage is < 1 or > 256)
            {
                return ValidationResult.Error($"--texts-per-message {TextsPerMessage} must be between 1 and 256 (the worker's default limit).");
            }

            if (MaxInFlight < TextsPerMessage)
            {
                return ValidationResult.Error($"--max-in-flight {MaxInFlight} must be at least --texts-per-message {TextsPerMessage}.");
            }

            return ResultTimeout < 1 ? ValidationResult.Error($"--result-timeout {ResultTimeout} must be at least 1 second.") : base.Validate();
        }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        Chunker chunker;
        EmbedPlan plan;
        try
        {
            chunker = settings.CreateChunker(settings.Model);
            plan = EmbedPlan.Build(InputDocuments.Read(settings.Input), chunker, OutputFile.ReadWritten(settings.Out), cancellationToken);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return 2;
        }

        AnsiConsole.MarkupLine($"{plan.TotalChunks} chunks of at most {chunker.ChunkTokens} tokens in {Markup.Escape(settings.Input)}" +
            (plan.Skipped > 0 ? $"; {plan.Skipped} already in {Markup.Escape(settings.Out)}, {plan.Pending.Count} to go." : "."));
        if (plan.Pending.Count == 0)
        {
            AnsiConsole.MarkupLine("Nothing to do.");
            return 0;
        }

        var options = new EmbedRunOptions(settings.Queue, settings.Model,
            settings.Encoding.Equals("float", StringComparison.OrdinalIgnoreCase) ? null : settings.Encoding.ToLowerInvariant(),
            settings.TextsPerMessage, settings.MaxInFlight, settings.IncludeText, TimeSpan.FromSeconds(settings.ResultTimeout));
        var clock = Stopwatch.StartNew();
        EmbedRun run;
        bool finished;
        try
        {
            await using var broker = await RunConnection.ConnectAsync(settings, settings.Queue, 256, cancellationToken,
                retrying: message => AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(message)}[/]"));
            await using var output = OutputFile.OpenForAppend(settings.Out);
            run = new EmbedRun(broker, options, output);
            finished = await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .StartAsync(async progress =>
                {
                    var task = progress.AddTask("embedding", maxValue: plan.Pending.Count);
                    return await run.RunAsync(plan.Pending, done =>
                    {
                        task.Value = done;
                        task.Description = $"{done}/{plan.Pending.Count} texts, {done / Math.Max(clock.Elapsed.TotalSeconds, 0.001):F0} texts/s";
                    }, cancellationToken);
                });
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or RabbitMQ.Client.Exceptions.BrokerUnreachableException
                                      || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(CommandFailure.Describe(e))}[/]");
            return 1;
        }

        return Summarise(settings, plan, run, finished, clock.Elapsed);
    }

    private static int Summarise(Settings settings, EmbedPlan plan, EmbedRun run, bool finished, TimeSpan elapsed)
    {
        var rate = run.Written / Math.Max(elapsed.TotalSeconds, 0.001);
        AnsiConsole.MarkupLine($"Wrote {run.Written} chunks to [bold]{Markup.Escape(settings.Out)}[/] in {elapsed.TotalSeconds:F1} s ({rate:F0} texts/s); " +
            $"{run.Failures.Count} failed, {run.Truncated} truncated by the model" + (plan.Skipped > 0 ? $", {plan.Skipped} skipped (written before)." : "."));
        foreach (var failure in run.Failures.Take(10))
        {
            AnsiConsole.MarkupLine($"  [red]{Markup.Escape(failure.Item.Id)}[/] chunk {failure.Item.ChunkIndex}: {Markup.Escape(failure.Code)}: {Markup.Escape(failure.Message)}");
        }

        if (run.Failures.Count > 10)
        {
            AnsiConsole.MarkupLine($"  ... and {run.Failures.Count - 10} more.");
        }

        if (!finished)
        {
            AnsiConsole.MarkupLine("[yellow]Interrupted.[/] Run the same command again to send only what is not written yet.");
            return 130;
        }

        return run.Failures.Count > 0 ? 1 : 0;
    }
}
