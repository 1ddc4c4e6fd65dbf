using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Texts chosen for one model call. <see cref="Rows"/> are distinct token sequences; each of <see cref="Duplicates"/>
/// equals one row and takes that row's vector.
/// </summary>
internal sealed class PlannedBatch(string model, List<PendingText> rows, List<(PendingText Text, int Row)> duplicates)
{
    public string Model { get; } = model;

    /// <summary>
    /// A bulk batch held short by <see cref="BatchingOptions.BulkTokensWhileInteractive"/>; the loop counts the
    /// batches that are not (<see cref="IsLargeBulk"/>) while they run.
    /// </summary>
    public bool Capped { get; init; }

    /// <summary>A batch of non-interactive texts, not capped: the kind that keeps a lane busy longest.</summary>
    public bool IsLargeBulk => !Capped && Rows.Count > 0 && Rows[0].Priority != RequestPriority.Interactive;

    public List<PendingText> Rows { get; } = rows;

    public List<(PendingText Text, int Row)> Duplicates { get; } = duplicates;

    public int SequenceLength => Rows.Max(r => r.Length);

    public IEnumerable<PendingText> AllTexts => Rows.Concat(Duplicates.Select(d => d.Text));

    public int RealTokens => Rows.Sum(r => r.Length);

    public int PaddedTokens => Rows.Count * SequenceLength;

    /// <summary>Rows are the distinct token sequences, in order; the rest point at their row.</summary>
    public static PlannedBatch Grouped(string model, List<PendingText> texts)
    {
        var rows = new List<PendingText>();
        var duplicates = new List<(PendingText, int)>();
        var rowOf = new Dictionary<TokenKey, int>();
        foreach (var text in texts)
        {
            if (rowOf.TryGetValue(text.Key, out var row))
            {
                duplicates.Add((text, row));
            }
            else
            {
                rowOf[text.Key] = rows.Count;
                rows.Add(text);
            }
        }

        return new PlannedBatch(model, rows, duplicates);
    }

    /// <summary>Rows <paramref name="from"/> to <paramref name="to"/> (exclusive), with their duplicates.</summary>
    public PlannedBatch Slice(int from, int to)
    {
        var rows = Rows.GetRange(from, to - from);
        var duplicates = Duplicates
            .Where(d => d.Row >= from && d.Row < to)
            .Select(d => (d.Text, d.Row - from))
            .ToList();
        return new PlannedBatch(Model, rows, duplicates);
    }

    public InferenceBatch ToInferenceBatch(System.Diagnostics.ActivityContext traceContext, Parallelism parallelism = Parallelism.Narrow)
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
            Parallelism = parallelism,
        };
    }
}
