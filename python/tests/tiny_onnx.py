"""Writes tiny ONNX models by hand (protobuf wire format), so tests can check the
bridge's feeding and pooling exactly without the 90 MB MiniLM and without the
``onnx`` package, which is not installable here.

The main model computes ``hidden[b, s, :] = float(input_ids * attention_mask) * weights``:
easy to predict by hand, and it proves which inputs were fed.
"""

from __future__ import annotations

import struct
from typing import List, Optional, Sequence

FLOAT, INT64 = 1, 7


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode())


def _value_info(name: str, elem_type: int, dims: Sequence[object]) -> bytes:
    shape = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, elem_type) + _bytes(2, shape)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def _tensor(name: str, data_type: int, dims: Sequence[int], raw: bytes) -> bytes:
    return b"".join(_int(1, d) for d in dims) + _int(2, data_type) + _str(8, name) + _bytes(9, raw)


def _node(op: str, inputs: List[str], outputs: List[str], attributes: bytes = b"") -> bytes:
    return (b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
            + _str(3, f"{op}_{outputs[0]}") + _str(4, op) + attributes)


def _int_attribute(name: str, value: int) -> bytes:
    return _bytes(5, _str(1, name) + _int(3, value) + _int(20, 2))  # type INT = 2


def tiny_embedding_model(weights: Sequence[float] = (1.0, 2.0, 3.0), with_mask: bool = True,
                         extra_input: Optional[str] = None, output_name: str = "last_hidden_state") -> bytes:
    """hidden = float(input_ids [* attention_mask]) [:, :, None] * weights; dim = len(weights)."""
    dims = ["batch", "seq"]
    inputs = [_value_info("input_ids", INT64, dims)]
    nodes = []
    ids = "input_ids"
    if with_mask:
        inputs.append(_value_info("attention_mask", INT64, dims))
        nodes.append(_node("Mul", ["input_ids", "attention_mask"], ["masked"]))
        ids = "masked"
    if extra_input:
        inputs.append(_value_info(extra_input, INT64, dims))
    nodes.append(_node("Cast", [ids], ["as_float"], _int_attribute("to", FLOAT)))
    nodes.append(_node("Unsqueeze", ["as_float", "axes"], ["column"]))
    nodes.append(_node("Mul", ["column", "weights"], [output_name]))
    initializers = [
        _tensor("axes", INT64, [1], struct.pack("<q", 2)),
        _tensor("weights", FLOAT, [1, 1, len(weights)], struct.pack(f"<{len(weights)}f", *weights)),
    ]
    outputs = [_value_info(output_name, FLOAT, ["batch", "seq", len(weights)])]
    graph = (b"".join(_bytes(1, n) for n in nodes) + _str(2, "tiny")
             + b"".join(_bytes(5, t) for t in initializers)
             + b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs))
    opset = _str(1, "") + _int(2, 13)
    return _int(1, 8) + _str(2, "akidb-tests") + _bytes(7, graph) + _bytes(8, opset)


def write_model(path: str, **kwargs: object) -> str:
    with open(path, "wb") as f:
        f.write(tiny_embedding_model(**kwargs))  # type: ignore[arg-type]
    return path
