"""How long one short batch takes in the bridge's runtime after the process sat idle, narrow (1 intra-op thread)
against wide (2), spinning off as the worker runs them. Explains the lone-request row of docs/benchmarks-path.md:
its floor ("one all-core inference in process") is timed back to back, while a lone request reaches a bridge that
has been idle for the path's few milliseconds.

    /usr/bin/python3 bench/probes/lone_after_idle.py [IDLE_SECONDS] [--busy]

IDLE_SECONDS before each run (default 0.05; 0 = back to back); --busy waits by spinning instead of sleeping, which
separates the cost of a sleeping core waking (scheduler, frequency) from caches gone cold. Numbers only.
Measured 2026-12-03 on the Intel Xeon VM (2 cores), 1 text of 12 tokens, medians of 30: back to back narrow 5.04 /
wide 3.63 ms; after 50 ms asleep 6.89 / 7.00; after 50 ms spinning 6.07 / 4.72.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import numpy as np  # noqa: E402
from akidb_bridge_core.runtime import SessionSettings, select_runtime  # noqa: E402

LIBRARY = os.environ.get("AKIDB_ORT_LIBRARY", os.path.expanduser(
    "~/.nuget/packages/microsoft.ml.onnxruntime/1.31.1/runtimes/linux-x64/native/libonnxruntime.so"))
MODEL = os.environ.get("AKIDB_MODEL", os.path.expanduser(
    "~/.cache/akidb-queue/models/all-MiniLM-L6-v2/8d0f27ff5d64/model.onnx"))


def feeds(rows, tokens):
    ids = np.full((rows, tokens), 1000, dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    return {"input_ids": ids, "attention_mask": np.ones((rows, tokens), dtype=np.int64),
            "token_type_ids": np.zeros((rows, tokens), dtype=np.int64)}


def wait(seconds, busy):
    if not busy:
        time.sleep(seconds)
        return
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    idle, busy = (float(args[0]) if args else 0.05), "--busy" in sys.argv
    runtime = select_runtime("ctypes", LIBRARY, "warning")
    sessions = {threads: runtime.create_session(MODEL, "CPUExecutionProvider", SessionSettings(
        intra_op_threads=threads, inter_op_threads=1, log_level="warning", allow_spinning=False)) for threads in (1, 2)}
    for shape in [(1, 12), (1, 24), (2, 16), (4, 16), (8, 16), (2, 64)]:
        batch, times = feeds(*shape), {1: [], 2: []}
        for session in sessions.values():
            session.run("last_hidden_state", batch)  # warm-up
        for _ in range(30):
            for threads, session in sessions.items():
                wait(idle, busy)
                start = time.perf_counter()
                session.run("last_hidden_state", batch)
                times[threads].append((time.perf_counter() - start) * 1000)
        print(f"{shape[0]}x{shape[1]} tokens: narrow {statistics.median(times[1]):.2f} ms, wide {statistics.median(times[2]):.2f} ms"
              f" (medians of 30, {idle * 1000:.0f} ms {'spinning' if busy else 'asleep'} before each)")


if __name__ == "__main__":
    main()
