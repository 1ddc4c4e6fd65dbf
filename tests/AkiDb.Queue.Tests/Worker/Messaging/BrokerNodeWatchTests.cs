using AkiDb.Queue.Worker.Messaging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Tests;

/// <summary>The publish-confirm deadline: a confirm that never comes sends the request back to its queue; one that comes is awaited.</summary>
public sealed class BrokerNodeWatchTests
{
    private static BrokerNodeWatch Watch(TimeSpan timeout, BrokerFlowState? flow = null) =>
        new(Options.Create(new RabbitMqOptions { PublishConfirmTimeout = timeout }),
            AkiDb.Queue.Broker.BrokerConnections.Create(new AkiDb.Queue.Broker.BrokerConnectionSettings { Url = "amqp://u:p@rabbit-1/v" }, RabbitMqOptions.Key),
            flow ?? new BrokerFlowState(NullLogger<BrokerFlowState>.Instance),
            NullLogger<BrokerNodeWatch>.Instance);

    [Fact]
    public async Task A_blocked_connection_is_waited_on_not_given_up_and_the_deadline_applies_again_once_it_flows()
    {
        var flow = new BrokerFlowState(NullLogger<BrokerFlowState>.Instance);
        flow.Blocked("low on memory");
        var confirm = new TaskCompletionSource();
        var waiting = Watch(TimeSpan.FromMilliseconds(20), flow).AwaitConfirmAsync(confirm.Task, CancellationToken.None);

        // Many deadlines pass while blocked: the wait goes on (a give-up would have ended it with a cancellation).
        await Assert.ThrowsAsync<TimeoutException>(() => waiting.WaitAsync(TimeSpan.FromMilliseconds(300)));

        flow.Unblocked();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task A_confirm_that_never_comes_ends_in_cancellation_so_the_request_goes_back_to_its_queue()
    {
        var never = new TaskCompletionSource().Task;

        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Watch(TimeSpan.FromMilliseconds(50)).AwaitConfirmAsync(never, CancellationToken.None));

        Assert.Contains("back to its queue", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_confirm_is_awaited_and_its_failure_passes_through()
    {
        var watch = Watch(TimeSpan.FromMinutes(5));
        await watch.AwaitConfirmAsync(Task.CompletedTask, CancellationToken.None);

        await Assert.ThrowsAsync<InvalidOperationException>(() => watch.AwaitConfirmAsync(Task.FromException(new InvalidOperationException("refused")), CancellationToken.None));
    }

    [Fact]
    public async Task With_the_deadline_off_a_late_confirm_is_still_awaited()
    {
        var confirm = new TaskCompletionSource();
        var waiting = Watch(TimeSpan.Zero).AwaitConfirmAsync(confirm.Task, CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        confirm.SetResult();
        await waiting;
    }

    [Fact]
    public void After_a_node_is_given_up_connections_start_with_the_next_one()
    {
        var connections = AkiDb.Queue.Broker.BrokerConnections.Create(
            new AkiDb.Queue.Broker.BrokerConnectionSettings { Url = "amqp://u:p@rabbit-1/v", ClusterNodes = "r1:5672,r2:5672,r3:5672" }, RabbitMqOptions.Key);
        var factory = connections.CreateFactory("test");
        Assert.Equal(["r1", "r2", "r3"], factory.EndpointResolverFactory(null!).All().Select(e => e.HostName));

        connections.GiveUp("r1", 5672);
        Assert.Equal(["r2", "r3", "r1"], connections.CreateFactory("test").EndpointResolverFactory(null!).All().Select(e => e.HostName));

        connections.GiveUp("r3", 5672);
        Assert.Equal(["r1", "r2", "r3"], connections.CreateFactory("test").EndpointResolverFactory(null!).All().Select(e => e.HostName));
    }

    [Fact]
    public async Task Giving_up_before_any_connection_is_known_does_nothing()
    {
        var watch = Watch(TimeSpan.FromSeconds(15));
        await watch.GiveUpAsync("test");
        Assert.Null(watch.CurrentNode);
    }
}
