using System.Text;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.ModelText.Tokenization;

namespace AkiDb.Queue.Bench.Quality;

/// <summary>
/// bench/data/quality-set.tsv as one corpus per kind (query, title, paragraph, code, numbers, markdown, non-english,
/// words), in file order: "kind TAB text", with \n, \t and \\ escaped inside a text.
/// </summary>
public static class QualitySet
{
    public static IReadOnlyList<Corpus> Load(string path, TextTokenizer tokenizer, int perKind = int.MaxValue) =>
        File.ReadLines(path)
            .Where(l => l.Length > 0)
            .Select(l => l.Split('\t', 2))
            .GroupBy(p => p[0])
            .Select(g => new Corpus(g.Key, $"quality set: {g.Key}",
                g.Take(perKind).Select(p => Unescape(p[1])).Select(t => new CorpusText(t, tokenizer.Encode(t).Ids)).ToList()))
            .ToList();

    public static string Unescape(string text)
    {
        var s = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 1 < text.Length)
            {
                s.Append(text[++i] switch { 'n' => '\n', 't' => '\t', var other => other });
            }
            else
            {
                s.Append(text[i]);
            }
        }

        return s.ToString();
    }
}
