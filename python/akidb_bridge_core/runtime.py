"""Which ONNX Runtime to use, and which execution provider each model gets.

Two interchangeable runtimes sit behind one small interface:
* ``OfficialRuntime`` wraps the ``onnxruntime`` Python package. It is preferred
  when importable because it is the maintained path (and the only one that
  brings CUDA/CoreML builds through pip on GPU boxes and Macs).
* ``CtypesRuntime`` drives the native library the worker ships (NuGet) through
  ort_ctypes.py, so the bridge works where pip is not available.

Provider selection never trusts a provider to work just because it is listed:
each candidate is used to create a session, the caller's ``verify`` callback
runs a probe inference, and only then is it accepted. Every candidate that was
skipped or failed is reported with a reason, because "why is this box on CPU?"
is the first question an operator asks.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import numpy as np

# init names -> ONNX Runtime's execution provider names
EXECUTION_PROVIDERS: Dict[str, str] = {
    "CoreML": "CoreMLExecutionProvider",
    "CUDA": "CUDAExecutionProvider",
    "CPU": "CPUExecutionProvider",
}
_CANONICAL = {name.lower(): name for name in EXECUTION_PROVIDERS}

# bridge log level -> ONNX Runtime severity name. ORT's "info" is a wall of
# arena and graph-transformer lines on every batch, which would drown the
# bridge's own debug records, so ORT never goes below "warning".
ORT_LOG_LEVELS: Dict[str, str] = {"debug": "warning", "info": "warning", "warning": "warning", "error": "error"}
_ORT_SEVERITY = {"verbose": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}


class RuntimeUnavailable(Exception):
    """No usable ONNX Runtime; the message lists everything that was tried."""


class NoProviderWorked(Exception):
    def __init__(self, message: str, tried: List[Dict[str, Any]]) -> None:
        super().__init__(message)
        self.tried = tried


@dataclass(frozen=True)
class SessionSettings:
    intra_op_threads: int = 0  # 0 = let ONNX Runtime decide
    inter_op_threads: int = 0
    log_level: str = "info"  # the bridge's level; mapped to ORT's
    # ONNX Runtime's worker threads spin between runs by default. On a machine where the worker, the broker and this
    # process share few cores, a spinning thread takes CPU the others need; the worker decides (Bridge:AllowSpinning).
    allow_spinning: bool = True

    def config_entries(self) -> Dict[str, str]:
        """Session configuration entries (onnxruntime_session_options_config_keys.h)."""
        flag = "1" if self.allow_spinning else "0"
        return {"session.intra_op.allow_spinning": flag, "session.inter_op.allow_spinning": flag}


class InferenceSession(Protocol):
    input_names: List[str]
    output_names: List[str]

    def run(self, output_name: str, feeds: Mapping[str, np.ndarray], shrink_arena: bool = False) -> np.ndarray: ...

    def close(self) -> None: ...


class Weights(Protocol):
    """A model's weights held once for all of its CPU sessions (weights.py)."""

    def drop_resident_pages(self) -> None: ...

    def close(self) -> None: ...


class Runtime(Protocol):
    name: str  # "onnxruntime" or "ctypes"
    version: str

    def available_providers(self) -> List[str]: ...

    def share_weights(self, path: str) -> Optional[Weights]:
        """The weights of ``path`` for sessions to share, or None where this runtime cannot share them."""
        ...

    def create_session(self, path: str, provider: str, settings: SessionSettings,
                       weights: Optional[Weights] = None) -> InferenceSession: ...


# --------------------------------------------------------------------------- official package


class _OfficialSession:
    def __init__(self, session: Any, shrink_options: Any) -> None:
        self._session = session
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]
        self._shrink = shrink_options

    def run(self, output_name: str, feeds: Mapping[str, np.ndarray], shrink_arena: bool = False) -> np.ndarray:
        options = self._shrink if shrink_arena else None
        out = self._session.run([output_name], dict(feeds), options)[0]
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        self._session = None


class OfficialRuntime:
    name = "onnxruntime"

    def __init__(self, module: Any, log_level: str = "info") -> None:
        self._ort = module
        self.version = str(getattr(module, "__version__", "unknown"))
        setter = getattr(module, "set_default_logger_severity", None)
        if setter is not None:
            setter(_ORT_SEVERITY[ORT_LOG_LEVELS.get(log_level, "warning")])

    def available_providers(self) -> List[str]:
        return list(self._ort.get_available_providers())

    def share_weights(self, path: str) -> Optional[Weights]:
        # The package exposes add_initializer but not the prepacked-weights container, and its OrtValues copy
        # read-only arrays; each session here loads its own copy (the memory cost is in docs/architecture.md).
        return None

    def create_session(self, path: str, provider: str, settings: SessionSettings,
                       weights: Optional[Weights] = None) -> InferenceSession:
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        options.inter_op_num_threads = settings.inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = _ORT_SEVERITY[ORT_LOG_LEVELS.get(settings.log_level, "warning")]
        for key, value in settings.config_entries().items():
            options.add_session_config_entry(key, value)
        wanted = EXECUTION_PROVIDERS[provider]
        providers = [wanted] if provider == "CPU" else [wanted, EXECUTION_PROVIDERS["CPU"]]
        session = ort.InferenceSession(path, sess_options=options, providers=providers)
        # The package quietly falls back to CPU when e.g. the CUDA libraries are
        # missing; what the session reports is the truth.
        actual = list(session.get_providers())
        if not actual or actual[0] != wanted:
            raise RuntimeError(f"onnxruntime created the session on {actual} instead of {wanted}")
        shrink = ort.RunOptions()
        shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return _OfficialSession(session, shrink)


# --------------------------------------------------------------------------- ctypes


