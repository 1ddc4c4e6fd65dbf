namespace AkiDb.Queue.ModelText.Models;

/// <summary>One catalogue entry (<c>Embedding:Models:NAME</c>): a BERT-style ONNX model and its vocabulary.</summary>
public sealed class ModelOptions
{
    /// <summary>Take the files from a bundled package instead of paths: <c>all-MiniLM-L6-v2</c> or <c>snowflake-arctic-embed-xs</c>.</summary>
    public string? Bundled { get; set; }

    /// <summary>Path to the ONNX file, when not bundled. Inputs input_ids and attention_mask (token_type_ids optional).</summary>
    public string? OnnxPath { get; set; }

    /// <summary>Path to the WordPiece vocab.txt, when not bundled.</summary>
    public string? VocabPath { get; set; }

    /// <summary>Tokens per text, [CLS] and [SEP] included; longer texts are truncated (or rejected, see Limits).</summary>
    public int MaxTokens { get; set; } = 256;

    /// <summary><c>mean</c> (masked mean over real tokens) or <c>cls</c> (first token).</summary>
    public PoolingMode Pooling { get; set; } = PoolingMode.Mean;

    /// <summary>L2-normalise the pooled vector.</summary>
    public bool Normalize { get; set; } = true;

    /// <summary>Lower-case input before WordPiece (uncased models).</summary>
    public bool LowerCase { get; set; } = true;

    /// <summary>The output holding per-token states; the model's first output when unset.</summary>
    public string? Output { get; set; }

    /// <summary>Prepended to texts sent with <c>inputType: "query"</c>.</summary>
    public string? QueryPrefix { get; set; }

    /// <summary>Prepended to texts sent with <c>inputType: "document"</c> (the default input type).</summary>
    public string? DocumentPrefix { get; set; }

    /// <summary>
    /// Load into every lane at start-up (true) or on first use (false). Unset (the bundled entries): at start-up only
    /// when the entry is <c>Embedding:DefaultModel</c>, so a worker whose default is an int8 variant loads that and
    /// not its fp32 source as well (each preloaded model adds its load to every bridge process's start).
    /// </summary>
    public bool? LoadAtStartup { get; set; } = true;

    /// <summary><c>fp32</c> (the file as given) or <c>int8</c> (quantised from it on first use and cached beside it).</summary>
    public ModelPrecision Precision { get; set; } = ModelPrecision.Fp32;

    /// <summary>
    /// With <c>int8</c>: MatMuls left in fp32, by node name or <c>#N</c> (the N-th MatMul with a constant weight); unset,
    /// the measured default (docs/quality.md).
    /// </summary>
    public string[]? KeepFp32 { get; set; }

    /// <summary>This entry as a definition, once its files are known; <paramref name="isDefault"/> decides an unset <see cref="LoadAtStartup"/>.</summary>
    public ModelDefinition ToDefinition(string name, string onnxPath, string vocabPath, bool isDefault = true) =>
        new(name, onnxPath, vocabPath, MaxTokens, Pooling, Normalize, LowerCase, Output, QueryPrefix, DocumentPrefix, LoadAtStartup ?? isDefault, Precision);

    public IEnumerable<string> Validate(string name)
    {
        var at = $"Embedding:Models:{name}";
        if (Bundled is null && (string.IsNullOrWhiteSpace(OnnxPath) || string.IsNullOrWhiteSpace(VocabPath)))
        {
            yield return $"{at} needs either Bundled or both OnnxPath and VocabPath.";
        }

        if (Bundled is not null && BundledModels.Find(Bundled) is null)
        {
            yield return $"{at}:Bundled '{Bundled}' is not a bundled model ({string.Join(", ", BundledModels.All.Select(m => m.Name))}).";
        }

        if (MaxTokens is < 8 or > 8192)
        {
            yield return $"{at}:MaxTokens must be between 8 and 8192 (was {MaxTokens}).";
        }
    }
}
