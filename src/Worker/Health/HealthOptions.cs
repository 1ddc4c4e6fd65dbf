using System.ComponentModel.DataAnnotations;

namespace AkiDb.Queue.Worker.Health;

/// <summary>Configuration section <c>Health</c>: the probe endpoint.</summary>
public sealed class HealthOptions : IValidatableObject
{
    public const string Section = "Health";

    /// <summary>
    /// HttpListener prefix for /health/live and /health/ready. Loopback by default: probes come from the kubelet on the
    /// node (set http://+:8081/ in a pod) and nothing else needs them. Empty turns the endpoint off.
    /// </summary>
    public string? Urls { get; set; } = "http://127.0.0.1:8081/";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // An HttpListener prefix: scheme, host (+ or * for all), port, and a trailing slash.
        if (Urls is { Length: > 0 } prefix && !System.Text.RegularExpressions.Regex.IsMatch(prefix, @"^https?://[^/]+/$", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        {
            yield return new ValidationResult($"{Section}:Urls '{prefix}' is not an HttpListener prefix (for example http://+:8081/, with the final slash); empty turns the endpoint off.", [nameof(Urls)]);
        }
    }
}
