namespace AkiDb.Queue.Worker.Inference;

/// <summary>How many cores a batch runs on; the scheduler picks one per batch (<see cref="Batching.ParallelismPolicy"/>).</summary>
public enum Parallelism
{
    /// <summary>The lane's own share of the cores: batches run side by side, one lane per core.</summary>
    Narrow,

    /// <summary>Every core, on a second session of the same model: a lone batch while the other lanes are idle.</summary>
    Wide,
}
