using System.Globalization;
using System.Text;

namespace AkiDb.Queue.ModelText.Tokenization;

/// <summary>
/// Hugging Face's WordPiece turns a word of more than 100 characters (<c>max_input_chars_per_word</c>) into one
/// <c>[UNK]</c>; FastBertTokenizer splits it into pieces instead. This finds such words as BERT's pre-tokenizer
/// would (runs of characters between whitespace, punctuation and CJK ideographs, counted after accent stripping and
/// control-character removal) and replaces each with <see cref="Placeholder"/>, the literal <c>[UNK]</c>, which
/// FastBertTokenizer matches as the unknown token: exactly one <c>[UNK]</c> id. FastBertTokenizer has no setting for
/// this limit, hence this pass; it costs one scan of the text and copies nothing when no word is that long.
/// </summary>
public static class OverlongWords
{
    /// <summary>Hugging Face's <c>max_input_chars_per_word</c> for BERT tokenizers.</summary>
    public const int MaxCharsPerWord = 100;

    /// <summary>Encoded by FastBertTokenizer as the one unknown-token id, wherever it stands between word boundaries.</summary>
    public const string Placeholder = "[UNK]";

    public static string Replace(string text, bool stripAccents)
    {
        // No word can be over the limit in a text that is not.
        if (text.Length <= MaxCharsPerWord)
        {
            return text;
        }

        StringBuilder? result = null;
        var copied = 0;
        var start = -1;
        var chars = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            var boundary = i == text.Length || IsBoundary(text, i);
            if (!boundary)
            {
                if (start < 0)
                {
                    start = i;
                    chars = 0;
                }

                if (Counts(text, i, stripAccents))
                {
                    chars++;
                }

                continue;
            }

            if (start >= 0 && chars > MaxCharsPerWord)
            {
                result ??= new StringBuilder(text.Length);
                result.Append(text, copied, start - copied).Append(Placeholder);
                copied = i;
            }

            start = -1;
        }

        return result is null ? text : result.Append(text, copied, text.Length - copied).ToString();
    }

    // Whitespace, punctuation (BERT's: ASCII symbol ranges and every Unicode P* category) and CJK ideographs end a word.
    private static bool IsBoundary(string text, int i)
    {
        var c = text[i];
        if (char.IsWhiteSpace(c) || c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~')
        {
            return true;
        }

        if (char.IsSurrogate(c))
        {
            return char.IsHighSurrogate(c) && i + 1 < text.Length && IsCjk(char.ConvertToUtf32(c, text[i + 1]));
        }

        return char.IsPunctuation(c) || IsCjk(c);
    }

    // A character the word's length counts: a high surrogate stands for its pair; control and format characters are
    // removed by BERT's normaliser, combining marks by its accent stripping (uncased models).
    private static bool Counts(string text, int i, bool stripAccents)
    {
        var c = text[i];
        if (char.IsLowSurrogate(c))
        {
            return false;
        }

        var category = CharUnicodeInfo.GetUnicodeCategory(text, i);
        return category switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format => false,
            UnicodeCategory.NonSpacingMark => !stripAccents,
            _ => c != '\uFFFD',
        };
    }

    // The CJK blocks BERT's normaliser splits into single-character words.
    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
