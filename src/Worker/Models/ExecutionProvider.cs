namespace AkiDb.Queue.Worker.Models;

/// <summary>
/// The execution providers this worker knows, in one place for both backends: the names configured in
/// <c>Embedding:ExecutionProviders</c>, sent to the bridge and tried by the native backend.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707", Justification = "The members are ONNX Runtime's own provider names.")]
public enum ExecutionProvider
{
    /// <summary>Apple's Core ML (macOS).</summary>
    CoreML,

    /// <summary>NVIDIA CUDA (the Microsoft.ML.OnnxRuntime.Gpu build and a GPU).</summary>
    CUDA,

    /// <summary>Always available; the last resort of every order.</summary>
    CPU,
}

public static class KnownProviders
{
    /// <summary>The order tried when none is configured: CoreML, CUDA, CPU.</summary>
    public static IReadOnlyList<ExecutionProvider> Default { get; } = Enum.GetValues<ExecutionProvider>();

    /// <summary>Parses a configured name exactly as written in the docs (CoreML, CUDA, CPU).</summary>
    public static bool TryParse(string name, out ExecutionProvider provider) =>
        Enum.TryParse(name, ignoreCase: false, out provider) && Enum.IsDefined(provider) && !int.TryParse(name, out _);

    /// <summary>ONNX Runtime's name of the provider (<c>CUDAExecutionProvider</c>).</summary>
    public static string OrtName(this ExecutionProvider provider) => provider + "ExecutionProvider";
}
