"""The model registry: `create_model(name, **cfg)` builds every model of the study."""

from __future__ import annotations

from cvgl_core.utils.registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def create_model(name: str, **kwargs):
    """Build a registered model. An unknown name lists the known ones."""
    return MODELS.create(name, **kwargs)


def list_models() -> list[str]:
    return MODELS.names()
