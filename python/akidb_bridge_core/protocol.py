"""Length-prefixed binary frames, as described in docs/bridge-protocol.md.

Frame layout: ``b"AKQB"`` | uint32 LE header length | uint32 LE payload length |
UTF-8 JSON header | raw payload.

The reader never trusts a length from the peer: both lengths are checked against
the limits before a single byte of the body is allocated or read, because the
peer may be a buggy or half-dead worker and an unchecked 4 GiB length would turn
into a MemoryError (or worse, an OOM kill) instead of a clean exit code 4.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, Optional, Sequence, Union

# The constants the C# side shares, from one schema file (a test in the .NET suite checks that both agree).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol.json"), encoding="utf-8") as _schema_file:
    _SCHEMA = json.load(_schema_file)
PROTOCOL_VERSION: int = _SCHEMA["version"]
REQUEST_TYPES = tuple(_SCHEMA["requests"])
REPLY_TYPES = tuple(_SCHEMA["replies"])

MAGIC = _SCHEMA["magic"].encode("ascii")
PREFIX = struct.Struct("<4sII")
PREFIX_SIZE = PREFIX.size  # 12

MAX_HEADER_BYTES: int = _SCHEMA["max_header_bytes"]
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
# A ceiling no init message can raise: it bounds what a confused worker can make
# this process allocate in one go.
HARD_MAX_PAYLOAD_BYTES = 256 * 1024 * 1024

# Below this size the payload is copied behind the header so the frame goes out
# in a single write(); above it, copying costs more than the extra syscall.
_COALESCE_LIMIT = 64 * 1024


class ProtocolError(Exception):
    """The byte stream broke the framing rules; the stream cannot be resynchronised."""


@dataclass
class Frame:
    header: bytes
    payload: bytearray

    def json(self) -> Any:
        """Decode the header. Raises ValueError (not ProtocolError) on bad JSON:
        the framing is intact, so the caller can answer bad_request and go on."""
        return json.loads(self.header)


def clamp_payload_limit(requested: int) -> int:
    return max(0, min(int(requested), HARD_MAX_PAYLOAD_BYTES))


class FrameReader:
    """Reads frames from a binary stream (normally fd 0).

    ``read_frame`` returns ``None`` on a clean EOF *between* frames and raises
    ProtocolError for anything else that is wrong, including EOF inside a frame.
    """

    def __init__(self, stream: BinaryIO, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self._stream = stream
        self._prefix = bytearray(PREFIX_SIZE)
        self.max_header_bytes = max_header_bytes
        self.max_payload_bytes = clamp_payload_limit(max_payload_bytes)

    def read_frame(self) -> Optional[Frame]:
        got = self._fill(memoryview(self._prefix))
        if got == 0:
            return None
        if got < PREFIX_SIZE:
            raise ProtocolError(f"stream ended inside a frame prefix ({got} of {PREFIX_SIZE} bytes)")
        magic, header_len, payload_len = PREFIX.unpack(self._prefix)
        if magic != MAGIC:
            raise ProtocolError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
        if not 1 <= header_len <= self.max_header_bytes:
            raise ProtocolError(f"header length {header_len} outside 1..{self.max_header_bytes}")
        if payload_len > self.max_payload_bytes:
            raise ProtocolError(f"payload length {payload_len} over the limit of {self.max_payload_bytes}")
        header = bytearray(header_len)
        if self._fill(memoryview(header)) != header_len:
            raise ProtocolError("stream ended inside a frame header")
        payload = bytearray(payload_len)
        if payload_len and self._fill(memoryview(payload)) != payload_len:
            raise ProtocolError("stream ended inside a frame payload")
        return Frame(bytes(header), payload)

    def _fill(self, view: memoryview) -> int:
        """Read until ``view`` is full or EOF; returns the number of bytes read."""
        total = 0
        size = len(view)
        while total < size:
            n = self._stream.readinto(view[total:])
            if not n:  # 0 = EOF; None = non-blocking stream with no data, which we do not use
                break
            total += n
        return total


Buffer = Union[bytes, bytearray, memoryview]


class FrameWriter:
    """Writes frames to a file descriptor (the private duplicate of stdout) or a
    binary stream (tests).

    Header and prefix always leave in one buffer; the payload follows in the same
    ``writev`` call where the platform has it, so a typical result frame is one
    syscall. Every frame is flushed before ``write_frame`` returns because the
    worker blocks on the reply.
    """

    def __init__(self, sink: Union[int, BinaryIO], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self._sink = sink
        self.max_header_bytes = max_header_bytes
        self.max_payload_bytes = clamp_payload_limit(max_payload_bytes)
        self.closed = False

    @staticmethod
    def encode_header(header: dict) -> bytes:
        # allow_nan=False: NaN/Infinity are not JSON and a strict C# parser would choke.
        return json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

    def write_frame(self, header: dict, payload: Buffer = b"") -> None:
        head = self.encode_header(header)
        body = memoryview(payload).cast("B")  # numpy arrays too: bytes, not rows
        if not 1 <= len(head) <= self.max_header_bytes:
            raise ValueError(f"header of {len(head)} bytes outside 1..{self.max_header_bytes}")
        if len(body) > self.max_payload_bytes:
            raise ValueError(f"payload of {len(body)} bytes over the limit of {self.max_payload_bytes}")
        first = PREFIX.pack(MAGIC, len(head), len(body)) + head
        if len(body) <= _COALESCE_LIMIT:
            self.write_raw([first + body.tobytes()] if len(body) else [first])
        else:
            self.write_raw([first, body])

    def write_raw(self, buffers: Union[Buffer, Sequence[Buffer]]) -> None:
        """Write bytes verbatim. Public on purpose: fault-injection tests use it
        to put garbage on the channel."""
        if self.closed:
            # Never write to a closed descriptor number: it may already belong
            # to some other file.
            raise BrokenPipeError("the frame channel is closed")
        if not isinstance(buffers, (list, tuple)):
            buffers = [buffers]
        views = [v for v in (memoryview(b).cast("B") for b in buffers) if len(v)]
        if isinstance(self._sink, int):
            _write_all_fd(self._sink, views)
        else:
            for v in views:
                self._sink.write(v)
            self._sink.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if isinstance(self._sink, int):
            os.close(self._sink)
        else:
            self._sink.close()


def _write_all_fd(fd: int, views: list) -> None:
    writev = getattr(os, "writev", None)  # not on Windows
    while views:
        if writev is not None:
            n = writev(fd, views)
        else:
            n = os.write(fd, views[0])
        # A blocking pipe may still accept only part of the data (e.g. after a
        # signal); drop what went out and retry the rest.
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


def encode_frame(header: dict, payload: Buffer = b"") -> bytes:
    """One frame as bytes; handy for clients and tests."""
    head = FrameWriter.encode_header(header)
    return PREFIX.pack(MAGIC, len(head), len(payload)) + head + bytes(payload)
