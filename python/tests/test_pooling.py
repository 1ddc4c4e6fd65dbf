import unittest

import support

if support.numpy_available():
    import numpy as np

    from akidb_bridge_core.pooling import cls_pool, l2_normalize, length_mask, mean_pool, pool


@unittest.skipUnless(support.numpy_available(), "numpy is not installed (use /usr/bin/python3)")
class PoolingTests(unittest.TestCase):
    def test_masked_mean_matches_hand_computation(self):
        hidden = np.array([[[1, 2], [3, 4], [100, 100]],
                           [[2, 0], [4, 0], [6, 3]]], dtype=np.float32)
        result = mean_pool(hidden, np.array([2, 3]))
        # row 0: mean of (1,2),(3,4) -> (2,3); the padded (100,100) is ignored
        # row 1: mean of all three -> (4,1)
        np.testing.assert_array_equal(result, np.array([[2, 3], [4, 1]], dtype=np.float32))
        self.assertEqual(result.dtype, np.float32)

    def test_padding_does_not_change_the_result_bit_for_bit(self):
        rng = np.random.default_rng(1)
        for dim in (1, 2, 384):  # dim 1 is the case where a plain masked sum goes wrong
            for length in (1, 5, 9, 17, 63):
                real = rng.standard_normal((1, length, dim)).astype(np.float32)
                alone = mean_pool(real, np.array([length]))
                for pad in (1, 7, 100):
                    garbage = (rng.standard_normal((1, pad, dim)) * 1e6).astype(np.float32)
                    garbage[0, 0, 0] = np.nan  # a padded NaN must not leak in
                    padded = np.concatenate([real, garbage], axis=1)
                    neighbour = rng.standard_normal((1, length + pad, dim)).astype(np.float32)
                    batch = np.concatenate([neighbour, padded], axis=0)
                    got = mean_pool(batch, np.array([length + pad, length]))[1:]
                    self.assertTrue(np.array_equal(alone, got), f"dim={dim} length={length} pad={pad}")
                    normalized = pool(batch, np.array([length + pad, length]), "mean", True)[1:]
                    self.assertTrue(np.array_equal(pool(real, np.array([length]), "mean", True), normalized))

    def test_cls_takes_the_first_token(self):
        hidden = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        result = cls_pool(hidden)
        np.testing.assert_array_equal(result, hidden[:, 0, :])
        result[0, 0] = -1  # a copy, not a view into the model output
        self.assertEqual(hidden[0, 0, 0], 0)

    def test_normalisation_gives_unit_norm(self):
        vectors = np.array([[3, 4], [1e-3, 0], [-5, 12]], dtype=np.float32)
        result = l2_normalize(vectors)
        np.testing.assert_allclose(np.linalg.norm(result, axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(result[0], [0.6, 0.8], rtol=1e-6)
        self.assertEqual(result.dtype, np.float32)

    def test_zero_vector_is_guarded(self):
        result = l2_normalize(np.zeros((2, 3), dtype=np.float32))
        self.assertTrue(np.all(np.isfinite(result)))
        np.testing.assert_array_equal(result, 0)

    def test_pool_dispatch_and_validation(self):
        hidden = np.array([[[3, 4], [0, 8]]], dtype=np.float32)
        np.testing.assert_allclose(pool(hidden, np.array([2]), "mean", False), [[1.5, 6]])
        np.testing.assert_allclose(pool(hidden, np.array([2]), "cls", True), [[0.6, 0.8]], rtol=1e-6)
        with self.assertRaises(ValueError):
            pool(hidden, np.array([2]), "max", False)
        with self.assertRaises(ValueError):
            mean_pool(hidden[0], np.array([2]))
        with self.assertRaises(ValueError):
            mean_pool(hidden, np.array([2, 2]))

    def test_length_mask(self):
        np.testing.assert_array_equal(length_mask(np.array([1, 3]), 3),
                                      [[True, False, False], [True, True, True]])


if __name__ == "__main__":
    unittest.main()
