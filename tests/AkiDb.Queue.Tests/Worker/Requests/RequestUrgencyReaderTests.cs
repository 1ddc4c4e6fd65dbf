using AkiDb.Queue.Contracts;
using AkiDb.Queue.Worker.Batching;
using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Requests;

namespace AkiDb.Queue.Tests;

public sealed class RequestUrgencyReaderTests
{
    private static readonly DateTimeOffset Arrived = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(null, null, RequestPriority.Normal)]
    [InlineData("high", null, RequestPriority.Interactive)]
    [InlineData("HIGH", null, RequestPriority.Interactive)]
    [InlineData("normal", null, RequestPriority.Normal)]
    [InlineData("low", null, RequestPriority.Background)]
    [InlineData(null, (byte)9, RequestPriority.Interactive)]
    [InlineData(null, (byte)7, RequestPriority.Interactive)]
    [InlineData(null, (byte)6, RequestPriority.Normal)]
    [InlineData(null, (byte)3, RequestPriority.Normal)]
    [InlineData(null, (byte)2, RequestPriority.Background)]
    [InlineData(null, (byte)0, RequestPriority.Background)]
    [InlineData(null, (byte)255, RequestPriority.Interactive)]
    [InlineData("low", (byte)9, RequestPriority.Background)]
    [InlineData("high", (byte)0, RequestPriority.Interactive)]
    public void The_class_comes_from_the_json_field_else_the_amqp_priority(string? field, byte? amqp, RequestPriority expected)
    {
        Assert.Null(RequestUrgencyReader.TryRead(new EmbedRequested { Priority = field }, amqp, null, Arrived, out var urgency));
        Assert.Equal(expected, urgency.Priority);
        Assert.Null(urgency.Deadline);
    }

    [Fact]
    public void An_unknown_priority_is_refused_with_a_bounded_reason()
    {
        var reason = RequestUrgencyReader.TryRead(new EmbedRequested { Priority = "urgent" + new string('!', 500) }, null, null, Arrived, out _);

        Assert.NotNull(reason);
        Assert.Contains("'high', 'normal' or 'low'", reason, StringComparison.Ordinal);
        Assert.True(reason.Length < 120, reason);
    }

    [Fact]
    public void The_amqp_expiration_counts_from_arrival_and_the_earlier_deadline_wins()
    {
        RequestUrgencyReader.TryRead(new EmbedRequested(), null, "1500", Arrived, out var fromTtl);
        RequestUrgencyReader.TryRead(new EmbedRequested { ExpiresAt = Arrived.AddSeconds(1) }, null, "1500", Arrived, out var fieldEarlier);
        RequestUrgencyReader.TryRead(new EmbedRequested { ExpiresAt = Arrived.AddSeconds(9) }, null, "1500", Arrived, out var ttlEarlier);

        Assert.Equal(Arrived.AddMilliseconds(1500), fromTtl.Deadline);
        Assert.Equal(Arrived.AddSeconds(1), fieldEarlier.Deadline);
        Assert.Equal(Arrived.AddMilliseconds(1500), ttlEarlier.Deadline);
    }

    [Theory]
    [InlineData("-5")]
    [InlineData("soon")]
    [InlineData("99999999999999999999")]
    [InlineData("")]
    public void An_expiration_that_is_not_a_millisecond_count_is_ignored(string expiration)
    {
        Assert.Null(RequestUrgencyReader.TryRead(new EmbedRequested(), null, expiration, Arrived, out var urgency));
        Assert.Null(urgency.Deadline);
    }

    [Fact]
    public void A_deadline_in_the_past_is_expired_and_one_in_the_future_is_not()
    {
        Assert.True(new RequestUrgency(RequestPriority.Normal, Arrived).IsExpired(Arrived));
        Assert.False(new RequestUrgency(RequestPriority.Normal, Arrived.AddTicks(1)).IsExpired(Arrived));
        Assert.False(RequestUrgency.Default.IsExpired(DateTimeOffset.MaxValue));
    }
}
