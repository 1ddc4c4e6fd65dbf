using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace AkiDb.Queue.Worker.Hosting;

public static class TelemetryRegistration
{
    /// <summary>
    /// OpenTelemetry: MassTransit's spans and meters plus the worker's own (<see cref="WorkerTelemetry"/>). Only the
    /// "MassTransit" source is subscribed, not RabbitMQ.Client's, which would duplicate every publish and receive span.
    /// </summary>
    public static IHostApplicationBuilder AddWorkerTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<TelemetryOptions>(TelemetryOptions.Section);
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<WorkerTelemetry>();
        builder.Services.AddHostedService<ReadinessReporter>();
        ConsoleLogFormat.Configure(builder.Services);

        var options = builder.Configuration.ReadForComposition<TelemetryOptions>(TelemetryOptions.Section);
        var otlp = options.OtlpEndpoint ?? builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        var exporting = !string.IsNullOrWhiteSpace(otlp) || options.ConsoleExporter || !string.IsNullOrWhiteSpace(options.PrometheusUrl);
        if (!exporting)
        {
            // No exporter configured: no listener either, so spans cost nothing.
            return builder;
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(options.ServiceName, serviceInstanceId: $"{Environment.MachineName}-{Environment.ProcessId}"))
            .WithTracing(tracing =>
            {
                tracing.AddSource("MassTransit", WorkerTelemetry.Name);
                if (options.ConsoleExporter)
                {
                    tracing.AddConsoleExporter();
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(WorkerTelemetry.Name, "MassTransit").AddRuntimeInstrumentation();
                if (!string.IsNullOrWhiteSpace(options.PrometheusUrl))
                {
                    var (_, port) = ParseListenUrl(options.PrometheusUrl, nameof(TelemetryOptions.PrometheusUrl));
                    var prefix = options.PrometheusUrl.EndsWith('/') ? options.PrometheusUrl : options.PrometheusUrl + "/";
                    builder.Services.AddHostedService(sp => ActivatorUtilities.CreateInstance<MetricsEndpointReporter>(sp, prefix));
                    metrics.AddPrometheusHttpListener(p =>
                    {
                        // The exporter builds a Uri from Host, which rejects HttpListener's "+" (all interfaces), so the
                        // configured prefix replaces the one it built.
                        p.Host = "localhost";
                        p.Port = port;
                        p.ScrapeEndpointPath = "/metrics";
                        p.ConfigureHttpListener = (_, listener) =>
                        {
                            listener.Prefixes.Clear();
                            listener.Prefixes.Add(prefix);
                        };
                    });
                }
            });

        if (!string.IsNullOrWhiteSpace(otlp))
        {
            builder.Logging.AddOpenTelemetry(logging =>
            {
                logging.IncludeScopes = true;
                logging.IncludeFormattedMessage = true;
            });
            telemetry.UseOtlpExporter(OpenTelemetry.Exporter.OtlpExportProtocol.Grpc, new Uri(otlp));
        }

        return builder;
    }

    /// <summary>Splits an HttpListener-style prefix (http://+:9464/, http://127.0.0.1:8081/) into host and port.</summary>
    internal static (string Host, int Port) ParseListenUrl(string url, string setting)
    {
        var match = System.Text.RegularExpressions.Regex.Match(url, @"^http://(?<host>[^/:]+):(?<port>\d{1,5})/?$");
        if (!match.Success || !int.TryParse(match.Groups["port"].Value, out var port) || port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"Telemetry:{setting} must look like http://HOST:PORT/ (HOST may be + for all interfaces); was '{url}'.");
        }

        return (match.Groups["host"].Value, port);
    }
}
