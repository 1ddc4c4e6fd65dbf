"""The bridge with JSON-lines framing, as in the original design: kept only in the benchmark.

Same ONNX Runtime selection, model loading, provider probing and pooling as the real bridge (it imports
python/akidb_bridge_core); the only difference is the framing. One JSON object per line each way:

    -> {"type":"init", ...the binary protocol's init fields...}
    <- {"type":"ready","pid":N,"runtime":"ctypes","ort_version":"1.31.1","models":[...]}
    -> {"type":"embed","id":7,"model":"all-MiniLM-L6-v2","ids":[[101,2023,102],[101,102]]}
    <- {"type":"result","id":7,"embeddings":[[0.0123,...],[...]],"timings":{...}}
    -> {"type":"shutdown"}            (or EOF on stdin)

Token ids go in as JSON lists (one list per text, unpadded), vectors come back as JSON lists of floats.
``--echo`` answers every embed with a fixed ``batch x 384`` result and runs no model: the JSON framing's own
round-trip cost, to compare with bench/bridges/echo_bridge.py. Run like the real bridge:
``python3 -I -B bench/bridges/json_bridge.py [--echo]``.
"""

import json
import os
import sys
import time

_STARTED = time.monotonic()
# -I ignores PYTHONPATH: the package is python/ next to this repository's bench/, or the copy the benchmark names.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.environ.get("AKIDB_BENCH_BRIDGE_CORE") or os.path.join(_HERE, os.pardir, os.pardir, "python")))

from akidb_bridge_core.channel import open_frame_channel  # noqa: E402

DIM = 384


def write_line(fd: int, obj) -> None:
    data = memoryview((json.dumps(obj, separators=(",", ":")) + "\n").encode("utf-8"))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def serve(stdin, out_fd: int, echo: bool) -> int:
    import platform

    import numpy as np

    from akidb_bridge_core.logs import Logger
    from akidb_bridge_core.models import ModelSpec, load_model
    from akidb_bridge_core.runtime import SessionSettings, select_runtime

    log = Logger()
    models = {}
    rng = np.random.default_rng(0)
    fixed = rng.standard_normal((4096, DIM)).astype(np.float32)
    fixed /= np.linalg.norm(fixed, axis=1, keepdims=True)

    for line in stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        kind = msg.get("type")
        if kind == "shutdown":
            return 0
        try:
            if kind == "init":
                log.set_level(msg.get("log_level", "info"))
                settings = SessionSettings(msg.get("intra_op_threads", 0), msg.get("inter_op_threads", 0), log.level)
                runtime = select_runtime(msg.get("runtime", "auto"), msg.get("ort_library"), log.level)
                for spec in (ModelSpec.from_json(m) for m in msg.get("models", [])):
                    models[spec.name] = load_model(runtime, spec, settings, msg.get("providers", ["CPU"]))
                write_line(out_fd, {"type": "ready", "protocol": "json-lines", "pid": os.getpid(),
                                    "python": platform.python_version(), "numpy": np.__version__,
                                    "runtime": runtime.name, "ort_version": runtime.version, "echo": echo,
                                    "startup_ms": round((time.monotonic() - _STARTED) * 1000, 1),
                                    "models": [{"name": m.name, "dim": m.dim, "provider": m.provider} for m in models.values()]})
            elif kind == "embed":
                t0 = time.perf_counter_ns()
                rows = msg["ids"]
                lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
                ids = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
                for i, row in enumerate(rows):
                    ids[i, :len(row)] = row
                t1 = time.perf_counter_ns()
                if echo:
                    vectors, timings = fixed[:len(rows)], {"inference_ms": 0.0, "pooling_ms": 0.0}
                else:
                    vectors, timings = models[msg["model"]].embed(ids, lengths)
                embeddings = vectors.tolist()
                timings = {"decode_ms": round((t1 - t0) / 1e6, 3), **timings,
                           "total_ms": round((time.perf_counter_ns() - t0) / 1e6, 3)}
                write_line(out_fd, {"type": "result", "id": msg.get("id"), "embeddings": embeddings, "timings": timings})
            else:
                write_line(out_fd, {"type": "error", "id": msg.get("id"), "code": "bad_request",
                                    "message": f"unknown message type {kind!r}"})
        except Exception as e:  # the benchmark reports it; the bridge stays up like the real one
            log.error("request failed", error=f"{type(e).__name__}: {e}")
            write_line(out_fd, {"type": "error", "id": msg.get("id"), "code": "failed", "message": f"{type(e).__name__}: {e}"})
            if kind == "init":
                return 3
    return 0


if __name__ == "__main__":
    # The same stdout protection as the real bridge: lines go to a private duplicate of stdout, fd 1 to stderr.
    _STDIN, _OUT = open_frame_channel()
    _CODE = serve(_STDIN, _OUT, echo="--echo" in sys.argv[1:])
    sys.stderr.flush()
    os._exit(_CODE)
