namespace AkiDb.Queue.IntegrationTests.Infrastructure;

public static class VectorMath
{
    public static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));

    public static double Cosine(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum() / (Norm(a) * Norm(b));

    public static double MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
