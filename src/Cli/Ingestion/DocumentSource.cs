using System.Text.Json;
using AkiDb.Queue.Contracts;

namespace AkiDb.Queue.Cli.Ingestion;

/// <summary>Turns a folder of text/markdown files, or a JSONL file, into requests.</summary>
internal static class DocumentSource
{
    private static readonly string[] TextExtensions = [".txt", ".md", ".markdown", ".rst", ".text"];
    private static readonly string[] JsonLinesExtensions = [".jsonl", ".ndjson", ".json"];

    /// <summary>
    /// A folder: every text file, chunked; each request carries up to <paramref name="textsPerMessage"/> chunks of one
    /// file, with the file and chunk range in its metadata. Request ids are stable (path#first-chunk), so a re-run
    /// produces the same ids and consumers can de-duplicate.
    /// </summary>
    public static IEnumerable<EmbedRequested> FromFolder(string folder, int maxChars, int overlap, int textsPerMessage, string? model) =>
        FromFolder(folder, text => TextChunker.Split(text, maxChars, overlap), textsPerMessage, model);

    /// <summary>As above with any chunker (the token-aware one by default); <paramref name="path"/> may also be a single text file.</summary>
    public static IEnumerable<EmbedRequested> FromFolder(string path, Func<string, IEnumerable<Chunk>> chunker, int textsPerMessage, string? model)
    {
        foreach (var (relative, file) in TextFiles(path))
        {
            var chunks = chunker(File.ReadAllText(file)).ToList();
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

    /// <summary>True for the file types read as JSON lines (.jsonl, .ndjson, .json); any other file is read as text.</summary>
    public static bool IsJsonLines(string path) =>
        File.Exists(path) && JsonLinesExtensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The text files under a folder (recursively, .txt/.md/.markdown/.rst/.text, in ordinal path order) with their paths
    /// relative to it; or a single file, of any extension, named by its file name.
    /// </summary>
    public static IEnumerable<(string Relative, string Path)> TextFiles(string path)
    {
        if (File.Exists(path))
        {
            return [(System.IO.Path.GetFileName(path), System.IO.Path.GetFullPath(path))];
        }

        var root = System.IO.Path.GetFullPath(path);
        return Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => TextExtensions.Contains(System.IO.Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .Select(f => (System.IO.Path.GetRelativePath(root, f).Replace('\\', '/'), f));
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
