"""The notebooks' experiment helper: train one config, evaluate it, keep what tables need.

A paper notebook is a sequence of runs (the full model, then each ablation) whose metrics
become table rows and whose descriptors feed t-SNE, retrieval grids and recall curves:

    run = run_experiment("configs/baseline/cvusa_{profile}.yaml", profile=profile,
                         data_dir=data_dir, results_dir=results_dir, seed=seed)
    run.metrics["R@1"], run.history, run.model, run.descriptors.query
    update_table(Path(results_dir) / "lrfr" / "table3", run.row(model="+GSRA"))

Cross-area evaluation is the same trained model on another dataset or protocol, without
retraining: `evaluate_transfer(run, "cvact")` (trained on the CVUSA layout, tested on the
CVACT one, as the papers' CVUSA->CVACT) or `evaluate_transfer(run, "vigor", options={...,
"area": "cross"})`.

Runs are kept, reused and resumed. Each run lives in runs/<profile>/<name>/seed<k>-<hash>
(beside results/), the hash being that of its resolved config without the keys that do not
change the result (`config.RESULT_NEUTRAL_KEYS`: output folder, data folder, workers, eval
batch size, device, progress, checkpoint cadence). Calling `run_experiment` again:

* the same key, finished (last.pt at the last epoch): the model is restored from last.pt
  (weights_only) with its history; nothing is trained, and its evaluation (metrics and
  descriptors) is read from the run folder's `eval-<hash>.pt`, written the first time that
  checkpoint was evaluated under that config (`_evaluation`), so re-running a notebook to
  redraw its figures, or another notebook reusing the run, costs neither training nor
  extraction;
* the same key, interrupted (last.pt before the last epoch, or inside an epoch): training
  resumes from last.pt, exactly;
* another seed or any setting that changes the result: another folder; nothing is deleted;
* no folder under this name, but a finished one with the same seed and key under another
  name (`finished_twin`: notebook 06's benchmark row that a paper notebook trained already):
  that run is restored, with its evaluation, from its own folder (`Run.run_dir` points there).

`retrain=True` trains afresh: the old folder is first renamed (atomically) to
seed<k>-<hash>.replaced-<UTC time> and deleted only once the new run has trained and been
evaluated, so a crash of the new run leaves the old one recoverable there.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import numbers
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from cvgl_core.config import RESULT_NEUTRAL_KEYS, Config, flatten, load_config


@dataclass
class Run:
    cfg: Config
    model: nn.Module  # trained, eval mode
    history: pd.DataFrame  # one row per epoch: loss, throughput, per-epoch metrics
    metrics: dict  # final evaluation of the eval split, percent
    query_ds: Any
    reference_ds: Any
    descriptors: Any  # evaluation.Descriptors: query, reference, query_labels, reference_labels
    run_dir: Path

    def row(self, **columns) -> dict:
        """A results-table row: the key columns of `evaluation.results.KEY`, the epochs,
        every metric in percent and the training speed; `columns` add or override."""
        data = "synthetic " if self.cfg.data.root is None else ""
        row = {
            "dataset": f"{data}{self.cfg.data.dataset}",
            "split": self.cfg.data.eval_split,
            "direction": f"{self.query_ds.view}->{self.reference_ds.view}",
            "protocol": self.cfg.data.options.get("protocol", "default"),
            "profile": self.cfg.profile,
            "model": self.cfg.name,
            "seed": self.cfg.train.seed,
            "epochs": len(self.history),
        }
        keep = ("num_queries", "num_no_positive", "k_one_percent", "k_one_percent_rule")
        row.update({k: round(float(v), 2) for k, v in self.metrics.items() if k not in keep})
        if "k_one_percent_rule" in self.metrics:  # the R@1% rounding this table used
            row["R@1% rule"] = self.metrics["k_one_percent_rule"]
        row["gallery"] = len(self.reference_ds)  # the evaluated view (a dry run cuts it)
        if "train_seconds" in self.history:
            row["train s/epoch"] = round(float(self.history["train_seconds"].mean()), 1)
        row.update(columns)
        return row


def _evaluated(cfg, query_ds, reference_ds) -> dict:
    """{"query_ds", "reference_ds"}: the views the descriptors were extracted from, so row i
    of `descriptors.query` is `query_ds[i]` also in a dry run (eval.max_queries / max_gallery
    evaluate a subset); the datasets themselves otherwise."""
    from cvgl_core.evaluation.subset import eval_subset

    q, r = eval_subset(query_ds, reference_ds, cfg.eval.max_queries, cfg.eval.max_gallery)
    return {"query_ds": q, "reference_ds": r}


def runs_dir(results_dir: str | Path, profile: str) -> Path:
    """runs/<profile>/ beside the results folder (git-ignored; scratch for smoke). A results
    folder named after its profile (the paper profile's results/paper/) counts as its parent,
    so paper runs go to runs/paper/ beside results/, not inside the committed folder."""
    results = Path(results_dir).resolve()
    if results.name == profile:
        results = results.parent
    return results.parent / "runs" / profile


def run_key(cfg: Config | dict) -> str:
    """10 hex digits of the sha256 of the resolved config, neutral keys left out: two configs
    with the same key train the same weights. Only values that differ from the Config
    defaults enter it, so adding a config key (with a default that keeps the old behaviour)
    does not orphan the runs trained before it."""
    defaults = flatten(Config().to_dict())
    flat = flatten(cfg.to_dict() if isinstance(cfg, Config) else cfg)
    keyed = {
        k: v
        for k, v in flat.items()
        if k not in RESULT_NEUTRAL_KEYS and (k not in defaults or defaults[k] != v)
    }
    if "standin" in keyed.values():  # the stand-in's recipe decides the starting weights
        from cvgl_core.standin import RECIPE_ID

        keyed["standin"] = RECIPE_ID
    if flat.get("data.root") is None and flat.get("data.dataset"):
        from cvgl_core.synth.api import GENERATOR_VERSIONS, world_knobs

        # a synthetic layout's generator decides the data; versions up to 2 predate this key
        # (runs trained on those layouts keep their folders)
        version = GENERATOR_VERSIONS.get(flat["data.dataset"], 0)
        if version > 2:
            keyed["world"] = version
        # so does a world written by hand with other knobs (data.data_dir is neutral: the
        # same world in another folder is the same run)
        if flat.get("data.data_dir") and (
            knobs := world_knobs(flat["data.dataset"], flat["data.data_dir"])
        ):
            keyed["knobs"] = knobs
    text = json.dumps(keyed, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def finished_twin(run_dir: Path, epochs: int) -> Path | None:
    """A finished run with `run_dir`'s seed and key under another name of the same runs
    folder (the name is result-neutral: notebook 06 names its runs after the benchmark, the
    paper notebooks after their tables), or None. Its last.pt must be at `epochs` and not
    inside an epoch; the newest such folder wins."""
    from cvgl_core.training.trainer import CheckpointError, load_checkpoint

    found = []
    for last in run_dir.parent.parent.glob(f"*/{run_dir.name}/last.pt"):
        if last.parent == run_dir:
            continue
        try:
            ckpt = load_checkpoint(last)
        except (CheckpointError, ValueError, OSError):  # unreadable: no twin, train afresh
            continue
        if ckpt["epoch"] >= epochs and ckpt.get("in_epoch") is None:
            found.append((last.stat().st_mtime_ns, last.parent))
    return max(found)[1] if found else None


def run_experiment(
    config: str | Path,
    *,
    profile: str,
    data_dir: str | Path,
    results_dir: str | Path,
    seed: int = 0,
    world_seed: int = 0,
    data_root: str | Path | None = None,
    name: str | None = None,
    overrides: dict | None = None,
    resume_from: str | Path | None = None,
    retrain: bool = False,
) -> Run:
    """Train `config` (a path; "{profile}" in it is filled in) and evaluate it.

    The notebook's parameters (profile, synthetic data folder, real data_root, seeds) override
    the file; `overrides` (dotted keys, e.g. {"model.kwargs.attention": "cbam"}) come last.
    resume_from: a checkpoint (another run's last.pt) this run continues from, exactly, instead
    of starting from scratch: a short run continued to the full length gives both readings for
    the cost of one (the schedule must not depend on the total, e.g. constant or staged; the
    trainer refuses any other difference). Ignored when this run's own folder has a
    checkpoint already (it is at least as far along).
    retrain: train afresh even when a finished or interrupted run with this key exists (see
    the module docstring for what happens to the old folder).
    The run folder is runs/<profile>/<name>/seed<seed>-<run_key(cfg)>.
    """
    from cvgl_core.training import fit
    from cvgl_core.training.trainer import load_checkpoint

    path = Path(str(config).format(profile=profile))
    name = name or f"{path.parent.name}_{path.stem}"  # load_config's default name
    cfg = load_config(
        path,
        overrides={
            "name": name,
            "profile": profile,
            "data.root": None if data_root is None else str(data_root),
            "data.data_dir": str(data_dir),
            "data.synth_seed": world_seed,
            "train.seed": seed,
            "train.progress": False,
            **(overrides or {}),
        },
    )
    run_dir = runs_dir(results_dir, profile) / name / f"seed{cfg.train.seed}-{run_key(cfg)}"
    cfg.output.dir = str(run_dir)
    cfg.train.resume = True
    last = run_dir / "last.pt"
    aside = None
    if retrain and run_dir.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
        os.replace(run_dir, aside)
    ckpt = load_checkpoint(last) if last.exists() else None
    twin = None if retrain or ckpt is not None else finished_twin(run_dir, cfg.train.epochs)
    if twin is not None:  # the same training under another name (another notebook's row)
        run_dir, last = twin, twin / "last.pt"
        ckpt = load_checkpoint(last)
        print(
            f"[{name}] reusing the finished run {run_dir} ({ckpt['epoch']} epochs; the same "
            f"config, seed and data, trained as {twin.parent.name!r})",
            flush=True,
        )
        model, history, ds = _restore(cfg, ckpt, str(last))
    elif ckpt is not None and ckpt["epoch"] >= cfg.train.epochs and ckpt.get("in_epoch") is None:
        print(f"[{name}] reusing the finished run {run_dir} ({ckpt['epoch']} epochs)", flush=True)
        model, history, ds = _restore(cfg, ckpt, str(last))
    else:
        if ckpt is None and resume_from is not None:
            from cvgl_core.utils import atomic_write_bytes

            atomic_write_bytes(last, Path(resume_from).read_bytes())
        elif ckpt is not None:
            print(f"[{name}] resuming {run_dir} after epoch {ckpt['epoch']}", flush=True)
        del ckpt  # the trainer loads it again, onto its device
        model, history, ds = fit(cfg)
    model.eval()
    metrics, desc = _evaluation(cfg, model, ds, run_dir)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return Run(
        cfg=cfg,
        model=model,
        history=pd.DataFrame(history),
        metrics=metrics,
        **_evaluated(cfg, ds["query"], ds["reference"]),
        descriptors=desc,
        run_dir=run_dir,
    )


EVAL_CACHE_VERSION = 1  # bump when the evaluator's metrics or descriptors change


def _evaluation(cfg: Config, model: nn.Module, ds: dict, run_dir: Path):
    """(metrics, Descriptors) of a finished run: read from run_dir/eval-<hash>.pt when this
    checkpoint (its sha256) was evaluated under this config (its run key) before, else
    computed and written there atomically. Under torch.distributed nothing is cached."""
    from cvgl_core.evaluation.extract import Descriptors
    from cvgl_core.training import distributed as D
    from cvgl_core.training.experiment import file_sha256, make_evaluator
    from cvgl_core.utils import atomic_write_bytes

    evaluate = make_evaluator(cfg, ds["query"], ds["reference"], return_descriptors=True)
    last = run_dir / "last.pt"
    if D.get_world_size() > 1 or not last.exists():
        return evaluate(model)
    text = f"{run_key(cfg)} {file_sha256(last)} {EVAL_CACHE_VERSION}"
    path = run_dir / f"eval-{hashlib.sha256(text.encode()).hexdigest()[:10]}.pt"
    if path.exists():
        try:
            c = torch.load(path, map_location="cpu", weights_only=True)
            labels = (c["query_labels"].numpy(), c["reference_labels"].numpy())
            return c["metrics"], Descriptors(c["query"], c["reference"], *labels)
        except Exception as e:  # unreadable (a foreign or damaged file): evaluate afresh
            print(f"[{cfg.name}] evaluation cache {path} unreadable ({e}); evaluating", flush=True)
    metrics, desc = evaluate(model)
    metrics = {k: float(v) if isinstance(v, numbers.Real) else v for k, v in metrics.items()}
    record = {
        "metrics": metrics,
        "query": desc.query,
        "reference": desc.reference,
        "query_labels": torch.as_tensor(desc.query_labels),
        "reference_labels": torch.as_tensor(desc.reference_labels),
    }
    buf = io.BytesIO()
    torch.save(record, buf)
    atomic_write_bytes(path, buf.getvalue())
    return metrics, desc


def _restore(cfg: Config, ckpt: dict, source: str):
    """(model with the checkpoint's weights, its history, datasets) of a finished run: what
    `fit` returns, without training."""
    from cvgl_core.training import distributed as D
    from cvgl_core.training.experiment import build_datasets, build_model
    from cvgl_core.training.trainer import load_model_state

    device = D.init_from_env(cfg.train.device)
    ds = build_datasets(cfg)
    model = build_model(cfg, ds["pair"])  # relabels the pairs as training did
    load_model_state(model, ckpt["model"], source)
    return model.to(device), list(ckpt["history"]), ds


def evaluate_transfer(
    run: Run,
    dataset: str,
    *,
    root: str | Path | None = None,
    split: str | None = None,
    options: dict | None = None,
) -> Run:
    """`run`'s trained model evaluated on `dataset` (another layout or protocol), unchanged.

    root: the real dataset root, or None for the synthetic world of the run's profile and data
    folder; split: its evaluation split (default: the run's); options: build_dataset options
    replacing the run's (default: the run's, e.g. the same image sizes). Returns a Run whose
    cfg names the evaluated dataset (so `.row()` labels it) and whose history is the training
    run's; `cfg.name` keeps the run's name.
    """
    from cvgl_core.training.experiment import build_datasets, make_evaluator

    cfg = copy.deepcopy(run.cfg)
    cfg.data.dataset = dataset
    cfg.data.root = None if root is None else str(root)
    if split is not None:
        cfg.data.eval_split = split
    if options is not None:
        cfg.data.options = dict(options)
    ds = build_datasets(cfg, roles=("query", "reference"))
    was_training = run.model.training
    metrics, desc = make_evaluator(cfg, ds["query"], ds["reference"], return_descriptors=True)(
        run.model.eval()
    )
    run.model.train(was_training)
    return Run(
        cfg=cfg,
        model=run.model,
        history=run.history,
        metrics=metrics,
        **_evaluated(cfg, ds["query"], ds["reference"]),
        descriptors=desc,
        run_dir=run.run_dir,
    )


def evaluate_at_fov(run: Run, fov: float, *, return_descriptors: bool = False):
    """Evaluate a trained limited-FoV run at another field of view, without retraining.

    For models whose weights do not depend on the ground width and that expose
    `set_fov(fov)` (AWM): the eval split's ground views are re-cropped at `fov` degrees with
    the run's fixed seeded headings (the test protocol), the model's windows are set for that
    FoV, both splits are extracted and scored (`evaluate_transfer` on the run's own dataset),
    and the model's FoV is restored. Returns the metrics, or (metrics, Descriptors) with
    return_descriptors=True.
    """
    if not hasattr(run.model, "set_fov"):
        raise TypeError(f"{type(run.model).__name__} has no set_fov: its input size is fixed")
    old = run.model.fov
    run.model.set_fov(fov)
    try:
        at = evaluate_transfer(
            run,
            run.cfg.data.dataset,
            root=run.cfg.data.root,
            options={**run.cfg.data.options, "fov": fov},
        )
    finally:
        run.model.set_fov(old)
    return (at.metrics, at.descriptors) if return_descriptors else at.metrics


def evaluate_at_padded_fov(run: Run, fov: float, *, return_descriptors: bool = False):
    """Evaluate a trained run whose input size is fixed (FRG) on `fov`-degree ground views,
    without retraining: the eval split's queries cropped at the dataset's fixed seeded
    headings and put back at their own columns of the panorama, zeros elsewhere
    (`data.padded_fov`), against the run's gallery. Returns the metrics, or (metrics,
    Descriptors, query view, reference view) with return_descriptors=True (a dry run's
    subset, as `Run` holds them)."""
    from cvgl_core.data.padded_fov import padded_fov_views
    from cvgl_core.training.experiment import build_datasets, dataset_root, make_evaluator

    cfg = run.cfg
    opts = dict(cfg.data.options)
    queries = padded_fov_views(
        cfg.data.dataset, dataset_root(cfg), cfg.data.eval_split, fov, **opts
    )
    reference = build_datasets(cfg, roles=("reference",))["reference"]
    was_training = run.model.training
    metrics, desc = make_evaluator(cfg, queries, reference, return_descriptors=True)(
        run.model.eval()
    )
    run.model.train(was_training)
    if not return_descriptors:
        return metrics
    return (metrics, desc, *_evaluated(cfg, queries, reference).values())


FOV_METRICS = ("R@1", "R@5", "R@10", "R@1%")


def evaluate_at_fovs(run: Run, fovs, metrics=FOV_METRICS) -> dict:
    """`run` scored at each field of view in `fovs`, as {"<metric> <fov>°": value}: a limited-
    FoV table's columns (70° and 90°) or a FoV curve from one trained model. The run's own FoV
    takes its final evaluation (the same seeded test headings, so the same numbers); every
    other FoV is `evaluate_at_fov`."""
    own = run.cfg.data.options.get("fov")
    out = {}
    for fov in fovs:
        got = run.metrics if own is not None and float(fov) == float(own) else None
        got = got or evaluate_at_fov(run, fov)
        missing = [m for m in metrics if m not in got]
        if missing:
            raise KeyError(f"evaluation at {fov}° has no {missing}; it gave {sorted(got)}")
        out.update({f"{m} {fov:g}°": float(got[m]) for m in metrics})
    return out


def evaluate_satellite_to_drone(run: Run):
    """The reverse task of a drone->satellite run (University-1652, SUES-200), same weights:
    the eval split's satellite tiles as queries against its drone gallery, with the run's
    options (sizes, protocol, altitude). Returns (metrics, Descriptors, query_ds, reference_ds).
    """
    from cvgl_core.data import build_dataset
    from cvgl_core.training.experiment import dataset_root, make_evaluator

    cfg = run.cfg
    root, opts, split = dataset_root(cfg), dict(cfg.data.options), cfg.data.eval_split
    q_sat = build_dataset(cfg.data.dataset, root, split, "query", view="satellite", **opts)
    r_drone = build_dataset(cfg.data.dataset, root, split, "reference", view="drone", **opts)
    metrics, desc = make_evaluator(cfg, q_sat, r_drone, return_descriptors=True)(run.model)
    return (metrics, desc, *_evaluated(cfg, q_sat, r_drone).values())


def both_directions_metrics(run: Run, s2d: dict | None = None, metrics=("R@1", "AP")) -> dict:
    """{"D->S R@1": .., "D->S AP": .., "S->D R@1": .., "S->D AP": ..}: a drone->satellite run's
    own metrics and those of the reverse task with the same weights (`s2d`, or evaluated here
    by `evaluate_satellite_to_drone`), named as the drone papers' tables name them; a
    `claims.Table(evaluate=...)` of a drone paper returns these per run."""
    if s2d is None:
        s2d = evaluate_satellite_to_drone(run)[0]
    out = {f"D->S {m}": float(run.metrics[m]) for m in metrics}
    out.update({f"S->D {m}": float(s2d[m]) for m in metrics})
    return out


def both_directions_row(run: Run, s2d: dict, model: str, **columns) -> dict:
    """One table row per model with both directions side by side, as the drone papers print
    them: `run`'s drone->satellite metrics and `s2d` (its satellite->drone metrics) as
    "D->S R@1", "D->S AP", "S->D R@1", "S->D AP"; `columns` come last."""
    row = run.row(model=model, direction="drone->satellite | satellite->drone")
    for k in ("R@1", "R@5", "R@10", "R@1%", "AP", "gallery"):
        row.pop(k, None)
    row.update({k: round(v, 2) for k, v in both_directions_metrics(run, s2d).items()})
    row.update(columns)
    return row


def both_directions(run: Run) -> dict:
    """Both tasks of a drone->satellite run as the drone papers print them, for
    `claims.Table(evaluate=both_directions)`: "D->S R@1"/"D->S AP" (the run's own metrics),
    "S->D R@1"/"S->D AP" (`evaluate_satellite_to_drone`, same weights), and the R@1 a random
    ranking would score in each ("chance D->S R@1", "chance S->D R@1", from the labels the
    descriptors were extracted for: `chance_recall_at_1`)."""
    from cvgl_core.evaluation.metrics import chance_recall_at_1

    s2d, s2d_desc, _, _ = evaluate_satellite_to_drone(run)
    out = both_directions_metrics(run, s2d)
    for tag, desc in (("D->S", run.descriptors), ("S->D", s2d_desc)):
        out[f"chance {tag} R@1"] = chance_recall_at_1(desc.query_labels, desc.reference_labels)
    return out
