using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>The CLI cannot lose what it publishes: a missing queue fails the command, and results nobody was bound for are read back from the parking queue.</summary>
[Collection(BrokerCollection.Name)]
public sealed class CliEdgeTests(BrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-cli-edges-");

    [Fact]
    public async Task Publish_to_a_queue_that_does_not_exist_fails_with_its_name_and_creates_nothing()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("cli-typo");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);
        var before = await client.BrokerObjectsAsync();
        var input = Path.Combine(_work.FullName, "requests.jsonl");
        await File.WriteAllLinesAsync(input, ["""{"requestId":"typo-1","texts":["nobody takes this"]}"""]);

        var publish = await RunAsync(["publish", input, "--queue", "typo-queue", "--url", url, "--management-url", broker.ManagementUrl]);

        Assert.NotEqual(0, publish.ExitCode);
        Assert.Contains("Queue 'typo-queue' does not exist", publish.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("--queue", publish.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("confirmed by the broker", publish.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(before, await client.BrokerObjectsAsync());
    }

    [Fact]
    public async Task Publish_declares_no_shared_queue_and_results_from_parking_recovers_every_result()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("cli-park");
        await using var worker = await WorkerHost.StartAsync(url);
        await using var client = await EdgeClient.ConnectAsync(url, broker.ManagementUrl, vhost);
        var input = Path.Combine(_work.FullName, "requests.jsonl");
        await File.WriteAllLinesAsync(input, Enumerable.Range(0, 6).Select(i => $$"""{"requestId":"park-{{i}}","texts":["text {{i}}"]}"""));
        string[] broker_ = ["--url", url, "--management-url", broker.ManagementUrl];

        var publish = await RunAsync(["publish", input, .. broker_]);
        Assert.Equal(0, publish.ExitCode);
        Assert.Equal(6, await client.WaitForDepthAsync("embed-results-unrouted", d => d >= 6, TimeSpan.FromMinutes(3)));
        var outFile = Path.Combine(_work.FullName, "results.jsonl");
        var results = await RunAsync(["results", "--from-parking", "--count", "6", "--out", outFile, .. broker_]);

        Assert.Equal(0, results.ExitCode);
        Assert.Contains("6 completed, 0 failed", results.StandardOutput, StringComparison.Ordinal);
        var lines = await File.ReadAllLinesAsync(outFile);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"park-{i}").Order(), lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("requestId").GetString()!).Order());
        Assert.DoesNotContain(await client.BrokerObjectsAsync(), name => name == "queue:akidb-results");
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
