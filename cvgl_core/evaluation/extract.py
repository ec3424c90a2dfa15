"""Descriptor extraction and the one-call evaluation of a model on a query/reference split."""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from cvgl_core.evaluation.metrics import retrieval_metrics


class Descriptors(NamedTuple):
    query: torch.Tensor  # (Q, D) float32 CPU
    reference: torch.Tensor  # (R, D) float32 CPU
    query_labels: np.ndarray
    reference_labels: np.ndarray


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
    amp: bool | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, np.ndarray]:
    """Descriptors (N, D) float32 on CPU, in dataset order, and the items' labels (np.int64).

    Runs `model(x, view=view)` in eval mode (the previous mode is restored) under no_grad.
    `view` defaults to `dataset.view`; `device` to the model's; `amp` (float16 autocast) to
    True on CUDA and is never used on CPU.
    """
    view = view if view is not None else getattr(dataset, "view", None)
    if view is None:
        raise ValueError(f"no view: pass view=... or give {type(dataset).__name__} a .view")
    device = torch.device(device) if device is not None else _model_device(model)
    amp = (device.type == "cuda") if amp is None else (amp and device.type == "cuda")
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
        torch.autocast(device_type="cuda", dtype=torch.float16) if amp else contextlib.nullcontext()
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
        raise ValueError(f"dataset {type(dataset).__name__} is empty")
    return torch.cat(descriptors), torch.cat(labels).numpy().astype(np.int64)


def evaluate_retrieval(
    model: torch.nn.Module,
    query_ds,
    reference_ds,
    *,
    batch_size: int = 64,
    device=None,
    amp: bool | None = None,
    num_workers: int = 0,
    progress: bool = True,
    return_descriptors: bool = False,
    **metric_options,
):
    """Extract both splits and score them with the datasets' own ground truth.

    Direction is query_ds.view -> reference_ds.view. Ground truth: `query_ds.positives`
    (+ `.semi_positives`) when the query dataset has them, else `.labels` of both.
    `metric_options` go to `retrieval_metrics` (ks, one_percent, ap, chunk_size, dtype).
    Returns the metrics dict, or (metrics, Descriptors) with return_descriptors=True so
    t-SNE, grids and curves need no second extraction.
    """
    common = dict(
        batch_size=batch_size, device=device, amp=amp, num_workers=num_workers, progress=progress
    )
    q, q_labels = extract_descriptors(model, query_ds, **common)
    r, r_labels = extract_descriptors(model, reference_ds, **common)
    positives = getattr(query_ds, "positives", None)
    if positives is not None:
        truth = dict(positives=positives, semi_positives=getattr(query_ds, "semi_positives", None))
    else:
        truth = dict(query_labels=q_labels, reference_labels=r_labels)
    metric_device = device if device is not None else _model_device(model)
    metrics = retrieval_metrics(q, r, device=metric_device, **truth, **metric_options)
    if return_descriptors:
        return metrics, Descriptors(q, r, q_labels, r_labels)
    return metrics
