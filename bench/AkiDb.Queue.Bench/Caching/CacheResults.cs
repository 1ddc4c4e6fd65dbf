namespace AkiDb.Queue.Bench.Caching;

/// <param name="UncachedPerSecond">Saturation, Cache:Enabled=false, one entry per repetition.</param>
/// <param name="ColdPerSecond">Saturation, Redis configured and empty (every lookup a miss), one entry per repetition, run alternately with the uncached ones.</param>
/// <param name="ReingestPerSecond">A second fresh worker sharing the Redis the cold runs filled: every text a hit.</param>
/// <param name="LimitTextsPerSecond">The in-process ONNX Runtime limit on the same corpus (sorted batches of 32, 2 threads), per pass.</param>
public sealed record CacheResults(
    string Corpus,
    int Messages,
    IReadOnlyList<double> UncachedPerSecond,
    IReadOnlyList<double> ColdPerSecond,
    IReadOnlyList<double> ReingestPerSecond,
    IReadOnlyList<double> LimitTextsPerSecond,
    int ReingestCached,
    int ReingestCompared,
    int ReingestIdentical,
    double RedisBytesPerEntry,
    RedisKill Kill,
    IReadOnlyList<double> UncachedMaxGapMs);

/// <param name="RecoveryMs">From the kill to the end of the first 1 s window (stepped by 50 ms) whose rate reached 90 % of the uncached median.</param>
/// <param name="MaxGapAfterKillMs">The longest pause between two consecutive results in the 5 s after the kill.</param>
public sealed record RedisKill(int Messages, int Completed, int Lost, int Failed, double RateBeforePerSecond, double RateAfterPerSecond,
    double RecoveryMs, double MaxGapAfterKillMs);
