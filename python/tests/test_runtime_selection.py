"""Runtime and execution-provider selection, with fakes standing in for ONNX Runtime."""

import os
import tempfile
import types
import unittest

import support

if support.numpy_available():
    import numpy as np

    from akidb_bridge_core.runtime import (NoProviderWorked, OfficialRuntime, RuntimeUnavailable, SessionSettings,
                                           open_session, provider_order, select_runtime)


class FakeSession:
    def __init__(self, provider):
        self.provider = provider
        self.input_names = ["input_ids"]
        self.output_names = ["last_hidden_state"]
        self.closed = False

    def run(self, output_name, feeds):
        return np.zeros((1, 1, 4), dtype=np.float32)

    def close(self):
        self.closed = True


class FakeRuntime:
    name = "fake"
    version = "0.0"

    def __init__(self, available, failing=()):
        self._available = available
        self._failing = set(failing)
        self.created = []

    def available_providers(self):
        return list(self._available)

    def create_session(self, path, provider, settings, weights=None):
        self.created.append(provider)
        if provider in self._failing:
            raise RuntimeError(f"{provider} blew up")
        return FakeSession(provider)


def fake_onnxruntime(available, actual_providers=None):
    """A stand-in for the official module. ``actual_providers`` maps the first
    requested provider to what get_providers() then reports (to fake the
    package's silent CPU fallback)."""
    created = []

    class InferenceSession:
        def __init__(self, path, sess_options=None, providers=None):
            created.append({"path": path, "options": sess_options, "providers": providers})
            self._providers = (actual_providers or {}).get(providers[0], providers)

        def get_providers(self):
            return self._providers

        def get_inputs(self):
            return [types.SimpleNamespace(name="input_ids")]

        def get_outputs(self):
            return [types.SimpleNamespace(name="last_hidden_state")]

        def run(self, outputs, feeds, run_options=None):
            return [np.ones((1, 2, 3), dtype=np.float32)]

    class RunOptions:
        def __init__(self):
            self.config = {}

        def add_run_config_entry(self, key, value):
            self.config[key] = value

    class SessionOptions:
        def __init__(self):
            self.config = {}

        def add_session_config_entry(self, key, value):
            self.config[key] = value

    module = types.SimpleNamespace(
        __version__="1.99.0", get_available_providers=lambda: list(available),
        SessionOptions=SessionOptions, RunOptions=RunOptions,
        GraphOptimizationLevel=types.SimpleNamespace(ORT_ENABLE_ALL="ALL"),
        InferenceSession=InferenceSession, set_default_logger_severity=lambda level: None)
    module.created = created
    return module


def importer_for(module):
    def importer(name):
        if name != "onnxruntime":
            raise AssertionError(f"unexpected import of {name}")
        if module is None:
            raise ImportError("No module named 'onnxruntime'")
        return module
    return importer


def never_import(name):
    raise AssertionError("runtime=ctypes must not try the official package")


@unittest.skipUnless(support.numpy_available(), "numpy is not installed (use /usr/bin/python3)")
class RuntimeSelectionTests(unittest.TestCase):
    def setUp(self):
        handle = tempfile.NamedTemporaryFile(suffix=".so", delete=False)
        handle.close()
        self.library = handle.name
        self.addCleanup(os.unlink, self.library)
        self.ctypes_calls = []

    def ctypes_factory(self, path, log_level):
        self.ctypes_calls.append(path)
        return FakeRuntime(["CPUExecutionProvider"])

    def test_official_package_is_preferred_when_importable(self):
        runtime = select_runtime("auto", self.library, importer=importer_for(fake_onnxruntime([])),
                                 ctypes_factory=self.ctypes_factory)
        self.assertIsInstance(runtime, OfficialRuntime)
        self.assertEqual((runtime.name, runtime.version), ("onnxruntime", "1.99.0"))
        self.assertEqual(self.ctypes_calls, [])

    def test_ctypes_fallback_when_the_package_is_missing(self):
        runtime = select_runtime("auto", self.library, importer=importer_for(None),
                                 ctypes_factory=self.ctypes_factory)
        self.assertIsInstance(runtime, FakeRuntime)
        self.assertEqual(self.ctypes_calls, [self.library])

    def test_broken_package_also_falls_back(self):
        def broken(name):
            raise OSError("libcudart.so.12: cannot open shared object file")
        select_runtime("auto", self.library, importer=broken, ctypes_factory=self.ctypes_factory)
        self.assertEqual(self.ctypes_calls, [self.library])

    def test_nothing_usable_lists_what_was_tried(self):
        with self.assertRaises(RuntimeUnavailable) as caught:
            select_runtime("auto", "/nonexistent/libonnxruntime.so", importer=importer_for(None),
                           ctypes_factory=self.ctypes_factory)
        message = str(caught.exception)
        self.assertIn("import onnxruntime", message)
        self.assertIn("No module named 'onnxruntime'", message)
        self.assertIn("/nonexistent/libonnxruntime.so does not exist", message)
        with self.assertRaisesRegex(RuntimeUnavailable, "no ort_library"):
            select_runtime("auto", None, importer=importer_for(None), ctypes_factory=self.ctypes_factory)
        self.assertEqual(self.ctypes_calls, [])

    def test_explicit_ctypes_never_imports_the_package(self):
        runtime = select_runtime("ctypes", self.library, importer=never_import, ctypes_factory=self.ctypes_factory)
        self.assertIsInstance(runtime, FakeRuntime)

    def test_explicit_onnxruntime_does_not_fall_back(self):
        with self.assertRaisesRegex(RuntimeUnavailable, "import onnxruntime"):
            select_runtime("onnxruntime", self.library, importer=importer_for(None),
                           ctypes_factory=self.ctypes_factory)
        self.assertEqual(self.ctypes_calls, [])

    def test_unknown_runtime_kind(self):
        with self.assertRaisesRegex(RuntimeUnavailable, "auto, onnxruntime or ctypes"):
            select_runtime("tensorrt", self.library, importer=never_import, ctypes_factory=self.ctypes_factory)


