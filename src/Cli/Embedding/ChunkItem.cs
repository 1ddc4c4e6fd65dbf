namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// One chunk of one input document: the unit <c>embed</c> sends, and writes one output line for.
/// <see cref="Seq"/> is its position in the whole input, the same on every run over the same input.
/// </summary>
internal sealed record ChunkItem(int Seq, string Id, int ChunkIndex, int Start, int End, string Text, IReadOnlyDictionary<string, string>? Metadata);
