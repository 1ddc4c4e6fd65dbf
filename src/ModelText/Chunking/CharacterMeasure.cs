namespace AkiDb.Queue.ModelText.Chunking;

/// <summary>Chunk sizes in characters (the CLI's <c>--chunk-chars</c>): a word costs its length and the space after it.</summary>
public sealed class CharacterMeasure : IChunkMeasure
{
    public static CharacterMeasure Instance { get; } = new();

    public int Limit => int.MaxValue - 1;

    public int Overhead => 0;

    public int Count(string text) => text.Length;

    public int CountBare(string text) => text.Length + 1;
}
