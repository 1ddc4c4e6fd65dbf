using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using CliWrap;
using RabbitMQ.Client;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// Ctrl+C (SIGINT to the real CLI process) while a command waits on the broker: it stops and says so, however it
/// was started. Each test waits for the phase it interrupts (requests on the queue, a subscription bound, a line
/// printed) and then for the exit with a generous bound; none asserts a duration.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class CliInterruptTests(BrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private const int Sigint = 2;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-cli-int-");

    /// <param name="sigintIgnored">Started as a script's background job: SIGINT inherited as ignored. That is how the
    /// CLI was started where Ctrl+C "sometimes" left embed waiting out --result-timeout.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ctrl_C_while_embed_waits_for_a_worker_exits_130_with_Interrupted(bool sigintIgnored)
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cli-int-embed");
        await DeclareQueuesAsync(url, "embed-requested");
        var input = Path.Combine(_work.FullName, $"in-{sigintIgnored}.jsonl");
        await File.WriteAllLinesAsync(input, Enumerable.Range(0, 40).Select(i => JsonSerializer.Serialize(new { id = $"t{i}", text = $"Text number {i}." })));
        var outFile = Path.Combine(_work.FullName, $"out-{sigintIgnored}.jsonl");
        var log = new CliOutput();

        var run = CliRunner.Start(log, sigintIgnored, "embed", input, "--out", outFile, "--url", url, "--texts-per-message", "2");
        // No worker: the requests sit on the queue, and the run waits for answers that will not come.
        Assert.True(await UntilAsync(async () => await ReadyAsync(url, "embed-requested") > 0), $"embed published nothing:\n{log}");
        await InterruptedAsync(run, log);
        Assert.Contains("Wrote 0 chunks", log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ctrl_C_while_status_counts_results_exits_130_with_Interrupted()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("cli-int-status");
        await DeclareQueuesAsync(url, "embed-requested");
        var log = new CliOutput();

        var run = CliRunner.Start(log, false, "status", "--seconds", "3600", "--url", url, "--management-url", broker.ManagementUrl);
        // Counting: its private queue is bound to the results exchange.
        Assert.True(await UntilAsync(() => HasBindingsAsync(vhost, "embed-completed")), $"status never started counting:\n{log}");
        await InterruptedAsync(run, log);
    }

    [Fact]
    public async Task Ctrl_C_while_demo_waits_for_its_results_exits_130_with_Interrupted()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cli-int-demo");
        await DeclareQueuesAsync(url, "embed-requested");
        var log = new CliOutput();

        var run = CliRunner.Start(log, false, "demo", "--url", url);
        Assert.True(await UntilAsync(() => Task.FromResult(log.Contains("Published 3 requests"))), $"demo published nothing:\n{log}");
        await InterruptedAsync(run, log);
    }

    [Fact]
    public async Task Ctrl_C_is_how_results_ends_and_it_says_what_it_wrote()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("cli-int-results");
        var outFile = Path.Combine(_work.FullName, "results.jsonl");
        var log = new CliOutput();

        var run = CliRunner.Start(log, false, "results", "--out", outFile, "--url", url);
        Assert.True(await UntilAsync(() => Task.FromResult(log.Contains("Ctrl+C to stop"))), $"results never subscribed:\n{log}");
        var result = await CtrlCAsync(run, log);

        // Following results until Ctrl+C is this command's normal use, so it ends with its summary and 0.
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("0 completed, 0 failed written to", log.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => _work.Delete(recursive: true);

    /// <summary>SIGINT to the CLI, as Ctrl+C in its terminal sends it; returns once it has exited.</summary>
    private async Task<CommandResult> CtrlCAsync(CommandTask<CommandResult> run, CliOutput log)
    {
        Signals.Send(run.ProcessId, Sigint);
        var result = await run;
        output.WriteLine(log.ToString());
        return result;
    }

    /// <summary>Ctrl+C ends a waiting command with 130 (128 + SIGINT, as a shell reports it) and "Interrupted.".</summary>
    private async Task InterruptedAsync(CommandTask<CommandResult> run, CliOutput log)
    {
        Assert.Equal(130, (await CtrlCAsync(run, log)).ExitCode);
        Assert.Contains("Interrupted.", log.ToString(), StringComparison.Ordinal);
    }

    internal static async Task DeclareQueuesAsync(string url, params string[] queues)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(url) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        foreach (var queue in queues)
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        }
    }

    internal static async Task<uint> ReadyAsync(string url, string queue)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(url) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Polls a state the CLI reaches by itself (not waiting out a race), for at most <see cref="Patience"/>.</summary>
    internal static async Task<bool> UntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }

    private async Task<bool> HasBindingsAsync(string vhost, string exchange)
    {
        using var http = ManagementHttp(broker.ManagementUrl);
        using var response = await http.GetAsync($"api/exchanges/{Uri.EscapeDataString(vhost)}/{exchange}/bindings/source");
        return response.IsSuccessStatusCode && JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetArrayLength() > 0;
    }

    internal static HttpClient ManagementHttp(string managementUrl)
    {
        var http = new HttpClient { BaseAddress = new Uri(managementUrl), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("guest:guest")));
        return http;
    }
}
