namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Decides which waiting texts go into the next model call. Pure logic with no clock and no threads, so its rules
/// are unit-tested directly; <see cref="EmbeddingScheduler"/> guards it with a lock.
/// <list type="bullet">
/// <item>The oldest waiting text anchors every batch: whatever its length, it cannot starve.</item>
/// <item>The batch is filled with the texts nearest to the anchor's length, within the token budget, the size cap
/// and the padding-efficiency floor.</item>
/// <item>Identical token sequences in a batch are computed once.</item>
/// <item>A failed batch is split in halves and retried before any single text is blamed; a text that fails alone
/// <see cref="BatchingOptions.MaxAttemptsAlone"/> times is given up.</item>
/// </list>
/// </summary>
internal sealed class BatchPlanner(BatchingOptions options)
{
    // Per model, in arrival order. Removal is O(n), and n is bounded by the prefetch count times texts per message.
    private readonly Dictionary<string, List<PendingText>> _waiting = new(StringComparer.OrdinalIgnoreCase);

    // Groups from failed batches, retried as they are, ahead of new work.
    private readonly LinkedList<PlannedBatch> _isolation = new();

    public void Add(string model, PendingText text)
    {
        if (!_waiting.TryGetValue(model, out var list))
        {
            _waiting[model] = list = [];
        }

        list.Add(text);
    }

    /// <summary>The next batch to run, or null when nothing waits.</summary>
    public PlannedBatch? TryTake()
    {
        while (_isolation.First is { } first)
        {
            _isolation.RemoveFirst();
            var live = first.Value.AllTexts.Where(t => !t.Job.IsFinished).ToList();
            if (live.Count > 0)
            {
                return Group(first.Value.Model, live);
            }
        }

        foreach (var list in _waiting.Values)
        {
            list.RemoveAll(t => t.Job.IsFinished);
        }

        var (model, queue) = _waiting
            .Where(kv => kv.Value.Count > 0)
            .OrderBy(kv => kv.Value[0].Sequence)
            .Select(kv => (kv.Key, kv.Value))
            .FirstOrDefault();
        if (queue is null)
        {
            return null;
        }

        var anchor = queue[0];
        var rows = new List<PendingText> { anchor };
        var duplicates = new List<(PendingText, int)>();
        var rowOf = new Dictionary<TokenKey, int> { [anchor.Key] = 0 };
        var maxLength = anchor.Length;
        var realTokens = anchor.Length;

        var candidates = queue.Skip(1)
            .OrderBy(t => Math.Abs(t.Length - anchor.Length))
            .ThenBy(t => t.Sequence);
        foreach (var text in candidates)
        {
            if (rowOf.TryGetValue(text.Key, out var row))
            {
                duplicates.Add((text, row));
                continue;
            }

            if (rows.Count >= options.MaxBatchTexts)
            {
                continue;
            }

            var newMax = Math.Max(maxLength, text.Length);
            var padded = (rows.Count + 1) * newMax;
            if (padded > options.TokenBudget || (double)(realTokens + text.Length) / padded < options.MinPaddingEfficiency)
            {
                continue;
            }

            rowOf[text.Key] = rows.Count;
            rows.Add(text);
            maxLength = newMax;
            realTokens += text.Length;
        }

        var taken = new HashSet<PendingText>(rows);
        taken.UnionWith(duplicates.Select(d => d.Item1));
        queue.RemoveAll(taken.Contains);
        return new PlannedBatch(model, rows, duplicates);
    }

    /// <summary>The lane could not take the batch: put it back first in line, unchanged.</summary>
    public void ReturnUnchanged(PlannedBatch batch) => _isolation.AddFirst(batch);

    /// <summary>
    /// Records a failed run. Splits a multi-text batch into halves (retried first); counts a failure against a text
    /// that ran alone, and returns the texts that have now failed alone too often.
    /// </summary>
    public IReadOnlyList<PendingText> Fail(PlannedBatch batch)
    {
        if (batch.Rows.Count > 1)
        {
            var half = batch.Rows.Count / 2;
            _isolation.AddFirst(Slice(batch, half, batch.Rows.Count));
            _isolation.AddFirst(Slice(batch, 0, half));
            return [];
        }

        var culprit = batch.Rows[0];
        culprit.FailuresAlone++;
        if (culprit.FailuresAlone >= options.MaxAttemptsAlone)
        {
            return [.. batch.AllTexts];
        }

        _isolation.AddFirst(batch);
        return [];
    }

    /// <summary>Rows are the distinct token sequences, in order; the rest point at their row.</summary>
    private static PlannedBatch Group(string model, List<PendingText> texts)
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

    private static PlannedBatch Slice(PlannedBatch batch, int from, int to)
    {
        var rows = batch.Rows.GetRange(from, to - from);
        var duplicates = batch.Duplicates
            .Where(d => d.Row >= from && d.Row < to)
            .Select(d => (d.Text, d.Row - from))
            .ToList();
        return new PlannedBatch(batch.Model, rows, duplicates);
    }
}
