using AkiDb.Queue.ModelText.Input;

namespace AkiDb.Queue.Cli.Ingestion;

/// <summary>
/// Reads <c>embed</c>'s input: a JSONL file (<c>{"id": "...", "text": "...", "metadata": {...}}</c> per line), a
/// single text/markdown file, or a folder of them. Documents come in a stable order, so a re-run sees the same
/// documents in the same order and can skip what it wrote before.
/// </summary>
internal static class InputDocuments
{
    public static IEnumerable<InputDocument> Read(string path) =>
        JsonLines.IsJsonLines(path)
            ? FromJsonLines(path)
            : DocumentSource.TextFiles(path).Select(f => new InputDocument(f.Relative, File.ReadAllText(f.Path), null));

    /// <summary>
    /// <c>id</c> (or <c>requestId</c>) is optional and defaults to <c>file:line</c>; <c>text</c> is required;
    /// <c>metadata</c> is an optional object whose values are kept as strings. Blank lines are skipped.
    /// </summary>
    public static IEnumerable<InputDocument> FromJsonLines(string path)
    {
        var name = Path.GetFileName(path);
        foreach (var line in JsonLines.Read(path))
        {
            var text = line.Text("text") ?? throw new InvalidDataException($"{path}:{line.Number} has no \"text\" string.");
            yield return new InputDocument(line.Text("id") ?? line.Text("requestId") ?? $"{name}:{line.Number}", text, line.Metadata());
        }
    }
}
