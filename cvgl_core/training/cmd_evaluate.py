"""Evaluate a checkpoint on the evaluation split of its config.

    python -m cvgl_core evaluate --config X.yaml --checkpoint CKPT [key=value ...]

Prints the metrics of the config's evaluation split (and writes them as JSON with --out).
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument(
        "--config", required=True, help="YAML config the checkpoint was trained with"
    )
    parser.add_argument("--checkpoint", required=True, help="last.pt / best.pt of a training run")
    parser.add_argument("--out", default=None, help="write the metrics to this JSON file")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, values as YAML"
    )


def run(args) -> int:
    import json

    from cvgl_core.config import load_config
    from cvgl_core.training.experiment import evaluate_checkpoint
    from cvgl_core.utils import atomic_write_text

    cfg = load_config(args.config, overrides=args.overrides)
    metrics = evaluate_checkpoint(cfg, args.checkpoint)
    text = json.dumps(
        {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}, indent=2
    )
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0
