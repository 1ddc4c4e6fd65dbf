namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>Configuration section <c>Telemetry</c>: where traces and metrics go. Everything is off by default.</summary>
public sealed class TelemetryOptions
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
}
