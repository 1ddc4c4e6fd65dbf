namespace AkiDb.Queue.Worker.Bridge;

/// <summary>One protocol frame: a small JSON header and a raw payload (docs/bridge-protocol.md).</summary>
/// <param name="Header">UTF-8 JSON bytes of the header object.</param>
/// <param name="Payload">Raw little-endian numbers; empty for control frames.</param>
public sealed record BridgeFrame(ReadOnlyMemory<byte> Header, ReadOnlyMemory<byte> Payload);
