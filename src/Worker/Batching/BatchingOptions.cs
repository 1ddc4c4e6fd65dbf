using System.ComponentModel.DataAnnotations;

namespace AkiDb.Queue.Worker.Batching;

/// <summary>Configuration section <c>Batching</c>: how texts from many messages are gathered into model calls.</summary>
public sealed class BatchingOptions
{
    public const string Section = "Batching";

    /// <summary>Most texts (distinct token sequences) in one model call.</summary>
    [Range(1, 1024)]
    public int MaxBatchTexts { get; set; } = 32;

    /// <summary>
    /// Most padded tokens (rows x longest row) in one model call; a text longer than this still runs, alone. On CPU a
    /// call is compute-bound well before 4096 tokens, so a larger budget only makes the longest calls longer: measured
    /// on 2 cores (mixed corpus, saturation, three runs each, alternating) 4096 answered 1.07x the messages of 8192,
    /// because the last long batch leaves the other lane idle for less time. A GPU wants more.
    /// </summary>
    [Range(8, 1_048_576)]
    public int TokenBudget { get; set; } = 4096;

    /// <summary>
    /// A text joins a batch only if real tokens / padded tokens stays at or above this. On CPU, padding costs more
    /// than small batches do, so mixed lengths go to separate calls instead of being padded to the longest.
    /// </summary>
    [Range(0.0, 1.0)]
    public double MinPaddingEfficiency { get; set; } = 0.75;

    /// <summary>
    /// A batch is filled first from the oldest waiting texts, this many full batches' worth (<see cref="MaxBatchTexts"/>
    /// each), nearest to the anchor's length among them, and only then from the rest of the backlog. Small: requests
    /// finish in about arrival order, so their messages are acknowledged steadily and a prefetch slot frees every
    /// batch or two for an interactive message (docs/benchmarks-path.md); larger: closer lengths (less padding) over
    /// more of the backlog, but every request held finishes later. 0: the whole backlog by nearest length.
    /// Why not 4: `akidb-queue embed` of 5,000 short texts (16 a message), 3 alternating pairs on 2 shared cores
    /// (2026-12-03): 2 gave batches 0.919 real / padded tokens, 4 gave 0.964 and 1.03x the texts/s (8: 0.992, 1.02-1.32x);
    /// but with 4, held requests finish in bunches of six with two batches between some bunches (SchedulerLoopTests'
    /// full-prefetch case: after batches 5 x6, 6, 7, 9 x6 against every batch from the 4th with 2), so a prefetch slot
    /// can stay closed for two batches, and with 8 the interactive message of PriorityTests waited for more than 7
    /// batches once in two runs. 3 % of bulk throughput is not worth a slower interactive path; 2 stays.
    /// </summary>
    [Range(0, 1024)]
    public int FillWindowBatches { get; set; } = 2;

    /// <summary>
    /// Times a text that fails alone is retried before its request gets an EmbedFailed (inference_failed) and goes to
    /// the _error queue. A failing batch is first split in halves to find the culprit.
    /// </summary>
    [Range(1, 10)]
    public int MaxAttemptsAlone { get; set; } = 2;

    /// <summary>
    /// Longest time the oldest waiting text can be passed over by texts of a higher class (interactive ahead of normal,
    /// normal ahead of background) before it anchors the next batch anyway: the bound on starvation.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MaxPassOver { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// While interactive requests are arriving (one started a batch, or was answered from the cache, within the last
    /// second), other batches hold at most this many texts, so that a lane frees sooner for the next interactive
    /// request; 0 leaves them at <see cref="MaxBatchTexts"/>. Without interactive traffic it costs nothing.
    /// Why 8: behind a backlog of 16-text messages (as `akidb-queue embed` sends them), an interactive message waits
    /// first for a prefetch slot, which frees when a held message is answered, then for a lane. Small bulk batches
    /// shorten both: held messages finish every second batch instead of in bunches a full 32-text batch apart, and a
    /// lane frees within one short batch. Measured with bench/probes/interactive_split.py (2 shared cores,
    /// 2026-12-03, 60 requests every 250 ms, bulk alone and with interactive requests alternating on one worker, 3
    /// pairs a run): off, interactive p95 125 / 144 ms and bulk 0.96x / 0.98x alone; 8, 64 / 58 ms and 0.91x / 0.91x;
    /// 12, 81 ms and 0.90x; 16, 78 ms and 0.94x. 8 halves the interactive p95 for 9 % of bulk throughput while
    /// interactive requests arrive (the target: bulk at least 0.9x alone).
    /// </summary>
    [Range(0, 1024)]
    public int BulkBatchTextsWhileInteractive { get; set; } = 8;

    /// <summary>
    /// While interactive requests are arriving and another lane already runs a full bulk batch, the next bulk batch holds
    /// at most this many padded tokens (rows x longest row: what its model time grows with), so one lane is never
    /// long busy and an interactive request waits at most for that short batch; the other lane keeps running full
    /// batches. 0 turns it off. Measured in docs/benchmarks-path.md (interactive p95 behind a backlog, bulk throughput).
    /// </summary>
    [Range(0, 1_000_000)]
    public int BulkTokensWhileInteractive { get; set; } = 96;

    /// <summary>
    /// A lone batch (no other batch running, nothing waiting) runs on every core through the lane's wide session;
    /// batches that run side by side get one lane's share each (<see cref="ParallelismPolicy"/>). Off: always the
    /// lane's share, the layout before adaptive parallelism.
    /// </summary>
    public bool AdaptiveParallelism { get; set; } = true;

    /// <summary>
    /// A lone batch runs wide only from this many padded tokens (rows x longest row); smaller ones stay on the lane's
    /// narrow session, where they ran as fast or faster on 2 cores (<see cref="ParallelismPolicy"/> has the
    /// measurements). 0: every lone batch runs wide, as before; worth it where the wide session spins
    /// (<c>Bridge:WideAllowSpinning</c>) and requests come closer together than its spin.
    /// </summary>
    [Range(0, 1_000_000)]
    public int WideFromTokens { get; set; } = 384;
}
