using System.ComponentModel.DataAnnotations;

namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>Configuration section <c>Telemetry</c>: where traces and metrics go. Everything is off by default.</summary>
public sealed class TelemetryOptions : IValidatableObject
{
    public const string Section = "Telemetry";

    /// <summary>OTLP endpoint for traces, metrics and logs, e.g. http://jaeger:4317. The standard OTEL_EXPORTER_OTLP_ENDPOINT works too.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Write finished spans to the console (for a first look without a collector).</summary>
    public bool ConsoleExporter { get; set; }

    /// <summary>Serve a Prometheus scrape endpoint at this prefix, e.g. http://+:9464/ (path /metrics).</summary>
    public string? PrometheusUrl { get; set; }

    /// <summary>service.name in every span and metric.</summary>
    public string ServiceName { get; set; } = "akidb-queue-worker";

    /// <summary>MassTransit's usage telemetry to its vendor; off unless asked for (read before the bus is built).</summary>
    public bool MassTransitUsageTelemetry { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (OtlpEndpoint is { Length: > 0 } otlp && !Uri.TryCreate(otlp, UriKind.Absolute, out _))
        {
            yield return new ValidationResult($"{Section}:OtlpEndpoint '{otlp}' is not an absolute URL (for example http://jaeger:4317).", [nameof(OtlpEndpoint)]);
        }

        if (PrometheusUrl is { Length: > 0 } prometheus && !System.Text.RegularExpressions.Regex.IsMatch(prometheus, @"^http://[^/:]+:\d{1,5}/?$"))
        {
            yield return new ValidationResult($"{Section}:PrometheusUrl must look like http://HOST:PORT/ (HOST may be + for all interfaces); was '{prometheus}'.", [nameof(PrometheusUrl)]);
        }

        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            yield return new ValidationResult($"{Section}:ServiceName must not be empty.", [nameof(ServiceName)]);
        }
    }
}
