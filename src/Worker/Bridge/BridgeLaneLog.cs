using Microsoft.Extensions.Logging;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>What a lane says when a process becomes ready: the handshake in one line, then each provider skipped.</summary>
internal static class BridgeLaneLog
{
    public static void Ready(ILogger logger, int lane, int pid, BridgeReply ready)
    {
        var models = ready.Models ?? [];
        logger.LogInformation(
            "Bridge lane {Lane} ready: pid {Pid}, Python {Python}, {Runtime} runtime, ONNX Runtime {Ort}, {Models}, started in {Ms:F0} ms; sandbox: {Sandbox}",
            lane, pid, ready.Python, ready.Runtime, ready.OrtVersion,
            string.Join(", ", models.Select(m => $"{m.Name} on {m.Provider} ({m.Dim}d, +{(m.RssDeltaBytes ?? 0) / 1048576.0:F0} MiB)")), ready.StartupMs,
            ready.Sandbox?.Describe() ?? "off (Bridge:Sandbox:Enabled is false)");
        // One line per restriction the platform refused, naming it: the rest of the sandbox still holds.
        foreach (var off in ready.Sandbox?.Off ?? [])
        {
            logger.LogWarning("Bridge lane {Lane}: sandbox part {Part} is off: {Reason}", lane, off.Part, off.Reason);
        }
        foreach (var attempt in models.SelectMany(m => m.ProvidersTried ?? []).Where(a => !a.Ok))
        {
            logger.LogInformation("Bridge lane {Lane}: execution provider {Provider} skipped: {Reason}", lane, attempt.Name, attempt.Reason);
        }
    }
}
