using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;

namespace AkiDb.Queue.ModelText.Chunking;

/// <summary>
/// The target model's own tokenizer as a chunk measure: the worker's <see cref="TextTokenizer"/> (FastBertTokenizer)
/// over the same bundled vocab, so a chunk counted here has exactly the tokens the worker will see.
/// </summary>
public sealed class ModelTokenizer : IChunkMeasure
{
    private readonly TextTokenizer _tokenizer;
    private readonly string _documentPrefix;

    private ModelTokenizer(TextTokenizer tokenizer, int modelMaxTokens, string? documentPrefix)
    {
        _tokenizer = tokenizer;
        ModelMaxTokens = modelMaxTokens;
        _documentPrefix = documentPrefix ?? "";
        Overhead = _tokenizer.Encode(_documentPrefix).Length;
    }

    /// <summary>Tokens the model accepts, [CLS] and [SEP] included: more are cut off by the worker.</summary>
    public int ModelMaxTokens { get; }

    int IChunkMeasure.Limit => ModelMaxTokens;

    /// <summary>Tokens every text costs besides its own: [CLS], [SEP] and the model's document prefix.</summary>
    public int Overhead { get; }

    /// <summary>
    /// A catalogue model by name (null: all-MiniLM-L6-v2, the worker's default; int8 variants too), or any BERT-style model from its
    /// vocab.txt. The vocab is the one the build extracted from the model package's assembly (models/*.vocab.txt).
    /// </summary>
    public static ModelTokenizer Load(string? model, string? vocabPath, int? maxTokens)
    {
        if (vocabPath is not null)
        {
            if (!File.Exists(vocabPath))
            {
                throw new FileNotFoundException($"--vocab {vocabPath} does not exist.", vocabPath);
            }

            var ownLimit = maxTokens ?? 512;
            return new ModelTokenizer(TextTokenizer.Load(vocabPath, lowerCase: true, ownLimit), ownLimit, null);
        }

        // Any name the worker's catalogue serves, int8 variants included: a variant tokenises as the model it was made from.
        var catalogue = BundledModels.Catalogue();
        var options = catalogue.GetValueOrDefault(model ?? BundledModels.MiniLm.Name);
        var bundled = options?.Bundled is { } source ? BundledModels.Find(source) : null;
        if (options is null || bundled is null)
        {
            throw new ArgumentException($"--model {model} is not a model the worker serves without configuration ({string.Join(", ", catalogue.Keys)}); for another model pass --vocab with its vocab.txt (and --model-max-tokens).");
        }

        var limit = maxTokens ?? options.MaxTokens;
        var models = Path.Combine(AppContext.BaseDirectory, "models");
        var vocab = Path.Combine(models, Path.GetFileNameWithoutExtension(bundled.AssemblyFile) + ".vocab.txt");
        if (File.Exists(vocab))
        {
            return new ModelTokenizer(TextTokenizer.Load(vocab, options.LowerCase, limit), limit, options.DocumentPrefix);
        }

        // No extracted vocab (a build that skipped the CLI project's own targets): read it out of the model assembly.
        var assembly = Path.Combine(models, bundled.AssemblyFile);
        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"Neither {vocab} nor {assembly} exists: this akidb-queue install lacks the vocab of {bundled.Name}; pass --vocab with its vocab.txt.", vocab);
        }

        var temp = Path.Combine(Path.GetTempPath(), $"akidb-vocab-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        try
        {
            using (var file = File.Create(temp))
            {
                ManifestResourceReader.CopyResource(assembly, bundled.ResourcePrefix + "vocab.txt", file);
            }

            return new ModelTokenizer(TextTokenizer.Load(temp, options.LowerCase, limit), limit, options.DocumentPrefix);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Tokens the model sees for this text as a document (its own plus <see cref="Overhead"/>), or
    /// <see cref="ModelMaxTokens"/> + 1 when it is over the limit. The count stops at the limit: the library pads its
    /// output buffer, so counting further would cost the buffer's length on every call.
    /// </summary>
    public int Count(string text)
    {
        var encoded = _tokenizer.Encode(_documentPrefix + text);
        return encoded.Truncated ? ModelMaxTokens + 1 : encoded.Length;
    }

    /// <summary>The text's own tokens, without [CLS], [SEP] or prefix (capped like <see cref="Count"/>).</summary>
    public int CountBare(string text)
    {
        var encoded = _tokenizer.Encode(text);
        return encoded.Truncated ? ModelMaxTokens + 1 : encoded.Length - 2;
    }
}
