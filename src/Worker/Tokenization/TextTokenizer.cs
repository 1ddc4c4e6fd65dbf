using System.Buffers;
using FastBertTokenizer;

namespace AkiDb.Queue.Worker.Tokenization;

/// <summary>
/// WordPiece tokenisation with FastBertTokenizer, which matched Hugging Face's BERT rules on symbols, emoji and
/// newlines where Microsoft.ML.Tokenizers did not. One instance is shared across threads: the library's own
/// parallel batch API encodes with a single instance from many threads.
/// </summary>
public sealed class TextTokenizer
{
    private readonly BertTokenizer _tokenizer;

    private TextTokenizer(BertTokenizer tokenizer, int maxTokens)
    {
        _tokenizer = tokenizer;
        MaxTokens = maxTokens;
    }

    public int MaxTokens { get; }

    public static TextTokenizer Load(string vocabPath, bool lowerCase, int maxTokens)
    {
        var tokenizer = new BertTokenizer();
        using var reader = File.OpenText(vocabPath);
        tokenizer.LoadVocabulary(reader, lowerCase);
        return new TextTokenizer(tokenizer, maxTokens);
    }

    public TokenizedText Encode(string text)
    {
        // One slot more than allowed: if it fills, the text was longer than the limit.
        var probe = MaxTokens + 1;
        var ids = ArrayPool<long>.Shared.Rent(probe);
        var mask = ArrayPool<long>.Shared.Rent(probe);
        try
        {
            var count = _tokenizer.Encode(text, ids.AsSpan(0, probe), mask.AsSpan(0, probe));
            var truncated = count > MaxTokens;
            if (truncated)
            {
                // Encode again at the real limit so the library places [SEP] itself, as Hugging Face's truncation does.
                count = _tokenizer.Encode(text, ids.AsSpan(0, MaxTokens), mask.AsSpan(0, MaxTokens));
            }

            return new TokenizedText(ids.AsSpan(0, count).ToArray(), truncated);
        }
        finally
        {
            ArrayPool<long>.Shared.Return(ids);
            ArrayPool<long>.Shared.Return(mask);
        }
    }
}
