"""Attention modules with one constructor signature, `Module(channels, **kw)`, shape-preserving.

`create_attention(name, channels)` builds any of them, so LRFR's Table III is a loop
over names. Importing a module file registers it.
"""

from torch import nn

from cvgl_core.utils.registry import Registry

ATTENTION = Registry("attention")


@ATTENTION.register("none")
def _identity(channels: int, **kwargs) -> nn.Module:
    return nn.Identity()


def create_attention(name: str, channels: int, **kwargs) -> nn.Module:
    return ATTENTION.create(name, channels=channels, **kwargs)


from cvgl_core.models.attention import ca  # noqa: E402,F401

__all__ = ["ATTENTION", "create_attention"]
