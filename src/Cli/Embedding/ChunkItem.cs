namespace AkiDb.Queue.Cli.Embedding;

/// <summary>
/// One chunk of one input document: the unit <c>embed</c> sends, and writes one output line for.
/// <see cref="Seq"/> is its position in the whole input, the same on every run over the same input; <see cref="Size"/>
/// its tokens as the chunker counted them (0 when not counted), by which chunks of about one length share a message.
/// </summary>
internal sealed record ChunkItem(int Seq, string Id, int ChunkIndex, int Start, int End, string Text, IReadOnlyDictionary<string, string>? Metadata, int Size = 0);
