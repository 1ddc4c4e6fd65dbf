using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Bench.Corpora;

/// <summary>One text of a corpus, with the token ids the worker's own tokenizer gives it ([CLS] ... [SEP]).</summary>
public sealed record CorpusText(string Text, long[] Ids)
{
    public int Tokens => Ids.Length;
}

/// <summary>A named set of distinct texts in a fixed, shuffled order (the order messages are published in).</summary>
public sealed class Corpus(string name, string description, IReadOnlyList<CorpusText> texts)
{
    public string Name { get; } = name;

    public string Description { get; } = description;

    public IReadOnlyList<CorpusText> Texts { get; } = texts;

    public int Count => Texts.Count;

    /// <summary>Texts sorted by token count (stable), cut into batches of <paramref name="size"/>: how the limit, the peer and the bridges run.</summary>
    public IReadOnlyList<IReadOnlyList<CorpusText>> SortedChunks(int size) =>
        Texts.Select((t, i) => (t, i)).OrderBy(x => x.t.Tokens).ThenBy(x => x.i).Select(x => x.t)
            .Chunk(size).Select(c => (IReadOnlyList<CorpusText>)c).ToList();

    public IReadOnlyList<InferenceBatch> SortedBatches(int size, string model) =>
        SortedChunks(size).Select(c => ToBatch(c, model)).ToList();

    /// <summary>A padded batch exactly as the worker's scheduler builds one (PlannedBatch.ToInferenceBatch).</summary>
    public static InferenceBatch ToBatch(IReadOnlyList<CorpusText> rows, string model)
    {
        var seq = rows.Max(r => r.Tokens);
        var ids = new long[rows.Count * seq];
        var lengths = new int[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            rows[i].Ids.CopyTo(ids.AsSpan(i * seq));
            lengths[i] = rows[i].Tokens;
        }

        return new InferenceBatch { Model = model, Rows = rows.Count, SequenceLength = seq, InputIds = ids, Lengths = lengths };
    }

    public CorpusStats Describe()
    {
        var tokens = Texts.Select(t => (double)t.Tokens).ToList();
        var sorted = SortedBatches(32, "m");
        var padded = sorted.Sum(b => (double)b.PaddedTokens);
        return new CorpusStats(Name, Description, Count, tokens.Min(), Stats.Percentile(tokens, 25), Stats.Median(tokens),
            Stats.Percentile(tokens, 75), tokens.Max(), tokens.Average(), Texts.Average(t => t.Text.Length),
            tokens.Sum() / padded);
    }
}

/// <summary>Token-length statistics of a corpus ([CLS] and [SEP] included); padding efficiency of its length-sorted batches of 32.</summary>
public sealed record CorpusStats(
    string Name, string Description, int Texts, double MinTokens, double P25Tokens, double MedianTokens, double P75Tokens,
    double MaxTokens, double MeanTokens, double MeanChars, double SortedBatch32PaddingEfficiency);
