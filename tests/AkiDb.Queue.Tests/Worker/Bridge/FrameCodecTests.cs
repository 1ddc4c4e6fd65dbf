using System.Buffers.Binary;
using System.Text;
using AkiDb.Queue.Worker.Bridge;

namespace AkiDb.Queue.Tests;

public sealed class FrameCodecTests
{
    [Fact]
    public async Task A_frame_round_trips_header_and_payload()
    {
        var stream = new MemoryStream();
        var header = Encoding.UTF8.GetBytes("""{"type":"ping","id":7}""");
        var payload = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();

        await FrameCodec.WriteAsync(stream, header, payload, CancellationToken.None);
        stream.Position = 0;
        var frame = await FrameCodec.ReadAsync(stream, FrameLimits.Default, CancellationToken.None);

        Assert.NotNull(frame);
        Assert.Equal(header, frame.Header.ToArray());
        Assert.Equal(payload, frame.Payload.ToArray());
        Assert.Null(await FrameCodec.ReadAsync(stream, FrameLimits.Default, CancellationToken.None));
    }

    [Fact]
    public async Task The_prefix_is_magic_then_little_endian_lengths()
    {
        var stream = new MemoryStream();
        await FrameCodec.WriteAsync(stream, "{}"u8.ToArray(), new byte[3], CancellationToken.None);
        var bytes = stream.ToArray();

        Assert.Equal("AKQB"u8.ToArray(), bytes[..4]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(FrameCodec.PrefixBytes + 2 + 3, bytes.Length);
    }

    [Theory]
    [InlineData(5)] // inside the prefix
    [InlineData(14)] // inside the header
    [InlineData(20)] // inside the payload
    public async Task A_truncated_frame_is_a_protocol_error(int keep)
    {
        var stream = new MemoryStream();
        await FrameCodec.WriteAsync(stream, "{\"a\":1}"u8.ToArray(), new byte[16], CancellationToken.None);
        var truncated = new MemoryStream(stream.ToArray()[..keep]);

        var error = await Assert.ThrowsAsync<BridgeProtocolException>(() => FrameCodec.ReadAsync(truncated, FrameLimits.Default, CancellationToken.None).AsTask());
        Assert.Contains("ended inside", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversized_payload_length_is_rejected_before_anything_is_read_or_allocated()
    {
        // A prefix that claims a 4 GiB payload, followed by a stream that would throw if read further.
        var prefix = new byte[12];
        "AKQB"u8.CopyTo(prefix);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(8), uint.MaxValue);
        var stream = new TripwireStream(prefix);
        var before = GC.GetAllocatedBytesForCurrentThread();

        var error = await Assert.ThrowsAsync<BridgeProtocolException>(() => FrameCodec.ReadAsync(stream, FrameLimits.Default, CancellationToken.None).AsTask());

        Assert.Contains("exceeds the limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(12, stream.BytesRead);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024 * 1024, "the reader allocated memory for the claimed payload");
    }

    [Fact]
    public async Task An_oversized_header_length_is_rejected()
    {
        var prefix = new byte[12];
        "AKQB"u8.CopyTo(prefix);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(4), 1 << 20);
        var stream = new TripwireStream(prefix);

        await Assert.ThrowsAsync<BridgeProtocolException>(() => FrameCodec.ReadAsync(stream, FrameLimits.Default, CancellationToken.None).AsTask());
        Assert.Equal(12, stream.BytesRead);
    }

    [Fact]
    public async Task Garbage_instead_of_a_frame_is_reported_as_bad_magic()
    {
        var stream = new MemoryStream("Traceback (most recent call last):\n"u8.ToArray());

        var error = await Assert.ThrowsAsync<BridgeProtocolException>(() => FrameCodec.ReadAsync(stream, FrameLimits.Default, CancellationToken.None).AsTask());
        Assert.Contains("magic", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Serves a fixed prefix, then fails the test if anyone reads past it.</summary>
    private sealed class TripwireStream(byte[] prefix) : Stream
    {
        public int BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (BytesRead >= prefix.Length)
            {
                throw new InvalidOperationException("read past the prefix");
            }

            var n = Math.Min(count, prefix.Length - BytesRead);
            Array.Copy(prefix, BytesRead, buffer, offset, n);
            BytesRead += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
