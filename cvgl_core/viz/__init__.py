"""Figures: Grad-CAM and attention overlays, t-SNE, retrieval grids, recall@K
and learning curves.

Every plotting function returns a matplotlib Figure and, given `path=`, saves it atomically.
"""

from cvgl_core.viz.attention import gate_map, plot_heatmap
from cvgl_core.viz.common import save_figure, to_rgb
from cvgl_core.viz.curves import plot_learning_curve, plot_recall_curves
from cvgl_core.viz.gradcam import SimilarityToReference, ViewModel, retrieval_gradcam
from cvgl_core.viz.grids import plot_retrieval_grid, retrieval_grid
from cvgl_core.viz.tsne import plot_tsne, tsne_2d

__all__ = [
    "SimilarityToReference",
    "ViewModel",
    "gate_map",
    "plot_heatmap",
    "plot_learning_curve",
    "plot_recall_curves",
    "plot_retrieval_grid",
    "plot_tsne",
    "retrieval_gradcam",
    "retrieval_grid",
    "save_figure",
    "to_rgb",
    "tsne_2d",
]
