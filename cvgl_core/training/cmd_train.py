"""Train an experiment from its YAML config, resuming from its last checkpoint.

    python -m cvgl_core train --config X.yaml [key=value ...]

Resumes from <output.dir>/last.pt when it exists, exactly (also from a checkpoint written
inside an epoch: train.checkpoint_minutes=30 writes one every 30 minutes), and refuses to
resume under a changed config, naming the differing keys (only keys that leave the result
unchanged may differ, and train.epochs under a constant/step/staged schedule). Multi-GPU:
`torchrun --nproc_per_node=N -m cvgl_core train --config X.yaml` (gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument(
        "--config", required=True, help="YAML config (configs/<paper>/<dataset>_<profile>.yaml)"
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, values as YAML"
    )


def run(args) -> int:
    from cvgl_core.config import load_config
    from cvgl_core.training.experiment import train

    cfg = load_config(args.config, overrides=args.overrides)
    train(cfg)
    return 0
