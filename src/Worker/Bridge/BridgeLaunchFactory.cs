using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>Builds the fixed command line and minimal environment the bridge runs with.</summary>
public sealed class BridgeLaunchFactory(IOptions<BridgeOptions> options)
{
    // What the bridge may inherit: locale, temp dir, and what GPU runtimes and BLAS need to find their libraries.
    private static readonly string[] InheritedVariables =
    [
        "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "TZ", "SYSTEMROOT",
        "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_PATH", "CUDA_HOME",
        "NVIDIA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    ];

    public BridgeLaunch Create(PythonInterpreter python)
    {
        var settings = options.Value;
        var entryPoint = Path.GetFullPath(settings.EntryPoint ?? Path.Combine(AppContext.BaseDirectory, "python", "akidb_bridge.py"));
        if (!File.Exists(entryPoint))
        {
            throw new FileNotFoundException($"The bridge script {entryPoint} is missing; it is copied next to the worker at build time.", entryPoint);
        }

        // -I: ignore PYTHON* variables and the user site, so nothing in the environment can change what code runs.
        // -B: never write .pyc files next to the installed sources.
        List<string> arguments = ["-I", "-B", entryPoint, .. settings.ExtraArguments ?? []];

        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in System.Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            environment[name] = null;
        }

        foreach (var name in InheritedVariables)
        {
            if (System.Environment.GetEnvironmentVariable(name) is { } value)
            {
                environment[name] = value;
            }
        }

        // numpy's BLAS would otherwise start a thread per core that the pooling step never needs.
        environment["OPENBLAS_NUM_THREADS"] = "1";
        environment["OMP_NUM_THREADS"] = "1";
        environment["MKL_NUM_THREADS"] = "1";
        environment["PYTHONIOENCODING"] = "utf-8";
        foreach (var (name, value) in settings.Environment)
        {
            environment[name] = value;
        }

        return new BridgeLaunch(python.Path, arguments, Path.GetDirectoryName(entryPoint)!, environment);
    }

    /// <summary>The libonnxruntime that NuGet restored next to the worker, for the bridge's ctypes runtime.</summary>
    public string? ResolveOrtLibrary()
    {
        if (options.Value.OrtLibraryPath is { } configured)
        {
            return Path.GetFullPath(configured);
        }

        var file = OperatingSystem.IsWindows() ? "onnxruntime.dll" : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib" : "libonnxruntime.so";
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "runtimes", $"{os}-{arch}", "native", file),
            Path.Combine(AppContext.BaseDirectory, file),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }
}
