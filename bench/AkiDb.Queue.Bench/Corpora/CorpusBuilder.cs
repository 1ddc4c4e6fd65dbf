using System.Text.RegularExpressions;
using AkiDb.Queue.ModelText.Tokenization;

namespace AkiDb.Queue.Bench.Corpora;

/// <summary>
/// Cuts the three corpora out of bench/data/corpus.txt (one paragraph of CPython docstring prose per line),
/// deterministically for a seed, measuring every candidate with the worker's own tokenizer:
/// <list type="bullet">
/// <item><b>short</b>: single sentences of 12-20 tokens;</item>
/// <item><b>long</b>: runs of consecutive sentences (across paragraphs) of 110-140 tokens;</item>
/// <item><b>mixed</b>: chunks of the document stream whose target length is drawn log-uniformly from 5-256 tokens,
/// cut at word boundaries from a sentence start, so every scale from a title to a full chunk is equally common.</item>
/// </list>
/// Each corpus holds distinct texts (the scheduler computes identical texts in one batch once, which would flatter it).
/// </summary>
public sealed partial class CorpusBuilder(TextTokenizer tokenizer, int seed)
{
    private readonly List<string> _paragraphs = File.ReadLines(Harness.Paths.Corpus).Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
    private List<(string Text, int Tokens)>? _sentences;

    public int Paragraphs => _paragraphs.Count;

    public Corpus BuildShort(int count)
    {
        var candidates = Sentences().Where(s => s.Tokens is >= 12 and <= 20).Select(s => s.Text).Distinct().ToList();
        return Take("short", "single sentences of 12-20 tokens", candidates, count, 1);
    }

    public Corpus BuildLong(int count)
    {
        var candidates = new List<string>();
        var window = new List<(string Text, int Tokens)>();
        var tokens = 0;
        foreach (var sentence in Sentences())
        {
            window.Add(sentence);
            tokens += sentence.Tokens - 2;
            while (tokens + 2 > 140 && window.Count > 0)
            {
                tokens -= window[0].Tokens - 2;
                window.RemoveAt(0);
            }

            if (tokens + 2 >= 110)
            {
                candidates.Add(string.Join(' ', window.Select(w => w.Text)));
                window.Clear();
                tokens = 0;
            }
        }

        // Candidates are checked again below: joining sentences with a space tokenises as the sum of the parts, but verify.
        return Take("long", "consecutive sentences joined to 110-140 tokens", candidates.Distinct().ToList(), count, 2, t => t is >= 110 and <= 140);
    }

    public Corpus BuildMixed(int count)
    {
        var random = new Random(seed + 3);
        var words = _paragraphs.Select(p => p.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        var texts = new List<CorpusText>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var attempts = 0;
        while (texts.Count < count && attempts++ < count * 50)
        {
            var target = (int)Math.Round(Math.Exp(Math.Log(5) + random.NextDouble() * (Math.Log(256) - Math.Log(5))));
            // A random paragraph, from one of its sentence starts, running on into the following paragraphs.
            var p = random.Next(words.Count);
            var starts = Enumerable.Range(0, words[p].Length).Where(i => i == 0 || words[p][i - 1].EndsWith('.')).ToList();
            var stream = words[p].Skip(starts[random.Next(starts.Count)]).Concat(words.Skip(p + 1).Take(40).SelectMany(w => w)).Take(target).ToArray();
            var best = LongestPrefixWithin(stream, target);
            if (best is null || best.Tokens < 5 || best.Tokens > 256 || !seen.Add(best.Text))
            {
                continue;
            }

            texts.Add(best);
        }

        if (texts.Count < count)
        {
            throw new InvalidOperationException($"Only {texts.Count} mixed texts could be cut from the corpus; asked for {count}.");
        }

        return new Corpus("mixed", "document chunks of 5-256 tokens, target length log-uniform", texts);
    }

    private CorpusText? LongestPrefixWithin(string[] words, int maxTokens)
    {
        // Token count grows with the number of words: binary search for the longest prefix within the target.
        int low = 1, high = words.Length;
        CorpusText? best = null;
        while (low <= high)
        {
            var mid = (low + high) / 2;
            var text = string.Join(' ', words.Take(mid));
            var encoded = tokenizer.Encode(text);
            if (!encoded.Truncated && encoded.Length <= maxTokens)
            {
                best = new CorpusText(text, encoded.Ids);
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return best;
    }

    private Corpus Take(string name, string description, List<string> candidates, int count, int salt, Func<int, bool>? accept = null)
    {
        var random = new Random(seed + salt);
        // Fisher-Yates with the seeded generator: the same texts in the same order on every run.
        for (var i = candidates.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
        }

        var texts = new List<CorpusText>(count);
        foreach (var text in candidates)
        {
            var encoded = tokenizer.Encode(text);
            if (encoded.Truncated || (accept is not null && !accept(encoded.Length)))
            {
                continue;
            }

            texts.Add(new CorpusText(text, encoded.Ids));
            if (texts.Count == count)
            {
                return new Corpus(name, description, texts);
            }
        }

        throw new InvalidOperationException($"Only {texts.Count} {name} texts could be cut from the corpus; asked for {count}.");
    }

    private List<(string Text, int Tokens)> Sentences() =>
        _sentences ??= _paragraphs
            .SelectMany(p => SentenceBoundary().Split(p))
            .Select(s => s.Trim())
            .Where(s => s.Length > 0)
            .Select(s => (s, tokenizer.Encode(s).Length))
            .ToList();

    [GeneratedRegex(@"(?<=[.!?])\s+(?=[A-Z(""'])")]
    private static partial Regex SentenceBoundary();
}
