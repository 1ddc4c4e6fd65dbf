"""The ctypes binding and model loading against the real libonnxruntime:
hand-made tiny models for exact answers, and MiniLM for the real thing."""

import os
import shutil
import tempfile
import unittest
from unittest import mock

import support
import tiny_onnx

LIBRARY = support.ort_library()
MODEL = support.real_model()
HAVE_NUMPY = support.numpy_available()

if HAVE_NUMPY:
    import numpy as np

    from akidb_bridge_core import ort_ctypes
    from akidb_bridge_core.models import ModelSpec, load_model
    from akidb_bridge_core.runtime import CtypesRuntime, SessionSettings

_RUNTIME = None


def runtime():
    """One runtime (library + Env) for the whole module, as in the bridge."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = CtypesRuntime(LIBRARY, "warning")
    return _RUNTIME


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
class BindingTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.tiny = tiny_onnx.write_model(os.path.join(cls.tmp, "tiny.onnx"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def session(self, path=None, threads=1):
        rt = runtime()
        options = ort_ctypes.SessionOptions(rt.library, threads, 1)
        try:
            session = ort_ctypes.Session(rt.env, path or self.tiny, options)
        finally:
            options.close()
        self.addCleanup(session.close)
        return session

    def test_library_reports_version_and_cpu(self):
        lib = runtime().library
        self.assertRegex(lib.version, r"^\d+\.\d+")
        self.assertIn("CPUExecutionProvider", lib.available_providers())

    def test_too_old_library_is_refused_clearly(self):
        with mock.patch.object(ort_ctypes, "API_VERSION", 10_000):
            with self.assertRaisesRegex(ort_ctypes.OrtError, "does not provide C API version 10000"):
                ort_ctypes.OrtLibrary(LIBRARY)

    def test_names_and_exact_output(self):
        session = self.session()
        self.assertEqual(session.input_names, ["input_ids", "attention_mask"])
        self.assertEqual(session.output_names, ["last_hidden_state"])
        ids = np.array([[5, 7, 9]], dtype=np.int64)
        out = session.run("last_hidden_state", {"input_ids": ids, "attention_mask": np.array([[1, 1, 0]])})
        np.testing.assert_array_equal(out, [[[5, 10, 15], [7, 14, 21], [0, 0, 0]]])
        self.assertEqual(out.dtype, np.float32)
        self.assertTrue(out.flags.owndata and out.flags.writeable, "output must be copied out of ORT memory")
        again = session.run("last_hidden_state", {"input_ids": ids * 2, "attention_mask": np.ones_like(ids)})
        np.testing.assert_array_equal(out[0, 0], [5, 10, 15])  # unaffected by the next run
        np.testing.assert_array_equal(again[0, 2], [18, 36, 54])

    def test_session_config_entries_reach_onnx_runtime(self):
        rt = runtime()
        quiet = ort_ctypes.SessionOptions(rt.library, 2, 1, config={"session.intra_op.allow_spinning": "0"})
        self.addCleanup(quiet.close)
        session = ort_ctypes.Session(rt.env, self.tiny, quiet)
        self.addCleanup(session.close)
        ids = np.array([[1, 2]], dtype=np.int64)
        self.assertEqual(session.run("last_hidden_state", {"input_ids": ids, "attention_mask": np.ones_like(ids)}).shape, (1, 2, 3))

    def test_ort_errors_carry_the_message(self):
        session = self.session()
        ids = np.ones((1, 2), dtype=np.int64)
        with self.assertRaisesRegex(ort_ctypes.OrtError, "nope"):
            session.run("nope", {"input_ids": ids, "attention_mask": ids})
        with self.assertRaises(ort_ctypes.OrtError):  # missing a required input
            session.run("last_hidden_state", {"input_ids": ids})
        with self.assertRaisesRegex(ort_ctypes.OrtError, "missing.onnx"):
            self.session(os.path.join(self.tmp, "missing.onnx"))

    def test_unavailable_providers_fail_with_a_reason(self):
        lib = runtime().library
        if "CUDAExecutionProvider" not in lib.available_providers():
            options = ort_ctypes.SessionOptions(lib)
            self.addCleanup(options.close)
            with self.assertRaisesRegex(ort_ctypes.OrtError, "CUDA"):
                options.append_cuda()


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
class TinyModelTests(unittest.TestCase):
    """load_model + LoadedModel.embed on models whose output is known exactly."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def load(self, name="tiny", pooling="mean", normalize=False, **model_kwargs):
        path = tiny_onnx.write_model(os.path.join(self.tmp, f"{name}.onnx"), **model_kwargs)
        model = load_model(runtime(), ModelSpec(name, path, None, pooling, normalize), SessionSettings(1, 1),
                           ["CoreML", "CUDA", "CPU"], platform="linux")
        self.addCleanup(model.close)
        return model

    def test_dim_provider_and_description(self):
        model = self.load(weights=(1, 2, 3, 4, 5))
        self.assertEqual(model.dim, 5)
        self.assertEqual(model.provider, "CPU")
        described = model.describe()
        self.assertEqual(described["output"], "last_hidden_state")
        self.assertEqual([t["name"] for t in described["providers_tried"]], ["CoreML", "CUDA", "CPU"])
        self.assertTrue(described["providers_tried"][-1]["ok"])

    def test_mean_pooling_end_to_end(self):
        model = self.load()
        ids = np.array([[5, 7, 9], [2, 4, 6]], dtype=np.int64)
        vectors, timings = model.embed(ids, np.array([2, 3]))
        np.testing.assert_array_equal(vectors, [[6, 12, 18], [4, 8, 12]])
        self.assertEqual(set(timings), {"inference_ms", "pooling_ms"})

    def test_cls_and_normalize(self):
        model = self.load(pooling="cls", normalize=True, weights=(3, 4))
        vectors, _ = model.embed(np.array([[2, 100]], dtype=np.int64), np.array([2]))
        np.testing.assert_allclose(vectors, [[0.6, 0.8]], rtol=1e-6)

    def test_model_without_attention_mask_gets_only_input_ids(self):
        model = self.load(with_mask=False)
        self.assertEqual(set(model.feeds(np.ones((1, 2), np.int64), np.array([2]))), {"input_ids"})
        vectors, _ = model.embed(np.array([[4, 8, 99]], dtype=np.int64), np.array([2]))
        np.testing.assert_array_equal(vectors, [[6, 12, 18]])  # position 2 is masked by pooling alone

    def test_undeclared_inputs_are_not_fed(self):
        model = self.load()
        self.assertNotIn("token_type_ids", model.feeds(np.ones((1, 2), np.int64), np.array([2])))

    def test_unfeedable_input_fails_the_load_clearly(self):
        with self.assertRaisesRegex(Exception, "position_ids.*cannot be fed"):
            self.load(extra_input="position_ids")

    def test_missing_output_fails_the_load(self):
        path = tiny_onnx.write_model(os.path.join(self.tmp, "t.onnx"))
        with self.assertRaisesRegex(Exception, "no output 'pooled'"):
            load_model(runtime(), ModelSpec("t", path, "pooled"), SessionSettings(), ["CPU"])

    def test_missing_file_fails_the_load(self):
        with self.assertRaisesRegex(FileNotFoundError, "does not exist"):
            load_model(runtime(), ModelSpec("x", os.path.join(self.tmp, "nope.onnx")), SessionSettings(), ["CPU"])


