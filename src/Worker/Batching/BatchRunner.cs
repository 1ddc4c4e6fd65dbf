using System.Diagnostics;
using AkiDb.Queue.Worker.Caching;
using AkiDb.Queue.Worker.Inference;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>
/// Runs one planned batch on one lane (on the thread pool, outside the scheduler loop): copies out its vectors, stores
/// them in the cache, records the batch's metrics and trace, and says how it went as the command for the loop (which
/// hands the vectors to their jobs, so a request completes only after the loop has counted its batch as ended).
/// </summary>
internal sealed class BatchRunner(WorkerTelemetry telemetry, ILogger logger, EmbeddingCache? cache)
{
    private long _batchIds;

    public async Task<SchedulerCommand> RunAsync(IInferenceLane lane, PlannedBatch batch, Parallelism parallelism)
    {
        var model = batch.Rows[0].Model!;
        var jobs = batch.AllTexts.Select(t => t.Job).Distinct().ToList();
        var links = jobs.Skip(1).Where(j => j.Trace != default).Take(64).Select(j => new ActivityLink(j.Trace));
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("embed batch", ActivityKind.Internal, jobs[0].Trace, links: links);
        activity?.SetTag("akidb.model", model.Name);
        activity?.SetTag("akidb.lane", lane.Id);
        activity?.SetTag("akidb.batch.size", batch.Rows.Count);
        activity?.SetTag("akidb.batch.duplicates", batch.Duplicates.Count);
        activity?.SetTag("akidb.batch.sequence_length", batch.SequenceLength);
        activity?.SetTag("akidb.batch.requests", jobs.Count);
        activity?.SetTag("akidb.batch.parallelism", parallelism == Parallelism.Wide ? "wide" : "narrow");

        var started = Stopwatch.GetTimestamp();
        try
        {
            await model.EnsureFilesAsync();
            // Not cancelled by shutdown: a batch that has started is finished and answered (graceful drain).
            var output = await lane.RunAsync(model.Definition, batch.ToInferenceBatch(activity?.Context ?? default, parallelism), CancellationToken.None);
            var run = new BatchRun(Interlocked.Increment(ref _batchIds), started, output.Timings.InferenceMs + output.Timings.PoolingMs, output.ExecutionProvider);
            var vectors = new float[batch.Rows.Count][];
            for (var i = 0; i < batch.Rows.Count; i++)
            {
                vectors[i] = output.Row(i).ToArray();
            }

            _ = cache?.Store(model.Definition, batch.Rows.ConvertAll(r => r.CacheKey), vectors);
            Record(batch, model.Name, output.Timings, output.Threads);
            activity?.SetTag("akidb.inference_ms", output.Timings.InferenceMs);
            activity?.SetTag("akidb.transport_ms", output.Timings.TransportMs);
            return new BatchDone(lane, batch, vectors, run);
        }
        catch (LaneUnavailableException e)
        {
            return new BatchFailed(lane, batch, BatchFailure.LaneUnavailable, e);
        }
        catch (BatchFailedException e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            telemetry.BatchFailures.Add(1, new KeyValuePair<string, object?>("reason", e.Reason.Tag()));
            return new BatchFailed(lane, batch, BatchFailure.Rejected, e);
        }
        catch (Exception e)
        {
            // A bug, not a bad batch: fail these requests (MassTransit retries them, then moves them to the error queue
            // with this exception) and keep the lane in rotation for everyone else.
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            logger.LogError(e, "Unexpected failure running a batch of {Texts} texts", batch.Rows.Count);
            foreach (var job in jobs)
            {
                job.Fail(e);
            }

            return new BatchFailed(lane, batch, BatchFailure.Fault, e);
        }
    }

    private void Record(PlannedBatch batch, string model, InferenceTimings timings, int threads)
    {
        var tag = new KeyValuePair<string, object?>("model", model);
        telemetry.BatchThreads.Record(threads, tag);
        telemetry.BatchSize.Record(batch.Rows.Count, tag);
        telemetry.BatchTokens.Record(batch.PaddedTokens, tag);
        telemetry.PaddingEfficiency.Record((double)batch.RealTokens / batch.PaddedTokens, tag);
        telemetry.InferenceTime.Record(timings.InferenceMs, tag);
        telemetry.TransportTime.Record(timings.TransportMs, tag);
        telemetry.Capacity.RecordBatch(batch.Rows.Count + batch.Duplicates.Count, timings.InferenceMs + timings.TransportMs);
        if (batch.Duplicates.Count > 0)
        {
            telemetry.DuplicateTexts.Add(batch.Duplicates.Count, tag);
        }
    }
}
