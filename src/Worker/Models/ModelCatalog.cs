using System.Diagnostics.CodeAnalysis;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
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
        // Absolute, as OnnxPath and VocabPath are below: the model paths go to bridge processes, which do not share the
        // worker's working directory, so a relative Embedding:CacheDirectory made every bridge fail to find the model.
        var cacheDirectory = Path.GetFullPath(settings.CacheDirectory ?? BundledModelExtractor.DefaultCacheDirectory());
        var extractor = new BundledModelExtractor(cacheDirectory, Path.Combine(AppContext.BaseDirectory, "models"), logger);

        var quantized = new QuantizedModelCache(cacheDirectory, logger);

        _models = new Dictionary<string, EmbeddingModel>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, entry) in settings.Models)
        {
            var definition = Resolve(name, entry, extractor, string.Equals(name, settings.DefaultModel, StringComparison.OrdinalIgnoreCase));
            var tokenizer = TextTokenizer.Load(definition.VocabPath, definition.LowerCase, definition.MaxTokens);
            _models[name] = entry.Precision == ModelPrecision.Int8
                ? Int8Model(name, entry, definition, tokenizer, quantized)
                : new EmbeddingModel(definition, tokenizer);
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

    /// <summary>
    /// An int8 model served from the quantised copy of its fp32 file: made now when the model loads at start-up (a
    /// model that cannot be quantised then stops the worker with its name), else the first time a batch needs it.
    /// </summary>
    private static EmbeddingModel Int8Model(string name, ModelOptions entry, ModelDefinition fp32, TextTokenizer tokenizer, QuantizedModelCache cache)
    {
        var options = Int8Settings.For(entry);
        var target = cache.PathFor(fp32.OnnxPath, options);
        var definition = fp32 with { OnnxPath = target };
        void Prepare() => cache.Ensure(name, fp32.OnnxPath, target, options);
        if (definition.LoadAtStartup)
        {
            Prepare();
            return new EmbeddingModel(definition, tokenizer);
        }

        return new EmbeddingModel(definition, tokenizer, Prepare);
    }

    private static ModelDefinition Resolve(string name, ModelOptions entry, BundledModelExtractor extractor, bool isDefault)
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

        return entry.ToDefinition(name, onnx, vocab, isDefault);
    }
}
