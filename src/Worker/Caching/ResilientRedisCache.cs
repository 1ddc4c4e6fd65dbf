using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace AkiDb.Queue.Worker.Caching;

/// <summary>
/// The cache's Redis level, made safe to lose: one round trip per request's lookup (<c>MGET</c> of all its keys) and
/// one per batch's store (pipelined <c>SET ... PX</c>). Not HybridCache's distributed level: that asks Redis one key
/// at a time (a hash read per text, in HybridCache's own payload), which made a cached re-ingestion spend most of its
/// time waiting on Redis round trips (measured in docs/benchmarks-path.md). Entries are plain strings holding
/// <see cref="CachedVectorCodec"/>'s bytes; an entry of the older layout (a hash) reads as a miss (<c>MGET</c> answers
/// nil for a key of another type) and is replaced by the next store. Here:
/// <list type="bullet">
/// <item>the connection is made in the background from the start and kept by StackExchange.Redis; while it is down
/// (not yet up, killed, restarting) Redis is skipped without a call, with one log line when it goes and one when it
/// is back;</item>
/// <item>every call is bounded by <c>Cache:RedisTimeout</c> (Polly), and calls that fail or time out on a connection
/// that looks up (a hung or overloaded Redis) open a circuit that skips Redis for <c>Cache:RedisBreakDuration</c>;</item>
/// <item>no call ever throws: a failure is a miss, a lost write is a later miss.</item>
/// </list>
/// </summary>
internal sealed class ResilientRedisCache : IDisposable
{
    private readonly Task<ConnectionMultiplexer> _connection;
    private readonly ResiliencePipeline _pipeline;
    private readonly CircuitBreakerStateProvider _circuit = new();
    private readonly CacheTelemetry _telemetry;
    private readonly TimeProvider _time = TimeProvider.System;
    private long _openUntil; // timestamp until which the open circuit skips Redis; then calls probe it again

    /// <summary>How Redis's TLS certificate is checked (null without TLS); its last rejection says why a TLS connection failed.</summary>
    public AkiDb.Queue.Broker.BrokerTrust? Trust { get; }

