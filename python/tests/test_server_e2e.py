"""The real launcher as a subprocess (python3 -I -B python/akidb_bridge.py),
spoken to over its pipes exactly as the worker does."""

import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import unittest

import support
import tiny_onnx
from support import BridgeProcess, init_message

from akidb_bridge_core.protocol import ProtocolError, encode_frame

LIBRARY = support.ort_library()
MODEL = support.real_model()
HAVE_NUMPY = support.numpy_available()
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

if HAVE_NUMPY:
    import numpy as np


def official_package_importable() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except Exception:
        return False
    return True


def ids_payload(rows, seq=None):
    seq = seq or max(len(r) for r in rows)
    data = bytearray()
    for r in rows:
        data += struct.pack(f"<{seq}q", *(list(r) + [0] * (seq - len(r))))
    return bytes(data), seq


class BridgeTestCase(unittest.TestCase):
    def start(self, script=support.LAUNCHER, env=None):
        bridge = BridgeProcess(script, env)
        self.addCleanup(bridge.close)
        return bridge

    def assertExit(self, bridge, code):
        rc = bridge.wait()
        self.assertEqual(rc, code, f"exit code {rc}, expected {code}; stderr:\n{bridge.stderr()}")


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
class BeforeInitTests(BridgeTestCase):
    """Need neither ONNX Runtime nor a model."""

    def test_eof_before_init_exits_0(self):
        bridge = self.start()
        bridge.close_stdin()
        self.assertExit(bridge, 0)
        self.assertIsNone(bridge.read())

    def test_garbage_exits_4_without_writing_anything(self):
        bridge = self.start()
        bridge.send_raw(b"GET / HTTP/1.1\r\n\r\n")
        self.assertExit(bridge, 4)
        self.assertIsNone(bridge.read(), "nothing may be written to the frame channel")
        self.assertIn("protocol error", bridge.stderr())

    def test_init_failure_answers_init_failed_and_exits_3(self):
        bridge = self.start()
        header, _ = bridge.request(init_message([], "/nonexistent/libonnxruntime.so", runtime="ctypes"))
        self.assertEqual((header["type"], header["code"]), ("error", "init_failed"))
        self.assertIn("/nonexistent/libonnxruntime.so does not exist", header["message"])
        self.assertExit(bridge, 3)

    @unittest.skipIf(official_package_importable(), "the onnxruntime package is installed here")
    def test_auto_without_any_runtime_lists_what_was_tried(self):
        bridge = self.start()
        header, _ = bridge.request(init_message([], None, runtime="auto"))
        self.assertEqual(header["code"], "init_failed")
        self.assertIn("import onnxruntime", header["message"])
        self.assertIn("no ort_library", header["message"])
        self.assertExit(bridge, 3)

    def test_shutdown_before_init_exits_0(self):
        bridge = self.start()
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)

    def test_first_frame_must_be_init(self):
        bridge = self.start()
        header, _ = bridge.request({"type": "ping", "id": 1})
        self.assertEqual((header["code"], header["id"]), ("init_failed", 1))
        self.assertExit(bridge, 3)

    def test_wrong_protocol_version(self):
        bridge = self.start()
        header, _ = bridge.request(init_message([], LIBRARY, protocol=2))
        self.assertEqual(header["code"], "init_failed")
        self.assertIn("protocol 2", header["message"])
        self.assertExit(bridge, 3)


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
class TinyModelBridgeTests(BridgeTestCase):
    """The full protocol against a hand-made model with exactly known outputs."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.tiny = tiny_onnx.write_model(os.path.join(cls.tmp, "tiny.onnx"))
        cls.tiny5 = tiny_onnx.write_model(os.path.join(cls.tmp, "tiny5.onnx"), weights=(1, 1, 1, 1, 2))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def ready_bridge(self, script=support.LAUNCHER, env=None, **init_overrides):
        bridge = self.start(script, env)
        models = [{"name": "tiny", "path": self.tiny, "pooling": "mean", "normalize": False}]
        header, _ = bridge.request(init_message(models, LIBRARY, **init_overrides))
        self.assertEqual(header["type"], "ready", header)
        return bridge, header

    def embed(self, bridge, rows, request_id=1, **extra):
        payload, seq = ids_payload(rows)
        header = {"type": "embed", "id": request_id, "model": "tiny", "batch": len(rows), "seq": seq,
                  "lengths": [len(r) for r in rows], **extra}
        return bridge.request(header, payload)

    def assertAlive(self, bridge, request_id=99):
        header, _ = bridge.request({"type": "ping", "id": request_id})
        self.assertEqual((header["type"], header["id"]), ("pong", request_id))

    def test_ready_describes_runtime_and_model(self):
        bridge, ready = self.ready_bridge()
        self.assertEqual(ready["protocol"], 1)
        self.assertEqual(ready["pid"], bridge.proc.pid)
        self.assertEqual(ready["runtime"], "ctypes")
        self.assertRegex(ready["ort_version"], r"^\d+\.\d+")
        self.assertEqual(ready["python"], "%d.%d.%d" % sys.version_info[:3])
        self.assertEqual(ready["numpy"], np.__version__)
        self.assertGreater(ready["startup_ms"], 0)
        (model,) = ready["models"]
        self.assertEqual((model["name"], model["dim"], model["provider"]), ("tiny", 3, "CPU"))
        self.assertEqual(model["inputs"], ["input_ids", "attention_mask"])
        self.assertEqual(model["outputs"], ["last_hidden_state"])
        reasons = {t["name"]: t.get("reason") for t in model["providers_tried"]}
        if sys.platform != "darwin":
            self.assertEqual(reasons["CoreML"], "CoreML needs macOS")
        self.assertIn("CUDA", reasons)

    def test_embed_result_is_exact(self):
        bridge, _ = self.ready_bridge()
        header, payload = self.embed(bridge, [[5, 7], [2, 4, 6]], request_id=12)
        self.assertEqual({k: header[k] for k in ("type", "id", "batch", "dim")},
                         {"type": "result", "id": 12, "batch": 2, "dim": 3})
        self.assertEqual(set(header["timings"]), {"decode_ms", "inference_ms", "pooling_ms", "total_ms"})
        self.assertEqual(len(payload), 2 * 3 * 4)
        np.testing.assert_array_equal(np.frombuffer(payload, "<f4").reshape(2, 3), [[6, 12, 18], [4, 8, 12]])
        pong, _ = bridge.request({"type": "ping", "id": 13})
        self.assertEqual(pong["batches"], 1)
        self.assertGreater(pong["rss_bytes"], 10 * 1024 * 1024)
        self.assertGreater(pong["uptime_ms"], 0)
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)

    def test_bad_requests_get_errors_and_the_bridge_stays_up(self):
        bridge, _ = self.ready_bridge()
        payload, _ = ids_payload([[1, 2, 3]])
        base = {"type": "embed", "id": 5, "model": "tiny", "batch": 1, "seq": 3, "lengths": [3]}
        cases = [
            ("batch 0", {**base, "batch": 0, "lengths": []}, payload, "bad_request"),
            ("seq 0", {**base, "seq": 0}, payload, "bad_request"),
            ("lengths count", {**base, "lengths": [3, 3]}, payload, "bad_request"),
            ("length over seq", {**base, "lengths": [4]}, payload, "bad_request"),
            ("length 0", {**base, "lengths": [0]}, payload, "bad_request"),
            ("length not int", {**base, "lengths": [2.5]}, payload, "bad_request"),
            ("batch as bool", {**base, "batch": True}, payload, "bad_request"),
            ("payload short", base, payload[:-8], "bad_request"),
            ("payload long", base, payload + b"\0" * 8, "bad_request"),
            ("huge batch", {**base, "batch": 10 ** 9, "lengths": [3]}, payload, "bad_request"),
            ("negative id", base, struct.pack("<3q", 1, -2, 3), "bad_request"),
            ("unknown model", {**base, "model": "nope"}, payload, "unknown_model"),
            ("no model", {k: v for k, v in base.items() if k != "model"}, payload, "bad_request"),
            ("unknown type", {"type": "explode", "id": 5}, b"", "bad_request"),
            ("ping with payload", {"type": "ping", "id": 5}, b"xx", "bad_request"),
        ]
        for name, header, body, code in cases:
            with self.subTest(name):
                reply, _ = bridge.request(header, body)
                self.assertEqual((reply["type"], reply["id"], reply["code"]), ("error", 5, code), reply)
                self.assertTrue(reply["message"])
        reply, _ = bridge.request({**base, "id": "five"}, payload)
        self.assertEqual((reply["code"], reply["id"]), ("bad_request", None))
        for junk in (b"not json!", b"[1, 2]", b'{"id": 5}', b"[" * 60_000):  # the last one nests too deep
            bridge.send_raw(b"AKQB" + struct.pack("<II", len(junk), 0) + junk)
            reply = bridge.read().json()
            self.assertEqual((reply["type"], reply["code"]), ("error", "bad_request"), junk[:20])
        self.assertAlive(bridge)
        header, _ = self.embed(bridge, [[1, 2]], request_id=6)
        self.assertEqual(header["type"], "result")

    def test_lazy_load(self):
        bridge, _ = self.ready_bridge()
        spec = {"name": "five", "path": self.tiny5, "pooling": "cls", "normalize": False}
        header, _ = bridge.request({"type": "load", "id": 7, "model": spec})
        self.assertEqual((header["type"], header["id"], header["model"]["dim"]), ("loaded", 7, 5))
        again, _ = bridge.request({"type": "load", "id": 8, "model": spec})
        self.assertEqual(again["model"]["load_ms"], header["model"]["load_ms"], "a repeated load must not reload")
        payload, seq = ids_payload([[3, 9]])
        result, vectors = bridge.request({"type": "embed", "id": 9, "model": "five", "batch": 1, "seq": seq,
                                          "lengths": [2]}, payload)
        self.assertEqual(result["dim"], 5)
        np.testing.assert_array_equal(np.frombuffer(vectors, "<f4"), [3, 3, 3, 3, 6])
        missing, _ = bridge.request({"type": "load", "id": 10,
                                     "model": {"name": "gone", "path": os.path.join(self.tmp, "gone.onnx")}})
        self.assertEqual((missing["type"], missing["code"]), ("error", "load_failed"))
        clash, _ = bridge.request({"type": "load", "id": 11, "model": {**spec, "pooling": "mean"}})
        self.assertEqual(clash["code"], "bad_request")
        self.assertAlive(bridge)

    def test_garbage_after_init_exits_4(self):
        bridge, _ = self.ready_bridge()
        bridge.send_raw(b"\x00" * 64)
        self.assertExit(bridge, 4)

    def test_oversized_length_exits_4_without_reading_the_body(self):
        bridge, _ = self.ready_bridge(max_payload_bytes=1024)
        # Claims 2 KiB, over the negotiated 1 KiB; the body is never sent. A
        # bridge that tried to read it would block and the watchdog would fail us.
        bridge.send_raw(b"AKQB" + struct.pack("<II", 2, 2048) + b"{}")
        self.assertExit(bridge, 4)

    def test_truncated_frame_then_eof_exits_4(self):
        bridge, _ = self.ready_bridge()
        bridge.send_raw(encode_frame({"type": "ping", "id": 1})[:-2])
        bridge.close_stdin()
        self.assertExit(bridge, 4)

    def test_eof_exits_0(self):
        bridge, _ = self.ready_bridge()
        bridge.close_stdin()
        self.assertExit(bridge, 0)

    @unittest.skipUnless(os.path.isdir("/proc/self/fd"), "needs /proc to look at another process's fds")
    def test_fd1_points_at_stderr_inside_the_bridge(self):
        bridge, _ = self.ready_bridge()
        fd_dir = f"/proc/{bridge.proc.pid}/fd"
        self.assertEqual(os.readlink(f"{fd_dir}/1"), os.readlink(f"{fd_dir}/2"))
        stdout_pipe = os.readlink(f"/proc/self/fd/{bridge.proc.stdout.fileno()}")
        frame_fds = [fd for fd in os.listdir(fd_dir) if os.readlink(f"{fd_dir}/{fd}") == stdout_pipe]
        self.assertEqual(len(frame_fds), 1, "exactly one private descriptor carries the frames")
        self.assertNotIn(frame_fds[0], ("0", "1", "2"))

    def test_logs_are_json_lines_with_trace_context(self):
        bridge, _ = self.ready_bridge(log_level="debug")
        self.embed(bridge, [[1, 2]], traceparent=TRACEPARENT)
        self.embed(bridge, [[1, 2]], lengths=[5])  # rejected; logged without a trace
        bridge.close_stdin()
        self.assertExit(bridge, 0)
        records = []
        for line in bridge.stderr_lines():
            if line.startswith("{"):
                records.append(json.loads(line))
        loaded = [r for r in records if r["msg"].startswith("model tiny loaded")]
        self.assertEqual(len(loaded), 1)
        self.assertEqual(loaded[0]["provider"], "CPU")
        embedded = [r for r in records if r["msg"] == "embedded"]
        self.assertEqual(len(embedded), 1)
        self.assertEqual(embedded[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")
        self.assertEqual(embedded[0]["span_id"], "00f067aa0ba902b7")
        rejected = [r for r in records if r["msg"] == "request rejected"]
        self.assertEqual(len(rejected), 1)
        self.assertNotIn("trace_id", rejected[0])
        for r in records:
            self.assertEqual(set(r) >= {"ts", "level", "msg"}, True, r)

    def test_info_level_hides_debug_records(self):
        bridge, _ = self.ready_bridge(log_level="info")
        self.embed(bridge, [[1, 2]])
        bridge.close_stdin()
        self.assertExit(bridge, 0)
        self.assertNotIn('"msg":"embedded"', bridge.stderr())
        self.assertIn('"msg":"ready"', bridge.stderr())

    # ---------------------------------------------------------------- faults (tools/fault_bridge.py)

    def fault_bridge(self, faults):
        return self.ready_bridge(support.FAULT_LAUNCHER, {"AKIDB_BRIDGE_FAULTS": faults})[0]

    def test_stray_stdout_writes_do_not_corrupt_frames(self):
        bridge = self.fault_bridge("print=42")
        header, payload = self.embed(bridge, [[42, 1]])
        self.assertEqual(header["type"], "result")
        np.testing.assert_array_equal(np.frombuffer(payload, "<f4"), [21.5, 43, 64.5])
        self.assertAlive(bridge)
        bridge.close_stdin()
        self.assertExit(bridge, 0)
        self.assertIn("stray print() from inside the bridge", bridge.stderr())
        self.assertIn("stray write to fd 1 from inside the bridge", bridge.stderr())

    def test_exception_in_inference_answers_inference_failed(self):
        bridge = self.fault_bridge("raise=42")
        header, _ = self.embed(bridge, [[42]], request_id=3, traceparent=TRACEPARENT)
        self.assertEqual((header["type"], header["id"], header["code"]), ("error", 3, "inference_failed"))
        self.assertIn("injected inference failure", header["message"])
        self.assertAlive(bridge)
        failed = [json.loads(line) for line in bridge.stderr_lines() if '"request failed"' in line]
        self.assertEqual(failed[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")

    def test_sigkill_fault(self):
        bridge = self.fault_bridge("kill=42")
        self.embed(bridge, [[1]])
        payload, seq = ids_payload([[42]])
        bridge.send({"type": "embed", "id": 2, "model": "tiny", "batch": 1, "seq": seq, "lengths": [1]}, payload)
        self.assertIsNone(bridge.read())
        self.assertExit(bridge, -signal.SIGKILL)

    def test_exit_fault(self):
        bridge = self.fault_bridge("exit=42")
        payload, _ = ids_payload([[42]])
        bridge.send({"type": "embed", "id": 2, "model": "tiny", "batch": 1, "seq": 1, "lengths": [1]}, payload)
        self.assertIsNone(bridge.read())
        self.assertExit(bridge, 9)

    def test_fault_spec_is_validated(self):
        bridge = self.start(support.FAULT_LAUNCHER, {"AKIDB_BRIDGE_FAULTS": "explode=1"})
        self.assertNotEqual(bridge.wait(), 0)
        self.assertIn("bad AKIDB_BRIDGE_FAULTS entry", bridge.stderr())

    def test_garbage_fault_is_caught_by_the_client_reader(self):
        bridge = self.fault_bridge("garbage=42")
        payload, _ = ids_payload([[42]])
        bridge.send({"type": "embed", "id": 2, "model": "tiny", "batch": 1, "seq": 1, "lengths": [1]}, payload)
        with self.assertRaises(ProtocolError):
            bridge.read()

    def test_close_stdout_fault(self):
        bridge = self.fault_bridge("close_stdout=42")
        payload, _ = ids_payload([[42]])
        bridge.send({"type": "embed", "id": 2, "model": "tiny", "batch": 1, "seq": 1, "lengths": [1]}, payload)
        self.assertIsNone(bridge.read())
        bridge.close_stdin()
        self.assertExit(bridge, 0)


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
@unittest.skipUnless(MODEL, support.NO_MODEL)
class RealModelBridgeTests(BridgeTestCase):
    def test_minilm_end_to_end(self):
        bridge = self.start()
        models = [{"name": "all-MiniLM-L6-v2", "path": MODEL, "output": "last_hidden_state",
                   "pooling": "mean", "normalize": True}]
        ready, _ = bridge.request(init_message(models, LIBRARY, runtime="auto", intra_op_threads=2))
        self.assertEqual(ready["type"], "ready", ready)
        if not official_package_importable():
            self.assertEqual(ready["runtime"], "ctypes")
        (model,) = ready["models"]
        self.assertEqual((model["dim"], model["provider"]), (384, "CPU"))
        self.assertEqual(model["inputs"], ["input_ids", "attention_mask", "token_type_ids"])
        rows = [[101, 7592, 2088, 102], [101, 7592, 102], [101, 2088, 7592, 2088, 102]]
        payload, seq = ids_payload(rows, seq=9)
        header, body = bridge.request({"type": "embed", "id": 1, "model": "all-MiniLM-L6-v2", "batch": 3,
                                       "seq": seq, "lengths": [4, 3, 5], "traceparent": TRACEPARENT}, payload)
        self.assertEqual((header["type"], header["batch"], header["dim"]), ("result", 3, 384))
        vectors = np.frombuffer(body, "<f4").reshape(3, 384)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        single, body1 = bridge.request({"type": "embed", "id": 2, "model": "all-MiniLM-L6-v2", "batch": 1,
                                        "seq": 4, "lengths": [4]}, ids_payload([rows[0]])[0])
        np.testing.assert_allclose(np.frombuffer(body1, "<f4"), vectors[0], atol=1e-5)
        bad, _ = bridge.request({"type": "embed", "id": 3, "model": "all-MiniLM-L6-v2", "batch": 1, "seq": 3,
                                 "lengths": [3]}, struct.pack("<3q", 101, 10 ** 9, 102))
        self.assertEqual((bad["type"], bad["code"]), ("error", "inference_failed"))
        pong, _ = bridge.request({"type": "ping", "id": 4})
        self.assertEqual(pong["batches"], 2)
        bridge.send({"type": "shutdown"})
        self.assertExit(bridge, 0)


if __name__ == "__main__":
    unittest.main()
