"""Model specs from the worker and loaded, ready-to-embed models."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .pooling import length_mask, pool
from .runtime import InferenceSession, Runtime, SessionSettings, Weights, open_session

# Inputs the bridge knows how to fill from (ids, lengths). A model declaring any
# other input is rejected at load time rather than failing on every request.
FEEDABLE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
POOLINGS = ("mean", "cls")
# How many threads a batch gets: "narrow" is the lane's own share of the cores (concurrent batches), "wide" every core
# (a lone batch; the worker decides which, see ParallelismPolicy.cs).
WIDTHS = ("narrow", "wide")


def _ms(start_ns: int, end_ns: int) -> float:
    return round((end_ns - start_ns) / 1e6, 3)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str
    output: Optional[str] = None
    pooling: str = "mean"
    normalize: bool = True

    @classmethod
    def from_json(cls, obj: Any) -> "ModelSpec":
        if not isinstance(obj, dict):
            raise ValueError("a model must be a JSON object")
        name, path = obj.get("name"), obj.get("path")
        if not isinstance(name, str) or not name:
            raise ValueError("model name must be a non-empty string")
        if not isinstance(path, str) or not path:
            raise ValueError(f"model {name!r}: path must be a non-empty string")
        output = obj.get("output")
        if output is not None and (not isinstance(output, str) or not output):
            raise ValueError(f"model {name!r}: output must be a non-empty string when given")
        pooling = obj.get("pooling", "mean")
        if pooling not in POOLINGS:
            raise ValueError(f"model {name!r}: pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
        normalize = obj.get("normalize", True)
        if not isinstance(normalize, bool):
            raise ValueError(f"model {name!r}: normalize must be true or false")
        return cls(name, path, output, pooling, normalize)


class LoadedModel:
    def __init__(self, spec: ModelSpec, session: InferenceSession, output_name: str, dim: int,
                 provider: str, providers_tried: List[Dict[str, Any]], load_ms: float,
                 wide_session: Optional[InferenceSession] = None, weights: Optional[Weights] = None,
                 threads: Optional[Dict[str, int]] = None,
                 open_wide: Optional[Callable[[], InferenceSession]] = None,
                 warn: Callable[[str], None] = lambda message: None) -> None:
        self.spec = spec
        self.session = session
        self.wide_session = wide_session
        self._open_wide = open_wide if wide_session is None else None  # a wide session to open later (open_wide)
        self._wide_failed = False
        self._warn = warn
        self.weights = weights
        self.threads = threads or {}
        self._used: Dict[str, InferenceSession] = {}  # sessions that ran since memory was last released
        self.last_threads = self.threads.get("narrow", 0)  # intra-op threads of the session that ran last
        self.output_name = output_name
        self.dim = dim
        self.provider = provider
        self.providers_tried = providers_tried
        self.load_ms = load_ms
        # Resident memory the load added (set by the server, which can measure it): what this model costs.
        self.rss_delta_bytes = 0

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> Dict[str, Any]:
        """The model entry of ``ready`` / ``loaded``."""
        return {"name": self.name, "dim": self.dim, "provider": self.provider,
                "providers_tried": self.providers_tried,
                "inputs": list(self.session.input_names), "outputs": list(self.session.output_names),
                "output": self.output_name, "pooling": self.spec.pooling,
                "normalize": self.spec.normalize, "load_ms": self.load_ms,
                "rss_delta_bytes": self.rss_delta_bytes, "threads": self.threads,
                "weights_shared": self.weights is not None}

    def session_for(self, width: str) -> InferenceSession:
        """The wide session where there is one (CPU, more cores than a lane's share), else the narrow one (also while
        the wide one is still opening)."""
        wide = self.wide_session
        return wide if width == "wide" and wide is not None else self.session

    @property
    def wide_pending(self) -> bool:
        """A wide session is planned (``threads`` says so) but not open yet: not started, or still opening."""
        return self._open_wide is not None and self.wide_session is None and not self._wide_failed

    def open_wide(self) -> None:
        """Opens the deferred wide session (``load_model(wide_later=True)``) on the calling thread; a failure is
        logged and leaves the narrow session serving every batch. Called by the bridge's idle opener thread: ONNX
        Runtime releases the GIL (ctypes calls) while it builds the session, so the narrow one keeps serving."""
        if self._open_wide is None or self.wide_session is not None or self._wide_failed:
            return
        try:
            wide = self._open_wide()
        except Exception as e:  # the narrow session serves every batch; a lone one is only slower
            self._wide_failed = True
            self._warn(f"wide session not opened, lone batches run narrow: {type(e).__name__}: {e}")
            return
        self.wide_session = wide
        if self.weights is not None:
            self.weights.drop_resident_pages()  # the wide session has repacked what it needs too

    def feeds(self, ids: np.ndarray, lengths: np.ndarray) -> Dict[str, np.ndarray]:
        """Only the inputs the model declares: a model without token_type_ids
        rejects an extra input."""
        declared = self.session.input_names
        feeds: Dict[str, np.ndarray] = {}
        if "input_ids" in declared:
            feeds["input_ids"] = ids
        if "attention_mask" in declared:
            feeds["attention_mask"] = length_mask(lengths, ids.shape[1]).astype(np.int64)
        if "token_type_ids" in declared:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return feeds

    def hidden_states(self, ids: np.ndarray, lengths: np.ndarray, width: str = "narrow",
                      shrink_arena: bool = False) -> np.ndarray:
        session = self.session_for(width)
        ran = "wide" if session is not self.session else "narrow"
        self._used[ran] = session
        self.last_threads = self.threads.get(ran, 0)
        hidden = session.run(self.output_name, self.feeds(ids, lengths), shrink_arena)
        if hidden.ndim != 3 or hidden.shape[:2] != ids.shape:
            raise RuntimeError(f"output {self.output_name!r} has shape {list(hidden.shape)}, "
                               f"expected [{ids.shape[0]}, {ids.shape[1]}, dim]")
        return hidden

    def embed(self, ids: np.ndarray, lengths: np.ndarray, width: str = "narrow") -> "tuple[np.ndarray, Dict[str, float]]":
        t0 = time.perf_counter_ns()
        hidden = self.hidden_states(ids, lengths, width)
        t1 = time.perf_counter_ns()
        vectors = pool(hidden, lengths, self.spec.pooling, self.spec.normalize)
        t2 = time.perf_counter_ns()
        return vectors, {"inference_ms": _ms(t0, t1), "pooling_ms": _ms(t1, t2)}

    def release_memory(self) -> bool:
        """Gives back what the last burst left behind: each session that ran frees its arena's unused regions (a
        probe run with the shrink option: ORT shrinks arenas only at the end of a run) and the shared weights' pages go
        back to the page cache. Returns whether anything ran since the last release."""
        if not self._used:
            return False
        used, self._used = list(self._used.items()), {}
        probe = np.zeros((1, 2), dtype=np.int64)
        for width, session in used:
            session.run(self.output_name, self.feeds(probe, np.array([2], dtype=np.int64)), shrink_arena=True)
        if self.weights is not None:
            self.weights.drop_resident_pages()
        return True

    def close(self) -> None:
        if self.wide_session is not None:
            self.wide_session.close()
        self.session.close()
        if self.weights is not None:
            self.weights.close()  # after the sessions that borrowed them


def _share(runtime: Runtime, path: str, warn: Callable[[str], None]) -> Optional[Weights]:
    try:
        return runtime.share_weights(path)
    except Exception as e:  # sharing saves memory; a model it cannot read still loads, each session with its own copy
        warn(f"weights of {path} are not shared between sessions: {type(e).__name__}: {e}")
        return None


def load_model(runtime: Runtime, spec: ModelSpec, settings: SessionSettings, providers: Sequence[Any],
               platform: str = sys.platform, wide_threads: int = 0, wide_spinning: bool = False,
               warn: Callable[[str], None] = lambda message: None, wide_later: bool = False) -> LoadedModel:
    """Opens the model's narrow session on the first provider that works and, on CPU when ``wide_threads`` is more
    than the narrow session's threads, a wide session sharing its weights: before returning, or with ``wide_later``
    when the caller says (``LoadedModel.open_wide``), so the load returns once the narrow session can serve."""
    if not os.path.isfile(spec.path):
        raise FileNotFoundError(f"model {spec.name!r}: {spec.path} does not exist")
    start = time.perf_counter_ns()
    wants_wide = wide_threads > max(1, settings.intra_op_threads)
    weights = _share(runtime, spec.path, warn) if wants_wide else None
    chosen: Dict[str, Any] = {}

    def verify(session: InferenceSession) -> int:
        """Checks inputs/outputs and runs a tiny probe: it finds the embedding
        dimension without trusting static shape metadata, and it catches a
        provider that opens a session but cannot execute it."""
        missing = [n for n in session.input_names if n not in FEEDABLE_INPUTS]
        if missing:
            raise ValueError(f"model inputs {missing} cannot be fed; the bridge feeds {list(FEEDABLE_INPUTS)}")
        if "input_ids" not in session.input_names:
            raise ValueError(f"model has no input_ids input (inputs: {session.input_names})")
        output = spec.output or (session.output_names[0] if session.output_names else None)
        if output not in session.output_names:
            raise ValueError(f"model has no output {output!r} (outputs: {session.output_names})")
        probe = LoadedModel(spec, session, output, 0, "", [], 0.0)
        ids = np.zeros((1, 2), dtype=np.int64)  # id 0 ([PAD]) exists in every vocabulary
        hidden = probe.hidden_states(ids, np.array([2], dtype=np.int64))
        chosen["output"] = output
        return int(hidden.shape[2])

    try:
        session, provider, dim, tried = open_session(runtime, spec.path, providers, settings, verify, platform, weights)
        wide = None
        open_wide: Optional[Callable[[], InferenceSession]] = None
        threads = {"narrow": settings.intra_op_threads}
        if wants_wide and provider == "CPU":
            wide_settings = dataclasses.replace(settings, intra_op_threads=wide_threads, allow_spinning=wide_spinning)

            def open_wide() -> InferenceSession:
                return runtime.create_session(spec.path, provider, wide_settings, weights)

            if not wide_later:
                wide = open_wide()
            threads["wide"] = wide_threads
        elif weights is not None:
            weights.close()  # a GPU session needs no second session, so nothing to share
            weights = None
    except BaseException:
        if weights is not None:
            weights.close()
        raise
    if weights is not None:
        weights.drop_resident_pages()  # the sessions have repacked what they need; the rest faults back on use
    return LoadedModel(spec, session, chosen["output"], dim, provider, tried,
                       _ms(start, time.perf_counter_ns()), wide, weights, threads, open_wide, warn)
