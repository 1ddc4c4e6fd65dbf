namespace AkiDb.Queue.IntegrationTests.Infrastructure;

/// <summary>
/// The permissions docs/operations.md gives a user, read from its <c>rabbitmqctl set_permissions -p akidb USER</c>
/// example, so a test runs with what the page says and the page can not drift from what works.
/// </summary>
public static class DocumentedPermissions
{
    public static (string Configure, string Write, string Read) For(string user)
    {
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, "docs", "operations.md"));
        var at = Array.FindIndex(lines, l => l.TrimEnd().EndsWith($"rabbitmqctl set_permissions -p akidb {user} \\", StringComparison.Ordinal));
        Assert.True(at >= 0, $"docs/operations.md has no set_permissions example for {user}");
        var patterns = lines.Skip(at + 1).Take(3).Select(l => l.Trim().TrimEnd('\\').Trim().Trim('\'')).ToArray();
        Assert.All(patterns, p => Assert.StartsWith("^", p, StringComparison.Ordinal));
        return (patterns[0], patterns[1], patterns[2]);
    }
}
