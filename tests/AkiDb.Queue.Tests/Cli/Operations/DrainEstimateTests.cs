using AkiDb.Queue.Cli.Operations;

namespace AkiDb.Queue.Tests;

public sealed class DrainEstimateTests
{
    [Fact]
    public void Rates_and_ETA_come_from_the_results_seen_and_the_depth_left()
    {
        var estimate = new DrainEstimate(Seconds: 4, Requests: 40, Texts: 320, ReadyAtStart: 240, ReadyAtEnd: 200);

        Assert.Equal(80, estimate.TextsPerSecond);
        Assert.Equal(10, estimate.RequestsPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(20), estimate.Eta);
        Assert.Equal(1600, estimate.TextsQueued);
        Assert.Contains("80.0 texts/s", estimate.Describe(), StringComparison.Ordinal);
        Assert.Contains("ETA 20 s for 200 queued requests", estimate.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_stalled_queue_has_no_ETA_and_an_empty_one_needs_none()
    {
        Assert.Null(new DrainEstimate(5, 0, 0, 10, 10).Eta);
        Assert.Contains("no ETA: 10 requests wait", new DrainEstimate(5, 0, 0, 10, 10).Describe(), StringComparison.Ordinal);
        Assert.Equal(TimeSpan.Zero, new DrainEstimate(5, 0, 0, 0, 0).Eta);
        Assert.Contains("the queue is empty", new DrainEstimate(5, 3, 3, 3, 0).Describe(), StringComparison.Ordinal);
    }
}
