using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// Turns the bridge's stderr into worker log entries: JSON lines keep their level and trace ids, anything else
/// (ONNX Runtime's own logging, a Python traceback) is logged as a warning. Lines are capped in length because
/// a runaway child must not be able to make the worker buffer without bound.
/// </summary>
internal sealed class BridgeLogForwarder(ILogger logger, int laneId)
{
    private const int MaxLineBytes = 16 * 1024;
    private const int TailLines = 20;
    private readonly Queue<string> _tail = new();
    private int _pid;

    public void AttachProcess(int pid) => _pid = pid;

    /// <summary>The last lines seen, for the log entry that reports a crash.</summary>
    public string Tail()
    {
        lock (_tail)
        {
            return string.Join(" | ", _tail);
        }
    }

    public async Task ForwardAsync(Stream stderr, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var line = new MemoryStream();
        var dropping = false;
        int read;
        while ((read = await stderr.ReadAsync(buffer, cancellationToken)) > 0)
        {
            var start = 0;
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] != (byte)'\n')
                {
                    continue;
                }

                Append(buffer.AsSpan(start, i - start));
                Emit();
                start = i + 1;
            }

            Append(buffer.AsSpan(start, read - start));
        }

        Emit();

        void Append(ReadOnlySpan<byte> bytes)
        {
            var room = MaxLineBytes - (int)line.Length;
            if (bytes.Length > room)
            {
                bytes = bytes[..Math.Max(0, room)];
                dropping = true;
            }

            line.Write(bytes);
        }

        void Emit()
        {
            if (line.Length > 0)
            {
                var text = Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length).TrimEnd('\r');
                Log(dropping ? text + " [line truncated]" : text);
            }

            line.SetLength(0);
            dropping = false;
        }
    }

    private void Log(string text)
    {
        lock (_tail)
        {
            _tail.Enqueue(text.Length > 300 ? text[..300] : text);
            while (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }

        if (text.StartsWith('{') && TryParse(text, out var level, out var message, out var traceId, out var spanId))
        {
            // A line written while the bridge handled a traced request joins that trace: log records take their trace
            // id from the current activity, so one is made (not exported) under the bridge call's span.
            using var joined = JoinTrace(traceId, spanId);
            using (logger.BeginScope(new Dictionary<string, object?>
                   {
                       ["BridgeLane"] = laneId, ["BridgePid"] = _pid, ["TraceId"] = traceId, ["SpanId"] = spanId,
                   }))
            {
                logger.Log(level, "[bridge {Lane} pid {Pid}] {Message}", laneId, _pid, message);
            }

            return;
        }

        logger.LogWarning("[bridge {Lane} pid {Pid}] {Line}", laneId, _pid, text);
    }

    private static System.Diagnostics.Activity? JoinTrace(string? traceId, string? spanId)
    {
        if (traceId is not { Length: 32 } || spanId is not { Length: 16 })
        {
            return null;
        }

        try
        {
            var activity = new System.Diagnostics.Activity("bridge log");
            activity.SetParentId(System.Diagnostics.ActivityTraceId.CreateFromString(traceId), System.Diagnostics.ActivitySpanId.CreateFromString(spanId), System.Diagnostics.ActivityTraceFlags.Recorded);
            return activity.Start();
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static bool TryParse(string text, out LogLevel level, out string message, out string? traceId, out string? spanId)
    {
        level = LogLevel.Information;
        message = text;
        traceId = spanId = null;
        try
        {
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("msg", out var msg))
            {
                return false;
            }

            // The bridge's structured fields (provider, load_ms, ...) follow the message as key=value.
            var extras = root.EnumerateObject()
                .Where(p => p.Name is not ("ts" or "level" or "msg" or "trace_id" or "span_id"))
                .Select(p => $"{p.Name}={p.Value}");
            message = string.Join(' ', extras.Prepend(msg.ToString()));
            level = (root.TryGetProperty("level", out var l) ? l.GetString() : null) switch
            {
                "debug" => LogLevel.Debug,
                "warning" or "warn" => LogLevel.Warning,
                "error" or "critical" => LogLevel.Error,
                _ => LogLevel.Information,
            };
            traceId = root.TryGetProperty("trace_id", out var t) ? t.GetString() : null;
            spanId = root.TryGetProperty("span_id", out var s) ? s.GetString() : null;
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
