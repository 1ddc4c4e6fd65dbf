using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// Makes the lines of <c>embed</c>'s output: <c>{"id", "chunk", "start", "end", "text"?, "model", "tokens", "truncated",
/// "encoding"?, "embedding", "scale"?, "metadata"?}</c>, each as UTF-8 bytes ending in a newline, ready for the file.
/// The vector is copied from the result as it came, its UTF-8 bytes in one piece (the worker wrote and the parser
/// checked them), so no float is parsed, printed or re-tokenised; and a line never becomes a string (no UTF-16 copy to
/// encode again): at a thousand texts a second the CLI shares the cores with the model. One instance per run, used by
/// the one loop that writes the results (its buffer is reused line after line).
/// </summary>
internal sealed class OutputLine
{
    private static readonly byte[] NewLine = Encoding.UTF8.GetBytes(Environment.NewLine);

    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);

    /// <summary>The lines of one completed result, one per item in the order of <paramref name="items"/>.</summary>
    public byte[][] Format(ChunkItem[] items, JsonElement completed, bool includeText)
    {
        var model = completed.GetProperty("model").GetString();
        var tokens = completed.GetProperty("tokenCounts");
        var truncated = completed.GetProperty("truncated");
        var encoding = completed.TryGetProperty("encoding", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        var scales = encoding is not null && completed.TryGetProperty("scales", out var s) && s.ValueKind == JsonValueKind.Array ? s : (JsonElement?)null;
        // Walked once, not indexed per item: an array of arrays is indexed by walking it from the start.
        using var vectors = completed.GetProperty(encoding is null ? "embeddings" : "encodedEmbeddings").EnumerateArray().GetEnumerator();
        using var writer = new Utf8JsonWriter(_buffer);
        var lines = new byte[items.Length][];
        for (var i = 0; i < items.Length; i++)
        {
            if (!vectors.MoveNext())
            {
                throw new InvalidDataException($"A result for {items.Length} texts holds fewer vectors.");
            }

            lines[i] = Format(writer, items[i], model, tokens[i].GetInt32(), truncated[i].GetBoolean(), encoding, vectors.Current, scales is { } all ? all[i] : null, includeText);
        }

        return lines;
    }

    private byte[] Format(Utf8JsonWriter writer, ChunkItem item, string? model, int tokens, bool truncated, string? encoding, JsonElement vector, JsonElement? scale, bool includeText)
    {
        _buffer.ResetWrittenCount();
        writer.Reset();
        writer.WriteStartObject();
        writer.WriteString("id", item.Id);
        writer.WriteNumber("chunk", item.ChunkIndex);
        writer.WriteNumber("start", item.Start);
        writer.WriteNumber("end", item.End);
        if (includeText)
        {
            writer.WriteString("text", item.Text);
        }

        writer.WriteString("model", model);
        writer.WriteNumber("tokens", tokens);
        writer.WriteBoolean("truncated", truncated);
        if (encoding is not null)
        {
            writer.WriteString("encoding", encoding);
        }

        writer.WritePropertyName("embedding");
        writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(vector), skipInputValidation: true);
        if (scale is { } value)
        {
            writer.WritePropertyName("scale");
            value.WriteTo(writer);
        }

        if (item.Metadata is { Count: > 0 } metadata)
        {
            writer.WriteStartObject("metadata");
            foreach (var (key, text) in metadata)
            {
                writer.WriteString(key, text);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        writer.Flush();
        var json = _buffer.WrittenSpan;
        var line = new byte[json.Length + NewLine.Length];
        json.CopyTo(line);
        NewLine.CopyTo(line.AsSpan(json.Length));
        return line;
    }
}
