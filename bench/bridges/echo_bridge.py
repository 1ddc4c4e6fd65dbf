"""The real bridge with inference replaced by a fixed result: what the binary protocol itself costs.

Same channel set-up and ``BridgeServer`` (init, frame reader and writer, dispatch, trace context); only
``handle_embed`` is replaced: it checks batch/seq against the payload, decodes the ids into a numpy array as the real
bridge does, and answers with one fixed ``batch x 384`` float32 array. A round trip measures the pipes, the framing
and the decoding on both sides and nothing else. Run exactly like the real
bridge: ``python3 -I -B bench/bridges/echo_bridge.py`` (init may list no models).
"""

import os
import sys
import time

_STARTED = time.monotonic()
# -I ignores PYTHONPATH: the package is python/ next to this repository's bench/, or the copy the benchmark names.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.environ.get("AKIDB_BENCH_BRIDGE_CORE") or os.path.join(_HERE, os.pardir, os.pardir, "python")))

from akidb_bridge_core.channel import open_frame_channel  # noqa: E402

DIM = 384


def make_server_class():
    import numpy as np

    from akidb_bridge_core.server import BridgeServer, RequestError

    rng = np.random.default_rng(0)
    fixed = rng.standard_normal((4096, DIM)).astype("<f4")
    fixed /= np.linalg.norm(fixed, axis=1, keepdims=True)

    class EchoBridgeServer(BridgeServer):
        def handle_embed(self, header, payload):
            t0 = time.perf_counter_ns()
            batch, seq = header.get("batch"), header.get("seq")
            if not isinstance(batch, int) or not isinstance(seq, int) or not 1 <= batch <= self.MAX_BATCH \
                    or len(payload) != batch * seq * 8:
                raise RequestError("bad_request", "echo: batch/seq do not match the payload")
            # Decode the ids as the real bridge does, so both framings pay for reading their input.
            ids = np.frombuffer(payload, dtype="<i8").reshape(batch, seq)
            if ids.min() < 0:
                raise RequestError("bad_request", "token ids must not be negative")
            vectors = fixed[:batch]
            total = round((time.perf_counter_ns() - t0) / 1e6, 3)
            self.send({"type": "result", "id": header["id"], "batch": batch, "dim": DIM,
                       "timings": {"decode_ms": total, "inference_ms": 0.0, "pooling_ms": 0.0, "total_ms": total}},
                      vectors)

    return EchoBridgeServer


if __name__ == "__main__":
    _CHANNEL = open_frame_channel()
    from akidb_bridge_core.server import run_and_exit

    run_and_exit(make_server_class(), started=_STARTED, channel=_CHANNEL)
