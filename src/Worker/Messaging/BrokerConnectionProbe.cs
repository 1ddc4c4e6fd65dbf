using AkiDb.Queue.Worker.Hosting;
using AkiDb.Queue.Worker.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Worker.Messaging;

/// <summary>
/// Connects to the broker once before MassTransit starts, so that start-up says plainly what is wrong. MassTransit
/// retries a refused login like a network error and logs every attempt of every endpoint with its stack trace (about
/// 20 lines a second), then fails the host with an unhandled exception. Here a refused login or virtual host is a
/// <see cref="StartupFailedException"/> naming the setting, and an unreachable broker is one line per attempt with
/// the host, the error and the next retry, for as long as it takes (the health endpoint answers meanwhile).
/// </summary>
internal sealed class BrokerConnectionProbe(IOptions<RabbitMqOptions> options, ILogger<BrokerConnectionProbe> logger) : IHostedService
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(30);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var rabbit = options.Value;
        var uri = RabbitMqOptions.TryParse(rabbit.Url) ?? throw new StartupFailedException("RabbitMq:Url is not a valid broker URL.");
        var factory = new ConnectionFactory
        {
            // MassTransit also accepts rabbitmq:// and rabbitmqs://; the client library knows only the AMQP names.
            Uri = new UriBuilder(uri) { Scheme = uri.Scheme.EndsWith('s') ? "amqps" : "amqp", Port = uri.IsDefaultPort ? -1 : uri.Port }.Uri,
            ClientProvidedName = $"{rabbit.ConnectionName} (start-up check)",
            AutomaticRecoveryEnabled = false,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
        };
        var broker = $"{uri.Host}:{(uri.Port > 0 ? uri.Port : factory.Ssl.Enabled ? 5671 : 5672)}";
        var delay = FirstRetry;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await factory.CreateConnectionAsync(cancellationToken);
                await connection.CloseAsync(cancellationToken);
                if (attempt > 1)
                {
                    logger.LogInformation("Broker {Broker} reachable after {Attempts} attempts", broker, attempt);
                }

                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && Refusal(e, uri, broker, factory.UserName) is { } refusal)
            {
                throw new StartupFailedException(refusal, e);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Broker {Broker} not reachable (attempt {Attempt}): {Error}; next attempt in {Delay:F0} s",
                    broker, attempt, LogValue.Of(Innermost(e).Message, 300), delay.TotalSeconds);
            }

            await Task.Delay(delay, cancellationToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestRetry.Ticks));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A broker that answers and says no: retrying cannot help, the setting has to change.</summary>
    private static string? Refusal(Exception exception, Uri uri, string broker, string user)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AuthenticationFailureException or PossibleAuthenticationFailureException:
                    return $"RabbitMq:Url: the broker at {broker} refused the login of user '{LogValue.Of(user, 64)}' (ACCESS_REFUSED). " +
                           "Fix the user name or password in RabbitMq:Url (environment variable RabbitMq__Url).";
                case OperationInterruptedException { ShutdownReason.ReplyCode: 530 or 403 } refused:
                    return $"RabbitMq:Url: the broker at {broker} refused access to virtual host '{LogValue.Of(VirtualHost(uri), 64)}' " +
                           $"({LogValue.Of(refused.ShutdownReason?.ReplyText, 200)}). Create the virtual host or grant user '{LogValue.Of(user, 64)}' permissions on it, or fix RabbitMq:Url.";
            }
        }

        return null;
    }

    private static string VirtualHost(Uri uri) => uri.AbsolutePath.Length <= 1 ? "/" : Uri.UnescapeDataString(uri.AbsolutePath[1..]);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
