using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// One line of <c>embed</c>'s output: <c>{"id", "chunk", "start", "end", "text"?, "model", "tokens", "truncated",
/// "encoding"?, "embedding", "scale"?, "metadata"?}</c>. The vector is copied from the result as it came, its UTF-8
/// bytes in one piece (the worker wrote and the parser checked them), so no float is parsed, printed or re-tokenised:
/// at a thousand texts a second the CLI shares the cores with the model.
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
                writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(completed.GetProperty("encodedEmbeddings")[index]), skipInputValidation: true);
                if (completed.TryGetProperty("scales", out var scales) && scales.ValueKind == JsonValueKind.Array)
                {
                    writer.WritePropertyName("scale");
                    scales[index].WriteTo(writer);
                }
            }
            else
            {
                writer.WritePropertyName("embedding");
                writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(completed.GetProperty("embeddings")[index]), skipInputValidation: true);
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
