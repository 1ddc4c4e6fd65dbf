namespace AkiDb.Queue.Cli.Ingestion;

/// <summary>One document to embed: its id (as the user knows it), its text, and metadata to carry into the output.</summary>
internal sealed record InputDocument(string Id, string Text, IReadOnlyDictionary<string, string>? Metadata);
