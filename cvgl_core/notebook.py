"""What the first code cell of every notebook calls, so a notebook runs unchanged wherever
its kernel starts (papermill from the repository root, JupyterLab or VS Code in notebooks/):

    from cvgl_core.notebook import start
    nb = start(profile=profile, data_dir=data_dir, data_root=data_root,
               dataset_dirs=dataset_dirs, datasets=("cvusa", "cvact"))
    nb.do["cvact"], nb.real_root("cvact"), nb.root("cvact"), nb.data_text("cvact")
    run = nb.run("configs/lrfr/cvact_{profile}.yaml", data_root=nb.real_root("cvact"),
                 overrides={"model.kwargs.attention": "gsra"})

`nb.run` is `study.run_experiment` with the notebook's session filled in: profile, folders,
seed, `retrain`, progress bars, and the parameters every run of the notebook takes on top of
its own settings: `overrides` (dotted config keys, e.g. {"train.epochs": 1}) and, with
`dry_run`, `cvgl_core.config.DRY_RUN_OVERRIDES` (one step, a tiny evaluation: the whole
notebook at the configured sizes in minutes, to check a machine before a long run).

`start` moves the kernel to the repository root (every path in the notebooks, configs/...,
results/..., is relative to it), after resolving a relative `data_root` against the folder
the kernel started in (where the user typed it); switches matplotlib to the inline backend,
so executed copies embed their figures; and finds the real datasets under `data_root`
(`cvgl_core.data.roots.find_datasets`): the tables of the datasets found run, the others are
named with the reason, and a notebook that finds none it can use stops with one line.
Without `data_root` every dataset is the synthetic world of the profile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cvgl_core.data.roots import FoundDatasets, find_datasets

# Set by the runner for its kernels: executed copies get no progress-bar widgets.
HEADLESS_ENV = "CVGL_HEADLESS"
_START_CWD: Path | None = None  # the kernel's first working directory, kept across re-runs


def repo_root(start: Path | None = None) -> Path:
    """The checkout holding configs/ and notebooks/: the working directory or a parent of it,
    else the folder above this package (an editable install)."""
    here = Path(start or Path.cwd()).resolve()
    for cand in (here, *here.parents, Path(__file__).resolve().parent.parent):
        if (cand / "configs").is_dir() and (cand / "cvgl_core").is_dir():
            return cand
    raise FileNotFoundError(
        f"no cvgl-study checkout (a folder with configs/ and cvgl_core/) at or above {here}"
    )


def headless() -> bool:
    """True under the notebook runner (papermill): no live progress bars."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")


def _inline_figures() -> None:
    # A kernel started with MPLBACKEND=Agg (a shell that exports it) shows no figure and an
    # executed copy embeds none; inside IPython the inline backend does both.
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return  # a plain interpreter or a terminal IPython: leave the backend alone
    import matplotlib

    if "inline" not in matplotlib.get_backend().lower():
        ip.run_line_magic("matplotlib", "inline")


@dataclass
class Notebook:
    profile: str
    data_dir: Path  # the synthetic world of the profile (used without data_root)
    data_root: Path | None  # absolute, or None: the synthetic world
    found: FoundDatasets | None
    names: tuple[str, ...]
    seed: int = 0
    progress: bool = True  # pass as the `train.progress` override
    repo: Path = field(default_factory=repo_root)
    results_dir: Path = Path("results")
    dry_run: bool = False  # every run: DRY_RUN_OVERRIDES last
    retrain: bool = False  # every run: train afresh instead of reusing a finished run
    overrides: dict = field(default_factory=dict)  # every run: these config keys on top

    def run_overrides(self, own: dict | None = None) -> dict:
        """A run's own overrides, then the notebook's, then the dry run's (last wins)."""
        from cvgl_core.config import DRY_RUN_OVERRIDES

        merged = {"train.progress": self.progress, **(own or {}), **self.overrides}
        if self.dry_run:
            merged.update(DRY_RUN_OVERRIDES)
        return merged

    def run(self, config, *, overrides: dict | None = None, **kwargs):
        """`study.run_experiment(config, ...)` with this notebook's profile, folders, seed
        (also the synthetic world's), retrain flag and `run_overrides(overrides)`; kwargs
        (data_root, name, resume_from, seed, ...) are passed on and win."""
        from cvgl_core.study import run_experiment

        session = dict(
            profile=self.profile,
            data_dir=self.data_dir,
            results_dir=self.results_dir,
            seed=self.seed,
            world_seed=self.seed,
            retrain=self.retrain,
        )
        session.update(kwargs)
        return run_experiment(config, overrides=self.run_overrides(overrides), **session)

    @property
    def do(self) -> dict[str, bool]:
        """{dataset: whether its tables run}."""
        return {n: self.found is None or n in self.found for n in self.names}

    def real_root(self, name: str) -> Path | None:
        """The real dataset's root under data_root, or None on the synthetic world."""
        if self.found is None:
            return None
        if name not in self.found:
            raise FileNotFoundError(
                f"{name} is not under data_root {self.data_root}: {self.found.skipped[name]}"
            )
        return self.found.roots[name]

    def root(self, name: str) -> Path:
        """The real root, or the synthetic layout of this profile (written on first use)."""
        real = self.real_root(name)
        if real is not None:
            return real
        from cvgl_core.synth import ensure_dataset

        return ensure_dataset(name, self.data_dir, self.profile, self.seed)

    def data_text(self, name: str) -> str:
        """How a table caption names the data of `name`."""
        if self.found is None:
            return f"synthetic {name}-like world ({self.data_dir})"
        return f"real {name} at {self.real_root(name)}"


def start(
    *,
    profile: str,
    data_dir,
    data_root=None,
    dataset_dirs: dict | None = None,
    datasets=(),
    required=(),
    seed: int = 0,
    results_dir="results",
    dry_run: bool = False,
    retrain: bool = False,
    overrides: dict | None = None,
    chdir: bool = True,
) -> Notebook:
    """Set the kernel up for a notebook and find its datasets (see the module docstring).

    datasets: the ones whose tables this notebook can run; required: those it cannot run
    without (all of them must be found); at least one of `datasets` must be found.
    results_dir, dry_run, retrain, overrides: the notebook's parameters of those names,
    applied by `Notebook.run` to every run.
    """
    global _START_CWD
    if _START_CWD is None:
        _START_CWD = Path.cwd()
    repo = repo_root(_START_CWD)
    if data_root not in (None, ""):
        data_root = (_START_CWD / Path(data_root).expanduser()).resolve()
    else:
        data_root = None
    if chdir:
        os.chdir(repo)
    _inline_figures()
    names = tuple(datasets)
    found = None
    if data_root is not None and names:
        found = find_datasets(data_root, names, dataset_dirs)
        print(found.summary())
        missing = [n for n in required if n not in found]
        if missing or not found.roots:
            need = missing or names
            why = "; ".join(f"{n}: {found.skipped[n]}" for n in need)
            raise FileNotFoundError(
                f"this notebook needs {' and '.join(need) if missing else ' or '.join(need)} "
                f"under data_root {data_root} ({why}); name other folders with dataset_dirs"
            )
    return Notebook(
        profile=profile,
        data_dir=Path(data_dir),
        data_root=data_root,
        found=found,
        names=names,
        seed=seed,
        progress=not headless(),
        repo=repo,
        results_dir=Path(results_dir),
        dry_run=bool(dry_run),
        retrain=bool(retrain),
        overrides=dict(overrides or {}),
    )
