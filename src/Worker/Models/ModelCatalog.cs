using System.Diagnostics.CodeAnalysis;
using AkiDb.Queue.Worker.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Models;

/// <summary>
/// The models this worker serves, resolved to files and with tokenizers loaded. Built once at start-up, so a
/// missing file or a bad vocab stops the worker with the model's name instead of failing the first request.
/// </summary>
public sealed class ModelCatalog
{
    private readonly Dictionary<string, EmbeddingModel> _models;

    public ModelCatalog(IOptions<EmbeddingOptions> options, ILogger<ModelCatalog> logger)
    {
        var settings = options.Value;
        var extractor = new BundledModelExtractor(
            settings.CacheDirectory ?? BundledModelExtractor.DefaultCacheDirectory(),
            Path.Combine(AppContext.BaseDirectory, "models"),
            logger);

        _models = new Dictionary<string, EmbeddingModel>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, entry) in settings.Models)
        {
            var definition = Resolve(name, entry, extractor);
            var tokenizer = TextTokenizer.Load(definition.VocabPath, definition.LowerCase, definition.MaxTokens);
            _models[name] = new EmbeddingModel(definition, tokenizer);
        }

        Default = _models[settings.DefaultModel];
    }

    public EmbeddingModel Default { get; }

    public IEnumerable<EmbeddingModel> All => _models.Values;

    /// <summary>Finds a model by name (case-insensitive); null or empty means the default model.</summary>
    public bool TryGet(string? name, [NotNullWhen(true)] out EmbeddingModel? model)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            model = Default;
            return true;
        }

        return _models.TryGetValue(name, out model);
    }

    private static ModelDefinition Resolve(string name, ModelOptions entry, BundledModelExtractor extractor)
    {
        string onnx, vocab;
        if (entry.Bundled is { } bundledName)
        {
            var bundled = BundledModels.Find(bundledName)!;
            (onnx, vocab) = extractor.Extract(bundled);
        }
        else
        {
            onnx = Path.GetFullPath(entry.OnnxPath!);
            vocab = Path.GetFullPath(entry.VocabPath!);
            foreach (var (what, path) in new[] { ("OnnxPath", onnx), ("VocabPath", vocab) })
            {
                if (!File.Exists(path))
                {
                    throw new FileNotFoundException($"Embedding:Models:{name}:{what} points to {path}, which does not exist.", path);
                }
            }
        }

        return entry.ToDefinition(name, onnx, vocab);
    }
}
