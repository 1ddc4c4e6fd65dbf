namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Decides which waiting texts go into the next model call. Pure logic with no clock and no threads, so its rules
/// are unit-tested directly; <see cref="EmbeddingScheduler"/> guards it with a lock.
/// <list type="bullet">
/// <item>The oldest waiting text of the highest class waiting (interactive, then normal, then background) anchors
/// every batch: whatever its length, it cannot starve. An interactive batch holds interactive texts only, so it stays
/// short; the next free lane takes it.</item>
/// <item>The oldest text overall, once passed over by higher classes for <see cref="BatchingOptions.MaxPassOver"/>,
/// anchors the next batch whatever its class: the bound on starvation.</item>
/// <item>A text whose request's deadline has passed is dropped before it runs and its request fails
/// (<see cref="RequestExpiredException"/>).</item>
/// <item>The batch is filled with the texts nearest to the anchor's length among the oldest
/// <see cref="BatchingOptions.FillWindowBatches"/> batches' worth of texts, then among the rest, within the token budget,
/// the size cap and the padding-efficiency floor: requests finish in about the order they came.</item>
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

    // How long after the last interactive request (a batch started, or one answered from the cache) other batches stay
    // capped (BulkBatchTextsWhileInteractive, BulkTokensWhileInteractive).
    private static readonly TimeSpan InteractiveActivity = TimeSpan.FromSeconds(1);

    // The longest a text was passed over before it ran, since start: the evidence for the starvation bound.
    private TimeSpan _longestPassOver;
    private DateTimeOffset _lastInteractive = DateTimeOffset.MinValue;

    public bool HasWork => _isolation.Count > 0 || _waiting.Values.Any(l => l.Count > 0);

    /// <summary>
    /// An interactive request was answered from the cache at <paramref name="now"/>: it never reached this planner, but
    /// it waited for a prefetch slot like any other, and held bulk messages finish (and free slots) sooner while bulk
    /// batches are capped. Without this, interactive traffic that hits the cache would leave bulk batches full.
    /// </summary>
    public void InteractiveAnsweredFromCache(DateTimeOffset now) => _lastInteractive = now;

    public void Add(string model, PendingText text)
    {
        if (!_waiting.TryGetValue(model, out var list))
        {
            _waiting[model] = list = [];
        }

        list.Add(text);
    }

    /// <summary>The next batch to run, or null when nothing waits.</summary>
    public PlannedBatch? TryTake(int largeBulkRunning = 0) => TryTake(DateTimeOffset.UtcNow, largeBulkRunning);

    /// <summary>
    /// The next batch to start at <paramref name="now"/>, or null when nothing waits. <paramref name="largeBulkRunning"/>:
    /// bulk batches running now that were not capped (<see cref="PlannedBatch.IsLargeBulk"/>); while interactive requests
    /// arrive and one of those runs, the next bulk batch is capped by <see cref="BatchingOptions.BulkTokensWhileInteractive"/>.
    /// </summary>
    public PlannedBatch? TryTake(DateTimeOffset now, int largeBulkRunning = 0)
    {
        while (_isolation.First is { } first)
        {
            _isolation.RemoveFirst();
            var live = first.Value.AllTexts.Where(t => !t.Job.IsFinished && !Expire(t.Job, now)).ToList();
            if (live.Count > 0)
            {
                return PlannedBatch.Grouped(first.Value.Model, live);
            }
        }

        foreach (var list in _waiting.Values)
        {
            list.RemoveAll(t => t.Job.IsFinished || Expire(t.Job, now));
        }

        if (ChooseAnchor(now) is not { } chosen)
        {
            return null;
        }

        var (model, queue, anchor, oldest) = chosen;

        var interactive = anchor.Priority == RequestPriority.Interactive;
        var interactiveActive = now - _lastInteractive < InteractiveActivity || WaitingInteractive(queue, anchor);
        var maxTexts = !interactive && options.BulkBatchTextsWhileInteractive > 0 && interactiveActive
            ? Math.Min(options.MaxBatchTexts, options.BulkBatchTextsWhileInteractive)
            : options.MaxBatchTexts;
        // One lane keeps full bulk batches (throughput); the batch for another lane is held short by its predicted model
        // time, so an interactive request arriving behind the backlog finds a lane free within one short batch.
        var capped = !interactive && interactiveActive && options.BulkTokensWhileInteractive > 0 && largeBulkRunning > 0;
        var tokenBudget = capped ? Math.Min(options.TokenBudget, options.BulkTokensWhileInteractive) : options.TokenBudget;
        if (interactive)
        {
            _lastInteractive = now;
        }

        var rows = new List<PendingText> { anchor };
        var duplicates = new List<(PendingText, int)>();
        var rowOf = new Dictionary<TokenKey, int> { [anchor.Key] = 0 };
        var maxLength = anchor.Length;
        var realTokens = anchor.Length;

        // An interactive batch takes interactive texts only: filling it with bulk would make its caller wait longer.
        // The oldest FillWindow texts come first (nearest length first among them), the rest after: requests finish
        // roughly in arrival order, so their messages are acknowledged steadily and the broker's prefetch frees a slot
        // every batch or two (where an interactive message, first in the broker's priority order, gets in). Nearest
        // length over the whole backlog instead spreads every batch over all held messages, so none finishes for
        // seconds and an interactive message waits that long to be delivered at all.
        var window = options.FillWindowBatches * maxTexts;
        var candidates = queue
            .Where(t => t != anchor && (!interactive || t.Priority == RequestPriority.Interactive))
            .Select((t, arrival) => (Text: t, InWindow: arrival < window))
            .OrderBy(c => c.InWindow ? 0 : 1)
            .ThenBy(c => Math.Abs(c.Text.Length - anchor.Length))
            .ThenBy(c => c.Text.Sequence)
            .Select(c => c.Text);
        foreach (var text in candidates)
        {
            if (rowOf.TryGetValue(text.Key, out var row))
            {
                duplicates.Add((text, row));
                continue;
            }

            if (rows.Count >= maxTexts)
            {
                continue;
            }

            var newMax = Math.Max(maxLength, text.Length);
            var padded = (rows.Count + 1) * newMax;
            if (padded > tokenBudget || (double)(realTokens + text.Length) / padded < options.MinPaddingEfficiency)
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
        if (!taken.Contains(oldest))
        {
            oldest.PassedOverSince ??= now;
        }
        else if (oldest.PassedOverSince is { } since && now - since > _longestPassOver)
        {
            _longestPassOver = now - since;
        }

        return new PlannedBatch(model, rows, duplicates) { Capped = capped };
    }

    // Another interactive text waits behind the anchor (it is taken in arrival order within its class).
    private static bool WaitingInteractive(List<PendingText> queue, PendingText anchor) =>
        queue.Exists(t => t != anchor && t.Priority == RequestPriority.Interactive);

    /// <summary>Texts waiting here by class, and the send time of the oldest request among them.</summary>
    public BacklogSnapshot Backlog()
    {
        var snapshot = new BacklogSnapshot { LongestPassOver = _longestPassOver };
        foreach (var text in _waiting.Values.SelectMany(l => l).Concat(_isolation.SelectMany(b => b.AllTexts)).Where(t => !t.Job.IsFinished))
        {
            snapshot.Add(text);
        }

        return snapshot;
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
            _isolation.AddFirst(batch.Slice(half, batch.Rows.Count));
            _isolation.AddFirst(batch.Slice(0, half));
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

    /// <summary>
    /// The highest class's oldest text anchors, unless the oldest text of all has been passed over for longer than the
    /// bound; <paramref name="now"/> is compared with <see cref="PendingText.PassedOverSince"/>.
    /// </summary>
    private (string Model, List<PendingText> Queue, PendingText Anchor, PendingText Oldest)? ChooseAnchor(DateTimeOffset now)
    {
        (string Model, List<PendingText> Queue, PendingText Text)? oldest = null;
        (string Model, List<PendingText> Queue, PendingText Text)? best = null;
        foreach (var (model, list) in _waiting)
        {
            if (list.Count == 0)
            {
                continue;
            }

            if (oldest is null || list[0].Sequence < oldest.Value.Text.Sequence)
            {
                oldest = (model, list, list[0]);
            }

            // Lists are in arrival order, so the first text of the highest class is that class's oldest.
            var top = list[0];
            foreach (var text in list)
            {
                if (top.Priority == RequestPriority.Interactive)
                {
                    break;
                }

                if (text.Priority > top.Priority)
                {
                    top = text;
                }
            }

            if (best is null || top.Priority > best.Value.Text.Priority || (top.Priority == best.Value.Text.Priority && top.Sequence < best.Value.Text.Sequence))
            {
                best = (model, list, top);
            }
        }

        if (oldest is not { } o || best is not { } b)
        {
            return null;
        }

        var starved = o.Text.PassedOverSince is { } since && now - since >= options.MaxPassOver;
        return starved ? (o.Model, o.Queue, o.Text, o.Text) : (b.Model, b.Queue, b.Text, o.Text);
    }

    /// <summary>Fails a request whose deadline has passed; true when it did.</summary>
    private static bool Expire(EmbedJob job, DateTimeOffset now)
    {
        if (job.Urgency.Deadline is not { } deadline || deadline > now)
        {
            return false;
        }

        job.Fail(new RequestExpiredException(deadline, now));
        return true;
    }
}
