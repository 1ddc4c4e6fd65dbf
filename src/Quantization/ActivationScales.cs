namespace AkiDb.Queue.Quantization;

/// <summary>How a quantised MatMul's activations get their int8 scale at run time.</summary>
public enum ActivationScales
{
    /// <summary>
    /// One scale per row (per token): <c>max|x_row| / 127</c>, zero point 128 in uint8. A row's result depends on that
    /// row alone, so a text gets the same vector whatever shares its batch (and however much padding that brings).
    /// Written as a small subgraph around ONNX Runtime's <c>MatMulIntegerToFloat</c> (see <see cref="PerRowQuantizedMatMul"/>).
    /// </summary>
    PerRow,

    /// <summary>
    /// ONNX Runtime's <c>DynamicQuantizeMatMul</c>: one scale and zero point for the whole input tensor, the whole
    /// batch and its padding included. Slightly faster, less accurate, and a text's vector depends on its batch-mates;
    /// kept for measurement (docs/quality.md compares the two).
    /// </summary>
    PerTensor,
}
