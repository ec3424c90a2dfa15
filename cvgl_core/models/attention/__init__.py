"""Attention modules with one constructor signature, `Module(channels, **kw)`, shape-preserving.

`create_attention(name, channels)` builds any of them, so LRFR's Table III is a loop
over names. Importing a module file registers it.

Size-tied modules (GSRA, whose relation embedding has h*w input channels) take
`feature_hw=(h, w)`; `create_attention(..., feature_hw=...)` passes it only to the
factories that declare that argument, so a model can pass it for every name.
"""

import inspect

from torch import nn

from cvgl_core.utils.registry import Registry

ATTENTION = Registry("attention")


@ATTENTION.register("none")
def _identity(channels: int, **kwargs) -> nn.Module:
    return nn.Identity()


def create_attention(name: str, channels: int, feature_hw=None, **kwargs) -> nn.Module:
    factory = ATTENTION.get(name)
    if feature_hw is not None and "feature_hw" in inspect.signature(factory).parameters:
        kwargs["feature_hw"] = feature_hw
    return factory(channels=channels, **kwargs)


from cvgl_core.models.attention import ca, cbam, eca, ema, gsra  # noqa: E402,F401

__all__ = ["ATTENTION", "create_attention"]
