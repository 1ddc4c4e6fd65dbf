namespace AkiDb.Queue.Bench.Quality;

/// <summary>How close a quantised model's vectors are to its fp32 source's, on one corpus.</summary>
public sealed record CorpusQuality(string Corpus, int Texts, double MeanCosine, double P1Cosine, double MinCosine, int Queries, double Top10Overlap);

public static class QualityMetrics
{
    public static double Dot(float[] a, float[] b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * (double)b[i];
        }

        return sum;
    }

    /// <summary>
    /// Cosine of each text's two vectors (both are unit vectors), and for the first <paramref name="queries"/> texts
    /// the share of their 10 nearest neighbours (among the rest of the corpus) that both precisions agree on.
    /// </summary>
    public static CorpusQuality Compare(string corpus, float[][] reference, float[][] candidate, int queries = 100)
    {
        var cosines = reference.Zip(candidate, Dot).Order().ToArray();
        var q = Math.Min(queries, reference.Length);
        var overlap = Enumerable.Range(0, q).Average(i =>
            (double)Neighbours(reference, i).Intersect(Neighbours(candidate, i)).Count() / 10);
        return new CorpusQuality(corpus, reference.Length, cosines.Average(), cosines[(int)Math.Floor(0.01 * (cosines.Length - 1))], cosines[0], q, overlap);
    }

    private static IEnumerable<int> Neighbours(float[][] vectors, int query) =>
        Enumerable.Range(0, vectors.Length).Where(j => j != query)
            .OrderByDescending(j => Dot(vectors[query], vectors[j])).ThenBy(j => j).Take(10);
}
