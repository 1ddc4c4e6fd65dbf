using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AkiDb.Queue.Cli.Broker;

/// <summary>How every CLI command closes its broker connection: briefly, and without throwing.</summary>
/// <remarks>
/// A broker under a resource alarm stops reading from a connection that publishes, so a polite close waits for a
/// close-ok that never comes: with RabbitMQ.Client's defaults Ctrl+C on <c>publish</c>, <c>redrive</c> or
/// <c>embed</c> against such a broker took 20 to 50 s to return, and even an aborting close with a short timeout
/// took 5 s, then <c>Dispose</c> another 20 s (measured here, RabbitMQ.Client 7.2). So the close gets a short wait;
/// past it the command goes on and ends, and the socket closes with the process. What was confirmed or
/// acknowledged before is unaffected; a request sent but unconfirmed is the broker's to keep or drop, as with any
/// producer that disconnects.
/// </remarks>
internal static class QuickClose
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(1);

    public static async ValueTask CloseQuicklyAsync(this IConnection connection)
    {
        try
        {
            await connection.CloseAsync(Constants.ReplySuccess, "Goodbye", Wait, abort: true).WaitAsync(Wait);
        }
        catch (TimeoutException)
        {
            return; // still closing in the background: disposing now would wait for it again
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or AlreadyClosedException or OperationInterruptedException)
        {
        }

        connection.Dispose();
    }

    /// <summary>For <c>await using</c>: closes <paramref name="connection"/> quickly at the end of the scope.</summary>
    public static Closing ClosesQuickly(this IConnection connection) => new(connection);

    internal readonly struct Closing(IConnection connection) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => connection.CloseQuicklyAsync();
    }
}
