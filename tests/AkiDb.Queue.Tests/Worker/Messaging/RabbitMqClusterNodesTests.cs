using System.ComponentModel.DataAnnotations;
using AkiDb.Queue.Broker;
using AkiDb.Queue.Cli.Broker;
using AkiDb.Queue.Worker.Messaging;

namespace AkiDb.Queue.Tests;

public sealed class RabbitMqClusterNodesTests
{
    [Fact]
    public void Nodes_are_read_in_order_and_a_missing_port_takes_the_urls()
    {
        var nodes = RabbitMqClusterNodes.Parse(" rabbit-1:5673, rabbit-2 ,10.0.0.3:5675", defaultPort: 5999);

        Assert.Equal(["rabbit-1:5673", "rabbit-2:5999", "10.0.0.3:5675"], nodes.Select(n => $"{n.HostName}:{n.Port}"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("a:1,b:2,c:65535")]
    public void Empty_and_well_formed_lists_are_valid(string? nodes) => Assert.Null(RabbitMqClusterNodes.Validate(nodes));

    [Theory]
    [InlineData("rabbit-1:notaport")]
    [InlineData("rabbit-1:0")]
    [InlineData("rabbit-1:70000")]
    [InlineData("rabbit-1:")]
    [InlineData("amqp://rabbit-1:5672")]
    [InlineData("user@rabbit-1:5672")]
    [InlineData("rabbit 1:5672")]
    [InlineData("[::1]:5672")]
    [InlineData("rabbit-1:5672:1")]
    [InlineData("rabbit-1:5672,bad host:1")]
    public void A_malformed_entry_is_rejected_with_a_message_that_names_the_key_and_the_entry(string nodes)
    {
        var error = RabbitMqClusterNodes.Validate(nodes);

        Assert.NotNull(error);
        Assert.StartsWith("RabbitMq:ClusterNodes entry '", error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => RabbitMqClusterNodes.Parse(nodes));
    }

    [Fact]
    public void A_very_long_entry_is_shown_cut_short_and_too_many_nodes_are_refused()
    {
        var longEntry = new string('a', 300) + ":5672";

        Assert.True(RabbitMqClusterNodes.Validate(longEntry)!.Length < 200);
        Assert.Contains("at most 64", RabbitMqClusterNodes.Validate(string.Join(',', Enumerable.Range(1, 65).Select(i => $"n{i}:5672"))), StringComparison.Ordinal);
    }

    [Fact]
    public void The_worker_options_fail_validation_naming_the_key()
    {
        var options = new RabbitMqOptions { ClusterNodes = "rabbit-1:5672,rabbit-2:x" };
        var results = new List<ValidationResult>();

        Assert.False(Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true));
        Assert.Contains(results, r => r.ErrorMessage!.Contains("RabbitMq:ClusterNodes entry 'rabbit-2:x'", StringComparison.Ordinal));
    }

    [Fact]
    public void The_cli_reads_the_same_lists_and_names_its_option_on_a_bad_entry()
    {
        var key = BrokerSettings.Key(nameof(BrokerConnectionSettings.ClusterNodes));
        Assert.Equal(["a:5673", "b:5672"], BrokerClusterNodes.Parse("a:5673, b", 5672, key).Select(n => $"{n.Host}:{n.Port}"));
        Assert.Empty(BrokerClusterNodes.Parse(null, 5672, key));
        Assert.Contains("--cluster-nodes (RabbitMq__ClusterNodes) entry 'b:nope'", BrokerClusterNodes.Validate("a:5673,b:nope", key), StringComparison.Ordinal);
    }
}

public sealed class RabbitMqQueueTypesTests
{
    [Fact]
    public void A_queue_declared_with_RabbitMQ_Client_gets_the_configured_type()
    {
        Assert.Equal(new Dictionary<string, object?> { ["x-queue-type"] = "quorum" }, RabbitMqQueueTypes.QueueArguments(new RabbitMqOptions { QueueType = QueueType.Quorum }));
        Assert.Empty(RabbitMqQueueTypes.QueueArguments(new RabbitMqOptions { QueueType = QueueType.Classic }));
    }
}
