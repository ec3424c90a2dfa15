"""Fail if any committed notebook carries outputs or execution counts, has no `parameters`
cell, or is not saved with the project's kernel (`cvgl-study`, as `make` registers it), so
JupyterLab and VS Code open it on the project's environment.

Notebooks are committed clean; executed copies live in results/notebooks/.
Usage: python tools/check_notebooks.py notebooks [more folders or files]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNELSPEC = {"name": "cvgl-study", "display_name": "Python (cvgl-study)", "language": "python"}


def problems(path: Path) -> list[str]:
    try:
        nb = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        return [f"{path}: not valid notebook JSON ({e})"]
    out = []
    spec = nb.get("metadata", {}).get("kernelspec", {})
    if {k: spec.get(k) for k in KERNELSPEC} != KERNELSPEC:
        out.append(f"{path}: kernelspec is {spec or 'missing'}, want {KERNELSPEC}")
    has_params = False
    for i, cell in enumerate(nb.get("cells", [])):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            has_params = True
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            out.append(f"{path}: cell {i} has outputs")
        if cell.get("execution_count") is not None:
            out.append(f"{path}: cell {i} has an execution count")
    if not has_params:
        out.append(f"{path}: no cell tagged 'parameters'")
    return out


def main(argv: list[str]) -> int:
    files: list[Path] = []
    for arg in argv or ["notebooks"]:
        p = Path(arg)
        files += sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
    found = [msg for f in files for msg in problems(f)]
    for msg in found:
        print(msg, file=sys.stderr)
    print(f"checked {len(files)} notebook(s): {'clean' if not found else 'NOT clean'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
