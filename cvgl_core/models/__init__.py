"""Models: every model maps an image of one view to an L2-normalised descriptor.

Contract shared by all models: `model(x, view=...)` with view in
{"ground", "satellite", "drone", "street"} returns a (B, D) L2-normalised tensor in
eval mode. In train mode a model may return a richer structure (e.g. GLQINet's
logits per head) that its loss consumes. Importing a model module registers it.
"""

from cvgl_core.models import (  # noqa: F401  (importing registers the model)
    awm,
    baseline,
    frg,
    glqinet,
    lrfr,
    mfrgn,
)
from cvgl_core.models.registry import MODELS, create_model, list_models, register_model

__all__ = ["MODELS", "create_model", "list_models", "register_model"]
