namespace AkiDb.Queue.ModelText.Models;

/// <summary>The arithmetic a catalogue model runs in (<c>Embedding:Models:NAME:Precision</c>, case-insensitive).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "fp32 and int8 are the names of the precisions, as configured.")]
public enum ModelPrecision
{
    /// <summary>The ONNX file as given.</summary>
    Fp32,

    /// <summary>
    /// Derived from the fp32 file on first use: MatMul weights quantised to int8 per output channel, activations
    /// quantised at run time (ONNX Runtime's DynamicQuantizeMatMul). About twice the throughput on CPU; quality in docs/quality.md.
    /// </summary>
    Int8,
}
