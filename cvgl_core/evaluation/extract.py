"""Descriptor extraction and the one-call evaluation of a model on a query/reference split.

Precision: `amp` is the autocast dtype on CUDA ("bf16", "fp16", "none"; True = fp16, the old
default), so a model trained in bf16 is evaluated in bf16 (`make_evaluator` passes
train.amp). Multi-GPU: with `distributed=True` under torch.distributed each rank extracts a
contiguous slice of each split and the slices are gathered in order; rank 0 computes the
metrics, the other ranks return {}.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from cvgl_core.evaluation.metrics import retrieval_metrics
from cvgl_core.evaluation.ranking import CHUNK_BYTES
from cvgl_core.evaluation.subset import IndexedView, eval_subset
from cvgl_core.training import distributed as D

PAIR_BYTES = 16 * 2**10  # working memory per (query, reference) pair assumed by default


class Descriptors(NamedTuple):
    query: torch.Tensor  # (Q, D) float32 CPU
    reference: torch.Tensor  # (R, D) float32 CPU
    query_labels: np.ndarray
    reference_labels: np.ndarray


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}


def autocast_dtype(amp, device: torch.device) -> torch.dtype | None:
    """None (no autocast) on CPU or for amp False/"none"; fp16 for True or None on CUDA."""
    if device.type != "cuda" or amp is False:
        return None
    if amp is None or amp is True:
        return torch.float16
    key = str(amp).lower()
    if key not in AMP_DTYPES:
        raise ValueError(f"amp must be one of {', '.join(AMP_DTYPES)}, True or False; got {amp!r}")
    return AMP_DTYPES[key]


def _model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@torch.no_grad()
def extract_descriptors(
    model: torch.nn.Module,
    dataset,
    view: str | None = None,
    batch_size: int = 64,
    device=None,
    amp: bool | str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    distributed: bool = False,
    allow_empty: bool = False,
) -> tuple[torch.Tensor, np.ndarray]:
    """Descriptors (N, D) float32 on CPU, in dataset order, and the items' labels (np.int64).

    Runs `model(x, view=view)` in eval mode (the previous mode is restored) under no_grad.
    `view` defaults to `dataset.view`; `device` to the model's; `amp` as `autocast_dtype`
    (never used on CPU). distributed=True (every rank must call it): this rank extracts its
    `shard_bounds` slice and every rank gets the whole result, in dataset order.
    """
    view = view if view is not None else getattr(dataset, "view", None)
    if view is None:
        raise ValueError(f"no view: pass view=... or give {type(dataset).__name__} a .view")
    device = torch.device(device) if device is not None else _model_device(model)
    dtype = autocast_dtype(amp, device)
    if distributed and D.get_world_size() > 1:
        start, end = D.shard_bounds(len(dataset))
        local, labels = extract_descriptors(
            model,
            IndexedView(dataset, np.arange(start, end)),
            view=view,
            batch_size=batch_size,
            device=device,
            amp=amp,
            num_workers=num_workers,
            progress=progress and D.is_main(),
            allow_empty=True,
        )
        labels = D.gather_rows(torch.from_numpy(labels))
        return D.gather_rows(local), labels.numpy()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    if progress:
        from tqdm.auto import tqdm

        loader = tqdm(loader, desc=f"descriptors ({view})", unit="batch")
    was_training = model.training
    model.eval()
    descriptors, labels = [], []
    autocast = (
        torch.autocast(device_type="cuda", dtype=dtype) if dtype else contextlib.nullcontext()
    )
    try:
        for batch in loader:
            x = batch["image"].to(device, non_blocking=True)
            with autocast:
                y = model(x, view=view)
            if not (isinstance(y, torch.Tensor) and y.ndim == 2):
                raise ValueError(
                    f"model(x, view={view!r}) must return a (B, D) tensor in eval mode, got "
                    f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))}"
                )
            descriptors.append(y.float().cpu())
            labels.append(torch.as_tensor(batch["label"]).cpu())
    finally:
        model.train(was_training)
    if not descriptors:
        if not allow_empty:
            raise ValueError(f"dataset {type(dataset).__name__} is empty")
        return torch.zeros(0, _probe_dim(model, dataset, view, device)), np.zeros(0, np.int64)
    return torch.cat(descriptors), torch.cat(labels).numpy().astype(np.int64)


def _probe_dim(model, dataset, view, device) -> int:
    """Descriptor width of an empty shard (more ranks than items): one forward of item 0."""
    base = dataset.dataset if isinstance(dataset, IndexedView) else dataset
    x = base[0]["image"][None].to(device)
    was_training = model.training
    model.eval()
    try:
        return int(model(x, view=view).shape[1])
    finally:
        model.train(was_training)


def chunked_similarity(
    similarity,
    reference_chunk: int | None = None,
    budget_bytes: int = CHUNK_BYTES,
    pair_bytes: int = PAIR_BYTES,
):
    """Wrap a pairwise `similarity(q [C, Dq], r [R, Dr]) -> (C, R)` so that it is called on
    slices of at most `reference_chunk` references and fills one (C, R) block.

    Default slice: what fits `budget_bytes`, counting per reference about 3x its record
    (AWM's similarity copies each satellite record once to wrap its panorama, and conv1d
    reads it: measured ~1.3x the record at the paper's sizes) plus `pair_bytes` per pair
    (AWM keeps a few (C, R, W) window-score tensors: ~4 KiB per pair at the paper's sizes).
    Each call also copies the query chunk once (measured for AWM: ~1x its records), which
    `evaluate_retrieval` bounds by choosing the query chunk_size.
    """
    if reference_chunk is not None and int(reference_chunk) < 1:
        raise ValueError(f"reference_chunk must be >= 1, got {reference_chunk}")

    def score(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        rows = reference_chunk
        if rows is None:
            per_reference = 3 * r.shape[1] * r.element_size() + q.shape[0] * pair_bytes
            rows = max(1, budget_bytes // per_reference)
        rows = int(rows)
        if rows >= r.shape[0]:
            return similarity(q, r)
        out = q.new_empty(q.shape[0], r.shape[0])  # (C, R)
        for start in range(0, r.shape[0], rows):
            out[:, start : start + rows] = similarity(q, r[start : start + rows])
        return out

    return score


def evaluate_retrieval(
    model: torch.nn.Module,
    query_ds,
    reference_ds,
    *,
    batch_size: int = 64,
    device=None,
    amp: bool | str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    return_descriptors: bool = False,
    reference_chunk: int | None = None,
    max_queries: int | None = None,
    max_gallery: int | None = None,
    distributed: bool = False,
    **metric_options,
):
    """Extract both splits and score them with the datasets' own ground truth.

    Direction is query_ds.view -> reference_ds.view. Ground truth: `query_ds.positives`
    (+ `.semi_positives`) when the query dataset has them, else `.labels` of both.
    `metric_options` go to `retrieval_metrics` (ks, one_percent, ap, chunk_size, dtype).
    Returns the metrics dict, or (metrics, Descriptors) with return_descriptors=True so
    t-SNE, grids and curves need no second extraction.

    Pairwise models (`model.pairwise` true, e.g. AWM with fca_mode="correlation" or
    use_fca=False) return packed records, scored by `model.similarity` per query chunk and
    per slice of `reference_chunk` references (default: sized by `chunked_similarity`), so
    memory stays bounded; the descriptors returned are then those records. An explicit
    `similarity=` in metric_options wins.

    Dry runs: `max_queries` / `max_gallery` evaluate on `eval_subset` (the first queries and
    a gallery that keeps their true matches). distributed=True: see the module docstring
    (non-zero ranks return {}, or ({}, None) with return_descriptors).
    """
    query_ds, reference_ds = eval_subset(query_ds, reference_ds, max_queries, max_gallery)
    common = dict(
        batch_size=batch_size,
        device=device,
        amp=amp,
        num_workers=num_workers,
        progress=progress,
        distributed=distributed,
    )
    q, q_labels = extract_descriptors(model, query_ds, **common)
    r, r_labels = extract_descriptors(model, reference_ds, **common)
    if distributed and not D.is_main():
        return ({}, None) if return_descriptors else {}
    positives = getattr(query_ds, "positives", None)
    if positives is not None:
        truth = dict(positives=positives, semi_positives=getattr(query_ds, "semi_positives", None))
    else:
        truth = dict(query_labels=q_labels, reference_labels=r_labels)
    metric_device = device if device is not None else _model_device(model)
    if getattr(model, "pairwise", False) and metric_options.get("similarity") is None:
        metric_options["similarity"] = chunked_similarity(model.similarity, reference_chunk)
        if metric_options.get("chunk_size") is None:
            # AWM's similarity copies the query chunk's records once per call (measured ~1x):
            # bound that copy as well as the (C, R) score block.
            per_row = max(r.shape[0], q.shape[1]) * q.element_size()
            metric_options["chunk_size"] = max(1, CHUNK_BYTES // per_row)
    metrics = retrieval_metrics(q, r, device=metric_device, **truth, **metric_options)
    if return_descriptors:
        return metrics, Descriptors(q, r, q_labels, r_labels)
    return metrics
