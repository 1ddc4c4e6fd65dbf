using System.Buffers;
using FastBertTokenizer;

namespace AkiDb.Queue.ModelText.Tokenization;

/// <summary>
/// WordPiece tokenisation with FastBertTokenizer, which matched Hugging Face's BERT rules on symbols, emoji and
/// newlines where Microsoft.ML.Tokenizers did not. One instance is shared across threads: the library's own
/// parallel batch API encodes with a single instance from many threads.
/// </summary>
public sealed class TextTokenizer
{
    private readonly BertTokenizer _tokenizer;
    private readonly bool _lowerCase;

    private TextTokenizer(BertTokenizer tokenizer, bool lowerCase, int maxTokens)
    {
        _tokenizer = tokenizer;
        _lowerCase = lowerCase;
        MaxTokens = maxTokens;
    }

    public int MaxTokens { get; }

    public static TextTokenizer Load(string vocabPath, bool lowerCase, int maxTokens)
    {
        var tokenizer = new BertTokenizer();
        using var reader = File.OpenText(vocabPath);
        tokenizer.LoadVocabulary(reader, lowerCase);
        return new TextTokenizer(tokenizer, lowerCase, maxTokens);
    }

    /// <summary>
    /// [CLS] ids [SEP], as Hugging Face's tokenizer for the model gives them, with one deliberate difference: a literal
    /// control token in a text never becomes that control token. Hugging Face matches "[CLS]", "[SEP]", "[MASK]" and
    /// "[PAD]" in the text and emits their ids; here "[CLS]", "[SEP]" and "[PAD]" become one [UNK] (FastBertTokenizer's
    /// matching) and "[MASK]" is plain text ("[", "mask", "]"). Texts come from producers, and a producer must not be
    /// able to put a sequence boundary, padding or a mask into the model's input.
    /// </summary>
    public TokenizedText Encode(string text)
    {
        // Uncased BERT vocabularies strip accents along with lower-casing; the word limit counts what is left.
        text = OverlongWords.Replace(text, stripAccents: _lowerCase);
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
