using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Bench.Bridges;

/// <summary>
/// The worker's side of the JSON-lines bridge (bench/bridges/json_bridge.py), written as the original design had
/// it: one JSON object per line each way, token ids as JSON lists in, vectors as JSON lists of floats out,
/// serialised and parsed with System.Text.Json. Same interpreter, arguments style and environment as the real
/// bridge (the worker's <see cref="BridgeLaunchFactory"/> builds the launch).
/// </summary>
internal sealed class JsonBridge : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly Process _process;
    private readonly Stream _stdin;
    private readonly StreamReader _stdout;
    private readonly Queue<string> _stderrTail = new();
    private long _nextId;

    private JsonBridge(Process process)
    {
        _process = process;
        _stdin = process.StandardInput.BaseStream;
        _stdout = process.StandardOutput;
    }

    public int ProcessId => _process.Id;

    public static async Task<(JsonBridge Bridge, JsonElement Ready)> StartAsync(BridgeLaunch launch, byte[] initJson)
    {
        var process = PlainBridgeProcess.Start(launch, "JSON bridge", new UTF8Encoding(false));
        var bridge = new JsonBridge(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lock (bridge._stderrTail)
                {
                    bridge._stderrTail.Enqueue(line);
                    if (bridge._stderrTail.Count > 20)
                    {
                        bridge._stderrTail.Dequeue();
                    }
                }
            }
        };
        process.BeginErrorReadLine();
        var ready = await bridge.ExchangeAsync(initJson);
        if (ready.GetProperty("type").GetString() != "ready")
        {
            await bridge.DisposeAsync();
            throw new InvalidOperationException($"The JSON bridge did not start: {ready}");
        }

        return (bridge, ready);
    }

    /// <summary>One embed round trip: ids as JSON lists (one per text, unpadded), vectors back as JSON lists of floats.</summary>
    public async Task<float[][]> EmbedAsync(string model, IReadOnlyList<long[]> rows)
    {
        var id = ++_nextId;
        var request = JsonSerializer.SerializeToUtf8Bytes(new JsonEmbedRequest("embed", id, model, rows), Json);
        var line = await ExchangeLineAsync(request);
        var reply = JsonSerializer.Deserialize<JsonEmbedReply>(line, Json) ?? throw new InvalidOperationException("Empty reply.");
        if (reply.Type != "result" || reply.Id != id || reply.Embeddings is null || reply.Embeddings.Length != rows.Count)
        {
            throw new InvalidOperationException($"Bad reply from the JSON bridge: {reply.Type} {reply.Message} ({reply.Embeddings?.Length} rows for {rows.Count})");
        }

        return reply.Embeddings;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _stdin.Close();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(grace.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private async Task<JsonElement> ExchangeAsync(byte[] request)
    {
        using var document = JsonDocument.Parse(await ExchangeLineAsync(request));
        return document.RootElement.Clone();
    }

    private async Task<string> ExchangeLineAsync(byte[] request)
    {
        await _stdin.WriteAsync(request);
        _stdin.WriteByte((byte)'\n');
        await _stdin.FlushAsync();
        var line = await _stdout.ReadLineAsync();
        if (line is null)
        {
            string tail;
            lock (_stderrTail)
            {
                tail = string.Join(" | ", _stderrTail);
            }

            throw new InvalidOperationException($"The JSON bridge closed its stdout: {tail}");
        }

        return line;
    }

    private sealed record JsonEmbedRequest(string Type, long Id, string Model, IReadOnlyList<long[]> Ids);

    private sealed record JsonEmbedReply(string Type, long? Id, float[][]? Embeddings, string? Message);
}
