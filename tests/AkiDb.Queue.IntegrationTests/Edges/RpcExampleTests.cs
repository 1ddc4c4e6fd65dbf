using System.Text.RegularExpressions;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.IntegrationTests.Operations;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// examples/python/rpc.py, the standard RabbitMQ RPC pattern (reply_to + correlation_id), run as a user runs it against
/// the real worker: with an exclusive reply queue and with direct reply-to, for a completed and a failed request.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed partial class RpcExampleTests(BrokerFixture broker, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private WorkerHost _worker = null!;
    private ResultCollector _results = null!;
    private string _url = "";

    public async Task InitializeAsync()
    {
        (_, _url) = await broker.CreateVirtualHostAsync("rpc-py");
        _worker = await WorkerHost.StartAsync(_url);
        _results = await ResultCollector.StartAsync(_url);
    }

    public async Task DisposeAsync()
    {
        await _results.DisposeAsync();
        await _worker.DisposeAsync();
    }

    [GeneratedRegex(@" correlation_id=(\w+) body_correlation_id=(\w+)")]
    private static partial Regex Correlation();

    [Theory]
    [InlineData("exclusive", new string[0])]
    [InlineData("direct", new[] { "--direct-reply-to" })]
    public async Task Python_rpc_py_gets_its_reply_with_its_correlation_id(string name, string[] mode)
    {
        await Tooling.RequirePythonWithPikaAsync();
        var id = $"py-rpc-{name}";
        var run = await Python(["--id", id, .. mode, "A man is playing a guitar."]);
        var failed = await Python(["--id", id + "-bad", "--model", "no-such-model", .. mode, "text"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith($"{id} completed vectors=1 dimensions=384 ", run.Stdout, StringComparison.Ordinal);
        var correlation = Correlation().Match(run.Stdout);
        Assert.True(correlation.Success, run.Stdout);
        Assert.Equal(correlation.Groups[1].Value, correlation.Groups[2].Value);
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.StartsWith($"{id}-bad failed code=unknown_model", failed.Stdout, StringComparison.Ordinal);

        // The exchanges got each result once too, with the same correlation id.
        var published = await _results.WaitForAsync(id, Patience);
        Assert.Equal(correlation.Groups[1].Value, published.Body.GetProperty("correlationId").GetString());
        Assert.True((await _results.WaitForAsync(id + "-bad", Patience)) is { IsCompleted: false });
        Assert.Single(_results.Results, r => r.RequestId == id);
    }

    private async Task<Tooling.Run> Python(string[] arguments)
    {
        var run = await Tooling.RunAsync(Tooling.SystemPython, [Path.Combine(RepoPaths.Root, "examples", "python", "rpc.py"), .. arguments],
            new Dictionary<string, string?> { ["AMQP_URL"] = _url }, Patience);
        output.WriteLine($"rpc.py: {run}");
        return run;
    }
}
