using AkiDb.Queue.Worker.Models;
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
    public static (string Provider, IReadOnlyList<ProviderAttemptResult> Tried) Apply(SessionOptions options, IReadOnlyList<ExecutionProvider> order)
    {
        var available = OrtEnv.Instance().GetAvailableProviders();
        var tried = new List<ProviderAttemptResult>();
        foreach (var provider in order.Append(ExecutionProvider.CPU).Distinct())
        {
            if (provider == ExecutionProvider.CPU)
            {
                tried.Add(new(nameof(ExecutionProvider.CPU), true, null));
                return (nameof(ExecutionProvider.CPU), tried);
            }

            var ortName = provider.OrtName();
            var reason = provider == ExecutionProvider.CoreML && !OperatingSystem.IsMacOS() ? "CoreML needs macOS" : null;
            if (reason is null && !available.Contains(ortName))
            {
                reason = $"{ortName} is not in this ONNX Runtime build (available: {string.Join(", ", available)})" +
                         (provider == ExecutionProvider.CUDA ? "; reference Microsoft.ML.OnnxRuntime.Gpu instead of Microsoft.ML.OnnxRuntime" : "");
            }

            if (reason is null)
            {
                try
                {
                    if (provider == ExecutionProvider.CUDA)
                    {
                        options.AppendExecutionProvider_CUDA(0);
                    }
                    else
                    {
                        options.AppendExecutionProvider_CoreML();
                    }

                    tried.Add(new(provider.ToString(), true, null));
                    return (provider.ToString(), tried);
                }
                catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or NotSupportedException or DllNotFoundException)
                {
                    reason = e.Message;
                }
            }

            tried.Add(new(provider.ToString(), false, reason));
        }

        throw new InvalidOperationException("unreachable: CPU is always appended");
    }
}
