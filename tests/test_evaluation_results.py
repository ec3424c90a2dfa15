"""Results writer: replace-by-key, paper columns kept apart, caption, atomic writes."""

import pandas as pd
import pytest

from cvgl_core.evaluation import markdown, paper_columns, table_caption, update_table
from cvgl_core.evaluation import results as results_mod


def row(model="baseline", seed=0, r1=10.0, **extra):
    return dict(
        dataset="cvusa",
        split="val",
        direction="ground->satellite",
        protocol="official",
        profile="smoke",
        model=model,
        seed=seed,
        epochs=1,
        **{"R@1": r1, "R@5": 30.0},
        **extra,
    )


def test_a_table_owns_its_rows_over_seeds_and_definitions(tmp_path):
    """run_table's way: a row re-run over other seeds replaces its one-seed self, a label the
    table no longer declares goes, a declared row not re-run this time (its dataset skipped)
    stays."""
    stem = tmp_path / "t"
    update_table(
        stem,
        [
            row("AWM", seed=0, r1=1.0),
            row("old name", seed=0),
            {**row("ResNet18", seed=0, r1=2.0), "dataset": "cvact"},
        ],
    )
    df = update_table(
        stem, row("AWM", seed="0,1,2", r1=3.0), replace_on=("model",),
        models=["AWM", "ResNet18"],
    )  # fmt: skip
    assert sorted(zip(df["model"], df["seed"].astype(str), df["R@1"])) == [
        ("AWM", "0,1,2", 3.0),
        ("ResNet18", "0", 2.0),
    ]
    # without them (the default key), the one-seed row and the old label stay
    update_table(stem, row("old name", seed=0))
    df = update_table(stem, row("AWM", seed=1, r1=4.0))
    assert len(df) == 4


def test_update_replaces_same_key_and_keeps_others(tmp_path):
    stem = tmp_path / "lrfr" / "table1"
    update_table(stem, [row(), row(model="gsra", **paper_columns({"R@1": 98.1}))])
    df = update_table(stem, row(r1=55.5))  # same key as the first row: replaced
    assert len(df) == 2
    again = pd.read_csv(stem.with_suffix(".csv"))
    assert list(again["model"]) == ["gsra", "baseline"]
    assert again.loc[again.model == "baseline", "R@1"].item() == 55.5
    # Column order: descriptive, ours, then the paper's.
    assert list(again.columns) == [
        "dataset",
        "split",
        "direction",
        "protocol",
        "profile",
        "model",
        "seed",
        "epochs",
        "R@1",
        "R@5",
        "paper R@1",
    ]
    df = update_table(stem, row(seed=1))  # another seed is another row
    assert len(df) == 3
    md = stem.with_suffix(".md").read_text()
    first = md.splitlines()[0]
    assert first.startswith("Profile smoke (3 rows): data cvusa; seed 0, 1.")
    assert "| paper R@1 |" in md and "98.10" in md


def test_duplicate_keys_within_rows_last_wins(tmp_path):
    df = update_table(tmp_path / "t", [row(r1=1.0), row(r1=2.0)], caption="c")
    assert len(df) == 1 and df["R@1"].item() == 2.0
    assert (tmp_path / "t.md").read_text().startswith("c\n")


def test_missing_key_column_is_an_error(tmp_path):
    bad = row()
    del bad["seed"]
    with pytest.raises(KeyError, match="seed"):
        update_table(tmp_path / "t", bad)
    assert not (tmp_path / "t.csv").exists()


def test_failed_write_leaves_old_files_intact(tmp_path, monkeypatch):
    stem = tmp_path / "t"
    update_table(stem, row(r1=1.0))
    before = stem.with_suffix(".csv").read_text()

    def broken_to_csv(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(RuntimeError):
        update_table(stem, row(r1=2.0))
    assert stem.with_suffix(".csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md"]  # no temp files


def test_writes_go_through_atomic_write(tmp_path, monkeypatch):
    written = []
    real = results_mod.atomic_write_text

    def spy(path, text):
        written.append(path.name)
        return real(path, text)

    monkeypatch.setattr(results_mod, "atomic_write_text", spy)
    update_table(tmp_path / "t.csv", row())
    assert written == ["t.csv", "t.md"]


def test_markdown_format():
    df = pd.DataFrame([{"model": "a|b", "R@1": 12.345, "paper R@1": float("nan")}])
    text = markdown(df, "Caption.")
    assert text.splitlines() == [
        "Caption.",
        "",
        "| model | R@1 | paper R@1 |",
        "|---|---|---|",
        "| a\\|b | 12.35 |  |",
    ]


def test_caption_describes_each_profile_of_the_rows(tmp_path):
    """LRFR Table II once said "profile paper, real cvact" above cpu rows: never again."""
    stem = tmp_path / "t"
    update_table(stem, {**row(), "profile": "cpu", "sizes": "[32, 128]"}, data="synthetic (cpu)")
    paper = {**row(seed=1), "profile": "paper", "sizes": "[256, 512]"}
    update_table(stem, paper, data="real cvact at /d", title="T2")
    first = stem.with_suffix(".md").read_text().splitlines()[0]
    assert first.startswith(
        "T2. Profile cpu (1 row): data synthetic (cpu); seed 0; sizes [32, 128]. "
        "Profile paper (1 row): data real cvact at /d; seed 1; sizes [256, 512]."
    )
    df = pd.read_csv(stem.with_suffix(".csv"))
    assert list(df["data"]) == ["synthetic (cpu)", "real cvact at /d"]
    assert table_caption([row()], note="One seed.").endswith("the others are ours. One seed.")
