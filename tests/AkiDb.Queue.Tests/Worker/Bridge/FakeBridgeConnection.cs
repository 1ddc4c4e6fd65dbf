using System.Text.Json;
using System.Threading.Channels;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Tests.Bridge;

/// <summary>
/// A bridge process without a process: answers frames the way a test says, ends when a test says. Pure logic for the
/// lane's supervision; the real process is covered by the integration tests.
/// </summary>
internal sealed class FakeBridgeConnection(int pid) : IBridgeConnection
{
    public const int Dim = 4;

    private readonly Channel<BridgeFrame> _replies = Channel.CreateUnbounded<BridgeFrame>();
    private readonly TaskCompletionSource<BridgeExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _embedSent = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A test's own answer to a request type; null falls back to what a healthy bridge answers.</summary>
    public Func<string, BridgeReply?> Answer { get; set; } = _ => null;

    /// <summary>Request types left unanswered, as by a hung bridge.</summary>
    public HashSet<string> Silent { get; } = [];

    public int ProcessId { get; } = pid;

    public Task<BridgeExit> Exited => _exited.Task;

    public string? KillReason { get; private set; }

    /// <summary>The id of the first embed request, once sent.</summary>
    public Task<long> EmbedSent => _embedSent.Task;

    public Task SendAsync(byte[] header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        using var json = JsonDocument.Parse(header);
        var type = json.RootElement.GetProperty("type").GetString()!;
        long? id = json.RootElement.TryGetProperty("id", out var i) ? i.GetInt64() : null;
        var rows = json.RootElement.TryGetProperty("batch", out var b) ? b.GetInt32() : 0;
        if (type == "embed" && id is { } embedId)
        {
            _embedSent.TrySetResult(embedId);
        }

        var answer = Silent.Contains(type) ? null : Answer(type) ?? type switch
        {
            "init" => Default.Ready,
            "ping" => new BridgeReply { Type = BridgeReplyType.Pong },
            "embed" => Default.Result(rows),
            _ => null,
        };
        if (answer is not null)
        {
            Reply(answer with { Id = answer.Id ?? id }, answer.Type == BridgeReplyType.Result ? rows : 0);
        }

        return Task.CompletedTask;
    }

    public ValueTask<BridgeFrame> ReceiveAsync(CancellationToken cancellationToken) => _replies.Reader.ReadAsync(cancellationToken);

    /// <summary>Writes a reply frame, with <paramref name="rows"/> vectors of <see cref="Dim"/> floats as payload.</summary>
    public void Reply(BridgeReply reply, int rows = 0) =>
        _replies.Writer.TryWrite(new BridgeFrame(BridgeJsonContext.Serialize(reply), new byte[rows * Dim * sizeof(float)]));

    public void Kill(string reason)
    {
        KillReason ??= reason;
        End(new BridgeExit(null, reason, ""));
    }

    /// <summary>The process ends by itself, as after a crash.</summary>
    public void End(BridgeExit exit)
    {
        _replies.Writer.TryComplete(new BridgeExitedException($"The bridge exited: {exit}"));
        _exited.TrySetResult(exit);
    }

    public Task StopAsync(TimeSpan grace)
    {
        End(new BridgeExit(0, null, ""));
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        if (!Exited.IsCompleted)
        {
            Kill("disposed");
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Replies a healthy bridge gives.</summary>
    public static class Default
    {
        public static readonly BridgeReply Ready = new()
        {
            Type = BridgeReplyType.Ready, Protocol = 1, Runtime = "fake", Models = [new BridgeModelInfo("m", Dim, "CPU", null, null, null, 1)],
        };

        public static BridgeReply Result(int rows) => new() { Type = BridgeReplyType.Result, Batch = rows, Dim = Dim };
    }
}
