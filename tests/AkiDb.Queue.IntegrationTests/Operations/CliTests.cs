using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>The ingestion tooling as a user runs it: publish a folder, follow results into JSONL, look at the queue.</summary>
[Collection(BrokerCollection.Name)]
public sealed class CliTests(BrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-cli-");

    [Fact]
    public async Task Publish_a_folder_then_results_writes_one_line_per_request_and_status_shows_the_queue()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cli");
        var docs = Directory.CreateDirectory(Path.Combine(_work.FullName, "docs"));
        var paragraphs = Walking.EndToEndTests.Sentences;
        await File.WriteAllTextAsync(Path.Combine(docs.FullName, "one.md"), string.Join("\n\n", paragraphs.Take(16)));
        await File.WriteAllTextAsync(Path.Combine(docs.FullName, "two.txt"), string.Join(' ', paragraphs.Skip(16)));
        await using var worker = await WorkerHost.StartAsync(url);
        string[] broker_ = ["--url", url, "--management-url", broker.ManagementUrl];

        var publish = await RunAsync(["publish", docs.FullName, "--chunk-chars", "200", "--overlap", "20", "--texts-per-message", "3", "--results-queue", "cli-results", .. broker_]);
        Assert.Equal(0, publish.ExitCode);
        var published = int.Parse(System.Text.RegularExpressions.Regex.Match(publish.StandardOutput, @"Published (\d+) requests").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(published > 2);

        var outFile = Path.Combine(_work.FullName, "results.jsonl");
        var results = await RunAsync(["results", "--out", outFile, "--count", $"{published}", "--results-queue", "cli-results", .. broker_]);
        Assert.Equal(0, results.ExitCode);

        var lines = await File.ReadAllLinesAsync(outFile);
        Assert.Equal(published, lines.Length);
        foreach (var line in lines)
        {
            using var json = JsonDocument.Parse(line);
            Assert.Equal("completed", json.RootElement.GetProperty("status").GetString());
            Assert.StartsWith(json.RootElement.GetProperty("metadata").GetProperty("source").GetString()!, json.RootElement.GetProperty("requestId").GetString()!, StringComparison.Ordinal);
        }

        var status = await RunAsync(["status", .. broker_]);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("embed-requested", status.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_prints_dimensions_and_similarities()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cli-demo");
        await using var worker = await WorkerHost.StartAsync(url);

        var demo = await RunAsync(["demo", "--url", url, "--management-url", broker.ManagementUrl]);

        Assert.Equal(0, demo.ExitCode);
        Assert.Contains("2 x 384", demo.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("Cosine similarity", demo.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(broker.ManagementUrl, demo.StandardOutput, StringComparison.Ordinal);
    }

    public void Dispose() => _work.Delete(recursive: true);

    private async Task<BufferedCommandResult> RunAsync(string[] arguments)
    {
        var result = await Cli.Wrap("dotnet").WithArguments([RepoPaths.CliDll, .. arguments])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["COLUMNS"] = "200" })
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);
        output.WriteLine($"akidb-queue {arguments[0]} -> {result.ExitCode}\n{result.StandardOutput}{result.StandardError}");
        return result;
    }
}
