"""Returning freed heap memory to the operating system.

ONNX Runtime's arena frees its unused regions when asked (models.py), but
glibc's malloc keeps freed memory in the process unless it is trimmed: without
``malloc_trim`` a bridge stays near the peak of its largest batch. Other C
libraries (macOS, musl) have no such call; there the function does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Optional

_libc: Optional[Any] = None
_looked = False


def _glibc() -> Optional[Any]:
    global _libc, _looked
    if not _looked:
        _looked = True
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            trim = getattr(lib, "malloc_trim", None) if lib is not None else None
        except OSError:
            trim = None
        if trim is not None:
            trim.argtypes = [ctypes.c_size_t]
            trim.restype = ctypes.c_int
            _libc = lib
    return _libc


def trim() -> bool:
    """``malloc_trim(0)``: True when glibc released memory."""
    lib = _glibc()
    return bool(lib.malloc_trim(0)) if lib is not None else False
