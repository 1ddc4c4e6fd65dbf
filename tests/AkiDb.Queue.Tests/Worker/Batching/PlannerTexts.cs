namespace AkiDb.Queue.Tests;

/// <summary>Token ids for the planner tests, shaped as the tokenizer's (101 ... 102).</summary>
internal static class PlannerTexts
{
    /// <summary>
    /// <paramref name="length"/> ids that differ from text to text (by <paramref name="sequence"/>), so nothing
    /// de-duplicates unless a test passes the same array twice.
    /// </summary>
    public static long[] Ids(int length, long sequence)
    {
        var ids = new long[length];
        ids[0] = 101;
        for (var i = 1; i < length; i++)
        {
            ids[i] = 1000 + ((sequence * 31 + i) % 20000);
        }

        ids[^1] = 102;
        return ids;
    }
}
