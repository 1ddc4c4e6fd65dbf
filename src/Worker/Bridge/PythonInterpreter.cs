namespace AkiDb.Queue.Worker.Bridge;

/// <summary>A Python that can run the bridge: numpy is importable; the official onnxruntime package may be.</summary>
public sealed record PythonInterpreter(string Path, string Version, string NumpyVersion, bool HasOnnxRuntime);
