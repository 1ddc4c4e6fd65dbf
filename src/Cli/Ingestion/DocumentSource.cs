using System.Text.Json;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.ModelText.Chunking;
using AkiDb.Queue.ModelText.Input;

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
    public static IEnumerable<EmbedRequested> FromFolder(string folder, int maxChars, int overlap, int textsPerMessage, string? model) =>
        FromFolder(folder, new Chunker(CharacterMeasure.Instance, maxChars, overlap).Split, textsPerMessage, model);

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
        foreach (var line in JsonLines.Read(path))
        {
            var texts = line.Row.TryGetProperty("texts", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Select(t => t.GetString()).ToArray()
                : [line.Text("text") ?? throw new InvalidDataException($"{path}:{line.Number} has neither \"texts\" nor \"text\".")];
            yield return new EmbedRequested
            {
                RequestId = line.Text("requestId") ?? line.Text("id") ?? $"{name}:{line.Number}",
                Texts = texts,
                Model = line.Text("model") ?? model,
                InputType = line.Text("inputType"),
                Metadata = line.Metadata(),
            };
        }
    }
}
