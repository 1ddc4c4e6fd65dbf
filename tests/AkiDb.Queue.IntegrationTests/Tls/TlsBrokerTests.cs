using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Edges;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Tls;

/// <summary>
/// The worker and the CLI against a broker that serves AMQP over TLS only, its certificate signed by a private CA: trusted
/// through RabbitMq:CaFile / --ca-file, refused when the CA is another, and mutual TLS with the client certificate as
/// the login (EXTERNAL).
/// </summary>
[Collection(TlsBrokerCollection.Name)]
public sealed class TlsBrokerTests(TlsBrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-tls-");

    [Fact]
    public async Task The_worker_and_cli_embed_work_over_tls_with_the_ca_file()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("tls");
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["RabbitMq:CaFile"] = broker.CaFile });
        await using var results = await ResultCollector.StartAsync(url, caFile: broker.CaFile);

        await results.PublishAsync(ResultCollector.Request("over-tls", "a request that crossed a TLS connection"));
        Assert.True((await results.WaitForAsync("over-tls", Patience)).IsCompleted);

        var input = Path.Combine(_work.FullName, "in.jsonl");
        await File.WriteAllLinesAsync(input, Enumerable.Range(0, 12).Select(i => JsonSerializer.Serialize(new { id = $"doc-{i}", text = $"text number {i} sent over TLS" })));
        var outFile = Path.Combine(_work.FullName, "out.jsonl");
        var run = await CliRunner.RunAsync(output, "embed", input, "--out", outFile, "--url", url, "--ca-file", broker.CaFile);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(12, File.ReadAllLines(outFile).Length);
        // Every connection of this virtual host is TLS: the worker's (MassTransit's, the queue-depth poller's) and the clients'.
        using var management = broker.Management();
        var connections = (await management.WaitForConnectionsAsync(all => all.Any(c => c.Vhost == vhost && c.Name.Contains("akidb-queue-worker", StringComparison.Ordinal)), Patience))
            .Where(c => c.Vhost == vhost).ToList();
        Assert.Contains(connections, c => c.Name.Contains("akidb-queue-worker", StringComparison.Ordinal));
        Assert.All(connections, c => Assert.True(c.Tls, c.Name));
    }

    /// <summary>
    /// A node that freezes (a long GC pause, a paused VM) keeps its TCP connections open and silent. Under TLS the worker
    /// sees only encrypted bytes stop, so silence is judged below TLS, on the socket: the node is given up within the
    /// heartbeat's bounds, and once it thaws the worker reconnects and answers every request. Duplicates are allowed
    /// (a result whose acknowledgement died with the connection), losses are not.
    /// </summary>
    [Fact]
    public async Task A_frozen_tls_broker_is_given_up_and_every_request_is_answered_once_it_thaws()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("tls-freeze");
        await using var results = await ResultCollector.StartAsync(url, durableQueue: "tls-freeze-results", caFile: broker.CaFile);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["RabbitMq:CaFile"] = broker.CaFile, ["RabbitMq:Heartbeat"] = "00:00:05" });
        var ids = await Reliability.BridgeFaultTests.PublishLoadAsync(results, "tls-freeze", 120);
        Assert.True(await results.WaitForAsync(10, Patience), "no results before the freeze");

        var beam = broker.BeamPid ?? throw new InvalidOperationException("the TLS broker's pid file is missing");
        Signals.Send(beam, Signals.Stop);
        try
        {
            using var frozen = new CancellationTokenSource(Patience);
            while (!worker.LogContains("up broker node 127.0.0.1"))
            {
                Assert.False(frozen.IsCancellationRequested, "the worker never gave up the frozen TLS node");
                await Task.Delay(100, CancellationToken.None);
            }
        }
        finally
        {
            Signals.Send(beam, Signals.Cont);
        }

        output.WriteLine(worker.Logs.Entries.First(e => e.Message.Contains("up broker node 127.0.0.1", StringComparison.Ordinal)).Message);

        using var deadline = new CancellationTokenSource(Patience);
        while (results.Results.Select(r => r.RequestId).Distinct().Count() < ids.Count && !deadline.IsCancellationRequested)
        {
            await results.WaitForAsync(results.Results.Count + 1, TimeSpan.FromSeconds(10));
        }

        var outcome = ReliabilityReport.Count(ids, results.Results);
        output.WriteLine(outcome.ToString());
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(ids.Count, outcome.Completed);
    }

    [Fact]
    public async Task A_certificate_signed_by_another_ca_is_refused_in_one_line_and_nothing_consumes()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("untrusted");

        var run = await HygieneWorkerRun.RunAsync(new Dictionary<string, string?> { ["RabbitMq:Url"] = url, ["RabbitMq:CaFile"] = broker.UntrustedCaFile });
        output.WriteLine($"exit {run.ExitCode}\n{run.Output}");

        Assert.Equal(1, run.ExitCode);
        var line = Assert.Single(run.Lines, l => l.StartsWith("AkiDb.Queue worker failed to start:", StringComparison.Ordinal));
        Assert.Contains($"TLS to the broker at amqps://guest:***@127.0.0.1:{broker.Port}/", line, StringComparison.Ordinal);
        Assert.Contains("is not signed by the CA in RabbitMq:CaFile", line, StringComparison.Ordinal);
        Assert.DoesNotContain("guest:guest", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(run.Lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        using var management = broker.Management();
        Assert.Null(await management.GetQueueAsync(vhost, "embed-requested"));

        // The CLI without the CA: the platform store does not know it either. One line, non-zero.
        var status = await CliRunner.RunAsync(output, "status", "--url", url, "--seconds", "1");
        Assert.NotEqual(0, status.ExitCode);
        var said = status.StandardOutput + status.StandardError;
        Assert.Single(said.Split('\n'), l => l.StartsWith("Error:", StringComparison.Ordinal));
        // The console wraps the line at its width: compared without whitespace.
        var compact = string.Concat(said.Where(c => !char.IsWhiteSpace(c)));
        Assert.Contains("isnottrusted", compact, StringComparison.Ordinal);
        Assert.Contains("--ca-file(RabbitMq__CaFile)", compact, StringComparison.Ordinal);
        Assert.DoesNotContain(said.Split('\n'), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mutual_tls_logs_in_with_the_client_certificate()
    {
        var (vhost, _) = await broker.CreateVirtualHostAsync("mtls");
        var user = $"akidb-cert-{Guid.NewGuid():N}"[..20];
        using var management = broker.Management();
        await management.CreateUserAsync(user, password: null, vhost);
        var (certificate, key) = await broker.Authority.IssueClientAsync(user);
        var url = broker.UrlFor(vhost, userInfo: null);

        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["RabbitMq:CaFile"] = broker.CaFile,
            ["RabbitMq:ClientCertificateFile"] = certificate,
            ["RabbitMq:ClientKeyFile"] = key,
        });
        await using var results = await ResultCollector.StartAsync(broker.UrlFor(vhost), caFile: broker.CaFile);
        await results.PublishAsync(ResultCollector.Request("mtls-1", "a worker that logged in with its certificate"));

        Assert.True((await results.WaitForAsync("mtls-1", Patience)).IsCompleted);
        var all = await management.WaitForConnectionsAsync(all => all.Any(c => c.Vhost == vhost && c.User == user), Patience);
        output.WriteLine(string.Join('\n', all));
        var workerConnections = all.Where(c => c.Vhost == vhost && c.User == user).ToList();
        Assert.NotEmpty(workerConnections);
        Assert.All(workerConnections, c => Assert.Equal("EXTERNAL", c.AuthMechanism));
    }

    public void Dispose() => _work.Delete(recursive: true);
}