@unittest.skipUnless(support.numpy_available(), "numpy is not installed (use /usr/bin/python3)")
class ProviderSelectionTests(unittest.TestCase):
    settings = None

    def setUp(self):
        self.settings = SessionSettings(2, 1, "info")

    def reasons(self, tried):
        return {t["name"]: t.get("reason") for t in tried}

    def test_cpu_only_build_on_linux(self):
        runtime = FakeRuntime(["CPUExecutionProvider"])
        session, provider, _, tried = open_session(runtime, "m.onnx", ["CoreML", "CUDA", "CPU"], self.settings,
                                                   platform="linux")
        self.assertEqual(provider, "CPU")
        self.assertEqual(session.provider, "CPU")
        self.assertEqual(runtime.created, ["CPU"], "skipped providers must not even be tried")
        self.assertEqual([t["name"] for t in tried], ["CoreML", "CUDA", "CPU"])
        self.assertEqual([t["ok"] for t in tried], [False, False, True])
        self.assertEqual(self.reasons(tried)["CoreML"], "CoreML needs macOS")
        self.assertIn("CUDAExecutionProvider is not available", self.reasons(tried)["CUDA"])

    def test_coreml_used_on_macos(self):
        runtime = FakeRuntime(["CoreMLExecutionProvider", "CPUExecutionProvider"])
        _, provider, _, tried = open_session(runtime, "m.onnx", ["CoreML", "CUDA", "CPU"], self.settings,
                                             platform="darwin")
        self.assertEqual(provider, "CoreML")
        self.assertEqual(tried, [{"name": "CoreML", "ok": True}])

    def test_coreml_skipped_on_macos_when_the_build_lacks_it(self):
        runtime = FakeRuntime(["CPUExecutionProvider"])
        _, provider, _, tried = open_session(runtime, "m.onnx", ["CoreML"], self.settings, platform="darwin")
        self.assertEqual(provider, "CPU")
        self.assertIn("CoreMLExecutionProvider is not available", self.reasons(tried)["CoreML"])

    def test_cuda_used_when_available(self):
        runtime = FakeRuntime(["CUDAExecutionProvider", "CPUExecutionProvider"])
        _, provider, _, _ = open_session(runtime, "m.onnx", ["CoreML", "CUDA", "CPU"], self.settings,
                                         platform="linux")
        self.assertEqual(provider, "CUDA")
        self.assertEqual(runtime.created, ["CUDA"])

    def test_cuda_session_failure_falls_back_with_the_reason(self):
        runtime = FakeRuntime(["CUDAExecutionProvider", "CPUExecutionProvider"], failing=["CUDA"])
        _, provider, _, tried = open_session(runtime, "m.onnx", ["CUDA", "CPU"], self.settings, platform="linux")
        self.assertEqual(provider, "CPU")
        self.assertEqual(runtime.created, ["CUDA", "CPU"])
        self.assertEqual(self.reasons(tried)["CUDA"], "RuntimeError: CUDA blew up")

    def test_failed_probe_falls_back_and_closes_the_session(self):
        runtime = FakeRuntime(["CUDAExecutionProvider", "CPUExecutionProvider"])
        sessions = []

        def verify(session):
            sessions.append(session)
            if session.provider == "CUDA":
                raise RuntimeError("CUBLAS_STATUS_NOT_INITIALIZED")
            return 4

        _, provider, dim, tried = open_session(runtime, "m.onnx", ["CUDA"], self.settings, verify, "linux")
        self.assertEqual((provider, dim), ("CPU", 4))
        self.assertTrue(sessions[0].closed)
        self.assertFalse(sessions[1].closed)
        self.assertIn("CUBLAS_STATUS_NOT_INITIALIZED", self.reasons(tried)["CUDA"])

    def test_cpu_is_appended_and_names_are_normalised(self):
        self.assertEqual(provider_order(["cuda", "CUDA", "coreml"]), ["CUDA", "CoreML", "CPU"])
        self.assertEqual(provider_order([]), ["CPU"])
        self.assertEqual(provider_order(["CPU", "CUDA"]), ["CPU", "CUDA"])

    def test_cpu_first_stops_there(self):
        runtime = FakeRuntime(["CUDAExecutionProvider", "CPUExecutionProvider"])
        _, provider, _, tried = open_session(runtime, "m.onnx", ["CPU", "CUDA"], self.settings, platform="linux")
        self.assertEqual((provider, len(tried)), ("CPU", 1))

    def test_unknown_provider_is_reported(self):
        runtime = FakeRuntime(["CPUExecutionProvider"])
        _, provider, _, tried = open_session(runtime, "m.onnx", ["TensorRT"], self.settings, platform="linux")
        self.assertEqual(provider, "CPU")
        self.assertIn("unknown provider", self.reasons(tried)["TensorRT"])

    def test_all_providers_failing_raises_with_every_reason(self):
        runtime = FakeRuntime(["CPUExecutionProvider"], failing=["CPU"])
        with self.assertRaises(NoProviderWorked) as caught:
            open_session(runtime, "m.onnx", ["CoreML", "CPU"], self.settings, platform="linux")
        self.assertIn("CoreML: CoreML needs macOS", str(caught.exception))
        self.assertIn("CPU: RuntimeError: CPU blew up", str(caught.exception))
        self.assertEqual(len(caught.exception.tried), 2)


