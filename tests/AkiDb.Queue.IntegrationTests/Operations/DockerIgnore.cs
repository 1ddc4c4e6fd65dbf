using System.Text.RegularExpressions;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// The .dockerignore rules Docker applies (Go filepath.Match plus "**", "!" exceptions, the last matching line wins,
/// a match on a folder covers everything in it): enough to ask whether a path reaches the build context.
/// </summary>
internal static class DockerIgnore
{
    public static bool Excludes(IEnumerable<string> lines, string path)
    {
        var excluded = false;
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var exception = line.StartsWith('!');
            var pattern = ToRegex(line.TrimStart('!').Trim().TrimStart('/').TrimEnd('/'));
            if (SelfAndParents(path).Any(p => pattern.IsMatch(p)))
            {
                excluded = !exception;
            }
        }

        return excluded;
    }

    private static IEnumerable<string> SelfAndParents(string path)
    {
        var parts = path.Trim('/').Split('/');
        for (var i = parts.Length; i > 0; i--)
        {
            yield return string.Join('/', parts[..i]);
        }
    }

    private static Regex ToRegex(string pattern)
    {
        var regex = Regex.Escape(pattern)
            .Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal)
            .Replace(@"\*\*", ".*", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal)
            .Replace(@"\?", "[^/]", StringComparison.Ordinal);
        return new Regex($"^{regex}$", RegexOptions.CultureInvariant);
    }
}
