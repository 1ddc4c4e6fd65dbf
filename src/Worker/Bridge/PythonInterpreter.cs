namespace AkiDb.Queue.Worker.Bridge;

/// <summary>A Python that can run the bridge: numpy is importable; the official onnxruntime package may be.</summary>
/// <param name="NumpyFile">numpy/__init__.py as that interpreter imports it: a cached probe is trusted only while it is unchanged.</param>
public sealed record PythonInterpreter(string Path, string Version, string NumpyVersion, bool HasOnnxRuntime, string? NumpyFile = null);
