using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// Sends a run's chunks and writes their results in input order. At most <see cref="EmbedRunOptions.MaxInFlightTexts"/>
/// chunks are sent and not yet written, which bounds both the memory the reordering takes and the work a Ctrl+C
/// throws away. A request that fails with several texts is sent again one text per request, so one bad text fails
/// only itself.
/// </summary>
internal sealed class EmbedRun(RunConnection broker, EmbedRunOptions options, Stream output)
{
    private readonly string _prefix = $"embed-{Guid.NewGuid().ToString("N")[..10]}-";
    private readonly ConcurrentDictionary<string, ChunkItem[]> _inFlight = new(StringComparer.Ordinal);
    private readonly Channel<Outgoing> _outbox = Channel.CreateUnbounded<Outgoing>();
    private readonly OutputLine _lines = new();

    public int Written { get; private set; }

    public int Truncated { get; private set; }

    /// <summary>How often the requests still waiting were sent again after a silence.</summary>
    public int Resent { get; private set; }

    /// <summary>How long without any result, once results have come, before the requests still waiting are sent again.</summary>
    internal static readonly TimeSpan ResendAfterSilence = TimeSpan.FromSeconds(60);

    private long _lastResult;

    public List<ChunkFailure> Failures { get; } = [];

    /// <summary>Runs until every chunk is written or failed; false when <paramref name="cancellationToken"/> stopped it first.</summary>
    public async Task<bool> RunAsync(IReadOnlyList<ChunkItem> pending, Action<int> progress, CancellationToken cancellationToken)
    {
        var position = new Dictionary<int, int>(pending.Count);
        for (var i = 0; i < pending.Count; i++)
        {
            position[pending[i].Seq] = i;
        }

        // null: not answered yet; empty: failed (nothing to write); otherwise the line's UTF-8 bytes, newline included.
        var lines = new byte[]?[pending.Count];
        using var window = new SemaphoreSlim(options.MaxInFlightTexts);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var feeder = Task.Run(() => FeedAsync(pending, window, stop), CancellationToken.None);
        var publisher = Task.Run(() => PublishAsync(stop), CancellationToken.None);
        var resender = Task.Run(() => ResendAfterReconnectAsync(stop.Token), CancellationToken.None);
        var silenceWatch = Task.Run(() => ResendAfterSilenceAsync(stop.Token), CancellationToken.None);
        var next = 0;
        try
        {
            while (next < pending.Count)
            {
                using var result = await NextResultAsync(stop, feeder, publisher, cancellationToken);
                if (result is null)
                {
                    return false;
                }

                Volatile.Write(ref _lastResult, System.Diagnostics.Stopwatch.GetTimestamp());
                Record(result.Document.RootElement, position, lines);
                while (next < pending.Count && lines[next] is { } line)
                {
                    if (line.Length > 0)
                    {
                        await output.WriteAsync(line, CancellationToken.None);
                        Written++;
                    }

                    lines[next] = null;
                    window.Release();
                    next++;
                }

                await output.FlushAsync(CancellationToken.None);
                progress(next);
            }

            return true;
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(feeder, publisher, resender, silenceWatch).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The next result of this run, parsed; the caller disposes it once its lines are made. Parsed in place and given
    /// back (not cloned and left to the collector): a result of 16 vectors is some 70 KB of JSON, and at a thousand
    /// texts a second the CLI shares the cores with the model.
    /// </summary>
    private async Task<ParsedResult?> NextResultAsync(CancellationTokenSource stop, Task feeder, Task publisher, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        wait.CancelAfter(options.ResultTimeout);
        try
        {
            while (true)
            {
                var message = await broker.Results.ReadAsync(wait.Token);
                System.Text.Json.JsonDocument document;
                try
                {
                    document = System.Text.Json.JsonDocument.Parse(message.Body);
                }
                catch
                {
                    message.Return();
                    throw;
                }

                var result = new ParsedResult(document, message);
                var json = document.RootElement;
                if (json.ValueKind == System.Text.Json.JsonValueKind.Object && json.TryGetProperty("requestId", out var r) && r.ValueKind == System.Text.Json.JsonValueKind.String
                    && r.GetString()!.StartsWith(_prefix, StringComparison.Ordinal))
                {
                    return result;
                }

                result.Dispose();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (stop.IsCancellationRequested)
            {
                // The feeder or the publisher failed and stopped the run: its exception says why.
                await Task.WhenAll(feeder, publisher);
                throw new InvalidOperationException("The run stopped before every chunk was answered.");
            }

            throw new TimeoutException($"No result arrived for {options.ResultTimeout.TotalSeconds:F0} s while {_inFlight.Count} requests were waiting: is a worker consuming '{options.Queue}'? (akidb-queue status)");
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private void Record(System.Text.Json.JsonElement result, Dictionary<int, int> position, byte[]?[] lines)
    {
        if (!_inFlight.TryRemove(result.GetProperty("requestId").GetString()!, out var items))
        {
            return; // a duplicate (the broker redelivered a request the worker had answered): the first answer counts
        }

        if (!result.TryGetProperty("code", out var code))
        {
            var made = _lines.Format(items, result, options.IncludeText);
            var truncated = result.GetProperty("truncated");
            for (var i = 0; i < items.Length; i++)
            {
                Truncated += truncated[i].GetBoolean() ? 1 : 0;
                lines[position[items[i].Seq]] = made[i];
            }

            return;
        }

        if (items.Length > 1)
        {
            foreach (var item in items)
            {
                _outbox.Writer.TryWrite(new Outgoing([item], null));
            }

            return;
        }

        Failures.Add(new ChunkFailure(items[0], code.GetString() ?? "", result.TryGetProperty("message", out var m) ? m.GetString() ?? "" : ""));
        lines[position[items[0].Seq]] = [];
    }

    private async Task FeedAsync(IReadOnlyList<ChunkItem> pending, SemaphoreSlim window, CancellationTokenSource stop)
    {
        try
        {
            foreach (var group in MessageGroups.Of(pending, options.TextsPerMessage, options.MaxInFlightTexts))
            {
                for (var i = 0; i < group.Length; i++)
                {
                    await window.WaitAsync(stop.Token);
                }

                _outbox.Writer.TryWrite(new Outgoing(group, null));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch
        {
            await stop.CancelAsync();
            throw;
        }
    }

    private async Task PublishAsync(CancellationTokenSource stop)
    {
        var sends = new List<Task>();
        var retry = 0;
        try
        {
            while (await _outbox.Reader.WaitToReadAsync(stop.Token))
            {
                while (sends.Count < 64 && _outbox.Reader.TryRead(out var outgoing))
                {
                    var items = outgoing.Items;
                    var id = outgoing.Id ?? RetryId(_prefix + items[0].Seq.ToString(CultureInfo.InvariantCulture), ref retry, items);
                    if (outgoing.Id is not null && !_inFlight.ContainsKey(id))
                    {
                        continue; // answered meanwhile
                    }

                    _inFlight[id] = items;
                    sends.Add(broker.PublishAsync(new EmbedRequested
                    {
                        RequestId = id,
                        Texts = items.Select(c => c.Text).ToArray(),
                        Model = options.Model,
                        Encoding = options.Encoding,
                    }, options.Queue, stop.Token));
                }

                await Task.WhenAll(sends);
                sends.Clear();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch
        {
            await stop.CancelAsync();
            throw;
        }
    }

    /// <summary>
    /// No result for <see cref="ResendAfterSilence"/> while requests wait: they are sent again under their own ids. A
    /// result can be lost without the run's connection noticing: published through a node that came back from a
    /// network partition still split from the node holding this run's reply queue, it reaches the durable queues and
    /// not this one. Sending again costs a duplicate at worst, which the run drops by its id.
    /// </summary>
    private async Task ResendAfterSilenceAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
            while (await tick.WaitForNextTickAsync(cancellationToken))
            {
                // Only once a worker has answered this run: with none consuming, sending again would only fill the queue.
                if (Volatile.Read(ref _lastResult) == 0 || System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref _lastResult)) < ResendAfterSilence || _inFlight.IsEmpty)
                {
                    continue;
                }

                foreach (var (id, items) in _inFlight)
                {
                    _outbox.Writer.TryWrite(new Outgoing(items, id));
                }

                Resent++;
                Volatile.Write(ref _lastResult, System.Diagnostics.Stopwatch.GetTimestamp());
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// After the connection recovered, every request still waiting is sent again under its own id, naming the reply
    /// queue's new name: its answer may have gone to the reply queue that died with the old connection, or the request
    /// itself may not have reached the broker.
    /// </summary>
    private async Task ResendAfterReconnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await broker.Reconnected.WaitToReadAsync(cancellationToken))
            {
                while (broker.Reconnected.TryRead(out _))
                {
                }

                foreach (var (id, items) in _inFlight)
                {
                    _outbox.Writer.TryWrite(new Outgoing(items, id));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    // First tries are unique by their first chunk's position; a chunk sent again alone after its group failed gets "r<n>".
    private string RetryId(string id, ref int retry, ChunkItem[] items) =>
        _sentOnce.Add(items[0].Seq) ? id : $"{id}r{++retry}";

    private readonly HashSet<int> _sentOnce = [];
}

/// <summary>A result parsed in place over its pooled body: disposing it gives both the parser's and the body's buffers back.</summary>
internal sealed class ParsedResult(System.Text.Json.JsonDocument document, PooledResult body) : IDisposable
{
    public System.Text.Json.JsonDocument Document { get; } = document;

    public void Dispose()
    {
        Document.Dispose();
        body.Return();
    }
}

/// <summary>Chunks to send in one request; <paramref name="Id"/> set when it is a request sent again under its first id.</summary>
internal sealed record Outgoing(ChunkItem[] Items, string? Id);

/// <summary>A chunk the worker answered with <see cref="EmbedFailed"/>.</summary>
internal sealed record ChunkFailure(ChunkItem Item, string Code, string Message);

/// <summary>How a run sends: the worker's queue, requests' shape, and how long to wait for an answer before giving up.</summary>
internal sealed record EmbedRunOptions(string Queue, string? Model, string? Encoding, int TextsPerMessage, int MaxInFlightTexts, bool IncludeText, TimeSpan ResultTimeout);
