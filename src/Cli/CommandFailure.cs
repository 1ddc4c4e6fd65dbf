using RabbitMQ.Client.Exceptions;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli;

/// <summary>What a command that threw prints and returns: one line naming what went wrong, never a stack trace.</summary>
internal static class CommandFailure
{
    public static int Report(Exception exception, bool interrupted)
    {
        if (interrupted && IsCancellation(exception))
        {
            AnsiConsole.MarkupLine("[yellow]Interrupted.[/]");
            return Interruption.ExitCode;
        }

        AnsiConsole.MarkupLine($"[red]Error:[/] {Markup.Escape(Describe(exception))}");
        return exception is CommandParseException or CommandRuntimeException ? 2 : 1;
    }

    /// <summary>
    /// The message, and for a broker that cannot be reached the reason of each endpoint tried ("Connection refused",
    /// a name that does not resolve, a certificate refused): RabbitMQ.Client's own message names neither.
    /// </summary>
    public static string Describe(Exception exception)
    {
        if (exception is OperationCanceledException)
        {
            // Not the user's Ctrl+C (Report handles that): RabbitMQ.Client's own deadline on a broker operation, whose
            // message is only "A task was canceled."
            return "The broker did not answer in time (RabbitMQ.Client's 20 s deadline on an operation): is a cluster node frozen or cut off?";
        }

        if (exception is not BrokerUnreachableException unreachable)
        {
            return exception.Message;
        }

        var reasons = Causes(unreachable.InnerException).Distinct(StringComparer.Ordinal).Take(4).ToList();
        return reasons.Count == 0 ? "Cannot reach the broker." : $"Cannot reach the broker: {string.Join("; ", reasons)}.";
    }

    private static bool IsCancellation(Exception exception) =>
        exception is OperationCanceledException || (exception.InnerException is { } inner && IsCancellation(inner));

    // "Connection failed, host 127.0.0.1:1" and its SocketException "Connection refused" read as one reason.
    private static IEnumerable<string> Causes(Exception? exception)
    {
        switch (exception)
        {
            case null:
                yield break;
            case AggregateException aggregate:
                foreach (var reason in aggregate.InnerExceptions.SelectMany(Causes))
                {
                    yield return reason;
                }

                yield break;
            default:
                var chain = new List<string>();
                for (var e = exception; e is not null; e = e.InnerException)
                {
                    if (e is not AggregateException && !chain.Contains(e.Message.TrimEnd('.'), StringComparer.Ordinal))
                    {
                        chain.Add(e.Message.TrimEnd('.'));
                    }
                }

                yield return string.Join(": ", chain);
                yield break;
        }
    }
}