@unittest.skipUnless(support.numpy_available(), "numpy is not installed (use /usr/bin/python3)")
class OfficialRuntimeTests(unittest.TestCase):
    def test_session_gets_provider_list_and_settings(self):
        module = fake_onnxruntime(["CUDAExecutionProvider", "CPUExecutionProvider"])
        runtime = OfficialRuntime(module)
        session = runtime.create_session("m.onnx", "CUDA", SessionSettings(3, 2, "info"))
        (call,) = module.created
        self.assertEqual(call["providers"], ["CUDAExecutionProvider", "CPUExecutionProvider"])
        self.assertEqual(call["options"].intra_op_num_threads, 3)
        self.assertEqual(call["options"].inter_op_num_threads, 2)
        self.assertEqual(call["options"].graph_optimization_level, "ALL")
        self.assertEqual(session.input_names, ["input_ids"])
        self.assertEqual(session.run("last_hidden_state", {}).shape, (1, 2, 3))

    def test_spinning_is_switched_through_session_config_entries(self):
        module = fake_onnxruntime(["CPUExecutionProvider"])
        runtime = OfficialRuntime(module)
        runtime.create_session("m.onnx", "CPU", SessionSettings(1, 1, "info", allow_spinning=False))
        runtime.create_session("m.onnx", "CPU", SessionSettings(1, 1, "info", allow_spinning=True))
        quiet, spinning = (c["options"].config for c in module.created)
        self.assertEqual(quiet, {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"})
        self.assertEqual(spinning["session.intra_op.allow_spinning"], "1")

    def test_silent_cpu_fallback_is_detected_and_reported(self):
        # CUDA is listed, but the session ends up on CPU (e.g. cuDNN missing):
        # the bridge must report CPU and say why CUDA was not used.
        module = fake_onnxruntime(["CUDAExecutionProvider", "CPUExecutionProvider"],
                                  actual_providers={"CUDAExecutionProvider": ["CPUExecutionProvider"]})
        runtime = OfficialRuntime(module)
        _, provider, _, tried = open_session(runtime, "m.onnx", ["CUDA", "CPU"], SessionSettings(),
                                             platform="linux")
        self.assertEqual(provider, "CPU")
        self.assertIn("instead of CUDAExecutionProvider", tried[0]["reason"])
        self.assertEqual([c["providers"] for c in module.created],
                         [["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]])


if __name__ == "__main__":
    unittest.main()
