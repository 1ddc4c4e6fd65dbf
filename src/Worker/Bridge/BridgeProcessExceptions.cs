namespace AkiDb.Queue.Worker.Bridge;

/// <summary>The bridge process ended (crashed, was killed, closed its stdout) while a reply was awaited.</summary>
public sealed class BridgeExitedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The bridge missed a deadline; the process has been killed.</summary>
public sealed class BridgeTimeoutException(string message) : Exception(message);
