"""Result tables: results/<paper>/<table>.csv and .md, one row per (dataset, ..., seed).

Rows are dicts: the descriptive columns below, our metrics under their plain names ("R@1",
"AP", ...), and the paper's reported numbers under "paper <metric>" ("paper R@1"; see
`paper_columns`), never in the same column as ours. `update_table` replaces a row whose key
matches instead of appending, and writes both files atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from cvgl_core.utils import atomic_write_text

META = ("dataset", "split", "direction", "protocol", "profile", "data", "model", "seed", "epochs")
KEY = ("dataset", "split", "direction", "protocol", "profile", "model", "seed")
PAPER_PREFIX = "paper "


def paper_columns(reported: Mapping[str, float]) -> dict[str, float]:
    """{"R@1": 93.6} -> {"paper R@1": 93.6}: the paper's numbers beside ours, kept apart."""
    return {f"{PAPER_PREFIX}{k}": v for k, v in reported.items()}


def _key_text(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _ordered(columns: Iterable[str]) -> list[str]:
    columns = list(dict.fromkeys(columns))
    meta = [c for c in META if c in columns]
    paper = [c for c in columns if c.startswith(PAPER_PREFIX)]
    ours = [c for c in columns if c not in meta and c not in paper]
    return meta + ours + paper


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v).replace("|", "\\|")


def markdown(df: pd.DataFrame, caption: str) -> str:
    """A Markdown table with a caption line above it (numbers to two decimals)."""
    cols = list(df.columns)
    lines = [caption.strip(), "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _values(df: pd.DataFrame, col: str) -> str:
    if col not in df:
        return "?"
    return ", ".join(sorted({_key_text(v) for v in df[col]} - {""})) or "?"


def table_caption(
    rows: pd.DataFrame | Iterable[Mapping], title: str | None = None, note: str | None = None
) -> str:
    """A caption that describes the rows it sits above, one clause per profile.

    "Table II. Profile cpu (4 rows): data synthetic world (data/synth/cpu); seed 0; sizes
    [32, 128]. Profile paper (1 row): data real cvact at /data/CVACT; seed 1; ..." Data comes
    from each row's "data" column (update_table fills it from its `data` argument), sizes
    from a "sizes" column when rows have one; rows without them say "?". So a table never
    claims one profile's data above another profile's rows.
    """
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame([dict(r) for r in rows])
    clauses = []
    if "profile" in df and len(df):
        groups = list(df.groupby(df["profile"].map(_key_text), sort=True))
    else:
        groups = [("?", df)]
    for profile, part in groups:
        parts = [f"data {_values(part, 'data') if 'data' in part else _values(part, 'dataset')}"]
        parts.append(f"seed {_values(part, 'seed')}")
        if "sizes" in part:
            parts.append(f"sizes {_values(part, 'sizes')}")
        n = len(part)
        clauses.append(
            f"Profile {profile or '?'} ({n} row{'s' if n != 1 else ''}): " + "; ".join(parts)
        )
    text = ". ".join(clauses) + "."
    text += f" Columns '{PAPER_PREFIX}...' are the paper's reported numbers; the others are ours."
    if title:
        text = f"{title.rstrip('.')}. {text}"
    if note:
        text = f"{text} {note}"
    return text


def update_table(
    path_stem: str | os.PathLike,
    rows: Mapping | Iterable[Mapping],
    key: tuple[str, ...] = KEY,
    *,
    caption: str | None = None,
    data: str | None = None,
    title: str | None = None,
    note: str | None = None,
    replace_on: tuple[str, ...] | None = None,
    models: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Merge `rows` into <path_stem>.csv / .md, replacing rows with the same key.

    replace_on: the columns that make an old row the same row as a new one (default `key`):
    ("model",) lets a row re-run over other seeds replace its old self. models: the labels
    the table declares; old rows under any other model label are dropped (left by an older
    definition of the table), while declared rows that this call does not bring (a dataset
    skipped this time) are kept.

    The caption line is `table_caption(whole table, title, note)`, built from the rows
    (profile, data, seed, sizes); `data` names the data of the new rows (e.g. "synthetic
    world data/synth/cpu" or a dataset root) and is stored in their "data" column. An
    explicit `caption` replaces the generated line (it then describes every row: prefer
    title/note).
    Returns the whole table. A concurrent writer of the same table can lose a row: the
    read-modify-write is not locked, only each file write is atomic.
    """
    stem = Path(path_stem)
    if stem.suffix in (".csv", ".md"):
        stem = stem.with_suffix("")
    rows = [dict(rows)] if isinstance(rows, Mapping) else [dict(r) for r in rows]
    if data is not None:
        rows = [{**r, "data": r.get("data", data)} for r in rows]
    for i, r in enumerate(rows):
        missing = [k for k in key if k not in r]
        if missing:
            raise KeyError(f"row {i} lacks key column(s) {missing}; key is {list(key)}")
    csv_path = stem.with_suffix(".csv")
    old = pd.read_csv(csv_path) if csv_path.exists() else pd.DataFrame()
    new = pd.DataFrame(rows)
    if len(old):
        missing = [k for k in key if k not in old.columns]
        if missing:
            raise KeyError(f"{csv_path} lacks key column(s) {missing}; key is {list(key)}")
        same = list(replace_on or key)
        new_keys = {tuple(_key_text(r.get(k)) for k in same) for r in rows}
        stale = [
            tuple(_key_text(v) for v in r) in new_keys for r in old.reindex(columns=same).values
        ]
        if models is not None:
            declared = {_key_text(m) for m in models}
            stale = [s or _key_text(m) not in declared for s, m in zip(stale, old["model"])]
        old = old.loc[[not s for s in stale]]
    if len(new):  # the last of several rows with one key wins
        new = new.loc[~new.duplicated(subset=list(key), keep="last")]
    frames = [d for d in (old, new) if len(d)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(key))
    df = df[_ordered(df.columns)]
    atomic_write_text(csv_path, df.to_csv(index=False))
    text = caption or table_caption(df, title, note)
    atomic_write_text(stem.with_suffix(".md"), markdown(df, text))
    return df
