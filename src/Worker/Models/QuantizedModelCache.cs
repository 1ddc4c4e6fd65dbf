using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AkiDb.Queue.Quantization;
using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Models;

/// <summary>
/// Where the int8 file of an fp32 model lives, and making it. The file sits beside its source (else under the
/// cache directory, when the source's folder is read-only), named by a hash of the source file and of the
/// quantiser's settings, so a changed model or a changed quantiser never serves a stale file. It is written under a
/// temporary name and renamed, so two workers quantising at once both end up with a whole file.
/// </summary>
public sealed class QuantizedModelCache(string cacheDirectory, ILogger logger)
{
    /// <summary>Bumped when the quantiser's output changes for the same settings.</summary>
    private const string QuantizerRevision = "3"; // 2: fused first, per-row activation scales; 3: one GEMM per shared input (packed query/key/value), fewer helper nodes

    public string PathFor(string sourceOnnx, QuantizationOptions options)
    {
        var key = $"{SourceHash(sourceOnnx)[..16]}-{SettingsHash(options)}";
        var name = $"{Path.GetFileNameWithoutExtension(sourceOnnx)}.int8-{key}.onnx";
        var beside = Path.Combine(Path.GetDirectoryName(sourceOnnx)!, name);
        return File.Exists(beside) || IsWritable(Path.GetDirectoryName(sourceOnnx)!) ? beside : Path.Combine(cacheDirectory, "int8", name);
    }

    /// <summary>Quantises <paramref name="sourceOnnx"/> into <paramref name="target"/> unless it is already there.</summary>
    public void Ensure(string modelName, string sourceOnnx, string target, QuantizationOptions options)
    {
        if (File.Exists(target))
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var report = OnnxQuantizer.QuantizeFile(sourceOnnx, target, options);
        logger.LogInformation(
            "Quantised {Model} to int8 in {Ms:F0} ms ({Quantized} of {MatMuls} weight MatMuls; {Description}): {Path}, {Bytes} bytes, cached for later starts",
            modelName, Stopwatch.GetElapsedTime(started).TotalMilliseconds, report.Quantized, report.WeightMatMuls, report.Description, target, new FileInfo(target).Length);
    }

    /// <summary>
    /// SHA-256 of the file, remembered in a <c>.sha256</c> file beside it with the length and write time it was
    /// computed for: hashing 90 MB costs about 0.4 s here, too much for every start.
    /// </summary>
    private static string SourceHash(string path)
    {
        var info = new FileInfo(path);
        var stamp = $"{info.Length} {info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture)}";
        var memo = path + ".sha256";
        try
        {
            if (File.Exists(memo) && File.ReadAllText(memo).Split('\n') is [var recorded, var hash, ..] && recorded == stamp && hash.Length == 64)
            {
                return hash;
            }
        }
        catch (IOException)
        {
        }

        string computed;
        using (var stream = File.OpenRead(path))
        {
            computed = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        try
        {
            File.WriteAllText(memo, $"{stamp}\n{computed}\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only model folder: hash again next start.
        }

        return computed;
    }

    private static string SettingsHash(QuantizationOptions options)
    {
        var text = $"{QuantizerRevision}|{options.PerTensor}|{options.Activations}|{options.FuseFirst}|{string.Join(',', options.KeepFp32.Order(StringComparer.Ordinal))}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
    }

    private static bool IsWritable(string directory)
    {
        var probe = Path.Combine(directory, $".akidb-write-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
