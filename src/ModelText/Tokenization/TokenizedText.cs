namespace AkiDb.Queue.ModelText.Tokenization;

/// <summary>Token ids of one text, [CLS] ... [SEP], and whether the text was cut to fit.</summary>
public sealed record TokenizedText(long[] Ids, bool Truncated)
{
    public int Length => Ids.Length;
}
