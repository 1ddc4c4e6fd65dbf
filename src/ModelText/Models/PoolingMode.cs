namespace AkiDb.Queue.ModelText.Models;

/// <summary>How per-token states become one sentence vector (<c>Embedding:Models:NAME:Pooling</c>).</summary>
public enum PoolingMode
{
    /// <summary>Masked mean over the real tokens.</summary>
    Mean,

    /// <summary>The first ([CLS]) token.</summary>
    Cls,
}
