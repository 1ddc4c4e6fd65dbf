using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Tests;

public sealed class PythonProbeCacheTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("akidb-probe-");
    private readonly MovableTime _time = new(DateTimeOffset.Parse("2026-11-28T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void A_saved_choice_is_reused_while_the_interpreter_and_numpy_are_unchanged()
    {
        var (cache, chosen) = Arrange();
        cache.Save(chosen);

        Assert.Equal(chosen, cache.TryLoad());
    }

    [Fact]
    public void A_changed_numpy_invalidates_the_choice()
    {
        var (cache, chosen) = Arrange();
        cache.Save(chosen);

        File.AppendAllText(chosen.NumpyFile!, "# upgraded\n");

        Assert.Null(cache.TryLoad());
    }

    [Fact]
    public void A_removed_numpy_invalidates_the_choice()
    {
        var (cache, chosen) = Arrange();
        cache.Save(chosen);

        File.Delete(chosen.NumpyFile!);

        Assert.Null(cache.TryLoad());
    }

    [Fact]
    public void A_choice_older_than_a_day_is_probed_again()
    {
        var (cache, chosen) = Arrange();
        cache.Save(chosen);

        _time.Now += TimeSpan.FromHours(25);

        Assert.Null(cache.TryLoad());
    }

    [Fact]
    public void A_forgotten_or_corrupt_cache_is_a_miss_not_an_error()
    {
        var (cache, chosen) = Arrange();
        cache.Save(chosen);
        cache.Forget();
        Assert.Null(cache.TryLoad());

        File.WriteAllText(Path.Combine(_dir.FullName, "probe.json"), "{ not json");
        Assert.Null(cache.TryLoad());
    }

    public void Dispose() => _dir.Delete(recursive: true);

    private (PythonProbeCache Cache, PythonInterpreter Chosen) Arrange()
    {
        var python = Path.Combine(_dir.FullName, "python3");
        var numpy = Path.Combine(_dir.FullName, "numpy__init__.py");
        File.WriteAllText(python, "#!/bin/sh\n");
        File.WriteAllText(numpy, "# numpy\n");
        return (new PythonProbeCache(Path.Combine(_dir.FullName, "probe.json"), _time), new PythonInterpreter(python, "3.11.2", "1.24.2", false, numpy));
    }

    private sealed class MovableTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
