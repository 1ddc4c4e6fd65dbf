using AkiDb.Queue.Worker.Batching;

namespace AkiDb.Queue.Tests;

/// <summary>The planner's rules for classes and deadlines, with the clock passed in: no sleeps, no timing.</summary>
public sealed class PriorityPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private long _sequence;

    [Fact]
    public void An_interactive_text_anchors_the_next_batch_ahead_of_an_older_backlog_and_runs_without_it()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32 });
        var bulk = Enumerable.Range(0, 100).Select(_ => Add(planner, 10, RequestPriority.Normal)).ToList();
        var interactive = Add(planner, 10, RequestPriority.Interactive);

        var first = planner.TryTake(T0)!;

        Assert.Equal([interactive], first.Rows);
        Assert.Empty(first.Duplicates);
        Assert.Contains(bulk[0], planner.TryTake(T0)!.Rows);
    }

    [Fact]
    public void Interactive_texts_of_several_requests_share_their_batch()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32 });
        Add(planner, 12, RequestPriority.Normal);
        var a = Add(planner, 12, RequestPriority.Interactive);
        Add(planner, 12, RequestPriority.Background);
        var b = Add(planner, 11, RequestPriority.Interactive);

        var batch = planner.TryTake(T0)!;

        Assert.Equal(new HashSet<PendingText> { a, b }, batch.Rows.ToHashSet());
    }

    [Fact]
    public void Normal_work_overtakes_background_work()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 4, MinPaddingEfficiency = 0 });
        var background = Enumerable.Range(0, 4).Select(_ => Add(planner, 10, RequestPriority.Background)).ToList();
        var normal = Add(planner, 10, RequestPriority.Normal);

        var first = planner.TryTake(T0)!;

        Assert.Equal(normal, first.Rows[0]);
        Assert.Contains(background[0], planner.TryTake(T0)!.Rows.Concat(first.Rows));
    }

    [Fact]
    public void The_oldest_bulk_text_is_passed_over_no_longer_than_the_bound_by_a_steady_interactive_stream()
    {
        var bound = TimeSpan.FromSeconds(1);
        var step = TimeSpan.FromMilliseconds(100);
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32, MaxPassOver = bound });
        var oldestBulk = Add(planner, 10, RequestPriority.Normal);
        Enumerable.Range(0, 50).ToList().ForEach(_ => Add(planner, 10, RequestPriority.Normal));

        // Interactive traffic that on its own would keep every batch busy: one new interactive text per batch.
        var now = T0;
        DateTimeOffset? bulkRan = null;
        for (var i = 0; i < 100 && bulkRan is null; i++)
        {
            Add(planner, 10, RequestPriority.Interactive);
            var batch = planner.TryTake(now)!;
            if (batch.Rows.Contains(oldestBulk))
            {
                bulkRan = now;
            }
            else
            {
                Assert.All(batch.Rows, r => Assert.Equal(RequestPriority.Interactive, r.Priority));
            }

            now += step;
        }

        Assert.NotNull(bulkRan);
        Assert.Equal(bulkRan.Value - T0, planner.Backlog().LongestPassOver);
        Assert.True(bulkRan.Value - T0 >= bound, "the bulk text ran before the bound, so interactive texts were not first");
        Assert.True(bulkRan.Value - T0 <= bound + step, $"the bulk text was passed over for {(bulkRan.Value - T0).TotalMilliseconds} ms; the bound is {bound.TotalMilliseconds} ms");
    }

    [Fact]
    public void By_default_while_interactive_requests_arrive_bulk_batches_hold_8_texts_to_free_lanes_and_prefetch_slots_sooner()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32 });
        Enumerable.Range(0, 100).ToList().ForEach(_ => Add(planner, 10, RequestPriority.Normal));

        Assert.Equal(32, planner.TryTake(T0)!.Rows.Count);
        Add(planner, 10, RequestPriority.Interactive);
        Assert.Single(planner.TryTake(T0)!.Rows);
        Assert.Equal(8, planner.TryTake(T0.AddMilliseconds(500))!.Rows.Count);
        Assert.Equal(32, planner.TryTake(T0.AddSeconds(2))!.Rows.Count);
    }

    [Fact]
    public void An_interactive_request_answered_from_the_cache_also_caps_bulk_batches_for_a_while()
    {
        // It never reaches the planner, but it waited for a prefetch slot like any other: bulk batches stay short so
        // held messages finish, and free slots, sooner for the next one.
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32 });
        Enumerable.Range(0, 100).ToList().ForEach(_ => Add(planner, 10, RequestPriority.Normal));

        Assert.Equal(32, planner.TryTake(T0)!.Rows.Count);
        planner.InteractiveAnsweredFromCache(T0.AddMilliseconds(100));
        Assert.Equal(8, planner.TryTake(T0.AddMilliseconds(200))!.Rows.Count);
        Assert.Equal(8, planner.TryTake(T0.AddMilliseconds(1000))!.Rows.Count);
        Assert.Equal(32, planner.TryTake(T0.AddMilliseconds(1200))!.Rows.Count);
    }

    [Fact]
    public void While_interactive_requests_arrive_and_a_full_bulk_batch_runs_the_next_bulk_batch_is_held_to_the_token_cap()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32, BulkBatchTextsWhileInteractive = 0, BulkTokensWhileInteractive = 96 });
        Enumerable.Range(0, 200).ToList().ForEach(_ => Add(planner, 10, RequestPriority.Normal));

        // No interactive traffic yet: full batches on every lane, whatever runs.
        var full = planner.TryTake(T0, largeBulkRunning: 1)!;
        Assert.Equal(32, full.Rows.Count);
        Assert.True(full.IsLargeBulk);

        Add(planner, 10, RequestPriority.Interactive);
        var query = planner.TryTake(T0, largeBulkRunning: 1)!;
        Assert.Equal(RequestPriority.Interactive, Assert.Single(query.Rows).Priority);
        Assert.False(query.IsLargeBulk);

        // Interactive traffic now: beside a full bulk batch, the next holds at most 96 padded tokens (9 rows of 10) ...
        var capped = planner.TryTake(T0.AddMilliseconds(200), largeBulkRunning: 1)!;
        Assert.Equal(9, capped.Rows.Count);
        Assert.True(capped.Capped);
        Assert.False(capped.IsLargeBulk);
        // ... while a lane with no full batch beside it still gets one (throughput), and so does everyone once it is quiet.
        Assert.Equal(32, planner.TryTake(T0.AddMilliseconds(300), largeBulkRunning: 0)!.Rows.Count);
        Assert.Equal(32, planner.TryTake(T0.AddSeconds(2), largeBulkRunning: 1)!.Rows.Count);
    }

    [Fact]
    public void A_text_longer_than_the_interactive_token_cap_still_runs_alone()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32, BulkBatchTextsWhileInteractive = 0, BulkTokensWhileInteractive = 96 });
        var longText = Add(planner, 200, RequestPriority.Normal);
        Enumerable.Range(0, 10).ToList().ForEach(_ => Add(planner, 200, RequestPriority.Normal));
        Add(planner, 10, RequestPriority.Interactive);
        planner.TryTake(T0, largeBulkRunning: 1);

        var batch = planner.TryTake(T0.AddMilliseconds(100), largeBulkRunning: 1)!;

        Assert.Equal([longText], batch.Rows);
        Assert.True(batch.Capped);
    }

    [Fact]
    public void The_cap_off_leaves_bulk_batches_full_beside_interactive_traffic()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 32, BulkBatchTextsWhileInteractive = 0, BulkTokensWhileInteractive = 0 });
        Enumerable.Range(0, 100).ToList().ForEach(_ => Add(planner, 10, RequestPriority.Normal));
        Add(planner, 10, RequestPriority.Interactive);
        planner.TryTake(T0, largeBulkRunning: 1);

        Assert.Equal(32, planner.TryTake(T0.AddMilliseconds(100), largeBulkRunning: 1)!.Rows.Count);
    }

    [Fact]
    public void Without_interactive_traffic_a_bulk_text_is_never_counted_as_passed_over()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 2, MaxPassOver = TimeSpan.FromSeconds(1) });
        var texts = Enumerable.Range(0, 6).Select(_ => Add(planner, 10, RequestPriority.Normal)).ToList();

        var order = new List<PendingText>();
        while (planner.TryTake(T0) is { } batch)
        {
            order.AddRange(batch.Rows);
        }

        Assert.Equal(texts, order);
        Assert.All(texts, t => Assert.Null(t.PassedOverSince));
    }

    [Fact]
    public async Task Each_requests_texts_keep_their_order_across_batches_and_in_the_result()
    {
        var planner = new BatchPlanner(new BatchingOptions { MaxBatchTexts = 16, MinPaddingEfficiency = 0 });
        Enumerable.Range(0, 20).ToList().ForEach(_ => Add(planner, 10, RequestPriority.Normal));
        var job = new EmbedJob(40, default, new RequestUrgency(RequestPriority.Interactive, null));
        for (var i = 0; i < 40; i++)
        {
            planner.Add("m", new PendingText(job, i, Ids(8 + (i % 3)), ++_sequence));
        }

        var indexes = new List<int>();
        var batchId = 0;
        while (planner.TryTake(T0) is { } batch)
        {
            var mine = batch.AllTexts.Where(t => t.Job == job).ToList();
            Assert.True(mine.Count == 0 || batchId < 3, "the interactive request's 40 texts did not fill the first three batches");
            // Texts of equal length go in the order they were sent.
            foreach (var sameLength in mine.GroupBy(t => t.Length))
            {
                Assert.Equal(sameLength.Select(t => t.Index).Order(), sameLength.Select(t => t.Index));
            }

            indexes.AddRange(mine.Select(t => t.Index));
            foreach (var text in mine)
            {
                job.SetVector(text.Index, [text.Index], new BatchRun(batchId, 0, 1, "CPU"));
            }

            batchId++;
        }

        Assert.Equal(Enumerable.Range(0, 40), indexes.Order());
        var result = await job.Completion;
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (float)i), result.Vectors.Select(v => v[0]));
    }

    [Fact]
    public async Task A_request_whose_deadline_has_passed_is_failed_before_its_batch_and_costs_no_row()
    {
        var planner = new BatchPlanner(new BatchingOptions());
        var expired = new EmbedJob(2, default, new RequestUrgency(RequestPriority.Interactive, T0));
        planner.Add("m", new PendingText(expired, 0, Ids(10), ++_sequence));
        planner.Add("m", new PendingText(expired, 1, Ids(10), ++_sequence));
        var live = Add(planner, 10, RequestPriority.Normal);

        var batch = planner.TryTake(T0 + TimeSpan.FromMilliseconds(1))!;

        Assert.Equal([live], batch.AllTexts);
        var error = await Assert.ThrowsAsync<RequestExpiredException>(() => expired.Completion);
        Assert.Equal(T0, error.Deadline);
        Assert.Null(planner.TryTake(T0));
    }

    [Fact]
    public void A_request_before_its_deadline_runs()
    {
        var planner = new BatchPlanner(new BatchingOptions());
        var job = new EmbedJob(1, default, new RequestUrgency(RequestPriority.Normal, T0 + TimeSpan.FromSeconds(5)));
        var text = new PendingText(job, 0, Ids(10), ++_sequence);
        planner.Add("m", text);

        Assert.Equal([text], planner.TryTake(T0)!.Rows);
        Assert.False(job.IsFinished);
    }

    [Fact]
    public void A_retried_half_of_a_failed_batch_is_expired_too_when_its_deadline_passes()
    {
        var planner = new BatchPlanner(new BatchingOptions());
        var job = new EmbedJob(2, default, new RequestUrgency(RequestPriority.Normal, T0 + TimeSpan.FromSeconds(1)));
        planner.Add("m", new PendingText(job, 0, Ids(10), ++_sequence));
        planner.Add("m", new PendingText(job, 1, Ids(11), ++_sequence));
        var batch = planner.TryTake(T0)!;
        Assert.Equal(2, batch.Rows.Count);

        planner.Fail(batch);

        Assert.Null(planner.TryTake(T0 + TimeSpan.FromSeconds(2)));
        Assert.True(job.Completion.IsFaulted);
    }

    [Fact]
    public void The_backlog_counts_waiting_texts_by_class_and_knows_the_oldest_request()
    {
        var planner = new BatchPlanner(new BatchingOptions());
        var old = new EmbedJob(1, default, default, T0);
        planner.Add("m", new PendingText(old, 0, Ids(5), ++_sequence));
        planner.Add("m", new PendingText(new EmbedJob(1, default, new RequestUrgency(RequestPriority.Interactive, null), T0.AddSeconds(3)), 0, Ids(5), ++_sequence));
        planner.Add("m", new PendingText(new EmbedJob(1, default, new RequestUrgency(RequestPriority.Background, null), T0.AddSeconds(1)), 0, Ids(5), ++_sequence));

        var backlog = planner.Backlog();

        Assert.Equal(1, backlog.Texts(RequestPriority.Interactive));
        Assert.Equal(1, backlog.Texts(RequestPriority.Normal));
        Assert.Equal(1, backlog.Texts(RequestPriority.Background));
        Assert.Equal(3, backlog.TotalTexts);
        Assert.Equal(T0, backlog.OldestSentAt);
    }

    private PendingText Add(BatchPlanner planner, int length, RequestPriority priority)
    {
        var text = new PendingText(new EmbedJob(1, default, new RequestUrgency(priority, null)), 0, Ids(length), ++_sequence);
        planner.Add("m", text);
        return text;
    }

    private long[] Ids(int length) => PlannerTexts.Ids(length, _sequence);
}
