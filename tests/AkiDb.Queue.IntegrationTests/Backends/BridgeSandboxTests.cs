using System.Text.RegularExpressions;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Backends;

/// <summary>
/// The real bridge process as the worker starts it: no new privileges, the network filter, its resource limits, and
/// the worker says so. (That code under these restrictions cannot open a TCP socket is python/tests/test_sandbox.py.)
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class BridgeSandboxTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_bridge_runs_without_new_privileges_network_or_unbounded_resources_and_still_answers()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("sandbox");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["Bridge:Processes"] = "1",
            ["Bridge:Sandbox:MaxOpenFiles"] = "200",
        });
        var lane = worker.BridgeLanes[0];
        await lane.WaitUntilReadyAsync(new CancellationTokenSource(Patience).Token);
        var pid = lane.ProcessId!.Value;

        var status = await File.ReadAllTextAsync($"/proc/{pid}/status");
        var limits = await File.ReadAllTextAsync($"/proc/{pid}/limits");
        output.WriteLine(limits);
        Assert.Matches(@"NoNewPrivs:\s+1\n", status);
        Assert.Matches(@"Seccomp:\s+2\n", status); // a filter (mode 2) is installed
        var addressSpace = 16_384L * 1024 * 1024;
        Assert.Matches(new Regex($@"Max address space\s+{addressSpace}\s+{addressSpace}\s"), limits);
        Assert.Matches(new Regex(@"Max open files\s+200\s+200\s"), limits);
        // The environment stays scrubbed: nothing of the broker's or the cache's settings.
        var environment = (await File.ReadAllTextAsync($"/proc/{pid}/environ")).Split('\0');
        Assert.DoesNotContain(environment, e => e.StartsWith("RabbitMq", StringComparison.OrdinalIgnoreCase) || e.StartsWith("Cache", StringComparison.OrdinalIgnoreCase));

        Assert.True(worker.LogContains("sandbox: no new privileges, unix sockets only (seccomp), address space <= 16384 MiB, <= 200 open files"),
            string.Join('\n', worker.Logs.Entries.Select(e => e.Message).Where(m => m.Contains("ready", StringComparison.Ordinal))));
        Assert.DoesNotContain(worker.Logs.Entries, e => e.Message.Contains("sandbox part", StringComparison.Ordinal));
        Assert.Contains("sandbox: no new privileges", worker.Backend.Describe(), StringComparison.Ordinal);

        await results.PublishAsync(ResultCollector.Request("sandboxed", "Still answers inside the sandbox."));
        Assert.True((await results.WaitForAsync("sandboxed", Patience)).IsCompleted);
    }

    [Fact]
    public async Task With_the_sandbox_off_the_worker_says_so_and_the_bridge_is_unrestricted()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("sandbox-off");
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["Bridge:Processes"] = "1",
            ["Bridge:Sandbox:Enabled"] = "false",
        });
        var lane = worker.BridgeLanes[0];
        await lane.WaitUntilReadyAsync(new CancellationTokenSource(Patience).Token);

        Assert.Matches(@"Seccomp:\s+0\n", await File.ReadAllTextAsync($"/proc/{lane.ProcessId!.Value}/status"));
        Assert.True(worker.LogContains("sandbox: off (Bridge:Sandbox:Enabled is false)"));
        Assert.Contains("no sandbox", worker.Backend.Describe(), StringComparison.Ordinal);
    }
}
