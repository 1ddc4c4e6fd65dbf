namespace AkiDb.Queue.Worker.Hosting;

/// <summary>
/// A start-up failure whose cause is known and whose message already says what to fix, in one line. The worker prints
/// the message and exits with code 1, without a stack trace: the trace would only bury the fix.
/// </summary>
public sealed class StartupFailedException(string message, Exception? innerException = null) : Exception(message, innerException);
