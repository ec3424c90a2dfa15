from cvgl_core.utils.io import atomic_dir, atomic_torch_save, atomic_write_bytes, atomic_write_text
from cvgl_core.utils.registry import Registry
from cvgl_core.utils.seed import seed_everything

__all__ = [
    "Registry",
    "atomic_dir",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "seed_everything",
]
