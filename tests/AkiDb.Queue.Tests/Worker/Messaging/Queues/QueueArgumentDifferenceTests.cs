using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Messaging.Edges;
using AkiDb.Queue.Worker.Messaging.Queues;

namespace AkiDb.Queue.Tests;

public sealed class QueueArgumentDifferenceTests
{
    [Fact]
    public void A_missing_argument_is_read_from_the_brokers_reply()
    {
        var difference = QueueArgumentDifference.Parse(
            "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'embed-requested_error' in vhost 'v': received the value '10000' of type 'signedint' but current is none");

        Assert.Equal(new QueueArgumentDifference("x-max-length", "10000", null), difference);
        Assert.Contains("x-max-length: the worker declares '10000', the existing queue has none", difference!.Describe(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("received none but current is the value '5' of type 'signedint'", "x-max-priority", 5)]
    [InlineData("received the value '10' of type 'signedint' but current is the value '7' of type 'long'", "x-max-priority", 7L)]
    [InlineData("received the value 'a' of type 'longstr' but current is the value 'b' of type 'longstr'", "x-max-priority", "b")]
    public void The_current_value_keeps_its_amqp_type(string tail, string argument, object current)
    {
        var difference = QueueArgumentDifference.Parse($"PRECONDITION_FAILED - inequivalent arg '{argument}' for queue 'q' in vhost '/': {tail}");

        Assert.Equal(current, difference!.Current);
        Assert.Equal(current.GetType(), difference.Current!.GetType());
    }

    [Fact]
    public void Durability_and_other_replies_are_recognised_or_left_alone()
    {
        Assert.Equal("durable", QueueArgumentDifference.Parse("PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'")!.Argument);
        Assert.Null(QueueArgumentDifference.Parse("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q' in vhost '/'"));
        Assert.Null(QueueArgumentDifference.Parse("PRECONDITION_FAILED - inequivalent arg 'x-foo' for queue 'q' in vhost '/': received none but current is the value '[]' of type 'array'"));
    }

    [Fact]
    public void The_expected_arguments_are_those_the_worker_declares()
    {
        var queues = ExpectedQueue.All(new RabbitMqOptions(), new ResultsOptions()).ToDictionary(q => q.Role);

        Assert.Equal(new Dictionary<string, object?> { ["x-max-priority"] = 10, ["x-dead-letter-exchange"] = "embed-requested-expired" }, queues[QueueRole.Input].Arguments);
        Assert.Equal(new Dictionary<string, object?> { ["x-max-length"] = 10_000, ["x-overflow"] = "drop-head" }, queues[QueueRole.Error].Arguments);
        Assert.Empty(queues[QueueRole.Expired].Arguments);
        Assert.Equal(ParkingQueueDeclarer.Arguments(new ResultsOptions()), queues[QueueRole.Parking].Arguments);
        Assert.True(queues[QueueRole.Error].UsableAsItIs);
        Assert.False(queues[QueueRole.Input].UsableAsItIs);
    }
}
