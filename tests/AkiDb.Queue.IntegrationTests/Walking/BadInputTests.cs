using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Walking;

/// <summary>Each kind of bad input gets a specific answer (an EmbedFailed with its code, or the _error queue), and the worker answers the next good message.</summary>
[Collection(BrokerCollection.Name)]
public sealed class BadInputTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private WorkerHost _worker = null!;
    private ResultCollector _results = null!;
    private ManagementClient _management = null!;
    private string _vhost = "";

    public async Task InitializeAsync()
    {
        (_vhost, var url) = await broker.CreateVirtualHostAsync("bad");
        _management = new ManagementClient(broker.ManagementUrl);
        _results = await ResultCollector.StartAsync(url);
        _worker = await WorkerHost.StartAsync(url);
    }

    public async Task DisposeAsync()
    {
        await _worker.DisposeAsync();
        await _results.DisposeAsync();
        _management.Dispose();
    }

    [Theory]
    [InlineData("missing-texts", """{"requestId":"missing-texts"}""", "invalid_request")]
    [InlineData("empty-texts", """{"requestId":"empty-texts","texts":[]}""", "invalid_request")]
    [InlineData("null-text", """{"requestId":"null-text","texts":["ok",null]}""", "invalid_request")]
    [InlineData("numbers", """{"requestId":"numbers","texts":[1,2]}""", "malformed_message")]
    [InlineData("object-texts", """{"requestId":"object-texts","texts":{"a":"b"}}""", "malformed_message")]
    [InlineData("unknown-model", """{"requestId":"unknown-model","texts":["x"],"model":"no-such-model"}""", "unknown_model")]
    public async Task Each_bad_request_gets_its_own_code_and_the_next_good_one_is_answered(string requestId, string body, string code)
    {
        await _results.PublishAsync(body);
        await _results.PublishAsync(ResultCollector.Request(requestId + "-after", "a good text"));

        var failed = await _results.WaitForAsync(requestId, Patience);
        var after = await _results.WaitForAsync(requestId + "-after", Patience);

        Assert.False(failed.IsCompleted);
        Assert.Equal(code, failed.Code);
        Assert.False(string.IsNullOrWhiteSpace(failed.Message));
        Assert.True(after.IsCompleted, after.Message);
    }

    [Fact]
    public async Task A_body_that_is_not_JSON_lands_in_the_error_queue_and_nothing_else_is_lost()
    {
        await _results.PublishAsync("this is { not json", withContentType: false);
        await _results.PublishAsync(ResultCollector.Request("after-garbage", "a good text"));

        var after = await _results.WaitForAsync("after-garbage", Patience);
        var errors = await _management.WaitForQueueAsync(_vhost, "embed-requested_error", q => q.Messages >= 1, Patience);

        Assert.True(after.IsCompleted, after.Message);
        Assert.NotNull(errors);
        Assert.Equal(1, errors.Messages);
        Assert.Single(_results.Results); // no result could carry an id for the garbage, so none was invented
    }

    [Fact]
    public async Task A_request_with_wrong_types_is_answered_and_also_kept_in_the_error_queue_with_the_exception()
    {
        await _results.PublishAsync("""{"requestId":"typed-wrong","texts":[true]}""");

        var failed = await _results.WaitForAsync("typed-wrong", Patience);
        var errors = await _management.WaitForQueueAsync(_vhost, "embed-requested_error", q => q.Messages >= 1, Patience);

        Assert.Equal("malformed_message", failed.Code);
        Assert.Equal(1, errors?.Messages);
    }
}
