"""Measures the bridge the way the worker sees it: spawn to ready, RSS after
loading, and embed round trips, from a client on the other end of the pipes.

    /usr/bin/python3 python/tools/measure.py [--model DIR/model.onnx] [--library libonnxruntime.so]

Numbers only; nothing is asserted. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
sys.path.insert(0, PYTHON_DIR)

from akidb_bridge_core.protocol import FrameReader, encode_frame  # noqa: E402

DEFAULT_LIBRARY = os.path.expanduser(
    "~/.nuget/packages/microsoft.ml.onnxruntime/1.31.1/runtimes/linux-x64/native/libonnxruntime.so")
DEFAULT_MODEL = "/tmp/akidb-models/all-MiniLM-L6-v2/model.onnx"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", default=os.environ.get("AKIDB_ORT_LIBRARY", DEFAULT_LIBRARY))
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--runtime", default="ctypes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--starts", type=int, default=3, help="bridge start-ups to time")
    parser.add_argument("--runs", type=int, default=15, help="embed round trips per shape")
    parser.add_argument("--shapes", default="32x16,32x128", help="batch x seq list")
    args = parser.parse_args()

    init = {"type": "init", "protocol": 1, "runtime": args.runtime, "ort_library": args.library,
            "providers": ["CoreML", "CUDA", "CPU"], "intra_op_threads": args.threads, "inter_op_threads": 1,
            "max_payload_bytes": 64 * 1024 * 1024, "log_level": "warning",
            "models": [{"name": "m", "path": args.model, "output": "last_hidden_state", "pooling": "mean",
                        "normalize": True}]}
    launcher = os.path.join(PYTHON_DIR, "akidb_bridge.py")

    spawn_ms, reported_ms = [], []
    for attempt in range(args.starts):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-I", "-B", launcher], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdin.write(encode_frame(init))
        proc.stdin.flush()
        reader = FrameReader(proc.stdout)
        ready = reader.read_frame().json()
        spawn_ms.append((time.perf_counter() - t0) * 1000)
        if ready["type"] != "ready":
            print(ready, file=sys.stderr)
            return 1
        reported_ms.append(ready["startup_ms"])
        if attempt < args.starts - 1:
            proc.stdin.close()
            proc.wait()

    model = ready["models"][0]
    print(f"runtime={ready['runtime']} ort={ready['ort_version']} provider={model['provider']} "
          f"python={ready['python']} numpy={ready['numpy']} threads={args.threads}")
    print(f"start-up to ready, spawn measured by client: median {statistics.median(spawn_ms):.0f} ms "
          f"(runs: {', '.join(f'{v:.0f}' for v in spawn_ms)})")
    print(f"start-up reported by bridge (launcher start -> ready): median {statistics.median(reported_ms):.0f} ms;"
          f" model load_ms {model['load_ms']:.0f}")

    request_id = 0

    def call(header, payload=b""):
        nonlocal request_id
        request_id += 1
        header = {**header, "id": request_id}
        proc.stdin.write(encode_frame(header, payload))
        proc.stdin.flush()
        frame = reader.read_frame()
        return frame.json(), frame.payload

    pong, _ = call({"type": "ping"})
    print(f"RSS after loading: {pong['rss_bytes'] / 2**20:.1f} MiB")

    import numpy as np

    rng = np.random.default_rng(0)
    for shape in args.shapes.split(","):
        batch, seq = (int(v) for v in shape.split("x"))
        ids = rng.integers(1000, 29000, size=(batch, seq), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102
        header = {"type": "embed", "model": "m", "batch": batch, "seq": seq, "lengths": [seq] * batch}
        payload = ids.astype("<i8").tobytes()
        call(header, payload)  # warm-up: first-run allocations for this shape
        round_trip, inside = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result, vectors = call(header, payload)
            round_trip.append((time.perf_counter() - t0) * 1000)
            inside.append(result["timings"]["total_ms"])
            assert result["type"] == "result" and len(vectors) == batch * 384 * 4, result
        rt, ins = statistics.median(round_trip), statistics.median(inside)
        print(f"embed {batch}x{seq}: round trip median {rt:.1f} ms (min {min(round_trip):.1f}), "
              f"bridge total_ms median {ins:.1f} ms, overhead {rt - ins:.2f} ms, "
              f"{batch / rt * 1000:.0f} sentences/s")
    pong, _ = call({"type": "ping"})
    print(f"RSS after the embeds: {pong['rss_bytes'] / 2**20:.1f} MiB")
    proc.stdin.close()
    print(f"exit code on EOF: {proc.wait()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
