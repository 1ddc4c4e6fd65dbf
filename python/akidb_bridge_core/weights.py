"""The weights of an ONNX model, mapped once and shared by its sessions.

Why: a lone batch runs on a wide session (every core) and concurrent batches on
narrow ones (one core each), so one bridge holds two sessions of the same model.
Loaded the usual way each would keep its own copy of the weights (+87 MiB for
all-MiniLM-L6-v2). ONNX Runtime's answer is ``AddInitializer`` (a session uses
a tensor the caller owns instead of the file's) plus a prepacked-weights
container (the repacked MatMul weights are shared too); this module supplies
the caller-owned tensors.

The file is memory-mapped read-only and every initializer with ``raw_data`` is
a zero-copy numpy view into the mapping (a misaligned one is copied). Once the
sessions have repacked what they need, ``drop_resident_pages`` returns the
mapping's pages to the page cache: they are file-backed, so the kernel reads
back whatever a later run touches (the embedding rows of the tokens in use).

Parsing: the wire format of protobuf, for the few fields needed
(ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.dims = 1,
data_type = 2, name = 8, raw_data = 9). The ``onnx`` package is not available
to the bridge's interpreter everywhere, and reading offsets needs no more.
An initializer stored another way (typed fields, external data) is left to ONNX
Runtime to load per session: correct, only not shared.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np

# TensorProto.DataType -> numpy, for the types embedding models carry.
ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
               9: np.bool_, 10: np.float16, 11: np.float64}

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
# Fields of TensorProto that hold data somewhere other than raw_data.
_OTHER_DATA_FIELDS = {4, 5, 6, 7, 10, 11, 13, 14}


class WeightsFormatError(ValueError):
    """The file is not an ONNX model this scanner can read."""


@dataclass(frozen=True)
class Initializer:
    name: str
    data_type: int
    dims: Tuple[int, ...]
    array: np.ndarray


def _varint(buf: memoryview, i: int, end: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if i >= end or shift > 63:
            raise WeightsFormatError("truncated or overlong varint")
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _fields(buf: memoryview, start: int, end: int) -> Iterator[Tuple[int, int, int, int]]:
    """(field number, wire type, value or start, end) for each field in buf[start:end]."""
    i = start
    while i < end:
        key, i = _varint(buf, i, end)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, i = _varint(buf, i, end)
            yield number, wire, value, i
        elif wire == _LENGTH:
            size, i = _varint(buf, i, end)
            if i + size > end:
                raise WeightsFormatError("a length-delimited field runs past its message")
            yield number, wire, i, i + size
            i += size
        elif wire == _FIXED64:
            yield number, wire, i, i + 8
            i += 8
        elif wire == _FIXED32:
            yield number, wire, i, i + 4
            i += 4
        else:
            raise WeightsFormatError(f"unsupported protobuf wire type {wire}")


def _tensor(buf: memoryview, mapped: mmap.mmap, start: int, end: int) -> Optional[Initializer]:
    dims: List[int] = []
    data_type = 0
    name: Optional[str] = None
    raw: Optional[Tuple[int, int]] = None
    for number, wire, a, b in _fields(buf, start, end):
        if number == 1:
            if wire == _VARINT:
                dims.append(a)
            else:  # packed
                j = a
                while j < b:
                    value, j = _varint(buf, j, b)
                    dims.append(value)
        elif number == 2 and wire == _VARINT:
            data_type = a
        elif number == 8 and wire == _LENGTH:
            name = bytes(buf[a:b]).decode("utf-8")
        elif number == 9 and wire == _LENGTH:
            raw = (a, b)
        elif number in _OTHER_DATA_FIELDS:
            return None
    dtype = ONNX_DTYPES.get(data_type)
    if name is None or raw is None or dtype is None:
        return None
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if count * itemsize != raw[1] - raw[0]:
        return None
    array = np.frombuffer(mapped, dtype=dtype, count=count, offset=raw[0])
    if raw[0] % itemsize:
        array = array.copy()  # ONNX Runtime's kernels may assume natural alignment
    # A scalar (no dims) stays 0-D: as [1] it would change the shape of what it feeds (an Unsqueeze axis, a Slice bound).
    return Initializer(name, data_type, tuple(dims), array.reshape(dims))


class SharedWeights:
    """The top-level graph's initializers of one model file, mapped read-only."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self.initializers = self._scan()
        except BaseException:
            self.close()
            raise

    def _scan(self) -> List[Initializer]:
        buf = memoryview(self._map)
        try:
            found: List[Initializer] = []
            for number, wire, a, b in _fields(buf, 0, len(buf)):
                if number == 7 and wire == _LENGTH:  # ModelProto.graph
                    for g_number, g_wire, ga, gb in _fields(buf, a, b):
                        if g_number == 5 and g_wire == _LENGTH:  # GraphProto.initializer
                            tensor = _tensor(buf, self._map, ga, gb)
                            if tensor is not None:
                                found.append(tensor)
            return found
        finally:
            buf.release()

    @property
    def nbytes(self) -> int:
        return sum(t.array.nbytes for t in self.initializers)

    def drop_resident_pages(self) -> None:
        """Hands the mapping's pages back to the page cache (MADV_DONTNEED on a
        read-only file mapping: later reads fault them back in from the file)."""
        advise = getattr(self._map, "madvise", None)
        if advise is not None and hasattr(mmap, "MADV_DONTNEED"):
            advise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        # Views into the mapping may outlive this object (ORT holds OrtValues over them until its sessions go), so
        # the mapping is left to the garbage collector rather than closed under them.
        self.initializers = []

