using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using AkiDb.Queue.Contracts;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// The AkiDb.Queue.Contracts package as a .NET producer outside the solution uses it: examples/dotnet restores it
/// from the packed folder (its nuget.config), builds, sends with MassTransit and reads the worker's answers.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed partial class DotnetExampleTests(BrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private static readonly string Example = Path.Combine(RepoPaths.Root, "examples", "dotnet");
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-example-");

    [Fact]
    public async Task The_example_producer_builds_against_the_Contracts_package_and_gets_its_results()
    {
        var packages = await PackedPackages.GetAsync();
        Assert.Equal(packages.Version, ExampleVersion());

        // Its own artifacts path and package folder: nothing written into the repository, no stale cached package.
        var artifacts = Path.Combine(_work.FullName, "artifacts");
        var build = await Tooling.RunAsync("dotnet",
            ["build", Example, "-c", "Release", "-nologo", "-nodeReuse:false", "-p:UseSharedCompilation=false", "--artifacts-path", artifacts],
            PackedPackages.DotnetEnvironment(Path.Combine(_work.FullName, "nuget")), TimeSpan.FromMinutes(8));
        Assert.True(build.ExitCode == 0, build.ToString());

        // The contract came from the package, not from src/Contracts.
        var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(artifacts, "obj", "AkiDb.Queue.Examples.Producer", "project.assets.json"))).RootElement;
        var library = assets.GetProperty("libraries").GetProperty($"{PackedPackages.ContractsId}/{packages.Version}");
        Assert.Equal("package", library.GetProperty("type").GetString());
        var producer = Path.Combine(artifacts, "bin", "AkiDb.Queue.Examples.Producer", "release", "AkiDb.Queue.Examples.Producer.dll");

        var (_, url) = await broker.CreateVirtualHostAsync("dotnet-example");
        await using var worker = await WorkerHost.StartAsync(url);

        var completed = await RunAsync(producer, url, "--id", "dn-ok", "--requests", "3", "A man is playing a guitar.", "Someone performs music on stage.");
        Assert.True(completed.ExitCode == 0, completed.ToString());
        var lines = completed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["dn-ok-1", "dn-ok-2", "dn-ok-3"], lines.Select(l => l.Split(' ')[0]).Order());
        Assert.All(lines, l => Assert.Matches(CompletedLine(), l));

        var failed = await RunAsync(producer, url, "--id", "dn-bad", "--model", "no-such-model", "text");
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.StartsWith("dn-bad failed code=unknown_model", failed.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_Contracts_package_has_the_repository_version_its_XML_docs_a_readme_and_the_wire_contract_in_its_description()
    {
        var packages = await PackedPackages.GetAsync();
        var package = packages.PathOf(PackedPackages.ContractsId);
        var entries = PackedPackages.Entries(package);

        Assert.Contains("lib/net10.0/AkiDb.Queue.Contracts.dll", entries);
        Assert.Contains("lib/net10.0/AkiDb.Queue.Contracts.xml", entries);
        Assert.Contains("README.md", entries);
        var metadata = PackedPackages.Metadata(package);
        Assert.Equal(packages.Version, metadata["version"]!.Value);
        Assert.Null(metadata["dependencies"]?.Descendants().FirstOrDefault(d => d.Name.LocalName == "dependency"));
        var description = metadata["description"]!.Value;
        foreach (var name in new[] { "EmbedRequested", "EmbedCompleted", "EmbedFailed", "embed-requested", "embed-completed", "embed-failed", "exchange:embed-requested" })
        {
            Assert.Contains(name, description, StringComparison.Ordinal);
        }

        // Every public type and member has its XML doc in the package (what IntelliSense shows a producer).
        using var zip = System.IO.Compression.ZipFile.OpenRead(package);
        using var xml = zip.GetEntry("lib/net10.0/AkiDb.Queue.Contracts.xml")!.Open();
        var documented = System.Xml.Linq.XDocument.Load(xml).Descendants("member")
            .Where(m => !string.IsNullOrWhiteSpace(m.Element("summary")?.Value))
            .Select(m => m.Attribute("name")!.Value).ToHashSet();
        var undocumented = typeof(EmbedRequested).Assembly.GetExportedTypes().SelectMany(DocumentationIds).Where(id => !documented.Any(d => d == id || d.StartsWith(id + "(", StringComparison.Ordinal))).ToList();
        Assert.True(undocumented.Count == 0, $"no XML summary for {string.Join(", ", undocumented)}");
    }

    /// <summary>XML documentation ids of a public type and the public members it declares (methods without their parameters).</summary>
    private static IEnumerable<string> DocumentationIds(Type type)
    {
        yield return $"T:{type.FullName}";
        const BindingFlags Declared = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var member in type.GetMembers(Declared))
        {
            var prefix = member switch
            {
                PropertyInfo => "P",
                // An enum's value__ is the compiler's backing field (special name): nothing a producer reads.
                FieldInfo { IsSpecialName: false } => "F",
                MethodInfo { IsSpecialName: false } method when method.GetCustomAttribute<System.Runtime.CompilerServices.CompilerGeneratedAttribute>() is null => "M",
                _ => null,
            };
            if (prefix is not null)
            {
                yield return $"{prefix}:{type.FullName}.{member.Name}";
            }
        }
    }

    public void Dispose() => _work.Delete(recursive: true);

    /// <summary>The AkiDb.Queue.Contracts version examples/dotnet pins.</summary>
    private static string ExampleVersion() =>
        ExampleVersionProperty().Match(File.ReadAllText(Path.Combine(Example, "AkiDb.Queue.Examples.Producer.csproj"))).Groups[1].Value;

    private async Task<Tooling.Run> RunAsync(string producer, string url, params string[] arguments)
    {
        var run = await Tooling.RunAsync("dotnet", [producer, "--timeout", "120", .. arguments],
            new Dictionary<string, string?> { ["AMQP_URL"] = url }, TimeSpan.FromMinutes(3), _work.FullName);
        output.WriteLine($"producer {string.Join(' ', arguments)}: {run}");
        return run;
    }

    [GeneratedRegex(@"<AkiDbQueueVersion[^>]*>([^<]+)</AkiDbQueueVersion>")]
    private static partial Regex ExampleVersionProperty();

    [GeneratedRegex(@"^dn-ok-\d completed vectors=2 dimensions=384 model=all-MiniLM-L6-v2 queued_ms=[\d.]+ inference_ms=[\d.]+$")]
    private static partial Regex CompletedLine();
}
