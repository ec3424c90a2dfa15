"""Execute the numbered notebooks with papermill and collect a run summary.

`python -m cvgl_core notebooks --profile cpu` runs notebooks/NN_*.ipynb in order, injects
the profile's parameters into the cell tagged `parameters`, writes executed copies to
<results>/notebooks/ and a run summary (Markdown) to <results>/. The `smoke` profile writes
to .scratch/smoke/, the `paper` profile to results/paper/ (beside the committed cpu results).

A failed or interrupted notebook leaves no mix of old and new files: the results
subfolders a notebook names in its metadata (`"cvgl": {"results": ["lrfr"]}`) are backed up
before it runs and restored if it fails, and what it had written goes under
<results>/failed/ beside its executed copy. Ctrl-C stops the run, restores, and still writes
the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from cvgl_core.notebook import HEADLESS_ENV
from cvgl_core.profiles import PROFILES
from cvgl_core.utils.io import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
KERNEL_NAME = "cvgl-study"
KERNEL_DISPLAY_NAME = "Python (cvgl-study)"  # as the Makefile registers it


@dataclass
class NotebookRun:
    notebook: str
    seconds: float
    status: str  # "ok", "failed: <where>", "interrupted" or "not run"
    output: Path | None
    note: str = ""  # what happened to its results subfolders


def dry_run_dir(profile: str) -> Path:
    """Where `-p dry_run=true` writes its results (and runs/ beside them) by default."""
    return REPO / ".scratch" / "dry_run" / profile / "results"


def default_dirs(profile: str) -> tuple[Path, Path]:
    """(results_dir, data_dir) for a profile: smoke runs stay in the scratch folder, paper
    runs beside the committed cpu results."""
    if profile == "smoke":
        scratch = REPO / ".scratch" / "smoke"
        return scratch / "results", scratch / "data"
    if profile == "paper":
        return REPO / "results" / "paper", REPO / "data" / "synth" / profile
    return REPO / "results", REPO / "data" / "synth" / profile


def find_notebooks(pattern: str | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if pattern:
        books = [p for p in books if fnmatch.fnmatch(p.name, f"*{pattern}*")]
    return books


def results_subfolders(path: Path) -> list[str]:
    """The results subfolders a notebook writes, from its metadata ("cvgl": {"results": [...]})."""
    meta = json.loads(Path(path).read_text()).get("metadata", {})
    subs = meta.get("cvgl", {}).get("results", [])
    bad = [s for s in subs if not isinstance(s, str) or not s or "/" in s or s.startswith(".")]
    if bad:
        raise ValueError(f"{path}: metadata cvgl.results holds {bad}: want plain folder names")
    return list(subs)


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL_NAME in specs:
        return KERNEL_NAME
    # Installed without `make` (e.g. `pip install -e .`): the current interpreter's kernel.
    return "python3"


def _repo_relative(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _parse_value(text: str):
    return yaml.safe_load(text)


def parse_params(items: list[str]) -> dict:
    params = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"parameter {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        params[key.strip()] = _parse_value(value)
    return params


@contextlib.contextmanager
def kernel_environment(offline: bool = True):
    """The environment the kernel inherits, for the duration of one notebook: the repo on
    the path (works without an install, and in worktrees), headless (no progress-bar widgets
    in executed copies), and no forced MPLBACKEND, so the inline backend embeds every figure.
    offline: no hub downloads (smoke and cpu never load pretrained weights); the paper profile
    leaves the caller's setting alone, so weights fetched by `python -m cvgl_core weights
    fetch` load, and a missing one is one clear MissingWeightsError line. The caller's
    environment is restored afterwards."""
    saved = dict(os.environ)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *(p for p in paths if p != str(REPO))])
    if offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ[HEADLESS_ENV] = "1"
    os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Backup:
    """Copies of a notebook's results subfolders, restored if the notebook does not finish."""

    def __init__(self, results_dir: Path, subs: list[str], name: str, failed_dir: Path):
        self.results_dir, self.subs = results_dir, subs
        self.store = results_dir / ".backup" / name
        self.recovered = ""
        if self.store.exists():
            # A run killed outright (SIGKILL, power) left its backup: the subfolders hold a
            # mix, the backup the last complete state. Put that back before backing up again.
            self.recovered = "after an earlier killed run: " + self.restore(failed_dir)
        for sub in subs:
            src = results_dir / sub
            if src.exists():
                shutil.copytree(src, self.store / sub)

    def commit(self) -> None:
        shutil.rmtree(self.store, ignore_errors=True)
        _remove_empty(self.store.parent)

    def restore(self, failed_dir: Path) -> str:
        """Put the old subfolders back; what the notebook wrote goes to failed_dir/<sub>."""
        notes = []
        for sub in self.subs:
            cur, old = self.results_dir / sub, self.store / sub
            if cur.is_dir() and not any(cur.iterdir()):
                cur.rmdir()  # created, nothing written: nothing to keep
            if cur.exists():
                dest = failed_dir / sub
                shutil.rmtree(dest, ignore_errors=True)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(cur, dest)
                notes.append(f"partial {sub}/ moved to {_repo_relative(dest)}")
            if old.exists():
                shutil.move(old, cur)
                notes.append(f"previous {sub}/ restored")
        self.commit()
        return "; ".join(notes)


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty


def run_notebook(
    path: Path,
    profile: str,
    results_dir: Path,
    data_dir: Path,
    extra: dict | None = None,
    kernel: str | None = None,
    cwd: Path = REPO,
) -> NotebookRun:
    """Execute one notebook; the executed copy lands in results_dir/notebooks only on success.

    On failure the executed copy and whatever the notebook wrote into its results
    subfolders go under results_dir/failed/, and the subfolders are restored as they were.
    KeyboardInterrupt restores the same way, removes the half-executed copy and propagates.
    cwd: where the kernel starts (the notebooks move it to the repo root themselves; tests
    start it in notebooks/ as JupyterLab does).
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    path, results_dir = Path(path), Path(results_dir)
    params = {
        "profile": profile,
        # Relative to the repo (the kernel's cwd), so committed tables name no machine's paths.
        "results_dir": _repo_relative(results_dir),
        "data_dir": _repo_relative(data_dir),
        **(extra or {}),
    }
    out_dir = results_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / path.name
    tmp = out_dir / f".{path.stem}.running.ipynb"
    failed_dir = results_dir / "failed"
    backup = _Backup(results_dir, results_subfolders(path), path.stem, failed_dir)
    if backup.recovered:
        print(f"{path.name}: {backup.recovered}", flush=True)
    t0 = time.perf_counter()

    def interrupted():
        tmp.unlink(missing_ok=True)
        backup.restore(failed_dir)
        _remove_empty(out_dir)
        return KeyboardInterrupt()

    try:
        with kernel_environment(offline=profile != "paper"):
            pm.execute_notebook(
                str(path),
                str(tmp),
                parameters=params,
                kernel_name=kernel or _kernel_name(),
                cwd=str(cwd),
                progress_bar=False,
                log_output=False,
            )
    except KeyboardInterrupt:
        raise interrupted() from None
    except PapermillExecutionError as e:
        if e.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel too (same process group)
            raise interrupted() from None
        failed = failed_dir / path.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, failed)
        where = f"cell {e.cell_index} ({e.ename}: {e.evalue})"
        note = backup.restore(failed_dir)
        return NotebookRun(path.name, time.perf_counter() - t0, f"failed: {where}", failed, note)
    except Exception as e:  # kernel died, missing kernel, bad notebook JSON
        tmp.unlink(missing_ok=True)
        note = backup.restore(failed_dir)
        return NotebookRun(path.name, time.perf_counter() - t0, f"failed: {e!r}", None, note)
    os.replace(tmp, final)
    backup.commit()
    return NotebookRun(path.name, time.perf_counter() - t0, "ok", final, backup.recovered)


def summary_markdown(
    runs: list[NotebookRun], profile: str, params: dict, data: str = "", results: str = ""
) -> str:
    import torch

    lines = [
        f"# Run summary ({profile} profile)",
        "",
        f"- when: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- profile: {profile}",
        f"- data: {data or 'unknown'}",
        f"- results: {results or 'unknown'}",
        f"- parameters: {params or 'none beyond the profile'}",
        f"- machine: {platform.node() or 'unknown'}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, CUDA: {torch.cuda.is_available()}",
        f"- python {platform.python_version()}, torch {torch.__version__}",
        "",
        "| notebook | seconds | status | results |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {r.notebook} | {r.seconds:.1f} | {r.status} | {r.note or '-'} |" for r in runs]
    lines.append(f"| **total** | {sum(r.seconds for r in runs):.1f} | | |")
    slow = [(r.notebook, c) for r in runs if r.output for c in slowest_cells(r.output)]
    if slow:  # what a budget is spent on: the first place to look when a run is too long
        lines += ["", "Where the time went (the slowest cells of each executed notebook):", ""]
        lines += ["| notebook | cell | seconds | its first line |", "|---|---:|---:|---|"]
        lines += [f"| {nb} | {i} | {sec:.1f} | `{head}` |" for nb, (i, sec, head) in slow]
    return "\n".join(lines) + "\n"


def slowest_cells(path: Path, top: int = 3, share: float = 0.05) -> list[tuple[int, float, str]]:
    """(cell index, seconds, first source line) of an executed notebook's slowest code cells,
    from papermill's per-cell durations: at most `top`, each over `share` of the notebook's
    time. [] when the copy is missing or carries no durations."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    cells = []
    for i, c in enumerate(nb.get("cells", [])):
        sec = (c.get("metadata", {}).get("papermill") or {}).get("duration")
        if c.get("cell_type") == "code" and isinstance(sec, (int, float)):
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            head = next((ln.strip() for ln in src.splitlines() if ln.strip()), "")
            cells.append((i, float(sec), head.replace("|", "\\|").replace("`", "'")[:70]))
    total = sum(sec for _, sec, _ in cells)
    cells.sort(key=lambda c: -c[1])
    return [c for c in cells[:top] if total and c[1] > share * total]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default="cpu",
        choices=sorted(PROFILES),
        help="smoke: tiny, for tests (writes to .scratch/smoke); cpu: the default study on the "
        "synthetic world (writes results/); paper: real datasets on a GPU (writes "
        "results/paper; pass -p data_root=FOLDER holding CVUSA/, CVACT/, VIGOR/, ...)",
    )
    p.add_argument("--only", metavar="PATTERN", help="run only notebooks whose name contains it")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra papermill parameter (YAML value), e.g. -p seed=1 -p data_root=/data "
        "-p 'dataset_dirs={sues200: SUES-200-512x512}'",
    )
    p.add_argument("--results-dir", type=Path, help="override where results are written")
    p.add_argument("--data-dir", type=Path, help="override where synthetic data is written")
    p.add_argument("--kernel", help=f"Jupyter kernel name (default: {KERNEL_NAME} if installed)")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="run the remaining notebooks after one fails (default: stop at the first failure)",
    )
    p.add_argument("--list", action="store_true", help="list the notebooks that would run")


