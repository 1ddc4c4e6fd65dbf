using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.ModelText.Tokenization;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>The bundled model's tokenizer, available before any worker starts (fault plans are written in token ids).</summary>
public static class TestModel
{
    private static readonly Lazy<TextTokenizer> Tokenizer = new(() =>
    {
        var extractor = new BundledModelExtractor(WorkerHost.ModelCache, Path.Combine(AppContext.BaseDirectory, "models"), NullLogger.Instance);
        var (_, vocab) = extractor.Extract(BundledModels.MiniLm);
        return TextTokenizer.Load(vocab, lowerCase: true, maxTokens: 256);
    });

    /// <summary>The id of a word that is a single WordPiece token; such a word in a text is how a fault is aimed.</summary>
    public static long TokenOf(string word)
    {
        var ids = Tokenizer.Value.Encode(word).Ids;
        if (ids.Length != 3)
        {
            throw new ArgumentException($"'{word}' is {ids.Length - 2} tokens, not one.", nameof(word));
        }

        return ids[1];
    }
}
