"""Dataset tools. `python -m cvgl_core data check NAME ROOT` reads a dataset folder as the
loaders do and reports, per split and view, the number of images, the missing files and
the unreadable images; it exits non-zero naming the first problem and what was expected
there. Run it after unpacking a dataset. NAME may be "auto" to detect the layout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from cvgl_core.data.base import CorruptImageError, load_image


@dataclass
class CheckReport:
    name: str
    root: Path
    rows: list[dict] = field(default_factory=list)  # split, view, items, missing, unreadable
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[tuple[str, str], int]:
        return {(r["split"], r["view"]): r["items"] for r in self.rows}


def _decode(path: Path) -> str | None:
    try:
        load_image(path)
    except (CorruptImageError, FileNotFoundError) as e:
        return str(e)
    return None


def check_dataset(name: str, root, decode: bool = True, log=print) -> CheckReport:
    """Read every split of dataset `name` under `root` leniently and collect problems."""
    from cvgl_core.data import DATASETS, detect_layout
    from cvgl_core.data.base import existing_root

    root = existing_root(root, name)
    if name == "auto":
        name, _ = detect_layout(root)
    mod = DATASETS.get(name)
    root = mod.resolve(root)  # one clear error when the layout is not this dataset's
    report = CheckReport(name, Path(root))
    missing_fatal = getattr(mod, "MISSING_IS_FATAL", True)
    seen_msgs: set[str] = set()
    decoded: dict[Path, str | None] = {}
    plan = mod.check_plan(root)
    if not plan:
        report.problems.append(("empty", f"{root}: nothing to check: no split of {name} found"))
    for label, kwargs in plan:
        ds = mod.build(root, strict=False, check_files=False, **kwargs)
        for kind, msg in ds.problems:
            if msg not in seen_msgs:
                seen_msgs.add(msg)
                report.problems.append((kind, msg))
        groups: dict[str, dict[Path, str]] = defaultdict(dict)
        for view, path, origin in ds.files():
            groups[view].setdefault(path, origin)
        for view, paths in groups.items():
            missing = unreadable = 0
            for path, origin in paths.items():
                if not os.path.isfile(path):
                    missing += 1
                    msg = f"{path}: file not found (expected a {view} image, listed by {origin})"
                    if msg not in seen_msgs:
                        seen_msgs.add(msg)
                        if missing_fatal:
                            report.problems.append(("missing", msg))
                        else:
                            report.warnings.append(msg + "; the loader skips it")
                    continue
                if decode:
                    if path not in decoded:
                        decoded[path] = _decode(path)
                    if decoded[path] is not None:
                        unreadable += 1
                        msg = f"{decoded[path]} (a {view} image, listed by {origin})"
                        if msg not in seen_msgs:
                            seen_msgs.add(msg)
                            report.problems.append(("unreadable", msg))
            row = dict(split=label, view=view, items=len(paths), missing=missing)
            row["unreadable"] = unreadable
            report.rows.append(row)
            log(
                f"{label:<24} {view:<10} {len(paths):>8} {missing:>8} "
                f"{unreadable if decode else '-':>10}"
            )
    return report


def run_check(args) -> int:
    log = print
    log(f"checking {args.name} at {args.root}")
    log(f"{'split':<24} {'view':<10} {'items':>8} {'missing':>8} {'unreadable':>10}")
    report = check_dataset(args.name, args.root, decode=not args.no_decode, log=log)
    for w in report.warnings:
        log(f"warning: {w}")
    for kind, msg in report.problems:
        log(f"{kind}: {msg}")
    if report.ok:
        log(f"ok: {report.name} at {report.root}")
        return 0
    kind, msg = report.problems[0]
    print(f"error: {len(report.problems)} problem(s); first ({kind}): {msg}", file=sys.stderr)
    return 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p = sub.add_parser(
        "check",
        help="count items per split and view; report missing and unreadable files",
        description="Read a dataset folder as the loaders do and report its problems.",
    )
    p.add_argument("name", help="cvusa, cvact, vigor, university1652, sues200 or auto")
    p.add_argument("root", help="the dataset folder")
    p.add_argument("--no-decode", action="store_true", help="only check that files exist (faster)")


def run(args) -> int:
    if getattr(args, "data_command", None) != "check":
        print("usage: python -m cvgl_core data check NAME ROOT", file=sys.stderr)
        return 2
    return run_check(args)
