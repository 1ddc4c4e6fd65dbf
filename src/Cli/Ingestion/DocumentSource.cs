using System.Text.Json;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Cli.Ingestion;

/// <summary>Turns a folder of text/markdown files, or a JSONL file, into requests.</summary>
internal static class DocumentSource
{
    private static readonly string[] TextExtensions = [".txt", ".md", ".markdown", ".rst", ".text"];

    /// <summary>
    /// A folder: every text file, chunked; each request carries up to <paramref name="textsPerMessage"/> chunks of one
    /// file, with the file and chunk range in its metadata. Request ids are stable (path#first-chunk), so a re-run
    /// produces the same ids and consumers can de-duplicate.
    /// </summary>
    public static IEnumerable<EmbedRequested> FromFolder(string folder, int maxChars, int overlap, int textsPerMessage, string? model)
    {
        var root = Path.GetFullPath(folder);
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => TextExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            var chunks = TextChunker.Split(File.ReadAllText(file), maxChars, overlap).ToList();
            foreach (var group in chunks.Chunk(textsPerMessage))
            {
                yield return new EmbedRequested
                {
                    RequestId = $"{relative}#{group[0].Index}",
                    Texts = group.Select(c => c.Text).ToArray(),
                    Model = model,
                    Metadata = new Dictionary<string, string>
                    {
                        ["source"] = relative,
                        ["firstChunk"] = group[0].Index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        ["chunkStarts"] = string.Join(',', group.Select(c => c.Start)),
                    },
                };
            }
        }
    }

    /// <summary>
    /// JSONL: one request per line, either a full request (<c>{"requestId":"a","texts":[...]}</c>) or a single text
    /// (<c>{"id":"a","text":"..."}</c>). Lines without an id get <c>file:line</c>.
    /// </summary>
    public static IEnumerable<EmbedRequested> FromJsonLines(string path, string? model)
    {
        var name = Path.GetFileName(path);
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonElement row;
            try
            {
                row = JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{number} is not JSON: {e.Message}", e);
            }

            string? Text(string property) => row.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var texts = row.TryGetProperty("texts", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Select(t => t.GetString()).ToArray()
                : [Text("text") ?? throw new InvalidDataException($"{path}:{number} has neither \"texts\" nor \"text\".")];
            Dictionary<string, string>? metadata = null;
            if (row.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object)
            {
                metadata = meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString());
            }

            yield return new EmbedRequested
            {
                RequestId = Text("requestId") ?? Text("id") ?? $"{name}:{number}",
                Texts = texts,
                Model = Text("model") ?? model,
                InputType = Text("inputType"),
                Metadata = metadata,
            };
        }
    }
}
