using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Health;

/// <summary>
/// /health/live and /health/ready for Kubernetes probes, on HttpListener. The worker is a queue consumer, not a web
/// service: a whole ASP.NET Core pipeline for two probe URLs would be most of the worker's dependencies.
/// Ready = the broker connection (MassTransit's checks, tagged "ready"), the broker not blocking it (connection.blocked)
/// and inference (a lane can run a batch).
/// Live = the process answers and is not shutting down.
/// </summary>
internal sealed class HealthEndpoint(HealthCheckService health, IOptions<HealthOptions> options, IHostApplicationLifetime lifetime, ILogger<HealthEndpoint> logger)
    : BackgroundService, IHostedLifecycleService
{
    private readonly HttpListener _listener = new();

    /// <summary>
    /// Listens before any hosted service starts (the host runs every StartingAsync first), so /health/live answers from
    /// the first second, also while the broker is unreachable or the model loads; /health/ready says 503 meanwhile.
    /// </summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Value.Urls))
        {
            return Task.CompletedTask;
        }

        _listener.Prefixes.Add(options.Value.Urls);
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException e)
        {
            // A busy port must not take the worker down: probes fail visibly instead.
            logger.LogError("Health endpoint could not listen on {Urls}: {Error}", options.Value.Urls, e.Message);
            return Task.CompletedTask;
        }

        logger.LogInformation("Health endpoint on {Urls}health/live and {Urls}health/ready", options.Value.Urls, options.Value.Urls);
        return base.StartAsync(cancellationToken);
    }

    // Started in StartingAsync already.
    public override Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Dispose()
    {
        _listener.Close();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listener = _listener;
        await using var stop = stoppingToken.Register(listener.Stop);
        while (!stoppingToken.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            _ = Task.Run(() => RespondAsync(context, stoppingToken), CancellationToken.None);
        }
    }

    private async Task RespondAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        using var response = context.Response;
        try
        {
            var path = context.Request.Url?.AbsolutePath.TrimEnd('/');
            Func<HealthCheckRegistration, bool>? predicate = path switch
            {
                "/health/live" => r => r.Tags.Contains("live"),
                "/health/ready" => r => r.Tags.Contains("ready"),
                _ => null,
            };
            if (predicate is null)
            {
                response.StatusCode = 404;
                return;
            }

            var report = await health.CheckHealthAsync(predicate, cancellationToken);
            var stopping = lifetime.ApplicationStopping.IsCancellationRequested;
            var healthy = report.Status == HealthStatus.Healthy && !stopping;
            response.StatusCode = healthy ? 200 : 503;
            response.ContentType = "application/json";
            var body = new
            {
                status = stopping ? "Stopping" : report.Status.ToString(),
                checks = report.Entries.Select(e => new { name = e.Key, status = e.Value.Status.ToString(), description = e.Value.Description }),
            };
            await JsonSerializer.SerializeAsync(response.OutputStream, body, cancellationToken: cancellationToken);
        }
        catch (Exception e) when (e is HttpListenerException or OperationCanceledException or ObjectDisposedException)
        {
            // The prober went away or the worker is stopping.
        }
    }
}
