using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// The two packages users install, AkiDb.Queue.Cli (the .NET tool) and AkiDb.Queue.Contracts, packed once per test run
/// (packing costs tens of seconds on two cores) from the projects the test build already built, into
/// .artifacts/packages: the folder README and examples/dotnet/nuget.config point to.
/// </summary>
internal sealed partial class PackedPackages
{
    public const string CliId = "AkiDb.Queue.Cli";
    public const string ContractsId = "AkiDb.Queue.Contracts";

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly Lazy<Task<PackedPackages>> Packed = new(PackAsync);

    private PackedPackages(string folder, string version)
    {
        Folder = folder;
        Version = version;
    }

    /// <summary>The local package source holding both packages.</summary>
    public string Folder { get; }

    /// <summary>The version in Directory.Build.props, the one place it is set.</summary>
    public string Version { get; }

    public string PathOf(string id) => Path.Combine(Folder, $"{id}.{Version}.nupkg");

    public static Task<PackedPackages> GetAsync() => Packed.Value;

    /// <summary>The repository's version: the &lt;Version&gt; of Directory.Build.props.</summary>
    public static string RepositoryVersion() =>
        VersionElement().Match(File.ReadAllText(Path.Combine(RepoPaths.Root, "Directory.Build.props"))) is { Success: true } match
            ? match.Groups[1].Value
            : throw new InvalidOperationException("Directory.Build.props has no <Version>");

    /// <summary>Entry names of a package (a zip).</summary>
    public static List<string> Entries(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    /// <summary>The <c>metadata</c> element of the package's .nuspec; <c>metadata["version"]</c> reads a child in the nuspec's namespace.</summary>
    public static NuspecMetadata Metadata(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = entry.Open();
        var root = XDocument.Load(stream).Root!;
        return new NuspecMetadata(root.Element(root.Name.Namespace + "metadata")!);
    }

    /// <summary>A nuspec's metadata; its children are named in the nuspec's own XML namespace, which varies with its schema.</summary>
    public sealed record NuspecMetadata(XElement Element)
    {
        public XElement? this[string child] => Element.Element(Element.Name.Namespace + child);
    }

    /// <summary>
    /// Environment for a dotnet child process of the test host: the MSBuild variables `dotnet test` sets for itself
    /// removed and, when given, a NuGet package folder of its own, so a package of the same version cached by an
    /// earlier run (in ~/.nuget/packages) can never stand in for the one packed now.
    /// </summary>
    public static Dictionary<string, string?> DotnetEnvironment(string? nugetPackages = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["MSBuildSDKsPath"] = null,
            ["MSBUILD_EXE_PATH"] = null,
            ["MSBuildExtensionsPath"] = null,
            ["MSBuildLoadMicrosoftTargetsReadOnly"] = null,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        if (nugetPackages is not null)
        {
            environment["NUGET_PACKAGES"] = nugetPackages;
        }

        return environment;
    }

    private static async Task<PackedPackages> PackAsync()
    {
        // A clean clone has no .artifacts/packages yet: File.Delete throws for a missing folder, not a missing file.
        var folder = Directory.CreateDirectory(Path.Combine(RepoPaths.Artifacts, "packages")).FullName;
        var version = RepositoryVersion();
        foreach (var stale in new[] { CliId, ContractsId }.Select(id => Path.Combine(folder, $"{id}.{version}.nupkg")))
        {
            File.Delete(stale);
        }

        // --no-build: the test build made these outputs already. No build servers are left behind.
        var packs = new[] { "src/Cli/AkiDb.Queue.Cli.csproj", "src/Contracts/AkiDb.Queue.Contracts.csproj" }.Select(project =>
            Tooling.RunAsync("dotnet", ["pack", project, "-c", Configuration, "--no-build", "-nologo", "-nodeReuse:false", "-o", folder],
                DotnetEnvironment(), TimeSpan.FromMinutes(5)));
        foreach (var run in await Task.WhenAll(packs))
        {
            if (run.ExitCode != 0)
            {
                throw new InvalidOperationException($"dotnet pack failed:\n{run}");
            }
        }

        return new PackedPackages(folder, version);
    }

    [GeneratedRegex(@"<Version>([^<]+)</Version>")]
    private static partial Regex VersionElement();
}
