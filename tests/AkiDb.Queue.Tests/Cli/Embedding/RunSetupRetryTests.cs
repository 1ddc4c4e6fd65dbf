using AkiDb.Queue.Cli.Embedding;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Tests;

/// <summary>
/// Which failures of `embed`'s broker set-up are started again (a broker that did not answer in time, a connection it
/// closed under the set-up) and which end the run at once (a missing queue, a refused permission: retrying cannot help).
/// </summary>
public sealed class RunSetupRetryTests
{
    private static OperationInterruptedException Closed(ushort code, string text) =>
        new(new ShutdownEventArgs(ShutdownInitiator.Peer, code, text));

    [Fact]
    public void A_broker_operation_that_timed_out_is_started_again()
    {
        Assert.True(RunConnection.IsBrokerStall(new TaskCanceledException("A task was canceled.")));
        Assert.True(RunConnection.IsBrokerStall(new TimeoutException()));
    }

    [Fact]
    public void A_connection_the_broker_closed_under_the_set_up_is_started_again()
    {
        Assert.True(RunConnection.IsBrokerStall(Closed(320, "CONNECTION_FORCED - node is pausing")));
        Assert.True(RunConnection.IsBrokerStall(new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Library, 541, "missed heartbeats"))));
    }

    [Theory]
    [InlineData(404, "NOT_FOUND - no queue 'embed-requested'")]
    [InlineData(403, "ACCESS_REFUSED - configure access to queue refused")]
    [InlineData(406, "PRECONDITION_FAILED - inequivalent arg 'durable'")]
    [InlineData(530, "NOT_ALLOWED - vhost not found")]
    public void A_refusal_ends_the_run_at_once(ushort code, string text)
    {
        Assert.False(RunConnection.IsBrokerStall(Closed(code, text)));
    }

    [Fact]
    public void Anything_else_ends_the_run_at_once()
    {
        Assert.False(RunConnection.IsBrokerStall(new InvalidOperationException("Queue 'x' does not exist on this broker")));
    }
}
