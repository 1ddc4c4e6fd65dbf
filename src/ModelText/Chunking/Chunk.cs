namespace AkiDb.Queue.ModelText.Chunking;

/// <summary>A piece of a document, with where it starts so results can point back into the source.</summary>
public sealed record Chunk(int Index, int Start, string Text)
{
    /// <summary>
    /// Its size as the chunker measured it (<see cref="IChunkMeasure.Count"/>: tokens with the model's overhead, or
    /// characters); 0 when not measured. A sender groups chunks of about one size into a message by it.
    /// </summary>
    public int Size { get; init; }
}
