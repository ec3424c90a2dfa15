"""Execute the numbered notebooks with papermill and collect a run summary.

`python -m cvgl_core notebooks --profile cpu` runs notebooks/NN_*.ipynb in order, injects
the profile's parameters into the cell tagged `parameters`, writes executed copies to
<results>/notebooks/ and a run summary (CSV + Markdown) to <results>/. The `smoke`
profile writes to .scratch/smoke/ and never touches the committed results/.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from cvgl_core.profiles import PROFILES
from cvgl_core.utils.io import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
KERNEL_NAME = "cvgl-study"


@dataclass
class NotebookRun:
    notebook: str
    seconds: float
    status: str  # "ok" or "failed: <where>"
    output: Path | None


def default_dirs(profile: str) -> tuple[Path, Path]:
    """(results_dir, data_dir) for a profile: smoke runs stay in the scratch folder."""
    if profile == "smoke":
        scratch = REPO / ".scratch" / "smoke"
        return scratch / "results", scratch / "data"
    return REPO / "results", REPO / "data" / "synth" / profile


def find_notebooks(pattern: str | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if pattern:
        books = [p for p in books if fnmatch.fnmatch(p.name, f"*{pattern}*")]
    return books


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


def run_notebook(
    path: Path,
    profile: str,
    results_dir: Path,
    data_dir: Path,
    extra: dict | None = None,
    kernel: str | None = None,
) -> NotebookRun:
    """Execute one notebook; the executed copy lands in results_dir/notebooks only on success."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

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
    # The kernel inherits this environment: the repo on the path (works without an
    # install, and in worktrees), no hub downloads, no display.
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO) not in paths:  # once, not once per notebook
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *paths])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(path),
            str(tmp),
            parameters=params,
            kernel_name=kernel or _kernel_name(),
            cwd=str(REPO),
            progress_bar=False,
            log_output=False,
        )
    except PapermillExecutionError as e:
        failed = REPO / ".scratch" / "failed" / path.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, failed)
        where = f"cell {e.cell_index} ({e.ename}: {e.evalue})"
        return NotebookRun(path.name, time.perf_counter() - t0, f"failed: {where}", failed)
    except Exception as e:  # kernel died, missing kernel, bad notebook JSON
        if tmp.exists():
            tmp.unlink()
        return NotebookRun(path.name, time.perf_counter() - t0, f"failed: {e!r}", None)
    os.replace(tmp, final)
    return NotebookRun(path.name, time.perf_counter() - t0, "ok", final)


def summary_markdown(runs: list[NotebookRun], profile: str, params: dict) -> str:
    import torch

    lines = [
        f"# Run summary ({profile} profile)",
        "",
        f"- when: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {platform.node() or 'unknown'}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, CUDA: {torch.cuda.is_available()}",
        f"- python {platform.python_version()}, torch {torch.__version__}",
        f"- extra parameters: {params or 'none'}",
        "",
        "| notebook | seconds | status |",
        "|---|---:|---|",
    ]
    lines += [f"| {r.notebook} | {r.seconds:.1f} | {r.status} |" for r in runs]
    lines.append(f"| **total** | {sum(r.seconds for r in runs):.1f} | |")
    return "\n".join(lines) + "\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default="cpu",
        choices=sorted(PROFILES),
        help="smoke: tiny, for tests (writes to .scratch/smoke); cpu: the default study on the "
        "synthetic world (writes results/); paper: real datasets on a GPU (pass -p data_root=...)",
    )
    p.add_argument("--only", metavar="PATTERN", help="run only notebooks whose name contains it")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra papermill parameter (YAML value), e.g. -p seed=1 -p data_root=/data/CVUSA",
    )
    p.add_argument("--results-dir", type=Path, help="override where results are written")
    p.add_argument("--data-dir", type=Path, help="override where synthetic data is written")
    p.add_argument("--kernel", help=f"Jupyter kernel name (default: {KERNEL_NAME} if installed)")
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
            "pass -p data_root=/path/to/datasets"
        )
    results_dir, data_dir = default_dirs(args.profile)
    results_dir = args.results_dir or results_dir
    data_dir = args.data_dir or data_dir
    runs: list[NotebookRun] = []
    for book in books:
        print(f"[{args.profile}] {book.name} ...", flush=True)
        r = run_notebook(book, args.profile, results_dir, data_dir, extra, args.kernel)
        print(f"[{args.profile}] {book.name}: {r.status} in {r.seconds:.1f} s", flush=True)
        runs.append(r)
        if r.status != "ok":
            break
    md = summary_markdown(runs, args.profile, extra)
    print("\n" + md)
    # A run of a subset must not clobber the full summary.
    name = "run_summary" if not args.only else f"run_summary_{args.only.strip('*')}"
    atomic_write_text(results_dir / f"{name}.md", md)
    failed = [r for r in runs if r.status != "ok"]
    if failed:
        r = failed[0]
        where = f"; executed copy at {r.output}" if r.output else ""
        print(f"error: notebook {r.notebook} {r.status}{where}", file=sys.stderr)
        return 1
    return 0
