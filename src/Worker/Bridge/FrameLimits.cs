namespace AkiDb.Queue.Worker.Bridge;

/// <summary>Upper bounds on what a frame may declare. Checked before anything is allocated.</summary>
public sealed record FrameLimits(int MaxHeaderBytes, int MaxPayloadBytes)
{
    /// <summary>The protocol's fixed header cap; payloads default to 64 MiB.</summary>
    public static FrameLimits Default { get; } = new(BridgeProtocol.MaxHeaderBytes, 64 * 1024 * 1024);
}
