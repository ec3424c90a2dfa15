"""benchmarks/gpu_check.py on CPU with tiny steps, so the script a GPU day needs is exercised."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_gpu_check_runs_a_paper_config_on_cpu(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    import gpu_check

    args = ["--device", "cpu", "--steps", "2", "--batch", "2", "--workers", "0"]
    rows = gpu_check.main([*args, "--configs", "awm/cvusa*", "--data", str(tmp_path)])
    (r,) = rows
    assert r["config"] == "awm/cvusa_paper" and r["steps"] == 2 and r["batch"] == 2
    assert r["images_per_s"] > 0 and 0 <= r["data_wait_share"] < 1
    assert r["peak_gb"] is None and r["paper_gpu"] == "TITAN RTX 24 GB"
    assert "awm/cvusa_paper" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no paper config matches"):
        gpu_check.paper_configs("nothing*")
    sys.modules.pop("gpu_check", None)
