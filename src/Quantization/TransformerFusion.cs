using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Quantization;

/// <summary>
/// Writes the graph ONNX Runtime makes of a model at its <em>extended</em> optimisation level: constant folding plus
/// the hardware-independent transformer fusions (LayerNormalization, BiasGelu, the scaled QK product as FusedMatMul).
/// ONNX Runtime applies these itself when it loads an fp32 model; the patterns match MatMul + Add + ..., so they must run
/// before the MatMuls are rewritten into integer ops, or the int8 model runs the unfused graph.
/// <para>
/// The extended level, not "all": the layout level adds transformations specific to this machine's instruction set
/// (NCHWc and the like), which ONNX Runtime documents as unsafe to save; the file written here loads anywhere.
/// ONNX Runtime's own offline tool for this is Python (<c>onnxruntime.transformers</c>), which cannot be installed
/// where this project builds; the C API's optimised-model path gives the same graph with the library the worker already has.
/// </para>
/// </summary>
public static class TransformerFusion
{
    /// <summary>Writes the fused graph of <paramref name="inputPath"/> to <paramref name="outputPath"/> (weights inside the file).</summary>
    public static void Optimize(string inputPath, string outputPath)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            OptimizedModelFilePath = outputPath,
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        // Creating the session on the CPU provider runs the optimiser and writes the file; nothing is run.
        using var session = new InferenceSession(inputPath, options);
    }
}
