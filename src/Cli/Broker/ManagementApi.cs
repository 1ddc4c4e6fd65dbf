using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace AkiDb.Queue.Cli.Broker;

/// <summary>Reads queue state from the RabbitMQ management HTTP API, with the AMQP URL's credentials.</summary>
internal sealed class ManagementApi(string managementUrl, string amqpUrl) : IDisposable
{
    private readonly HttpClient _http = Create(managementUrl, amqpUrl);

    public async Task<JsonElement?> GetQueueAsync(string vhost, string queue, CancellationToken cancellationToken)
    {
        var response = await _http.GetAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}", cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.Clone();
    }

    public void Dispose() => _http.Dispose();

    private static HttpClient Create(string managementUrl, string amqpUrl)
    {
        var http = new HttpClient { BaseAddress = new Uri(managementUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(10) };
        var userInfo = new Uri(amqpUrl).UserInfo;
        var credentials = string.IsNullOrEmpty(userInfo) ? "guest:guest" : Uri.UnescapeDataString(userInfo);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        return http;
    }
}
