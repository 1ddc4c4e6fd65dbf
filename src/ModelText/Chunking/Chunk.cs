namespace AkiDb.Queue.ModelText.Chunking;

/// <summary>A piece of a document, with where it starts so results can point back into the source.</summary>
public sealed record Chunk(int Index, int Start, string Text);
