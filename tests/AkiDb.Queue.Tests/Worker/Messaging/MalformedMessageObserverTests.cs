using System.Text;
using AkiDb.Queue.Worker.Messaging;

namespace AkiDb.Queue.Tests;

public sealed class MalformedMessageObserverTests
{
    [Theory]
    [InlineData("""{"requestId":"r1","texts":[1,2]}""", "r1")]
    [InlineData("""{"RequestId":"r2","texts":{"a":1}}""", "r2")]
    [InlineData("""{"texts":[1],"requestId":"r3"}""", "r3")]
    [InlineData("""{"requestid":"r4","texts":"not a list"}""", "r4")]
    [InlineData("""{"requestId":"r5","texts":["a", """, "r5")]
    [InlineData("""{"messageId":"x","message":{"requestId":"r6","texts":[true]}}""", "r6")]
    public void The_request_id_is_read_from_a_body_whatever_else_is_broken(string body, string expected) =>
        Assert.Equal(expected, MalformedMessageObserver.TryReadRequestId(Encoding.UTF8.GetBytes(body), new LimitsOptions().MaxRequestIdLength));

    [Theory]
    [InlineData("hello")]
    [InlineData("")]
    [InlineData("""{"texts":["a"]}""")]
    [InlineData("""{"requestId":17}""")]
    [InlineData("""{"nested":{"requestId":"deep"}}""")]
    [InlineData("""["requestId","r1"]""")]
    public void No_id_is_invented_when_there_is_none_at_the_top_level(string body) =>
        Assert.Null(MalformedMessageObserver.TryReadRequestId(Encoding.UTF8.GetBytes(body), new LimitsOptions().MaxRequestIdLength));

    [Fact]
    public void Deep_nesting_does_not_overflow_and_yields_what_came_before_it()
    {
        var body = """{"requestId":"r7","x":""" + new string('[', 10_000) + new string(']', 10_000) + "}";
        Assert.Equal("r7", MalformedMessageObserver.TryReadRequestId(Encoding.UTF8.GetBytes(body), new LimitsOptions().MaxRequestIdLength));
    }
}
