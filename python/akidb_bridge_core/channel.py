"""Claims stdin/stdout for frames and makes every other stdout writer harmless.

Native code (ONNX Runtime, CUDA, a BLAS) and stray ``print()`` calls write to
file descriptor 1. If fd 1 were the frame channel, one such write would corrupt
the stream and the worker would have to kill us. So the frames get a private
duplicate of the original stdout, and fd 1 is pointed at stderr, where the
worker forwards non-JSON lines as plain log text.
"""

from __future__ import annotations

import io
import os
import sys
from typing import BinaryIO, Tuple

_STDIN_BUFFER = 1 << 16


def open_frame_channel() -> Tuple[BinaryIO, int]:
    """Returns (stdin reader, frame fd). Call once, before anything can print."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    frame_fd = os.dup(1)  # non-inheritable since 3.4: child processes never see it
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # closefd=False: fd 0 stays open for as long as the process lives, so a
    # native library that probes stdin cannot get a recycled descriptor.
    stdin = io.open(0, "rb", buffering=_STDIN_BUFFER, closefd=False)
    return stdin, frame_fd
