"""Train an experiment from its YAML config, resuming from its last checkpoint.

    python -m cvgl_core train --config X.yaml [--dry-run] [key=value ...]

Resumes from <output.dir>/last.pt when it exists, exactly (also from a checkpoint written
inside an epoch: train.checkpoint_minutes=30 writes one every 30 minutes), and refuses to
resume under a changed config, naming the differing keys (only keys that leave the result
unchanged may differ, and train.epochs under a constant/step/staged schedule). --dry-run
applies cvgl_core.config.DRY_RUN_OVERRIDES first (one step, a tiny evaluation; the given
key=value still win): the whole pipeline at the config's sizes in seconds. Multi-GPU /
multi-process:
`torchrun --nproc_per_node=N -m cvgl_core train --config X.yaml` (gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument(
        "--config", required=True, help="YAML config (configs/<paper>/<dataset>_<profile>.yaml)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="one optimizer step and a tiny evaluation"
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, values as YAML"
    )


def run(args) -> int:
    from cvgl_core.config import DRY_RUN_OVERRIDES, load_config, parse_overrides
    from cvgl_core.training.experiment import train

    overrides = dict(DRY_RUN_OVERRIDES) if args.dry_run else {}
    overrides.update(parse_overrides(args.overrides))
    cfg = load_config(args.config, overrides=overrides)
    train(cfg)
    return 0
