using Spectre.Console;
using AkiDb.Queue.Cli.Commands;
using Spectre.Console.Cli;

// Redirected output (a log, a pipe, a test) has no terminal width; Spectre would assume 80 and wrap table cells.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 40 ? columns : 160;
}

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("akidb-queue");
    config.AddCommand<DemoCommand>("demo").WithDescription("Publish sample texts, wait for their vectors, print dimensions and similarities.");
    config.AddCommand<PublishCommand>("publish").WithDescription("Publish a folder of text/markdown files (chunked) or a JSONL file of requests.");
    config.AddCommand<ResultsCommand>("results").WithDescription("Follow embed-completed and embed-failed into a JSONL file.");
    config.AddCommand<StatusCommand>("status").WithDescription("Queue depth, consumers and rates from the management API.");
    config.AddCommand<QuantizeCommand>("quantize").WithDescription("Quantise an ONNX model's MatMul weights to int8 (what Precision=int8 does), e.g. for an image.");
});
return await app.RunAsync(args);
