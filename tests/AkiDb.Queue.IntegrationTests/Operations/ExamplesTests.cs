using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// The producers and consumers in examples/, run as a user runs them (python3 with pika; bash with curl against the
/// management API) against a real broker and the real worker, each in a virtual host of its own.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ExamplesTests(BrokerFixture broker, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private WorkerHost _worker = null!;
    private string _vhost = "";
    private string _url = "";

    private static string Examples => Path.Combine(RepoPaths.Root, "examples");

    public async Task InitializeAsync()
    {
        (_vhost, _url) = await broker.CreateVirtualHostAsync("examples");
        _worker = await WorkerHost.StartAsync(_url);
    }

    public async Task DisposeAsync() => await _worker.DisposeAsync();

    [Fact]
    public async Task Python_embed_py_publishes_waits_and_prints_the_completed_result()
    {
        await Tooling.RequirePythonWithPikaAsync();
        var run = await Python("embed.py", "--id", "py-embed-1", "A man is playing a guitar.", "Someone performs music on stage.");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.StartsWith("py-embed-1 completed vectors=2 dimensions=384 model=all-MiniLM-L6-v2", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_embed_py_exits_1_with_the_error_code_when_the_request_fails()
    {
        await Tooling.RequirePythonWithPikaAsync();
        var run = await Python("embed.py", "--id", "py-embed-bad", "--model", "no-such-model", "text");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.StartsWith("py-embed-bad failed code=unknown_model", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_results_py_prints_one_line_per_result_of_publish_py_and_stops_after_count()
    {
        await Tooling.RequirePythonWithPikaAsync();
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var cts = new CancellationTokenSource(Patience);
        var results = Cli.Wrap(Tooling.SystemPython)
            .WithArguments(["-u", Path.Combine(Examples, "python", "results.py"), "--count", "2", "--timeout", "60"])
            .WithEnvironmentVariables(new Dictionary<string, string?> { ["AMQP_URL"] = _url })
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(PipeTarget.ToStringBuilder(stdout))
            .WithStandardErrorPipe(PipeTarget.ToDelegate(line =>
            {
                stderr.AppendLine(line);
                if (line.StartsWith("listening on", StringComparison.Ordinal))
                {
                    listening.TrySetResult();
                }
            }))
            .ExecuteAsync(cts.Token);

        // Its queue is bound once it says so; results published before that would not reach it (fanout).
        await Task.WhenAny(listening.Task, results.Task).WaitAsync(cts.Token);
        Assert.True(listening.Task.IsCompleted, $"results.py ended before listening:\n{stderr}");

        var first = await Python("publish.py", "--id", "py-pub-1", "one text");
        var second = await Python("publish.py", "--id", "py-pub-2", "two", "texts");
        Assert.True(first.ExitCode == 0 && second.ExitCode == 0, $"{first}\n{second}");
        Assert.Equal("py-pub-1", first.Stdout.Trim());

        var exit = (await results).ExitCode;
        output.WriteLine(stdout.ToString());
        Assert.True(exit == 0, $"results.py exit {exit}\n{stdout}\n{stderr}");
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("py-pub-1 completed vectors=1 dimensions=384 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("py-pub-2 completed vectors=2 dimensions=384 ", StringComparison.Ordinal));
    }

    /// <param name="jsonTool">"" lets the script choose (jq when installed); "python3" forces the fallback.</param>
    [Theory]
    [InlineData("")]
    [InlineData("python3")]
    public async Task Shell_embed_sh_answers_through_the_management_API_and_deletes_its_queue(string jsonTool)
    {
        var id = $"sh-embed-{(jsonTool.Length == 0 ? "default" : jsonTool)}";
        var run = await Shell("embed.sh", new() { ["REQUEST_ID"] = id, ["JSON_TOOL"] = jsonTool.Length == 0 ? null : jsonTool },
            "A man is playing a guitar.", "Quotes \" and $dollars and ünïcode 🙂 survive the trip.");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal($"{id} completed vectors=2 dimensions=384 model=all-MiniLM-L6-v2", run.Stdout.Trim());
        using var management = new ManagementClient(broker.ManagementUrl);
        Assert.Null(await management.GetQueueAsync(_vhost, $"embed-sh-{id}"));
    }

    [Fact]
    public async Task Shell_publish_sh_is_routed_and_the_worker_answers_it()
    {
        await using var results = await ResultCollector.StartAsync(_url);
        var run = await Shell("publish.sh", new() { ["REQUEST_ID"] = "sh-pub-1" }, "published over HTTP");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("sh-pub-1", run.Stdout.Trim());
        var result = await results.WaitForAsync("sh-pub-1", Patience);
        Assert.True(result.IsCompleted, result.Message);
        Assert.Equal(384, result.Dimensions);
    }

    [Fact]
    public async Task Shell_publish_sh_fails_when_no_queue_takes_the_message()
    {
        var (emptyVhost, _) = await broker.CreateVirtualHostAsync("examples-empty");
        var run = await Shell("publish.sh", new() { ["RABBITMQ_VHOST"] = emptyVhost }, "nobody listens");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("not routed", run.Stderr, StringComparison.Ordinal);
    }

    private async Task<Tooling.Run> Python(string script, params string[] arguments)
    {
        var run = await Tooling.RunAsync(Tooling.SystemPython, [Path.Combine(Examples, "python", script), .. arguments],
            new Dictionary<string, string?> { ["AMQP_URL"] = _url }, Patience);
        output.WriteLine($"{script}: {run}");
        return run;
    }

    private async Task<Tooling.Run> Shell(string script, Dictionary<string, string?> environment, params string[] arguments)
    {
        var bash = Tooling.Require("bash", "apt-get install -y bash");
        Tooling.Require("curl", "apt-get install -y curl");
        environment["RABBITMQ_API"] = broker.ManagementUrl;
        environment.TryAdd("RABBITMQ_VHOST", _vhost);
        // guest/guest: the test broker is on loopback, where RabbitMQ allows it.
        environment["RABBITMQ_USER"] = null;
        environment["RABBITMQ_PASSWORD"] = null;
        var run = await Tooling.RunAsync(bash, [Path.Combine(Examples, "shell", script), .. arguments], environment, Patience);
        output.WriteLine($"{script}: {run}");
        return run;
    }
}
