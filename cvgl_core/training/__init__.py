"""Training engine: Trainer (AMP, DDP, exact resume), optimisers, schedules, samplers.

`train(cfg)` and `evaluate_checkpoint(cfg, ckpt)` build everything from a Config.
Submodules are imported on use so that `cvgl_core.losses` can import `distributed` alone.
"""

from __future__ import annotations


def __getattr__(name):
    if name in ("Trainer", "NonFiniteLossError", "load_checkpoint", "load_model_state"):
        from cvgl_core.training import trainer

        return getattr(trainer, name)
    experiment_names = ("train", "fit", "evaluate_checkpoint")
    if name in experiment_names + ("build_datasets", "build_model", "build_loss"):
        from cvgl_core.training import experiment

        return getattr(experiment, name)
    raise AttributeError(f"module 'cvgl_core.training' has no attribute {name!r}")


__all__ = ["Trainer", "NonFiniteLossError", "train", "fit", "evaluate_checkpoint"]
