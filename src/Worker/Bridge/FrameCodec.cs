using System.Buffers.Binary;

namespace AkiDb.Queue.Worker.Bridge;

/// <summary>
/// Reads and writes bridge frames: magic "AKQB", uint32 header length, uint32 payload length (little-endian),
/// header, payload. Written by hand because the format is twelve bytes of prefix; a serialisation library
/// would add a dependency to both languages for nothing.
/// </summary>
public static class FrameCodec
{
    /// <summary>Size of the fixed prefix.</summary>
    public const int PrefixBytes = 12;

    private static ReadOnlySpan<byte> Magic => "AKQB"u8; // BridgeProtocol.Magic (a u8 literal must be a literal)

    /// <summary>Writes one frame with a single write call when it is small, two otherwise, then flushes.</summary>
    public static async ValueTask WriteAsync(Stream stream, ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var prefix = new byte[PrefixBytes + header.Length];
        Magic.CopyTo(prefix);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(4), (uint)header.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(8), (uint)payload.Length);
        header.Span.CopyTo(prefix.AsSpan(PrefixBytes));
        await stream.WriteAsync(prefix, cancellationToken);
        if (!payload.IsEmpty)
        {
            await stream.WriteAsync(payload, cancellationToken);
        }

        await stream.FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Reads one frame. Returns null on a clean end of stream before the first byte of a frame; throws
    /// <see cref="BridgeProtocolException"/> for anything else that is not a valid frame within <paramref name="limits"/>.
    /// </summary>
    public static async ValueTask<BridgeFrame?> ReadAsync(Stream stream, FrameLimits limits, CancellationToken cancellationToken)
    {
        var prefix = new byte[PrefixBytes];
        var got = await ReadFullyAsync(stream, prefix, cancellationToken);
        if (got == 0)
        {
            return null;
        }

        if (got < PrefixBytes)
        {
            throw new BridgeProtocolException($"Stream ended inside a frame prefix ({got} of {PrefixBytes} bytes).");
        }

        if (!prefix.AsSpan(0, 4).SequenceEqual(Magic))
        {
            throw new BridgeProtocolException($"Bad frame magic 0x{Convert.ToHexString(prefix, 0, 4)}: the stream is not speaking the bridge protocol.");
        }

        var headerLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(4));
        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(8));

        // Both lengths come from another process: validate before allocating, never after.
        if (headerLength == 0 || headerLength > (uint)limits.MaxHeaderBytes)
        {
            throw new BridgeProtocolException($"Frame header length {headerLength} is outside 1..{limits.MaxHeaderBytes}.");
        }

        if (payloadLength > (uint)limits.MaxPayloadBytes)
        {
            throw new BridgeProtocolException($"Frame payload length {payloadLength} exceeds the limit of {limits.MaxPayloadBytes} bytes.");
        }

        var header = new byte[headerLength];
        if (await ReadFullyAsync(stream, header, cancellationToken) < header.Length)
        {
            throw new BridgeProtocolException($"Stream ended inside a frame header ({headerLength} bytes expected).");
        }

        var payload = payloadLength == 0 ? [] : new byte[payloadLength];
        if (payload.Length > 0 && await ReadFullyAsync(stream, payload, cancellationToken) < payload.Length)
        {
            throw new BridgeProtocolException($"Stream ended inside a frame payload ({payloadLength} bytes expected).");
        }

        return new BridgeFrame(header, payload);
    }

    private static async ValueTask<int> ReadFullyAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer[total..], cancellationToken);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }
}
