using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Texts chosen for one model call. <see cref="Rows"/> are distinct token sequences; each of <see cref="Duplicates"/>
/// equals one row and takes that row's vector.
/// </summary>
internal sealed class PlannedBatch(string model, List<PendingText> rows, List<(PendingText Text, int Row)> duplicates)
{
    public string Model { get; } = model;

    public List<PendingText> Rows { get; } = rows;

    public List<(PendingText Text, int Row)> Duplicates { get; } = duplicates;

    public int SequenceLength => Rows.Max(r => r.Length);

    public IEnumerable<PendingText> AllTexts => Rows.Concat(Duplicates.Select(d => d.Text));

    public int RealTokens => Rows.Sum(r => r.Length);

    public int PaddedTokens => Rows.Count * SequenceLength;

    public InferenceBatch ToInferenceBatch(System.Diagnostics.ActivityContext traceContext)
    {
        var seq = SequenceLength;
        var ids = new long[Rows.Count * seq];
        var lengths = new int[Rows.Count];
        for (var i = 0; i < Rows.Count; i++)
        {
            Rows[i].Ids.CopyTo(ids.AsSpan(i * seq));
            lengths[i] = Rows[i].Length;
        }

        return new InferenceBatch
        {
            Model = Model, Rows = Rows.Count, SequenceLength = seq, InputIds = ids, Lengths = lengths, TraceContext = traceContext,
        };
    }
}
