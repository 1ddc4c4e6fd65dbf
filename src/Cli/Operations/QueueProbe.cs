using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Cli.Operations;

/// <summary>
/// Live queue depth and consumer count by a passive declare over AMQP: exact at the moment asked, unlike the
/// management API's figures, which refresh every few seconds.
/// </summary>
internal static class QueueProbe
{
    /// <summary>(ready messages, consumers), or null when the queue does not exist.</summary>
    public static async Task<(long Ready, long Consumers)?> ProbeAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        // A failed passive declare closes its channel, so every probe gets one of its own.
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return (ok.MessageCount, ok.ConsumerCount);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }
}
