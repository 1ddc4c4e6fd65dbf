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

    /// <summary>How activations are scaled at run time; per row (per token) unless measuring the alternative.</summary>
    public ActivationScales Activations { get; init; } = ActivationScales.PerRow;

    /// <summary>
    /// Quantise the graph ONNX Runtime has already fused at its extended level (LayerNormalization, BiasGelu, the scaled
    /// attention product) instead of the exported one: the fusions match MatMul + Add patterns, so once a MatMul is
    /// rewritten into integer ops they no longer apply. Only <see cref="OnnxQuantizer.QuantizeFile"/> fuses (it needs
    /// ONNX Runtime and a file); <see cref="OnnxQuantizer.Quantize"/> rewrites the graph it is given.
    /// </summary>
    public bool FuseFirst { get; init; } = true;

    // Declared before Default, which reads it: static initialisers run in textual order.

    /// <summary>
    /// What <see cref="Default"/> keeps in fp32: nothing. With one activation scale per row, quantising every weight
    /// MatMul of all-MiniLM-L6-v2 keeps the mean cosine to fp32 above 0.997 and the minimum above 0.99 on every kind of
    /// the quality set (docs/quality.md). Keeping any one group in fp32 (a role in every layer, or a whole layer) moves
    /// the mean cosine on the short corpus by at most 0.0014 and the minimum by at most 0.0034 (docs/quality-sensitivity.md),
    /// for up to a sixth of the arithmetic back in fp32: not worth it. (The earlier per-tensor activation scheme needed
    /// the FFN inputs of layers 0-2 in fp32 to reach a 0.90 top-10 overlap: a LayerNorm output's few outlier channels set
    /// the scale of the whole batch there, where per row they set only their own token's.)
    /// </summary>
    public static IReadOnlyList<string> DefaultKeepFp32 { get; } = [];

    /// <summary>The defaults, chosen by measurement on all-MiniLM-L6-v2 and checked on snowflake-arctic-embed-xs (docs/quality.md).</summary>
    public static QuantizationOptions Default { get; } = new() { KeepFp32 = DefaultKeepFp32 };

    /// <summary>A one-line description written into the model's metadata and the logs.</summary>
    public string Describe() =>
        $"int8, {(Activations == ActivationScales.PerRow ? "per-row" : "per-tensor")} dynamic activations, " +
        $"{(PerTensor ? "per-tensor" : "per-channel")} symmetric weights" +
        (FuseFirst ? ", fused first (ONNX Runtime extended level)" : string.Empty) +
        (KeepFp32.Count > 0 ? $", fp32 kept: {string.Join(' ', KeepFp32)}" : string.Empty);
}

/// <summary>What one quantisation did.</summary>
public sealed record QuantizationReport(int WeightMatMuls, int Quantized, IReadOnlyList<string> KeptFp32, string Description)
{
    /// <summary>Why the graph was quantised as exported instead of fused first; null when it was fused (or not asked to be).</summary>
    public string? NotFused { get; init; }
}
