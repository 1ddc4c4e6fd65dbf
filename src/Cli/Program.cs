using AkiDb.Queue.Cli.Commands;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("akidb-queue");
    config.AddCommand<DemoCommand>("demo").WithDescription("Publish sample texts, wait for their vectors, print dimensions and similarities.");
    config.AddCommand<PublishCommand>("publish").WithDescription("Publish a folder of text/markdown files (chunked) or a JSONL file of requests.");
    config.AddCommand<ResultsCommand>("results").WithDescription("Follow embed-completed and embed-failed into a JSONL file.");
    config.AddCommand<StatusCommand>("status").WithDescription("Queue depth, consumers and rates from the management API.");
});
return await app.RunAsync(args);
