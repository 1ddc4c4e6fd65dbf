"""Measures the layouts weighed for narrow and wide sessions, each in a fresh
process: resident memory of one session, of two sessions with their own
weights, of two sessions sharing them (AddInitializer + prepacked container),
and the latter after the weights' pages went back to the page cache; then a
burst of large batches with ONNX Runtime's arena on and off, and what an idle
release (arena shrink + malloc_trim) gives back.

    /usr/bin/python3 python/tools/sessions_memory.py [--model DIR/model.onnx] [--library libonnxruntime.so]

Numbers only (docs/architecture.md quotes them); nothing is asserted. Run it on
an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
DEFAULT_LIBRARY = os.path.expanduser(
    "~/.nuget/packages/microsoft.ml.onnxruntime/1.31.1/runtimes/linux-x64/native/libonnxruntime.so")
DEFAULT_MODEL = os.path.expanduser("~/.cache/akidb-queue/models/all-MiniLM-L6-v2")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(layout: str, library: str, model: str) -> dict:
    sys.path.insert(0, PYTHON_DIR)
    import numpy as np

    from akidb_bridge_core import heap
    from akidb_bridge_core.runtime import CtypesRuntime, SessionSettings

    runtime = CtypesRuntime(library, "warning")
    settings = SessionSettings(1, 1, "warning", allow_spinning=False)
    wide_settings = SessionSettings(2, 1, "warning", allow_spinning=False)
    base = rss_mib()
    weights = runtime.share_weights(model) if layout.startswith("shared") else None
    sessions = [runtime.create_session(model, "CPU", settings, weights)]
    if layout != "one":
        sessions.append(runtime.create_session(model, "CPU", wide_settings, weights))
    if layout == "shared, pages dropped" and weights is not None:
        weights.drop_resident_pages()
    heap.trim()
    ready = rss_mib()

    def feeds(rows: int, seq: int) -> dict:
        ids = np.random.default_rng(seq).integers(1000, 20000, (rows, seq)).astype(np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}

    result = {"layout": layout, "base_mib": round(base), "ready_mib": round(ready)}
    if layout == "one":
        started = time.perf_counter()
        for seq in (16, 64, 128, 256, 32, 200):
            sessions[0].run("last_hidden_state", feeds(16, seq))
        result["burst_s"] = round(time.perf_counter() - started, 2)
        result["after_burst_mib"] = round(rss_mib())
        sessions[0].run("last_hidden_state", feeds(1, 2), shrink_arena=True)
        heap.trim()
        result["after_release_mib"] = round(rss_mib())
    return result


def child_arena(arena: bool, library: str, model: str) -> dict:
    sys.path.insert(0, PYTHON_DIR)
    import numpy as np

    from akidb_bridge_core import ort_ctypes as oc

    lib = oc.OrtLibrary(library)
    env = oc.Env(lib, "warning")
    options = oc.SessionOptions(lib, 1, 1, "warning", {"session.intra_op.allow_spinning": "0"})
    if not arena:
        lib.check(lib.DisableCpuMemArena(options.handle))
    session = oc.Session(env, model, options)
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for seq in (16, 64, 128, 256, 32, 200) * 2:
        ids = rng.integers(1000, 20000, (16, seq)).astype(np.int64)
        session.run("last_hidden_state", {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                          "token_type_ids": np.zeros_like(ids)})
    return {"arena": arena, "burst_s": round(time.perf_counter() - started, 2), "after_burst_mib": round(rss_mib())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", default=os.environ.get("AKIDB_ORT_LIBRARY", DEFAULT_LIBRARY))
    parser.add_argument("--model", default=None, help="model.onnx (default: the extracted bundled MiniLM)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--arena", help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = args.model or next((os.path.join(root, "model.onnx") for root, _, files in os.walk(DEFAULT_MODEL)
                                if "model.onnx" in files), "")
    if args.child:
        print(json.dumps(child(args.child, args.library, model)))
        return 0
    if args.arena:
        print(json.dumps(child_arena(args.arena == "on", args.library, model)))
        return 0
    if not os.path.isfile(model):
        print(f"no model at {model!r}; pass --model", file=sys.stderr)
        return 2
    me = [sys.executable, os.path.abspath(__file__), "--library", args.library, "--model", model]
    for layout in ("one", "two, own weights", "shared", "shared, pages dropped"):
        print(subprocess.run(me + ["--child", layout], check=True, capture_output=True, text=True).stdout.strip())
    for _ in range(3):  # interleaved, so both see the same machine
        for arena in ("on", "off"):
            print(subprocess.run(me + ["--arena", arena], check=True, capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
