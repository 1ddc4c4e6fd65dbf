using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>The bundled all-MiniLM-L6-v2, extracted as the worker extracts it, and its catalogue definition.</summary>
public sealed class ModelFiles
{
    private ModelFiles(ModelDefinition definition, TextTokenizer tokenizer)
    {
        Definition = definition;
        Tokenizer = tokenizer;
    }

    public ModelDefinition Definition { get; }

    public TextTokenizer Tokenizer { get; }

    public string Name => Definition.Name;

    public static ModelFiles Load()
    {
        var bundled = BundledModels.MiniLm;
        var extractor = new BundledModelExtractor(Paths.ModelCache, Path.Combine(AppContext.BaseDirectory, "models"), NullLogger.Instance);
        var (onnx, vocab) = extractor.Extract(bundled);
        var definition = bundled.DefaultOptions().ToDefinition(bundled.Name, onnx, vocab);
        return new ModelFiles(definition, TextTokenizer.Load(vocab, definition.LowerCase, definition.MaxTokens));
    }
}
