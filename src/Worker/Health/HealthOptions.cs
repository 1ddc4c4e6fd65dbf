namespace AkiDb.Queue.Worker.Health;

/// <summary>Configuration section <c>Health</c>: the probe endpoint.</summary>
public sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>
    /// HttpListener prefix for /health/live and /health/ready. Loopback by default: probes come from the kubelet on the
    /// node (set http://+:8081/ in a pod) and nothing else needs them. Empty turns the endpoint off.
    /// </summary>
    public string? Urls { get; set; } = "http://127.0.0.1:8081/";
}
