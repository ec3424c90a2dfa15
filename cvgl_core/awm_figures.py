"""The figures of notebook 02 (AWM) that are specific to a limited field of view: the DSM
protocol's views (a panorama, its limited-FoV crops, the polar satellite image) and the
attention-weight masks of every block with the window FCA keeps (the paper's Fig. 6).

    plot_fov_views(pano, tile, polar, {70: (crop, heading), 90: (crop, heading)}, path=...)
    plot_masks(model, ground, satellite, title="...", path=...)   # model: a trained AWM
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from cvgl_core.data.transforms import crop_at_heading
from cvgl_core.viz.common import save_figure, to_rgb


def plot_fov_views(pano, tile, polar, crops: dict, *, chosen=(0.0, 90.0), chosen_fov=90, path=None):
    """Top row: the panorama (C, H, W), then each test crop of `crops` ({fov: (image,
    heading in degrees)}); bottom row: the polar satellite image, the satellite tile, and
    `chosen_fov` crops of the panorama at the `chosen` headings (crop_at_heading)."""
    n = max(len(crops), len(chosen)) + 1
    fig, axes = plt.subplots(
        2, n + 1, figsize=(3.5 * n + 3, 4.2), gridspec_kw={"width_ratios": [4, 1] + [1] * (n - 1)}
    )
    h, w = pano.shape[-2:]
    panels = [
        (axes[0, 0], pano, f"ground panorama {h}x{w} (north at the centre)"),
        (axes[1, 0], polar, "satellite tile after the polar transform"),
        (axes[0, 1], tile, "satellite tile"),
    ]
    for col, (fov, (image, heading)) in enumerate(crops.items(), start=2):
        panels.append((axes[0, col], image, f"{fov}° test crop\nheading {heading:.0f}°"))
    for col, heading in enumerate(chosen, start=2):
        crop = crop_at_heading(pano, heading, chosen_fov)
        panels.append((axes[1, col], crop, f"{chosen_fov}° at heading {heading:.0f}°"))
    for ax, image, title in panels:
        ax.imshow(to_rgb(image), aspect="auto" if ax in axes[:, 0] else "equal")
        ax.set_title(title, fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _window_spans(start: int, width: int, total: int) -> list[tuple[int, int]]:
    """The column ranges [x0, x1) a window of `width` from `start` covers on a circular axis of
    `total` columns: one span, or two when it wraps past the right edge."""
    end = start + width
    return [(start, min(end, total))] + ([(0, end - total)] if end > total else [])


@torch.no_grad()
def plot_masks(model, ground, satellite, *, title: str = "", cmap="viridis", path=None):
    """The paper's Fig. 6 for every block the model uses: (a) the ground image (C, H, w) and
    (b) its polar satellite image (C, H, W); per block (block 4 first) the ground mask M_g
    and the satellite mask M_s, each with its own colour bar (weights in (0, 1)), and the
    columns FCA keeps outlined in red on M_s. Returns (figure, {block: (M_g, M_s, start)})."""
    m_g = model.masks(ground[None], "ground")
    m_s = model.masks(satellite[None], "satellite")
    starts = model.window_starts(m_s)
    nb = len(m_g)
    fig, axes = plt.subplots(
        nb + 1, 2, figsize=(12, 2.1 * (nb + 1)), gridspec_kw={"width_ratios": [1, 4]}
    )
    axes[0, 0].imshow(to_rgb(ground))
    axes[0, 0].set_title(f"(a) ground, {model.fov:g}°", fontsize=9)
    axes[0, 1].imshow(to_rgb(satellite), aspect="auto")
    axes[0, 1].set_title("(b) its polar satellite image", fontsize=9)
    out = {}
    for k, (mg, ms, st, w) in enumerate(zip(m_g, m_s, starts, model.widths)):
        block = model.blocks[k] + 1
        ax_g, ax_s = axes[nb - k]  # block 4 on the row under the images
        fig.colorbar(ax_g.imshow(mg[0].numpy(), cmap=cmap), ax=ax_g, fraction=0.08, label="weight")
        ax_g.set_title(f"(c) $M_g$, block {block} {tuple(mg.shape[1:])}", fontsize=9)
        im = ax_s.imshow(ms[0].numpy(), cmap=cmap, aspect="auto")
        fig.colorbar(im, ax=ax_s, fraction=0.03, label="weight")
        start, total = int(st[0]), ms.shape[-1]
        for x0, x1 in _window_spans(start, w, total):
            ax_s.axvspan(x0 - 0.5, x1 - 0.5, fill=False, ec="red", lw=2)
        last = (start + w - 1) % total
        ax_s.set_title(f"(d) $M_s$, block {block}: FCA keeps columns {start}..{last}", fontsize=9)
        out[block] = (mg[0], ms[0], start)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].axis("off")
    axes[0, 1].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig, out
