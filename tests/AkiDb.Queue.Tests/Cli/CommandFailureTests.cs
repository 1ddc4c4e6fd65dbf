using System.Net.Sockets;
using AkiDb.Queue.Cli;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Tests;

public sealed class CommandFailureTests
{
    [Fact]
    public void An_unreachable_broker_names_each_address_and_its_reason_once()
    {
        var refused = new SocketException((int)SocketError.ConnectionRefused);
        var unreachable = new BrokerUnreachableException(new AggregateException(
            new ConnectFailureException("Connection failed, host 10.0.0.1:5672", refused),
            new ConnectFailureException("Connection failed, host 10.0.0.2:5672", refused),
            new ConnectFailureException("Connection failed, host 10.0.0.1:5672", refused)));

        var message = CommandFailure.Describe(unreachable);

        Assert.Equal($"Cannot reach the broker: Connection failed, host 10.0.0.1:5672: {refused.Message}; Connection failed, host 10.0.0.2:5672: {refused.Message}.", message);
    }

    [Fact]
    public void Any_other_failure_is_its_own_message()
    {
        Assert.Equal("Queue 'x' does not exist.", CommandFailure.Describe(new InvalidOperationException("Queue 'x' does not exist.")));
    }

    [Fact]
    public void A_cancellation_after_Ctrl_C_is_an_interruption_and_otherwise_a_failure()
    {
        Assert.Equal(130, CommandFailure.Report(new OperationCanceledException(), interrupted: true));
        Assert.Equal(130, CommandFailure.Report(new InvalidOperationException("wrapped", new TaskCanceledException()), interrupted: true));
        Assert.Equal(1, CommandFailure.Report(new TaskCanceledException(), interrupted: false)); // a timeout, not the user
        Assert.Equal(1, CommandFailure.Report(new InvalidOperationException("no"), interrupted: true));
    }
}
