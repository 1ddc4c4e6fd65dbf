"""JSON-lines logging on stderr, with W3C trace context while a request runs.

The worker reads stderr line by line: a line that parses as JSON becomes a
structured log record (in the right trace when trace_id/span_id are present),
anything else (ONNX Runtime's own output, a traceback) is forwarded verbatim.
Each record goes out in one ``write(2)`` so it cannot interleave with native
writers mid-line.
"""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

LEVELS: Dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40}
# The worker is .NET: accept its level names too rather than failing init over a spelling.
_ALIASES: Dict[str, str] = {"trace": "debug", "information": "info", "warn": "warning",
                            "critical": "error", "fatal": "error"}

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


def parse_traceparent(value: Any) -> Optional[Tuple[str, str]]:
    """(trace_id, span_id) from a W3C traceparent, or None when it is unusable.

    A bad traceparent never fails a request: tracing is a diagnostic, not input.
    """
    if not isinstance(value, str):
        return None
    m = _TRACEPARENT.match(value.strip().lower())
    if not m:
        return None
    version, trace_id, span_id, _flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


def _write_fd2(data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(2, view)
        view = view[n:]


def utc_timestamp(now: Optional[float] = None) -> str:
    t = time.time() if now is None else now
    ms = int((t % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}Z"


class Logger:
    def __init__(self, level: str = "info", write: Callable[[bytes], None] = _write_fd2) -> None:
        self._write = write
        self._threshold = LEVELS["info"]
        self._trace: Optional[Tuple[str, str]] = None
        self.set_level(level)

    def set_level(self, level: str) -> None:
        name = level.lower() if isinstance(level, str) else level
        name = _ALIASES.get(name, name)
        if name not in LEVELS:
            raise ValueError(f"log_level must be one of {sorted(LEVELS)}, not {level!r}")
        self._threshold = LEVELS[name]
        self.level = name

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self._threshold

    @contextmanager
    def trace(self, traceparent: Any) -> Iterator[None]:
        """Attach trace_id/span_id to every record logged inside the block."""
        previous = self._trace
        self._trace = parse_traceparent(traceparent)
        try:
            yield
        finally:
            self._trace = previous

    def log(self, level: str, msg: str, **fields: Any) -> None:
        if not self.enabled(level):
            return
        record: Dict[str, Any] = {"ts": utc_timestamp(), "level": level, "msg": msg}
        if self._trace is not None:
            record["trace_id"], record["span_id"] = self._trace
        for key, value in fields.items():
            record.setdefault(key, value)
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
        try:
            self._write(line.encode("utf-8"))
        except OSError:
            pass  # stderr gone: nothing useful left to do with a log line

    def debug(self, msg: str, **fields: Any) -> None:
        self.log("debug", msg, **fields)

    def info(self, msg: str, **fields: Any) -> None:
        self.log("info", msg, **fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self.log("warning", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        self.log("error", msg, **fields)
