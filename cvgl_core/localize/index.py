"""A saved gallery index: the tiles' descriptors, ids, paths and coordinates, and the model
they came from.

    index = Index.load("gallery.idx")
    model = index.load_model()                    # or any model: it must match the index
    matches = index.search(model, "photo.jpg", k=5)[0]

On disk `gallery.idx/` is a folder written atomically:
    meta.json         format, model config, checkpoint SHA-256, model fingerprint, views,
                      descriptor dim/dtype, coordinate kind, where the tiles came from
    descriptors.npy   (N, D) float16 or float32, opened memory-mapped
    tiles.csv         id, path, x, y (lat/lon or metres; empty when unknown), label
    ivfpq.faiss       optional trained IVF-PQ index (`Index.add_ivfpq`)

A query model is refused unless its fingerprint (cvgl_core.localize.model.fingerprint) is
the stored one: descriptors of two models live in unrelated spaces and would give
confident nonsense.
"""

from __future__ import annotations

import csv
import io
import json
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cvgl_core.localize import backends as B
from cvgl_core.localize.geo import COORD_KINDS, coords_from_name, distance_m
from cvgl_core.localize.model import fingerprint, load_model, photo_tensor

FORMAT = "cvgl_core.index/1"
DTYPES = ("float16", "float32")
IVFPQ_FILE = "ivfpq.faiss"


@dataclass
class Match:
    """One retrieved tile of one photo."""

    rank: int  # 1-based
    index: int  # row in the gallery
    tile: str  # tile id (path relative to the data root)
    path: str
    score: float  # cosine similarity
    coords: tuple[float, float] | None  # (lat, lon) or (x, y) metres
    label: int  # the dataset's label (building id for University-1652 / SUES-200)
    error_m: float | None = None  # distance to the photo's true location when known


