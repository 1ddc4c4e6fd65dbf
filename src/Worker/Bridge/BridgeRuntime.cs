namespace AkiDb.Queue.Worker.Bridge;

/// <summary>How the bridge reaches ONNX Runtime (<c>Bridge:Runtime</c>); sent to it lower-case in <c>init</c>.</summary>
public enum BridgeRuntime
{
    /// <summary>The official onnxruntime package when importable, else ctypes.</summary>
    Auto,

    /// <summary>The official onnxruntime Python package.</summary>
    Onnxruntime,

    /// <summary>libonnxruntime through ctypes: numpy is the only Python dependency.</summary>
    Ctypes,
}
