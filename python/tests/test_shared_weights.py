"""Shared weights and the wide session: the scanner reads initializers exactly, a
narrow and a wide session give identical vectors, and an idle ping gives back
what a burst left allocated."""

import os
import struct
import tempfile
import time
import unittest

import support
from test_server_e2e import BridgeTestCase, ids_payload

HAVE_NUMPY = support.numpy_available()
LIBRARY = support.ort_library()
MODEL = support.real_model()

if HAVE_NUMPY:
    import numpy as np

    from akidb_bridge_core.weights import SharedWeights, WeightsFormatError
    import tiny_onnx


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
class ScannerTests(unittest.TestCase):
    def test_initializers_are_read_exactly(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = tiny_onnx.write_model(os.path.join(tmp, "m.onnx"), weights=(0.5, -2.0, 3.25, 7.0))
            weights = SharedWeights(path)
            found = {t.name: t for t in weights.initializers}
            self.assertEqual(sorted(found), ["axes", "weights"])
            self.assertEqual(found["weights"].dims, (1, 1, 4))
            np.testing.assert_array_equal(found["weights"].array.ravel(), np.array([0.5, -2.0, 3.25, 7.0], np.float32))
            self.assertEqual(found["axes"].array.tolist(), [2])
            self.assertEqual(weights.nbytes, 4 * 4 + 8)
            weights.drop_resident_pages()  # the views stay readable: the pages come back from the file
            self.assertEqual(float(found["weights"].array.ravel()[3]), 7.0)

    def test_a_scalar_stays_zero_dimensional(self):
        # A fused graph keeps scalars (Unsqueeze axes, quantisation constants) as initializers: as [1] they would change
        # the shape of what they feed (an Unsqueeze of a [1] axis made a Slice bound 2-D).
        graph = (tiny_onnx._bytes(5, tiny_onnx._tensor("scalar", 7, [], struct.pack("<q", 3)))
                 + tiny_onnx._bytes(5, tiny_onnx._tensor("vector", 7, [1], struct.pack("<q", 4))))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.onnx")
            with open(path, "wb") as f:
                f.write(tiny_onnx._bytes(7, graph))
            weights = SharedWeights(path)
            found = {t.name: t.array for t in weights.initializers}
            self.assertEqual((found["scalar"].shape, int(found["scalar"])), ((), 3))
            self.assertEqual((found["vector"].shape, found["vector"].tolist()), ((1,), [4]))
            weights.close()

    def test_truncated_file_is_a_format_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.onnx")
            data = tiny_onnx.tiny_embedding_model()
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            with self.assertRaises(WeightsFormatError):
                SharedWeights(path)


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
@unittest.skipUnless(MODEL, support.NO_MODEL)
class WideSessionTests(BridgeTestCase):
    MODELS = [{"name": "minilm", "path": MODEL, "output": "last_hidden_state", "pooling": "mean", "normalize": True}]

    def ready(self, **overrides):
        bridge = self.start()
        overrides.setdefault("wide_later", False)  # the wide session open when ready, so these tests know which ran
        ready, _ = bridge.request(support.init_message(self.MODELS, LIBRARY, log_level="warning", **overrides))
        self.assertEqual(ready["type"], "ready", ready)
        return bridge, ready["models"][0]

    def embed(self, bridge, rows, request_id, **extra):
        payload, seq = ids_payload(rows)
        header, body = bridge.request({"type": "embed", "id": request_id, "model": "minilm", "batch": len(rows),
                                       "seq": seq, "lengths": [len(r) for r in rows], **extra}, payload)
        self.assertEqual(header["type"], "result", header)
        return header, np.frombuffer(body, "<f4").reshape(len(rows), -1)

    def test_wide_and_narrow_sessions_give_identical_vectors(self):
        bridge, model = self.ready(intra_op_threads=1, wide_intra_op_threads=2)
        self.assertEqual(model["threads"], {"narrow": 1, "wide": 2})
        self.assertTrue(model["weights_shared"])
        rng = np.random.default_rng(7)
        for i, (rows, seq) in enumerate([(1, 12), (3, 40), (8, 128)]):
            batch = [[101] + rng.integers(1000, 20000, seq - 2).tolist() + [102] for _ in range(rows)]
            narrow_header, narrow = self.embed(bridge, batch, 10 * i + 1, width="narrow")
            wide_header, wide = self.embed(bridge, batch, 10 * i + 2, width="wide")
            self.assertEqual((narrow_header["threads"], wide_header["threads"]), (1, 2))
            np.testing.assert_allclose(wide, narrow, atol=1e-6, rtol=0)
        bad, _ = bridge.request({"type": "embed", "id": 99, "model": "minilm", "batch": 1, "seq": 2, "lengths": [2],
                                 "width": "x" * 500}, struct.pack("<2q", 101, 102))
        self.assertEqual((bad["type"], bad["code"]), ("error", "bad_request"))
        self.assertLess(len(bad["message"]), 200)
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)

    def test_a_wide_session_opened_after_ready_gives_the_same_vectors_and_says_which_session_ran(self):
        # The worker's way (wide_later: true): ready once the narrow session can serve; the wide one opens on a thread
        # when the bridge is idle (here at once), and until then a wide batch runs narrow and says so.
        bridge, model = self.ready(intra_op_threads=1, wide_intra_op_threads=2, wide_later=True, wide_after_idle_ms=0)
        self.assertEqual(model["threads"], {"narrow": 1, "wide": 2})
        batch = [[101, 7592, 2088, 2003, 102]]
        _, narrow = self.embed(bridge, batch, 1, width="narrow")
        header, wide = self.embed(bridge, batch, 2, width="wide")
        self.assertIn(header["threads"], (1, 2))
        np.testing.assert_allclose(wide, narrow, atol=1e-6, rtol=0)
        # Waiting on the bridge's own report, bounded: each pong says how many wide sessions are still to open.
        deadline = time.monotonic() + 60
        pong, _ = bridge.request({"type": "ping", "id": 3})
        while pong["wide_pending"] and time.monotonic() < deadline:
            pong, _ = bridge.request({"type": "ping", "id": 3})
        self.assertEqual(pong["wide_pending"], 0)
        header, wide = self.embed(bridge, batch, 4, width="wide")
        self.assertEqual(header["threads"], 2)
        np.testing.assert_allclose(wide, narrow, atol=1e-6, rtol=0)
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)

    def test_without_wide_threads_a_wide_request_runs_on_the_narrow_session(self):
        bridge, model = self.ready(intra_op_threads=1)
        self.assertEqual(model["threads"], {"narrow": 1})
        self.assertFalse(model["weights_shared"])
        header, _ = self.embed(bridge, [[101, 7592, 102]], 1, width="wide")
        self.assertEqual(header["threads"], 1)
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)

    @unittest.skipUnless(os.path.exists("/proc/self/statm"), "needs /proc for resident memory")
    def test_an_idle_ping_gives_back_what_a_burst_left_allocated(self):
        bridge, _ = self.ready(intra_op_threads=1, wide_intra_op_threads=2)
        rng = np.random.default_rng(3)
        batch = [[101] + rng.integers(1000, 20000, 254).tolist() + [102] for _ in range(16)]
        self.embed(bridge, batch, 1, width="narrow")
        self.embed(bridge, batch, 2, width="wide")
        after_burst, _ = bridge.request({"type": "ping", "id": 3})  # the first ping releases, and reports after it
        _, after_release_vectors = self.embed(bridge, batch[:1], 4, width="narrow")
        # The arena held the 16x256 batch's activations (over 100 MiB); shrunk and trimmed, far less stays.
        self.assertLess(after_burst["rss_bytes"], self.peak_rss(bridge) - 64 * 2**20)
        self.assertEqual(after_release_vectors.shape, (1, 384))
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)

    @staticmethod
    def peak_rss(bridge):
        with open(f"/proc/{bridge.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")


if __name__ == "__main__":
    unittest.main()
