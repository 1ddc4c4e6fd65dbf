namespace AkiDb.Queue.Quantization;

/// <summary>What the quantiser rewrites and what it leaves in fp32.</summary>
public sealed record QuantizationOptions
{
    /// <summary>
    /// MatMuls left in fp32: a node name, or <c>#N</c> for the N-th MatMul with a constant weight in graph order
    /// (from 0; in a 6-layer BERT the 6 of layer L are #6L..#6L+5: query, key, value, attention output, FFN in, FFN out).
    /// </summary>
    public IReadOnlyCollection<string> KeepFp32 { get; init; } = [];

    /// <summary>One scale per weight instead of one per output column. Faster and much less accurate; for measurement.</summary>
    public bool PerTensor { get; init; }

    // Declared before Default, which reads it: static initialisers run in textual order.

    /// <summary>
    /// What <see cref="Default"/> keeps in fp32: the FFN input projections (384 x 1536) of the first three layers.
    /// Quantising every MatMul left 0.889 of the 10 nearest neighbours in place on the short corpus; these three were the
    /// cheapest group measured that passed 0.90 (0.908, keeping a sixth of the weight arithmetic in fp32), where all six
    /// FFN inputs gave 0.918 at twice that cost (docs/quality-sensitivity.md). The input of an FFN is a LayerNorm output,
    /// whose few outlier channels make ONNX Runtime's one-scale-per-tensor activation quantisation coarse.
    /// </summary>
    public static IReadOnlyList<string> DefaultKeepFp32 { get; } = ["#4", "#10", "#16"];

    /// <summary>
    /// The defaults, chosen by measurement on all-MiniLM-L6-v2 and checked on snowflake-arctic-embed-xs
    /// (docs/quality-sensitivity.md, docs/quality.md): which MatMuls of a 6-layer BERT stay fp32.
    /// </summary>
    public static QuantizationOptions Default { get; } = new() { KeepFp32 = DefaultKeepFp32 };

    /// <summary>A one-line description written into the model's metadata and the logs.</summary>
    public string Describe() =>
        $"int8 dynamic, {(PerTensor ? "per-tensor" : "per-channel")} symmetric weights" +
        (KeepFp32.Count > 0 ? $", fp32 kept: {string.Join(' ', KeepFp32)}" : string.Empty);
}

/// <summary>What one quantisation did.</summary>
public sealed record QuantizationReport(int WeightMatMuls, int Quantized, IReadOnlyList<string> KeptFp32, string Description);
