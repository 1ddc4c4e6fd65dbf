using System.Diagnostics;
using AkiDb.Queue.Broker;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Makes sure the worker never sits without a consumer on its input queue while the broker takes connections: past
/// <c>RabbitMq:NotConsumingTimeout</c> without one (and a node answering a connection of its own), it restarts the input
/// endpoint (a new receive transport and retry loop); when that does not help, twice in a row, it stops the worker with
/// <see cref="ExitCode"/> for its supervisor (Kubernetes, systemd, compose) to start a new one, which rebuilds every
/// MassTransit supervisor, channel and declaration. Readiness says "not consuming" meanwhile. The same exit ends a worker
/// that consumes but cannot publish: four nodes in a row given up on the publish-confirm deadline with no publish answered
/// in between (<see cref="BrokerNodeWatch.GivenUpWithoutAnswer"/>) while a node takes connections.
/// </summary>
/// <remarks>
/// Why a watchdog on top of MassTransit's own reconnection: MassTransit keeps one pending connection for every endpoint
/// and retries only when that attempt ends. The soak run (docs/reliability.md) found one that never ended (a connection
/// handshake with a frozen node; HandshakeDeadlineTcpClient in AkiDb.Queue.Broker now bounds that), and
/// the worker then held no connection and made no attempt for as long as it ran, with thousands of requests waiting.
/// An endpoint restart mends a receive transport that stopped retrying; whatever else can wedge MassTransit's shared
/// connection and channel supervisors it cannot rebuild (nor can a bus restart, which in MassTransit 8.5 does not bring
/// the configured endpoints back), and a new process can, hence the exit. A deliberate stop (the inference circuit
/// breaker, a shutdown) is not a stall, and neither is a broker that answers nobody (MassTransit keeps retrying then).
/// </remarks>
internal sealed class ConsumingWatchdog(
    IOptions<RabbitMqOptions> options,
    BrokerConnections connections,
    BrokerNodeWatch nodeWatch,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    ILogger<ConsumingWatchdog> logger) : BackgroundService, IReceiveEndpointObserver, IHealthCheck
{
    /// <summary>EX_TEMPFAIL: the worker stopped because it could not get consuming again; starting it anew may.</summary>
    public const int ExitCode = 75;

    private const int RestartsBeforeExit = 2;

    /// <summary>Nodes given up in a row on the publish-confirm deadline, none answering a publish, before the worker exits.</summary>
    private const int PublishGiveUpsBeforeExit = 4;
    private readonly TimeSpan _timeout = options.Value.NotConsumingTimeout;
    private readonly Lock _gate = new();
    private bool _seenReady;
    private bool _consuming;
    private bool _stoppedOnPurpose;
    private long _notConsumingSince = Stopwatch.GetTimestamp();
    private Uri? _queue;
    private IReceiveEndpoint? _endpoint;

    /// <summary>How long the input endpoint has gone without consuming, when it is not consuming and not stopped on purpose.</summary>
    private TimeSpan? Stalled
    {
        get
        {
            lock (_gate)
            {
                return _seenReady && !_consuming && !_stoppedOnPurpose ? Stopwatch.GetElapsedTime(_notConsumingSince) : null;
            }
        }
    }

    public Task Ready(ReceiveEndpointReady ready)
    {
        lock (_gate)
        {
            _seenReady = _consuming = true;
            _stoppedOnPurpose = false;
            _queue = ready.InputAddress;
            _endpoint = ready.ReceiveEndpoint;
        }

        return Task.CompletedTask;
    }

    public Task Stopping(ReceiveEndpointStopping stopping)
    {
        lock (_gate)
        {
            _consuming = false;
            _stoppedOnPurpose = true;
        }

        return Task.CompletedTask;
    }

    public Task Completed(ReceiveEndpointCompleted completed) => Lost();

    public Task Faulted(ReceiveEndpointFaulted faulted) => Lost();

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Stalled is { } stalled
            ? HealthCheckResult.Unhealthy($"not consuming from {_queue?.AbsolutePath.Trim('/')} for {stalled.TotalSeconds:F0} s: the broker connection is being re-established")
            : HealthCheckResult.Healthy("consuming"));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_timeout <= TimeSpan.Zero)
        {
            return;
        }

        var restarts = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromTicks(Math.Clamp(_timeout.Ticks / 6, TimeSpan.TicksPerSecond, TimeSpan.TicksPerSecond * 10)));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (nodeWatch.GivenUpWithoutAnswer >= PublishGiveUpsBeforeExit && !lifetime.ApplicationStopping.IsCancellationRequested && await AnsweringNodeAsync(stoppingToken) is { } answering)
                {
                    Exit($"{nodeWatch.GivenUpWithoutAnswer} broker nodes in a row were given up on the publish-confirm deadline with no publish answered in between, while {answering} takes connections: the worker's publishing is stuck");
                    return;
                }

                if (Stalled is not { } stalled)
                {
                    lock (_gate)
                    {
                        restarts = _consuming ? 0 : restarts;
                    }

                    continue;
                }

                if (stalled < _timeout || lifetime.ApplicationStopping.IsCancellationRequested || await AnsweringNodeAsync(stoppingToken) is not { } node)
                {
                    continue;
                }

                if (restarts >= RestartsBeforeExit)
                {
                    Exit($"not consuming while the broker takes connections, and {restarts} restarts of the endpoint did not bring a consumer back");
                    return;
                }

                restarts++;
                logger.LogWarning("Not consuming from {Queue} for {Seconds:F0} s while broker node {Node} takes connections (RabbitMq:NotConsumingTimeout): restarting the endpoint ({Restart} of {Most})",
                    _queue?.AbsolutePath.Trim('/'), stalled.TotalSeconds, node, restarts, RestartsBeforeExit);
                await RestartEndpointAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private Task Lost()
    {
        lock (_gate)
        {
            if (_consuming)
            {
                _consuming = false;
                _notConsumingSince = Stopwatch.GetTimestamp();
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>A node that completes a connection of the watchdog's own, within the connection timeout; null when none does.</summary>
    private async Task<string?> AnsweringNodeAsync(CancellationToken stoppingToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        deadline.CancelAfter(connections.Settings.ConnectionTimeout * 2);
        try
        {
            await using var connection = await connections.ConnectAsync(options.Value.ConnectionName + " (watchdog)", deadline.Token);
            return $"{connection.Endpoint.HostName}:{connection.Endpoint.Port}";
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogDebug("No broker node answered the watchdog: {Error}", e.Message);
            return null;
        }
    }

    /// <summary>
    /// Stops and starts the input endpoint (as the inference circuit breaker does), the stop bounded by MassTransit's
    /// consumer stop timeout: a new receive transport with a retry loop of its own, and the endpoint's send and publish
    /// caches cleared. Not the bus: a stopped and started MassTransit 8.5 bus brings back only its own temporary
    /// endpoint, not the configured ones (tried: the worker then had no consumer at all).
    /// </summary>
    private async Task RestartEndpointAsync(CancellationToken stoppingToken)
    {
        IReceiveEndpoint? endpoint;
        lock (_gate)
        {
            endpoint = _endpoint;
        }

        if (endpoint is null)
        {
            return;
        }

        var host = services.GetRequiredService<IOptions<MassTransitHostOptions>>().Value;
        try
        {
            using var stopDeadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            stopDeadline.CancelAfter(host.ConsumerStopTimeout ?? TimeSpan.FromSeconds(30));
            await endpoint.Stop(stopDeadline.Token);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("Stopping the input endpoint did not complete ({Error}); starting it anyway", e.GetBaseException().Message);
        }

        lock (_gate)
        {
            // The stop raised Stopping; the restarted endpoint has until the timeout again to report Ready.
            _stoppedOnPurpose = false;
            _notConsumingSince = Stopwatch.GetTimestamp();
        }

        // Not awaited: MassTransit reconnects the new transport by itself, and the next checks see whether it is consuming.
        endpoint.Start(stoppingToken);
    }

    private void Exit(string why)
    {
        logger.LogCritical("Stopping the worker (exit code {ExitCode}) for its supervisor to start it again ({Queue}): {Why}",
            ExitCode, _queue?.AbsolutePath.Trim('/'), why);
        Environment.ExitCode = ExitCode;
        lifetime.StopApplication();
    }
}
