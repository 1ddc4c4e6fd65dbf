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
/// <c>RabbitMq:NotConsumingTimeout</c> without one (and a node answering a connection of its own), it restarts the bus,
/// which gives MassTransit a fresh connection, fresh channels and fresh send transports; when restarts do not help it
/// stops the worker with <see cref="ExitCode"/> for its supervisor (Kubernetes, systemd, compose) to start a new one.
/// Readiness says "not consuming" meanwhile.
/// </summary>
/// <remarks>
/// Why a watchdog on top of MassTransit's own reconnection: MassTransit keeps one pending connection for every endpoint
/// and retries only when that attempt ends. The soak run (docs/reliability.md) found one that never ended (a connection
/// handshake with a frozen node; HandshakeDeadlineTcpClient in AkiDb.Queue.Broker now bounds that), and
/// the worker then held no connection and made no attempt for as long as it ran, with thousands of requests waiting.
/// Whatever else can wedge MassTransit's supervisors this way, a restart of the bus is the one action that rebuilds all
/// of them; the exit is for a process that cannot even do that. A deliberate stop (the inference circuit breaker, a
/// shutdown) is not a stall, and neither is a broker that answers nobody (MassTransit keeps retrying on its own then).
/// </remarks>
internal sealed class ConsumingWatchdog(
    IOptions<RabbitMqOptions> options,
    BrokerConnections connections,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    ILogger<ConsumingWatchdog> logger) : BackgroundService, IReceiveEndpointObserver, IHealthCheck
{
    /// <summary>EX_TEMPFAIL: the worker stopped because it could not get consuming again; starting it anew may.</summary>
    public const int ExitCode = 75;

    private const int RestartsBeforeExit = 3;
    private readonly TimeSpan _timeout = options.Value.NotConsumingTimeout;
    private readonly Lock _gate = new();
    private bool _seenReady;
    private bool _consuming;
    private bool _stoppedOnPurpose;
    private long _notConsumingSince = Stopwatch.GetTimestamp();
    private Uri? _queue;

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
                    Exit($"{restarts} restarts of the bus did not bring a consumer back");
                    return;
                }

                restarts++;
                logger.LogWarning("Not consuming from {Queue} for {Seconds:F0} s while broker node {Node} takes connections (RabbitMq:NotConsumingTimeout): restarting the bus ({Restart} of {Most})",
                    _queue?.AbsolutePath.Trim('/'), stalled.TotalSeconds, node, restarts, RestartsBeforeExit);
                if (!await RestartBusAsync(stoppingToken))
                {
                    return;
                }
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

    /// <summary>Stops and starts the bus, bounded by MassTransit's own stop and start timeouts; false when the worker is exiting.</summary>
    private async Task<bool> RestartBusAsync(CancellationToken stoppingToken)
    {
        var bus = services.GetRequiredService<IBusControl>();
        var host = services.GetRequiredService<IOptions<MassTransitHostOptions>>().Value;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        deadline.CancelAfter((host.StopTimeout ?? TimeSpan.FromSeconds(30)) + (host.StartTimeout ?? TimeSpan.FromMinutes(2)));
        try
        {
            await bus.StopAsync(deadline.Token);
            await bus.StartAsync(deadline.Token);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            Exit($"restarting the bus failed ({e.GetType().Name}: {e.Message})");
            return false;
        }

        lock (_gate)
        {
            // The stop raised Stopping; the restarted endpoint has until the timeout again to report Ready.
            _stoppedOnPurpose = false;
            _notConsumingSince = Stopwatch.GetTimestamp();
        }

        return true;
    }

    private void Exit(string why)
    {
        logger.LogCritical("Stopping the worker (exit code {ExitCode}) for its supervisor to start it again: not consuming from {Queue} while the broker takes connections, and {Why}",
            ExitCode, _queue?.AbsolutePath.Trim('/'), why);
        Environment.ExitCode = ExitCode;
        lifetime.StopApplication();
    }
}
