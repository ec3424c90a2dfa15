"""MFRGN (ACM Multimedia 2024): modules, the registered model "mfrgn", and a cost meter.

attention.py  linear / dot-product attention, the Lite-Transformer encoder (LTE)
pps.py        pyramid pooling sampling
scam.py       Self and Cross Attention Module (global flow)
gpab.py       Global-Prompt Attention Block (local flow)
model.py      the MFRGN model, Table 4 variants and Table 5 switches
measure.py    FLOPs and peak activation memory for one ground + one satellite image
"""

from cvgl_core.models.mfrgn.attention import (
    LiteTransformerEncoder,
    dot_product_attention,
    linear_attention,
)
from cvgl_core.models.mfrgn.gpab import GPAB, LocalFlow
from cvgl_core.models.mfrgn.model import MFRGN, PAPER_INPUT_SIZES, VARIANTS
from cvgl_core.models.mfrgn.pps import PPS_GROUND, PPS_SATELLITE, PyramidPoolingSampling
from cvgl_core.models.mfrgn.scam import SCAM

__all__ = [
    "GPAB",
    "MFRGN",
    "PAPER_INPUT_SIZES",
    "PPS_GROUND",
    "PPS_SATELLITE",
    "SCAM",
    "VARIANTS",
    "LiteTransformerEncoder",
    "LocalFlow",
    "PyramidPoolingSampling",
    "dot_product_attention",
    "linear_attention",
]
