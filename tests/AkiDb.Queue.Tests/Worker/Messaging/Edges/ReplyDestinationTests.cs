using AkiDb.Queue.Worker.Messaging.Edges;

namespace AkiDb.Queue.Tests;

/// <summary>Where a reply may go, from producer-controlled reply_to and MT-Response-Address values.</summary>
public sealed class ReplyDestinationTests
{
    private static readonly Uri Broker = new("amqp://guest:secret@127.0.0.1:5672/jobs");
    private static readonly string[] Own = ["embed-requested", "embed-requested_error", "embed-requested_skipped", "embed-results-unrouted"];

    [Theory]
    [InlineData("amq.gen-JzTY20BRgKO-HjmUJj0wLg", true)]
    [InlineData("amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyODc5NjQ1OAAAcMgAAAAAAAAAAWWqL2E=", true)]
    [InlineData("my-service.replies", false)]
    public void A_reply_queue_in_reply_to_is_accepted_and_only_a_server_named_one_or_direct_reply_to_counts_as_its_callers_alone(string replyTo, bool callerOnly)
    {
        var decision = ReplyDestination.FromReplyTo(replyTo, Own);

        Assert.Equal(replyTo, decision.Queue);
        Assert.Equal(callerOnly, decision.CallerOnly);
    }

    [Theory]
    [InlineData("amq.x")]
    [InlineData("amq.rabbitmq.reply-to")]
    [InlineData("amq.direct")]
    [InlineData("embed-requested")]
    [InlineData("embed-results-unrouted")]
    [InlineData("bad name")]
    [InlineData("line\r\nbreak")]
    [InlineData("esc\u001b[2J")]
    public void Anything_else_in_reply_to_is_rejected_with_a_reason(string replyTo)
    {
        var decision = ReplyDestination.FromReplyTo(replyTo, Own);

        Assert.Null(decision.Queue);
        Assert.False(string.IsNullOrWhiteSpace(decision.Rejection));
    }

    [Fact]
    public void A_reply_to_longer_than_an_AMQP_short_string_is_rejected() =>
        Assert.Null(ReplyDestination.FromReplyTo(new string('q', 256), Own).Queue);

    [Theory]
    [InlineData("rabbitmq://127.0.0.1:5672/jobs/host_worker_bus_abc?temporary=true", "host_worker_bus_abc")]
    [InlineData("rabbitmq://localhost/jobs/host_worker_bus_abc?durable=false&autodelete=true", "host_worker_bus_abc")]
    public void A_MassTransit_temporary_reply_queue_on_this_broker_and_vhost_is_accepted(string address, string queue)
    {
        var decision = ReplyDestination.FromResponseAddress(new Uri(address), Broker, replyTo: null, Own);

        Assert.Equal(queue, decision.Queue);
        Assert.True(decision.CallerOnly); // temporary: gone with its bus, and nobody else reads it
    }

    [Fact]
    public void A_direct_reply_to_response_address_replies_to_the_token_in_reply_to() =>
        Assert.Equal("amq.rabbitmq.reply-to.abc=", ReplyDestination.FromResponseAddress(
            new Uri("rabbitmq://127.0.0.1/jobs/amq.rabbitmq.reply-to"), Broker, "amq.rabbitmq.reply-to.abc=", Own).Queue);

    [Theory]
    [InlineData("rabbitmq://127.0.0.1:5672/jobs/amq.x")]
    [InlineData("rabbitmq://127.0.0.1:5672/jobs/made-up-durable-queue")]
    [InlineData("rabbitmq://evil.example:5672/jobs/replies?temporary=true")]
    [InlineData("rabbitmq://127.0.0.1:5673/jobs/replies?temporary=true")]
    [InlineData("rabbitmq://127.0.0.1:5672/other/replies?temporary=true")]
    [InlineData("rabbitmq://127.0.0.1:5672/replies?temporary=true")]
    [InlineData("rabbitmq://127.0.0.1:5672/jobs/embed-requested?temporary=true")]
    [InlineData("rabbitmq://127.0.0.1:5672/jobs/amq.rabbitmq.reply-to")]
    [InlineData("http://127.0.0.1:5672/jobs/replies?temporary=true")]
    [InlineData("rabbitmq://127.0.0.1:5672/jobs/a/b?temporary=true")]
    public void A_response_address_for_anything_else_is_rejected(string address)
    {
        var decision = ReplyDestination.FromResponseAddress(new Uri(address), Broker, replyTo: null, Own);

        Assert.Null(decision.Queue);
        Assert.False(string.IsNullOrWhiteSpace(decision.Rejection));
    }

    [Fact]
    public void The_default_exchange_address_keeps_the_bus_host_and_names_the_vhost()
    {
        var bus = new Uri("rabbitmq://127.0.0.1:5672/jobs/host_worker_bus_abc?temporary=true");

        Assert.Equal("rabbitmq://127.0.0.1:5672/jobs/amq.rabbitmq.reply-to", ResultPublisher.DefaultExchangeAddress(bus, "jobs").ToString());
        Assert.Equal("rabbitmq://127.0.0.1:5672/amq.rabbitmq.reply-to", ResultPublisher.DefaultExchangeAddress(new Uri("rabbitmq://127.0.0.1:5672/bus_x"), "/").ToString());
    }
}
