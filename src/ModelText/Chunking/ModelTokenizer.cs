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
    /// A bundled model by name (null: all-MiniLM-L6-v2, the worker's default), or any BERT-style model from its
    /// vocab.txt. The vocab is read straight out of the model package's assembly that the build copies here.
    /// </summary>
    public static ModelTokenizer Load(string? model, string? vocabPath, int? maxTokens)
    {
        if (vocabPath is not null)
        {
            if (!File.Exists(vocabPath))
            {
                throw new FileNotFoundException($"--vocab {vocabPath} does not exist.", vocabPath);
            }

            var limit = maxTokens ?? 512;
            return new ModelTokenizer(TextTokenizer.Load(vocabPath, lowerCase: true, limit), limit, null);
        }

        var bundled = BundledModels.Find(model ?? BundledModels.MiniLm.Name)
            ?? throw new ArgumentException($"--model {model} is not a bundled model ({string.Join(", ", BundledModels.All.Select(m => m.Name))}); for another model pass --vocab with its vocab.txt (and --model-max-tokens).");
        var options = bundled.DefaultOptions();
        var assembly = Path.Combine(AppContext.BaseDirectory, "models", bundled.AssemblyFile);
        var temp = Path.Combine(Path.GetTempPath(), $"akidb-vocab-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        try
        {
            using (var file = File.Create(temp))
            {
                ManifestResourceReader.CopyResource(assembly, bundled.ResourcePrefix + "vocab.txt", file);
            }

            return new ModelTokenizer(TextTokenizer.Load(temp, options.LowerCase, maxTokens ?? options.MaxTokens), maxTokens ?? options.MaxTokens, options.DocumentPrefix);
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
