using AkiDb.Queue.Worker.Telemetry;

namespace AkiDb.Queue.Tests;

public sealed class CapacityEstimateTests
{
    [Fact]
    public void Capacity_is_texts_per_busy_second_times_the_lanes()
    {
        var estimate = new CapacityEstimate();
        Assert.Null(estimate.TextsPerSecond(2));

        estimate.RecordBatch(32, 100);
        estimate.RecordBatch(8, 100);

        Assert.Equal(400, estimate.TextsPerSecond(2)!.Value, 6);
    }

    [Fact]
    public void Texts_per_request_is_the_mean_seen()
    {
        var estimate = new CapacityEstimate();
        Assert.Equal(1, estimate.TextsPerRequest);

        estimate.RecordRequest(1);
        estimate.RecordRequest(5);

        Assert.Equal(3, estimate.TextsPerRequest);
    }
}