class CtypesRuntime:
    name = "ctypes"

    def __init__(self, library_path: str, log_level: str = "info") -> None:
        from . import ort_ctypes  # imported here so the official path never loads ctypes glue

        self._ort = ort_ctypes
        self.library = ort_ctypes.OrtLibrary(library_path)
        self.version = self.library.version
        self.env = ort_ctypes.Env(self.library, ORT_LOG_LEVELS.get(log_level, "warning"))

    def available_providers(self) -> List[str]:
        return self.library.available_providers()

    def share_weights(self, path: str) -> Optional[Weights]:
        from .weights import SharedWeights

        return _CtypesWeights(self._ort, self.library, SharedWeights(path))

    def create_session(self, path: str, provider: str, settings: SessionSettings,
                       weights: Optional[Weights] = None) -> InferenceSession:
        oc = self._ort
        options = oc.SessionOptions(self.library, settings.intra_op_threads, settings.inter_op_threads,
                                    ORT_LOG_LEVELS.get(settings.log_level, "warning"), settings.config_entries())
        try:
            if provider == "CUDA":
                options.append_cuda()
            elif provider == "CoreML":
                options.append_provider("CoreML")
            shared = weights.tensors if isinstance(weights, _CtypesWeights) and provider == "CPU" else None
            return oc.Session(self.env, path, options, shared)
        finally:
            options.close()  # a session keeps what it needs from its options


class _CtypesWeights:
    def __init__(self, ort_ctypes: Any, library: Any, mapped: Any) -> None:
        self.mapped = mapped
        self.tensors = ort_ctypes.SharedTensors(library, [(t.name, t.array) for t in mapped.initializers])

    def drop_resident_pages(self) -> None:
        self.mapped.drop_resident_pages()

    def close(self) -> None:
        self.tensors.close()
        self.mapped.close()


# --------------------------------------------------------------------------- selection

Importer = Callable[[str], Any]


def select_runtime(kind: str, ort_library: Optional[str], log_level: str = "info",
                   importer: Importer = importlib.import_module,
                   ctypes_factory: Callable[[str, str], Runtime] = CtypesRuntime) -> Runtime:
    """``auto`` prefers the official package and falls back to ctypes."""
    if kind not in ("auto", "onnxruntime", "ctypes"):
        raise RuntimeUnavailable(f"runtime must be auto, onnxruntime or ctypes, not {kind!r}")
    tried: List[str] = []
    if kind in ("auto", "onnxruntime"):
        try:
            return OfficialRuntime(importer("onnxruntime"), log_level)
        except Exception as e:  # a broken install raises more than ImportError
            tried.append(f"import onnxruntime: {type(e).__name__}: {e}")
    if kind in ("auto", "ctypes"):
        if not ort_library:
            tried.append("ctypes: init has no ort_library")
        elif not os.path.isfile(ort_library):
            tried.append(f"ctypes: ort_library {ort_library} does not exist")
        else:
            try:
                return ctypes_factory(ort_library, log_level)
            except Exception as e:
                tried.append(f"ctypes: loading {ort_library} failed: {type(e).__name__}: {e}")
    raise RuntimeUnavailable(f"no usable ONNX Runtime (runtime={kind}); tried: " + "; ".join(tried))


def provider_order(requested: Sequence[Any]) -> List[str]:
    """Canonical, de-duplicated names, CPU last-resort appended. Unknown names
    are kept (as given) so they show up in providers_tried with a reason."""
    order: List[str] = []
    for raw in requested:
        name = _CANONICAL.get(raw.lower(), raw) if isinstance(raw, str) else str(raw)
        if name not in order:
            order.append(name)
    if "CPU" not in order:
        order.append("CPU")
    return order


def open_session(runtime: Runtime, path: str, requested: Sequence[Any], settings: SessionSettings,
                 verify: Callable[[InferenceSession], Any] = lambda s: None,
                 platform: str = sys.platform,
                 weights: Optional[Weights] = None) -> Tuple[InferenceSession, str, Any, List[Dict[str, Any]]]:
    """Tries providers in order; returns (session, provider, verify result, providers_tried).

    Stops at the first provider whose session both opens and passes ``verify``
    (a probe inference), so later entries are not listed.
    """
    tried: List[Dict[str, Any]] = []
    try:
        available = set(runtime.available_providers())
    except Exception as e:
        available = {EXECUTION_PROVIDERS["CPU"]}
        tried_note = f"could not list providers ({e}); assuming CPU only"
    else:
        tried_note = ""
    for name in provider_order(requested):
        entry: Dict[str, Any] = {"name": name, "ok": False}
        ep = EXECUTION_PROVIDERS.get(name)
        if ep is None:
            entry["reason"] = f"unknown provider; expected one of {', '.join(EXECUTION_PROVIDERS)}"
        elif name == "CoreML" and platform != "darwin":
            entry["reason"] = "CoreML needs macOS"
        elif name != "CPU" and ep not in available:
            entry["reason"] = (f"{ep} is not available in this {runtime.name} runtime "
                               f"(available: {', '.join(sorted(available))})"
                               + (f"; {tried_note}" if tried_note else ""))
        else:
            session = None
            try:
                session = runtime.create_session(path, name, settings, weights)
                result = verify(session)
            except Exception as e:
                if session is not None:
                    session.close()
                entry["reason"] = f"{type(e).__name__}: {str(e).strip()}"
            else:
                entry["ok"] = True
                tried.append(entry)
                return session, name, result, tried
        tried.append(entry)
    reasons = "; ".join(f"{t['name']}: {t['reason']}" for t in tried)
    raise NoProviderWorked(f"no execution provider could run {path}: {reasons}", tried)
