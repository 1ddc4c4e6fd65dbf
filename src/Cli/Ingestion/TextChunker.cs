namespace AkiDb.Queue.Cli.Ingestion;

/// <summary>A piece of a document, with where it starts so results can point back into the source.</summary>
internal sealed record Chunk(int Index, int Start, string Text);

/// <summary>
/// Splits a document into overlapping chunks of at most <c>maxChars</c>, breaking at a paragraph, else a sentence
/// end, else whitespace, so a chunk rarely cuts a sentence. Characters, not tokens: the CLI has no tokenizer, and
/// ~1,000 characters of English stays under the 256-token limit of the default model.
/// </summary>
internal static class TextChunker
{
    public static IEnumerable<Chunk> Split(string text, int maxChars, int overlap)
    {
        if (maxChars < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxChars), "must be positive");
        }

        overlap = Math.Clamp(overlap, 0, maxChars / 2);
        var index = 0;
        var start = SkipWhitespace(text, 0);
        while (start < text.Length)
        {
            var end = Math.Min(text.Length, start + maxChars);
            if (end < text.Length)
            {
                end = BestBreak(text, start, end);
            }

            var piece = text[start..end].Trim();
            if (piece.Length > 0)
            {
                yield return new Chunk(index++, start, piece);
            }

            if (end >= text.Length)
            {
                yield break;
            }

            // Step back by the overlap, but always move forward, and start the next chunk on a word.
            var next = Math.Max(start + 1, end - overlap);
            while (next < end && !char.IsWhiteSpace(text[next - 1]))
            {
                next++;
            }

            start = SkipWhitespace(text, next);
        }
    }

    private static int BestBreak(string text, int start, int end)
    {
        var window = text.AsSpan(start, end - start);
        // Never make a chunk less than half full just to find a nicer break; a paragraph end is worth a quarter-full chunk,
        // since mixing the end of one topic with the start of the next blurs both vectors.
        var minimum = window.Length / 2;

        var paragraph = window.LastIndexOf("\n\n");
        if (paragraph >= window.Length / 4)
        {
            return start + paragraph + 2;
        }

        for (var i = window.Length - 1; i >= minimum; i--)
        {
            if (window[i] is '.' or '!' or '?' or '。' && (i + 1 >= window.Length || char.IsWhiteSpace(window[i + 1])))
            {
                return start + i + 1;
            }
        }

        for (var i = window.Length - 1; i >= minimum; i--)
        {
            if (char.IsWhiteSpace(window[i]))
            {
                return start + i;
            }
        }

        return end;
    }

    private static int SkipWhitespace(string text, int position)
    {
        while (position < text.Length && char.IsWhiteSpace(text[position]))
        {
            position++;
        }

        return position;
    }
}
