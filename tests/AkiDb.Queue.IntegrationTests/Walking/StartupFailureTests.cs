using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Walking;

/// <summary>A worker that cannot run its bridge at all stops at start, saying why and how to fix it.</summary>
[Collection(BrokerCollection.Name)]
public sealed class StartupFailureTests(BrokerFixture broker)
{
    [Fact]
    public async Task Without_a_Python_that_has_numpy_the_worker_fails_at_start_with_the_fix()
    {
        var (_, url) = await broker.CreateVirtualHostAsync("nopython");

        // /bin/false exists and runs, but is no Python with numpy.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            WorkerHost.StartAsync(url, new Dictionary<string, string?> { ["Bridge:PythonPath"] = "/bin/false" }));

        Assert.Contains("No Python 3.9+ with numpy", error.Message, StringComparison.Ordinal);
        Assert.Contains("/bin/false", error.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install -y python3-numpy", error.Message, StringComparison.Ordinal);
    }
}
