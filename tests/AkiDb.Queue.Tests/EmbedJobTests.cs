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
}
