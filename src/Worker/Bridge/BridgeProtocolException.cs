namespace AkiDb.Queue.Worker.Bridge;

/// <summary>The bridge broke the framing rules: bad magic, a length over a limit, a truncated frame, a header that is not JSON.</summary>
public sealed class BridgeProtocolException(string message, Exception? inner = null) : Exception(message, inner);
