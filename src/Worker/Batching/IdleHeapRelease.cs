using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Gives the worker's own heap back after a burst, as the lanes do with ONNX Runtime's arena. .NET collects only
/// when something allocates, so a worker that answered a burst (tokenised texts, vectors, message buffers for the
/// whole prefetch) and then idles keeps its peak. Once no batch has run for <see cref="Quiet"/> after some did, one
/// blocking, compacting collection in <see cref="GCCollectionMode.Aggressive"/> mode (made for an app going idle)
/// decommits what is free. A worker under steady load is never quiet that long, so it never pays for one there.
/// </summary>
internal sealed class IdleHeapRelease(EmbeddingScheduler scheduler, ILogger<IdleHeapRelease> logger) : BackgroundService
{
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var released = scheduler.BatchesRun;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var batches = scheduler.BatchesRun;
                if (batches == released || !scheduler.IsQuietFor(Quiet))
                {
                    continue;
                }

                released = batches;
                var before = Environment.WorkingSet;
                var started = Stopwatch.GetTimestamp();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                logger.LogDebug("Idle after a burst: collected the heap in {Ms:F0} ms, resident {Before:F0} -> {After:F0} MiB",
                    Stopwatch.GetElapsedTime(started).TotalMilliseconds, before / 1048576.0, Environment.WorkingSet / 1048576.0);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
