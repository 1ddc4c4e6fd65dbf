"""Shared test helpers: where things are on this machine, and a bridge subprocess client."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from typing import Any, Dict, List, Optional, Tuple

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

from akidb_bridge_core.protocol import Frame, FrameReader, encode_frame  # noqa: E402

LAUNCHER = os.path.join(PYTHON_DIR, "akidb_bridge.py")
FAULT_LAUNCHER = os.path.join(PYTHON_DIR, "tools", "fault_bridge.py")

_NUGET = os.path.expanduser("~/.nuget/packages/microsoft.ml.onnxruntime/1.31.1")
_RID = {"linux": "linux-x64", "darwin": "osx-arm64"}.get(sys.platform, "")
_LIBNAME = {"linux": "libonnxruntime.so", "darwin": "libonnxruntime.dylib"}.get(sys.platform, "onnxruntime.dll")


def ort_library() -> Optional[str]:
    """AKIDB_ORT_LIBRARY, else the NuGet cache; None when neither exists."""
    for candidate in (os.environ.get("AKIDB_ORT_LIBRARY"),
                      os.path.join(_NUGET, "runtimes", _RID, "native", _LIBNAME) if _RID else None):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def ort_header() -> Optional[str]:
    candidates = [os.environ.get("AKIDB_ORT_HEADER"),
                  os.path.join(_NUGET, "build", "native", "include", "onnxruntime_c_api.h")]
    lib = ort_library()
    if lib:  # a NuGet layout next to the chosen library
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(lib))))
        candidates.append(os.path.join(root, "build", "native", "include", "onnxruntime_c_api.h"))
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    return None


def model_dir() -> str:
    return os.environ.get("AKIDB_TEST_MODEL_DIR", "/tmp/akidb-models/all-MiniLM-L6-v2")


def real_model() -> Optional[str]:
    path = os.path.join(model_dir(), "model.onnx")
    return path if os.path.isfile(path) else None


NO_LIBRARY = "libonnxruntime not found (set AKIDB_ORT_LIBRARY or restore the Microsoft.ML.OnnxRuntime 1.31.1 NuGet)"
NO_MODEL = f"model.onnx not found in {model_dir()} (set AKIDB_TEST_MODEL_DIR)"


def numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


class BridgeProcess:
    """A bridge subprocess with a frame client on its pipes.

    stderr goes to a temporary file, not a pipe, so a chatty bridge can never
    block on a full pipe while the test waits for a frame. A watchdog kills
    the process if a test hangs, turning the hang into a failed read.
    """

    def __init__(self, script: str = LAUNCHER, env: Optional[Dict[str, str]] = None,
                 watchdog_s: float = 60.0) -> None:
        self._stderr = tempfile.TemporaryFile()
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-I", "-B", script], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, env=full_env)
        self.reader = FrameReader(self.proc.stdout)
        self._watchdog = threading.Timer(watchdog_s, self.proc.kill)
        self._watchdog.daemon = True
        self._watchdog.start()

    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, header: Dict[str, Any], payload: bytes = b"") -> None:
        self.send_raw(encode_frame(header, payload))

    def read(self) -> Optional[Frame]:
        return self.reader.read_frame()

    def request(self, header: Dict[str, Any], payload: bytes = b"") -> Tuple[Dict[str, Any], bytearray]:
        self.send(header, payload)
        frame = self.read()
        if frame is None:
            raise AssertionError(f"bridge closed stdout instead of answering; stderr:\n{self.stderr()}")
        return frame.json(), frame.payload

    def close_stdin(self) -> None:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._watchdog.cancel()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stderr_lines(self) -> List[str]:
        return self.stderr().splitlines()

    def close(self) -> None:
        self._watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._stderr.close()


def init_message(models: List[Dict[str, Any]], library: Optional[str], **overrides: Any) -> Dict[str, Any]:
    message: Dict[str, Any] = {"type": "init", "protocol": 1, "runtime": "ctypes", "ort_library": library,
                               "providers": ["CoreML", "CUDA", "CPU"], "intra_op_threads": 1,
                               "inter_op_threads": 1, "max_payload_bytes": 64 * 1024 * 1024,
                               "log_level": "info", "models": models}
    message.update(overrides)
    return message
