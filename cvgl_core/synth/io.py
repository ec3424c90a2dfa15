"""Shared pieces of the layout writers: deterministic encoding, seeded streams, site sampling.

Byte-identical output for one seed: JPEG at a fixed quality with no metadata, PNG with a
fixed compression level and no text chunks, every random stream derived from
(seed, layout, purpose, index) so nothing depends on the order things are rendered in.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from cvgl_core.synth.capture import sample_capture
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.world import World

JPEG_QUALITY = 90
ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def _key(part) -> int:
    return zlib.crc32(part.encode()) if isinstance(part, str) else int(part)


def rng_for(seed: int, *parts) -> np.random.Generator:
    """An independent stream for (seed, *parts); parts are strings or ints."""
    return np.random.default_rng([int(seed), *(_key(p) for p in parts)])


def encode(img: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(img)
    if fmt == "jpg":
        im.save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    elif fmt == "png":
        im.save(buf, format="PNG", compress_level=6)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue()


class Out:
    """Writes files under a root and counts them per (split/view) key."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.counts: Counter = Counter()

    def put(self, rel: str, data: bytes | str, key: str | None = None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if key:
            self.counts[key] += 1

    def mkdir(self, rel: str) -> None:
        (self.root / rel).mkdir(parents=True, exist_ok=True)


def capture_pair(seed: int, layout: str, item, knobs: Knobs, views=("sat", "ground")):
    """One (capture, rng) per view of one item: the views of a place differ as the knobs say."""
    out = {}
    for v in views:
        rng = rng_for(seed, layout, "capture", v, item)
        out[v] = (sample_capture(rng, knobs), rng)
    return out


def random_id(rng: np.random.Generator, length: int = 22) -> str:
    return "".join(rng.choice(ID_ALPHABET, length))


def sample_sites(
    world: World,
    n: int,
    rng: np.random.Generator,
    min_sep_m: float,
    margin_m: float,
    on_road: bool = False,
    max_candidates: int = 5000,
) -> list[tuple[float, float]]:
    """Up to n camera positions (pixel corners) where a ground camera can stand, at least
    min_sep_m apart and margin_m from the edge of the world; greedy dart throwing."""
    from cvgl_core.synth.world import ROAD, SIDEWALK

    ok = world.free_mask().copy()
    if on_road:  # street-view cameras: on the road or the sidewalk beside it
        ok &= (world.kind == ROAD) | (world.kind == SIDEWALK)
    m = int(np.ceil(margin_m / world.mpp))
    ok[:m] = ok[-m:] = False
    ok[:, :m] = ok[:, -m:] = False
    cand = np.flatnonzero(ok)
    if len(cand) == 0:
        return []
    cand = rng.permutation(cand)[:max_candidates]
    rows, cols = np.divmod(cand, world.shape[1])
    sep2 = (min_sep_m / world.mpp) ** 2
    taken_r, taken_c = [], []
    for r, c in zip(rows, cols):
        if taken_r:
            d2 = (np.asarray(taken_r) - r) ** 2 + (np.asarray(taken_c) - c) ** 2
            if d2.min() < sep2:
                continue
        taken_r.append(r)
        taken_c.append(c)
        if len(taken_r) == n:
            break
    return [(float(r), float(c)) for r, c in zip(taken_r, taken_c)]


def split_train(n: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the `round(frac * n)` items that go to training."""
    mask = np.zeros(n, bool)
    mask[rng.permutation(n)[: int(round(frac * n))]] = True
    return mask