class Index:
    """A gallery of tile descriptors with its model's identity; see the module docstring."""

    def __init__(self, descriptors, tiles: dict, meta: dict, path: Path | None = None):
        self.descriptors = descriptors  # (N, D) float16/32, np.memmap after load()
        self.ids = list(tiles["id"])
        self.paths = list(tiles["path"])
        self.coords = tiles.get("coords")  # (N, 2) float64 or None
        self.labels = np.asarray(tiles["label"], dtype=np.int64)
        self.meta = meta
        self.path = path
        self._exact: torch.Tensor | None = None
        self._faiss: dict = {}
        self._verified: weakref.WeakSet = weakref.WeakSet()

    # ------------------------------------------------------------------ creation / disk
    @classmethod
    def create(
        cls,
        descriptors,
        ids,
        paths,
        *,
        config: dict,
        model_fingerprint: str,
        query_view: str,
        reference_view: str = "satellite",
        checkpoint: str | None = None,
        checkpoint_sha256: str | None = None,
        coords=None,
        coord_kind: str | None = None,
        labels=None,
        dtype: str = "float16",
        source: dict | None = None,
    ) -> Index:
        d = descriptors.numpy() if isinstance(descriptors, torch.Tensor) else descriptors
        d = np.asarray(d)
        if d.ndim != 2 or d.shape[0] == 0:
            raise ValueError(f"the gallery is empty or not (N, D): descriptors {d.shape}")
        if dtype not in DTYPES:
            raise ValueError(f"index dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        n = d.shape[0]
        if len(ids) != n or len(paths) != n:
            raise ValueError(f"{n} descriptors but {len(ids)} ids and {len(paths)} paths")
        if coords is not None:
            coords = np.asarray(coords, dtype=np.float64).reshape(n, 2)
            if coord_kind not in COORD_KINDS:
                raise ValueError(f"coord_kind must be one of {COORD_KINDS}, got {coord_kind!r}")
        labels = np.arange(n) if labels is None else np.asarray(labels, dtype=np.int64)
        meta = {
            "format": FORMAT,
            "count": int(n),
            "dim": int(d.shape[1]),
            "dtype": dtype,
            "query_view": query_view,
            "reference_view": reference_view,
            "model": {
                "name": (config.get("model") or {}).get("name"),
                "fingerprint": model_fingerprint,
            },
            "checkpoint": {"path": checkpoint, "sha256": checkpoint_sha256},
            "coord_kind": coord_kind if coords is not None else None,
            "source": source or {},
            "config": config,
        }
        tiles = {
            "id": list(ids),
            "path": [str(p) for p in paths],
            "coords": coords,
            "label": labels,
        }
        return cls(d.astype(dtype), tiles, meta)

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the folder atomically (FileExistsError if it exists, unless overwrite)."""
        from cvgl_core.utils import atomic_dir

        path = Path(path)
        with atomic_dir(path, overwrite=overwrite) as tmp:
            np.save(tmp / "descriptors.npy", np.asarray(self.descriptors))
            (tmp / "meta.json").write_text(json.dumps(self.meta, indent=1) + "\n")
            (tmp / "tiles.csv").write_text(self._tiles_csv())
            if "ivfpq" in self._faiss:
                B._faiss().write_index(self._faiss["ivfpq"], str(tmp / IVFPQ_FILE))
        self.path = path
        return path

    def _tiles_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["id", "path", "x", "y", "label"])
        for i in range(len(self)):
            xy = ["", ""] if self.coords is None else [repr(float(v)) for v in self.coords[i]]
            w.writerow([self.ids[i], self.paths[i], *xy, int(self.labels[i])])
        return buf.getvalue()

    @classmethod
    def load(cls, path) -> Index:
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"{path}: not a gallery index (no meta.json); build one "
                "with `python -m cvgl_core index build`"
            )
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_file}: format {meta.get('format')!r}, expected {FORMAT!r}")
        d = np.load(path / "descriptors.npy", mmap_mode="r")
        if d.ndim != 2 or d.shape[0] == 0 or d.shape != (meta["count"], meta["dim"]):
            raise ValueError(
                f"{path}/descriptors.npy has shape {d.shape}; meta.json says "
                f"({meta['count']}, {meta['dim']}) and an index needs at least one tile"
            )
        with open(path / "tiles.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if len(rows) != d.shape[0]:
            raise ValueError(f"{path}/tiles.csv has {len(rows)} rows for {d.shape[0]} descriptors")
        coords = None
        if meta.get("coord_kind"):
            coords = np.array(
                [[float(r["x"] or "nan"), float(r["y"] or "nan")] for r in rows], dtype=np.float64
            )
        tiles = {
            "id": [r["id"] for r in rows],
            "path": [r["path"] for r in rows],
            "coords": coords,
            "label": [int(r["label"]) for r in rows],
        }
        index = cls(d, tiles, meta, path)
        if (path / IVFPQ_FILE).is_file():
            index._faiss["ivfpq"] = B._faiss().read_index(str(path / IVFPQ_FILE))
        return index

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    def __repr__(self) -> str:
        return (
            f"Index({len(self)} tiles x {self.meta['dim']}-D {self.meta['dtype']}, "
            f"model {self.meta['model']['name']}, {self.meta['query_view']} -> "
            f"{self.meta['reference_view']}, coords {self.meta.get('coord_kind')})"
        )

    @property
    def config(self) -> dict:
        return self.meta["config"]

    @property
    def coord_kind(self) -> str | None:
        return self.meta.get("coord_kind")

    # ------------------------------------------------------------------ the model
    def check_model(self, model: torch.nn.Module) -> None:
        """ValueError unless `model` has the weights the gallery was described with
        (checked once per model object)."""
        if model in self._verified:
            return
        got = fingerprint(model)
        want = self.meta["model"]["fingerprint"]
        if got != want:
            src = self.meta["checkpoint"].get("path") or "another model"
            raise ValueError(
                f"the query model ({type(model).__name__}, fingerprint {got[:12]}) is not the "
                f"model this index was built with ({self.meta['model']['name']} from {src}, "
                f"fingerprint {want[:12]}); rebuild the index with this model"
            )
        self._verified.add(model)

    def load_model(self, checkpoint=None, device="cpu"):
        """The index's model, from `checkpoint` or the stored checkpoint path; checked."""
        checkpoint = checkpoint or self.meta["checkpoint"].get("path")
        if not checkpoint:
            raise ValueError("this index stores no checkpoint path: pass checkpoint=...")
        model = load_model(checkpoint, device=device)[0]
        self.check_model(model)
        return model

    # ------------------------------------------------------------------ search
    def add_ivfpq(self, nlist: int | None = None, m: int | None = None, seed: int = 0):
        """Train the IVF-PQ index over the stored descriptors (saved by the next save())."""
        self._faiss["ivfpq"] = B.build_ivfpq(self.descriptors, nlist=nlist, m=m, seed=seed)
        return self._faiss["ivfpq"]

    def search_descriptors(
        self,
        query,
        k: int = 5,
        *,
        backend: str = "exact",
        nprobe: int = 32,
        rerank: int = 100,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores (Q, k), gallery rows (Q, k)) for descriptors (Q, D), best first.
        ivfpq only: nprobe cells scanned, rerank candidates re-scored exactly (0: PQ scores
        as they are); the defaults keep R@10 within 1 point of exact at VIGOR scale
        (benchmarks/bench_index.py)."""
        q = np.asarray(query.detach().cpu() if isinstance(query, torch.Tensor) else query)
        q = q[None] if q.ndim == 1 else q
        if q.ndim != 2 or q.shape[1] != self.meta["dim"]:
            raise ValueError(
                f"query descriptors {q.shape} do not match the index's {self.meta['dim']}-D tiles"
            )
        if backend == "exact":
            if self._exact is None:
                self._exact = torch.from_numpy(np.asarray(self.descriptors, dtype=np.float32))
            return B.exact_search(q, self._exact, k)
        if backend == "flat":
            if "flat" not in self._faiss:
                self._faiss["flat"] = B.build_flat(self.descriptors)
            return B.faiss_search(self._faiss["flat"], q, k)
        if backend == "ivfpq":
            if "ivfpq" not in self._faiss:
                self.add_ivfpq()
            return B.faiss_search(
                self._faiss["ivfpq"],
                q,
                k,
                nprobe=nprobe,
                rerank=rerank,
                descriptors=self.descriptors,
            )
        raise ValueError(f"backend {backend!r} unknown; known: {', '.join(B.BACKENDS)}")

    def matches(self, scores, rows, truth=None) -> list[Match]:
        """Match records of one query's (k,) scores and rows; truth: its true coordinates."""
        out = []
        for r, (s, i) in enumerate(zip(scores, rows), 1):
            if i < 0:
                continue
            xy = None if self.coords is None else tuple(float(v) for v in self.coords[i])
            err = None
            if truth is not None and xy is not None:
                err = float(distance_m(np.asarray(truth), np.asarray(xy), self.coord_kind))
            out.append(
                Match(r, int(i), self.ids[i], self.paths[i], float(s), xy, int(self.labels[i]), err)
            )
        return out

    @torch.no_grad()
    def describe(self, model, photos, *, view=None, fov=None, heading=None, names=None):
        """Descriptors (P, D) of photos (paths or PIL images) through the checked model."""
        self.check_model(model)
        view = view or self.meta["query_view"]
        xs = []
        for j, p in enumerate(photos):
            name = names[j] if names else str(p) if not hasattr(p, "size") else f"photo {j}"
            xs.append(photo_tensor(self.config, p, view, fov=fov, heading=heading, name=name)[0])
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            return model(torch.stack(xs).to(device), view=view).float().cpu()  # (P, D)
        finally:
            model.train(was_training)

    def search(
        self,
        model,
        photos,
        k: int = 5,
        *,
        view=None,
        fov=None,
        heading=None,
        truth=None,
        backend: str = "exact",
        **backend_options,
    ) -> list[list[Match]]:
        """Top-k tiles (list[Match]) of a photo (a path or a PIL image); a list of
        photos gives one list per photo.

        truth: the true coordinates (a pair; for a list of photos one pair or None each);
        by default read from VIGOR-style file names for a lat/lon gallery.
        view must be the index's query view (a drone model's index refuses ground photos).
        """
        single = not isinstance(photos, (list, tuple))
        photos = [photos] if single else list(photos)
        if not photos:
            raise ValueError("no photo given")
        want = self.meta["query_view"]
        if view is not None and view != want:
            raise ValueError(
                f"this index was built for {want} queries ({self.meta['model']['name']} on "
                f"{self.config.get('data', {}).get('dataset')}); a {view} photo cannot be searched"
            )
        q = self.describe(model, photos, view=want, fov=fov, heading=heading)
        scores, rows = self.search_descriptors(q, k, backend=backend, **backend_options)
        if truth is None:
            truth = [
                coords_from_name(p, self.coord_kind) if isinstance(p, (str, Path)) else None
                for p in photos
            ]
        elif single:
            truth = [truth]
        results = [self.matches(s, r, t) for s, r, t in zip(scores, rows, truth)]
        return results[0] if single else results
