namespace AkiDb.Queue.Worker.Bridge;

/// <summary>The lowest level the bridge writes to its stderr (<c>Bridge:LogLevel</c>); sent to it lower-case in <c>init</c>.</summary>
public enum BridgeLogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}