def run(args: argparse.Namespace) -> int:
    books = find_notebooks(args.only)
    if not books:
        raise FileNotFoundError(f"no notebook in {NOTEBOOK_DIR} matches {args.only!r}")
    if args.list:
        print("\n".join(b.name for b in books))
        return 0
    extra = parse_params(args.param)
    if args.profile == "paper" and not extra.get("data_root"):
        raise ValueError(
            "the paper profile runs on the real datasets and has no synthetic world: "
            "pass -p data_root=/path/to/datasets (the folder holding CVUSA/, CVACT/, ...)"
        )
    if extra.get("data_root"):
        # Relative to where the command was typed; the kernel runs in the repo root.
        extra["data_root"] = str(Path(extra["data_root"]).expanduser().resolve())
    results_dir, data_dir = default_dirs(args.profile)
    if extra.get("dry_run") and not args.results_dir:
        # A dry run's rows (one step, a subset) must never replace a real run's rows, nor its
        # checkpoints be taken for real runs: it writes to scratch unless told otherwise.
        results_dir = dry_run_dir(args.profile)
    results_dir = Path(args.results_dir or results_dir).resolve()
    data_dir = Path(args.data_dir or data_dir).resolve()
    data = (
        f"real datasets under {extra['data_root']}"
        if extra.get("data_root")
        else f"synthetic world in {_repo_relative(data_dir)}"
    )
    runs: list[NotebookRun] = []
    interrupted = False
    for book in books:
        if interrupted or (runs and runs[-1].status != "ok" and not args.keep_going):
            runs.append(NotebookRun(book.name, 0.0, "not run", None))
            continue
        print(f"[{args.profile}] {book.name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            r = run_notebook(book, args.profile, results_dir, data_dir, extra, args.kernel)
        except KeyboardInterrupt:
            interrupted = True
            r = NotebookRun(
                book.name, time.perf_counter() - t0, "interrupted", None, "previous results kept"
            )
        print(f"[{args.profile}] {book.name}: {r.status} in {r.seconds:.1f} s", flush=True)
        runs.append(r)
    md = summary_markdown(runs, args.profile, extra, data, _repo_relative(results_dir))
    print("\n" + md)
    # A run of a subset must not clobber the full summary.
    name = "run_summary" if not args.only else f"run_summary_{args.only.strip('*')}"
    atomic_write_text(results_dir / f"{name}.md", md)
    if interrupted:
        print(
            "interrupted: summary written, unfinished notebook's results restored", file=sys.stderr
        )
        return 130
    failed = [r for r in runs if r.status.startswith("failed")]
    for r in failed:
        where = f"; executed copy at {r.output}" if r.output else ""
        print(f"error: notebook {r.notebook} {r.status}{where}", file=sys.stderr)
    return 1 if failed else 0
