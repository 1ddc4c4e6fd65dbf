using AkiDb.Queue.Broker;
using AkiDb.Queue.Worker.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Connects to the broker once before MassTransit starts, so that start-up says plainly what is wrong. MassTransit
/// retries a refused login like a network error and logs every attempt of every endpoint with its stack trace (about
/// 20 lines a second), then fails the host with an unhandled exception. Here a refused login, virtual host or TLS
/// certificate is a <see cref="StartupFailedException"/> naming the broker, the reason and the setting, and an
/// unreachable broker is one line per attempt with the error and the next retry, for as long as it takes (the health
/// endpoint answers meanwhile).
/// </summary>
internal sealed class BrokerConnectionProbe(BrokerConnections connections, IOptions<RabbitMqOptions> options, ILogger<BrokerConnectionProbe> logger) : IHostedService
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(30);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var delay = FirstRetry;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await connections.ConnectAsync($"{options.Value.ConnectionName} (start-up check)", cancellationToken);
                await connection.CloseAsync(cancellationToken);
                if (attempt > 1)
                {
                    logger.LogInformation("Broker {Broker} reachable after {Attempts} attempts", connections.Description, attempt);
                }

                return;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && connections.Explain(e) is { Permanent: true } refusal)
            {
                throw new StartupFailedException($"RabbitMq: {refusal.Reason}", e);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Broker {Broker} not reachable (attempt {Attempt}): {Error}; next attempt in {Delay:F0} s",
                    string.Join(',', connections.Nodes), attempt, connections.Explain(e).Cause, delay.TotalSeconds);
            }

            await Task.Delay(delay, cancellationToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestRetry.Ticks));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
