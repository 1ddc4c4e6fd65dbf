namespace AkiDb.Queue.Contracts;

/// <summary>The wire names of <see cref="VectorEncoding"/>: parsed here once, for the worker's request edge and the CLI's flags.</summary>
public static class VectorEncodings
{
    /// <summary>Parses a request's <c>encoding</c>: absent or empty means <see cref="VectorEncoding.Float"/>; case-insensitive.</summary>
    /// <param name="value">The name as sent.</param>
    /// <param name="encoding">The encoding, or <see cref="VectorEncoding.Float"/> when the name is not one of the four.</param>
    /// <returns>Whether the name is absent or one of the four.</returns>
    public static bool TryParse(string? value, out VectorEncoding encoding)
    {
        encoding = VectorEncoding.Float;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        // Enum.TryParse would also take numbers ("2") and comma lists; only the four names are the contract.
        foreach (var candidate in Enum.GetValues<VectorEncoding>())
        {
            if (value.Equals(WireName(candidate), StringComparison.OrdinalIgnoreCase))
            {
                encoding = candidate;
                return true;
            }
        }

        return false;
    }

    /// <summary>The name on the wire: <c>float</c>, <c>base64</c>, <c>int8</c> or <c>binary</c>.</summary>
    /// <param name="encoding">The encoding.</param>
    /// <returns>Its lower-case name.</returns>
    public static string WireName(VectorEncoding encoding) => encoding.ToString().ToLowerInvariant();
}
