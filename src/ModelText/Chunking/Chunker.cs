using System.Text.RegularExpressions;

namespace AkiDb.Queue.ModelText.Chunking;

/// <summary>
/// Splits a document into chunks of at most <see cref="ChunkTokens"/> tokens of the target model (as the worker
/// counts them: [CLS], [SEP] and any document prefix included), so no chunk is truncated by the model; or, with
/// <see cref="CharacterMeasure"/>, of at most that many characters. Chunks end at a paragraph, else a sentence end,
/// else between words; consecutive chunks share up to <see cref="OverlapTokens"/> of whole words, starting on a
/// sentence where the overlap holds one. The one chunker of the CLI (publish and embed).
/// </summary>
/// <remarks>
/// Hand-written: the chunking libraries for .NET (Semantic Kernel's TextChunker, for one) count tokens with a
/// caller's function but treat the limit as a target and can exceed it by a word; here every chunk is checked
/// with the model's tokenizer before it is returned.
/// </remarks>
public sealed partial class Chunker
{
    private readonly IChunkMeasure _tokenizer;

    public Chunker(IChunkMeasure tokenizer, int? chunkTokens, int overlapTokens)
    {
        _tokenizer = tokenizer;
        ChunkTokens = chunkTokens ?? tokenizer.Limit;
        OverlapTokens = overlapTokens;
        if (ChunkTokens > tokenizer.Limit)
        {
            throw new ArgumentException($"--chunk-tokens {ChunkTokens} is over the model's limit of {tokenizer.Limit} tokens: the worker would truncate every full chunk.");
        }

        if (ChunkTokens <= tokenizer.Overhead)
        {
            throw new ArgumentException($"--chunk-tokens {ChunkTokens} leaves no room for text: every chunk already costs {tokenizer.Overhead} tokens ([CLS], [SEP] and the model's prefix).");
        }

        if (OverlapTokens < 0 || OverlapTokens >= ChunkTokens)
        {
            throw new ArgumentException($"--overlap-tokens {OverlapTokens} must be at least 0 and smaller than --chunk-tokens {ChunkTokens}.");
        }
    }

    public int ChunkTokens { get; }

    public int OverlapTokens { get; }

    private int Budget => ChunkTokens - _tokenizer.Overhead;

    public IEnumerable<Chunk> Split(string text)
    {
        var first = SkipWhitespace(text);
        if (first == text.Length)
        {
            yield break;
        }

        var end = text.Length;
        while (end > first && char.IsWhiteSpace(text[end - 1]))
        {
            end--;
        }

        // Most texts (a JSONL line, a short file) fit whole: one tokenizer call and done.
        var whole = _tokenizer.Count(text[first..end]);
        if (whole <= ChunkTokens)
        {
            yield return new Chunk(0, first, text[first..end]) { Size = whole };
            yield break;
        }

        var words = Words(text);
        var index = 0;
        var start = 0;
        while (start < words.Count)
        {
            var stop = FillFrom(words, start);
            if (stop < words.Count)
            {
                stop = BestBreak(words, start, stop);
            }

            // WordPiece counts of whole words add up exactly, but a word cut in pieces (a very long token run) may
            // not: the model's own count of the chunk has the last word.
            while (stop - start > 1 && _tokenizer.Count(Slice(text, words, start, stop)) > ChunkTokens)
            {
                stop--;
            }

            var size = _tokenizer.Overhead;
            for (var i = start; i < stop; i++)
            {
                size += words[i].Tokens;
            }

            size = Math.Min(ChunkTokens, size);
            yield return new Chunk(index++, words[start].Start, Slice(text, words, start, stop)) { Size = size };
            if (stop >= words.Count)
            {
                yield break;
            }

            start = OverlapStart(words, start, stop);
        }
    }

    private int FillFrom(List<Word> words, int start)
    {
        var tokens = 0;
        var stop = start;
        while (stop < words.Count && tokens + words[stop].Tokens <= Budget)
        {
            tokens += words[stop].Tokens;
            stop++;
        }

        return Math.Max(stop, start + 1);
    }

    /// <summary>A paragraph end after at least a quarter of the budget, else a sentence end after half, else the word limit.</summary>
    private int BestBreak(List<Word> words, int start, int stop)
    {
        var tokens = new int[stop - start + 1];
        for (var i = start; i < stop; i++)
        {
            tokens[i - start + 1] = tokens[i - start] + words[i].Tokens;
        }

        foreach (var (kind, share) in new[] { (Boundary.Paragraph, 4), (Boundary.Sentence, 2) })
        {
            for (var i = stop; i > start + 1; i--)
            {
                if (words[i - 1].After >= kind && tokens[i - start] >= Budget / share)
                {
                    return i;
                }
            }
        }

        return stop;
    }

    /// <summary>The next chunk's first word: as far back as the overlap allows, moved to a sentence start inside it if there is one; always after <paramref name="start"/>.</summary>
    private int OverlapStart(List<Word> words, int start, int stop)
    {
        var next = stop;
        var tokens = 0;
        while (next - 1 > start && tokens + words[next - 1].Tokens <= OverlapTokens)
        {
            tokens += words[next - 1].Tokens;
            next--;
        }

        for (var i = next; i < stop; i++)
        {
            if (words[i - 1].After >= Boundary.Sentence)
            {
                return i;
            }
        }

        return next;
    }

    private List<Word> Words(string text)
    {
        var words = new List<Word>();
        foreach (Match match in WordPattern().Matches(text))
        {
            var gapEnd = match.Index + match.Length;
            while (gapEnd < text.Length && char.IsWhiteSpace(text[gapEnd]))
            {
                gapEnd++;
            }

            var gap = text.AsSpan(match.Index + match.Length, gapEnd - match.Index - match.Length);
            var after = gap.Count('\n') >= 2 ? Boundary.Paragraph
                : SentenceEnd().IsMatch(match.Value) ? Boundary.Sentence
                : Boundary.Word;
            AddWord(words, text, match.Index, match.Length, after);
        }

        return words;
    }

    /// <summary>A word over the whole budget (a long URL, a base64 blob) is cut into pieces that each fit.</summary>
    private void AddWord(List<Word> words, string text, int start, int length, Boundary after)
    {
        var tokens = _tokenizer.CountBare(text.Substring(start, length));
        while (tokens > Budget && length > 1)
        {
            // The longest prefix that fits, by bisection on its length.
            int low = 1, high = length - 1;
            while (low < high)
            {
                var middle = (low + high + 1) / 2;
                if (_tokenizer.CountBare(text.Substring(start, middle)) <= Budget)
                {
                    low = middle;
                }
                else
                {
                    high = middle - 1;
                }
            }

            words.Add(new Word(start, low, _tokenizer.CountBare(text.Substring(start, low)), Boundary.Word));
            start += low;
            length -= low;
            tokens = _tokenizer.CountBare(text.Substring(start, length));
        }

        words.Add(new Word(start, length, tokens, after));
    }

    private static string Slice(string text, List<Word> words, int start, int stop) =>
        text[words[start].Start..(words[stop - 1].Start + words[stop - 1].Length)];

    private static int SkipWhitespace(string text)
    {
        var i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }

    [GeneratedRegex(@"\S+")]
    private static partial Regex WordPattern();

    // A sentence ends with . ! ? or their full-width forms, optionally followed by closing quotes or brackets.
    [GeneratedRegex("""[.!?。！？]["'”’)\]]*$""")]
    private static partial Regex SentenceEnd();

    private enum Boundary
    {
        Word,
        Sentence,
        Paragraph,
    }

    private readonly record struct Word(int Start, int Length, int Tokens, Boundary After);
}
