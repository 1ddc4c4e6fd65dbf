"""The bridge's main loop: init, then one request at a time until EOF/shutdown.

Failure policy (docs/bridge-protocol.md):
* framing broken on stdin (bad magic, a length over a limit, truncation):
  the stream cannot be resynchronised, exit 4 without answering;
* a well-framed request that breaks the rules: ``error`` (bad_request /
  unknown_model) and stay up;
* an exception while running a model: ``error`` (inference_failed) and stay
  up; the worker decides whether to recycle us;
* init fails: ``error`` (init_failed), exit 3;
* EOF between frames or ``shutdown``: exit 0.

Test code subclasses ``BridgeServer`` to inject faults (override
``handle_embed`` and call ``super()``; ``self.writer`` is the frame channel)
and runs it with ``run_and_exit(MyServer)``; see tools/fault_bridge.py.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import heap, protocol, sandbox
from .channel import open_frame_channel
from .logs import Logger
from .models import WIDTHS, LoadedModel, ModelSpec, load_model
from .protocol import FrameReader, FrameWriter, ProtocolError
from .runtime import Runtime, SessionSettings, select_runtime

PROTOCOL_VERSION = protocol.PROTOCOL_VERSION

EXIT_OK = 0
EXIT_INIT_FAILED = 3
EXIT_PROTOCOL_ERROR = 4

# Longest error message sent back; the worker's header limit is 64 KiB and a
# traceback-sized message is no more useful to it than this.
MAX_ERROR_MESSAGE = 4000


class RequestError(Exception):
    """A request the bridge answers with an ``error`` frame and then carries on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InitError(Exception):
    pass


class ChannelClosed(Exception):
    """The frame channel (our stdout) is gone: nobody is left to answer."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def current_rss_bytes() -> int:
    """Resident set size now (Linux); elsewhere the peak RSS, the best the
    standard library offers without psutil."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB elsewhere
    except (ImportError, OSError):
        return 0


