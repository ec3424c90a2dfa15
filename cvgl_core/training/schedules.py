"""Learning-rate schedules of the papers, as a per-step factor of each group's start lr.

| name | factor at step t (T steps in all, E = t // steps_per_epoch) | used by |
|---|---|---|
| constant | 1 | - |
| cosine | min + (1 - min) (1 + cos(pi t / T)) / 2 | MFRGN, Sample4Geo |
| linear | 1 - (1 - end) t / (T - 1): 1/20 of the start at the last step | LRFR |
| step | gamma ** (number of milestones <= E) | GLQINet (0.1 at 80, 120) |
| staged | values[number of milestones <= E] | FRG (1e-5, 1e-6 from 30, 1e-7 from 50) |

Warm-up (`warmup_epochs`, may be fractional) ramps linearly from 0 to the schedule's first value;
cosine and linear then run over the remaining steps, step/staged keep counting epochs.
"""

from __future__ import annotations

import bisect
import math

from torch.optim.lr_scheduler import LambdaLR

SCHEDULES = ("constant", "cosine", "linear", "step", "staged")


def lr_factor(step: int, cfg, steps_per_epoch: int, epochs: int) -> float:
    """Multiplier of the start lr at optimizer step `step` (0-based) for a ScheduleConfig."""
    total = max(1, steps_per_epoch * epochs)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup * lr_factor(warmup, cfg, steps_per_epoch, epochs)
    epoch = step // steps_per_epoch
    t, span = step - warmup, max(1, total - warmup)
    name = cfg.name
    if name == "constant":
        return 1.0
    if name == "cosine":
        return cfg.min_factor + (1 - cfg.min_factor) * 0.5 * (
            1 + math.cos(math.pi * min(t, span) / span)
        )
    if name == "linear":
        return 1.0 - (1.0 - cfg.end_factor) * min(t, span - 1) / max(1, span - 1)
    if name == "step":
        return cfg.gamma ** bisect.bisect_right(cfg.milestones, epoch)
    if name == "staged":
        if len(cfg.values) != len(cfg.milestones) + 1:
            raise ValueError(
                f"schedule.values needs len(schedule.milestones) + 1 = {len(cfg.milestones) + 1} "
                f"factors, got {cfg.values}"
            )
        return cfg.values[bisect.bisect_right(cfg.milestones, epoch)]
    raise KeyError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")


def build_scheduler(optimizer, cfg, steps_per_epoch: int, epochs: int) -> LambdaLR:
    """A LambdaLR stepped once per optimizer step; its state_dict holds only numbers."""
    lr_factor(0, cfg, steps_per_epoch, epochs)  # unknown names and bad stages fail here
    return LambdaLR(optimizer, lambda step: lr_factor(step, cfg, steps_per_epoch, epochs))
