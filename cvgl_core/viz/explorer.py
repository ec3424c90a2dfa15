"""An interactive localisation explorer for JupyterLab (ipywidgets).

    from cvgl_core.viz.explorer import Explorer
    Explorer(runs="runs", queries=query_ds).widget      # last line of a cell displays it

Pick a query (or upload a photo) and see its top-k tiles with scores, the true tile framed
green (others red) when the query comes from a dataset; Grad-CAM of the best match on
demand; for ground panoramas a field-of-view and heading slider that re-crops the panorama
and re-queries at once; a model selector over the runs in the run folder (each run's
gallery index is `<run>/gallery.idx`, built from its checkpoint on first use).

Every callback updates `explorer.state` (what is shown: query, tile ids, scores, which are
true matches, FoV, heading, Grad-CAM) before drawing, so tests drive the widgets headlessly
and check `state`; figures go to `explorer.out` only when `show=True`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

CHECKPOINTS = ("best.pt", "last.pt")
INDEX_NAME = "gallery.idx"


def find_runs(folder) -> dict[str, Path]:
    """run name -> its checkpoint (best.pt, else last.pt) for every run under `folder`: a
    plain run folder `<name>/` (the `train` command's output.dir) is named `<name>`, a
    notebook run `<name>/seed<k>-<hash>/` (study.run_experiment) `<name>/seed<k>-<hash>`."""
    folder = Path(folder)
    runs = {}
    candidates = [p for p in folder.glob("*") if p.is_dir()]
    candidates += [p for p in folder.glob("*/seed*") if p.is_dir()]
    for run in sorted(candidates):
        for name in CHECKPOINTS:
            if (run / name).is_file():
                runs[run.relative_to(folder).as_posix()] = run / name
                break
    return runs


def run_index(checkpoint: Path, model):
    """The run's saved gallery index if it matches `model`, else a fresh one saved there."""
    from cvgl_core.localize import Index, build_index

    path = checkpoint.parent / INDEX_NAME
    if path.is_dir():
        index = Index.load(path)
        try:
            index.check_model(model)
            return index
        except ValueError:  # the checkpoint changed since the index was built
            pass
    index = build_index(checkpoint, model=model)
    index.save(path, overwrite=True)
    return index


class Explorer:
    """See the module docstring. queries: a query dataset (with .paths; .positives or
    .labels give the true tiles) or a list of image paths. index/model: start from these
    instead of (or in addition to) the runs in `runs`; run: the run selected first."""

    def __init__(
        self,
        *,
        runs=None,
        queries=None,
        index=None,
        run: str | None = None,
        model=None,
        k: int = 5,
        backend: str = "exact",
        show: bool = True,
    ):
        import ipywidgets as W

        self.runs = find_runs(runs) if runs is not None else {}
        self.given = (index, model) if index is not None else None
        if not self.runs and self.given is None:
            raise ValueError(f"no run with {' or '.join(CHECKPOINTS)} under {runs}, and no index")
        self.queries = queries
        self.paths = [Path(p) for p in (getattr(queries, "paths", None) or queries or [])]
        self.backend, self.show = backend, show
        self.state: dict = {}
        self.photo = None  # an uploaded PIL image replaces the selected query while set
        self._cache: dict = {}
        names = (["(given)"] if self.given else []) + list(self.runs)
        if run is not None and run not in names:
            raise KeyError(f"run {run!r} not found; runs: {', '.join(names)}")
        self.run = W.Dropdown(options=names, value=run or names[0], description="model")
        self.query = W.Dropdown(
            options=[(p.name, i) for i, p in enumerate(self.paths)], description="query"
        )
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="photo")
        self.k = W.IntSlider(value=k, min=1, max=10, description="top-k")
        self.fov = W.FloatSlider(value=360, min=30, max=360, step=10, description="FoV")
        self.heading = W.FloatSlider(value=0, min=-180, max=180, step=5, description="heading")
        self.gradcam = W.Checkbox(value=False, description="Grad-CAM")
        self.out = W.Output()
        self.run.observe(lambda _: self.select_run(), names="value")
        self.upload.observe(self._on_upload, names="value")
        for w in (self.query, self.k, self.fov, self.heading, self.gradcam):
            w.observe(self._on_change, names="value")
        self.widget = W.VBox(
            [
                W.HBox([self.run, self.query, self.upload]),
                W.HBox([self.k, self.gradcam]),
                W.HBox([self.fov, self.heading]),
                self.out,
            ]
        )
        self.select_run()

    # ------------------------------------------------------------------ callbacks
    def select_run(self) -> None:
        name = self.run.value
        if name not in self._cache:
            if name == "(given)":
                index, model = self.given
                if model is None:
                    model = index.load_model()
            else:
                from cvgl_core.localize import load_model

                model = load_model(self.runs[name])[0]
                index = run_index(self.runs[name], model)
            self._cache[name] = (index, model)
        self.index, self.model = self._cache[name]
        ground = self.index.meta["query_view"] == "ground"
        for w in (self.fov, self.heading):
            w.layout.display = None if ground else "none"
        self.refresh()

    def _on_change(self, change) -> None:
        if change["owner"] is self.query:
            self.photo = None  # picking a query leaves the uploaded photo
        self.refresh()

    def _on_upload(self, change) -> None:
        from PIL import Image

        files = change["new"]
        if not files:
            return
        f = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        self.photo = Image.open(io.BytesIO(bytes(f["content"]))).convert("RGB")
        self.photo_name = f.get("name", "upload")
        self.refresh()

    # ------------------------------------------------------------------ state and drawing
    def _truth(self, i: int):
        """(true gallery rows or None, true coordinates or None) of dataset query i."""
        from cvgl_core.localize import dataset_coords

        q = self.queries
        rows = None
        source = self.index.meta.get("source", {})
        same_name = str(getattr(q, "name", "")).startswith(source.get("dataset", ""))
        if not same_name or source.get("split") not in (None, getattr(q, "split", None)):
            return None, None  # a gallery of other tiles: the dataset's true rows do not apply
        if getattr(q, "positives", None) is not None:
            rows = set(np.atleast_1d(q.positives[i]).tolist())
        elif getattr(q, "labels", None) is not None:
            rows = set(np.flatnonzero(self.index.labels == q.labels[i]).tolist())
        coords, kind = (
            dataset_coords(q) if q is not None and hasattr(q, "__len__") else (None, None)
        )
        xy = tuple(coords[i]) if coords is not None and kind == self.index.coord_kind else None
        return rows, xy

    def refresh(self) -> None:
        if self.photo is not None:
            photo, name, rows, xy = self.photo, f"upload: {self.photo_name}", None, None
        elif self.paths and self.query.value is not None:
            i = int(self.query.value)
            photo, name = self.paths[i], self.paths[i].name
            rows, xy = self._truth(i) if self.queries is not None else (None, None)
        else:
            return
        ground = self.index.meta["query_view"] == "ground"
        fov = float(self.fov.value) if ground and self.fov.value < 360 else None
        heading = float(self.heading.value) if fov is not None else None
        matches = self.index.search(
            self.model,
            photo,
            int(self.k.value),
            fov=fov,
            heading=heading,
            truth=xy,
            backend=self.backend,
        )
        correct = [m.index in rows for m in matches] if rows is not None else None
        self.state = {
            "model": self.run.value,
            "query": name,
            "tiles": [m.tile for m in matches],
            "rows": [m.index for m in matches],
            "scores": [m.score for m in matches],
            "correct": correct,
            "errors_m": [m.error_m for m in matches],
            "fov": fov,
            "heading": heading,
            "gradcam": bool(self.gradcam.value),
        }
        if self.show:
            self._draw(photo, matches, fov, heading, correct)

    def _draw(self, photo, matches, fov, heading, correct) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from cvgl_core.localize.figure import localize_figure

        fig = localize_figure(
            self.index,
            self.model,
            photo,
            matches,
            fov=fov,
            heading=heading,
            gradcam=bool(self.gradcam.value),
            correct=correct,
        )
        self.state["axes"] = len(fig.axes)
        self.out.clear_output(wait=True)
        with self.out:
            display(fig)
        plt.close(fig)
