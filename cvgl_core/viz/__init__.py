"""Figures: Grad-CAM and attention overlays, t-SNE, retrieval grids, recall@K
and learning curves.

Every plotting function returns a matplotlib Figure and, given `path=`, saves it atomically
at one resolution (`DPI`). Panels for hand-made figures: `heatmap_panel` (overlay + colour
bar), `mask_panel` (raw values + colour bar), `integer_axis`; `chance_recall` gives the
recall of a random ranking for the `chance=` lines.
"""

from cvgl_core.viz.attention import gate_map, plot_heatmap
from cvgl_core.viz.common import (
    DPI,
    colorbar,
    heatmap_panel,
    integer_axis,
    mask_panel,
    save_figure,
    to_rgb,
)
from cvgl_core.viz.curves import (
    chance_recall,
    plot_learning_curve,
    plot_recall_curves,
    plot_seed_bars,
    seed_summary,
)
from cvgl_core.viz.gradcam import SimilarityToReference, ViewModel, retrieval_gradcam
from cvgl_core.viz.grids import plot_retrieval_grid, retrieval_grid
from cvgl_core.viz.tsne import plot_tsne, tsne_2d

__all__ = [
    "DPI",
    "SimilarityToReference",
    "ViewModel",
    "chance_recall",
    "colorbar",
    "gate_map",
    "heatmap_panel",
    "integer_axis",
    "mask_panel",
    "plot_heatmap",
    "plot_learning_curve",
    "plot_recall_curves",
    "plot_retrieval_grid",
    "plot_seed_bars",
    "plot_tsne",
    "retrieval_gradcam",
    "retrieval_grid",
    "save_figure",
    "seed_summary",
    "to_rgb",
    "tsne_2d",
]
