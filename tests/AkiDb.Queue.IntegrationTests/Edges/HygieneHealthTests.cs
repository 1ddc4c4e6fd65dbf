using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;
using CliWrap.Buffered;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>
/// A broker under a memory alarm blocks the worker's connection: no result can be published, so the worker is not
/// ready until the broker unblocks it; the request that was waiting is then answered.
/// </summary>
public sealed class HygieneHealthTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Ready_is_503_while_the_broker_blocks_the_connection_and_200_again_when_it_unblocks()
    {
        // A broker of this test's own: its memory alarm would block every other test's connections.
        await using var broker = await PrivateRabbitMq.StartNewAsync("alarm");
        await using var results = await ResultCollector.StartAsync(broker.AmqpUrl);
        var healthPort = HygieneStartupTests.FreePort();
        await using var worker = await WorkerHost.StartAsync(broker.AmqpUrl, new Dictionary<string, string?>
        {
            ["Health:Urls"] = $"http://127.0.0.1:{healthPort}/",
            ["Bridge:Processes"] = "1",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{healthPort}/") };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health/ready")).StatusCode);

        try
        {
            await RabbitMqCtlAsync(broker, "set_vm_memory_high_watermark", "absolute", "1");
            // The broker blocks a connection when it publishes: a request published through the management API (not
            // blocked) makes the worker publish its answer. An empty text: answered at once, without the model.
            await PublishThroughManagementAsync(broker, """{"requestId":"during-alarm","texts":[""]}""");

            var (blocked, body) = await PollReadyAsync(http, HttpStatusCode.ServiceUnavailable);
            output.WriteLine(body);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, blocked);
            Assert.Contains("the broker blocks this worker's connection", body.Replace("\\u0027", "'", StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health/live")).StatusCode);
        }
        finally
        {
            await RabbitMqCtlAsync(broker, "set_vm_memory_high_watermark", "0.4");
        }

        var (unblocked, _) = await PollReadyAsync(http, HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.OK, unblocked);
        var answer = await results.WaitForAsync("during-alarm", Patience);
        Assert.Equal("invalid_request", answer.Code);
        Assert.Single(results.Results);
        Assert.True(worker.LogContains("The broker blocked this worker's connection"));
        Assert.True(worker.LogContains("The broker unblocked this worker's connection"));
    }

    private static async Task<(HttpStatusCode Status, string Body)> PollReadyAsync(HttpClient http, HttpStatusCode wanted)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var response = await http.GetAsync("health/ready");
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == wanted || DateTime.UtcNow > deadline)
            {
                return (response.StatusCode, body);
            }

            // Polling for a state the broker reports asynchronously, not waiting out a race.
            await Task.Delay(200);
        }
    }

    private static async Task RabbitMqCtlAsync(PrivateRabbitMq broker, params string[] arguments)
    {
        var result = await broker.RabbitMqCtlAsync(arguments);
        Assert.True(result.ExitCode == 0, $"rabbitmqctl {string.Join(' ', arguments)}: {result.StandardOutput}{result.StandardError}");
    }

    private static async Task PublishThroughManagementAsync(PrivateRabbitMq broker, string body)
    {
        using var http = new HttpClient { BaseAddress = new Uri(broker.ManagementUrl.TrimEnd('/') + "/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
        var response = await http.PostAsJsonAsync("api/exchanges/%2F/amq.default/publish", new
        {
            properties = new { content_type = "application/json" },
            routing_key = "embed-requested",
            payload = body,
            payload_encoding = "string",
        });
        response.EnsureSuccessStatusCode();
        Assert.Contains("\"routed\":true", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
