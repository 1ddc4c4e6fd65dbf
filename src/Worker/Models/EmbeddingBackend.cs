namespace AkiDb.Queue.Worker.Models;

/// <summary>Where the models run (<c>Embedding:Backend</c>).</summary>
public enum EmbeddingBackend
{
    /// <summary>Persistent Python bridge processes (the default).</summary>
    Python,

    /// <summary>ONNX Runtime inside the worker process.</summary>
    Native,
}
