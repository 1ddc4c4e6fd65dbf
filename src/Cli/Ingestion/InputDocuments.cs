using System.Text.Json;

namespace AkiDb.Queue.Cli.Ingestion;

/// <summary>
/// Reads <c>embed</c>'s input: a JSONL file (<c>{"id": "...", "text": "...", "metadata": {...}}</c> per line), a
/// single text/markdown file, or a folder of them. Documents come in a stable order, so a re-run sees the same
/// documents in the same order and can skip what it wrote before.
/// </summary>
internal static class InputDocuments
{
    public static IEnumerable<InputDocument> Read(string path) =>
        DocumentSource.IsJsonLines(path)
            ? FromJsonLines(path)
            : DocumentSource.TextFiles(path).Select(f => new InputDocument(f.Relative, File.ReadAllText(f.Path), null));

    /// <summary>
    /// <c>id</c> (or <c>requestId</c>) is optional and defaults to <c>file:line</c>; <c>text</c> is required;
    /// <c>metadata</c> is an optional object whose values are kept as strings. Blank lines are skipped.
    /// </summary>
    public static IEnumerable<InputDocument> FromJsonLines(string path)
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
                using var json = JsonDocument.Parse(line);
                row = json.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{number} is not JSON: {e.Message}", e);
            }

            if (row.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path}:{number} is not a JSON object.");
            }

            string? Text(string property) => row.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var text = Text("text") ?? throw new InvalidDataException($"{path}:{number} has no \"text\" string.");
            Dictionary<string, string>? metadata = null;
            if (row.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object)
            {
                metadata = meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
            }

            yield return new InputDocument(Text("id") ?? Text("requestId") ?? $"{name}:{number}", text, metadata);
        }
    }
}
