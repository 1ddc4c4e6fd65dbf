using System.Text;
using System.Text.Json;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// One line of <c>embed</c>'s output: <c>{"id", "chunk", "start", "end", "text"?, "model", "tokens", "truncated",
/// "encoding"?, "embedding", "scale"?, "metadata"?}</c>. The vector is copied from the result as it came, so no
/// float is parsed and printed again.
/// </summary>
internal static class OutputLine
{
    public static string Format(ChunkItem item, JsonElement completed, int index, bool includeText)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", item.Id);
            writer.WriteNumber("chunk", item.ChunkIndex);
            writer.WriteNumber("start", item.Start);
            writer.WriteNumber("end", item.End);
            if (includeText)
            {
                writer.WriteString("text", item.Text);
            }

            writer.WriteString("model", completed.GetProperty("model").GetString());
            writer.WriteNumber("tokens", completed.GetProperty("tokenCounts")[index].GetInt32());
            writer.WriteBoolean("truncated", completed.GetProperty("truncated")[index].GetBoolean());
            if (completed.TryGetProperty("encoding", out var encoding) && encoding.ValueKind == JsonValueKind.String)
            {
                writer.WriteString("encoding", encoding.GetString());
                writer.WritePropertyName("embedding");
                completed.GetProperty("encodedEmbeddings")[index].WriteTo(writer);
                if (completed.TryGetProperty("scales", out var scales) && scales.ValueKind == JsonValueKind.Array)
                {
                    writer.WritePropertyName("scale");
                    scales[index].WriteTo(writer);
                }
            }
            else
            {
                writer.WritePropertyName("embedding");
                completed.GetProperty("embeddings")[index].WriteTo(writer);
            }

            if (item.Metadata is { Count: > 0 } metadata)
            {
                writer.WriteStartObject("metadata");
                foreach (var (key, value) in metadata)
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
