using AkiDb.Queue.Contracts;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using MassTransit;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>The optional synchronous path: MassTransit's request client waits for the result.</summary>
[Collection(BrokerCollection.Name)]
public sealed class RequestResponseTests(BrokerFixture broker)
{
    [Fact]
    public async Task A_MassTransit_request_client_gets_the_result_directly_and_the_exchange_gets_it_too()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("rpc");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(url));
            // The worker answers in plain JSON, naming the type in the MT-MessageType header. Not AnyMessageType: that
            // would let any response match the client's Fault handler too.
            cfg.UseRawJsonDeserializer();
        });
        await bus.StartAsync();
        try
        {
            // The queue has arguments (priorities, dead-lettering) that a plain "queue:" address would redeclare without;
            // its exchange of the same name is what a MassTransit sender should address.
            var client = bus.CreateRequestClient<EmbedRequested>(new Uri("exchange:embed-requested"), RequestTimeout.After(m: 2));
            var response = await client.GetResponse<EmbedCompleted, EmbedFailed>(new EmbedRequested { RequestId = "rpc-1", Texts = ["synchronous, if you must"] });
            var failure = await client.GetResponse<EmbedCompleted, EmbedFailed>(new EmbedRequested { RequestId = "rpc-2", Texts = [] });

            Assert.True(response.Is(out Response<EmbedCompleted>? completed));
            Assert.Equal("rpc-1", completed!.Message.RequestId);
            Assert.Equal(384, completed.Message.Embeddings[0].Length);
            Assert.True(failure.Is(out Response<EmbedFailed>? failed));
            Assert.Equal("invalid_request", failed!.Message.Code);
            Assert.True((await results.WaitForAsync("rpc-1", TimeSpan.FromMinutes(1))).IsCompleted);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
