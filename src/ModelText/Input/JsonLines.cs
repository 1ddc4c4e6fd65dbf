using System.Text.Json;

namespace AkiDb.Queue.ModelText.Input;

/// <summary>One line of a JSONL file: its 1-based number (for messages and default ids) and its object.</summary>
public readonly record struct JsonLine(int Number, JsonElement Row)
{
    /// <summary>The property as a string, or null when it is absent or not a string.</summary>
    public string? Text(string property) =>
        Row.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary><c>metadata</c> as strings (a non-string value as its JSON), or null when there is no such object.</summary>
    public Dictionary<string, string>? Metadata() =>
        Row.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object
            ? meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString())
            : null;
}

/// <summary>
/// The one JSONL reader (the CLI's <c>embed</c> and <c>publish</c> inputs): one JSON object per line, blank lines
/// skipped, a line that is not a JSON object an <see cref="InvalidDataException"/> naming <c>path:line</c>.
/// </summary>
public static class JsonLines
{
    private static readonly string[] Extensions = [".jsonl", ".ndjson", ".json"];

    /// <summary>True for an existing file of the types read as JSON lines (.jsonl, .ndjson, .json); any other file is read as text.</summary>
    public static bool IsJsonLines(string path) =>
        File.Exists(path) && Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    public static IEnumerable<JsonLine> Read(string path)
    {
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

            yield return new JsonLine(number, row);
        }
    }
}
