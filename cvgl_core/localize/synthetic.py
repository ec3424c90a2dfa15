"""Synthetic descriptor galleries with a tile-like structure, for the index tests and the
VIGOR-scale benchmark (no model, no images).

Tiles sit on a square grid (VIGOR's tiles overlap by half, so neighbours look alike): each
descriptor mixes a smooth random field of the tile's position (random Fourier features,
correlated over a few tiles) with a tile-specific part, and is L2-normalised. A query is its
tile's descriptor plus isotropic noise, renormalised; `noise` sets how hard retrieval is
(and hence exact R@1). The defaults (smooth 0.9, fields correlated over ~8 tiles) make a
query's hard negatives its neighbouring tiles, as VIGOR's semi-positives are: at 20,000 x
1,024-D the noise that gives exact R@1 ~61% leaves a query at cosine ~0.38 to its tile and
R@10 at ~99%; an isotropic gallery (smooth 0) would need queries almost orthogonal to their
tiles for the same R@1.
"""

from __future__ import annotations

import math

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tile_gallery(
    n: int,
    dim: int,
    *,
    seed: int = 0,
    smooth: float = 0.9,
    correlation_tiles: float = 8.0,
    chunk: int = 8192,
) -> np.ndarray:
    """(n, dim) float32 unit descriptors of n tiles on a ceil(sqrt(n))-wide grid."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n))
    freq = rng.standard_normal((2, dim)) / correlation_tiles  # cycles per tile
    phase = rng.uniform(0, 2 * np.pi, dim)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        i = np.arange(start, min(start + chunk, n))
        pos = np.stack([i // side, i % side], axis=1).astype(np.float64)  # (C, 2) grid cell
        field = _unit(np.cos(pos @ freq + phase))  # (C, D), smooth in the position
        own = _unit(rng.standard_normal((len(i), dim)))
        out[i] = _unit(smooth * field + (1 - smooth) * own)
    return out


def noisy_queries(gallery: np.ndarray, count: int, noise: float, *, seed: int = 1):
    """(queries (count, D) float32, their true tiles (count,)): tile + noise, renormalised."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(gallery), size=count, replace=False)
    eps = rng.standard_normal((count, gallery.shape[1])) / math.sqrt(gallery.shape[1])
    return _unit(gallery[truth] + noise * eps).astype(np.float32), truth


def recall_at(rows: np.ndarray, truth: np.ndarray, k: int) -> float:
    """% of queries whose true tile is among their first k rows."""
    return float(100.0 * np.mean((rows[:, :k] == truth[:, None]).any(1)))
