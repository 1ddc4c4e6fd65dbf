using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Worker.Native;

/// <summary>One provider tried for a session: whether it was appended, and why not.</summary>
public sealed record ProviderAttemptResult(string Name, bool Ok, string? Reason);

/// <summary>
/// Appends the first available execution provider of the configured order to a session's options. CoreML needs
/// macOS and the package's CoreML build; CUDA needs the Microsoft.ML.OnnxRuntime.Gpu package and a GPU; CPU always works.
/// </summary>
public static class ExecutionProviderSelector
{
    public static (string Provider, IReadOnlyList<ProviderAttemptResult> Tried) Apply(SessionOptions options, IReadOnlyList<string> order)
    {
        var available = OrtEnv.Instance().GetAvailableProviders();
        var tried = new List<ProviderAttemptResult>();
        foreach (var provider in order.Append("CPU").Distinct())
        {
            if (provider == "CPU")
            {
                tried.Add(new("CPU", true, null));
                return ("CPU", tried);
            }

            var (ortName, reason) = provider switch
            {
                "CoreML" when !OperatingSystem.IsMacOS() => ("CoreMLExecutionProvider", "CoreML needs macOS"),
                "CoreML" => ("CoreMLExecutionProvider", null),
                "CUDA" => ("CUDAExecutionProvider", null),
                _ => (provider, $"unknown provider {provider}"),
            };
            if (reason is null && !available.Contains(ortName))
            {
                reason = $"{ortName} is not in this ONNX Runtime build (available: {string.Join(", ", available)})" +
                         (provider == "CUDA" ? "; reference Microsoft.ML.OnnxRuntime.Gpu instead of Microsoft.ML.OnnxRuntime" : "");
            }

            if (reason is null)
            {
                try
                {
                    if (provider == "CUDA")
                    {
                        options.AppendExecutionProvider_CUDA(0);
                    }
                    else
                    {
                        options.AppendExecutionProvider_CoreML();
                    }

                    tried.Add(new(provider, true, null));
                    return (provider, tried);
                }
                catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or NotSupportedException or DllNotFoundException)
                {
                    reason = e.Message;
                }
            }

            tried.Add(new(provider, false, reason));
        }

        throw new InvalidOperationException("unreachable: CPU is always appended");
    }
}
