using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using AkiDb.Queue.Worker.Bridge;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Bench.Bridges;

/// <summary>
/// The same binary frames to the same echo bridge, from a plain blocking client: one write, blocking reads, no
/// CliWrap pipes, channel or async continuations. The difference to <see cref="BinaryBridge"/> (the worker's
/// BridgeProcess) is what the worker's asynchronous plumbing costs per round trip.
/// </summary>
internal sealed class BlockingBinaryClient : IDisposable
{
    private readonly Process _process;
    private readonly Stream _stdin;
    private readonly Stream _stdout;
    private long _nextId;

    private BlockingBinaryClient(Process process)
    {
        _process = process;
        _stdin = process.StandardInput.BaseStream;
        _stdout = process.StandardOutput.BaseStream;
    }

    public static BlockingBinaryClient Start(BridgeLaunch launch, byte[] initHeader)
    {
        var process = PlainBridgeProcess.Start(launch, "echo bridge");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        var client = new BlockingBinaryClient(process);
        var (header, _) = client.Exchange(initHeader, []);
        if (!header.Contains("\"ready\"", StringComparison.Ordinal))
        {
            client.Dispose();
            throw new InvalidOperationException($"The echo bridge did not start: {header}");
        }

        return client;
    }

    public int RoundTrip(InferenceBatch batch)
    {
        var id = ++_nextId;
        var header = BridgeJsonContext.Serialize(new EmbedHeader(id, "echo", batch.Rows, batch.SequenceLength, batch.Lengths, null));
        var (_, payload) = Exchange(header, MemoryMarshal.AsBytes(batch.InputIds.AsSpan()));
        return payload.Length;
    }

    public void Dispose()
    {
        _stdin.Close();
        if (!_process.WaitForExit(5000))
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private (string Header, byte[] Payload) Exchange(byte[] header, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[FrameCodec.PrefixBytes + header.Length + payload.Length];
        "AKQB"u8.CopyTo(frame);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), (uint)header.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), (uint)payload.Length);
        header.CopyTo(frame.AsSpan(FrameCodec.PrefixBytes));
        payload.CopyTo(frame.AsSpan(FrameCodec.PrefixBytes + header.Length));
        _stdin.Write(frame);
        _stdin.Flush();

        Span<byte> prefix = stackalloc byte[FrameCodec.PrefixBytes];
        _stdout.ReadExactly(prefix);
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]);
        var payloadLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
        var replyHeader = new byte[headerLength];
        _stdout.ReadExactly(replyHeader);
        var replyPayload = new byte[payloadLength];
        _stdout.ReadExactly(replyPayload);
        return (System.Text.Encoding.UTF8.GetString(replyHeader), replyPayload);
    }
}
