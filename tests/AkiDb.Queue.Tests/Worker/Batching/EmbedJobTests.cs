using AkiDb.Queue.Worker.Batching;

namespace AkiDb.Queue.Tests;

public sealed class EmbedJobTests
{
    [Fact]
    public async Task Vectors_land_in_input_order_whatever_order_batches_finish_in()
    {
        var job = new EmbedJob(3, default);
        var late = new BatchRun(2, 200, 5, "CPU");
        var early = new BatchRun(1, 100, 7, "CPU");

        job.SetVector(2, [2f], late);
        job.SetVector(0, [0f], early);
        Assert.False(job.IsFinished);
        job.SetVector(1, [1f], late);

        var result = await job.Completion;
        Assert.Equal([[0f], [1f], [2f]], result.Vectors);
        Assert.Equal(12, result.InferenceMs); // each batch counted once
        Assert.Equal(200, result.LastBatchStarted);
        Assert.Equal(2, result.Batches);
    }

    [Fact]
    public async Task A_failure_ends_the_job_and_later_vectors_are_ignored()
    {
        var job = new EmbedJob(2, default);
        job.Fail(new PoisonTextException(1, 2, "boom"));
        job.SetVector(0, [1f], new BatchRun(1, 1, 1, "CPU"));

        var error = await Assert.ThrowsAsync<PoisonTextException>(() => job.Completion);
        Assert.Equal(1, error.TextIndex);
    }

    [Fact]
    public async Task Cached_texts_are_marked_and_a_request_of_only_cached_texts_completes_without_a_batch()
    {
        var mixed = new EmbedJob(2, default);
        mixed.SetCached(1, [1f], foundAt: 50);
        Assert.False(mixed.IsFinished);
        mixed.SetVector(0, [0f], new BatchRun(1, 100, 4, "CPU"));
        var result = await mixed.Completion;
        Assert.Equal([false, true], result.Cached);
        Assert.Equal(1, result.Batches);
        Assert.Equal(100, result.LastBatchStarted);

        var allCached = new EmbedJob(1, default);
        allCached.SetCached(0, [2f], foundAt: 70);
        var cached = await allCached.Completion;
        Assert.Equal([true], cached.Cached);
        Assert.Equal(0, cached.Batches);
        Assert.Equal(0, cached.InferenceMs);
        Assert.Equal(70, cached.LastBatchStarted);
    }
}