    public ResilientRedisCache(CacheOptions options, CacheTelemetry telemetry, ILogger<ResilientRedisCache> logger)
    {
        _telemetry = telemetry;
        var configuration = ConfigurationOptions.Parse(options.Redis!);
        Endpoints = string.Join(", ", configuration.EndPoints.Select(e => e.ToString()));
        var timeoutMs = (int)Math.Ceiling(options.RedisTimeout.TotalMilliseconds);
        // Never block start-up or a call on a Redis that is not there: connect in the background, fail fast while
        // disconnected (no backlog that would hold calls until it is back), and retry the connection steadily.
        configuration.AbortOnConnectFail = false;
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.AsyncTimeout = timeoutMs;
        configuration.SyncTimeout = timeoutMs;
        // A TLS handshake takes a few round trips more; the connection is made in the background, so waiting longer for it delays nothing.
        configuration.ConnectTimeout = Math.Max(timeoutMs, configuration.Ssl ? 5000 : 1000);
        if (configuration.Ssl)
        {
            // Chain and host name, as for the broker: the platform store (and SSL_CERT_FILE), plus Cache:RedisCaFile.
            Trust = AkiDb.Queue.Broker.BrokerTrust.ForCaFile(options.RedisCaFile, $"{CacheOptions.Section}:RedisCaFile");
            configuration.CertificateValidation += Trust.Validate;
        }

        configuration.ReconnectRetryPolicy = new LinearRetry(1000);
        _connection = ConnectAsync(configuration, logger);

        _pipeline = new ResiliencePipelineBuilder()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 4,
                SamplingDuration = TimeSpan.FromSeconds(2),
                BreakDuration = options.RedisBreakDuration,
                StateProvider = _circuit,
                OnOpened = args =>
                {
                    Volatile.Write(ref _openUntil, _time.GetTimestamp() + (long)(args.BreakDuration.TotalSeconds * _time.TimestampFrequency));
                    telemetry.RedisAvailabilityChanged(false);
                    logger.LogWarning("Embedding cache: Redis at {Endpoints} is failing ({Error}); embedding without it, next try in {Seconds:0.#} s",
                        Endpoints, args.Outcome.Exception?.GetType().Name ?? "no result", args.BreakDuration.TotalSeconds);
                    return default;
                },
                OnClosed = _ =>
                {
                    telemetry.RedisAvailabilityChanged(true);
                    logger.LogInformation("Embedding cache: Redis at {Endpoints} answers again; using it", Endpoints);
                    return default;
                },
            })
            .AddTimeout(options.RedisTimeout)
            .Build();
    }

    /// <summary>The configured endpoints, for log lines (never the configuration string: it may hold a password).</summary>
    public string Endpoints { get; }

    /// <summary>False while disconnected or while the circuit is open: lookups skip Redis instead of counting a miss there.</summary>
    public bool IsAvailable =>
        _connection.IsCompletedSuccessfully && _connection.Result.IsConnected
        && (_circuit.CircuitState is CircuitState.Closed or CircuitState.HalfOpen || _time.GetTimestamp() >= Volatile.Read(ref _openUntil));

    /// <summary>Completes when the connection is up, or after <paramref name="patience"/> whatever its state.</summary>
    public async Task WaitForConnectionAsync(TimeSpan patience)
    {
        using var cts = new CancellationTokenSource(patience);
        try
        {
            var connection = await _connection.WaitAsync(cts.Token);
            while (!connection.IsConnected)
            {
                await Task.Delay(20, cts.Token); // SE.Redis raises no event for a first connection that was late
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Each key's value, null where there is none (or Redis was skipped, failed or timed out): one <c>MGET</c>.</summary>
    public async Task<byte[]?[]> GetManyAsync(IReadOnlyList<string> keys)
    {
        var found = await RunAsync(async ct =>
        {
            var values = await _connection.Result.GetDatabase().StringGetAsync(keys.Select(k => (RedisKey)k).ToArray()).WaitAsync(ct);
            return values.Select(v => v.IsNull ? null : (byte[]?)v).ToArray();
        }, CancellationToken.None);
        return found ?? new byte[]?[keys.Count];
    }

    /// <summary>Stores each entry for <paramref name="timeToLive"/>: the <c>SET</c>s go out together, one round trip. A failure is a later miss.</summary>
    public Task SetManyAsync(IReadOnlyList<(string Key, byte[] Value)> entries, TimeSpan timeToLive) =>
        RunAsync<bool>(async ct =>
        {
            var batch = _connection.Result.GetDatabase().CreateBatch();
            var sets = entries.Select(e => batch.StringSetAsync(e.Key, e.Value, timeToLive)).ToArray();
            batch.Execute();
            await Task.WhenAll(sets).WaitAsync(ct);
            return true;
        }, CancellationToken.None);

    public void Dispose()
    {
        if (_connection.IsCompletedSuccessfully)
        {
            _connection.Result.Dispose();
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(ConfigurationOptions configuration, ILogger logger)
    {
        await Task.Yield(); // never on the caller's thread: start-up does not wait for Redis
        var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        connection.ConnectionFailed += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Interactive)
            {
                _telemetry.RedisAvailabilityChanged(false);
                logger.LogWarning("Embedding cache: lost Redis at {Endpoints} ({Failure}); embedding without it until it is back", Endpoints, e.FailureType);
            }
        };
        connection.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Interactive)
            {
                _telemetry.RedisAvailabilityChanged(true);
                logger.LogInformation("Embedding cache: Redis at {Endpoints} answers again; using it", Endpoints);
            }
        };
        if (!connection.IsConnected)
        {
            _telemetry.RedisAvailabilityChanged(false);
            // An untrusted or mismatched certificate says so here, once, rather than as the client's generic failure.
            logger.LogWarning("Embedding cache: Redis at {Endpoints} does not answer yet{Why}; embedding without it until it does",
                Endpoints, Trust?.LastRejection is { } rejection ? $" (TLS refused: {rejection})" : "");
        }

        return connection;
    }

    private async Task<T?> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken token)
    {
        if (!_connection.IsCompletedSuccessfully || !_connection.Result.IsConnected)
        {
            return default; // skipped while there is no connection; its loss was logged
        }

        try
        {
            // WaitAsync: StackExchange.Redis does not observe cancellation, so the timeout has to leave the call behind.
            return await _pipeline.ExecuteAsync(async ct => await call(ct).WaitAsync(ct), token);
        }
        catch (BrokenCircuitException)
        {
            return default; // skipped while Redis is down; the circuit's opening was logged and counted
        }
        catch (TimeoutRejectedException)
        {
            _telemetry.Error(CacheLevel.Redis, "timeout");
            return default;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception)
        {
            // Connection refused, reset, a RedisTimeoutException: all mean "not now", and the circuit counts them.
            _telemetry.Error(CacheLevel.Redis, "error");
            return default;
        }
    }
}
