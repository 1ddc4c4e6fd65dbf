namespace AkiDb.Queue.ModelText.Chunking;

/// <summary>
/// What <see cref="Chunker"/> counts a chunk's size in: the model's tokens (<see cref="ModelTokenizer"/>), or characters
/// (<see cref="CharacterMeasure"/>, the CLI's <c>--chunk-chars</c>).
/// </summary>
public interface IChunkMeasure
{
    /// <summary>The most a chunk may measure (the model's token limit; for characters, no limit of its own).</summary>
    int Limit { get; }

    /// <summary>What every chunk costs besides its own text ([CLS], [SEP] and a document prefix for tokens).</summary>
    int Overhead { get; }

    /// <summary>The size of a chunk as the model will see it (<see cref="Overhead"/> included); over <see cref="Limit"/> may be capped at <see cref="Limit"/> + 1.</summary>
    int Count(string text);

    /// <summary>
    /// The size of one word on its own, without the overhead; summed over a chunk's words it is never less than
    /// <see cref="Count"/> of the chunk minus the overhead, so a chunk filled by these counts fits.
    /// </summary>
    int CountBare(string text);
}
