using System.Diagnostics;
using AkiDb.Queue.Bench.Corpora;
using AkiDb.Queue.Bench.Harness;

namespace AkiDb.Queue.Bench.Quality;

/// <summary>
/// <c>./bench.sh quality --speed</c>: a short side-by-side check of the in-process limit, fp32 against int8, on each
/// corpus: passes alternate (fp32, int8, int8, fp32, ...) and the median of the per-pair time ratios is printed. For
/// development; the full benchmark (./bench.sh) measures int8 beside fp32 in every section.
/// </summary>
internal static class SpeedCheck
{
    public static void Run(Embedder fp32, Embedder int8, IEnumerable<Corpus> corpora, int pairs)
    {
        foreach (var corpus in corpora)
        {
            fp32.Embed(corpus);
            int8.Embed(corpus);
            var ratios = new List<double>();
            for (var i = 0; i < pairs; i++)
            {
                var (first, second) = i % 2 == 0 ? (fp32, int8) : (int8, fp32);
                var a = Time(first, corpus);
                var b = Time(second, corpus);
                ratios.Add(i % 2 == 0 ? a / b : b / a);
                Log.Info($"  {corpus.Name,-6} pair {i + 1}: fp32 {corpus.Count / (i % 2 == 0 ? a : b):F1} texts/s, int8 {corpus.Count / (i % 2 == 0 ? b : a):F1} texts/s");
            }

            Log.Info($"  {corpus.Name,-6} int8 / fp32 texts/s, median of {pairs} pairs: {Stats.Median(ratios):F2}x ({string.Join(", ", ratios.Select(r => r.ToString("F2")))}); load average {ProcStat.LoadAverage()}");
        }
    }

    private static double Time(Embedder embedder, Corpus corpus)
    {
        var started = Stopwatch.GetTimestamp();
        embedder.Embed(corpus);
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}
