"""Sentence vectors from per-token hidden states.

Padding must not change a vector: a text embedded alone and the same text
embedded next to a longer one must give identical bytes, or caching and
deduplication downstream silently disagree. A plain ``(hidden * mask).sum(1)``
does not guarantee that: numpy may sum pairwise, and the pairing depends on the
padded length (it does for dim == 1). So mean pooling accumulates token by
token, vectorised over batch and dim, skipping masked slots with ``where=``
(so a NaN/Inf in a padded slot cannot leak in either). Each vector is then
((x0 + x1) + x2) + ... in token order whatever the padding, and it is also
faster than the masked sum because padded positions past the longest row are
never touched.
"""

from __future__ import annotations

import numpy as np

NORM_EPSILON = 1e-12


def length_mask(lengths: np.ndarray, seq: int) -> np.ndarray:
    """Boolean [batch, seq]: True for real tokens (the first ``lengths[i]`` of each row)."""
    return np.arange(seq, dtype=np.int64)[None, :] < np.asarray(lengths, dtype=np.int64)[:, None]


def mean_pool(hidden: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Masked mean over real tokens: [batch, seq, dim] -> [batch, dim] float32."""
    if hidden.ndim != 3:
        raise ValueError(f"expected [batch, seq, dim] hidden states, got shape {hidden.shape}")
    batch, seq, _dim = hidden.shape
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths has shape {lengths.shape}, expected ({batch},)")
    mask = length_mask(lengths, seq)[:, :, None]
    summed = np.zeros((batch, hidden.shape[2]), dtype=np.float32)
    for t in range(min(seq, int(lengths.max(initial=0)))):
        np.add(summed, hidden[:, t, :], out=summed, where=mask[:, t])
    counts = np.maximum(lengths, 1).astype(np.float32)[:, None]
    return (summed / counts).astype(np.float32, copy=False)


def cls_pool(hidden: np.ndarray) -> np.ndarray:
    """First token's state: [batch, seq, dim] -> [batch, dim] float32 (a copy)."""
    if hidden.ndim != 3:
        raise ValueError(f"expected [batch, seq, dim] hidden states, got shape {hidden.shape}")
    return np.array(hidden[:, 0, :], dtype=np.float32, copy=True)


def l2_normalize(vectors: np.ndarray, eps: float = NORM_EPSILON) -> np.ndarray:
    """Rows scaled to unit length; a (near-)zero row stays (near-)zero instead of NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, np.float32(eps))).astype(np.float32, copy=False)


def pool(hidden: np.ndarray, lengths: np.ndarray, method: str, normalize: bool) -> np.ndarray:
    if method == "mean":
        vectors = mean_pool(hidden, lengths)
    elif method == "cls":
        vectors = cls_pool(hidden)
    else:
        raise ValueError(f"unknown pooling {method!r}")
    return l2_normalize(vectors) if normalize else vectors
