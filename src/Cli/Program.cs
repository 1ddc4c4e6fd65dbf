using System.Reflection;
using Spectre.Console;
using AkiDb.Queue.Cli;
using AkiDb.Queue.Cli.Commands;
using Spectre.Console.Cli;

// Before anything touches the console: Ctrl+C and SIGTERM cancel the command's token instead of killing the process.
using var interruption = Interruption.Install();

// Redirected output (a log, a pipe, a test) has no terminal width; Spectre would assume 80 and wrap table cells.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 40 ? columns : 160;
}

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("akidb-queue");
    config.SetHelpProvider(new DescribedHelpProvider(config.Settings));
    config.SetApplicationVersion(typeof(EmbedCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0");
    config.AddExample("embed", "docs/", "--out", "vectors.jsonl");
    config.AddExample("embed", "texts.jsonl", "--out", "vectors.jsonl", "--encoding", "base64");
    config.AddExample("status");
    config.AddCommand<EmbedCommand>("embed").WithDescription("Embed a JSONL file, a text file or a folder into a JSONL file of vectors, in input order (resumable).")
        .WithExample("embed", "texts.jsonl", "--out", "vectors.jsonl")
        .WithExample("embed", "docs/", "--out", "docs.jsonl", "--chunk-tokens", "128", "--overlap-tokens", "16", "--include-text");
    config.AddCommand<DemoCommand>("demo").WithDescription("Publish sample texts, wait for their vectors, print dimensions and similarities.");
    config.AddCommand<PublishCommand>("publish").WithDescription("Publish a folder or file of text/markdown (chunked in model tokens) or a JSONL file of requests.")
        .WithExample("publish", "docs/", "--texts-per-message", "4");
    config.AddCommand<ResultsCommand>("results").WithDescription("Follow embed-completed and embed-failed into a JSONL file.");
    config.AddCommand<StatusCommand>("status").WithDescription("Queue depth, consumers, texts/s and ETA from a few seconds of samples, and the error queue.")
        .WithExample("status", "--seconds", "10");
    config.AddCommand<RedriveCommand>("redrive").WithDescription("Move messages from the error queue back to the input queue, confirmed, printing what moved.")
        .WithExample("redrive", "--dry-run")
        .WithExample("redrive", "--count", "10");
    config.AddCommand<QuantizeCommand>("quantize").WithDescription("Quantise an ONNX model's MatMul weights to int8 (what Precision=int8 does), e.g. for an image.")
        .WithExample("quantize", "model.onnx", "model.int8.onnx");
    config.SetExceptionHandler((exception, _) => CommandFailure.Report(exception, interruption.IsRequested));
});
return await app.RunAsync(args, interruption.Token);
