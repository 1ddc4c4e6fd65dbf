import io
import os
import struct
import tempfile
import unittest
from unittest import mock

import support  # noqa: F401  (puts the package on sys.path)

from akidb_bridge_core import protocol
from akidb_bridge_core.protocol import (HARD_MAX_PAYLOAD_BYTES, MAGIC, FrameReader, FrameWriter, ProtocolError,
                                        encode_frame)


class CountingStream(io.RawIOBase):
    """A readable stream that records how many bytes the reader asked for and got."""

    def __init__(self, data: bytes, chunk: int = 1 << 30) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._chunk = chunk
        self.bytes_read = 0
        self.largest_request = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self.largest_request = max(self.largest_request, len(buffer))
        n = min(len(buffer), self._chunk, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        self.bytes_read += n
        return n


def prefix(header_len: int, payload_len: int, magic: bytes = MAGIC) -> bytes:
    return struct.pack("<4sII", magic, header_len, payload_len)


class FramingTests(unittest.TestCase):
    def test_round_trip_through_writer_and_reader(self):
        sink = io.BytesIO()
        writer = FrameWriter(sink)
        writer.write_frame({"type": "ping", "id": 1})
        writer.write_frame({"type": "result", "id": 2, "note": "ünïcode"}, b"\x01\x02\x03")
        big = os.urandom(200_000)  # above the coalescing limit: header and payload go out separately
        writer.write_frame({"type": "result", "id": 3}, big)
        reader = FrameReader(io.BytesIO(sink.getvalue()))
        first, second, third = reader.read_frame(), reader.read_frame(), reader.read_frame()
        self.assertEqual(first.json(), {"type": "ping", "id": 1})
        self.assertEqual(bytes(first.payload), b"")
        self.assertEqual(second.json()["note"], "ünïcode")
        self.assertEqual(bytes(second.payload), b"\x01\x02\x03")
        self.assertEqual(third.json()["id"], 3)
        self.assertEqual(bytes(third.payload), big)
        self.assertIsNone(reader.read_frame(), "clean EOF between frames must read as None")

    def test_wire_layout_matches_the_spec(self):
        data = encode_frame({"type": "ping", "id": 7}, b"xy")
        header = b'{"type":"ping","id":7}'
        self.assertEqual(data, b"AKQB" + struct.pack("<II", len(header), 2) + header + b"xy")

    def test_reader_copes_with_short_reads(self):
        data = encode_frame({"type": "embed", "id": 1}, bytes(range(256)) * 10)
        frame = FrameReader(CountingStream(data, chunk=3)).read_frame()
        self.assertEqual(bytes(frame.payload), bytes(range(256)) * 10)

    def test_clean_eof_before_any_frame(self):
        self.assertIsNone(FrameReader(io.BytesIO(b"")).read_frame())

    def test_truncated_prefix(self):
        with self.assertRaisesRegex(ProtocolError, "prefix"):
            FrameReader(io.BytesIO(b"AKQB\x05")).read_frame()

    def test_truncated_header(self):
        data = encode_frame({"type": "ping", "id": 1})
        with self.assertRaisesRegex(ProtocolError, "header"):
            FrameReader(io.BytesIO(data[:-3])).read_frame()

    def test_truncated_payload(self):
        data = encode_frame({"type": "embed", "id": 1}, b"12345678" * 4)
        with self.assertRaisesRegex(ProtocolError, "payload"):
            FrameReader(io.BytesIO(data[:-1])).read_frame()

    def test_bad_magic(self):
        data = encode_frame({"type": "ping", "id": 1})
        with self.assertRaisesRegex(ProtocolError, "magic"):
            FrameReader(io.BytesIO(b"XKQB" + data[4:])).read_frame()

    def test_oversized_payload_rejected_before_allocation(self):
        # Claims a 4 GiB payload; the body that follows is tiny. The reader must
        # stop after the 12-byte prefix without allocating or reading the body.
        stream = CountingStream(prefix(10, 0xFFFFFFFF) + b'{"type":1}' + b"x" * 100)
        reader = FrameReader(stream)
        with mock.patch.object(protocol, "bytearray", side_effect=AssertionError("allocated"), create=True):
            with self.assertRaisesRegex(ProtocolError, "over the limit"):
                reader.read_frame()
        self.assertEqual(stream.bytes_read, 12)
        self.assertLessEqual(stream.largest_request, 12)

    def test_oversized_header_rejected_before_allocation(self):
        stream = CountingStream(prefix(65_537, 0) + b"{" * 70_000)
        with self.assertRaisesRegex(ProtocolError, "header length"):
            FrameReader(stream).read_frame()
        self.assertEqual(stream.bytes_read, 12)

    def test_zero_header_length_rejected(self):
        with self.assertRaisesRegex(ProtocolError, "header length 0"):
            FrameReader(io.BytesIO(prefix(0, 0))).read_frame()

    def test_negotiated_payload_limit(self):
        ok = encode_frame({"type": "embed"}, b"a" * 100)
        too_big = encode_frame({"type": "embed"}, b"a" * 101)
        self.assertEqual(len(FrameReader(io.BytesIO(ok), max_payload_bytes=100).read_frame().payload), 100)
        with self.assertRaises(ProtocolError):
            FrameReader(io.BytesIO(too_big), max_payload_bytes=100).read_frame()

    def test_payload_limit_has_a_hard_cap(self):
        self.assertEqual(FrameReader(io.BytesIO(), max_payload_bytes=1 << 40).max_payload_bytes,
                         HARD_MAX_PAYLOAD_BYTES)
        self.assertEqual(protocol.clamp_payload_limit(1 << 40), HARD_MAX_PAYLOAD_BYTES)


class WriterTests(unittest.TestCase):
    def test_writer_enforces_limits(self):
        writer = FrameWriter(io.BytesIO(), max_payload_bytes=10)
        with self.assertRaisesRegex(ValueError, "payload"):
            writer.write_frame({"type": "result"}, b"x" * 11)
        with self.assertRaisesRegex(ValueError, "header"):
            writer.write_frame({"type": "error", "message": "m" * 70_000})

    def test_fd_writer_survives_partial_writes(self):
        real_write = os.write
        calls = []

        def stingy_writev(fd, buffers):  # accepts at most 7 bytes per call, like a signal-interrupted write
            calls.append(len(buffers))
            return real_write(fd, bytes(buffers[0][:7]))

        payload = os.urandom(100_000)
        with tempfile.TemporaryFile() as f:
            writer = FrameWriter(f.fileno())
            with mock.patch.object(os, "writev", stingy_writev, create=True), \
                    mock.patch.object(os, "write", lambda fd, b: real_write(fd, bytes(b[:7]))):
                writer.write_frame({"type": "result", "id": 1}, payload)
            f.seek(0)
            frame = FrameReader(f).read_frame()
        self.assertGreater(len(calls), 1000)
        self.assertEqual(frame.json(), {"type": "result", "id": 1})
        self.assertEqual(bytes(frame.payload), payload)

    def test_fd_writer_sends_header_and_payload_in_one_writev(self):
        if not hasattr(os, "writev"):
            self.skipTest("os.writev is not available on this platform")
        real_writev = os.writev
        calls = []

        def counting_writev(fd, buffers):
            calls.append(len(buffers))
            return real_writev(fd, buffers)

        payload = os.urandom(300_000)
        with tempfile.TemporaryFile() as f:
            with mock.patch.object(os, "writev", counting_writev):
                FrameWriter(f.fileno()).write_frame({"type": "result", "id": 1}, payload)
            f.seek(0)
            self.assertEqual(bytes(FrameReader(f).read_frame().payload), payload)
        self.assertEqual(calls, [2])

    @unittest.skipUnless(support.numpy_available(), "numpy is not installed")
    def test_numpy_payload_is_written_as_raw_bytes(self):
        import numpy as np

        vectors = np.arange(12, dtype="<f4").reshape(3, 4)
        sink = io.BytesIO()
        FrameWriter(sink).write_frame({"type": "result"}, vectors)
        frame = FrameReader(io.BytesIO(sink.getvalue())).read_frame()
        self.assertEqual(bytes(frame.payload), vectors.tobytes())

    def test_closed_writer_refuses_to_write(self):
        r, w = os.pipe()
        try:
            writer = FrameWriter(w)
            writer.close()
            with self.assertRaises(BrokenPipeError):
                writer.write_frame({"type": "pong", "id": 1})
        finally:
            os.close(r)


if __name__ == "__main__":
    unittest.main()
