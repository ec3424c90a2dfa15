"""Grad-CAM for retrieval models (the grad-cam package, `pytorch_grad_cam`).

Selvaraju et al., "Grad-CAM", ICCV 2017: weights = spatial mean of d target / d A over the
target layer's activations A; map = ReLU(sum_c w_c A_c), upsampled, min-max scaled.

A retrieval model has no class score, so the target is the cosine similarity of the image's
descriptor to a reference descriptor (e.g. the matching satellite tile's): the map shows
which pixels make the query look like that reference. The library needs a model that maps
an image batch to one [B, D] tensor: `ViewModel` fixes the view of a two-branch model.
Always fp32 (no autocast), as the library's gradients assume.

    cam = retrieval_gradcam(model, image, reference_descriptor, view="ground")
    fig = plot_heatmap(image, cam, titles="Grad-CAM", label="Grad-CAM")  # with its colour bar
    heatmap_panel(ax, image, cam)  # or one panel of a figure of one's own, colour bar included
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SimilarityToReference:
    """Grad-CAM target: cos(descriptor of one sample, reference descriptor)."""

    def __init__(self, reference: torch.Tensor):
        self.reference = torch.as_tensor(reference).detach().float().flatten()

    def __call__(self, output: torch.Tensor) -> torch.Tensor:  # output: (D,)
        if output.shape[-1] != self.reference.shape[0]:
            raise ValueError(
                f"model descriptor has {output.shape[-1]} dims, reference descriptor "
                f"{self.reference.shape[0]}"
            )
        return F.cosine_similarity(output, self.reference.to(output.device), dim=0)


class ViewModel(nn.Module):
    """`model(x, view=view)` as a one-argument module returning (B, D)."""

    def __init__(self, model: nn.Module, view: str):
        super().__init__()
        self.model, self.view = model, view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x, view=self.view)
        if not (isinstance(y, torch.Tensor) and y.ndim == 2):
            raise ValueError(
                f"model(x, view={self.view!r}) must return a (B, D) tensor in eval mode, got "
                f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))}"
            )
        return y


def last_conv_layer(model: nn.Module, x: torch.Tensor, view: str) -> nn.Module:
    """The last Conv2d with a spatial (> 1 x 1) output that runs for this view."""
    seen: list[nn.Module] = []

    def hook(module, _inputs, output):
        if output.ndim == 4 and output.shape[-2] * output.shape[-1] > 1:
            seen.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(x, view=view)
    finally:
        for h in handles:
            h.remove()
    if not seen:
        raise ValueError(
            f"no Conv2d with a spatial output runs for view {view!r}; pass target_layer"
        )
    return seen[-1]


def retrieval_gradcam(
    model: nn.Module,
    image: torch.Tensor,
    reference_descriptor: torch.Tensor,
    *,
    view: str,
    target_layer: nn.Module | str | None = None,
    reshape_transform=None,
) -> np.ndarray:
    """Grad-CAM map(s) in [0, 1] of the image's size: (H, W) for (3, H, W), (B, H, W) for a batch.

    reference_descriptor: (D,) for all images or (B, D), one per image. target_layer: a
    module, a submodule name ("backbone.stages.2"), or None for the last Conv2d that runs
    for `view` (pass the paper's layer for figures meant to match a paper's). The model's
    train/eval mode is restored afterwards.
    """
    from pytorch_grad_cam import GradCAM

    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise ValueError("Grad-CAM runs in fp32: the model has non-float32 parameters")
    single = image.ndim == 3
    x = (image[None] if single else image).detach().float().clone()  # (B, 3, H, W)
    if x.ndim != 4:
        raise ValueError(f"image must be (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
    refs = torch.as_tensor(reference_descriptor).detach().float()
    refs = refs[None].expand(len(x), -1) if refs.ndim == 1 else refs
    if refs.shape[0] != len(x):
        raise ValueError(f"{refs.shape[0]} reference descriptors for {len(x)} images")
    device = next(model.parameters()).device
    x = x.to(device)
    was_training = model.training
    model.eval()
    try:
        if isinstance(target_layer, str):
            target_layer = model.get_submodule(target_layer)
        elif target_layer is None:
            target_layer = last_conv_layer(model, x, view)
        cam = GradCAM(ViewModel(model, view), [target_layer], reshape_transform=reshape_transform)
        try:
            with torch.enable_grad(), torch.autocast(device.type, enabled=False):
                # Input gradients make the layer's output require grad even for frozen weights.
                maps = cam(
                    input_tensor=x.requires_grad_(True),
                    targets=[SimilarityToReference(r) for r in refs],
                )
        finally:
            cam.activations_and_grads.release()  # not `with`: its __exit__ swallows IndexError
    finally:
        model.train(was_training)
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32))
    return maps[0] if single else maps
