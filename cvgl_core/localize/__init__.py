"""From a photo to a place: a saved gallery index of tile descriptors, exact and FAISS search
backends, localisation metrics in metres.

    from cvgl_core.localize import Index
    index = Index.load("gallery.idx")
    matches = index.search(index.load_model(), "photo.jpg", k=5)
"""

from cvgl_core.localize.build import (
    build_index,
    build_index_from_folder,
    dataset_coords,
    evaluate_localization,
)
from cvgl_core.localize.geo import THRESHOLDS_M, distance_m, localization_metrics
from cvgl_core.localize.index import Index, Match
from cvgl_core.localize.model import fingerprint, load_model

__all__ = [
    "THRESHOLDS_M",
    "Index",
    "Match",
    "build_index",
    "build_index_from_folder",
    "dataset_coords",
    "distance_m",
    "evaluate_localization",
    "fingerprint",
    "load_model",
    "localization_metrics",
]
