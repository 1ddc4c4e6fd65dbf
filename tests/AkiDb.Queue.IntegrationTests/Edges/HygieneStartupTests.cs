using System.Net;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// A worker that cannot start says why in one line and exits 1: no stack trace, no abort, and never the password.
/// One that cannot reach its broker keeps trying, one line per attempt, with /health/live answering meanwhile.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class HygieneStartupTests(BrokerFixture broker, ITestOutputHelper output)
{
    private const string Password = "Pw-9b-n0t-f0r-logs";
    private const string FailedToStart = "AkiDb.Queue worker failed to start: ";

    public static TheoryData<string, string> MalformedUrls => new()
    {
        { "a missing colon", $"amqp//guest:{Password}@127.0.0.1:5672/" },
        { "a non-numeric port", $"amqp://guest:{Password}@127.0.0.1:notaport/" },
        { "a port out of range", $"amqp://guest:{Password}@127.0.0.1:99999/" },
        { "no host", $"amqp://guest:{Password}@:5672/" },
        { "no scheme", $"guest:{Password}@127.0.0.1:5672" },
    };

    [Theory]
    [MemberData(nameof(MalformedUrls))]
    public async Task A_malformed_url_exits_1_with_one_line_and_the_password_appears_nowhere(string what, string url)
    {
        var run = await HygieneWorkerRun.RunAsync(new Dictionary<string, string?> { ["RabbitMq:Url"] = url });
        output.WriteLine($"{what}: exit {run.ExitCode}\n{run.Output}");

        Assert.DoesNotContain(Password, run.Output, StringComparison.Ordinal);
        Assert.Equal(1, run.ExitCode);
        var line = Assert.Single(run.Lines);
        Assert.StartsWith(FailedToStart + "RabbitMq:Url is not a valid broker URL", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("RabbitMq:PrefetchCount", "-1")]
    [InlineData("Bridge:Processes", "many")]
    [InlineData("RabbitMq:QueueType", "fanout")]
    [InlineData("RabbitMq:ErrorQueueMaxLength", "-5")]
    [InlineData("RabbitMq:CaFile", "/nonexistent/akidb-ca.pem")]
    [InlineData("RabbitMq:Heartbeat", "01:00:00")]
    public async Task A_bad_setting_exits_1_with_one_line_that_names_it(string key, string value)
    {
        var (_, url) = await broker.CreateVirtualHostAsync("badsetting");
        var run = await HygieneWorkerRun.RunAsync(new Dictionary<string, string?> { ["RabbitMq:Url"] = url, [key] = value });
        output.WriteLine($"exit {run.ExitCode}\n{run.Output}");

        Assert.Equal(1, run.ExitCode);
        var line = Assert.Single(run.Lines);
        Assert.StartsWith(FailedToStart, line, StringComparison.Ordinal);
        Assert.Contains(key, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_login_exits_1_with_one_error_line_naming_the_cause_and_no_stack_trace()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("refused");
        var wrong = new UriBuilder(url) { UserName = "guest", Password = Password }.Uri.ToString();
        var run = await HygieneWorkerRun.RunAsync(new Dictionary<string, string?> { ["RabbitMq:Url"] = wrong });
        output.WriteLine($"exit {run.ExitCode}\n{run.Output}");

        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain(Password, run.Output, StringComparison.Ordinal);
        var line = Assert.Single(run.Lines, l => l.StartsWith(FailedToStart, StringComparison.Ordinal));
        Assert.Contains("refused the login of user 'guest'", line, StringComparison.Ordinal);
        Assert.DoesNotContain(run.Lines, l => l.StartsWith("fail:", StringComparison.Ordinal) || l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task While_the_broker_is_unreachable_live_answers_and_each_attempt_is_one_line()
    {
        var closedPort = FreePort();
        var healthPort = FreePort();
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var attempts = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var execution = Cli.Wrap("dotnet")
            .WithArguments([RepoPaths.WorkerDll])
            .WithWorkingDirectory(RepoPaths.Root)
            .WithEnvironmentVariables(new Dictionary<string, string?>
            {
                ["RabbitMq__Url"] = $"amqp://guest:{Password}@127.0.0.1:{closedPort}/",
                ["Health__Urls"] = $"http://127.0.0.1:{healthPort}/",
                ["Embedding__CacheDirectory"] = WorkerHost.ModelCache,
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["Bridge__Processes"] = "1",
                ["Logging__Console__FormatterName"] = "simple",
                ["Logging__Console__FormatterOptions__SingleLine"] = "true",
            })
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(PipeTarget.ToDelegate(l => Record(l)))
            .WithStandardErrorPipe(PipeTarget.ToDelegate(l => Record(l)))
            .ExecuteAsync(stop.Token);

        void Record(string line)
        {
            lines.Enqueue(line);
            if (line.Contains("not reachable (attempt", StringComparison.Ordinal))
            {
                attempts.Release();
            }
        }

        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{healthPort}/"), Timeout = TimeSpan.FromSeconds(10) };
            // Live answers although start-up cannot finish; polling only finds the moment the listener is up.
            var live = await PollAsync(http, "health/live", HttpStatusCode.OK, TimeSpan.FromMinutes(2));
            Assert.Equal(HttpStatusCode.OK, live);
            Assert.True(await attempts.WaitAsync(TimeSpan.FromMinutes(1)) && await attempts.WaitAsync(TimeSpan.FromMinutes(1)), "fewer than two attempt lines");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("health/ready")).StatusCode);
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await execution;
            }
            catch (OperationCanceledException)
            {
            }
        }

        var all = lines.ToList();
        output.WriteLine(string.Join('\n', all));
        Assert.DoesNotContain(all, l => l.Contains(Password, StringComparison.Ordinal));
        Assert.DoesNotContain(all, l => l.Contains("worker ready", StringComparison.Ordinal));
        var attemptLines = all.Where(l => l.Contains("not reachable (attempt", StringComparison.Ordinal)).ToList();
        Assert.True(attemptLines.Count >= 2);
        for (var i = 0; i < attemptLines.Count; i++)
        {
            Assert.Contains($"127.0.0.1:{closedPort} not reachable (attempt {i + 1})", attemptLines[i], StringComparison.Ordinal);
            Assert.Contains("; next attempt in ", attemptLines[i], StringComparison.Ordinal);
        }

        // MassTransit never starts connecting, so none of its per-endpoint retry traces.
        Assert.DoesNotContain(all, l => l.Contains("Connection Failed", StringComparison.Ordinal) || l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    private static async Task<HttpStatusCode?> PollAsync(HttpClient http, string path, HttpStatusCode wanted, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        HttpStatusCode? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = (await http.GetAsync(path)).StatusCode;
                if (last == wanted)
                {
                    return last;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        return last;
    }

    internal static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
