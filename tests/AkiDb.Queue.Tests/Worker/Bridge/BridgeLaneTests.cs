using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Tests.Bridge;

/// <summary>The lane's supervision (start, restart, backoff, deadlines, pings, shutdown) over fake connections.</summary>
public sealed class BridgeLaneTests
{
    private static readonly BridgeExit Crashed = new(1, null, "Traceback: boom");

    [Fact]
    public async Task A_lane_is_ready_after_the_handshake_and_runs_a_batch_on_its_process()
    {
        await using var harness = new LaneHarness();
        await harness.StartAsync();

        var output = await harness.Lane.RunAsync(LaneHarness.Model, LaneHarness.Batch(3), CancellationToken.None);

        Assert.True(harness.Lane.IsReady);
        Assert.Equal(1000, harness.Lane.ProcessId);
        Assert.Equal(3 * FakeBridgeConnection.Dim, output.Vectors.Length);
        Assert.Equal("CPU", output.ExecutionProvider);
    }

    [Fact]
    public async Task A_process_that_ends_is_replaced_after_a_backoff_and_its_recovery_is_recorded()
    {
        await using var harness = new LaneHarness();
        await harness.StartAsync();

        harness.Started[0].End(Crashed);
        await harness.WaitForAsync(l => l.Restarts == 1 && l.IsReady);

        Assert.Equal(2, harness.Started.Count);
        Assert.Equal(1001, harness.Lane.ProcessId);
        Assert.NotNull(harness.Lane.LastRecovery);
        Assert.Contains(harness.States, s => s is LaneBackingOff);
    }

    [Fact]
    public async Task Failed_starts_count_up_with_a_doubling_capped_backoff_and_reset_on_the_first_good_start()
    {
        var starts = 0;
        await using var harness = new LaneHarness(prepare: c =>
        {
            if (++starts <= 4)
            {
                c.Answer = type => type == "init" ? new BridgeReply { Type = BridgeReplyType.Error, Code = "no_numpy", Message = "numpy is missing" } : null;
            }
        });

        var first = await Assert.ThrowsAsync<InvalidOperationException>(harness.StartAsync);
        await harness.WaitForAsync(l => l.IsReady);

        Assert.Contains("numpy is missing", first.Message);
        Assert.Equal(5, harness.Started.Count);
        Assert.Equal(0, harness.Lane.ConsecutiveStartFailures);
        Assert.Equal(0, harness.Lane.Restarts);
        var backoffs = harness.States.OfType<LaneBackingOff>().ToList();
        Assert.Equal([1, 2, 3, 4], backoffs.Select(b => b.Counters.ConsecutiveStartFailures));
        Assert.Equal([1, 2, 4, 4], backoffs.Select(b => b.Delay.TotalMilliseconds));
    }

    [Fact]
    public async Task A_batch_on_a_lane_with_no_ready_process_is_returned_as_unavailable_not_as_failed()
    {
        await using var harness = new LaneHarness(prepare: c => c.Answer = type => type == "init" ? new BridgeReply { Type = BridgeReplyType.Error, Code = "x", Message = "no" } : null);
        await Assert.ThrowsAsync<InvalidOperationException>(harness.StartAsync);

        await Assert.ThrowsAsync<LaneUnavailableException>(() => harness.Lane.RunAsync(LaneHarness.Model, LaneHarness.Batch(1), CancellationToken.None));
    }

    [Fact]
    public async Task A_missed_deadline_kills_the_process_fails_the_batch_as_a_timeout_and_the_lane_restarts()
    {
        await using var harness = new LaneHarness(prepare: c => c.Silent.Add("embed"));
        await harness.StartAsync();

        var error = await Assert.ThrowsAsync<BatchFailedException>(() => harness.Lane.RunAsync(LaneHarness.Model, LaneHarness.Batch(2), CancellationToken.None));
        await harness.WaitForAsync(l => l.Restarts == 1 && l.IsReady);

        Assert.Equal(BatchFailureReason.Timeout, error.Reason);
        Assert.Equal("timeout", error.Reason.Tag());
        Assert.Contains("50 ms request deadline", harness.Started[0].KillReason);
    }

    [Fact]
    public async Task A_deadline_that_passed_while_the_worker_was_frozen_is_not_charged_to_the_bridge()
    {
        var clock = new FrozenClock();
        await using var harness = new LaneHarness(clock: clock, prepare: c => c.Silent.Add("embed"));
        await harness.StartAsync();
        var bridge = harness.Started[0];

        var baseline = clock.Readings;
        var run = harness.Lane.RunAsync(LaneHarness.Model, LaneHarness.Batch(2), CancellationToken.None);
        var id = await bridge.EmbedSent;
        // Read at the start, before the first wait, and again after the 50 ms wall-clock wait ran out: the deadline has
        // passed on the wall clock but not on the (frozen) running clock. Only now does the reply arrive.
        await clock.WhenReadAsync(baseline + 3);
        bridge.Reply(FakeBridgeConnection.Default.Result(2) with { Id = id }, rows: 2);
        var output = await run;

        Assert.Equal(2 * FakeBridgeConnection.Dim, output.Vectors.Length);
        Assert.Null(bridge.KillReason);
        Assert.Equal(0, harness.Lane.Restarts);
        Assert.Single(harness.Started);
    }

    [Fact]
    public async Task An_idle_process_that_answers_a_ping_wrongly_is_killed_and_replaced()
    {
        var starts = 0;
        await using var harness = new LaneHarness(
            o => o.PingInterval = TimeSpan.FromMilliseconds(20),
            prepare: c => c.Answer = type => type == "ping" && ++starts == 1 ? new BridgeReply { Type = BridgeReplyType.Error, Code = "x" } : null);
        await harness.StartAsync();

        await harness.WaitForAsync(l => l.Restarts == 1 && l.IsReady);

        Assert.Equal("answered a ping with 'error'", harness.Started[0].KillReason);
    }

    [Fact]
    public async Task An_idle_process_that_misses_its_ping_is_killed_and_replaced()
    {
        var starts = 0;
        await using var harness = new LaneHarness(
            o => (o.PingInterval, o.PingTimeout) = (TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20)),
            prepare: c =>
            {
                if (++starts == 1)
                {
                    c.Silent.Add("ping");
                }
            });
        await harness.StartAsync();

        await harness.WaitForAsync(l => l.Restarts == 1 && l.IsReady);

        Assert.Contains("20 ms request deadline", harness.Started[0].KillReason);
    }

    [Fact]
    public async Task A_process_that_ends_after_shutdown_began_is_not_restarted()
    {
        await using var harness = new LaneHarness();
        await harness.StartAsync();

        await harness.Shutdown.CancelAsync();
        harness.Started[0].End(new BridgeExit(143, null, ""));
        await harness.WaitForAsync(l => l.State is LaneStopped);
        await harness.Lane.StopAsync();

        Assert.Single(harness.Started);
        Assert.Equal(0, harness.Lane.Restarts);
        Assert.False(harness.Lane.IsReady);
        Assert.DoesNotContain(harness.States, s => s is LaneBackingOff);
    }
}