def hand_ids(vocab_path, text):
    """Whole-word lookup in vocab.txt: enough for simple lower-case sentences."""
    with open(vocab_path, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    return [vocab["[CLS]"]] + [vocab[w] for w in text.split()] + [vocab["[SEP]"]]


@unittest.skipUnless(HAVE_NUMPY, "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(LIBRARY, support.NO_LIBRARY)
@unittest.skipUnless(MODEL, support.NO_MODEL)
class RealModelTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        spec = ModelSpec("all-MiniLM-L6-v2", MODEL, "last_hidden_state", "mean", True)
        cls.model = load_model(runtime(), spec, SessionSettings(2, 1), ["CoreML", "CUDA", "CPU"])

    @classmethod
    def tearDownClass(cls):
        cls.model.close()

    def embed_rows(self, rows):
        seq = max(len(r) for r in rows)
        ids = np.zeros((len(rows), seq), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
        vectors, _ = self.model.embed(ids, np.array([len(r) for r in rows]))
        return vectors

    def test_hello_world(self):
        self.assertEqual(hand_ids(os.path.join(support.model_dir(), "vocab.txt"), "hello world"),
                         [101, 7592, 2088, 102])
        vector = self.embed_rows([[101, 7592, 2088, 102]])
        self.assertEqual(vector.shape, (1, 384))
        self.assertEqual(vector.dtype, np.float32)
        self.assertTrue(np.all(np.isfinite(vector)))
        self.assertAlmostEqual(float(np.linalg.norm(vector)), 1.0, places=5)
        self.assertGreater(float(np.abs(vector).max()), 0.01)

    def test_batch_shape_and_unit_norm(self):
        vectors = self.embed_rows([[101, 7592, 102], [101, 7592, 2088, 102], [101, 2088, 102]])
        self.assertEqual(vectors.shape, (3, 384))
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    def test_padded_batch_equals_unpadded_rows(self):
        rows = [[101, 7592, 102], [101, 7592, 2088, 2088, 7592, 2088, 102], [101, 2088, 7592, 102]]
        batched = self.embed_rows(rows)
        for i, row in enumerate(rows):
            alone = self.embed_rows([row])
            np.testing.assert_allclose(batched[i], alone[0], atol=1e-5, err_msg=f"row {i}")

    def test_similar_sentences_are_closer(self):
        vocab = os.path.join(support.model_dir(), "vocab.txt")
        a = hand_ids(vocab, "the cat sat on the mat")
        b = hand_ids(vocab, "a cat was sitting on a rug")
        c = hand_ids(vocab, "the stock market fell sharply today")
        va, vb, vc = self.embed_rows([a, b, c])
        self.assertGreater(float(va @ vb), float(va @ vc) + 0.2)

    def test_out_of_vocabulary_id_raises(self):
        with self.assertRaises(ort_ctypes.OrtError):
            self.model.embed(np.array([[101, 10 ** 9, 102]], dtype=np.int64), np.array([3]))


if __name__ == "__main__":
    unittest.main()
