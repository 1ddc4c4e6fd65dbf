using System.Text.Json;
using CliWrap;
using CliWrap.Buffered;
using AkiDb.Queue.Worker.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// Finds a Python with numpy. The python3 first on PATH is often a pyenv or venv build without it (as on the
/// reference machine) while the distribution's /usr/bin/python3 has it from apt, so every candidate is probed
/// and one with the official onnxruntime package wins over one without.
/// </summary>
public sealed class PythonLocator(IOptions<EmbeddingOptions> embedding, TimeProvider time, ILogger<PythonLocator> logger)
{
    private readonly PythonProbeCache _cache = new(
        Path.Combine(embedding.Value.CacheDirectory ?? BundledModelExtractor.DefaultCacheDirectory(), "python-probe.json"), time);

    private const string ProbeScript =
        "import json, sys, importlib.util\n" +
        "r = {'version': sys.version.split()[0], 'ok': sys.version_info >= (3, 9)}\n" +
        "try:\n    import numpy\n    r['numpy'] = numpy.__version__\n    r['numpy_file'] = numpy.__file__\n" +
        "except Exception as e:\n    r['error'] = type(e).__name__ + ': ' + str(e)\n" +
        "r['onnxruntime'] = importlib.util.find_spec('onnxruntime') is not None\n" +
        "print(json.dumps(r))\n";

    public async Task<PythonInterpreter> LocateAsync(string? configuredPath, CancellationToken cancellationToken)
    {
        if (configuredPath is null && _cache.TryLoad() is { } cached)
        {
            logger.LogInformation("Bridge Python: {Path} (Python {Version}, numpy {Numpy}; probed earlier, numpy unchanged)", cached.Path, cached.Version, cached.NumpyVersion);
            return cached;
        }

        var candidates = configuredPath is not null ? [configuredPath] : Candidates().ToList();
        var probes = await Task.WhenAll(candidates.Select(c => ProbeAsync(c, cancellationToken)));

        var usable = probes.Where(p => p.Interpreter is not null).Select(p => p.Interpreter!).ToList();
        var chosen = usable.FirstOrDefault(p => p.HasOnnxRuntime) ?? usable.FirstOrDefault();
        if (chosen is not null)
        {
            logger.LogInformation("Bridge Python: {Path} (Python {Version}, numpy {Numpy}, official onnxruntime package {Ort})",
                chosen.Path, chosen.Version, chosen.NumpyVersion, chosen.HasOnnxRuntime ? "present" : "absent, ctypes runtime will be used");
            if (configuredPath is null)
            {
                _cache.Save(chosen);
            }

            return chosen;
        }

        var tried = string.Join("; ", probes.Select(p => $"{p.Candidate}: {p.Problem}"));
        throw new InvalidOperationException(
            "No Python 3.9+ with numpy was found for the embedding bridge. Tried " + tried + ". " +
            "Fix it with one of: 'sudo apt-get install -y python3-numpy' (Debian/Ubuntu), " +
            "'python3 -m pip install numpy', or set Bridge__PythonPath to an interpreter that has numpy.");
    }

    /// <summary>Drops the remembered choice, e.g. when the bridge could not start with it.</summary>
    public void ForgetCachedChoice() => _cache.Forget();

    private static IEnumerable<string> Candidates()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var names = OperatingSystem.IsWindows() ? new[] { "python.exe", "python3.exe" } : ["python3"];
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => names.Select(name => Path.Combine(dir, name)));
        string[] wellKnown = ["/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3"];
        foreach (var path in onPath.Concat(wellKnown))
        {
            if (File.Exists(path) && seen.Add(ResolveLinks(path)))
            {
                yield return path;
            }
        }
    }

    private static string ResolveLinks(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        }
        catch (IOException)
        {
            return Path.GetFullPath(path);
        }
    }

    private static async Task<(string Candidate, PythonInterpreter? Interpreter, string Problem)> ProbeAsync(string candidate, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            var result = await Cli.Wrap(candidate)
                .WithArguments(["-I", "-c", ProbeScript])
                .WithValidation(CommandResultValidation.None)
                .ExecuteBufferedAsync(timeout.Token);
            if (result.ExitCode != 0)
            {
                return (candidate, null, $"exit code {result.ExitCode}: {result.StandardError.Trim()}");
            }

            using var json = JsonDocument.Parse(result.StandardOutput);
            var root = json.RootElement;
            var version = root.GetProperty("version").GetString() ?? "?";
            if (!root.GetProperty("ok").GetBoolean())
            {
                return (candidate, null, $"Python {version} is older than 3.9");
            }

            if (root.TryGetProperty("numpy", out var numpy))
            {
                var numpyFile = root.TryGetProperty("numpy_file", out var file) ? file.GetString() : null;
                return (candidate, new PythonInterpreter(candidate, version, numpy.GetString() ?? "?", root.GetProperty("onnxruntime").GetBoolean(), numpyFile), "");
            }

            return (candidate, null, root.TryGetProperty("error", out var error) ? error.GetString() ?? "numpy missing" : "numpy missing");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return (candidate, null, e.Message);
        }
    }
}
