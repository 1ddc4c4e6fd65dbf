using System.Diagnostics.Metrics;
using System.Text;
using AkiDb.Queue.IntegrationTests.Infrastructure;
using AkiDb.Queue.Worker.Messaging;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.IntegrationTests.Edges;

/// <summary>What the worker logs about a message is the operator's, not the producer's: escaped, capped, one line each.</summary>
[Collection(BrokerCollection.Name)]
public sealed class HygieneLogTests(BrokerFixture broker, ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_request_id_with_escape_and_line_breaks_leaves_no_raw_control_byte_in_the_log()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("logesc");
        await using var results = await ResultCollector.StartAsync(url);
        // The console logger's default layout (multi-line entries), as a deployed worker writes it.
        var worker = await WorkerProcess.StartAsync("hygiene-log", url, new Dictionary<string, string?>
        {
            ["Logging:Console:FormatterOptions:SingleLine"] = "false",
            ["Bridge:Processes"] = "1",
        });
        const string forged = "fail: AkiDb.Queue.Forged[0] forged";
        var hostile = new[]
        {
            // A contract failure (empty text): logged with its request id.
            ("esc-\u001b[2J\u001b[H-clear\r\n" + forged, """ "texts":[""] """),
            // A malformed body: the malformed-message warning carries the id.
            ("mal-\u001b]0;title\u0007\r" + forged, """ "texts":[1] """),
            // An unknown model and an unknown input type: their values are echoed in the reason.
            ("model-esc", """ "texts":["a"], "model":"m\u001b[31mred\nfail: x" """),
            ("input-esc", """ "texts":["a"], "inputType":"q\u001b[5m\rblink" """),
        };
        try
        {
            foreach (var (requestId, rest) in hostile)
            {
                var id = System.Text.Json.JsonSerializer.Serialize(requestId);
                await results.PublishAsync($$"""{"requestId":{{id}},{{rest}}}""");
            }

            Assert.True(await results.WaitForAsync(hostile.Length, Patience), $"{results.Results.Count} of {hostile.Length} results");
        }
        finally
        {
            // A clean stop flushes the console logger.
            worker.Signal(Signals.Term);
            await worker.Exited;
            await worker.DisposeAsync();
        }

        var lines = worker.Lines.ToList();
        output.WriteLine(string.Join('\n', lines));
        Assert.All(results.Results, r => Assert.False(r.IsCompleted));
        Assert.DoesNotContain(lines, l => l.Any(c => char.IsControl(c)));
        Assert.DoesNotContain(lines, l => l.StartsWith("fail: AkiDb.Queue.Forged", StringComparison.Ordinal) || l.StartsWith("fail: x", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(@"esc-\u001B[2J\u001B[H-clear\r\n" + forged, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(@"mal-\u001B]0;title\u0007\r" + forged, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(@"m\u001B[31mred\nfail: x", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(@"q\u001B[5m\rblink", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_malformed_message_logs_one_warning_without_a_stack_trace_and_counts_a_move_into_the_bounded_error_queue()
    {
        var (vhost, url) = await broker.CreateVirtualHostAsync("logmal");
        await using var results = await ResultCollector.StartAsync(url);
        await using var worker = await WorkerHost.StartAsync(url);
        var telemetry = worker.Services.GetRequiredService<WorkerTelemetry>();
        long moves = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, telemetry.ErrorQueueMoves))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref moves, value));
        listener.Start();

        var malformed = new[]
        {
            Encoding.UTF8.GetBytes("not json at all"),
            Encoding.UTF8.GetBytes("""{"requestId":"mal-types","texts":[1,2]}"""),
            [0xEF, 0xBB, 0xBF, .. """{"requestId":"mal-bom","texts":{"a":1}}"""u8],
        };
        foreach (var body in malformed)
        {
            await results.PublishAsync(body, withContentType: false);
        }

        Assert.True(await results.WaitForErrorsAsync(malformed.Length, Patience), $"{results.Errors.Count} in the error queue");
        Assert.True(await results.WaitForAsync(2, Patience), "the two malformed requests with an id were not answered");
        listener.RecordObservableInstruments();

        var entries = worker.Logs.Entries.ToList();
        foreach (var entry in entries.Where(e => e.Level >= LogLevel.Warning))
        {
            output.WriteLine($"{entry.Level} {entry.Category}: {entry.Message}");
        }

        Assert.Equal(malformed.Length, entries.Count(e => e.Level == LogLevel.Warning && e.Category == typeof(MalformedMessageObserver).FullName));
        Assert.DoesNotContain(entries, e => e.Level >= LogLevel.Error);
        Assert.Equal(malformed.Length, Interlocked.Read(ref moves));
        Assert.All(results.Errors, e => Assert.False(string.IsNullOrEmpty(e.ExceptionType), "the exception is not in the error message's headers"));

        using var management = new ManagementClient(broker.ManagementUrl);
        var errorQueue = await management.GetQueueAsync(vhost, "embed-requested_error");
        Assert.NotNull(errorQueue);
        Assert.Contains("\"x-max-length\":10000", errorQueue.Arguments.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("drop-head", errorQueue.Arguments, StringComparison.Ordinal);
    }
}
