namespace AkiDb.Queue.ModelText.Models;

/// <summary>A catalogue entry resolved to files on disk: what a lane needs to load and run the model.</summary>
public sealed record ModelDefinition(
    string Name,
    string OnnxPath,
    string VocabPath,
    int MaxTokens,
    PoolingMode Pooling,
    bool Normalize,
    bool LowerCase,
    string? Output,
    string? QueryPrefix,
    string? DocumentPrefix,
    bool LoadAtStartup,
    ModelPrecision Precision = ModelPrecision.Fp32);
