using System.Diagnostics;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Reliability;

/// <summary>
/// The bridge fails in the ways Python bridges fail: killed, hung, writing garbage, closing its stdout, crashing on
/// one input every time, or unable to start at all. Every message still gets exactly one outcome.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class BridgeFaultTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Repeated_kill_9_of_the_bridge_under_load_loses_nothing()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("kills");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);
        var ids = await PublishLoadAsync(results, "kill", 500);

        var recoveries = new List<double>();
        var kills = 0;
        foreach (var threshold in new[] { 60, 140, 220, 300, 380 })
        {
            Assert.True(await results.WaitForAsync(threshold, Patience), $"stalled before {threshold} results");
            // Every lane of the pool takes its turn.
            var lane = worker.BridgeLanes[kills++ % worker.BridgeLanes.Count];
            await lane.WaitUntilReadyAsync(new CancellationTokenSource(Patience).Token);
            var restartsBefore = lane.Restarts;
            Signals.Send(lane.ProcessId!.Value, Signals.Kill);
            await WaitUntilAsync(() => lane.Restarts > restartsBefore && lane.IsReady);
            recoveries.Add(lane.LastRecovery!.Value.TotalMilliseconds);
        }

        Assert.True(await results.WaitForAsync(500, Patience), $"{results.Results.Count} of 500 results");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.All(results.Failed, f => Assert.False(string.IsNullOrEmpty(f.Code)));

        // Healthy afterwards: a fresh request is answered.
        await results.PublishAsync(ResultCollector.Request("after-kills", "still working?"));
        Assert.True((await results.WaitForAsync("after-kills", Patience)).IsCompleted);

        recoveries.Sort();
        ReliabilityReport.Record("bridge killed", $"`kill -9` of a bridge process 5 times during 500 messages (pool of {worker.BridgeLanes.Count}, each in turn)", outcome,
            $"median {recoveries[2]:F0} ms (min {recoveries[0]:F0}, max {recoveries[^1]:F0}) from exit to ready",
            "./test.sh --filter FullyQualifiedName~Repeated_kill_9");
        output.WriteLine($"{outcome}; recoveries {string.Join(", ", recoveries.Select(r => r.ToString("F0")))} ms");
    }

    [Fact]
    public async Task A_hung_bridge_is_detected_by_its_deadline_killed_and_restarted()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("hang");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["Bridge:Processes"] = "1",
            ["Bridge:DeadlineBase"] = "00:00:02",
            ["Bridge:DeadlinePerText"] = "00:00:00.100",
            ["Bridge:MaxDeadline"] = "00:00:06",
        });
        var ids = await PublishLoadAsync(results, "hang", 300);

        Assert.True(await results.WaitForAsync(60, Patience));
        var lane = worker.BridgeLanes[0];
        var stopped = lane.ProcessId!.Value;
        var clock = Stopwatch.StartNew();
        Signals.Send(stopped, Signals.Stop);
        await WaitUntilAsync(() => lane.Restarts >= 1 && lane.IsReady);
        var detectedAndRecovered = clock.Elapsed;

        Assert.True(await results.WaitForAsync(300, Patience), $"{results.Results.Count} of 300 results");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.False(Signals.IsAlive(stopped), "the stopped bridge was not killed");
        Assert.True(worker.LogContains("deadline"), "the hang was not reported as a missed deadline");

        ReliabilityReport.Record("bridge hung", "`SIGSTOP` of the bridge mid-load (300 messages), batch deadline 2 s + 100 ms/text", outcome,
            $"{detectedAndRecovered.TotalMilliseconds:F0} ms from SIGSTOP to a new bridge ready (deadline, kill, restart)",
            "./test.sh --filter FullyQualifiedName~A_hung_bridge");
    }

    [Fact]
    public async Task An_idle_hung_bridge_fails_its_ping_and_is_replaced()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("ping");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, new Dictionary<string, string?>
        {
            ["Bridge:Processes"] = "1",
            ["Bridge:PingInterval"] = "00:00:00.500",
            ["Bridge:PingTimeout"] = "00:00:01",
        });
        var lane = worker.BridgeLanes[0];
        var stopped = lane.ProcessId!.Value;

        Signals.Send(stopped, Signals.Stop);
        await WaitUntilAsync(() => lane.Restarts >= 1 && lane.IsReady);

        Assert.False(Signals.IsAlive(stopped));
        Assert.True(worker.LogContains("failed its idle health check"));
        await results.PublishAsync(ResultCollector.Request("after-ping", "hello"));
        Assert.True((await results.WaitForAsync("after-ping", Patience)).IsCompleted);
    }

    [Theory]
    [InlineData("garbage", "writes bytes that are not a frame")]
    [InlineData("close_stdout", "closes its stdout and keeps running")]
    [InlineData("exit", "exits with code 9 mid-request")]
    public async Task A_bridge_that_breaks_the_protocol_once_is_replaced_and_every_message_is_answered(string fault, string description)
    {
        var (_, url) = await broker.CreateVirtualHostAsync("proto");
        var onceDir = Directory.CreateTempSubdirectory("akidb-fault-once-").FullName;
        var trigger = TestModel.TokenOf("zebra");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, FaultBridge($"{fault}={trigger}", onceDir));

        var ids = await PublishLoadAsync(results, fault, 100, triggerAt: 50, triggerWord: "zebra");

        Assert.True(await results.WaitForAsync(100, Patience), $"{results.Results.Count} of 100 results");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(100, outcome.Completed); // the fault fired once; the retry succeeded
        // Any lane of the pool may have drawn the trigger, and another lane may have answered the retried batch before
        // the faulty one is back: wait for the replacement rather than assume it is done.
        await WaitUntilAsync(() => worker.BridgeLanes.Any(l => l.Restarts >= 1 && l.LastRecovery is not null));
        var replaced = worker.BridgeLanes.Single(l => l.Restarts >= 1);
        Assert.Equal(1, replaced.Restarts);
        ReliabilityReport.Record($"bridge output: {fault}", $"the bridge {description} (fault bridge, once) during 100 messages", outcome,
            $"{replaced.LastRecovery?.TotalMilliseconds:F0} ms from exit to ready",
            $"./test.sh --filter \"FullyQualifiedName~breaks_the_protocol_once&DisplayName~{fault}\"");
    }

    [Fact]
    public async Task A_message_that_kills_the_bridge_every_time_ends_in_EmbedFailed_and_the_error_queue_and_no_one_else_suffers()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("poison");
        var trigger = TestModel.TokenOf("zebra");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url, FaultBridge($"kill={trigger}", onceDir: null));

        var ids = await PublishLoadAsync(results, "poison", 80, triggerAt: -1, triggerWord: null);
        // The poison shares its message with good texts, and the burst around it shares its batches.
        await results.PublishAsync(ResultCollector.Request("poison-carrier", "a harmless first text", "the zebra sinks the bridge", "a harmless last text"));
        ids.Add("poison-carrier");
        ids.AddRange(await PublishLoadAsync(results, "poison-after", 40, triggerAt: -1, triggerWord: null));

        Assert.True(await results.WaitForAsync(ids.Count, Patience), $"{results.Results.Count} of {ids.Count} results");
        Assert.True(await results.WaitForErrorsAsync(1, Patience), "the poison message is not in embed-requested_error");

        var poisoned = results.Results.Single(r => r.RequestId == "poison-carrier");
        Assert.False(poisoned.IsCompleted);
        Assert.Equal("inference_failed", poisoned.Code);
        Assert.Equal(1, poisoned.TextIndex);
        Assert.Contains("poison-carrier", results.Errors.Single().Text, StringComparison.Ordinal);
        Assert.Contains("PoisonTextException", results.Errors.Single().ExceptionType ?? "", StringComparison.Ordinal);

        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(0, outcome.Lost);
        Assert.Equal(ids.Count - 1, outcome.Completed);
        // Bounded: a failing batch of at most 32 is halved at most 5 times, then the text runs alone MaxAttemptsAlone (2) times.
        var restarts = worker.BridgeLanes.Sum(l => l.Restarts);
        Assert.InRange(restarts, 2, 5 + 2);

        ReliabilityReport.Record("poison message", "a text that kills the bridge every time (fault bridge `kill`), inside a 3-text message among 120 others", outcome,
            $"{restarts} bridge restarts to isolate it; EmbedFailed inference_failed + 1 message in embed-requested_error",
            "./test.sh --filter FullyQualifiedName~kills_the_bridge_every_time");
    }

    [Fact]
    public async Task While_no_bridge_can_start_messages_wait_in_the_queue_and_flow_again_when_one_can()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("circuit");
        var gate = Path.Combine(Directory.CreateTempSubdirectory("akidb-gate-").FullName, "open");
        await File.WriteAllTextAsync(gate, "");
        using var management = new ManagementClient(broker.ManagementUrl);
        await using var results = await ResultCollector.StartAsync(url);
        var settings = FaultBridge("", onceDir: null);
        settings["Bridge:Processes"] = "1";
        settings["Bridge:Environment:AKIDB_BRIDGE_GATE_FILE"] = gate;
        settings["Bridge:RestartBackoffInitial"] = "00:00:00.100";
        settings["Bridge:RestartBackoffMax"] = "00:00:00.500";
        await using var worker = await WorkerHost.StartAsync(url, settings);

        File.Delete(gate);
        Signals.Send(worker.BridgeLanes[0].ProcessId!.Value, Signals.Kill);
        await WaitUntilAsync(() => !worker.Backend.IsAvailable);
        var stopped = await management.WaitForQueueAsync(vhost, "embed-requested", q => q.Consumers == 0, Patience);
        Assert.Equal(0, stopped?.Consumers);

        var ids = await PublishLoadAsync(results, "circuit", 20);
        var waiting = await management.WaitForQueueAsync(vhost, "embed-requested", q => q.Ready == 20, Patience);
        Assert.Equal(20, waiting?.Ready);
        Assert.Empty(results.Results);

        await File.WriteAllTextAsync(gate, "");
        Assert.True(await results.WaitForAsync(20, Patience), $"{results.Results.Count} of 20 after the bridge came back");
        var outcome = ReliabilityReport.Count(ids, results.Results);
        Assert.Equal(20, outcome.Completed);
        Assert.True(worker.LogContains("Circuit open"));
        Assert.True(worker.LogContains("Circuit closed"));

        ReliabilityReport.Record("bridge cannot start", "the bridge exits before `ready` on every start (gate file removed) while 20 messages arrive", outcome,
            "consumption stops after 3 failed starts (0 consumers, 20 ready in the queue); resumes at the first successful start",
            "./test.sh --filter FullyQualifiedName~While_no_bridge_can_start");
    }

    private static Dictionary<string, string?> FaultBridge(string faults, string? onceDir)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Bridge:EntryPoint"] = RepoPaths.FaultBridge,
            ["Bridge:Environment:AKIDB_BRIDGE_FAULTS"] = faults,
        };
        if (onceDir is not null)
        {
            settings["Bridge:Environment:AKIDB_BRIDGE_FAULT_ONCE_DIR"] = onceDir;
        }

        return settings;
    }

    /// <summary>Publishes single-text and multi-text requests; the one at <paramref name="triggerAt"/> carries the trigger word.</summary>
    internal static async Task<List<string>> PublishLoadAsync(ResultCollector results, string prefix, int count, int triggerAt = -1, string? triggerWord = null)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var id = $"{prefix}-{i}";
            var text = $"{i}: {Walking.EndToEndTests.Sentences[i % Walking.EndToEndTests.Sentences.Length]}";
            if (i == triggerAt)
            {
                text += $" and a {triggerWord}";
            }

            await results.PublishAsync(i % 5 == 0 ? ResultCollector.Request(id, text, text + " (again, longer this time)") : ResultCollector.Request(id, text));
            ids.Add(id);
        }

        return ids;
    }

    /// <summary>Polls a condition of the worker's own state; the bridge's restarts are what is awaited, not time.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < Patience, "condition not reached in time");
            await Task.Delay(20);
        }
    }
}