class BridgeServer:
    MAX_BATCH = 4096
    MAX_SEQ = 8192

    def __init__(self, reader: FrameReader, writer: FrameWriter, log: Optional[Logger] = None,
                 started: Optional[float] = None,
                 runtime_factory: Callable[..., Runtime] = select_runtime,
                 platform_name: str = sys.platform) -> None:
        self.reader = reader
        self.writer = writer
        self.log = log or Logger()
        self.started = time.monotonic() if started is None else started
        self.runtime_factory = runtime_factory
        self.platform_name = platform_name
        self.runtime: Optional[Runtime] = None
        self.models: Dict[str, LoadedModel] = {}
        self.providers: list = ["CPU"]
        self.settings = SessionSettings()
        self.wide_threads = 0
        self.wide_spinning = False
        self.wide_later = True
        self.wide_after_idle_s = 0.5
        self._last_request = time.monotonic()  # when an embed or load last ended (or started, while one runs)
        self._in_request = False
        self._wide_scheduled: set = set()  # models whose wide session an opener thread has taken on
        self.batches = 0
        self.sandbox: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------ loop

    def serve(self) -> int:
        """Runs until EOF, shutdown or a fatal error; returns the exit code."""
        try:
            return self._serve()
        except ChannelClosed as e:
            self.log.warning("frame channel closed; exiting", error=str(e))
            return EXIT_OK

    def _serve(self) -> int:
        frame = self._read()
        if frame is None or isinstance(frame, int):
            return EXIT_OK if frame is None else frame
        header, error = self._decode(frame)
        request_id = header.get("id") if header else None
        if header is not None and header.get("type") == "shutdown":
            return EXIT_OK
        try:
            if error:
                raise InitError(f"init frame: {error}")
            ready = self.handle_init(header, frame.payload)
        except Exception as e:
            message = str(e) if isinstance(e, InitError) else f"{type(e).__name__}: {e}"
            self.log.error("init failed", error=message)
            try:
                self.send_error(request_id, "init_failed", message)
            except ChannelClosed:
                pass  # exit 3 all the same: the exit code is the other half of the answer
            return EXIT_INIT_FAILED
        self.send(ready)
        self._open_wide_when_idle()
        self.log.info("ready", runtime=ready["runtime"], ort_version=ready["ort_version"],
                      startup_ms=ready["startup_ms"], models=[m["name"] for m in ready["models"]])

        while True:
            frame = self._read()
            if frame is None:
                self.log.info("stdin closed; exiting")
                return EXIT_OK
            if isinstance(frame, int):
                return frame
            header, error = self._decode(frame)
            if error:
                self.log.warning("bad request", error=error)
                self.send_error(header.get("id") if header else None, "bad_request", error)
                continue
            if header["type"] == "shutdown":
                self.log.info("shutdown requested; exiting")
                return EXIT_OK
            self.dispatch(header, frame.payload)

    def _read(self) -> "protocol.Frame | int | None":
        try:
            return self.reader.read_frame()
        except ProtocolError as e:
            self.log.error("protocol error on stdin; exiting", error=str(e))
            return EXIT_PROTOCOL_ERROR

    @staticmethod
    def _decode(frame: protocol.Frame) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        """(header, None) or (best-effort header, reason it is unusable)."""
        try:
            header = frame.json()
        except ValueError as e:
            return None, f"header is not valid UTF-8 JSON: {e}"
        except RecursionError:
            return None, "header JSON is nested too deeply"
        if not isinstance(header, dict):
            return None, "header must be a JSON object"
        if not isinstance(header.get("type"), str):
            return header, 'header has no string "type"'
        return header, None

    def dispatch(self, header: Dict[str, Any], payload: bytearray) -> None:
        kind = header["type"]
        if kind in ("embed", "load"):  # requests, not the worker's idle pings, keep the bridge from being idle
            self._in_request = True
            try:
                self._dispatch_traced(kind, header, payload)
            finally:
                self._last_request = time.monotonic()
                self._in_request = False
            if kind == "load":
                self._open_wide_when_idle()
            return
        self._dispatch_traced(kind, header, payload)

    def _dispatch_traced(self, kind: str, header: Dict[str, Any], payload: bytearray) -> None:
        handlers = {"embed": self.handle_embed, "load": self.handle_load, "ping": self.handle_ping}
        handler = handlers.get(kind)
        request_id = header.get("id")
        # The trace context covers the error logs below too, so a rejected or
        # failed request shows up in the worker's trace.
        with self.log.trace(header.get("traceparent")):
            self._dispatch(kind, handler, request_id, header, payload)

    def _dispatch(self, kind: str, handler: Optional[Callable[[Dict[str, Any], bytearray], None]],
                  request_id: Any, header: Dict[str, Any], payload: bytearray) -> None:
        try:
            if handler is None:
                raise RequestError("bad_request", f"unknown message type {kind!r}")
            if not _is_int(request_id):
                raise RequestError("bad_request", f"{kind} needs an integer id")
            if kind != "embed" and len(payload):
                raise RequestError("bad_request", f"{kind} takes no payload, got {len(payload)} bytes")
            handler(header, payload)
        except ChannelClosed:
            raise
        except RequestError as e:
            self.log.warning("request rejected", type=kind, id=request_id, code=e.code, error=str(e))
            self.send_error(request_id, e.code, str(e))
        except Exception as e:
            code = "load_failed" if kind == "load" else "inference_failed"
            self.log.error("request failed", type=kind, id=request_id, code=code,
                           error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            self.send_error(request_id, code, f"{type(e).__name__}: {e}")

    # ------------------------------------------------------------------ frames

    def send(self, header: Dict[str, Any], payload: Any = b"") -> None:
        try:
            self.writer.write_frame(header, payload)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ChannelClosed(str(e)) from e
        except OSError as e:
            if self.writer.closed:
                raise ChannelClosed(str(e)) from e
            raise

    def send_error(self, request_id: Any, code: str, message: str) -> None:
        if len(message) > MAX_ERROR_MESSAGE:
            message = message[:MAX_ERROR_MESSAGE] + "..."
        self.send({"type": "error", "id": request_id if _is_int(request_id) else None,
                   "code": code, "message": message})

    # ------------------------------------------------------------------ init

    def handle_init(self, header: Dict[str, Any], payload: bytearray) -> Dict[str, Any]:
        if header.get("type") != "init":
            raise InitError(f"the first frame must be init, not {header.get('type')!r}")
        if len(payload):
            raise InitError("init takes no payload")
        if header.get("protocol") != PROTOCOL_VERSION:
            raise InitError(f"protocol {header.get('protocol')!r} is not supported; this bridge speaks "
                            f"{PROTOCOL_VERSION}")
        try:
            self.log.set_level(header.get("log_level", "info"))
        except ValueError as e:
            raise InitError(str(e)) from None

        max_payload = header.get("max_payload_bytes", protocol.DEFAULT_MAX_PAYLOAD_BYTES)
        if not _is_int(max_payload) or max_payload < 1:
            raise InitError("max_payload_bytes must be a positive integer")
        limit = protocol.clamp_payload_limit(max_payload)
        if limit < max_payload:
            self.log.warning("max_payload_bytes capped", requested=max_payload, limit=limit)
        self.reader.max_payload_bytes = limit
        self.writer.max_payload_bytes = limit

        threads = {}
        for key in ("intra_op_threads", "inter_op_threads"):
            value = header.get(key, 0)
            if not _is_int(value) or value < 0:
                raise InitError(f"{key} must be a non-negative integer")
            threads[key] = value
        wide = header.get("wide_intra_op_threads", 0)
        if not _is_int(wide) or wide < 0:
            raise InitError("wide_intra_op_threads must be a non-negative integer")
        self.wide_threads = wide
        wide_spinning = header.get("wide_allow_spinning", False)
        if not isinstance(wide_spinning, bool):
            raise InitError("wide_allow_spinning must be true or false")
        self.wide_spinning = wide_spinning
        wide_later = header.get("wide_later", True)
        if not isinstance(wide_later, bool):
            raise InitError("wide_later must be true or false")
        self.wide_later = wide_later
        idle_ms = header.get("wide_after_idle_ms", 500)
        if not _is_int(idle_ms) or not 0 <= idle_ms <= 3_600_000:
            raise InitError("wide_after_idle_ms must be an integer from 0 to 3600000")
        self.wide_after_idle_s = idle_ms / 1000
        allow_spinning = header.get("allow_spinning", True)
        if not isinstance(allow_spinning, bool):
            raise InitError("allow_spinning must be true or false")
        self.settings = SessionSettings(threads["intra_op_threads"], threads["inter_op_threads"], self.log.level, allow_spinning)

        providers = header.get("providers", ["CoreML", "CUDA", "CPU"])
        if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
            raise InitError("providers must be a list of strings")
        self.providers = providers

        ort_library = header.get("ort_library")
        if ort_library is not None and not isinstance(ort_library, str):
            raise InitError("ort_library must be a string")
        runtime_kind = header.get("runtime", "auto")
        models = header.get("models", [])
        if not isinstance(models, list):
            raise InitError("models must be a list")
        try:
            specs = [ModelSpec.from_json(m) for m in models]
        except ValueError as e:
            raise InitError(str(e)) from None
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise InitError(f"model names must be unique: {names}")
        sandbox_settings = None
        if header.get("sandbox") is not None:
            try:
                sandbox_settings = sandbox.SandboxSettings.from_json(header["sandbox"])
            except ValueError as e:
                raise InitError(str(e)) from None
            # Before ONNX Runtime and any model file are loaded: they are what the sandbox is for.
            self.sandbox = sandbox.apply(sandbox_settings)
            self.log.debug("sandbox applied", **{k: v for k, v in self.sandbox.items() if k != "off"})

        self.runtime = self.runtime_factory(runtime_kind, ort_library, self.log.level)
        self.log.info("runtime selected", runtime=self.runtime.name, ort_version=self.runtime.version)
        described = [self._load(spec).describe() for spec in specs]
        if sandbox_settings is not None and self.sandbox is not None:
            sandbox.limit_address_space(sandbox_settings, self.sandbox, [m.provider for m in self.models.values()])
        ready: Dict[str, Any] = {
            "type": "ready", "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
            "python": platform.python_version(), "numpy": np.__version__,
            "runtime": self.runtime.name, "ort_version": self.runtime.version,
            "startup_ms": round((time.monotonic() - self.started) * 1000, 1),
            "models": described,
        }
        if self.sandbox is not None:
            ready["sandbox"] = self.sandbox
        if _is_int(header.get("id")):
            ready["id"] = header["id"]
        return ready

    def _open_wide_when_idle(self) -> None:
        """Opens the wide sessions still pending on a thread, once no request has run for ``wide_after_idle_ms``.

        Why idle: a wide session only serves a lone batch on an idle worker, and opening one takes about half a second
        of a core. Opened right after ready, it competed with the worker's first requests for the cores (the int8
        worker's first result came no sooner for a ready 0.2 s earlier); opened once the bridge is idle, it costs a
        request nothing. Until then a wide batch runs on the narrow session."""
        pending = [m for m in self.models.values() if m.wide_pending and m.name not in self._wide_scheduled]
        if not pending:
            return
        self._wide_scheduled.update(m.name for m in pending)

        def run() -> None:
            while True:
                wait = self._last_request + self.wide_after_idle_s - time.monotonic()
                if self._in_request:
                    wait = max(wait, self.wide_after_idle_s)
                if wait <= 0:
                    break
                time.sleep(wait)  # the idle clock: at most one wake-up per request that reset it
            for model in pending:
                model.open_wide()
                heap.trim()  # what building the session freed, as after the narrow one
                self.log.debug("wide session opened" if model.wide_session is not None else "wide session not opened",
                               model=model.name)

        threading.Thread(target=run, name="open-wide", daemon=True).start()

    def _load(self, spec: ModelSpec) -> LoadedModel:
        assert self.runtime is not None
        rss_before = current_rss_bytes()
        model = load_model(self.runtime, spec, self.settings, self.providers, self.platform_name, self.wide_threads, self.wide_spinning,
                           warn=lambda message: self.log.warning(message, model=spec.name), wide_later=self.wide_later)
        # Loading parses the whole file (the weights included) before the sessions take what they need: what is freed
        # stays in glibc's heap unless trimmed, about 40-60 MiB of a ready bridge's resident memory.
        heap.trim()
        model.rss_delta_bytes = max(0, current_rss_bytes() - rss_before)
        self.models[spec.name] = model
        skipped = [t for t in model.providers_tried if not t["ok"]]
        self.log.info(f"model {spec.name} loaded on {model.provider}", model=spec.name, provider=model.provider,
                      dim=model.dim, load_ms=model.load_ms, rss_delta_mib=round(model.rss_delta_bytes / 2**20, 1),
                      skipped={t["name"]: t["reason"] for t in skipped})
        return model

    # ------------------------------------------------------------------ requests

    def handle_load(self, header: Dict[str, Any], payload: bytearray) -> None:
        try:
            spec = ModelSpec.from_json(header.get("model"))
        except ValueError as e:
            raise RequestError("bad_request", str(e)) from None
        existing = self.models.get(spec.name)
        if existing is not None:
            if existing.spec != spec:
                raise RequestError("bad_request", f"model {spec.name!r} is already loaded with different settings")
            model = existing  # idempotent: a retried lazy load must not load twice
        else:
            model = self._load(spec)
        self.send({"type": "loaded", "id": header["id"], "model": model.describe()})

    def handle_ping(self, header: Dict[str, Any], payload: bytearray) -> None:
        """The worker pings an idle bridge: the moment to give back what the last burst left allocated."""
        before = current_rss_bytes()
        released = [m.release_memory() for m in self.models.values()]
        if any(released):
            heap.trim()
            self.log.debug("memory released while idle", rss_before_mib=round(before / 2**20, 1),
                           rss_mib=round(current_rss_bytes() / 2**20, 1))
        after = current_rss_bytes()
        self.send({"type": "pong", "id": header["id"], "rss_bytes": after,
                   "released_bytes": max(0, before - after) if any(released) else 0,
                   "uptime_ms": round((time.monotonic() - self.started) * 1000, 1),
                   "batches": self.batches,
                   "wide_pending": sum(1 for m in self.models.values() if m.wide_pending)})

    def handle_embed(self, header: Dict[str, Any], payload: bytearray) -> None:
        """Validates, runs and answers one embed request. Override to inject faults.

        Raise RequestError for a bad request; any other exception becomes
        inference_failed. Runs inside the request's trace context."""
        t0 = time.perf_counter_ns()
        model, ids, lengths = self.parse_embed(header, payload)
        width = header.get("width", "narrow")
        if width not in WIDTHS:
            raise RequestError("bad_request", f"width must be one of {', '.join(WIDTHS)}, not {str(width)[:40]!r}")
        t1 = time.perf_counter_ns()
        vectors, timings = model.embed(ids, lengths, width)
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        self.batches += 1
        timings = {"decode_ms": round((t1 - t0) / 1e6, 3), **timings,
                   "total_ms": round((time.perf_counter_ns() - t0) / 1e6, 3)}
        self.log.debug("embedded", id=header["id"], model=model.name, batch=int(ids.shape[0]),
                       seq=int(ids.shape[1]), **timings)
        self.send({"type": "result", "id": header["id"], "batch": int(vectors.shape[0]),
                   "dim": int(vectors.shape[1]), "timings": timings,
                   "threads": model.last_threads}, vectors)

    def parse_embed(self, header: Dict[str, Any], payload: bytearray) -> Tuple[LoadedModel, np.ndarray, np.ndarray]:
        """Every check happens before anything is allocated from the request's numbers."""
        name = header.get("model")
        if not isinstance(name, str):
            raise RequestError("bad_request", "embed needs a model name")
        model = self.models.get(name)
        if model is None:
            raise RequestError("unknown_model", f"model {name!r} is not loaded (loaded: {sorted(self.models)})")
        batch, seq, lengths = header.get("batch"), header.get("seq"), header.get("lengths")
        if not _is_int(batch) or not 1 <= batch <= self.MAX_BATCH:
            raise RequestError("bad_request", f"batch must be an integer in 1..{self.MAX_BATCH}, not {batch!r}")
        if not _is_int(seq) or not 1 <= seq <= self.MAX_SEQ:
            raise RequestError("bad_request", f"seq must be an integer in 1..{self.MAX_SEQ}, not {seq!r}")
        if not isinstance(lengths, list) or len(lengths) != batch:
            raise RequestError("bad_request", f"lengths must be a list of batch={batch} integers")
        for i, n in enumerate(lengths):
            if not _is_int(n) or not 1 <= n <= seq:
                raise RequestError("bad_request", f"lengths[{i}]={n!r} is not in 1..seq={seq}")
        expected = batch * seq * 8
        if len(payload) != expected:
            raise RequestError("bad_request", f"payload is {len(payload)} bytes; batch*seq*8 = {expected}")
        result_bytes = batch * model.dim * 4
        if result_bytes > self.writer.max_payload_bytes:
            raise RequestError("bad_request", f"the result ({result_bytes} bytes) would exceed max_payload_bytes="
                                              f"{self.writer.max_payload_bytes}")
        ids = np.frombuffer(payload, dtype="<i8").reshape(batch, seq).astype(np.int64, copy=False)
        if ids.min() < 0:
            raise RequestError("bad_request", "token ids must not be negative")
        return model, ids, np.array(lengths, dtype=np.int64)


# ---------------------------------------------------------------------- entry points


Channel = Tuple[Any, int]


def main(server_cls: Callable[..., BridgeServer] = BridgeServer, started: Optional[float] = None,
         channel: Optional[Channel] = None) -> int:
    """Serves on the frame channel (opened here unless the launcher already did)
    and returns the process exit code."""
    started = time.monotonic() if started is None else started
    stdin, frame_fd = channel if channel is not None else open_frame_channel()
    log = Logger()
    server = server_cls(FrameReader(stdin), FrameWriter(frame_fd), log=log, started=started)
    try:
        return server.serve()
    except KeyboardInterrupt:
        return 130


def run_and_exit(server_cls: Callable[..., BridgeServer] = BridgeServer, started: Optional[float] = None,
                 channel: Optional[Channel] = None) -> None:
    code = main(server_cls, started, channel)
    try:
        sys.stderr.flush()
    finally:
        # Skip interpreter teardown: native ORT objects and their threads are
        # reclaimed by the OS, and a destructor racing Python's shutdown would
        # only turn a clean exit code into a crash.
        os._exit(code)
